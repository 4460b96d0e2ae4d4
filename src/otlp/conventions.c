/*
 * otlp/conventions.c — the attributes of one OTLP span made from one SDK
 * span, for the conventions a destination asks for.
 *
 * Design. One table (k_types) says, per SDK span type, everything that is
 * a constant: the OpenInference span kind, the GenAI operation name, the
 * Langfuse observation type, the OTLP span kind, whether the span is a
 * model call (provider attributes), and which function pulls out the
 * type's own data (model, usage, messages, tool, handoff …). The functions
 * below it are small and each reads one type's span_data; what they find
 * goes out under every enabled convention's names at once (see `out`).
 * Types the table does not know — the SDK adds some now and then — are
 * kept, as CHAIN / span with their span_data as output.
 *
 *   SDK type        OpenInference  GenAI op           Langfuse    kind
 *   agent           AGENT          invoke_agent       agent       INTERNAL
 *   generation      LLM            chat               generation  CLIENT
 *   response        LLM            chat               generation  CLIENT
 *   function        TOOL           execute_tool       tool        INTERNAL
 *   mcp_tools       TOOL           -                  span        INTERNAL
 *   handoff         TOOL           handoff (*)        tool        INTERNAL
 *   guardrail       GUARDRAIL      guardrail (*)      guardrail   INTERNAL
 *   custom          CHAIN          -                  span        INTERNAL
 *   task            CHAIN          invoke_workflow    chain       INTERNAL
 *   turn            CHAIN          -                  chain       INTERNAL
 *   speech_group    CHAIN          -                  chain       INTERNAL
 *   transcription   CHAIN (**)     transcription (*)  generation  INTERNAL
 *   speech          CHAIN (**)     speech_generation (*) generation INTERNAL
 *   (other)         CHAIN          -                  span        INTERNAL
 * (*) not a GenAI well-known value; the names W&B Weave and the
 * OpenTelemetry contrib OpenAI-Agents instrumentation use.
 * (**) as the official OpenInference processors; the model still goes out
 * as llm.model_name.
 *
 * Trace-level attributes (from the trace record, on every span of it):
 * group_id → gen_ai.conversation.id (genai), session.id (openinference,
 * langfuse); workflow_name → langfuse.trace.name; metadata → `metadata`
 * (openinference, JSON, merged with the span's own top-level metadata) and
 * langfuse.trace.metadata.<key>. Always, whatever the conventions:
 * tracebox.span_type, tracebox.sdk_span_id, tracebox.sdk_trace_id,
 * tracebox.sdk_parent_id, tracebox.trace.workflow_name / .group_id /
 * .metadata, so a genai-only destination loses nothing either. When
 * neither openinference nor langfuse is on, a span's input/output that
 * GenAI has no name for goes out as tracebox.input / tracebox.output.
 *
 * Audio (transcription input, speech output) is base64 PCM that can run to
 * megabytes; its `data` is replaced by a note of its size.
 */
#include "otlp/encode.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GENAI TB__OTLP_CONV_GENAI
#define OI TB__OTLP_CONV_OPENINFERENCE
#define LF TB__OTLP_CONV_LANGFUSE
#define WANDB TB__OTLP_CONV_WANDB

/* ------------------------------------------------------------------------ */
/* Reading span_data                                                         */
/* ------------------------------------------------------------------------ */

static const cJSON *get(const cJSON *o, const char *key)
{
    return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
}

static const char *gets(const cJSON *o, const char *key)
{
    const cJSON *v = get(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A non-empty string, else NULL. */
static const char *getsn(const cJSON *o, const char *key)
{
    const char *s = gets(o, key);
    return s && s[0] ? s : NULL;
}

/* An integral number (or a decimal string) as int64. */
static bool geti(const cJSON *o, const char *key, int64_t *out)
{
    const cJSON *v = get(o, key);
    if (cJSON_IsNumber(v) && isfinite(v->valuedouble) && v->valuedouble >= -9.2e18 &&
        v->valuedouble <= 9.2e18) {
        *out = (int64_t)v->valuedouble;
        return true;
    }
    if (cJSON_IsString(v) && v->valuestring[0]) {
        char *end = NULL;
        long long n = strtoll(v->valuestring, &end, 10);
        if (end && *end == '\0') {
            *out = (int64_t)n;
            return true;
        }
    }
    return false;
}

static bool has_value(const cJSON *v)
{
    return v && !cJSON_IsNull(v) && !cJSON_IsInvalid(v);
}

/* ------------------------------------------------------------------------ */
/* Input / output                                                            */
/* ------------------------------------------------------------------------ */

/* A span's input or output: text (borrowed or owned) and its mime type. */
typedef struct io_val {
    const char *text;
    char *owned; /* cJSON_Print'ed, freed with cJSON_free */
    bool json;
    bool unmapped; /* messages GenAI could not (all) name: see norm_messages */
} io_val;

typedef struct io {
    io_val in, out;
    char *lf_in, *lf_out; /* Langfuse message lists (cJSON_free), or NULL */
} io;

static void io_free(io *x)
{
    cJSON_free(x->in.owned);
    cJSON_free(x->out.owned);
    cJSON_free(x->lf_in);
    cJSON_free(x->lf_out);
}

/* A JSON value: strings are kept as text (JSON when they parse as an
 * object or array), anything else is printed. */
static void io_set(tb__otlp_attrs *a, io_val *v, const cJSON *item)
{
    if (!has_value(item))
        return;
    if (cJSON_IsString(item)) {
        v->text = item->valuestring;
        const char *p = item->valuestring;
        while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
            p++;
        if (*p == '{' || *p == '[') {
            cJSON *parsed = cJSON_Parse(item->valuestring);
            v->json = parsed != NULL;
            cJSON_Delete(parsed);
        }
        return;
    }
    v->owned = cJSON_PrintUnformatted(item);
    if (!v->owned) {
        tb__otlp_attr_fail(a);
        return;
    }
    v->text = v->owned;
    v->json = true;
}

static void io_text(io_val *v, const char *text)
{
    v->text = text;
    v->json = false;
}

/* ------------------------------------------------------------------------ */
/* Usage                                                                     */
/* ------------------------------------------------------------------------ */

typedef struct usage {
    bool has_in, has_out, has_total, has_cached, has_reasoning;
    int64_t in, out, total, cached, reasoning;
} usage;

static void read_usage(const cJSON *u, usage *x)
{
    memset(x, 0, sizeof *x);
    if (!cJSON_IsObject(u))
        return;
    x->has_in = geti(u, "input_tokens", &x->in) || geti(u, "prompt_tokens", &x->in);
    x->has_out = geti(u, "output_tokens", &x->out) || geti(u, "completion_tokens", &x->out);
    /* the OpenAI-sanitized form moves everything else under "details" */
    const cJSON *d = get(u, "details");
    x->has_total = geti(u, "total_tokens", &x->total) || geti(d, "total_tokens", &x->total);
    const cJSON *itd = get(u, "input_tokens_details");
    if (!itd)
        itd = get(d, "input_tokens_details");
    if (!itd)
        itd = get(u, "prompt_tokens_details");
    const cJSON *otd = get(u, "output_tokens_details");
    if (!otd)
        otd = get(d, "output_tokens_details");
    if (!otd)
        otd = get(u, "completion_tokens_details");
    x->has_cached = geti(itd, "cached_tokens", &x->cached) || geti(d, "cached_tokens", &x->cached);
    x->has_reasoning =
        geti(otd, "reasoning_tokens", &x->reasoning) || geti(d, "reasoning_tokens", &x->reasoning);
    if (!x->has_cached)
        x->cached = 0;
    if (!x->has_reasoning)
        x->reasoning = 0;
}

/* The JS SDK's Chat Completions model leaves span_data.usage out and keeps
 * each ChatCompletion's usage in output[i].usage: their sum. */
static void sum_output_usage(const cJSON *output, usage *x)
{
    memset(x, 0, sizeof *x);
    if (!cJSON_IsArray(output))
        return;
    const cJSON *e;
    cJSON_ArrayForEach(e, output)
    {
        const cJSON *u = get(e, "usage");
        if (!cJSON_IsObject(u))
            continue;
        usage one;
        read_usage(u, &one);
        x->has_in |= one.has_in;
        x->has_out |= one.has_out;
        x->has_total |= one.has_total || one.has_in || one.has_out;
        x->in += one.in;
        x->out += one.out;
        x->total += one.has_total ? one.total : one.in + one.out;
        x->has_cached |= one.has_cached;
        x->has_reasoning |= one.has_reasoning;
        x->cached += one.cached;
        x->reasoning += one.reasoning;
    }
}

static void emit_usage(const usage *x, unsigned conv, bool langfuse_usage, tb__otlp_attrs *a)
{
    if (!x->has_in && !x->has_out)
        return;
    int64_t total = x->has_total ? x->total : x->in + x->out;
    if (conv & GENAI) {
        if (x->has_in)
            tb__otlp_attr_int(a, "gen_ai.usage.input_tokens", x->in);
        if (x->has_out)
            tb__otlp_attr_int(a, "gen_ai.usage.output_tokens", x->out);
        if (x->cached > 0)
            tb__otlp_attr_int(a, "gen_ai.usage.cache_read.input_tokens", x->cached);
    }
    if (conv & OI) {
        if (x->has_in)
            tb__otlp_attr_int(a, "llm.token_count.prompt", x->in);
        if (x->has_out)
            tb__otlp_attr_int(a, "llm.token_count.completion", x->out);
        tb__otlp_attr_int(a, "llm.token_count.total", total);
        /* a reported zero is reported (the official processors do) */
        if (x->has_cached)
            tb__otlp_attr_int(a, "llm.token_count.prompt_details.cache_read", x->cached);
        if (x->has_reasoning)
            tb__otlp_attr_int(a, "llm.token_count.completion_details.reasoning", x->reasoning);
    }
    if ((conv & LF) && langfuse_usage) {
        /* taken literally by Langfuse: the buckets must not overlap */
        char buf[256];
        int n = snprintf(buf, sizeof buf,
                         "{\"input\":%" PRId64 ",\"output\":%" PRId64 ",\"total\":%" PRId64,
                         x->in - x->cached, x->out - x->reasoning, total);
        if (x->cached > 0 && n > 0 && (size_t)n < sizeof buf)
            n += snprintf(buf + n, sizeof buf - (size_t)n, ",\"input_cached_tokens\":%" PRId64,
                          x->cached);
        if (x->reasoning > 0 && n > 0 && (size_t)n < sizeof buf)
            n += snprintf(buf + n, sizeof buf - (size_t)n, ",\"output_reasoning_tokens\":%" PRId64,
                          x->reasoning);
        if (n > 0 && (size_t)n < sizeof buf - 1) {
            buf[n] = '}';
            buf[n + 1] = '\0';
            tb__otlp_attr_str(a, "langfuse.observation.usage_details", buf);
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Messages                                                                  */
/* ------------------------------------------------------------------------ */

/*
 * A generation's input and output come in several shapes. norm_messages()
 * turns any of them, once, into a list of `msg` that both conventions read:
 *
 *   Chat Completions message  {role, content, tool_calls:[{id, function:
 *                             {name, arguments}}], tool_call_id, name}
 *                             (content null + `refusal`: the refusal).
 *   ChatCompletion response   {choices:[{message, finish_reason}]}: one
 *                             message per choice, with the choice's
 *                             finish_reason. The JS SDK's chat-completions
 *                             model exports output = [<the response>].
 *   Responses API items       {type:"message", role, content} and the bare
 *                             {role, content}; {type:"function_call", name,
 *                             call_id|callId, arguments}: an assistant
 *                             message with that one tool call;
 *                             {type:"function_call_output" (JS protocol:
 *                             "function_call_result"), call_id|callId,
 *                             output}: a "tool" message answering it.
 *
 * Content is a string or a list of parts: {text} (type text, input_text,
 * output_text), {refusal}, image_url {url} / input_image "url"; a tool
 * output may also be an object ({type:"text", text} in the JS protocol).
 * An element of any other shape (reasoning items, hosted tool calls,
 * non-objects) gives no message and makes the list incomplete: with GenAI
 * alone the raw value then goes out as tracebox.input / tracebox.output,
 * so nothing is lost (input.value / output.value carry it otherwise).
 */
typedef struct msg {
    const char *role;          /* NULL: not given */
    const cJSON *content;      /* a string, a list of parts, other JSON, NULL */
    const cJSON *tool_calls;   /* Chat Completions tool_calls (an array), or NULL */
    const cJSON *call;         /* a Responses function_call item, or NULL */
    const cJSON *tool_call_id; /* the call a tool message answers, or NULL */
    const char *name;          /* a chat message's name, or NULL */
    const char *finish_reason; /* NULL: not given */
    size_t pos;                /* the element's place in its list (see oi_messages) */
    bool tool_result;          /* from a function_call_output/_result item */
    bool unknown;              /* an item of another type that has content (a
                                  reasoning item): OpenInference only */
} msg;

typedef struct msg_list {
    msg *m; /* tb__calloc'd; NULL when n == 0 */
    size_t n;
    bool complete; /* every element had a known shape */
} msg_list;

/* Messages of a known shape (GenAI and Langfuse leave the others out). */
static size_t known_messages(const msg_list *l)
{
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++)
        n += !l->m[i].unknown;
    return n;
}

/* A Responses span's input: the instructions (a string, or NULL) become a
 * leading system message, a string input one user message; a list is read
 * as above. */
static bool norm_messages_with(const cJSON *v, const cJSON *instructions, msg_list *l,
                               tb__otlp_attrs *a);

/* One tool call, from either shape. */
typedef struct tool_call {
    const cJSON *id, *name, *arguments;
} tool_call;

static bool push(cJSON *arr, cJSON *item);
static bool add_copy(cJSON *obj, const char *key, const cJSON *v);

static const cJSON *first_call(const msg *m)
{
    return m->call ? m->call : (m->tool_calls ? m->tool_calls->child : NULL);
}

static const cJSON *next_call(const msg *m, const cJSON *tc)
{
    return m->call ? NULL : tc->next;
}

static const cJSON *call_id(const cJSON *item)
{
    const cJSON *id = get(item, "call_id");
    return cJSON_IsString(id) ? id : get(item, "callId");
}

static void read_call(const msg *m, const cJSON *tc, tool_call *c)
{
    if (m->call) {
        c->id = call_id(tc);
        c->name = get(tc, "name");
        c->arguments = get(tc, "arguments");
    } else {
        const cJSON *fn = get(tc, "function");
        c->id = get(tc, "id");
        c->name = get(fn, "name");
        c->arguments = get(fn, "arguments");
    }
}

static bool has_calls(const msg *m)
{
    return m->call || cJSON_GetArraySize(m->tool_calls) > 0;
}

/* The text of a content part: text, input_text, output_text, refusal. */
static const char *part_text(const cJSON *part)
{
    const char *text = gets(part, "text");
    return text ? text : gets(part, "refusal");
}

static void chat_message(const cJSON *m, msg *out)
{
    memset(out, 0, sizeof *out);
    out->role = gets(m, "role");
    out->content = get(m, "content");
    if (!cJSON_IsString(out->content) && !cJSON_IsArray(out->content) && getsn(m, "refusal"))
        out->content = get(m, "refusal");
    const cJSON *calls = get(m, "tool_calls");
    out->tool_calls = cJSON_IsArray(calls) ? calls : NULL;
    out->tool_call_id = get(m, "tool_call_id");
    out->name = getsn(m, "name");
    out->finish_reason = getsn(m, "finish_reason");
}

/* The messages element e gives (into dst[0..) when dst is not NULL); clears
 * *complete when e, or a choice of it, has no known shape. */
static size_t norm_element(const cJSON *e, msg *dst, bool *complete)
{
    if (!cJSON_IsObject(e)) {
        *complete = false;
        return 0;
    }
    const cJSON *choices = get(e, "choices");
    if (cJSON_IsArray(choices)) {
        size_t n = 0;
        const cJSON *c;
        cJSON_ArrayForEach(c, choices)
        {
            const cJSON *m = get(c, "message");
            if (!cJSON_IsObject(m)) {
                *complete = false;
                continue;
            }
            if (dst) {
                chat_message(m, &dst[n]);
                if (!dst[n].role)
                    dst[n].role = "assistant";
                if (getsn(c, "finish_reason"))
                    dst[n].finish_reason = getsn(c, "finish_reason");
            }
            n++;
        }
        return n;
    }
    const char *type = gets(e, "type");
    msg m;
    memset(&m, 0, sizeof m);
    if (!type || strcmp(type, "message") == 0) {
        if (!type && !get(e, "role") && !get(e, "content") && !get(e, "tool_calls")) {
            *complete = false;
            return 0;
        }
        chat_message(e, &m);
    } else if (strcmp(type, "function_call") == 0) {
        m.role = "assistant";
        m.call = e;
    } else if (strcmp(type, "function_call_output") == 0 ||
               strcmp(type, "function_call_result") == 0) {
        m.role = "tool";
        m.tool_call_id = call_id(e);
        m.content = get(e, "output");
        m.tool_result = true;
    } else {
        *complete = false;
        if (!get(e, "content"))
            return 0;
        /* the official processors still show its content, without a role */
        m.role = gets(e, "role");
        m.content = get(e, "content");
        m.unknown = true;
    }
    if (dst)
        *dst = m;
    return 1;
}

/* Normalise a span's input or output. false when v is not a message list
 * (an array, or one bare ChatCompletion): there is nothing to emit. An
 * allocation failure marks the builder and gives false. */
static bool norm_messages(const cJSON *v, msg_list *l, tb__otlp_attrs *a)
{
    memset(l, 0, sizeof *l);
    l->complete = true;
    const cJSON *first;
    bool single = false;
    if (cJSON_IsArray(v)) {
        first = v->child;
    } else if (cJSON_IsArray(get(v, "choices"))) {
        first = v;
        single = true;
    } else {
        return false;
    }
    size_t n = 0;
    for (const cJSON *e = first; e; e = single ? NULL : e->next)
        n += norm_element(e, NULL, &l->complete);
    if (n == 0)
        return true;
    l->m = tb__calloc(n, sizeof *l->m);
    if (!l->m) {
        tb__otlp_attr_fail(a);
        return false;
    }
    bool again = true;
    size_t pos = 0;
    for (const cJSON *e = first; e; e = single ? NULL : e->next, pos++) {
        size_t k = norm_element(e, l->m + l->n, &again);
        for (size_t j = 0; j < k; j++)
            l->m[l->n + j].pos = pos;
        l->n += k;
    }
    return true;
}

static bool norm_messages_with(const cJSON *v, const cJSON *instructions, msg_list *l,
                               tb__otlp_attrs *a)
{
    memset(l, 0, sizeof *l);
    bool sys = cJSON_IsString(instructions) && instructions->valuestring[0];
    if (!sys && !cJSON_IsString(v))
        return norm_messages(v, l, a);
    msg_list rest;
    memset(&rest, 0, sizeof rest);
    rest.complete = true;
    if (!cJSON_IsString(v) && has_value(v) && !norm_messages(v, &rest, a))
        return false;
    size_t n = rest.n + (sys ? 1 : 0) + (cJSON_IsString(v) ? 1 : 0);
    memset(l, 0, sizeof *l);
    l->complete = rest.complete;
    l->m = tb__calloc(n ? n : 1, sizeof *l->m);
    if (!l->m) {
        tb__free_mem(rest.m);
        tb__otlp_attr_fail(a);
        return false;
    }
    if (sys) {
        l->m[l->n].role = "system";
        l->m[l->n++].content = instructions;
    }
    size_t lead = l->n;
    if (cJSON_IsString(v)) {
        l->m[l->n].role = "user";
        l->m[l->n].pos = lead;
        l->m[l->n++].content = v;
    }
    for (size_t i = 0; i < rest.n; i++) {
        l->m[l->n] = rest.m[i];
        l->m[l->n++].pos += lead;
    }
    tb__free_mem(rest.m);
    return true;
}

/* ---- Langfuse: an OpenAI chat message list ------------------------------
 * Langfuse's chat view reads OpenAI chat messages: {role, content (a
 * string), tool_calls:[{id, type:"function", function:{name, arguments}}],
 * tool_call_id, name}. Text parts are joined into the content string; a
 * message with other parts (images) keeps them as {type:"text"} /
 * {type:"image_url"} parts. */
static bool chat_content(cJSON *obj, const cJSON *content)
{
    if (!has_value(content))
        return true;
    if (cJSON_IsString(content))
        return cJSON_AddStringToObject(obj, "content", content->valuestring) != NULL;
    if (!cJSON_IsArray(content)) {
        const char *text = gets(content, "text");
        if (text)
            return cJSON_AddStringToObject(obj, "content", text) != NULL;
        char *json = cJSON_PrintUnformatted(content);
        bool ok = json && cJSON_AddStringToObject(obj, "content", json);
        cJSON_free(json);
        return ok;
    }
    bool only_text = true;
    const cJSON *part;
    tb__buf b = {0};
    cJSON_ArrayForEach(part, content)
    {
        const char *text = part_text(part);
        if (text)
            tb__buf_puts(&b, text);
        else if (gets(part, "type"))
            only_text = false;
    }
    bool ok = !b.failed;
    if (ok && only_text) {
        tb__buf_append(&b, "", 1);
        ok = !b.failed && cJSON_AddStringToObject(obj, "content", b.data ? b.data : "");
        tb__buf_free(&b);
        return ok;
    }
    tb__buf_free(&b);
    cJSON *parts = cJSON_AddArrayToObject(obj, "content");
    if (!ok || !parts)
        return false;
    cJSON_ArrayForEach(part, content)
    {
        const char *text = part_text(part);
        const char *type = gets(part, "type");
        const char *url = NULL;
        if (type && strcmp(type, "image_url") == 0)
            url = gets(get(part, "image_url"), "url");
        else if (type && strcmp(type, "input_image") == 0)
            url = gets(part, "image_url");
        cJSON *p = cJSON_CreateObject();
        if (!push(parts, p))
            return false;
        if (text) {
            ok = cJSON_AddStringToObject(p, "type", "text") &&
                 cJSON_AddStringToObject(p, "text", text);
        } else if (url) {
            cJSON *iu = cJSON_AddObjectToObject(p, "image_url");
            ok = cJSON_AddStringToObject(p, "type", "image_url") && iu &&
                 cJSON_AddStringToObject(iu, "url", url);
        }
        if (!ok)
            return false;
    }
    return ok;
}

static bool chat_message_json(cJSON *out, const msg *m, bool output)
{
    cJSON *obj = cJSON_CreateObject();
    if (!push(out, obj))
        return false;
    bool ok =
        cJSON_AddStringToObject(obj, "role", m->role ? m->role : (output ? "assistant" : "user")) &&
        chat_content(obj, m->content);
    if (ok && m->name)
        ok = cJSON_AddStringToObject(obj, "name", m->name) != NULL;
    if (ok && cJSON_IsString(m->tool_call_id))
        ok = cJSON_AddStringToObject(obj, "tool_call_id", m->tool_call_id->valuestring) != NULL;
    cJSON *calls = ok && has_calls(m) ? cJSON_AddArrayToObject(obj, "tool_calls") : NULL;
    for (const cJSON *tc = calls ? first_call(m) : NULL; tc && ok; tc = next_call(m, tc)) {
        tool_call c;
        read_call(m, tc, &c);
        cJSON *call = cJSON_CreateObject();
        cJSON *fn = cJSON_CreateObject();
        ok = push(calls, call) && fn && cJSON_AddItemToObject(call, "function", fn);
        if (!ok) {
            cJSON_Delete(fn);
            break;
        }
        ok = add_copy(call, "id", c.id) && cJSON_AddStringToObject(call, "type", "function") &&
             add_copy(fn, "name", c.name);
        if (ok && cJSON_IsString(c.arguments)) {
            ok = cJSON_AddStringToObject(fn, "arguments", c.arguments->valuestring) != NULL;
        } else if (ok && has_value(c.arguments)) {
            char *json = cJSON_PrintUnformatted(c.arguments);
            ok = json && cJSON_AddStringToObject(fn, "arguments", json);
            cJSON_free(json);
        }
    }
    return ok;
}

/* The list as Langfuse reads it (cJSON_free); NULL when no element was
 * understood (the raw value goes instead). Elements of other shapes
 * (reasoning items, hosted tool calls) are left out of it. */
static char *chat_messages_text(const msg_list *l, bool output, tb__otlp_attrs *a)
{
    if (known_messages(l) == 0)
        return NULL;
    cJSON *out = cJSON_CreateArray();
    bool ok = out != NULL;
    for (size_t i = 0; ok && i < l->n; i++)
        ok = l->m[i].unknown || chat_message_json(out, &l->m[i], output);
    char *text = ok ? cJSON_PrintUnformatted(out) : NULL;
    if (!text)
        tb__otlp_attr_fail(a);
    cJSON_Delete(out);
    return text;
}

/* ---- OpenInference: llm.input_messages.<i>.message.role … --------------- */

/* keys: <prefix>.<i>.message (BASE), + .tool_calls.<k>.tool_call (SUB), + a leaf */
#define BASE_MAX 64
#define SUB_MAX 128
#define KEY_MAX 192

/* base + suffix = value, when value is not NULL. */
static void oi_str(tb__otlp_attrs *a, const char *base, const char *suffix, const char *value)
{
    if (!value)
        return;
    char key[KEY_MAX];
    snprintf(key, sizeof key, "%s%s", base, suffix);
    tb__otlp_attr_str(a, key, value);
}

static void oi_content(const cJSON *content, const char *base, tb__otlp_attrs *a)
{
    if (cJSON_IsString(content)) {
        oi_str(a, base, ".content", content->valuestring);
    } else if (cJSON_IsArray(content)) {
        int j = 0;
        const cJSON *part;
        cJSON_ArrayForEach(part, content)
        {
            char pb[SUB_MAX];
            snprintf(pb, sizeof pb, "%s.contents.%d.message_content", base, j++);
            const char *text = part_text(part);
            const char *type = gets(part, "type");
            if (text) {
                oi_str(a, pb, ".type", "text");
                oi_str(a, pb, ".text", text);
            } else if (type && strcmp(type, "image_url") == 0) {
                oi_str(a, pb, ".type", "image");
                oi_str(a, pb, ".image.image.url", gets(get(part, "image_url"), "url"));
            } else if (type && strcmp(type, "input_image") == 0) {
                oi_str(a, pb, ".type", "image");
                oi_str(a, pb, ".image.image.url", gets(part, "image_url"));
            }
        }
    } else if (has_value(content)) {
        /* a tool's output object: its text, else its JSON */
        char key[KEY_MAX];
        snprintf(key, sizeof key, "%s.content", base);
        const char *text = gets(content, "text");
        if (text)
            tb__otlp_attr_str(a, key, text);
        else
            tb__otlp_attr_json(a, key, content);
    }
}

/* Indices as the official processors number them: a list of items
 * (`positional`: generation input and output, a response's input) by the
 * item's place in it, an item that gives no message still taking its
 * number, and an item of another type with content shown without a role;
 * the output of a Responses object and ChatCompletion choices one after
 * another (`!positional`), known items only. */
static void oi_messages(const msg_list *l, const char *prefix, bool positional, tb__otlp_attrs *a)
{
    size_t next = 0;
    for (size_t i = 0; i < l->n; i++) {
        const msg *m = &l->m[i];
        if (m->unknown && !positional)
            continue;
        char base[BASE_MAX];
        snprintf(base, sizeof base, "%s.%zu.message", prefix, positional ? m->pos : next++);
        oi_str(a, base, ".role", m->role);
        if (m->tool_result && !cJSON_IsString(m->content) && !gets(m->content, "text")) {
            /* a tool's output of another shape: its JSON */
            char key[KEY_MAX];
            snprintf(key, sizeof key, "%s.content", base);
            tb__otlp_attr_json(a, key, m->content);
        } else {
            oi_content(m->content, base, a);
        }
        oi_str(a, base, ".name", m->name);
        const char *tcid = cJSON_IsString(m->tool_call_id) ? m->tool_call_id->valuestring : NULL;
        oi_str(a, base, ".tool_call_id", tcid && tcid[0] ? tcid : NULL);
        int k = 0;
        for (const cJSON *tc = first_call(m); tc; tc = next_call(m, tc)) {
            tool_call c;
            read_call(m, tc, &c);
            char cb[SUB_MAX];
            snprintf(cb, sizeof cb, "%s.tool_calls.%d.tool_call", base, k++);
            oi_str(a, cb, ".id", cJSON_IsString(c.id) ? c.id->valuestring : NULL);
            oi_str(a, cb, ".function.name", cJSON_IsString(c.name) ? c.name->valuestring : NULL);
            if (cJSON_IsString(c.arguments)) {
                oi_str(a, cb, ".function.arguments", c.arguments->valuestring);
            } else if (cJSON_IsObject(c.arguments) || cJSON_IsArray(c.arguments)) {
                char key[KEY_MAX];
                snprintf(key, sizeof key, "%s.function.arguments", cb);
                tb__otlp_attr_json(a, key, c.arguments);
            }
        }
    }
}

/* ---- GenAI: [{"role":…, "parts":[…], "finish_reason":…}] -----------------
 * Parts: {"type":"text","content"}, {"type":"tool_call","id","name",
 * "arguments"}, {"type":"tool_call_response","id","response"};
 * finish_reason on output messages only. */
static cJSON *genai_part(const char *type)
{
    cJSON *p = cJSON_CreateObject();
    if (p && !cJSON_AddStringToObject(p, "type", type)) {
        cJSON_Delete(p);
        return NULL;
    }
    return p;
}

static bool push(cJSON *arr, cJSON *item)
{
    if (!item)
        return false;
    if (!cJSON_AddItemToArray(arr, item)) {
        cJSON_Delete(item);
        return false;
    }
    return true;
}

static bool add_copy(cJSON *obj, const char *key, const cJSON *v)
{
    cJSON *c = has_value(v) ? cJSON_Duplicate(v, 1) : cJSON_CreateNull();
    if (!c)
        return false;
    if (!cJSON_AddItemToObject(obj, key, c)) {
        cJSON_Delete(c);
        return false;
    }
    return true;
}

static bool text_part(cJSON *parts, const char *text)
{
    cJSON *p = genai_part("text");
    bool ok = p && cJSON_AddStringToObject(p, "content", text);
    return push(parts, p) && ok;
}

/* GenAI's values: stop, length, content_filter, tool_call, error. */
static const char *finish_reason(const msg *m)
{
    const char *fr = m->finish_reason;
    if (!fr)
        return has_calls(m) ? "tool_call" : "stop";
    if (strcmp(fr, "tool_calls") == 0 || strcmp(fr, "function_call") == 0)
        return "tool_call";
    return fr;
}

static bool genai_message(cJSON *out, const msg *m, bool output)
{
    cJSON *obj = cJSON_CreateObject();
    cJSON *parts = cJSON_CreateArray();
    bool ok = obj && parts;
    const char *role = m->role;
    const cJSON *content = m->content;
    ok = ok && cJSON_AddStringToObject(obj, "role", role ? role : (output ? "assistant" : "user"));
    if (ok && role && strcmp(role, "tool") == 0) {
        cJSON *p = genai_part("tool_call_response");
        ok = p && add_copy(p, "id", m->tool_call_id) && add_copy(p, "response", content);
        ok = push(parts, p) && ok;
    } else if (ok && cJSON_IsString(content)) {
        ok = text_part(parts, content->valuestring);
    } else if (ok && cJSON_IsArray(content)) {
        const cJSON *part;
        cJSON_ArrayForEach(part, content)
        {
            const char *text = part_text(part);
            if (text && !(ok = text_part(parts, text)))
                break;
        }
    } else if (ok && gets(content, "text")) {
        ok = text_part(parts, gets(content, "text"));
    }
    for (const cJSON *tc = ok ? first_call(m) : NULL; tc; tc = next_call(m, tc)) {
        tool_call c;
        read_call(m, tc, &c);
        cJSON *p = genai_part("tool_call");
        ok = p && add_copy(p, "id", c.id) && add_copy(p, "name", c.name);
        /* arguments: the parsed object when the string is JSON */
        cJSON *parsed = cJSON_IsString(c.arguments) ? cJSON_Parse(c.arguments->valuestring) : NULL;
        if (ok && parsed) {
            ok = cJSON_AddItemToObject(p, "arguments", parsed);
            if (!ok)
                cJSON_Delete(parsed);
        } else {
            cJSON_Delete(parsed);
            ok = ok && add_copy(p, "arguments", c.arguments);
        }
        ok = push(parts, p) && ok;
        if (!ok)
            break;
    }
    if (ok && output)
        ok = cJSON_AddStringToObject(obj, "finish_reason", finish_reason(m)) != NULL;
    if (ok) {
        ok = cJSON_AddItemToObject(obj, "parts", parts);
        if (ok)
            parts = NULL;
    }
    cJSON_Delete(parts);
    if (!ok) {
        cJSON_Delete(obj);
        return false;
    }
    return push(out, obj);
}

/* A list none of whose elements was understood gives no attribute (an
 * empty list gives "[]"). */
static void genai_messages(const msg_list *l, const char *key, bool output, tb__otlp_attrs *a)
{
    if (known_messages(l) == 0 && !l->complete)
        return;
    cJSON *out = cJSON_CreateArray();
    bool ok = out != NULL;
    for (size_t i = 0; ok && i < l->n; i++)
        ok = l->m[i].unknown || genai_message(out, &l->m[i], output);
    if (ok)
        tb__otlp_attr_json(a, key, out);
    else
        tb__otlp_attr_fail(a);
    cJSON_Delete(out);
}

/* ------------------------------------------------------------------------ */
/* Model request parameters (model_config)                                   */
/* ------------------------------------------------------------------------ */

static const struct {
    const char *config_key;
    const char *genai_key;
    bool integer;
} k_params[] = {
    {"temperature", "gen_ai.request.temperature", false},
    {"top_p", "gen_ai.request.top_p", false},
    {"frequency_penalty", "gen_ai.request.frequency_penalty", false},
    {"presence_penalty", "gen_ai.request.presence_penalty", false},
    {"max_tokens", "gen_ai.request.max_tokens", true},
    {"max_output_tokens", "gen_ai.request.max_tokens", true},
    {"seed", "gen_ai.request.seed", true},
};

static void model_attrs(const char *model, const cJSON *config, unsigned conv, tb__otlp_attrs *a)
{
    if (conv & GENAI) {
        tb__otlp_attr_str(a, "gen_ai.request.model", model);
        bool have_max = false;
        for (size_t i = 0; i < sizeof k_params / sizeof k_params[0]; i++) {
            const cJSON *v = get(config, k_params[i].config_key);
            if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
                continue;
            if (k_params[i].integer) {
                if (strcmp(k_params[i].genai_key, "gen_ai.request.max_tokens") == 0) {
                    if (have_max)
                        continue; /* one key, two SDK spellings */
                    have_max = true;
                }
                tb__otlp_attr_int(a, k_params[i].genai_key, (int64_t)v->valuedouble);
            } else {
                tb__otlp_attr_double(a, k_params[i].genai_key, v->valuedouble);
            }
        }
    }
    if (conv & OI) {
        tb__otlp_attr_str(a, "llm.model_name", model);
        if (cJSON_IsObject(config))
            tb__otlp_attr_json(a, "llm.invocation_parameters", config);
    }
    if (conv & LF) {
        tb__otlp_attr_str(a, "langfuse.observation.model.name", model);
        if (cJSON_IsObject(config))
            tb__otlp_attr_json(a, "langfuse.observation.model.parameters", config);
    }
}

/* ------------------------------------------------------------------------ */
/* The type-specific extractors                                              */
/* ------------------------------------------------------------------------ */

typedef struct type_map type_map;
typedef void (*extract_fn)(const tb__otlp_span_view *v, const type_map *t, unsigned conv,
                           tb__otlp_attrs *a, io *x);

struct type_map {
    const char *type;          /* effective SDK span type; NULL: the default */
    const char *oi_kind;       /* openinference.span.kind */
    const char *genai_op;      /* gen_ai.operation.name; NULL: none */
    const char *langfuse_type; /* langfuse.observation.type */
    int otlp_kind;             /* 1 INTERNAL, 3 CLIENT */
    bool model_call;           /* provider attributes (llm.provider, gen_ai.provider.name) */
    bool genai_io;             /* GenAI has names for its input/output */
    const char *default_name;  /* NULL: the type itself */
    extract_fn extract;
};

static void agent_x(const tb__otlp_span_view *v, const type_map *t, unsigned conv,
                    tb__otlp_attrs *a, io *x)
{
    (void)t;
    const char *name = getsn(v->data, "name");
    if (conv & GENAI) {
        tb__otlp_attr_str(a, "gen_ai.agent.name", name);
        tb__otlp_attr_str(a, "gen_ai.provider.name", "openai");
    }
    if (conv & OI) {
        tb__otlp_attr_str(a, "agent.name", name);
        /* the agent graph: this agent, and the one that handed off to it */
        tb__otlp_attr_str(a, "graph.node.id", name);
        tb__otlp_attr_str(a, "graph.node.parent_id", v->graph_parent);
    }
    const cJSON *tools = get(v->data, "tools");
    const cJSON *handoffs = get(v->data, "handoffs");
    if (cJSON_IsArray(tools))
        tb__otlp_attr_json(a, "tracebox.agent.tools", tools);
    if (cJSON_IsArray(handoffs))
        tb__otlp_attr_json(a, "tracebox.agent.handoffs", handoffs);
    tb__otlp_attr_str(a, "tracebox.agent.output_type", getsn(v->data, "output_type"));
    if (v->lifted_in) {
        x->in.text = v->lifted_in;
        x->in.json = v->lifted_in_json;
    }
    if (v->lifted_out)
        io_text(&x->out, v->lifted_out);
}

/* Response object keys that are not invocation parameters (the official
 * OpenInference processors leave the same ones out). */
static bool invocation_key(const char *key)
{
    static const char *const k_not[] = {"instructions", "object", "output_text", "tools",
                                        "usage",        "output", "error",       "status"};
    for (size_t i = 0; i < sizeof k_not / sizeof k_not[0]; i++)
        if (strcmp(key, k_not[i]) == 0)
            return false;
    return true;
}

/* A Responses object minus what is not an invocation parameter and nulls;
 * NULL when nothing is left (or out of memory: marks the builder). */
static cJSON *invocation_params(const cJSON *resp, tb__otlp_attrs *a)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) {
        tb__otlp_attr_fail(a);
        return NULL;
    }
    const cJSON *kv;
    cJSON_ArrayForEach(kv, resp)
    {
        if (!has_value(kv) || !invocation_key(kv->string))
            continue;
        cJSON *c = cJSON_Duplicate(kv, 1);
        if (!c || !cJSON_AddItemToObject(o, kv->string, c)) {
            cJSON_Delete(c);
            cJSON_Delete(o);
            tb__otlp_attr_fail(a);
            return NULL;
        }
    }
    if (cJSON_GetArraySize(o) == 0) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* OpenInference's finish reason of a Responses object: incomplete_details
 * .reason first (max_output_tokens → length), else the status (completed →
 * stop, failed → error). */
static const char *response_finish_reason(const cJSON *resp)
{
    const char *why = getsn(get(resp, "incomplete_details"), "reason");
    if (why)
        return strcmp(why, "max_output_tokens") == 0 ? "length" : why;
    const char *status = getsn(resp, "status");
    if (!status)
        return NULL;
    if (strcmp(status, "completed") == 0)
        return "stop";
    if (strcmp(status, "failed") == 0)
        return "error";
    return status;
}

/* The last non-empty finish_reason of the ChatCompletion choices in a
 * generation's output. */
static const char *choices_finish_reason(const cJSON *output)
{
    const char *fr = NULL;
    const cJSON *single = cJSON_IsArray(get(output, "choices")) ? output : NULL;
    if (!single && !cJSON_IsArray(output))
        return NULL;
    for (const cJSON *e = single ? single : output->child; e; e = single ? NULL : e->next) {
        const cJSON *choices = get(e, "choices");
        const cJSON *c;
        cJSON_ArrayForEach(c, (cJSON_IsArray(choices) ? choices : NULL))
        {
            if (getsn(c, "finish_reason"))
                fr = getsn(c, "finish_reason");
        }
    }
    return fr;
}

/* Function tools of a Responses object as OpenInference tool schemas,
 * llm.tools.<i>.tool.json_schema (i: the tool's place in the list). */
static void oi_tools(const cJSON *tools, tb__otlp_attrs *a)
{
    if (!cJSON_IsArray(tools))
        return;
    int i = -1;
    const cJSON *t;
    cJSON_ArrayForEach(t, tools)
    {
        i++;
        const char *type = gets(t, "type");
        if (!type || strcmp(type, "function") != 0)
            continue;
        cJSON *schema = cJSON_CreateObject();
        cJSON *fn = cJSON_CreateObject();
        bool ok = schema && fn && cJSON_AddStringToObject(schema, "type", "function") &&
                  cJSON_AddItemToObject(schema, "function", fn);
        if (!ok)
            cJSON_Delete(fn);
        static const char *const keys[] = {"name", "description", "parameters", "strict"};
        for (size_t k = 0; ok && k < 4; k++)
            if (has_value(get(t, keys[k])))
                ok = add_copy(fn, keys[k], get(t, keys[k]));
        char key[64];
        snprintf(key, sizeof key, "llm.tools.%d.tool.json_schema", i);
        if (ok)
            tb__otlp_attr_json(a, key, schema);
        else
            tb__otlp_attr_fail(a);
        cJSON_Delete(schema);
    }
}

/* generation and response: whatever of model, config, usage, messages and
 * response id the span has. A response span's data is mostly in the
 * extension fields the bindings capture (span_data.response: the Responses
 * API object; span_data.input: its input, a string or a list of items). */
static void llm_x(const tb__otlp_span_view *v, const type_map *t, unsigned conv, tb__otlp_attrs *a,
                  io *x)
{
    (void)t;
    const cJSON *d = v->data;
    const cJSON *resp = get(d, "response");
    if (!cJSON_IsObject(resp))
        resp = NULL;
    const char *model = getsn(d, "model");
    if (!model)
        model = getsn(resp, "model");
    cJSON *params = resp ? invocation_params(resp, a) : NULL;
    model_attrs(model, resp ? params : get(d, "model_config"), conv, a);
    cJSON_Delete(params);
    const char *rid = getsn(d, "response_id");
    if (!rid)
        rid = getsn(resp, "id");
    if (conv & GENAI) {
        tb__otlp_attr_str(a, "gen_ai.response.id", rid);
        tb__otlp_attr_str(a, "gen_ai.response.model", getsn(resp, "model"));
    } else {
        tb__otlp_attr_str(a, "tracebox.response_id", rid);
    }
    const cJSON *in = get(d, "input");
    const cJSON *out = resp ? get(resp, "output") : get(d, "output");
    usage u;
    read_usage(get(d, "usage"), &u);
    if (!u.has_in && !u.has_out && resp)
        read_usage(get(resp, "usage"), &u);
    if (!u.has_in && !u.has_out)
        sum_output_usage(out, &u);
    emit_usage(&u, conv, true, a);
    const char *fr = resp ? response_finish_reason(resp) : choices_finish_reason(out);
    if (conv & OI) {
        tb__otlp_attr_str(a, "llm.finish_reason", fr);
        if (resp)
            oi_tools(get(resp, "tools"), a);
    }
    io_set(a, &x->in, in);
    io_set(a, &x->out, resp ? resp : out);
    if (!(conv & (GENAI | OI | LF)))
        return;
    msg_list lin, lout;
    bool in_ok = norm_messages_with(in, get(resp, "instructions"), &lin, a);
    bool out_ok = norm_messages(out, &lout, a);
    if (conv & GENAI) {
        if (in_ok)
            genai_messages(&lin, "gen_ai.input.messages", false, a);
        if (out_ok)
            genai_messages(&lout, "gen_ai.output.messages", true, a);
    }
    if (conv & OI) {
        bool choices = cJSON_IsArray(get(out, "choices")) ||
                       (cJSON_IsArray(out) && cJSON_IsArray(get(out->child, "choices")));
        oi_messages(&lin, "llm.input_messages", true, a);
        oi_messages(&lout, "llm.output_messages", !resp && !choices, a);
    }
    if (conv & LF) {
        /* Langfuse's chat view: message lists, never the raw API object */
        x->lf_in = in_ok ? chat_messages_text(&lin, false, a) : NULL;
        x->lf_out = out_ok ? chat_messages_text(&lout, true, a) : NULL;
    }
    x->in.unmapped = has_value(in) && !(in_ok && lin.complete);
    x->out.unmapped = has_value(out) && !(out_ok && lout.complete);
    tb__free_mem(lin.m);
    tb__free_mem(lout.m);
}

static void function_x(const tb__otlp_span_view *v, const type_map *t, unsigned conv,
                       tb__otlp_attrs *a, io *x)
{
    (void)t;
    const char *name = getsn(v->data, "name");
    const cJSON *in = get(v->data, "input"), *out = get(v->data, "output");
    io_set(a, &x->in, in);
    io_set(a, &x->out, out);
    if (conv & GENAI) {
        tb__otlp_attr_str(a, "gen_ai.tool.name", name);
        tb__otlp_attr_str(a, "gen_ai.tool.type", "function");
        tb__otlp_attr_str(a, "gen_ai.tool.call.arguments", x->in.text);
        tb__otlp_attr_str(a, "gen_ai.tool.call.result", x->out.text);
    }
    if (conv & OI)
        tb__otlp_attr_str(a, "tool.name", name);
    const cJSON *mcp = get(v->data, "mcp_data");
    if (has_value(mcp))
        tb__otlp_attr_json(a, "tracebox.mcp_data", mcp);
}

/* Listing an MCP server's tools is not a tool call: no tool name (Langfuse
 * would name the observation after the server), the server as input. */
static void mcp_tools_x(const tb__otlp_span_view *v, const type_map *t, unsigned conv,
                        tb__otlp_attrs *a, io *x)
{
    (void)t;
    (void)conv;
    io_text(&x->in, getsn(v->data, "server"));
    io_set(a, &x->out, get(v->data, "result"));
}

/* As the official processors: tool.name handoff_to_<agent>, input
 * {"from_agent":…}, output {"to_agent":…}. */
static void handoff_x(const tb__otlp_span_view *v, const type_map *t, unsigned conv,
                      tb__otlp_attrs *a, io *x)
{
    (void)t;
    const char *from = getsn(v->data, "from_agent"), *to = getsn(v->data, "to_agent");
    if (to && (conv & OI)) {
        char tool[512];
        snprintf(tool, sizeof tool, "handoff_to_%s", to);
        tb__otlp_attr_str(a, "tool.name", tool);
    }
    static const char *const keys[] = {"from_agent", "to_agent"};
    const char *vals[] = {from, to};
    io_val *dst[] = {&x->in, &x->out};
    for (int i = 0; i < 2; i++) {
        if (!vals[i])
            continue;
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddStringToObject(o, keys[i], vals[i])) {
            cJSON_Delete(o);
            tb__otlp_attr_fail(a);
            continue;
        }
        io_set(a, dst[i], o);
        cJSON_Delete(o);
    }
}

static void guardrail_x(const tb__otlp_span_view *v, const type_map *t, unsigned conv,
                        tb__otlp_attrs *a, io *x)
{
    (void)t;
    const cJSON *trig = get(v->data, "triggered");
    bool triggered = cJSON_IsTrue(trig);
    const char *name = getsn(v->data, "name");
    tb__otlp_attr_bool(a, "guardrail.triggered", triggered);
    if (conv & OI)
        tb__otlp_attr_str(a, "tool.name", name);
    io_text(&x->in, name);
    io_text(&x->out, triggered ? "{\"triggered\":true}" : "{\"triggered\":false}");
    x->out.json = true;
}

/* custom, task, turn and unknown types: span_data.data (or the whole
 * span_data) is the output. */
static void custom_x(const tb__otlp_span_view *v, const type_map *t, unsigned conv,
                     tb__otlp_attrs *a, io *x)
{
    (void)t;
    const cJSON *data = get(v->data, "data");
    if (!cJSON_IsObject(data))
        data = v->data;
    if (cJSON_GetArraySize(data) > 0)
        io_set(a, &x->out, data);
    const char *agent = getsn(data, "agent_name"); /* turn */
    if (conv & GENAI)
        tb__otlp_attr_str(a, "gen_ai.agent.name", agent);
    if (conv & OI)
        tb__otlp_attr_str(a, "agent.name", agent);
}

static void speech_group_x(const tb__otlp_span_view *v, const type_map *t, unsigned conv,
                           tb__otlp_attrs *a, io *x)
{
    (void)t;
    (void)conv;
    (void)a;
    io_set(a, &x->in, get(v->data, "input"));
}

/* Audio {"data": base64, "format": …} → the same with data replaced. */
static void audio_io(tb__otlp_attrs *a, io_val *dst, const cJSON *audio)
{
    if (!cJSON_IsObject(audio)) {
        io_set(a, dst, audio);
        return;
    }
    cJSON *copy = cJSON_Duplicate(audio, 1);
    if (!copy) {
        tb__otlp_attr_fail(a);
        return;
    }
    const char *data = gets(audio, "data");
    if (data && data[0]) {
        char note[96];
        snprintf(note, sizeof note, "[%zu bytes of base64 audio not exported]", strlen(data));
        cJSON *s = cJSON_CreateString(note);
        if (!s || !cJSON_ReplaceItemInObjectCaseSensitive(copy, "data", s)) {
            cJSON_Delete(s);
            cJSON_Delete(copy);
            tb__otlp_attr_fail(a);
            return;
        }
    }
    io_set(a, dst, copy);
    cJSON_Delete(copy);
}

static void transcription_x(const tb__otlp_span_view *v, const type_map *t, unsigned conv,
                            tb__otlp_attrs *a, io *x)
{
    (void)t;
    model_attrs(getsn(v->data, "model"), get(v->data, "model_config"), conv, a);
    audio_io(a, &x->in, get(v->data, "input"));
    io_set(a, &x->out, get(v->data, "output"));
}

static void speech_x(const tb__otlp_span_view *v, const type_map *t, unsigned conv,
                     tb__otlp_attrs *a, io *x)
{
    (void)t;
    model_attrs(getsn(v->data, "model"), get(v->data, "model_config"), conv, a);
    io_set(a, &x->in, get(v->data, "input"));
    audio_io(a, &x->out, get(v->data, "output"));
    tb__otlp_attr_str(a, "tracebox.first_content_at", getsn(v->data, "first_content_at"));
}

#define INTERNAL 1
#define CLIENT 3

static const type_map k_types[] = {
    /* type, OI kind, GenAI op, Langfuse type, kind, model, genai_io, name, extract */
    {"agent", "AGENT", "invoke_agent", "agent", INTERNAL, false, false, NULL, agent_x},
    {"generation", "LLM", "chat", "generation", CLIENT, true, true, NULL, llm_x},
    {"response", "LLM", "chat", "generation", CLIENT, true, false, NULL, llm_x},
    {"function", "TOOL", "execute_tool", "tool", INTERNAL, false, true, NULL, function_x},
    {"mcp_tools", "TOOL", NULL, "span", INTERNAL, false, false, NULL, mcp_tools_x},
    {"handoff", "TOOL", "handoff", "tool", INTERNAL, false, false, NULL, handoff_x},
    {"guardrail", "GUARDRAIL", "guardrail", "guardrail", INTERNAL, false, false, NULL, guardrail_x},
    {"custom", "CHAIN", NULL, "span", INTERNAL, false, false, NULL, custom_x},
    {"task", "CHAIN", "invoke_workflow", "chain", INTERNAL, false, false, NULL, custom_x},
    {"turn", "CHAIN", NULL, "chain", INTERNAL, false, false, NULL, custom_x},
    {"speech_group", "CHAIN", NULL, "chain", INTERNAL, false, false, NULL, speech_group_x},
    {"transcription", "CHAIN", "transcription", "generation", INTERNAL, true, false, NULL,
     transcription_x},
    {"speech", "CHAIN", "speech_generation", "generation", INTERNAL, true, false, NULL, speech_x},
};
static const type_map k_default = {NULL,  "CHAIN", NULL, "span",  INTERNAL,
                                   false, false,   NULL, custom_x};

static const type_map *find_type(const char *type)
{
    for (size_t i = 0; i < sizeof k_types / sizeof k_types[0]; i++)
        if (strcmp(k_types[i].type, type) == 0)
            return &k_types[i];
    return &k_default;
}

/* ------------------------------------------------------------------------ */
/* Names and kinds                                                           */
/* ------------------------------------------------------------------------ */

const char *tb__otlp_effective_type(const cJSON *data)
{
    const char *type = getsn(data, "type");
    if (!type)
        return "unknown";
    if (strcmp(type, "custom") == 0) {
        const char *sdk = getsn(get(data, "data"), "sdk_span_type");
        if (sdk)
            return sdk;
    }
    return type;
}

int tb__otlp_span_kind(const tb__otlp_span_view *v)
{
    return find_type(v->type)->otlp_kind;
}

/* Copy at most size-1 bytes, never cutting a UTF-8 sequence. */
static void copy_utf8(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);
    if (n >= size) {
        n = size - 1;
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

void tb__otlp_span_name(const tb__otlp_span_view *v, char *buf, size_t size)
{
    if (!size)
        return;
    const cJSON *d = v->data;
    const cJSON *inner = get(d, "data");
    const char *type = v->type;
    char tmp[512];
    const char *name = NULL;
    int64_t turn;
    if (strcmp(type, "generation") == 0 || strcmp(type, "transcription") == 0 ||
        strcmp(type, "speech") == 0) {
        name = getsn(d, "model");
    } else if (strcmp(type, "handoff") == 0) {
        const char *to = getsn(d, "to_agent");
        if (to) {
            snprintf(tmp, sizeof tmp, "handoff to %s", to);
            name = tmp;
        }
    } else if (strcmp(type, "mcp_tools") == 0) {
        const char *server = getsn(d, "server");
        if (server) {
            snprintf(tmp, sizeof tmp, "mcp_tools %s", server);
            name = tmp;
        }
    } else if (strcmp(type, "task") == 0) {
        name = getsn(inner, "name");
    } else if (strcmp(type, "turn") == 0) {
        if (geti(inner, "turn", &turn)) {
            snprintf(tmp, sizeof tmp, "turn %" PRId64, turn);
            name = tmp;
        }
    } else if (strcmp(type, "response") != 0 && strcmp(type, "speech_group") != 0) {
        name = getsn(d, "name"); /* agent, function, guardrail, custom, unknown */
    }
    const type_map *t = find_type(type);
    if (!name)
        name = t->default_name ? t->default_name : type;
    copy_utf8(buf, size, name);
}

/* ------------------------------------------------------------------------ */
/* Trace-level and common attributes                                         */
/* ------------------------------------------------------------------------ */

static void trace_attrs(const tb__otlp_span_view *v, unsigned conv, tb__otlp_attrs *a)
{
    const cJSON *tr = v->trace;
    const char *wf = getsn(tr, "workflow_name");
    const char *group = getsn(tr, "group_id");
    const cJSON *meta = get(tr, "metadata");
    if (!cJSON_IsObject(meta))
        meta = NULL;
    const cJSON *span_meta = get(v->span, "metadata");
    if (!cJSON_IsObject(span_meta) || cJSON_GetArraySize(span_meta) == 0)
        span_meta = NULL;

    /* what the enabled conventions have no name for */
    if (!(conv & LF))
        tb__otlp_attr_str(a, "tracebox.trace.workflow_name", wf);
    if (!(conv & (OI | LF))) {
        if (meta && cJSON_GetArraySize(meta) > 0)
            tb__otlp_attr_json(a, "tracebox.trace.metadata", meta);
        if (span_meta)
            tb__otlp_attr_json(a, "tracebox.metadata", span_meta);
    }
    if (!(conv & (GENAI | OI | LF)))
        tb__otlp_attr_str(a, "tracebox.trace.group_id", group);

    if (conv & GENAI)
        tb__otlp_attr_str(a, "gen_ai.conversation.id", group);
    if (conv & (OI | LF))
        tb__otlp_attr_str(a, "session.id", group);
    if ((conv & WANDB) && group) {
        /* Weave's threads: every span names its thread, a root span is a
         * turn of it */
        tb__otlp_attr_str(a, "wandb.thread_id", group);
        if (!getsn(v->span, "parent_id"))
            tb__otlp_attr_bool(a, "wandb.is_turn", true);
    }
    if ((conv & OI) && (meta || span_meta)) {
        /* the trace's metadata, with the span's own keys added */
        cJSON *m = meta ? cJSON_Duplicate(meta, 1) : cJSON_CreateObject();
        const cJSON *kv;
        cJSON_ArrayForEach(kv, (m ? span_meta : NULL))
        {
            if (cJSON_GetObjectItemCaseSensitive(m, kv->string))
                continue;
            cJSON *c = cJSON_Duplicate(kv, 1);
            if (!c || !cJSON_AddItemToObject(m, kv->string, c)) {
                cJSON_Delete(c);
                cJSON_Delete(m);
                m = NULL;
                break;
            }
        }
        if (m && cJSON_GetArraySize(m) > 0)
            tb__otlp_attr_json(a, "metadata", m);
        else if (!m)
            tb__otlp_attr_fail(a);
        cJSON_Delete(m);
    }
    if (conv & LF) {
        tb__otlp_attr_str(a, "langfuse.trace.name", wf);
        char key[200];
        const cJSON *kv;
        cJSON_ArrayForEach(kv, meta)
        {
            snprintf(key, sizeof key, "langfuse.trace.metadata.%s", kv->string);
            if (cJSON_IsString(kv))
                tb__otlp_attr_str(a, key, kv->valuestring);
            else
                tb__otlp_attr_json(a, key, kv);
        }
        cJSON_ArrayForEach(kv, span_meta)
        {
            snprintf(key, sizeof key, "langfuse.observation.metadata.%s", kv->string);
            if (cJSON_IsString(kv))
                tb__otlp_attr_str(a, key, kv->valuestring);
            else
                tb__otlp_attr_json(a, key, kv);
        }
    }
}

static const char *mime(const io_val *v)
{
    return v->json ? "application/json" : "text/plain";
}

void tb__otlp_conventions_apply(const tb__otlp_span_view *v, unsigned conv, tb__otlp_attrs *a)
{
    const type_map *t = find_type(v->type);

    /* what an operator needs to find the record in the outbox */
    tb__otlp_attr_str(a, "tracebox.span_type", v->type);
    tb__otlp_attr_str(a, "tracebox.sdk_span_id", gets(v->span, "id"));
    tb__otlp_attr_str(a, "tracebox.sdk_trace_id", gets(v->span, "trace_id"));

    if (conv & OI) {
        tb__otlp_attr_str(a, "openinference.span.kind", t->oi_kind);
        /* the official processors: the Agents SDK is the system, on every span */
        if (!t->model_call)
            tb__otlp_attr_str(a, "llm.system", "openai");
    }
    if ((conv & GENAI) && t->genai_op)
        tb__otlp_attr_str(a, "gen_ai.operation.name", t->genai_op);
    if (conv & LF)
        tb__otlp_attr_str(a, "langfuse.observation.type", t->langfuse_type);
    if (t->model_call) {
        if (conv & GENAI) {
            tb__otlp_attr_str(a, "gen_ai.provider.name", "openai");
            tb__otlp_attr_str(a, "gen_ai.system", "openai");
        }
        if (conv & OI) {
            tb__otlp_attr_str(a, "llm.provider", "openai");
            tb__otlp_attr_str(a, "llm.system", "openai");
        }
    }
    if (v->error && (conv & GENAI))
        tb__otlp_attr_str(a, "error.type", gets(v->error, "message"));

    trace_attrs(v, conv, a);

    io x;
    memset(&x, 0, sizeof x);
    t->extract(v, t, conv, a, &x);
    if (conv & OI) {
        if (x.in.text) {
            tb__otlp_attr_str(a, "input.value", x.in.text);
            tb__otlp_attr_str(a, "input.mime_type", mime(&x.in));
        }
        if (x.out.text) {
            tb__otlp_attr_str(a, "output.value", x.out.text);
            tb__otlp_attr_str(a, "output.mime_type", mime(&x.out));
        }
    }
    if (conv & LF) {
        tb__otlp_attr_str(a, "langfuse.observation.input", x.lf_in ? x.lf_in : x.in.text);
        tb__otlp_attr_str(a, "langfuse.observation.output", x.lf_out ? x.lf_out : x.out.text);
        /* the run's input and final answer, on root spans (Langfuse reads
         * trace input/output from roots; the latest root wins) */
        if (!getsn(v->span, "parent_id")) {
            tb__otlp_attr_str(a, "langfuse.trace.input", v->run_in);
            tb__otlp_attr_str(a, "langfuse.trace.output", v->run_out);
        }
    }
    if (!(conv & (OI | LF))) {
        /* what GenAI has no name for; unmapped: messages of an unknown shape */
        bool named = (conv & GENAI) && t->genai_io;
        if (!named || x.in.unmapped)
            tb__otlp_attr_str(a, "tracebox.input", x.in.text);
        if (!named || x.out.unmapped)
            tb__otlp_attr_str(a, "tracebox.output", x.out.text);
    }
    io_free(&x);
}
