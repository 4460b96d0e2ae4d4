/*
 * otlp/pack.h — the binary protobuf writer of a built request (internal).
 */
#ifndef TRACEBOX_OTLP_PACK_H
#define TRACEBOX_OTLP_PACK_H

#include "internal.h"

#include <stdint.h>

struct Tbotlp__ExportTraceServiceRequest;
struct Tbotlp__KeyValue;
struct Tbotlp__ScopeSpans;

/* The attributes of the spans of one ScopeSpans given as bytes already
 * packed (tb__otlp_pack_kv / _str_kv with tag 0x4A, Span.attributes), not as the
 * spans' KeyValue structs: spans[k]'s are data[at[2k] .. at[2k] + at[2k+1]).
 * Those spans' own `attributes` are not read. */
typedef struct tb__otlp_packed_attrs {
    const struct Tbotlp__ScopeSpans *ss;
    const char *data;
    const size_t *at;
} tb__otlp_packed_attrs;

/* Append req, packed, to out: the same bytes as
 * tbotlp__export_trace_service_request__pack() (with the spans of
 * packed->ss holding the attributes it gives; packed may be NULL). TB_OK,
 * or TB_NOMEM (out is then marked failed), or TB_ERROR if the sizes and
 * the bytes written disagree (a bug). Any thread; req is only read. */
tb_status tb__otlp_pack_request(tb__buf *out, const struct Tbotlp__ExportTraceServiceRequest *req,
                                const tb__otlp_packed_attrs *packed);

/* Append kv as one `tag` field (a repeated KeyValue: 0x4A for a Span's
 * attributes), as protobuf-c packs it. */
void tb__otlp_pack_kv(tb__buf *out, uint8_t tag, const struct Tbotlp__KeyValue *kv);
/* The same for a string attribute: key k[0..kn), value v[0..vn) (the bytes
 * a KeyValue with that key and AnyValue{string_value} packs to). */
void tb__otlp_pack_str_kv(tb__buf *out, uint8_t tag, const char *k, size_t kn, const char *v,
                          size_t vn);

#endif
