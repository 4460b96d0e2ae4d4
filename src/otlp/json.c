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

#include "otlp/arena.h"
#include "json_print.h"
#include "trace.pb-c.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* OTLP/JSON: every cJSON_Create* may fail; `ok` goes false and the caller
 * throws the tree away. */
typedef struct jw {
    bool ok;
    tb__otlp_arena ar; /* copies of strings that were not valid UTF-8 */
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

/* A string as valid UTF-8 (a protobuf decoder does not check: invalid
 * bytes become U+FFFD, as the encoder's copies do). NULL is "". */
static cJSON *jstr(jw *w, const char *s)
{
    if (!s)
        s = "";
    size_t len = strlen(s), bad = 0;
    if (!tb__utf8_valid(s, len, &bad))
        s = tb__otlp_arena_str(&w->ar, s, len);
    return jchk(w, s ? cJSON_CreateString(s) : NULL);
}

static cJSON *jbase64(jw *w, ProtobufCBinaryData d)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = tb__otlp_arena_alloc(&w->ar, (d.len + 2) / 3 * 4 + 1);
    if (!out)
        return jchk(w, NULL);
    size_t o = 0;
    for (size_t i = 0; i < d.len; i += 3) {
        uint32_t v = (uint32_t)d.data[i] << 16;
        if (i + 1 < d.len)
            v |= (uint32_t)d.data[i + 1] << 8;
        if (i + 2 < d.len)
            v |= d.data[i + 2];
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < d.len ? tab[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < d.len ? tab[v & 63] : '=';
    }
    out[o] = '\0';
    return jchk(w, cJSON_CreateString(out));
}

/* A double as the shortest text that reads back as the same double
 * (cJSON prints 15 digits and would turn 0.30000000000000004 into 0.3). */
static cJSON *jdouble(jw *w, double d)
{
    char buf[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    for (char *c = buf; *c; c++) /* an application's LC_NUMERIC may write "0,3" */
        if (*c == ',')
            *c = '.';
    return jchk(w, cJSON_CreateRaw(buf));
}

/* A count or flags field, written only when set (as the OTLP/JSON
 * encoders omit default values). */
static void juint(jw *w, cJSON *o, const char *key, uint32_t v)
{
    if (v)
        jadd(w, o, key, cJSON_CreateNumber((double)v));
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
        jadd(w, o, "stringValue", jstr(w, v->string_value));
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
            jadd(w, o, "doubleValue", jdouble(w, v->double_value));
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
    case TBOTLP__ANY_VALUE__VALUE_BYTES_VALUE:
        jadd(w, o, "bytesValue", jbase64(w, v->bytes_value));
        break;
    default:
        /* unset stays {} */
        break;
    }
    return o;
}

static cJSON *json_kvs(jw *w, Tbotlp__KeyValue **kv, size_t n)
{
    cJSON *arr = jchk(w, cJSON_CreateArray());
    for (size_t i = 0; arr && i < n; i++) {
        cJSON *o = jchk(w, cJSON_CreateObject());
        jadd(w, o, "key", jstr(w, kv[i]->key));
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
    if (s->trace_state && s->trace_state[0])
        jadd(w, o, "traceState", jstr(w, s->trace_state));
    if (s->parent_span_id.len)
        jadd(w, o, "parentSpanId", jhex(w, s->parent_span_id));
    juint(w, o, "flags", s->flags);
    jadd(w, o, "name", jstr(w, s->name));
    jadd(w, o, "kind",
         cJSON_CreateNumber((double)(int)s->kind)); /* an open enum: may be negative */
    jadd(w, o, "startTimeUnixNano", ju64(w, s->start_time_unix_nano));
    jadd(w, o, "endTimeUnixNano", ju64(w, s->end_time_unix_nano));
    jadd(w, o, "attributes", json_kvs(w, s->attributes, s->n_attributes));
    juint(w, o, "droppedAttributesCount", s->dropped_attributes_count);
    if (s->n_events) {
        cJSON *evs = jchk(w, cJSON_CreateArray());
        for (size_t i = 0; i < s->n_events; i++) {
            const Tbotlp__Span__Event *e = s->events[i];
            cJSON *eo = jchk(w, cJSON_CreateObject());
            jadd(w, eo, "timeUnixNano", ju64(w, e->time_unix_nano));
            jadd(w, eo, "name", jstr(w, e->name));
            jadd(w, eo, "attributes", json_kvs(w, e->attributes, e->n_attributes));
            juint(w, eo, "droppedAttributesCount", e->dropped_attributes_count);
            jpush(w, evs, eo);
        }
        jadd(w, o, "events", evs);
    }
    juint(w, o, "droppedEventsCount", s->dropped_events_count);
    if (s->n_links) {
        cJSON *ls = jchk(w, cJSON_CreateArray());
        for (size_t i = 0; i < s->n_links; i++) {
            const Tbotlp__Span__Link *l = s->links[i];
            cJSON *lo = jchk(w, cJSON_CreateObject());
            jadd(w, lo, "traceId", jhex(w, l->trace_id));
            jadd(w, lo, "spanId", jhex(w, l->span_id));
            if (l->trace_state && l->trace_state[0])
                jadd(w, lo, "traceState", jstr(w, l->trace_state));
            jadd(w, lo, "attributes", json_kvs(w, l->attributes, l->n_attributes));
            juint(w, lo, "droppedAttributesCount", l->dropped_attributes_count);
            juint(w, lo, "flags", l->flags);
            jpush(w, ls, lo);
        }
        jadd(w, o, "links", ls);
    }
    juint(w, o, "droppedLinksCount", s->dropped_links_count);
    if (s->status) {
        cJSON *st = jchk(w, cJSON_CreateObject());
        if (s->status->message && s->status->message[0])
            jadd(w, st, "message", jstr(w, s->status->message));
        jadd(w, st, "code", cJSON_CreateNumber((double)(int)s->status->code));
        jadd(w, o, "status", st);
    }
    return o;
}

static cJSON *json_resource(jw *w, const Tbotlp__Resource *r)
{
    cJSON *o = jchk(w, cJSON_CreateObject());
    if (!r)
        return o;
    jadd(w, o, "attributes", json_kvs(w, r->attributes, r->n_attributes));
    juint(w, o, "droppedAttributesCount", r->dropped_attributes_count);
    return o;
}

static cJSON *json_scope(jw *w, const Tbotlp__InstrumentationScope *sc)
{
    cJSON *o = jchk(w, cJSON_CreateObject());
    if (!sc)
        return o;
    jadd(w, o, "name", jstr(w, sc->name));
    if (sc->version && sc->version[0])
        jadd(w, o, "version", jstr(w, sc->version));
    if (sc->n_attributes)
        jadd(w, o, "attributes", json_kvs(w, sc->attributes, sc->n_attributes));
    juint(w, o, "droppedAttributesCount", sc->dropped_attributes_count);
    return o;
}

static cJSON *request_tree(jw *w, const Tbotlp__ExportTraceServiceRequest *req)
{
    cJSON *root = jchk(w, cJSON_CreateObject());
    cJSON *rsa = jchk(w, cJSON_CreateArray());
    for (size_t i = 0; i < req->n_resource_spans; i++) {
        const Tbotlp__ResourceSpans *rs = req->resource_spans[i];
        cJSON *rso = jchk(w, cJSON_CreateObject());
        jadd(w, rso, "resource", json_resource(w, rs->resource));
        cJSON *ssa = jchk(w, cJSON_CreateArray());
        for (size_t j = 0; j < rs->n_scope_spans; j++) {
            const Tbotlp__ScopeSpans *ss = rs->scope_spans[j];
            cJSON *sso = jchk(w, cJSON_CreateObject());
            jadd(w, sso, "scope", json_scope(w, ss->scope));
            cJSON *spans = jchk(w, cJSON_CreateArray());
            for (size_t k = 0; k < ss->n_spans && w->ok; k++)
                jpush(w, spans, json_span(w, ss->spans[k]));
            jadd(w, sso, "spans", spans);
            if (ss->schema_url && ss->schema_url[0])
                jadd(w, sso, "schemaUrl", jstr(w, ss->schema_url));
            jpush(w, ssa, sso);
        }
        jadd(w, rso, "scopeSpans", ssa);
        if (rs->schema_url && rs->schema_url[0])
            jadd(w, rso, "schemaUrl", jstr(w, rs->schema_url));
        jpush(w, rsa, rso);
    }
    jadd(w, root, "resourceSpans", rsa);
    return root;
}

tb_status tb__otlp_json_request(tb__buf *out, const Tbotlp__ExportTraceServiceRequest *req)
{
    jw w = {.ok = true};
    cJSON *root = request_tree(&w, req);
    char *text = w.ok && !w.ar.failed ? tb__json_print(root) : NULL;
    cJSON_Delete(root);
    tb__otlp_arena_free(&w.ar);
    if (!text)
        return TB_NOMEM;
    tb__buf_puts(out, text);
    cJSON_free(text);
    return out->failed ? TB_NOMEM : TB_OK;
}

cJSON *tb__otlp_json_stored_span(const Tbotlp__Span *span, const Tbotlp__Resource *resource,
                                 const char *resource_schema_url,
                                 const Tbotlp__InstrumentationScope *scope,
                                 const char *scope_schema_url)
{
    jw w = {.ok = true};
    cJSON *o = json_span(&w, span);
    jadd(&w, o, "resource", json_resource(&w, resource));
    jadd(&w, o, "scope", json_scope(&w, scope));
    if (resource_schema_url && resource_schema_url[0])
        jadd(&w, o, "resourceSchemaUrl", jstr(&w, resource_schema_url));
    if (scope_schema_url && scope_schema_url[0])
        jadd(&w, o, "scopeSchemaUrl", jstr(&w, scope_schema_url));
    bool ok = w.ok && !w.ar.failed;
    tb__otlp_arena_free(&w.ar);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}
