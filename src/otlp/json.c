/*
 * otlp/json.c — a built request (the protobuf-c model of encode.c) as
 * OTLP/JSON.
 *
 * Design. A small walker turns the same structs the binary writer packs
 * into a cJSON tree, following the OTLP/JSON mapping: lowerCamelCase keys,
 * hex trace and span ids, 64-bit integers as decimal strings, enums as
 * integers, NaN and the infinities as strings. Every cJSON_Create* may
 * fail; a failure clears `ok` and the tree is thrown away, so the writer
 * checks once instead of at each node.
 */
#include "otlp/json.h"

#include "trace.pb-c.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>

/* OTLP/JSON: every cJSON_Create* may fail; `ok` goes false and the caller
 * throws the tree away. */
typedef struct jw {
    bool ok;
} jw;

static cJSON *jchk(jw *w, cJSON *item)
{
    if (!item)
        w->ok = false;
    return item;
}

static void jadd(jw *w, cJSON *obj, const char *key, cJSON *item)
{
    if (!item || !obj || !cJSON_AddItemToObject(obj, key, item)) {
        cJSON_Delete(item);
        w->ok = false;
    }
}

static void jpush(jw *w, cJSON *arr, cJSON *item)
{
    if (!item || !arr || !cJSON_AddItemToArray(arr, item)) {
        cJSON_Delete(item);
        w->ok = false;
    }
}

static cJSON *jhex(jw *w, ProtobufCBinaryData d)
{
    char hex[2 * 16 + 1];
    static const char digits[] = "0123456789abcdef";
    size_t n = d.len > 16 ? 16 : d.len;
    for (size_t i = 0; i < n; i++) {
        hex[2 * i] = digits[d.data[i] >> 4];
        hex[2 * i + 1] = digits[d.data[i] & 15];
    }
    hex[2 * n] = '\0';
    return jchk(w, cJSON_CreateString(hex));
}

static cJSON *ju64(jw *w, uint64_t v)
{
    char s[32];
    snprintf(s, sizeof s, "%" PRIu64, v);
    return jchk(w, cJSON_CreateString(s));
}

static cJSON *json_kvs(jw *w, Tbotlp__KeyValue **kv, size_t n);

static cJSON *json_value(jw *w, const Tbotlp__AnyValue *v)
{
    cJSON *o = jchk(w, cJSON_CreateObject());
    if (!o || !v)
        return o;
    char num[32];
    switch (v->value_case) {
    case TBOTLP__ANY_VALUE__VALUE_STRING_VALUE:
        jadd(w, o, "stringValue", cJSON_CreateString(v->string_value));
        break;
    case TBOTLP__ANY_VALUE__VALUE_BOOL_VALUE:
        jadd(w, o, "boolValue", cJSON_CreateBool(v->bool_value));
        break;
    case TBOTLP__ANY_VALUE__VALUE_INT_VALUE:
        snprintf(num, sizeof num, "%" PRId64, v->int_value);
        jadd(w, o, "intValue", cJSON_CreateString(num));
        break;
    case TBOTLP__ANY_VALUE__VALUE_DOUBLE_VALUE:
        if (isnan(v->double_value))
            jadd(w, o, "doubleValue", cJSON_CreateString("NaN"));
        else if (isinf(v->double_value))
            jadd(w, o, "doubleValue",
                 cJSON_CreateString(v->double_value > 0 ? "Infinity" : "-Infinity"));
        else
            jadd(w, o, "doubleValue", cJSON_CreateNumber(v->double_value));
        break;
    case TBOTLP__ANY_VALUE__VALUE_ARRAY_VALUE: {
        cJSON *arr = jchk(w, cJSON_CreateArray());
        for (size_t i = 0; arr && v->array_value && i < v->array_value->n_values; i++)
            jpush(w, arr, json_value(w, v->array_value->values[i]));
        cJSON *wrap = jchk(w, cJSON_CreateObject());
        jadd(w, wrap, "values", arr);
        jadd(w, o, "arrayValue", wrap);
        break;
    }
    case TBOTLP__ANY_VALUE__VALUE_KVLIST_VALUE: {
        cJSON *wrap = jchk(w, cJSON_CreateObject());
        jadd(w, wrap, "values",
             v->kvlist_value ? json_kvs(w, v->kvlist_value->values, v->kvlist_value->n_values)
                             : cJSON_CreateArray());
        jadd(w, o, "kvlistValue", wrap);
        break;
    }
    default:
        /* bytes_value is never produced by tracebox; unset stays {} */
        break;
    }
    return o;
}

static cJSON *json_kvs(jw *w, Tbotlp__KeyValue **kv, size_t n)
{
    cJSON *arr = jchk(w, cJSON_CreateArray());
    for (size_t i = 0; arr && i < n; i++) {
        cJSON *o = jchk(w, cJSON_CreateObject());
        jadd(w, o, "key", cJSON_CreateString(kv[i]->key));
        jadd(w, o, "value", json_value(w, kv[i]->value));
        jpush(w, arr, o);
    }
    return arr;
}

static cJSON *json_span(jw *w, const Tbotlp__Span *s)
{
    cJSON *o = jchk(w, cJSON_CreateObject());
    jadd(w, o, "traceId", jhex(w, s->trace_id));
    jadd(w, o, "spanId", jhex(w, s->span_id));
    if (s->parent_span_id.len)
        jadd(w, o, "parentSpanId", jhex(w, s->parent_span_id));
    jadd(w, o, "name", cJSON_CreateString(s->name));
    jadd(w, o, "kind", cJSON_CreateNumber((double)s->kind));
    jadd(w, o, "startTimeUnixNano", ju64(w, s->start_time_unix_nano));
    jadd(w, o, "endTimeUnixNano", ju64(w, s->end_time_unix_nano));
    jadd(w, o, "attributes", json_kvs(w, s->attributes, s->n_attributes));
    if (s->n_events) {
        cJSON *evs = jchk(w, cJSON_CreateArray());
        for (size_t i = 0; i < s->n_events; i++) {
            const Tbotlp__Span__Event *e = s->events[i];
            cJSON *eo = jchk(w, cJSON_CreateObject());
            jadd(w, eo, "timeUnixNano", ju64(w, e->time_unix_nano));
            jadd(w, eo, "name", cJSON_CreateString(e->name));
            jadd(w, eo, "attributes", json_kvs(w, e->attributes, e->n_attributes));
            jpush(w, evs, eo);
        }
        jadd(w, o, "events", evs);
    }
    if (s->status) {
        cJSON *st = jchk(w, cJSON_CreateObject());
        if (s->status->message && s->status->message[0])
            jadd(w, st, "message", cJSON_CreateString(s->status->message));
        jadd(w, st, "code", cJSON_CreateNumber((double)s->status->code));
        jadd(w, o, "status", st);
    }
    return o;
}

static cJSON *request_tree(jw *w, const Tbotlp__ExportTraceServiceRequest *req)
{
    cJSON *root = jchk(w, cJSON_CreateObject());
    cJSON *rsa = jchk(w, cJSON_CreateArray());
    for (size_t i = 0; i < req->n_resource_spans; i++) {
        const Tbotlp__ResourceSpans *rs = req->resource_spans[i];
        cJSON *rso = jchk(w, cJSON_CreateObject());
        cJSON *res = jchk(w, cJSON_CreateObject());
        jadd(w, res, "attributes",
             json_kvs(w, rs->resource->attributes, rs->resource->n_attributes));
        jadd(w, rso, "resource", res);
        cJSON *ssa = jchk(w, cJSON_CreateArray());
        for (size_t j = 0; j < rs->n_scope_spans; j++) {
            const Tbotlp__ScopeSpans *ss = rs->scope_spans[j];
            cJSON *sso = jchk(w, cJSON_CreateObject());
            cJSON *scope = jchk(w, cJSON_CreateObject());
            jadd(w, scope, "name", cJSON_CreateString(ss->scope->name));
            jadd(w, scope, "version", cJSON_CreateString(ss->scope->version));
            jadd(w, sso, "scope", scope);
            cJSON *spans = jchk(w, cJSON_CreateArray());
            for (size_t k = 0; k < ss->n_spans && w->ok; k++)
                jpush(w, spans, json_span(w, ss->spans[k]));
            jadd(w, sso, "spans", spans);
            jpush(w, ssa, sso);
        }
        jadd(w, rso, "scopeSpans", ssa);
        jpush(w, rsa, rso);
    }
    jadd(w, root, "resourceSpans", rsa);
    return root;
}

tb_status tb__otlp_json_request(tb__buf *out, const Tbotlp__ExportTraceServiceRequest *req)
{
    jw w = {true};
    cJSON *root = request_tree(&w, req);
    char *text = w.ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!text)
        return TB_NOMEM;
    tb__buf_puts(out, text);
    cJSON_free(text);
    return out->failed ? TB_NOMEM : TB_OK;
}
