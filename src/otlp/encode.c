/*
 * otlp/encode.c — SDK export records → OTLP ExportTraceServiceRequest.
 *
 * Design. One model, two writers. The request is built once as the
 * protobuf-c structs generated from trace.proto (Tbotlp__*), every struct
 * and string of it carved from one arena that is freed in one go; then
 * either protobuf-c packs it (binary) or a small walker turns the same
 * structs into OTLP/JSON with cJSON (lowerCamelCase keys, hex ids, 64-bit
 * integers as decimal strings, enums as integers). Nothing in the model
 * points into the parsed records, so the writers need nothing else.
 *
 * A batch becomes one ResourceSpans (service.name, telemetry.sdk.*, the
 * destination's extras) holding one ScopeSpans (scope "tracebox") holding
 * one OTLP span per SDK span, in batch order. An SDK trace record gives no
 * span of its own (it has no timestamps); its workflow name, group id and
 * metadata become attributes of every span of that trace (conventions.c
 * decides which). The trace record is taken from the batch when present,
 * else from the options' lookup callback (the exporters pass a cache of the
 * trace records they saw in earlier batches). A span whose trace record is
 * found nowhere — its trace was shipped before a restart, or was never
 * written — is sent without those attributes and counted in
 * stats->traces_missing. (Exporters only see the batch; reading the outbox
 * for the trace row is a follow-up.)
 *
 * Ids, times: see encode.h. Timestamps come from started_at / ended_at
 * (both SDK styles, tb__parse_iso8601); a missing one takes the other's
 * value, and both missing give 0. An SDK error becomes status ERROR with
 * its message plus an "exception" event (exception.message, and
 * exception.data holding the JSON of error.data) at the span's end.
 *
 * Strings are copied as valid UTF-8 (invalid bytes become U+FFFD): protobuf
 * decoders (Go, upb) reject invalid UTF-8 in string fields, and one bad
 * byte would otherwise refuse a whole batch.
 *
 * Memory: an allocation failure anywhere marks the arena or the attribute
 * builder; tb__otlp_encode() checks once at the end and returns TB_NOMEM.
 */
#include "otlp/encode.h"

#include "trace.pb-c.h"

#include <inttypes.h>
#include <math.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_CHUNK ((size_t)64 * 1024)
#define ARENA_ALIGN (alignof(max_align_t))
#define SCOPE_NAME "tracebox"
#define DEFAULT_SERVICE "tracebox"
#define CACHE_MAX_BODY ((size_t)16 * 1024)
#define NAME_MAX_BYTES 256

/* ------------------------------------------------------------------------ */
/* The arena                                                                 */
/* ------------------------------------------------------------------------ */

typedef struct chunk {
    struct chunk *next;
    size_t used, cap;
} chunk;

#define CHUNK_HDR ((sizeof(chunk) + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN)

typedef struct arena {
    chunk *head;
    bool failed;
} arena;

static void *arena_alloc(arena *ar, size_t n)
{
    if (ar->failed)
        return NULL;
    n = (n + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
    chunk *c = ar->head;
    if (c && c->cap - c->used >= n) {
        void *p = (char *)c + CHUNK_HDR + c->used;
        c->used += n;
        return p;
    }
    /* a big block gets a chunk of its own behind the head, so the head's
     * free space stays usable for the small ones */
    bool own = n > ARENA_CHUNK / 4;
    size_t cap = own ? n : ARENA_CHUNK;
    c = tb__malloc(CHUNK_HDR + cap);
    if (!c) {
        ar->failed = true;
        return NULL;
    }
    c->cap = cap;
    c->used = n;
    if (own && ar->head) {
        c->next = ar->head->next;
        ar->head->next = c;
    } else {
        c->next = ar->head;
        ar->head = c;
    }
    return (char *)c + CHUNK_HDR;
}

static void arena_free(arena *ar)
{
    chunk *c = ar->head;
    while (c) {
        chunk *next = c->next;
        tb__free_mem(c);
        c = next;
    }
    ar->head = NULL;
}

/* A NUL-terminated copy of s[0..len) as valid UTF-8. */
static char *arena_str(arena *ar, const char *s, size_t len)
{
    size_t bad;
    if (tb__utf8_valid(s, len, &bad)) {
        char *p = arena_alloc(ar, len + 1);
        if (p) {
            memcpy(p, s, len);
            p[len] = '\0';
        }
        return p;
    }
    /* worst case: every byte becomes U+FFFD (3 bytes) */
    if (len > (SIZE_MAX - 1) / 3) {
        ar->failed = true;
        return NULL;
    }
    char *p = arena_alloc(ar, len * 3 + 1);
    if (!p)
        return NULL;
    size_t pos = 0, o = 0;
    while (pos < len) {
        if (tb__utf8_valid(s + pos, len - pos, &bad))
            bad = len - pos;
        memcpy(p + o, s + pos, bad);
        o += bad;
        pos += bad;
        if (pos < len) {
            memcpy(p + o, "\xEF\xBF\xBD", 3);
            o += 3;
            pos++;
        }
    }
    p[o] = '\0';
    return p;
}

static char *arena_cstr(arena *ar, const char *s)
{
    return arena_str(ar, s ? s : "", s ? strlen(s) : 0);
}

/* ------------------------------------------------------------------------ */
/* The attribute builder                                                     */
/* ------------------------------------------------------------------------ */

struct tb__otlp_attrs {
    arena *ar;
    Tbotlp__KeyValue **v; /* tb__realloc'd, reused from span to span */
    size_t n, cap;
    bool failed;
};

typedef struct kvbox {
    Tbotlp__KeyValue kv;
    Tbotlp__AnyValue av;
} kvbox;

static Tbotlp__AnyValue *attr_new(tb__otlp_attrs *a, const char *key)
{
    if (a->failed || a->ar->failed)
        return NULL;
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 32;
        Tbotlp__KeyValue **v = tb__realloc(a->v, cap * sizeof *v);
        if (!v) {
            a->failed = true;
            return NULL;
        }
        a->v = v;
        a->cap = cap;
    }
    kvbox *b = arena_alloc(a->ar, sizeof *b);
    char *k = arena_cstr(a->ar, key);
    if (!b || !k) {
        a->failed = true;
        return NULL;
    }
    Tbotlp__KeyValue kv0 = TBOTLP__KEY_VALUE__INIT;
    Tbotlp__AnyValue av0 = TBOTLP__ANY_VALUE__INIT;
    b->kv = kv0;
    b->av = av0;
    b->kv.key = k;
    b->kv.value = &b->av;
    a->v[a->n++] = &b->kv;
    return &b->av;
}

void tb__otlp_attr_strn(tb__otlp_attrs *a, const char *key, const char *value, size_t len)
{
    if (!value)
        return;
    Tbotlp__AnyValue *v = attr_new(a, key);
    if (!v)
        return;
    char *s = arena_str(a->ar, value, len);
    if (!s) {
        a->failed = true;
        return;
    }
    v->value_case = TBOTLP__ANY_VALUE__VALUE_STRING_VALUE;
    v->string_value = s;
}

void tb__otlp_attr_str(tb__otlp_attrs *a, const char *key, const char *value)
{
    if (value)
        tb__otlp_attr_strn(a, key, value, strlen(value));
}

void tb__otlp_attr_int(tb__otlp_attrs *a, const char *key, int64_t value)
{
    Tbotlp__AnyValue *v = attr_new(a, key);
    if (!v)
        return;
    v->value_case = TBOTLP__ANY_VALUE__VALUE_INT_VALUE;
    v->int_value = value;
}

void tb__otlp_attr_double(tb__otlp_attrs *a, const char *key, double value)
{
    Tbotlp__AnyValue *v = attr_new(a, key);
    if (!v)
        return;
    v->value_case = TBOTLP__ANY_VALUE__VALUE_DOUBLE_VALUE;
    v->double_value = value;
}

void tb__otlp_attr_bool(tb__otlp_attrs *a, const char *key, bool value)
{
    Tbotlp__AnyValue *v = attr_new(a, key);
    if (!v)
        return;
    v->value_case = TBOTLP__ANY_VALUE__VALUE_BOOL_VALUE;
    v->bool_value = value ? 1 : 0;
}

void tb__otlp_attr_json(tb__otlp_attrs *a, const char *key, const cJSON *value)
{
    if (!value || cJSON_IsNull(value) || cJSON_IsInvalid(value))
        return;
    char *text = cJSON_PrintUnformatted(value);
    if (!text) {
        a->failed = true;
        return;
    }
    tb__otlp_attr_str(a, key, text);
    cJSON_free(text);
}

void tb__otlp_attr_fail(tb__otlp_attrs *a)
{
    a->failed = true;
}

/* Move the collected attributes into the arena; resets the builder. */
static Tbotlp__KeyValue **attrs_take(tb__otlp_attrs *a, size_t *n_out)
{
    *n_out = 0;
    if (a->n == 0 || a->failed)
        return NULL;
    Tbotlp__KeyValue **v = arena_alloc(a->ar, a->n * sizeof *v);
    if (!v) {
        a->failed = true;
        return NULL;
    }
    memcpy(v, a->v, a->n * sizeof *v);
    *n_out = a->n;
    a->n = 0;
    return v;
}

/* ------------------------------------------------------------------------ */
/* Ids                                                                       */
/* ------------------------------------------------------------------------ */

#define FNV_BASIS UINT64_C(0xcbf29ce484222325)
#define FNV_PRIME UINT64_C(0x100000001b3)
#define GOLDEN UINT64_C(0x9e3779b97f4a7c15)

static uint64_t fnv1a64(uint64_t h, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        h ^= *p;
        h *= FNV_PRIME;
    }
    return h;
}

static void put_be64(uint8_t *out, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        out[i] = (uint8_t)(v & 0xff);
        v >>= 8;
    }
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decode the first 2*n characters of s as hex into out; false when any is
 * not a hex digit or the bytes are all zero. */
static bool hex_bytes(const char *s, uint8_t *out, size_t n)
{
    unsigned nonzero = 0;
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(s[2 * i]);
        int lo = hi < 0 ? -1 : hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (uint8_t)(hi << 4 | lo);
        nonzero |= out[i];
    }
    return nonzero != 0;
}

static size_t hex_run(const char *s)
{
    size_t n = 0;
    while (s[n] && hexval(s[n]) >= 0)
        n++;
    return n;
}

void tb__otlp_trace_id(const char *sdk, uint8_t out[16])
{
    if (!sdk)
        sdk = "";
    const char *h = strncmp(sdk, "trace_", 6) == 0 ? sdk + 6 : sdk;
    if (hex_run(h) == 32 && h[32] == '\0' && hex_bytes(h, out, 16))
        return;
    uint64_t a = fnv1a64(FNV_BASIS, sdk);
    uint64_t b = fnv1a64(a ^ GOLDEN, sdk);
    put_be64(out, a);
    put_be64(out + 8, b);
    if ((a | b) == 0)
        out[15] = 1;
}

void tb__otlp_span_id(const char *sdk, uint8_t out[8])
{
    if (!sdk)
        sdk = "";
    const char *h = strncmp(sdk, "span_", 5) == 0 ? sdk + 5 : sdk;
    if (hex_run(h) >= 16 && hex_bytes(h, out, 8))
        return;
    uint64_t a = fnv1a64(FNV_BASIS, sdk);
    put_be64(out, a ? a : 1);
}

/* ------------------------------------------------------------------------ */
/* Building the request                                                      */
/* ------------------------------------------------------------------------ */

typedef struct trace_ref {
    const char *id;          /* borrowed from a record, or owned (looked up) */
    const cJSON *root;       /* NULL: looked up and not found */
    cJSON *owned;            /* the parsed lookup result */
    tb__otlp_trace_ctx *ctx; /* for agent spans; loaded on the first one */
    bool ctx_loaded;
} trace_ref;

typedef struct builder {
    arena ar;
    tb__otlp_attrs attrs;
    const tb__otlp_options *opts;
    cJSON **roots; /* parsed bodies, one per record (NULL: unparseable) */
    size_t n_roots;
    const tb_record *records; /* the batch */
    int64_t next_seq;         /* one past the batch's highest seq */
    trace_ref *traces;
    size_t n_traces, cap_traces;
    bool failed; /* outside the arena / builder (cJSON, the trace list) */
} builder;

static const char *str_field(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool is_trace_record(const tb_record *r, const cJSON *root)
{
    const char *object = str_field(root, "object");
    if (object)
        return strcmp(object, "trace") == 0;
    return r->kind && strcmp(r->kind, "trace") == 0;
}

static trace_ref *trace_add(builder *b, const char *id, const cJSON *root, cJSON *owned)
{
    if (b->n_traces == b->cap_traces) {
        size_t cap = b->cap_traces ? b->cap_traces * 2 : 16;
        trace_ref *t = tb__realloc(b->traces, cap * sizeof *t);
        if (!t) {
            b->failed = true;
            cJSON_Delete(owned);
            return NULL;
        }
        b->traces = t;
        b->cap_traces = cap;
    }
    trace_ref *t = &b->traces[b->n_traces++];
    memset(t, 0, sizeof *t);
    t->id = id;
    t->root = root;
    t->owned = owned;
    return t;
}

/* The trace of a span: its record from the batch first, then one lookup
 * per id (a negative answer is remembered too). NULL: out of memory. */
static trace_ref *trace_find(builder *b, const char *trace_id)
{
    for (size_t i = 0; i < b->n_traces; i++)
        if (strcmp(b->traces[i].id, trace_id) == 0)
            return &b->traces[i];
    char *text = b->opts->lookup ? b->opts->lookup(b->opts->lookup_ctx, trace_id) : NULL;
    cJSON *root = text ? cJSON_Parse(text) : NULL;
    tb__free_mem(text);
    if (root && !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        root = NULL;
    }
    const char *id = arena_cstr(&b->ar, trace_id);
    if (!id) {
        cJSON_Delete(root);
        return NULL;
    }
    return trace_add(b, id, root, root);
}

/* A record's place in seq order; records without a seq (the encoder used
 * on its own) are in batch order. */
static int64_t record_order(const builder *b, const tb_record *r)
{
    return r->seq > 0 ? r->seq : (int64_t)(r - b->records) + 1;
}

static void ctx_visit(void *ctx, int64_t seq, const char *body, size_t len)
{
    cJSON *root = cJSON_ParseWithLength(body, len);
    tb__otlp_trace_ctx_add(ctx, seq, root);
    cJSON_Delete(root);
}

/* An agent span's context from the rest of its trace (trace_context.c):
 * from the outbox behind the exporter, else from the batch. */
static void agent_context(builder *b, trace_ref *t, const tb_record *rec, tb__otlp_span_view *v)
{
    if (!t->ctx_loaded) {
        t->ctx_loaded = true;
        t->ctx = tb__otlp_trace_ctx_new();
        if (!t->ctx) {
            b->failed = true;
            return;
        }
        bool stored =
            b->opts->spans_lookup && b->opts->spans_lookup(t->id, b->next_seq, ctx_visit, t->ctx);
        for (size_t i = 0; !stored && i < b->n_roots; i++) {
            const char *tid = str_field(b->roots[i], "trace_id");
            if (tid && strcmp(tid, t->id) == 0)
                tb__otlp_trace_ctx_add(t->ctx, record_order(b, &b->records[i]), b->roots[i]);
        }
        if (!tb__otlp_trace_ctx_ok(t->ctx))
            b->failed = true;
    }
    tb__otlp_trace_ctx_apply(t->ctx, record_order(b, rec), v);
}

static uint64_t time_ns(const char *iso)
{
    int64_t us;
    if (!iso || !tb__parse_iso8601(iso, &us) || us < 0)
        return 0;
    return (uint64_t)us * 1000u;
}

static ProtobufCBinaryData id_bytes(builder *b, const uint8_t *bytes, size_t n)
{
    ProtobufCBinaryData d = {0, NULL};
    uint8_t *p = arena_alloc(&b->ar, n);
    if (p) {
        memcpy(p, bytes, n);
        d.data = p;
        d.len = n;
    }
    return d;
}

static Tbotlp__Span *build_span(builder *b, const tb_record *rec, const cJSON *root,
                                tb__otlp_stats *stats)
{
    Tbotlp__Span *s = arena_alloc(&b->ar, sizeof *s);
    if (!s)
        return NULL;
    Tbotlp__Span s0 = TBOTLP__SPAN__INIT;
    *s = s0;

    const char *span_id = str_field(root, "id");
    if (!span_id)
        span_id = rec->span_id ? rec->span_id : "";
    const char *trace_id = str_field(root, "trace_id");
    if (!trace_id)
        trace_id = rec->trace_id ? rec->trace_id : "";
    const char *parent_id = str_field(root, "parent_id");

    uint8_t tid[16], sid[8], pid[8];
    tb__otlp_trace_id(trace_id, tid);
    tb__otlp_span_id(span_id, sid);
    s->trace_id = id_bytes(b, tid, sizeof tid);
    s->span_id = id_bytes(b, sid, sizeof sid);
    if (parent_id && parent_id[0]) {
        tb__otlp_span_id(parent_id, pid);
        s->parent_span_id = id_bytes(b, pid, sizeof pid);
    }

    static const cJSON empty_object = {.type = cJSON_Object};
    tb__otlp_span_view v;
    memset(&v, 0, sizeof v);
    v.span = root;
    v.data = cJSON_GetObjectItemCaseSensitive(root, "span_data");
    if (!cJSON_IsObject(v.data))
        v.data = &empty_object;
    v.type = tb__otlp_effective_type(v.data);
    trace_ref *t = trace_find(b, trace_id);
    if (!t)
        return NULL;
    v.trace = t->root;
    if (!v.trace && stats)
        stats->traces_missing++;
    if (strcmp(v.type, "agent") == 0 || !parent_id || !parent_id[0])
        agent_context(b, t, rec, &v);
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(root, "error");
    v.error = cJSON_IsObject(err) ? err : NULL;

    char name[NAME_MAX_BYTES];
    tb__otlp_span_name(&v, name, sizeof name);
    s->name = arena_cstr(&b->ar, name);
    s->kind = tb__otlp_span_kind(&v) == 3 ? TBOTLP__SPAN__SPAN_KIND__SPAN_KIND_CLIENT
                                          : TBOTLP__SPAN__SPAN_KIND__SPAN_KIND_INTERNAL;

    uint64_t start = time_ns(str_field(root, "started_at"));
    uint64_t end = time_ns(str_field(root, "ended_at"));
    if (!start)
        start = end;
    if (!end)
        end = start;
    s->start_time_unix_nano = start;
    s->end_time_unix_nano = end;

    tb__otlp_conventions_apply(&v, b->opts->conventions, &b->attrs);
    for (size_t i = 0; i < b->opts->n_span_attrs; i++)
        tb__otlp_attr_str(&b->attrs, b->opts->span_attrs[i].key, b->opts->span_attrs[i].value);
    s->attributes = attrs_take(&b->attrs, &s->n_attributes);

    Tbotlp__Status *st = arena_alloc(&b->ar, sizeof *st);
    if (!st)
        return NULL;
    Tbotlp__Status st0 = TBOTLP__STATUS__INIT;
    *st = st0;
    s->status = st;
    if (!v.error) {
        /* ended without error: OK, as the official processors report it */
        st->code = TBOTLP__STATUS__STATUS_CODE__STATUS_CODE_OK;
        return s;
    }
    const char *msg = str_field(v.error, "message");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(v.error, "data");
    Tbotlp__Span__Event *ev = arena_alloc(&b->ar, sizeof *ev);
    Tbotlp__Span__Event **evs = arena_alloc(&b->ar, sizeof *evs);
    if (!ev || !evs)
        return NULL;
    st->code = TBOTLP__STATUS__STATUS_CODE__STATUS_CODE_ERROR;
    /* "message: data", as the official processors write it, so error.data
     * reaches platforms that read only the status (Langfuse's
     * statusMessage) */
    char *data_text = NULL;
    if (cJSON_IsString(data))
        data_text = tb__strdup(data->valuestring);
    else if (data && !cJSON_IsNull(data))
        data_text = cJSON_PrintUnformatted(data);
    if (data && !cJSON_IsNull(data) && !data_text)
        return NULL;
    tb__buf m = {0};
    tb__buf_puts(&m, msg ? msg : "error");
    if (data_text && data_text[0]) {
        tb__buf_puts(&m, ": ");
        tb__buf_puts(&m, data_text);
    }
    tb__buf_append(&m, "", 1);
    if (cJSON_IsString(data))
        tb__free_mem(data_text);
    else
        cJSON_free(data_text);
    st->message = m.failed ? NULL : arena_cstr(&b->ar, m.data);
    tb__buf_free(&m);
    if (!st->message)
        return NULL;
    Tbotlp__Span__Event ev0 = TBOTLP__SPAN__EVENT__INIT;
    *ev = ev0;
    ev->time_unix_nano = end;
    ev->name = arena_cstr(&b->ar, "exception");
    tb__otlp_attr_str(&b->attrs, "exception.message", msg ? msg : "error");
    tb__otlp_attr_json(&b->attrs, "exception.data", data);
    ev->attributes = attrs_take(&b->attrs, &ev->n_attributes);
    evs[0] = ev;
    s->events = evs;
    s->n_events = 1;
    return s;
}

static void resource_attr(builder *b, const char *key, const char *value)
{
    tb__otlp_attr_str(&b->attrs, key, value);
}

static Tbotlp__ExportTraceServiceRequest *build_request(builder *b, const tb_record *records,
                                                        size_t n, unsigned char *bad,
                                                        tb__otlp_stats *stats)
{
    const tb__otlp_options *o = b->opts;
    /* the trace records of the batch first: a span may precede its trace */
    size_t n_spans = 0;
    for (size_t i = 0; i < n; i++) {
        cJSON *root = b->roots[i];
        if (!root)
            continue;
        if (is_trace_record(&records[i], root)) {
            const char *id = str_field(root, "id");
            if (!id)
                id = records[i].trace_id;
            if (id && !trace_add(b, id, root, NULL))
                return NULL;
        } else {
            n_spans++;
        }
    }

    Tbotlp__ExportTraceServiceRequest *req = arena_alloc(&b->ar, sizeof *req);
    Tbotlp__ResourceSpans *rs = arena_alloc(&b->ar, sizeof *rs);
    Tbotlp__ResourceSpans **rsv = arena_alloc(&b->ar, sizeof *rsv);
    Tbotlp__Resource *res = arena_alloc(&b->ar, sizeof *res);
    Tbotlp__ScopeSpans *ss = arena_alloc(&b->ar, sizeof *ss);
    Tbotlp__ScopeSpans **ssv = arena_alloc(&b->ar, sizeof *ssv);
    Tbotlp__InstrumentationScope *scope = arena_alloc(&b->ar, sizeof *scope);
    Tbotlp__Span **spans = arena_alloc(&b->ar, (n_spans ? n_spans : 1) * sizeof *spans);
    if (!req || !rs || !rsv || !res || !ss || !ssv || !scope || !spans)
        return NULL;
    Tbotlp__ExportTraceServiceRequest req0 = TBOTLP__EXPORT_TRACE_SERVICE_REQUEST__INIT;
    Tbotlp__ResourceSpans rs0 = TBOTLP__RESOURCE_SPANS__INIT;
    Tbotlp__Resource res0 = TBOTLP__RESOURCE__INIT;
    Tbotlp__ScopeSpans ss0 = TBOTLP__SCOPE_SPANS__INIT;
    Tbotlp__InstrumentationScope scope0 = TBOTLP__INSTRUMENTATION_SCOPE__INIT;
    *req = req0;
    *rs = rs0;
    *res = res0;
    *ss = ss0;
    *scope = scope0;

    resource_attr(b, "service.name",
                  o->service_name && o->service_name[0] ? o->service_name : DEFAULT_SERVICE);
    resource_attr(b, "telemetry.sdk.name", "tracebox");
    resource_attr(b, "telemetry.sdk.language", "c");
    resource_attr(b, "telemetry.sdk.version", tb_version());
    for (size_t i = 0; i < o->n_resource_attrs; i++)
        resource_attr(b, o->resource_attrs[i].key, o->resource_attrs[i].value);
    res->attributes = attrs_take(&b->attrs, &res->n_attributes);

    scope->name = arena_cstr(&b->ar, SCOPE_NAME);
    scope->version = arena_cstr(&b->ar, tb_version());

    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        cJSON *root = b->roots[i];
        if (!root) {
            if (bad)
                bad[i] = 1;
            if (stats)
                stats->bad++;
            continue;
        }
        if (is_trace_record(&records[i], root))
            continue;
        Tbotlp__Span *s = build_span(b, &records[i], root, stats);
        if (!s || b->failed)
            return NULL;
        spans[k++] = s;
    }
    ss->scope = scope;
    ss->spans = spans;
    ss->n_spans = k;
    ssv[0] = ss;
    rs->resource = res;
    rs->scope_spans = ssv;
    rs->n_scope_spans = 1;
    rsv[0] = rs;
    req->resource_spans = rsv;
    req->n_resource_spans = k ? 1 : 0; /* no empty envelopes */
    if (stats)
        stats->spans = k;
    return req;
}

/* ------------------------------------------------------------------------ */
/* The writers                                                               */
/* ------------------------------------------------------------------------ */

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

static cJSON *json_request(jw *w, const Tbotlp__ExportTraceServiceRequest *req)
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

/* ------------------------------------------------------------------------ */
/* Packing the envelope by hand                                              */
/* ------------------------------------------------------------------------ */
/* protobuf-c sizes a nested message again at every level it packs through
 * (Request -> ResourceSpans -> ScopeSpans -> Span -> KeyValue -> AnyValue),
 * which made packing most of the encoder's time. The three envelope levels
 * are therefore framed here (tag, varint length) from sizes computed once,
 * and protobuf-c packs only the leaves: Resource, InstrumentationScope and
 * each Span. The bytes are the same as protobuf-c's own packing (fields in
 * field-number order, empty proto3 strings omitted), which the tests check. */

static size_t varint_len(size_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static uint8_t *put_varint(uint8_t *p, size_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

/* bytes of `tag + len + payload` for a length-delimited field */
static size_t field_len(size_t payload)
{
    return 1 + varint_len(payload) + payload;
}

static size_t str_field_len(const char *sv)
{
    return sv && sv[0] ? field_len(strlen(sv)) : 0;
}

static uint8_t *put_str_field(uint8_t *p, uint8_t tag, const char *sv)
{
    if (!sv || !sv[0])
        return p;
    size_t n = strlen(sv);
    *p++ = tag;
    p = put_varint(p, n);
    memcpy(p, sv, n);
    return p + n;
}

static tb_status pack_request(tb__buf *out, const Tbotlp__ExportTraceServiceRequest *req)
{
    /* sizes, bottom up, each computed once */
    size_t total = 0, n_spans = 0;
    for (size_t i = 0; i < req->n_resource_spans; i++)
        for (size_t j = 0; j < req->resource_spans[i]->n_scope_spans; j++)
            n_spans += req->resource_spans[i]->scope_spans[j]->n_spans;
    size_t *span_size = tb__malloc((n_spans ? n_spans : 1) * sizeof *span_size);
    size_t *ss_size = NULL, *rs_size = NULL;
    size_t n_ss = 0;
    for (size_t i = 0; i < req->n_resource_spans; i++)
        n_ss += req->resource_spans[i]->n_scope_spans;
    ss_size = tb__malloc((n_ss ? n_ss : 1) * sizeof *ss_size);
    rs_size = tb__malloc((req->n_resource_spans ? req->n_resource_spans : 1) * sizeof *rs_size);
    if (!span_size || !ss_size || !rs_size) {
        tb__free_mem(span_size);
        tb__free_mem(ss_size);
        tb__free_mem(rs_size);
        return TB_NOMEM;
    }
    size_t si = 0, ssi = 0;
    for (size_t i = 0; i < req->n_resource_spans; i++) {
        const Tbotlp__ResourceSpans *rs = req->resource_spans[i];
        size_t rs_len = 0;
        if (rs->resource)
            rs_len += field_len(tbotlp__resource__get_packed_size(rs->resource));
        for (size_t j = 0; j < rs->n_scope_spans; j++) {
            const Tbotlp__ScopeSpans *ss = rs->scope_spans[j];
            size_t ss_len = 0;
            if (ss->scope)
                ss_len += field_len(tbotlp__instrumentation_scope__get_packed_size(ss->scope));
            for (size_t k = 0; k < ss->n_spans; k++) {
                span_size[si] = tbotlp__span__get_packed_size(ss->spans[k]);
                ss_len += field_len(span_size[si]);
                si++;
            }
            ss_len += str_field_len(ss->schema_url);
            ss_size[ssi++] = ss_len;
            rs_len += field_len(ss_len);
        }
        rs_len += str_field_len(rs->schema_url);
        rs_size[i] = rs_len;
        total += field_len(rs_len);
    }
    /* one buffer, written front to back */
    tb__buf_append(out, "", 0);
    if (!out->failed && out->cap < out->len + total + 1) {
        char *grown = tb__realloc(out->data, out->len + total + 1);
        if (grown) {
            out->data = grown;
            out->cap = out->len + total + 1;
        } else {
            out->failed = true;
        }
    }
    if (out->failed) {
        tb__free_mem(span_size);
        tb__free_mem(ss_size);
        tb__free_mem(rs_size);
        return TB_NOMEM;
    }
    uint8_t *p = (uint8_t *)out->data + out->len;
    si = ssi = 0;
    for (size_t i = 0; i < req->n_resource_spans; i++) {
        const Tbotlp__ResourceSpans *rs = req->resource_spans[i];
        *p++ = 0x0A; /* ExportTraceServiceRequest.resource_spans = 1 */
        p = put_varint(p, rs_size[i]);
        if (rs->resource) {
            *p++ = 0x0A; /* ResourceSpans.resource = 1 */
            p = put_varint(p, tbotlp__resource__get_packed_size(rs->resource));
            p += tbotlp__resource__pack(rs->resource, p);
        }
        for (size_t j = 0; j < rs->n_scope_spans; j++) {
            const Tbotlp__ScopeSpans *ss = rs->scope_spans[j];
            *p++ = 0x12; /* ResourceSpans.scope_spans = 2 */
            p = put_varint(p, ss_size[ssi++]);
            if (ss->scope) {
                *p++ = 0x0A; /* ScopeSpans.scope = 1 */
                p = put_varint(p, tbotlp__instrumentation_scope__get_packed_size(ss->scope));
                p += tbotlp__instrumentation_scope__pack(ss->scope, p);
            }
            for (size_t k = 0; k < ss->n_spans; k++) {
                *p++ = 0x12; /* ScopeSpans.spans = 2 */
                p = put_varint(p, span_size[si]);
                p += tbotlp__span__pack(ss->spans[k], p);
                si++;
            }
            p = put_str_field(p, 0x1A, ss->schema_url); /* ScopeSpans.schema_url = 3 */
        }
        p = put_str_field(p, 0x1A, rs->schema_url); /* ResourceSpans.schema_url = 3 */
    }
    out->len += total;
    out->data[out->len] = '\0';
    tb__free_mem(span_size);
    tb__free_mem(ss_size);
    tb__free_mem(rs_size);
    return (size_t)(p - (uint8_t *)out->data) == out->len ? TB_OK : TB_ERROR;
}

/* ------------------------------------------------------------------------ */
/* tb__otlp_encode                                                           */
/* ------------------------------------------------------------------------ */

tb_status tb__otlp_encode(tb__buf *out, const tb_record *records, size_t n, tb__otlp_format fmt,
                          const tb__otlp_options *opts, unsigned char *bad, tb__otlp_stats *stats,
                          char *err, size_t err_size)
{
    tb__json_init();
    if (stats)
        memset(stats, 0, sizeof *stats);
    builder b;
    memset(&b, 0, sizeof b);
    b.attrs.ar = &b.ar;
    b.opts = opts;
    tb_status st = TB_NOMEM;
    b.roots = tb__calloc(n ? n : 1, sizeof *b.roots);
    if (!b.roots)
        goto done;
    b.n_roots = n;
    b.records = records;
    for (size_t i = 0; i < n; i++) {
        const tb_record *r = &records[i];
        if (r->seq >= b.next_seq)
            b.next_seq = r->seq + 1;
        if (!r->body)
            continue;
        cJSON *root = cJSON_ParseWithLength(r->body, r->body_len);
        if (root && !cJSON_IsObject(root)) {
            cJSON_Delete(root);
            root = NULL;
        }
        b.roots[i] = root;
    }
    Tbotlp__ExportTraceServiceRequest *req = build_request(&b, records, n, bad, stats);
    if (!req || b.failed || b.ar.failed || b.attrs.failed)
        goto done;
    if (fmt == TB__OTLP_PROTOBUF) {
        if (pack_request(out, req) != TB_OK || out->failed)
            goto done;
    } else {
        jw w = {true};
        cJSON *root = json_request(&w, req);
        char *text = w.ok ? cJSON_PrintUnformatted(root) : NULL;
        cJSON_Delete(root);
        if (!text)
            goto done;
        tb__buf_puts(out, text);
        cJSON_free(text);
    }
    if (out->failed)
        goto done;
    st = TB_OK;
done:
    if (st != TB_OK)
        snprintf(err, err_size, "out of memory encoding %zu records as OTLP", n);
    for (size_t i = 0; b.roots && i < b.n_roots; i++)
        cJSON_Delete(b.roots[i]);
    tb__free_mem(b.roots);
    for (size_t i = 0; i < b.n_traces; i++) {
        cJSON_Delete(b.traces[i].owned);
        tb__otlp_trace_ctx_free(b.traces[i].ctx);
    }
    tb__free_mem(b.traces);
    tb__free_mem(b.attrs.v);
    arena_free(&b.ar);
    return st;
}

/* ------------------------------------------------------------------------ */
/* The response                                                              */
/* ------------------------------------------------------------------------ */

static void *pb_alloc(void *data, size_t size)
{
    (void)data;
    return tb__malloc(size);
}

static void pb_free(void *data, void *p)
{
    (void)data;
    tb__free_mem(p);
}

static void copy_line(char *dst, size_t size, const char *src)
{
    if (!size)
        return;
    snprintf(dst, size, "%s", src ? src : "");
    for (char *p = dst; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
}

static bool json_response(const char *body, size_t len, int64_t *rejected, char *msg,
                          size_t msg_size)
{
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return false;
    }
    const cJSON *ps = cJSON_GetObjectItemCaseSensitive(root, "partialSuccess");
    if (!ps)
        ps = cJSON_GetObjectItemCaseSensitive(root, "partial_success");
    if (cJSON_IsObject(ps)) {
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(ps, "rejectedSpans");
        if (!r)
            r = cJSON_GetObjectItemCaseSensitive(ps, "rejected_spans");
        if (cJSON_IsNumber(r) && r->valuedouble > 0)
            *rejected = r->valuedouble >= 9.2e18 ? INT64_MAX : (int64_t)r->valuedouble;
        else if (cJSON_IsString(r)) {
            char *end = NULL;
            long long v = strtoll(r->valuestring, &end, 10);
            if (end && end != r->valuestring && *end == '\0' && v > 0)
                *rejected = (int64_t)v;
        }
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(ps, "errorMessage");
        if (!m)
            m = cJSON_GetObjectItemCaseSensitive(ps, "error_message");
        if (cJSON_IsString(m))
            copy_line(msg, msg_size, m->valuestring);
    }
    cJSON_Delete(root);
    return true;
}

bool tb__otlp_parse_response(tb__otlp_format fmt, const char *body, size_t len, int64_t *rejected,
                             char *msg, size_t msg_size)
{
    tb__json_init();
    *rejected = 0;
    if (msg_size)
        msg[0] = '\0';
    if (!body || len == 0)
        return true;
    if (fmt == TB__OTLP_PROTOBUF) {
        ProtobufCAllocator alloc = {pb_alloc, pb_free, NULL};
        Tbotlp__ExportTraceServiceResponse *r =
            tbotlp__export_trace_service_response__unpack(&alloc, len, (const uint8_t *)body);
        if (r) {
            if (r->partial_success) {
                if (r->partial_success->rejected_spans > 0)
                    *rejected = r->partial_success->rejected_spans;
                if (r->partial_success->error_message) {
                    /* a string field is UTF-8 by contract; keep it one line */
                    copy_line(msg, msg_size, r->partial_success->error_message);
                }
            }
            tbotlp__export_trace_service_response__free_unpacked(r, &alloc);
            return true;
        }
    }
    return json_response(body, len, rejected, msg, msg_size);
}

/* ------------------------------------------------------------------------ */
/* The trace cache                                                           */
/* ------------------------------------------------------------------------ */

typedef struct cache_entry {
    char *id;
    char *body;
} cache_entry;

struct tb__otlp_trace_cache {
    cache_entry *e;
    size_t cap, next; /* ring: next slot to overwrite */
};

tb__otlp_trace_cache *tb__otlp_trace_cache_new(size_t capacity)
{
    tb__otlp_trace_cache *c = tb__calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->cap = capacity ? capacity : 1;
    c->e = tb__calloc(c->cap, sizeof *c->e);
    if (!c->e) {
        tb__free_mem(c);
        return NULL;
    }
    return c;
}

void tb__otlp_trace_cache_free(tb__otlp_trace_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->cap; i++) {
        tb__free_mem(c->e[i].id);
        tb__free_mem(c->e[i].body);
    }
    tb__free_mem(c->e);
    tb__free_mem(c);
}

void tb__otlp_trace_cache_put(tb__otlp_trace_cache *c, const tb_record *records, size_t n)
{
    if (!c)
        return;
    for (size_t i = 0; i < n; i++) {
        const tb_record *r = &records[i];
        if (!r->kind || strcmp(r->kind, "trace") != 0 || !r->trace_id || !r->body ||
            r->body_len > CACHE_MAX_BODY)
            continue;
        cache_entry *slot = NULL;
        for (size_t k = 0; k < c->cap && !slot; k++)
            if (c->e[k].id && strcmp(c->e[k].id, r->trace_id) == 0)
                slot = &c->e[k];
        char *body = tb__strndup(r->body, r->body_len);
        if (!body)
            continue; /* a cache: forgetting is allowed */
        if (slot) {
            tb__free_mem(slot->body);
            slot->body = body;
            continue;
        }
        char *id = tb__strdup(r->trace_id);
        if (!id) {
            tb__free_mem(body);
            continue;
        }
        slot = &c->e[c->next];
        c->next = (c->next + 1) % c->cap;
        tb__free_mem(slot->id);
        tb__free_mem(slot->body);
        slot->id = id;
        slot->body = body;
    }
}

char *tb__otlp_trace_cache_lookup(void *ctx, const char *sdk_trace_id)
{
    tb__otlp_trace_cache *c = ctx;
    if (!c || !sdk_trace_id)
        return NULL;
    for (size_t k = 0; k < c->cap; k++)
        if (c->e[k].id && strcmp(c->e[k].id, sdk_trace_id) == 0)
            return tb__strdup(c->e[k].body);
    /* not seen by this process: the outbox the shipper is reading has it */
    return tb__shipper_trace_lookup(sdk_trace_id);
}

/* ------------------------------------------------------------------------ */
/* Small helpers for the destinations                                        */
/* ------------------------------------------------------------------------ */

bool tb__otlp_parse_conventions(const char *s, unsigned *out)
{
    unsigned bits = 0;
    if (!s)
        return false;
    const char *p = s;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p)
            break;
        const char *start = p;
        while (*p && *p != ',' && *p != ' ' && *p != '\t')
            p++;
        size_t len = (size_t)(p - start);
        if (len == 5 && strncmp(start, "genai", 5) == 0)
            bits |= TB__OTLP_CONV_GENAI;
        else if (len == 13 && strncmp(start, "openinference", 13) == 0)
            bits |= TB__OTLP_CONV_OPENINFERENCE;
        else
            return false;
    }
    if (!bits)
        return false;
    *out = bits;
    return true;
}

static bool ends_with(const char *s, size_t len, const char *suffix)
{
    size_t n = strlen(suffix);
    return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

char *tb__otlp_traces_url(const char *endpoint)
{
    size_t len = strlen(endpoint);
    while (len > 0 && endpoint[len - 1] == '/')
        len--;
    const char *suffix = "/v1/traces";
    if (ends_with(endpoint, len, "/v1/traces"))
        suffix = "";
    else if (ends_with(endpoint, len, "/v1"))
        suffix = "/traces";
    size_t n = len + strlen(suffix) + 1;
    char *url = tb__malloc(n);
    if (url)
        snprintf(url, n, "%.*s%s", (int)len, endpoint, suffix);
    return url;
}
