/*
 * otlp/json_in.c — OTLP/JSON into the protobuf-c model (the reader json.c
 * is the writer of).
 *
 * Design. `tracebox serve` receives OTLP/JSON requests, and stores every
 * OTLP span as OTLP/JSON (json.h); the OTLP destinations read those bodies
 * back to send them on. Both go through here, into the same structs the
 * protobuf decoder gives, carved from one arena (arena.c), so the rest of
 * the path has one model whatever the wire format was.
 *
 * The OTLP/JSON mapping (opentelemetry-proto's README): field names in
 * lowerCamelCase (the proto names are accepted too, as protobuf's JSON
 * parsers do), trace and span ids as hex (not base64), 64-bit integers as
 * decimal strings or numbers, enums as integers (their names are accepted
 * too), bytes as base64, unknown fields ignored, null as absent. Strings
 * are copied as valid UTF-8 (arena.c). A value of the wrong type is an
 * error naming the field ("spans[3].traceId: not hex"): the receiver
 * answers 400 with it and stores nothing of the request.
 */
#include "otlp/json_in.h"

#include "trace.pb-c.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct reader {
    tb__otlp_arena *ar;
    char *err;
    size_t err_size;
    bool failed;
} reader;

static bool fail(reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool fail(reader *r, const char *fmt, ...)
{
    if (!r->failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->err, r->err_size, fmt, ap);
        va_end(ap);
    }
    r->failed = true;
    return false;
}

/* Put "prefix" before the error message (the path of the field, built on
 * the way out instead of on every field read). */
static bool within(reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool within(reader *r, const char *fmt, ...)
{
    char pre[96], rest[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    snprintf(rest, sizeof rest, "%s", r->err);
    snprintf(r->err, r->err_size, "%s%s", pre, rest);
    return false;
}

/* The member `camel` (or its proto name `snake`); NULL when absent or null. */
static const cJSON *get(const cJSON *o, const char *camel, const char *snake)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, camel);
    if (!v && snake)
        v = cJSON_GetObjectItemCaseSensitive(o, snake);
    return v && !cJSON_IsNull(v) ? v : NULL;
}

static void *alloc(reader *r, size_t n)
{
    void *p = tb__otlp_arena_alloc(r->ar, n ? n : 1);
    if (!p)
        fail(r, "out of memory");
    return p;
}

static bool read_str(reader *r, const cJSON *o, const char *camel, const char *snake, char **out)
{
    const cJSON *v = get(o, camel, snake);
    if (!v) {
        *out = (char *)protobuf_c_empty_string;
        return true;
    }
    if (!cJSON_IsString(v))
        return fail(r, "%s: not a string", camel);
    *out = tb__otlp_arena_str(r->ar, v->valuestring, strlen(v->valuestring));
    return *out ? true : fail(r, "out of memory");
}

/* An id: hex, `want` bytes (0: empty allowed too). */
static bool read_id(reader *r, const cJSON *o, const char *camel, const char *snake, size_t want,
                    ProtobufCBinaryData *out)
{
    out->len = 0;
    out->data = NULL;
    const cJSON *v = get(o, camel, snake);
    if (!v)
        return true;
    if (!cJSON_IsString(v))
        return fail(r, "%s: not a string", camel);
    size_t n = strlen(v->valuestring);
    if (n == 0)
        return true;
    if (n != 2 * want)
        return fail(r, "%s: %zu hex digits, not %zu", camel, n, 2 * want);
    uint8_t *b = alloc(r, want);
    if (!b)
        return false;
    for (size_t i = 0; i < want; i++) {
        int hi = tb__hexval(v->valuestring[2 * i]), lo = tb__hexval(v->valuestring[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return fail(r, "%s: not hex", camel);
        b[i] = (uint8_t)(hi << 4 | lo);
    }
    out->data = b;
    out->len = want;
    return true;
}

/* A 64-bit integer: a JSON number that is a whole number, or a decimal
 * string. */
static bool read_int(reader *r, const cJSON *v, const char *name, bool is_signed, uint64_t *out)
{
    *out = 0;
    if (!v)
        return true;
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d != floor(d) || (!is_signed && d < 0) || fabs(d) > 9007199254740992.0)
            return fail(r, "%s: not an integer", name);
        *out = d < 0 ? (uint64_t)(int64_t)d : (uint64_t)d;
        return true;
    }
    if (!cJSON_IsString(v) || !v->valuestring[0])
        return fail(r, "%s: not an integer", name);
    const char *s = v->valuestring;
    char *end = NULL;
    errno = 0;
    if (is_signed) {
        long long x = strtoll(s, &end, 10);
        *out = (uint64_t)(int64_t)x;
    } else {
        if (s[0] == '-')
            return fail(r, "%s: negative", name);
        unsigned long long x = strtoull(s, &end, 10);
        *out = (uint64_t)x;
    }
    if (errno || !end || *end || s[0] == ' ' || s[0] == '+')
        return fail(r, "%s: not an integer", name);
    return true;
}

static bool read_u32(reader *r, const cJSON *o, const char *camel, const char *snake, uint32_t *out)
{
    uint64_t v = 0;
    if (!read_int(r, get(o, camel, snake), camel, false, &v))
        return false;
    if (v > UINT32_MAX)
        return fail(r, "%s: out of range", camel);
    *out = (uint32_t)v;
    return true;
}

/* An enum: its number, or its name from names[] (index = value). */
static bool read_enum(reader *r, const cJSON *o, const char *camel, const char *const *names,
                      int n_names, int *out)
{
    *out = 0;
    const cJSON *v = get(o, camel, NULL);
    if (!v)
        return true;
    if (cJSON_IsString(v)) {
        for (int i = 0; i < n_names; i++)
            if (strcmp(v->valuestring, names[i]) == 0) {
                *out = i;
                return true;
            }
        char shown[48];
        snprintf(shown, sizeof shown, "%.40s", v->valuestring);
        tb__one_line(shown);
        return fail(r, "%s: unknown value \"%s\"", camel, shown);
    }
    uint64_t x = 0;
    if (!read_int(r, v, camel, true, &x))
        return false;
    /* any int32: an unknown value is kept as it came (proto3 open enums) */
    if ((int64_t)x < INT32_MIN || (int64_t)x > INT32_MAX)
        return fail(r, "%s: out of range", camel);
    *out = (int)(int64_t)x;
    return true;
}

static const cJSON *read_array(reader *r, const cJSON *o, const char *camel, const char *snake,
                               size_t *n)
{
    *n = 0;
    const cJSON *v = get(o, camel, snake);
    if (!v)
        return NULL;
    if (!cJSON_IsArray(v)) {
        fail(r, "%s: not an array", camel);
        return NULL;
    }
    *n = (size_t)cJSON_GetArraySize(v);
    return v;
}

static bool read_kvs(reader *r, const cJSON *o, const char *camel, Tbotlp__KeyValue ***out,
                     size_t *n_out);

static bool read_base64(reader *r, const char *s, ProtobufCBinaryData *out)
{
    size_t n = strlen(s);
    uint8_t *b = alloc(r, n / 4 * 3 + 3);
    if (!b)
        return false;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int v;
        if (c >= 'A' && c <= 'Z')
            v = c - 'A';
        else if (c >= 'a' && c <= 'z')
            v = c - 'a' + 26;
        else if (c >= '0' && c <= '9')
            v = c - '0' + 52;
        else if (c == '+' || c == '-')
            v = 62;
        else if (c == '/' || c == '_')
            v = 63;
        else if (c == '=')
            break;
        else
            return fail(r, "bytesValue: not base64");
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            b[o++] = (uint8_t)(acc >> bits);
        }
    }
    /* a lone character (n % 4 == 1 significant characters) is no byte */
    if (bits >= 6)
        return fail(r, "bytesValue: not base64");
    out->data = b;
    out->len = o;
    return true;
}

static bool read_value(reader *r, const cJSON *v, Tbotlp__AnyValue **out)
{
    Tbotlp__AnyValue *a = alloc(r, sizeof *a);
    if (!a)
        return false;
    tbotlp__any_value__init(a);
    *out = a;
    if (!v)
        return true;
    if (!cJSON_IsObject(v))
        return fail(r, "value: not an object");
    const cJSON *x;
    if ((x = get(v, "stringValue", "string_value"))) {
        a->value_case = TBOTLP__ANY_VALUE__VALUE_STRING_VALUE;
        if (!cJSON_IsString(x))
            return fail(r, "stringValue: not a string");
        a->string_value = tb__otlp_arena_str(r->ar, x->valuestring, strlen(x->valuestring));
        return a->string_value ? true : fail(r, "out of memory");
    }
    if ((x = get(v, "boolValue", "bool_value"))) {
        if (!cJSON_IsBool(x))
            return fail(r, "boolValue: not a boolean");
        a->value_case = TBOTLP__ANY_VALUE__VALUE_BOOL_VALUE;
        a->bool_value = cJSON_IsTrue(x);
        return true;
    }
    if ((x = get(v, "intValue", "int_value"))) {
        uint64_t u = 0;
        if (!read_int(r, x, "intValue", true, &u))
            return false;
        a->value_case = TBOTLP__ANY_VALUE__VALUE_INT_VALUE;
        a->int_value = (int64_t)u;
        return true;
    }
    if ((x = get(v, "doubleValue", "double_value"))) {
        a->value_case = TBOTLP__ANY_VALUE__VALUE_DOUBLE_VALUE;
        if (cJSON_IsNumber(x)) {
            a->double_value = x->valuedouble;
            return true;
        }
        if (cJSON_IsString(x)) {
            if (strcmp(x->valuestring, "NaN") == 0) {
                a->double_value = NAN;
                return true;
            }
            if (strcmp(x->valuestring, "Infinity") == 0 ||
                strcmp(x->valuestring, "-Infinity") == 0) {
                a->double_value = x->valuestring[0] == '-' ? -INFINITY : INFINITY;
                return true;
            }
            char *end = NULL;
            a->double_value = strtod(x->valuestring, &end);
            if (end && end != x->valuestring && !*end)
                return true;
        }
        return fail(r, "doubleValue: not a number");
    }
    if ((x = get(v, "arrayValue", "array_value"))) {
        if (!cJSON_IsObject(x))
            return fail(r, "arrayValue: not an object");
        size_t n = 0;
        const cJSON *arr = read_array(r, x, "values", NULL, &n);
        if (r->failed)
            return false;
        Tbotlp__ArrayValue *av = alloc(r, sizeof *av);
        Tbotlp__AnyValue **vals = alloc(r, n * sizeof *vals);
        if (!av || !vals)
            return false;
        tbotlp__array_value__init(av);
        size_t i = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, arr)
        {
            if (!read_value(r, it, &vals[i]))
                return within(r, "arrayValue.values[%zu].", i);
            i++;
        }
        av->values = vals;
        av->n_values = i;
        a->value_case = TBOTLP__ANY_VALUE__VALUE_ARRAY_VALUE;
        a->array_value = av;
        return true;
    }
    if ((x = get(v, "kvlistValue", "kvlist_value"))) {
        if (!cJSON_IsObject(x))
            return fail(r, "kvlistValue: not an object");
        Tbotlp__KeyValueList *kl = alloc(r, sizeof *kl);
        if (!kl)
            return false;
        tbotlp__key_value_list__init(kl);
        if (!read_kvs(r, x, "values", &kl->values, &kl->n_values))
            return within(r, "kvlistValue.");
        a->value_case = TBOTLP__ANY_VALUE__VALUE_KVLIST_VALUE;
        a->kvlist_value = kl;
        return true;
    }
    if ((x = get(v, "bytesValue", "bytes_value"))) {
        if (!cJSON_IsString(x))
            return fail(r, "bytesValue: not a string");
        a->value_case = TBOTLP__ANY_VALUE__VALUE_BYTES_VALUE;
        return read_base64(r, x->valuestring, &a->bytes_value);
    }
    return true; /* an empty AnyValue */
}

static bool read_kvs(reader *r, const cJSON *o, const char *camel, Tbotlp__KeyValue ***out,
                     size_t *n_out)
{
    size_t n = 0;
    *out = NULL;
    *n_out = 0;
    const cJSON *arr = read_array(r, o, camel, NULL, &n);
    if (r->failed)
        return false;
    if (!n)
        return true;
    Tbotlp__KeyValue **kvs = alloc(r, n * sizeof *kvs);
    if (!kvs)
        return false;
    size_t i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        Tbotlp__KeyValue *kv = alloc(r, sizeof *kv);
        if (!kv)
            return false;
        tbotlp__key_value__init(kv);
        if (!cJSON_IsObject(it))
            fail(r, "not an object");
        if (r->failed || !read_str(r, it, "key", NULL, &kv->key) ||
            !read_value(r, get(it, "value", NULL), &kv->value))
            return within(r, "%s[%zu].", camel, i);
        kvs[i++] = kv;
    }
    *out = kvs;
    *n_out = i;
    return true;
}

static const char *const span_kinds[] = {"SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL",
                                         "SPAN_KIND_SERVER",      "SPAN_KIND_CLIENT",
                                         "SPAN_KIND_PRODUCER",    "SPAN_KIND_CONSUMER"};
static const char *const status_codes[] = {"STATUS_CODE_UNSET", "STATUS_CODE_OK",
                                           "STATUS_CODE_ERROR"};

static bool read_event(reader *r, const cJSON *o, Tbotlp__Span__Event **out)
{
    Tbotlp__Span__Event *e = alloc(r, sizeof *e);
    if (!e)
        return false;
    tbotlp__span__event__init(e);
    *out = e;
    if (!cJSON_IsObject(o))
        return fail(r, "not an object");
    return read_int(r, get(o, "timeUnixNano", "time_unix_nano"), "timeUnixNano", false,
                    &e->time_unix_nano) &&
           read_str(r, o, "name", NULL, &e->name) &&
           read_kvs(r, o, "attributes", &e->attributes, &e->n_attributes) &&
           read_u32(r, o, "droppedAttributesCount", "dropped_attributes_count",
                    &e->dropped_attributes_count);
}

static bool read_link(reader *r, const cJSON *o, Tbotlp__Span__Link **out)
{
    Tbotlp__Span__Link *l = alloc(r, sizeof *l);
    if (!l)
        return false;
    tbotlp__span__link__init(l);
    *out = l;
    if (!cJSON_IsObject(o))
        return fail(r, "not an object");
    return read_id(r, o, "traceId", "trace_id", 16, &l->trace_id) &&
           read_id(r, o, "spanId", "span_id", 8, &l->span_id) &&
           read_str(r, o, "traceState", "trace_state", &l->trace_state) &&
           read_kvs(r, o, "attributes", &l->attributes, &l->n_attributes) &&
           read_u32(r, o, "droppedAttributesCount", "dropped_attributes_count",
                    &l->dropped_attributes_count) &&
           read_u32(r, o, "flags", NULL, &l->flags);
}

static bool read_span(reader *r, const cJSON *o, Tbotlp__Span **out)
{
    Tbotlp__Span *s = alloc(r, sizeof *s);
    if (!s)
        return false;
    tbotlp__span__init(s);
    *out = s;
    if (!cJSON_IsObject(o))
        return fail(r, "not an object");
    int kind = 0;
    if (!read_id(r, o, "traceId", "trace_id", 16, &s->trace_id) ||
        !read_id(r, o, "spanId", "span_id", 8, &s->span_id) ||
        !read_str(r, o, "traceState", "trace_state", &s->trace_state) ||
        !read_id(r, o, "parentSpanId", "parent_span_id", 8, &s->parent_span_id) ||
        !read_u32(r, o, "flags", NULL, &s->flags) || !read_str(r, o, "name", NULL, &s->name) ||
        !read_enum(r, o, "kind", span_kinds, 6, &kind) ||
        !read_int(r, get(o, "startTimeUnixNano", "start_time_unix_nano"), "startTimeUnixNano",
                  false, &s->start_time_unix_nano) ||
        !read_int(r, get(o, "endTimeUnixNano", "end_time_unix_nano"), "endTimeUnixNano", false,
                  &s->end_time_unix_nano) ||
        !read_kvs(r, o, "attributes", &s->attributes, &s->n_attributes) ||
        !read_u32(r, o, "droppedAttributesCount", "dropped_attributes_count",
                  &s->dropped_attributes_count) ||
        !read_u32(r, o, "droppedEventsCount", "dropped_events_count", &s->dropped_events_count) ||
        !read_u32(r, o, "droppedLinksCount", "dropped_links_count", &s->dropped_links_count))
        return false;
    s->kind = (Tbotlp__Span__SpanKind)kind;
    size_t n = 0, i = 0;
    const cJSON *arr = read_array(r, o, "events", NULL, &n), *it;
    if (r->failed)
        return false;
    if (n) {
        if (!(s->events = alloc(r, n * sizeof *s->events)))
            return false;
        cJSON_ArrayForEach(it, arr)
        {
            if (!read_event(r, it, &s->events[i]))
                return within(r, "events[%zu].", i);
            i++;
        }
        s->n_events = i;
    }
    arr = read_array(r, o, "links", NULL, &n);
    if (r->failed)
        return false;
    if (n) {
        i = 0;
        if (!(s->links = alloc(r, n * sizeof *s->links)))
            return false;
        cJSON_ArrayForEach(it, arr)
        {
            if (!read_link(r, it, &s->links[i]))
                return within(r, "links[%zu].", i);
            i++;
        }
        s->n_links = i;
    }
    const cJSON *st = get(o, "status", NULL);
    if (st) {
        if (!cJSON_IsObject(st))
            return fail(r, "status: not an object");
        Tbotlp__Status *status = alloc(r, sizeof *status);
        if (!status)
            return false;
        tbotlp__status__init(status);
        int code = 0;
        if (!read_str(r, st, "message", NULL, &status->message) ||
            !read_enum(r, st, "code", status_codes, 3, &code))
            return within(r, "status.");
        status->code = (Tbotlp__Status__StatusCode)code;
        s->status = status;
    }
    return true;
}

static bool read_resource(reader *r, const cJSON *o, Tbotlp__Resource **out)
{
    Tbotlp__Resource *res = alloc(r, sizeof *res);
    if (!res)
        return false;
    tbotlp__resource__init(res);
    *out = res;
    if (!o)
        return true;
    if (!cJSON_IsObject(o))
        return fail(r, "not an object");
    return read_kvs(r, o, "attributes", &res->attributes, &res->n_attributes) &&
           read_u32(r, o, "droppedAttributesCount", "dropped_attributes_count",
                    &res->dropped_attributes_count);
}

static bool read_scope(reader *r, const cJSON *o, Tbotlp__InstrumentationScope **out)
{
    Tbotlp__InstrumentationScope *sc = alloc(r, sizeof *sc);
    if (!sc)
        return false;
    tbotlp__instrumentation_scope__init(sc);
    *out = sc;
    if (!o)
        return true;
    if (!cJSON_IsObject(o))
        return fail(r, "not an object");
    return read_str(r, o, "name", NULL, &sc->name) &&
           read_str(r, o, "version", NULL, &sc->version) &&
           read_kvs(r, o, "attributes", &sc->attributes, &sc->n_attributes) &&
           read_u32(r, o, "droppedAttributesCount", "dropped_attributes_count",
                    &sc->dropped_attributes_count);
}

bool tb__otlp_json_read_request(tb__otlp_arena *ar, const cJSON *root,
                                Tbotlp__ExportTraceServiceRequest **out, char *err, size_t err_size)
{
    reader r = {.ar = ar, .err = err, .err_size = err_size};
    *out = NULL;
    if (!cJSON_IsObject(root))
        return fail(&r, "not a JSON object");
    Tbotlp__ExportTraceServiceRequest *req = alloc(&r, sizeof *req);
    if (!req)
        return false;
    tbotlp__export_trace_service_request__init(req);
    size_t n = 0;
    const cJSON *rsa = read_array(&r, root, "resourceSpans", "resource_spans", &n), *it;
    if (r.failed)
        return false;
    if (n && !(req->resource_spans = alloc(&r, n * sizeof *req->resource_spans)))
        return false;
    size_t i = 0;
    cJSON_ArrayForEach(it, rsa)
    {
        Tbotlp__ResourceSpans *rs = alloc(&r, sizeof *rs);
        if (!rs)
            return false;
        tbotlp__resource_spans__init(rs);
        req->resource_spans[i] = rs;
        if (!cJSON_IsObject(it))
            fail(&r, "not an object");
        size_t m = 0;
        const cJSON *ssa = r.failed ? NULL : read_array(&r, it, "scopeSpans", "scope_spans", &m);
        if (r.failed || !read_resource(&r, get(it, "resource", NULL), &rs->resource) ||
            !read_str(&r, it, "schemaUrl", "schema_url", &rs->schema_url) ||
            (m && !(rs->scope_spans = alloc(&r, m * sizeof *rs->scope_spans))))
            return within(&r, "resourceSpans[%zu].", i);
        size_t j = 0;
        const cJSON *jt;
        cJSON_ArrayForEach(jt, ssa)
        {
            Tbotlp__ScopeSpans *ss = alloc(&r, sizeof *ss);
            if (!ss)
                return false;
            tbotlp__scope_spans__init(ss);
            rs->scope_spans[j] = ss;
            if (!cJSON_IsObject(jt))
                fail(&r, "not an object");
            size_t k = 0;
            const cJSON *spans = r.failed ? NULL : read_array(&r, jt, "spans", NULL, &k);
            if (r.failed || !read_scope(&r, get(jt, "scope", NULL), &ss->scope) ||
                !read_str(&r, jt, "schemaUrl", "schema_url", &ss->schema_url) ||
                (k && !(ss->spans = alloc(&r, k * sizeof *ss->spans))))
                return within(&r, "resourceSpans[%zu].scopeSpans[%zu].", i, j);
            size_t q = 0;
            const cJSON *kt;
            cJSON_ArrayForEach(kt, spans)
            {
                if (!read_span(&r, kt, &ss->spans[q]))
                    return within(&r, "resourceSpans[%zu].scopeSpans[%zu].spans[%zu].", i, j, q);
                q++;
            }
            ss->n_spans = q;
            j++;
        }
        rs->n_scope_spans = j;
        i++;
    }
    req->n_resource_spans = i;
    *out = req;
    return true;
}

bool tb__otlp_json_read_stored(tb__otlp_arena *ar, const cJSON *root, tb__otlp_stored *out,
                               char *err, size_t err_size)
{
    reader r = {.ar = ar, .err = err, .err_size = err_size};
    memset(out, 0, sizeof *out);
    if (!cJSON_IsObject(root))
        return fail(&r, "not a JSON object");
    return read_span(&r, root, &out->span) &&
           read_resource(&r, get(root, "resource", NULL), &out->resource) &&
           read_str(&r, root, "resourceSchemaUrl", NULL, &out->resource_schema_url) &&
           read_scope(&r, get(root, "scope", NULL), &out->scope) &&
           read_str(&r, root, "scopeSchemaUrl", NULL, &out->scope_schema_url);
}
