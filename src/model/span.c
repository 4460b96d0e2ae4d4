/*
 * span.c — tb_span, the Agents SDK's span object in C: start, the setters,
 * end, export, and the outbox record of an ended span.
 *
 * A span's data is kept as a cJSON object from start to end ("type" first,
 * as the SDK writes it); export writes the SDK's export object around it
 * straight into text (json_print.h), with no wrapper tree. The
 * typed constructors (tb_span_start_agent & co.) are in span_kinds.c.
 */
#include "tracing_internal.h"
#include "record.h"
#include "json_print.h"

#include <stdatomic.h>
#include <string.h>

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

/* ---- cJSON builders, shared with span_kinds.c ---- */

cJSON *tb__json_str_or_null(const char *s)
{
    return s ? cJSON_CreateString(s) : cJSON_CreateNull();
}

/* Adds k -> v to o; on a NULL v (allocation failure) deletes o. */
cJSON *tb__json_add(cJSON *o, const char *k, cJSON *v)
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

cJSON *tb__json_raw_or_null(const char *json, bool *bad)
{
    if (!json)
        return cJSON_CreateNull();
    cJSON *v = cJSON_Parse(json);
    if (!v)
        *bad = true;
    return v;
}

/* ---- the span ---- */

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
    if (!tb__valid_text(type, "type")) {
        st = TB_INVALID;
        goto fail;
    }
    if ((st = tb__new_span_id(s->id)) != TB_OK)
        goto fail;
    if (parent)
        snprintf(s->parent_id, sizeof s->parent_id, "%s", parent->id);
    cJSON *given = NULL;
    if ((st = tb__parse_object(data_json, "span data", &given)) != TB_OK)
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
    return tb__fan_out(TB__HOOK_SPAN_START, trace, s);
fail:
    tb_span_free(s);
    return st;
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
    if (!tb__valid_text(key, "span_data key"))
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
    if (!tb__valid_text(key, "span_data key") || !tb__valid_text(value, key))
        return TB_INVALID;
    return set_item(s, key, tb__json_str_or_null(value));
}

tb_status tb_span_set_usage(tb_span *s, int64_t in, int64_t outp)
{
    tb_status st = check_mutable(s, "tb_span_set_usage");
    if (st != TB_OK || s->noop)
        return st;
    cJSON *u = tb__json_add(cJSON_CreateObject(), "input_tokens", cJSON_CreateNumber((double)in));
    u = tb__json_add(u, "output_tokens", cJSON_CreateNumber((double)outp));
    return set_item(s, "usage", u);
}

tb_status tb_span_set_metadata(tb_span *s, const char *metadata_json)
{
    tb_status st = check_mutable(s, "tb_span_set_metadata");
    if (st != TB_OK || s->noop)
        return st;
    cJSON *md = NULL;
    if ((st = tb__parse_object(metadata_json, "metadata", &md)) != TB_OK)
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
    if (!tb__valid_text(message, "error message") || !tb__valid_text(data_json, "error data"))
        return TB_INVALID;
    bool bad = false;
    cJSON *data = tb__json_raw_or_null(data_json, &bad);
    if (bad)
        return tb__set_error(TB_INVALID, "error data: not valid JSON");
    cJSON *e = tb__json_add(cJSON_CreateObject(), "message", cJSON_CreateString(message));
    e = tb__json_add(e, "data", data);
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
    if (!s->ended_us) /* a second try keeps the time of the first */
        s->ended_us = tb__now_us();
    tb_status st = tb__fan_out(TB__HOOK_SPAN_END, s->trace, s);
    /* the outbox found its file locked past busy_timeout: nothing is at
     * fault and nothing was stored, so the span may be ended again (a
     * processor that did take it sees it twice; the outbox stores it once) */
    if (st == TB_BUSY)
        s->ended = false;
    return st;
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

/* The SDK's export object, written straight from the span's fields and its
 * trees (nothing copied into a wrapper tree first: this is on
 * tb_span_end's path, and a generation's input can be large). The bytes
 * are what cJSON_PrintUnformatted made of the wrapper before. */
static void export_into(tb__buf *b, const tb_span *s, const char *started, const char *ended)
{
    tb__buf_puts(b, "{\"object\":\"trace.span\",\"id\":");
    tb__json_write_str(b, s->id);
    tb__buf_puts(b, ",\"trace_id\":");
    tb__json_write_str(b, s->trace->id);
    tb__buf_puts(b, ",\"parent_id\":");
    if (s->parent_id[0])
        tb__json_write_str(b, s->parent_id);
    else
        tb__buf_puts(b, "null");
    tb__buf_puts(b, ",\"started_at\":");
    tb__json_write_str(b, started);
    tb__buf_puts(b, ",\"ended_at\":");
    if (ended)
        tb__json_write_str(b, ended);
    else
        tb__buf_puts(b, "null");
    tb__buf_puts(b, ",\"span_data\":");
    tb__json_write(b, s->data);
    tb__buf_puts(b, ",\"error\":");
    if (s->error)
        tb__json_write(b, s->error);
    else
        tb__buf_puts(b, "null");
    if (s->metadata && s->metadata->child) {
        tb__buf_puts(b, ",\"metadata\":");
        tb__json_write(b, s->metadata);
    }
    tb__buf_puts(b, "}");
}

/* The export as a new string (*len its length), NULL when memory runs out
 * (the error is set). ended: NULL while the span is open. */
static char *export_text(const tb_span *s, const char *started, const char *ended, size_t *len)
{
    tb__buf b = {0};
    export_into(&b, s, started, ended);
    if (b.failed) {
        tb__buf_free(&b);
        tb__set_error(TB_NOMEM, "out of memory exporting a span");
        return NULL;
    }
    if (len)
        *len = b.len;
    return b.data;
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
    char started[40], ended[40];
    tb__iso8601(s->started_us, started);
    if (s->ended_us)
        tb__iso8601(s->ended_us, ended);
    *out = export_text(s, started, s->ended_us ? ended : NULL, NULL);
    return *out ? TB_OK : TB_NOMEM;
}

tb_status tb__span_record(const tb_span *s, tb__record *rec, char **body, size_t *len)
{
    memset(rec, 0, sizeof *rec);
    *body = NULL;
    *len = 0;
    if (s->noop)
        return tb__set_error(TB_DISABLED, "no-op span has no export");
    char started[40], ended[40];
    tb__iso8601(s->started_us, started);
    tb__iso8601(s->ended_us, ended);
    if (!(*body = export_text(s, started, s->ended_us ? ended : NULL, len)))
        return TB_NOMEM;
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
        rec->error_json = tb__json_print(s->error);
    /* copy the borrowed columns into the record's own buffer */
    if (!rec->name || (s->error && !rec->error_json) || tb__record_compact(rec) != TB_OK) {
        tb__record_clear(rec);
        tb__free_mem(*body);
        *body = NULL;
        return tb__set_error(TB_NOMEM, "out of memory storing a span");
    }
    return TB_OK;
}
