/*
 * tracing.c — traces, spans and the processor fan-out (the Agents SDK
 * model in C).
 *
 * A span's data is kept as a cJSON object from start to end; export builds
 * the SDK's export object from it. Processors live in one global list
 * guarded by a read-write lock: fan-out holds the read lock, so hooks run
 * concurrently from many threads, and (un)registering waits for them.
 * Every processor is called even when an earlier one fails; the first
 * failure is returned and recorded as the thread's last error.
 */
#include "internal.h"
#include "record.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct tb_trace {
    _Atomic int refs;
    bool noop;
    bool ended;
    char id[256]; /* generated ids are 38 bytes; a caller's may be longer */
    char *workflow_name;
    char *group_id;
    cJSON *metadata; /* object or NULL */
};

struct tb_span {
    tb_trace *trace; /* holds a reference */
    bool noop;
    bool ended;
    char id[40];
    char parent_id[40]; /* "" when the parent is the trace */
    int64_t started_us, ended_us;
    cJSON *data;     /* span_data, with "type" */
    cJSON *error;    /* {"message", "data"} or NULL */
    cJSON *metadata; /* span-level metadata or NULL */
};

/* ---- processors ---- */

static pthread_rwlock_t proc_lock = PTHREAD_RWLOCK_INITIALIZER;
static tb_processor *procs;
static size_t n_procs;
static atomic_int disabled = -1; /* -1: not read from the environment yet */

int tb_tracing_disabled(void)
{
    int d = atomic_load(&disabled);
    if (d < 0) {
        const char *e = getenv("OPENAI_AGENTS_DISABLE_TRACING");
        d = e && (strcmp(e, "1") == 0 || strcmp(e, "true") == 0 || strcmp(e, "TRUE") == 0 ||
                  strcmp(e, "True") == 0);
        int expected = -1;
        atomic_compare_exchange_strong(&disabled, &expected, d);
        d = atomic_load(&disabled);
    }
    return d;
}

void tb_set_tracing_disabled(int d)
{
    atomic_store(&disabled, d ? 1 : 0);
}

tb_status tb_add_trace_processor(const tb_processor *p)
{
    if (!p)
        return tb__set_error(TB_INVALID, "tb_add_trace_processor: processor is NULL");
    if (p->version != TB_PROCESSOR_VERSION)
        return tb__set_error(TB_INVALID, "tb_add_trace_processor: version %u is not %u", p->version,
                             TB_PROCESSOR_VERSION);
    pthread_rwlock_wrlock(&proc_lock);
    tb_processor *grown = tb__realloc(procs, (n_procs + 1) * sizeof *procs);
    if (!grown) {
        pthread_rwlock_unlock(&proc_lock);
        return tb__set_error(TB_NOMEM, "out of memory adding a processor");
    }
    procs = grown;
    procs[n_procs++] = *p;
    pthread_rwlock_unlock(&proc_lock);
    return TB_OK;
}

static void release_all(tb_processor *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (list[i].release)
            list[i].release(list[i].self);
    tb__free_mem(list);
}

tb_status tb_set_trace_processors(const tb_processor *p, size_t count)
{
    if (count && !p)
        return tb__set_error(TB_INVALID, "tb_set_trace_processors: processors is NULL");
    for (size_t i = 0; i < count; i++)
        if (p[i].version != TB_PROCESSOR_VERSION)
            return tb__set_error(TB_INVALID,
                                 "tb_set_trace_processors: processor %zu has "
                                 "version %u, not %u",
                                 i, p[i].version, TB_PROCESSOR_VERSION);
    tb_processor *list = NULL;
    if (count) {
        list = tb__malloc(count * sizeof *list);
        if (!list)
            return tb__set_error(TB_NOMEM, "out of memory setting processors");
        memcpy(list, p, count * sizeof *list);
    }
    pthread_rwlock_wrlock(&proc_lock);
    tb_processor *old = procs;
    size_t n_old = n_procs;
    procs = list;
    n_procs = count;
    pthread_rwlock_unlock(&proc_lock);
    release_all(old, n_old);
    return TB_OK;
}

enum hook { H_TRACE_START, H_TRACE_END, H_SPAN_START, H_SPAN_END, H_FLUSH };

static const char *hook_name[] = {"on_trace_start", "on_trace_end", "on_span_start", "on_span_end",
                                  "force_flush"};

static tb_status fan_out(enum hook h, const tb_trace *t, const tb_span *s)
{
    tb_status first = TB_OK;
    char first_msg[1024] = "";
    pthread_rwlock_rdlock(&proc_lock);
    for (size_t i = 0; i < n_procs; i++) {
        const tb_processor *p = &procs[i];
        tb_status st = TB_OK;
        tb__clear_error();
        switch (h) {
        case H_TRACE_START:
            st = p->on_trace_start ? p->on_trace_start(p->self, t) : TB_OK;
            break;
        case H_TRACE_END:
            st = p->on_trace_end ? p->on_trace_end(p->self, t) : TB_OK;
            break;
        case H_SPAN_START:
            st = p->on_span_start ? p->on_span_start(p->self, s) : TB_OK;
            break;
        case H_SPAN_END:
            st = p->on_span_end ? p->on_span_end(p->self, s) : TB_OK;
            break;
        case H_FLUSH:
            st = p->force_flush ? p->force_flush(p->self) : TB_OK;
            break;
        }
        if (st != TB_OK && first == TB_OK) {
            first = st;
            snprintf(first_msg, sizeof first_msg, "processor %zu %s: %s", i, hook_name[h],
                     tb_last_error()[0] ? tb_last_error() : tb_status_str(st));
        }
    }
    pthread_rwlock_unlock(&proc_lock);
    if (first != TB_OK)
        tb__set_error(first, "%s", first_msg);
    else
        tb__clear_error();
    return first;
}

tb_status tb_force_flush(void)
{
    return fan_out(H_FLUSH, NULL, NULL);
}

tb_status tb_shutdown(int64_t timeout_ms)
{
    tb_status first = TB_OK;
    int64_t deadline = tb__mono_ms() + timeout_ms;
    pthread_rwlock_wrlock(&proc_lock);
    tb_processor *list = procs;
    size_t n = n_procs;
    procs = NULL;
    n_procs = 0;
    pthread_rwlock_unlock(&proc_lock);
    for (size_t i = 0; i < n; i++) {
        int64_t left = deadline - tb__mono_ms();
        if (left < 0)
            left = 0;
        tb_status st = list[i].shutdown ? list[i].shutdown(list[i].self, left) : TB_OK;
        if (st != TB_OK && first == TB_OK)
            first = st;
    }
    release_all(list, n);
    return first;
}

/* ---- traces ---- */

static tb_status parse_object(const char *json, const char *what, cJSON **out)
{
    *out = NULL;
    if (!json)
        return TB_OK;
    size_t bad;
    if (!tb__utf8_valid(json, strlen(json), &bad))
        return tb__set_error(TB_INVALID, "%s: invalid UTF-8 at byte %zu", what, bad);
    cJSON *v = cJSON_Parse(json);
    if (!v)
        return tb__set_error(TB_INVALID, "%s: not valid JSON", what);
    if (!cJSON_IsObject(v)) {
        cJSON_Delete(v);
        return tb__set_error(TB_INVALID, "%s: expected a JSON object", what);
    }
    *out = v;
    return TB_OK;
}

static bool valid_text(const char *s, const char *what)
{
    size_t bad;
    if (s && !tb__utf8_valid(s, strlen(s), &bad)) {
        tb__set_error(TB_INVALID, "%s: invalid UTF-8 at byte %zu", what, bad);
        return false;
    }
    return true;
}

void tb_trace_free(tb_trace *t)
{
    if (!t || atomic_fetch_sub(&t->refs, 1) != 1)
        return;
    tb__free_mem(t->workflow_name);
    tb__free_mem(t->group_id);
    cJSON_Delete(t->metadata);
    tb__free_mem(t);
}

tb_status tb_trace_start(tb_trace **out, const char *workflow_name, const tb_trace_options *opts)
{
    if (!out)
        return tb__set_error(TB_INVALID, "tb_trace_start: out is NULL");
    *out = NULL;
    tb__json_init();
    if (opts && opts->version != TB_TRACE_OPTIONS_VERSION)
        return tb__set_error(TB_INVALID, "tb_trace_start: options version %u is not %u",
                             opts->version, TB_TRACE_OPTIONS_VERSION);
    tb_trace *t = tb__calloc(1, sizeof *t);
    if (!t)
        return tb__set_error(TB_NOMEM, "out of memory starting a trace");
    atomic_init(&t->refs, 1);
    tb_status st;
    if (tb_tracing_disabled()) {
        t->noop = true;
        snprintf(t->id, sizeof t->id, "no-op");
        *out = t;
        return TB_OK;
    }
    if (!valid_text(workflow_name, "workflow_name") ||
        !valid_text(opts ? opts->group_id : NULL, "group_id")) {
        st = TB_INVALID;
        goto fail;
    }
    if (opts && opts->trace_id) {
        if (!valid_text(opts->trace_id, "trace_id")) {
            st = TB_INVALID;
            goto fail;
        }
        if (!tb__valid_id(opts->trace_id) || strlen(opts->trace_id) >= sizeof t->id) {
            st = tb__set_error(TB_INVALID, "trace_id: expected a non-empty id of at most %zu bytes",
                               sizeof t->id - 1);
            goto fail;
        }
        snprintf(t->id, sizeof t->id, "%s", opts->trace_id);
    } else if ((st = tb__new_trace_id(t->id)) != TB_OK) {
        goto fail;
    }
    t->workflow_name = tb__strdup(workflow_name ? workflow_name : "Agent workflow");
    if (!t->workflow_name ||
        (opts && opts->group_id && !(t->group_id = tb__strdup(opts->group_id)))) {
        st = tb__set_error(TB_NOMEM, "out of memory starting a trace");
        goto fail;
    }
    if ((st = parse_object(opts ? opts->metadata_json : NULL, "metadata", &t->metadata)) != TB_OK)
        goto fail;
    *out = t;
    return fan_out(H_TRACE_START, t, NULL);
fail:
    tb_trace_free(t);
    return st;
}

tb_status tb_trace_end(tb_trace *t)
{
    if (!t)
        return tb__set_error(TB_INVALID, "tb_trace_end: trace is NULL");
    if (t->ended)
        return tb__set_error(TB_MISUSE, "trace %s already ended", t->id);
    t->ended = true;
    if (t->noop)
        return TB_OK;
    return fan_out(H_TRACE_END, t, NULL);
}

const char *tb_trace_id(const tb_trace *t)
{
    return t ? t->id : NULL;
}

tb_status tb_trace_export_json(const tb_trace *t, char **out)
{
    if (!out)
        return tb__set_error(TB_INVALID, "tb_trace_export_json: out is NULL");
    *out = NULL;
    if (!t)
        return tb__set_error(TB_INVALID, "tb_trace_export_json: trace is NULL");
    if (t->noop)
        return tb__set_error(TB_DISABLED, "no-op trace has no export");
    tb__json_init();
    cJSON *o = cJSON_CreateObject();
    cJSON *md = t->metadata ? cJSON_Duplicate(t->metadata, true) : cJSON_CreateNull();
    if (!o || !md || !cJSON_AddStringToObject(o, "object", "trace") ||
        !cJSON_AddStringToObject(o, "id", t->id) ||
        !cJSON_AddStringToObject(o, "workflow_name", t->workflow_name) ||
        !(t->group_id ? cJSON_AddStringToObject(o, "group_id", t->group_id)
                      : cJSON_AddNullToObject(o, "group_id"))) {
        cJSON_Delete(o);
        cJSON_Delete(md);
        return tb__set_error(TB_NOMEM, "out of memory exporting a trace");
    }
    if (!cJSON_AddItemToObject(o, "metadata", md)) {
        cJSON_Delete(o);
        cJSON_Delete(md);
        return tb__set_error(TB_NOMEM, "out of memory exporting a trace");
    }
    *out = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return *out ? TB_OK : tb__set_error(TB_NOMEM, "out of memory exporting a trace");
}

/* ---- spans ---- */

void tb_span_free(tb_span *s)
{
    if (!s)
        return;
    tb_trace_free(s->trace);
    cJSON_Delete(s->data);
    cJSON_Delete(s->error);
    cJSON_Delete(s->metadata);
    tb__free_mem(s);
}

tb_status tb_span_start(tb_span **out, tb_trace *trace, const tb_span *parent, const char *type,
                        const char *data_json)
{
    if (!out)
        return tb__set_error(TB_INVALID, "tb_span_start: out is NULL");
    *out = NULL;
    if (!trace)
        return tb__set_error(TB_INVALID, "tb_span_start: trace is NULL");
    if (!type || !*type)
        return tb__set_error(TB_INVALID, "tb_span_start: type is empty");
    if (parent && parent->trace != trace)
        return tb__set_error(TB_INVALID, "tb_span_start: parent belongs to another trace");
    tb__json_init();
    tb_span *s = tb__calloc(1, sizeof *s);
    if (!s)
        return tb__set_error(TB_NOMEM, "out of memory starting a span");
    atomic_fetch_add(&trace->refs, 1);
    s->trace = trace;
    tb_status st;
    if (trace->noop || tb_tracing_disabled()) {
        s->noop = true;
        snprintf(s->id, sizeof s->id, "no-op");
        *out = s;
        return TB_OK;
    }
    if (trace->ended) {
        st = tb__set_error(TB_MISUSE, "trace %s already ended; start spans before tb_trace_end",
                           trace->id);
        goto fail;
    }
    if (!valid_text(type, "type")) {
        st = TB_INVALID;
        goto fail;
    }
    if ((st = tb__new_span_id(s->id)) != TB_OK)
        goto fail;
    if (parent)
        snprintf(s->parent_id, sizeof s->parent_id, "%s", parent->id);
    cJSON *given = NULL;
    if ((st = parse_object(data_json, "span data", &given)) != TB_OK)
        goto fail;
    /* "type" first, as the SDK writes it, then the given fields */
    s->data = cJSON_CreateObject();
    if (!s->data || !cJSON_AddStringToObject(s->data, "type", type)) {
        cJSON_Delete(given);
        st = tb__set_error(TB_NOMEM, "out of memory starting a span");
        goto fail;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(given, "type");
    while (given && given->child) {
        cJSON *item = cJSON_DetachItemViaPointer(given, given->child);
        if (!cJSON_AddItemToObject(s->data, item->string, item)) {
            cJSON_Delete(item);
            cJSON_Delete(given);
            st = tb__set_error(TB_NOMEM, "out of memory starting a span");
            goto fail;
        }
    }
    cJSON_Delete(given);
    s->started_us = tb__now_us();
    *out = s;
    return fan_out(H_SPAN_START, trace, s);
fail:
    tb_span_free(s);
    return st;
}

/* Build a data object from key/value pairs and start the span. Values are
 * cJSON items (consumed); NULL items mean the call failed to allocate. */
static tb_status start_typed(tb_span **out, tb_trace *trace, const tb_span *parent,
                             const char *type, cJSON *data)
{
    if (out)
        *out = NULL; /* on every failure path, as tb_span_start promises */
    if (!data)
        return tb__set_error(TB_NOMEM, "out of memory starting a span");
    char *json = cJSON_PrintUnformatted(data);
    cJSON_Delete(data);
    if (!json)
        return tb__set_error(TB_NOMEM, "out of memory starting a span");
    tb_status st = tb_span_start(out, trace, parent, type, json);
    tb__free_mem(json);
    return st;
}

static cJSON *str_or_null(const char *s)
{
    return s ? cJSON_CreateString(s) : cJSON_CreateNull();
}

/* Adds k -> v to o; on a NULL v (allocation failure) deletes o. */
static cJSON *add(cJSON *o, const char *k, cJSON *v)
{
    if (!o) {
        cJSON_Delete(v); /* v is consumed on every path */
        return NULL;
    }
    if (!v || !cJSON_AddItemToObject(o, k, v)) {
        cJSON_Delete(v);
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static cJSON *raw_or_null(const char *json, bool *bad)
{
    if (!json)
        return cJSON_CreateNull();
    cJSON *v = cJSON_Parse(json);
    if (!v)
        *bad = true;
    return v;
}

tb_status tb_span_start_agent(tb_span **out, tb_trace *trace, const tb_span *parent,
                              const char *name)
{
    tb__json_init();
    cJSON *o = add(cJSON_CreateObject(), "name", str_or_null(name));
    o = add(o, "handoffs", cJSON_CreateNull());
    o = add(o, "tools", cJSON_CreateNull());
    o = add(o, "output_type", cJSON_CreateNull());
    return start_typed(out, trace, parent, "agent", o);
}

tb_status tb_span_start_function(tb_span **out, tb_trace *trace, const tb_span *parent,
                                 const char *name, const char *input)
{
    tb__json_init();
    cJSON *o = add(cJSON_CreateObject(), "name", str_or_null(name));
    o = add(o, "input", str_or_null(input));
    o = add(o, "output", cJSON_CreateNull());
    o = add(o, "mcp_data", cJSON_CreateNull());
    return start_typed(out, trace, parent, "function", o);
}

tb_status tb_span_start_generation(tb_span **out, tb_trace *trace, const tb_span *parent,
                                   const char *model, const char *input_json)
{
    tb__json_init();
    bool bad = false;
    cJSON *o = add(cJSON_CreateObject(), "input", raw_or_null(input_json, &bad));
    if (bad) {
        if (out)
            *out = NULL;
        return tb__set_error(TB_INVALID, "generation input: not valid JSON");
    }
    o = add(o, "output", cJSON_CreateNull());
    o = add(o, "model", str_or_null(model));
    o = add(o, "model_config", cJSON_CreateNull());
    o = add(o, "usage", cJSON_CreateNull());
    return start_typed(out, trace, parent, "generation", o);
}

tb_status tb_span_start_response(tb_span **out, tb_trace *trace, const tb_span *parent,
                                 const char *response_id)
{
    tb__json_init();
    cJSON *o = add(cJSON_CreateObject(), "response_id", str_or_null(response_id));
    o = add(o, "usage", cJSON_CreateNull());
    return start_typed(out, trace, parent, "response", o);
}

tb_status tb_span_start_handoff(tb_span **out, tb_trace *trace, const tb_span *parent,
                                const char *from_agent, const char *to_agent)
{
    tb__json_init();
    cJSON *o = add(cJSON_CreateObject(), "from_agent", str_or_null(from_agent));
    o = add(o, "to_agent", str_or_null(to_agent));
    return start_typed(out, trace, parent, "handoff", o);
}

tb_status tb_span_start_guardrail(tb_span **out, tb_trace *trace, const tb_span *parent,
                                  const char *name, int triggered)
{
    tb__json_init();
    cJSON *o = add(cJSON_CreateObject(), "name", str_or_null(name));
    o = add(o, "triggered", cJSON_CreateBool(triggered != 0));
    return start_typed(out, trace, parent, "guardrail", o);
}

tb_status tb_span_start_custom(tb_span **out, tb_trace *trace, const tb_span *parent,
                               const char *name, const char *data_json)
{
    tb__json_init();
    bool bad = false;
    cJSON *d = data_json ? raw_or_null(data_json, &bad) : cJSON_CreateObject();
    if (bad || (d && !cJSON_IsObject(d))) {
        cJSON_Delete(d);
        if (out)
            *out = NULL;
        return tb__set_error(TB_INVALID, "custom span data: expected a JSON object");
    }
    cJSON *o = add(cJSON_CreateObject(), "name", str_or_null(name));
    o = add(o, "data", d);
    return start_typed(out, trace, parent, "custom", o);
}

tb_status tb_span_start_mcp_tools(tb_span **out, tb_trace *trace, const tb_span *parent,
                                  const char *server)
{
    tb__json_init();
    cJSON *o = add(cJSON_CreateObject(), "server", str_or_null(server));
    o = add(o, "result", cJSON_CreateNull());
    return start_typed(out, trace, parent, "mcp_tools", o);
}

tb_status tb_span_start_transcription(tb_span **out, tb_trace *trace, const tb_span *parent,
                                      const char *model)
{
    tb__json_init();
    cJSON *in = add(cJSON_CreateObject(), "data", cJSON_CreateString(""));
    in = add(in, "format", cJSON_CreateString("pcm"));
    cJSON *o = add(cJSON_CreateObject(), "input", in);
    o = add(o, "output", cJSON_CreateNull());
    o = add(o, "model", str_or_null(model));
    o = add(o, "model_config", cJSON_CreateNull());
    return start_typed(out, trace, parent, "transcription", o);
}

tb_status tb_span_start_speech(tb_span **out, tb_trace *trace, const tb_span *parent,
                               const char *model, const char *input)
{
    tb__json_init();
    cJSON *o = add(cJSON_CreateObject(), "input", str_or_null(input));
    cJSON *outp = add(cJSON_CreateObject(), "data", cJSON_CreateString(""));
    outp = add(outp, "format", cJSON_CreateString("pcm"));
    o = add(o, "output", outp);
    o = add(o, "model", str_or_null(model));
    o = add(o, "model_config", cJSON_CreateNull());
    o = add(o, "first_content_at", cJSON_CreateNull());
    return start_typed(out, trace, parent, "speech", o);
}

tb_status tb_span_start_speech_group(tb_span **out, tb_trace *trace, const tb_span *parent,
                                     const char *input)
{
    tb__json_init();
    return start_typed(out, trace, parent, "speech_group",
                       add(cJSON_CreateObject(), "input", str_or_null(input)));
}

tb_status tb_span_start_task(tb_span **out, tb_trace *trace, const tb_span *parent,
                             const char *name)
{
    tb__json_init();
    cJSON *d = add(cJSON_CreateObject(), "sdk_span_type", cJSON_CreateString("task"));
    d = add(d, "name", str_or_null(name));
    cJSON *o = add(cJSON_CreateObject(), "name", cJSON_CreateString("task"));
    o = add(o, "data", d);
    return start_typed(out, trace, parent, "custom", o);
}

tb_status tb_span_start_turn(tb_span **out, tb_trace *trace, const tb_span *parent, int turn,
                             const char *agent_name)
{
    tb__json_init();
    cJSON *d = add(cJSON_CreateObject(), "sdk_span_type", cJSON_CreateString("turn"));
    d = add(d, "turn", cJSON_CreateNumber(turn));
    d = add(d, "agent_name", str_or_null(agent_name));
    cJSON *o = add(cJSON_CreateObject(), "name", cJSON_CreateString("turn"));
    o = add(o, "data", d);
    return start_typed(out, trace, parent, "custom", o);
}

static tb_status check_mutable(const tb_span *s, const char *fn)
{
    if (!s)
        return tb__set_error(TB_INVALID, "%s: span is NULL", fn);
    if (s->ended)
        return tb__set_error(TB_MISUSE, "%s: span %s already ended", fn, s->id);
    return TB_OK;
}

static tb_status set_item(tb_span *s, const char *key, cJSON *v)
{
    if (!v)
        return tb__set_error(TB_NOMEM, "out of memory setting span data");
    if (cJSON_GetObjectItemCaseSensitive(s->data, key)) {
        if (!cJSON_ReplaceItemInObjectCaseSensitive(s->data, key, v)) {
            cJSON_Delete(v);
            return tb__set_error(TB_NOMEM, "out of memory setting span data");
        }
    } else if (!cJSON_AddItemToObject(s->data, key, v)) {
        cJSON_Delete(v);
        return tb__set_error(TB_NOMEM, "out of memory setting span data");
    }
    return TB_OK;
}

tb_status tb_span_set_data(tb_span *s, const char *key, const char *value_json)
{
    tb_status st = check_mutable(s, "tb_span_set_data");
    if (st != TB_OK || s->noop)
        return st;
    if (!key || !*key || strcmp(key, "type") == 0)
        return tb__set_error(TB_INVALID, "tb_span_set_data: key must be set and not \"type\"");
    /* a key is JSON text too: a bad one would make the whole span unstorable */
    if (!valid_text(key, "span_data key"))
        return TB_INVALID;
    if (!value_json)
        return set_item(s, key, cJSON_CreateNull());
    size_t bad;
    if (!tb__utf8_valid(value_json, strlen(value_json), &bad))
        return tb__set_error(TB_INVALID, "span_data.%s: invalid UTF-8 at byte %zu", key, bad);
    cJSON *v = cJSON_Parse(value_json);
    if (!v)
        return tb__set_error(TB_INVALID, "span_data.%s: not valid JSON", key);
    return set_item(s, key, v);
}

tb_status tb_span_set_response(tb_span *s, const char *response_json, const char *input_json)
{
    tb_status st = check_mutable(s, "tb_span_set_response");
    if (st != TB_OK || s->noop)
        return st;
    if (strcmp(tb_span_type(s), "response") != 0)
        return tb__set_error(TB_INVALID, "tb_span_set_response: span %s is a %s span, not response",
                             s->id, tb_span_type(s));
    cJSON *resp = NULL, *in = NULL;
    size_t bad;
    if (response_json) {
        if (!tb__utf8_valid(response_json, strlen(response_json), &bad))
            return tb__set_error(TB_INVALID, "span_data.response: invalid UTF-8 at byte %zu", bad);
        resp = cJSON_Parse(response_json);
        if (!cJSON_IsObject(resp)) {
            cJSON_Delete(resp);
            return tb__set_error(TB_INVALID, "span_data.response: not a JSON object");
        }
    }
    if (input_json) {
        if (!tb__utf8_valid(input_json, strlen(input_json), &bad)) {
            cJSON_Delete(resp);
            return tb__set_error(TB_INVALID, "span_data.input: invalid UTF-8 at byte %zu", bad);
        }
        in = cJSON_Parse(input_json);
        if (!cJSON_IsString(in) && !cJSON_IsArray(in)) {
            cJSON_Delete(resp);
            cJSON_Delete(in);
            return tb__set_error(TB_INVALID, "span_data.input: not a JSON string or list");
        }
    }
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(resp, "id");
    const cJSON *have = cJSON_GetObjectItemCaseSensitive(s->data, "response_id");
    if (cJSON_IsString(id) && !cJSON_IsString(have) &&
        (st = set_item(s, "response_id", cJSON_CreateString(id->valuestring))) != TB_OK) {
        cJSON_Delete(resp);
        cJSON_Delete(in);
        return st;
    }
    if (resp && (st = set_item(s, "response", resp)) != TB_OK) {
        cJSON_Delete(in);
        return st;
    }
    if (in && (st = set_item(s, "input", in)) != TB_OK)
        return st;
    return TB_OK;
}

tb_status tb_span_set_string(tb_span *s, const char *key, const char *value)
{
    tb_status st = check_mutable(s, "tb_span_set_string");
    if (st != TB_OK || s->noop)
        return st;
    if (!key || !*key || strcmp(key, "type") == 0)
        return tb__set_error(TB_INVALID, "tb_span_set_string: key must be set and not \"type\"");
    if (!valid_text(key, "span_data key") || !valid_text(value, key))
        return TB_INVALID;
    return set_item(s, key, str_or_null(value));
}

tb_status tb_span_set_usage(tb_span *s, int64_t in, int64_t outp)
{
    tb_status st = check_mutable(s, "tb_span_set_usage");
    if (st != TB_OK || s->noop)
        return st;
    cJSON *u = add(cJSON_CreateObject(), "input_tokens", cJSON_CreateNumber((double)in));
    u = add(u, "output_tokens", cJSON_CreateNumber((double)outp));
    return set_item(s, "usage", u);
}

tb_status tb_span_set_metadata(tb_span *s, const char *metadata_json)
{
    tb_status st = check_mutable(s, "tb_span_set_metadata");
    if (st != TB_OK || s->noop)
        return st;
    cJSON *md = NULL;
    if ((st = parse_object(metadata_json, "metadata", &md)) != TB_OK)
        return st;
    cJSON_Delete(s->metadata);
    s->metadata = md;
    return TB_OK;
}

tb_status tb_span_set_error(tb_span *s, const char *message, const char *data_json)
{
    tb_status st = check_mutable(s, "tb_span_set_error");
    if (st != TB_OK || s->noop)
        return st;
    if (!message)
        return tb__set_error(TB_INVALID, "tb_span_set_error: message is NULL");
    if (!valid_text(message, "error message") || !valid_text(data_json, "error data"))
        return TB_INVALID;
    bool bad = false;
    cJSON *data = raw_or_null(data_json, &bad);
    if (bad)
        return tb__set_error(TB_INVALID, "error data: not valid JSON");
    cJSON *e = add(cJSON_CreateObject(), "message", cJSON_CreateString(message));
    e = add(e, "data", data);
    if (!e)
        return tb__set_error(TB_NOMEM, "out of memory setting a span error");
    cJSON_Delete(s->error);
    s->error = e;
    return TB_OK;
}

tb_status tb_span_end(tb_span *s)
{
    if (!s)
        return tb__set_error(TB_INVALID, "tb_span_end: span is NULL");
    if (s->ended)
        return tb__set_error(TB_MISUSE, "span %s already ended", s->id);
    s->ended = true;
    if (s->noop)
        return TB_OK;
    s->ended_us = tb__now_us();
    return fan_out(H_SPAN_END, s->trace, s);
}

const char *tb_span_id(const tb_span *s)
{
    return s ? s->id : NULL;
}

const char *tb_span_trace_id(const tb_span *s)
{
    return s ? s->trace->id : NULL;
}

const char *tb_span_parent_id(const tb_span *s)
{
    return s && s->parent_id[0] ? s->parent_id : NULL;
}

const char *tb_span_type(const tb_span *s)
{
    if (!s || !s->data)
        return NULL;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(s->data, "type");
    return cJSON_IsString(t) ? t->valuestring : NULL;
}

tb_status tb_span_export_json(const tb_span *s, char **out)
{
    if (!out)
        return tb__set_error(TB_INVALID, "tb_span_export_json: out is NULL");
    *out = NULL;
    if (!s)
        return tb__set_error(TB_INVALID, "tb_span_export_json: span is NULL");
    if (s->noop)
        return tb__set_error(TB_DISABLED, "no-op span has no export");
    tb__json_init();
    char started[40], ended[40];
    tb__iso8601(s->started_us, started);
    if (s->ended_us)
        tb__iso8601(s->ended_us, ended);
    cJSON *o = add(cJSON_CreateObject(), "object", cJSON_CreateString("trace.span"));
    o = add(o, "id", cJSON_CreateString(s->id));
    o = add(o, "trace_id", cJSON_CreateString(s->trace->id));
    o = add(o, "parent_id", str_or_null(s->parent_id[0] ? s->parent_id : NULL));
    o = add(o, "started_at", cJSON_CreateString(started));
    o = add(o, "ended_at", s->ended_us ? cJSON_CreateString(ended) : cJSON_CreateNull());
    /* references, not copies: the export is printed and thrown away, and a
     * generation's input can be large (this is on tb_span_end's path) */
    o = add(o, "span_data", cJSON_CreateObjectReference(s->data->child));
    o = add(o, "error",
            s->error ? cJSON_CreateObjectReference(s->error->child) : cJSON_CreateNull());
    if (s->metadata && s->metadata->child)
        o = add(o, "metadata", cJSON_CreateObjectReference(s->metadata->child));
    if (!o)
        return tb__set_error(TB_NOMEM, "out of memory exporting a span");
    *out = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return *out ? TB_OK : tb__set_error(TB_NOMEM, "out of memory exporting a span");
}

tb_status tb__span_record(const tb_span *s, tb__record *rec, char **body, size_t *len)
{
    memset(rec, 0, sizeof *rec);
    *body = NULL;
    *len = 0;
    tb_status st = tb_span_export_json(s, body);
    if (st != TB_OK)
        return st;
    *len = strlen(*body);
    char started[40], ended[40];
    tb__iso8601(s->started_us, started);
    tb__iso8601(s->ended_us, ended);
    rec->is_trace = false;
    rec->id = s->id;
    rec->span_id = s->id;
    rec->trace_id = s->trace->id;
    rec->parent_id = s->parent_id[0] ? s->parent_id : NULL;
    rec->type = tb_span_type(s);
    rec->started_at = started;
    rec->ended_at = s->ended_us ? ended : NULL;
    rec->name = tb__span_name(s->data, rec->type ? rec->type : "custom");
    if (s->error)
        rec->error_json = cJSON_PrintUnformatted(s->error);
    /* copy the borrowed columns into the record's own buffer */
    if (!rec->name || (s->error && !rec->error_json) || tb__record_compact(rec) != TB_OK) {
        tb__record_clear(rec);
        tb__free_mem(*body);
        *body = NULL;
        return tb__set_error(TB_NOMEM, "out of memory storing a span");
    }
    return TB_OK;
}
