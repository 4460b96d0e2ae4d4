/*
 * otlp/trace_context.c — what an agent span learns from the other spans of
 * its trace (internal; declared in otlp/trace_context.h).
 *
 * The SDK gives an agent span a name and little else. The official
 * processors fill in, from the spans they saw before it:
 *   graph.node.parent_id  the agent that handed off to this one: the
 *                         from_agent of the latest handoff span to it;
 *   input / output        the input of its first model call and the text
 *                         of its last one ("lifted" I/O);
 * and Langfuse wants the run's input and final answer at trace level. A
 * processor sees spans live; an exporter sees them later, in batches, so
 * encode.c feeds this module the trace's handoff and model-call records
 * (from the outbox, or from the batch when there is no outbox behind it)
 * in seq order, and asks per agent span. "Before" is by seq: a handoff
 * ends before the agent it hands off to, a model call before the agent
 * span around it.
 *
 * Only what is asked for is kept: every handoff (two names), every model
 * call's output text (usually short: a final answer, or nothing for a tool
 * call), and the input JSON only of the first call overall and of the
 * first call under each parent, so a trace of a thousand calls does not
 * keep a thousand prompts.
 */
#include "otlp/trace_context.h"

#include "internal.h"
#include "json_print.h"
#include "otlp/fields.h"

#include <string.h>

typedef struct handoff {
    int64_t order;
    char *from, *to;
} handoff;

typedef struct llm_call {
    int64_t order;
    char *span_id; /* the call's SDK span id */
    char *parent;  /* its SDK parent span id, or NULL */
    char *in;      /* input: kept for firsts only (see above), else NULL */
    bool in_json;
    char *out; /* output text, or NULL */
} llm_call;

struct tb__otlp_trace_ctx {
    handoff *h;
    size_t nh, caph;
    llm_call *l;
    size_t nl, capl;
    bool failed;
};

tb__otlp_trace_ctx *tb__otlp_trace_ctx_new(void)
{
    return tb__calloc(1, sizeof(tb__otlp_trace_ctx));
}

void tb__otlp_trace_ctx_free(tb__otlp_trace_ctx *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nh; i++) {
        tb__free_mem(c->h[i].from);
        tb__free_mem(c->h[i].to);
    }
    for (size_t i = 0; i < c->nl; i++) {
        tb__free_mem(c->l[i].span_id);
        tb__free_mem(c->l[i].parent);
        tb__free_mem(c->l[i].in);
        tb__free_mem(c->l[i].out);
    }
    tb__free_mem(c->h);
    tb__free_mem(c->l);
    tb__free_mem(c);
}

static char *dup_or_null(const char *s, bool *failed)
{
    if (!s)
        return NULL;
    char *d = tb__strdup(s);
    if (!d)
        *failed = true;
    return d;
}

/* The text parts of an assistant output, joined: ChatCompletion choices'
 * message.content, a message's string content, Responses output_text. */
static void output_text(const cJSON *out, tb__buf *b)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, (is_array(out) ? out : NULL))
    {
        const cJSON *choices = get(e, "choices");
        const cJSON *c;
        cJSON_ArrayForEach(c, (is_array(choices) ? choices : NULL))
        {
            const cJSON *content = get(get(c, "message"), "content");
            if (is_string(content))
                tb__buf_puts(b, content->valuestring);
        }
        const cJSON *content = get(e, "content");
        if (is_string(content)) {
            tb__buf_puts(b, content->valuestring);
            continue;
        }
        const char *type = getsn(e, "type");
        if (!type || strcmp(type, "message") != 0)
            continue;
        const cJSON *part;
        cJSON_ArrayForEach(part, (is_array(content) ? content : NULL))
        {
            const char *pt = getsn(part, "type");
            const cJSON *text = get(part, "text");
            if (pt && (strcmp(pt, "output_text") == 0 || strcmp(pt, "text") == 0) &&
                is_string(text))
                tb__buf_puts(b, text->valuestring);
        }
    }
}

static bool grow(void **p, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return true;
    size_t c = *cap ? *cap * 2 : 8;
    void *q = tb__realloc(*p, c * size);
    if (!q)
        return false;
    *p = q;
    *cap = c;
    return true;
}

static bool first_under(const tb__otlp_trace_ctx *c, const char *parent)
{
    if (c->nl == 0)
        return true;
    for (size_t i = 0; i < c->nl; i++) {
        const char *p = c->l[i].parent;
        if (p && parent && strcmp(p, parent) == 0)
            return false;
    }
    return true;
}

void tb__otlp_trace_ctx_add(tb__otlp_trace_ctx *c, int64_t order, const cJSON *span)
{
    if (!c)
        return;
    if (!span) {
        /* a stored record that did not parse: out of memory */
        c->failed = true;
        return;
    }
    const cJSON *d = get(span, "span_data");
    const char *type = getsn(d, "type");
    if (!type)
        return;
    if (strcmp(type, "handoff") == 0) {
        const char *from = getsn(d, "from_agent"), *to = getsn(d, "to_agent");
        if (!from || !to)
            return;
        if (!grow((void **)&c->h, &c->caph, c->nh, sizeof *c->h)) {
            c->failed = true;
            return;
        }
        handoff *h = &c->h[c->nh];
        h->order = order;
        h->from = dup_or_null(from, &c->failed);
        h->to = dup_or_null(to, &c->failed);
        if (!h->from || !h->to) {
            tb__free_mem(h->from);
            tb__free_mem(h->to);
            return;
        }
        c->nh++;
        return;
    }
    bool response = strcmp(type, "response") == 0;
    if (!response && strcmp(type, "generation") != 0)
        return;
    if (!grow((void **)&c->l, &c->capl, c->nl, sizeof *c->l)) {
        c->failed = true;
        return;
    }
    const char *parent = getsn(span, "parent_id");
    llm_call *l = &c->l[c->nl];
    memset(l, 0, sizeof *l);
    l->order = order;
    l->span_id = dup_or_null(getsn(span, "id"), &c->failed);
    l->parent = dup_or_null(parent, &c->failed);
    /* the input, as the official processors lift it: a string as it is, a
     * non-empty list as its JSON */
    const cJSON *in = get(d, "input");
    if (first_under(c, parent)) {
        if (is_string(in)) {
            l->in = dup_or_null(in->valuestring, &c->failed);
        } else if (is_array(in) && cJSON_GetArraySize(in) > 0) {
            l->in = tb__json_print(in);
            l->in_json = true;
            if (!l->in)
                c->failed = true;
        }
    }
    tb__buf b = {0};
    const cJSON *resp = get(d, "response");
    const char *ot = getsn(resp, "output_text");
    if (ot)
        tb__buf_puts(&b, ot);
    else
        output_text(response ? get(resp, "output") : get(d, "output"), &b);
    if (b.len) {
        tb__buf_append(&b, "", 1);
        l->out = b.failed ? NULL : tb__strdup(b.data);
        if (!l->out)
            c->failed = true;
    }
    tb__buf_free(&b);
    c->nl++;
}

bool tb__otlp_trace_ctx_ok(const tb__otlp_trace_ctx *c)
{
    return c && !c->failed;
}

void tb__otlp_trace_ctx_apply(const tb__otlp_trace_ctx *c, int64_t order, tb__otlp_span_view *v)
{
    if (!c)
        return;
    const char *name = getsn(v->data, "name");
    const char *span_id = getsn(v->span, "id");
    bool root = !getsn(v->span, "parent_id");
    for (size_t i = c->nh; name && i-- > 0;) {
        if (c->h[i].order < order && strcmp(c->h[i].to, name) == 0) {
            v->graph_parent = c->h[i].from;
            break;
        }
    }
    for (size_t i = 0; i < c->nl; i++) {
        const llm_call *l = &c->l[i];
        if (l->order >= order)
            break;
        bool mine = span_id && l->parent && strcmp(l->parent, span_id) == 0;
        if (mine && !v->lifted_in && l->in) {
            v->lifted_in = l->in;
            v->lifted_in_json = l->in_json;
        }
        if (mine && l->out)
            v->lifted_out = l->out;
        if (root && !v->run_in && l->in) {
            v->run_in = l->in;
            v->run_in_json = l->in_json;
        }
        if (root && l->out)
            v->run_out = l->out;
    }
}
