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

tb_status tb__otlp_pack_request(tb__buf *out, const Tbotlp__ExportTraceServiceRequest *req)
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
