/*
 * otlp/pack.c — a built request (the protobuf-c model of encode.c) as
 * binary protobuf.
 *
 * Design: packing the envelope by hand. protobuf-c sizes a nested message
 * again at every level it packs through (Request -> ResourceSpans ->
 * ScopeSpans -> Span -> KeyValue -> AnyValue), which made packing most of
 * the encoder's time. The three envelope levels are therefore framed here
 * (tag, varint length) from sizes computed once, and protobuf-c packs only
 * the leaves: Resource, InstrumentationScope and each Span. The bytes are
 * the same as protobuf-c's own packing (fields in field-number order,
 * empty proto3 strings omitted), which the tests check. The request is
 * written front to back into one buffer grown once to its final size.
 */
#include "otlp/pack.h"

#include "trace.pb-c.h"

#include <stdint.h>
#include <string.h>

static inline size_t varint_len(size_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static inline uint8_t *put_varint(uint8_t *p, size_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

/* bytes of `tag + len + payload` for a length-delimited field */
static inline size_t field_len(size_t payload)
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

/* ---- a Span by hand --------------------------------------------------------
 * protobuf-c sizes every nested message again at each level it packs
 * through (Span -> KeyValue -> AnyValue), which made packing the spans a
 * fifth of the encoder's time. The Span and what it holds are written here
 * with each size computed once per level. Fields go in field-number order
 * and proto3 defaults are left out, as protobuf-c does (a oneof member is
 * written even when it holds its default); the rare kinds this encoder
 * does not build (array, kvlist and bytes values, links) are left to
 * protobuf-c. test_otlp_encode checks the bytes against protobuf-c's. */

static size_t bytes_field_len(const ProtobufCBinaryData *b)
{
    return b->len ? field_len(b->len) : 0;
}

static uint8_t *put_bytes_field(uint8_t *p, uint8_t tag, const ProtobufCBinaryData *b)
{
    if (!b->len)
        return p;
    *p++ = tag;
    p = put_varint(p, b->len);
    memcpy(p, b->data, b->len);
    return p + b->len;
}

static uint8_t *put_fixed64(uint8_t *p, uint8_t tag, uint64_t v)
{
    *p++ = tag;
    for (int i = 0; i < 8; i++)
        *p++ = (uint8_t)(v >> (8 * i));
    return p;
}

static size_t any_value_len(const Tbotlp__AnyValue *v)
{
    switch (v->value_case) {
    case TBOTLP__ANY_VALUE__VALUE_STRING_VALUE:
        return field_len(v->string_value ? strlen(v->string_value) : 0);
    case TBOTLP__ANY_VALUE__VALUE_BOOL_VALUE:
        return 2;
    case TBOTLP__ANY_VALUE__VALUE_INT_VALUE:
        return 1 + varint_len((size_t)(uint64_t)v->int_value);
    case TBOTLP__ANY_VALUE__VALUE_DOUBLE_VALUE:
        return 9;
    case TBOTLP__ANY_VALUE__VALUE__NOT_SET:
        return 0;
    default:
        return tbotlp__any_value__get_packed_size(v);
    }
}

static uint8_t *put_any_value(uint8_t *p, const Tbotlp__AnyValue *v)
{
    switch (v->value_case) {
    case TBOTLP__ANY_VALUE__VALUE_STRING_VALUE: {
        size_t n = v->string_value ? strlen(v->string_value) : 0;
        *p++ = 0x0A;
        p = put_varint(p, n);
        if (n)
            memcpy(p, v->string_value, n);
        return p + n;
    }
    case TBOTLP__ANY_VALUE__VALUE_BOOL_VALUE:
        *p++ = 0x10;
        *p++ = v->bool_value ? 1 : 0;
        return p;
    case TBOTLP__ANY_VALUE__VALUE_INT_VALUE:
        *p++ = 0x18;
        return put_varint(p, (size_t)(uint64_t)v->int_value);
    case TBOTLP__ANY_VALUE__VALUE_DOUBLE_VALUE: {
        uint64_t bits;
        memcpy(&bits, &v->double_value, 8);
        *p++ = 0x21;
        for (int i = 0; i < 8; i++)
            *p++ = (uint8_t)(bits >> (8 * i));
        return p;
    }
    case TBOTLP__ANY_VALUE__VALUE__NOT_SET:
        return p;
    default:
        return p + tbotlp__any_value__pack(v, p);
    }
}

static size_t key_value_len(const Tbotlp__KeyValue *kv)
{
    return str_field_len(kv->key) + (kv->value ? field_len(any_value_len(kv->value)) : 0);
}

static uint8_t *put_key_value(uint8_t *p, const Tbotlp__KeyValue *kv)
{
    p = put_str_field(p, 0x0A, kv->key);
    if (kv->value) {
        *p++ = 0x12;
        p = put_varint(p, any_value_len(kv->value));
        p = put_any_value(p, kv->value);
    }
    return p;
}

static bool string_valued(const Tbotlp__KeyValue *kv)
{
    return !kv->value || kv->value->value_case == TBOTLP__ANY_VALUE__VALUE_STRING_VALUE;
}

/* bytes of a string attribute: key field + AnyValue{string} field */
static inline size_t string_kv_len(size_t kn, size_t vn, bool has_value)
{
    return (kn ? field_len(kn) : 0) + (has_value ? field_len(field_len(vn)) : 0);
}

/* n bytes of s at p: short ones (most keys and values) without a call */
static inline uint8_t *put_bytes(uint8_t *p, const char *s, size_t n)
{
    if (n >= 8 && n <= 16) {
        uint64_t a, b;
        memcpy(&a, s, 8);
        memcpy(&b, s + n - 8, 8);
        memcpy(p, &a, 8);
        memcpy(p + n - 8, &b, 8);
    } else if (n) {
        memcpy(p, s, n);
    }
    return p + n;
}

#if defined(__GNUC__)
#define TB__ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define TB__ALWAYS_INLINE inline
#endif

/* A string attribute as a `tag` field: key k[0..kn), and when has_value an
 * AnyValue{string_value} of v[0..vn). The one writer of string attributes,
 * from structs (put_attrs) or straight (tb__otlp_pack_str_kv: a call an
 * attribute, where a call more cost 2 % of the encoder). */
static TB__ALWAYS_INLINE uint8_t *put_str_kv(uint8_t *p, uint8_t tag, const char *k, size_t kn,
                                             const char *v, size_t vn, bool has_value)
{
    *p++ = tag;
    p = put_varint(p, string_kv_len(kn, vn, has_value));
    if (kn) {
        *p++ = 0x0A;
        p = put_varint(p, kn);
        p = put_bytes(p, k, kn);
    }
    if (has_value) {
        *p++ = 0x12;
        p = put_varint(p, field_len(vn)); /* the AnyValue: tag 1, its string */
        *p++ = 0x0A;
        p = put_varint(p, vn);
        p = put_bytes(p, v, vn);
    }
    return p;
}

/* Any other attribute as a `tag` field. */
static uint8_t *put_other_kv(uint8_t *p, uint8_t tag, const Tbotlp__KeyValue *kv)
{
    *p++ = tag;
    p = put_varint(p, key_value_len(kv));
    return put_key_value(p, kv);
}

void tb__otlp_pack_str_kv(tb__buf *out, uint8_t tag, const char *k, size_t kn, const char *v,
                          size_t vn)
{
    uint8_t *p = (uint8_t *)tb__buf_reserve(out, field_len(string_kv_len(kn, vn, true)));
    if (!p)
        return;
    uint8_t *end = put_str_kv(p, tag, k, kn, v, vn, true);
    out->len += (size_t)(end - p);
    out->data[out->len] = '\0';
}

void tb__otlp_pack_kv(tb__buf *out, uint8_t tag, const Tbotlp__KeyValue *kv)
{
    uint8_t *p = (uint8_t *)tb__buf_reserve(out, field_len(key_value_len(kv)));
    if (!p)
        return;
    uint8_t *end = put_other_kv(p, tag, kv);
    out->len += (size_t)(end - p);
    out->data[out->len] = '\0';
}

/* Attributes are sized and then written. A span's keep the lengths of their
 * keys and string values, taken in the sizing pass, in attribute order for
 * the writing pass (two strlen calls an attribute instead of four or more);
 * with k NULL (an event's) each pass takes them itself. */
typedef struct kept_lens {
    size_t *v; /* key length, then value length, of each string attribute */
    size_t at; /* next free (sizing) or next unread (writing) */
} kept_lens;

static void str_lens(const Tbotlp__KeyValue *kv, size_t *kn, size_t *vn)
{
    *kn = kv->key ? strlen(kv->key) : 0;
    *vn = kv->value && kv->value->string_value ? strlen(kv->value->string_value) : 0;
}

static size_t attrs_len(Tbotlp__KeyValue *const *kvs, size_t n, kept_lens *k)
{
    size_t total = 0; /* one byte tags: fields 1..15 */
    for (size_t i = 0; i < n; i++) {
        const Tbotlp__KeyValue *kv = kvs[i];
        if (!string_valued(kv)) {
            total += field_len(key_value_len(kv));
            continue;
        }
        size_t kn, vn;
        str_lens(kv, &kn, &vn);
        if (k) {
            k->v[k->at++] = kn;
            k->v[k->at++] = vn;
        }
        total += field_len(string_kv_len(kn, vn, kv->value != NULL));
    }
    return total;
}

static uint8_t *put_attrs(uint8_t *p, uint8_t tag, Tbotlp__KeyValue *const *kvs, size_t n,
                          kept_lens *k)
{
    for (size_t i = 0; i < n; i++) {
        const Tbotlp__KeyValue *kv = kvs[i];
        if (!string_valued(kv)) {
            p = put_other_kv(p, tag, kv);
            continue;
        }
        size_t kn, vn;
        if (k) {
            kn = k->v[k->at++];
            vn = k->v[k->at++];
        } else {
            str_lens(kv, &kn, &vn);
        }
        p = put_str_kv(p, tag, kv->key, kn, kv->value ? kv->value->string_value : NULL, vn,
                       kv->value != NULL);
    }
    return p;
}

static size_t uint_field_len(uint64_t v)
{
    return v ? 1 + varint_len((size_t)v) : 0;
}

static uint8_t *put_uint_field(uint8_t *p, uint8_t tag, uint64_t v)
{
    if (!v)
        return p;
    *p++ = tag;
    return put_varint(p, (size_t)v);
}

static size_t event_len(const Tbotlp__Span__Event *e)
{
    return (e->time_unix_nano ? 9 : 0) + str_field_len(e->name) +
           attrs_len(e->attributes, e->n_attributes, NULL) +
           uint_field_len(e->dropped_attributes_count);
}

static uint8_t *put_event(uint8_t *p, const Tbotlp__Span__Event *e)
{
    if (e->time_unix_nano)
        p = put_fixed64(p, 0x09, e->time_unix_nano);
    p = put_str_field(p, 0x12, e->name);
    p = put_attrs(p, 0x1A, e->attributes, e->n_attributes, NULL);
    return put_uint_field(p, 0x20, e->dropped_attributes_count);
}

static size_t status_len(const Tbotlp__Status *st)
{
    return str_field_len(st->message) + uint_field_len((uint64_t)st->code);
}

/* The span's fields up to and including attributes (1-9), which every
 * span has, then the rest (10-16). */
/* The span's attributes already packed (tb__otlp_packed_attrs), or none:
 * a NULL text with 0 bytes means its structs are packed here. */
typedef struct packed_span {
    const char *text;
    size_t len;
} packed_span;

static size_t span_len(const Tbotlp__Span *s, kept_lens *k, packed_span pa)
{
    size_t n = bytes_field_len(&s->trace_id) + bytes_field_len(&s->span_id) +
               str_field_len(s->trace_state) + bytes_field_len(&s->parent_span_id) +
               str_field_len(s->name) + uint_field_len((uint64_t)s->kind) +
               (s->start_time_unix_nano ? 9 : 0) + (s->end_time_unix_nano ? 9 : 0) +
               (pa.text ? pa.len : attrs_len(s->attributes, s->n_attributes, k)) +
               uint_field_len(s->dropped_attributes_count);
    for (size_t i = 0; i < s->n_events; i++)
        n += field_len(event_len(s->events[i]));
    n += uint_field_len(s->dropped_events_count);
    for (size_t i = 0; i < s->n_links; i++)
        n += field_len(protobuf_c_message_get_packed_size((const ProtobufCMessage *)s->links[i]));
    n += uint_field_len(s->dropped_links_count);
    if (s->status)
        n += 1 + varint_len(status_len(s->status)) + status_len(s->status);
    if (s->flags)
        n += 2 + 4; /* field 16: a two-byte tag */
    return n;
}

static uint8_t *put_span(uint8_t *p, const Tbotlp__Span *s, kept_lens *k, packed_span pa)
{
    p = put_bytes_field(p, 0x0A, &s->trace_id);
    p = put_bytes_field(p, 0x12, &s->span_id);
    p = put_str_field(p, 0x1A, s->trace_state);
    p = put_bytes_field(p, 0x22, &s->parent_span_id);
    p = put_str_field(p, 0x2A, s->name);
    p = put_uint_field(p, 0x30, (uint64_t)s->kind);
    if (s->start_time_unix_nano)
        p = put_fixed64(p, 0x39, s->start_time_unix_nano);
    if (s->end_time_unix_nano)
        p = put_fixed64(p, 0x41, s->end_time_unix_nano);
    if (pa.text) {
        memcpy(p, pa.text, pa.len);
        p += pa.len;
    } else {
        p = put_attrs(p, 0x4A, s->attributes, s->n_attributes, k);
    }
    p = put_uint_field(p, 0x50, s->dropped_attributes_count);
    for (size_t i = 0; i < s->n_events; i++) {
        *p++ = 0x5A;
        p = put_varint(p, event_len(s->events[i]));
        p = put_event(p, s->events[i]);
    }
    p = put_uint_field(p, 0x60, s->dropped_events_count);
    for (size_t i = 0; i < s->n_links; i++) {
        *p++ = 0x6A;
        p = put_varint(p,
                       protobuf_c_message_get_packed_size((const ProtobufCMessage *)s->links[i]));
        p += protobuf_c_message_pack((const ProtobufCMessage *)s->links[i], p);
    }
    p = put_uint_field(p, 0x70, s->dropped_links_count);
    if (s->status) {
        *p++ = 0x7A;
        p = put_varint(p, status_len(s->status));
        p = put_str_field(p, 0x12, s->status->message);
        p = put_uint_field(p, 0x18, (uint64_t)s->status->code);
    }
    if (s->flags) {
        *p++ = 0x85; /* field 16, fixed32: (16 << 3 | 5) as a varint */
        *p++ = 0x01;
        for (int i = 0; i < 4; i++)
            *p++ = (uint8_t)(s->flags >> (8 * i));
    }
    return p;
}

static packed_span packed_of(const tb__otlp_packed_attrs *pk, const Tbotlp__ScopeSpans *ss,
                             size_t k)
{
    packed_span pa = {NULL, 0};
    if (pk && pk->ss == ss) {
        pa.text = pk->data ? pk->data + pk->at[2 * k] : "";
        pa.len = pk->at[2 * k + 1];
    }
    return pa;
}

tb_status tb__otlp_pack_request(tb__buf *out, const Tbotlp__ExportTraceServiceRequest *req,
                                const tb__otlp_packed_attrs *packed)
{
    /* sizes, bottom up, each computed once */
    size_t total = 0, n_spans = 0, n_attrs = 0;
    for (size_t i = 0; i < req->n_resource_spans; i++)
        for (size_t j = 0; j < req->resource_spans[i]->n_scope_spans; j++) {
            const Tbotlp__ScopeSpans *ss = req->resource_spans[i]->scope_spans[j];
            n_spans += ss->n_spans;
            for (size_t k = 0; k < ss->n_spans; k++)
                n_attrs += ss->spans[k]->n_attributes;
        }
    kept_lens kept = {tb__malloc((n_attrs ? 2 * n_attrs : 1) * sizeof *kept.v), 0};
    if (!kept.v)
        return TB_NOMEM;
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
        tb__free_mem(kept.v);
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
                span_size[si] = span_len(ss->spans[k], &kept, packed_of(packed, ss, k));
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
    kept.at = 0; /* the writing pass reads them back in the same order */
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
        tb__free_mem(kept.v);
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
                uint8_t *start = p;
                p = put_span(p, ss->spans[k], &kept, packed_of(packed, ss, k));
                if ((size_t)(p - start) != span_size[si]) {
                    tb__free_mem(span_size);
                    tb__free_mem(ss_size);
                    tb__free_mem(rs_size);
                    tb__free_mem(kept.v);
                    return TB_ERROR; /* a size and its bytes disagree: a bug */
                }
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
    tb__free_mem(kept.v);
    return (size_t)(p - (uint8_t *)out->data) == out->len ? TB_OK : TB_ERROR;
}
