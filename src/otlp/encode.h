/*
 * otlp/encode.h — SDK export records → one OTLP ExportTraceServiceRequest,
 * as binary protobuf or as OTLP/JSON (internal).
 *
 * Every OTLP-speaking destination (otlp, langfuse, arize, phoenix, wandb)
 * goes through tb__otlp_encode(): it differs only in the attribute
 * conventions it asks for, a few extra resource / span attributes, and the
 * wire format. This header is all the destinations see of src/otlp.
 * Behind it, from the top down (a file uses only the files below it):
 *
 *   response.c     the response parser; trace_cache.c a small cache of
 *                  trace records for spans whose trace came in an earlier
 *                  batch (both declared here).
 *   encode.c       the request's structure: one ResourceSpans (service and
 *                  SDK attributes + the destination's extras), one
 *                  ScopeSpans (scope "tracebox"), one OTLP span per SDK
 *                  span; times; status and the "exception" event; the
 *                  trace record and agent context of each span.
 *   json.c, pack.c the OTLP/JSON (cJSON) and protobuf writers of it.
 *   trace_context.c  what an agent span learns from the rest of its trace.
 *   conventions.c  every attribute of a span: one table maps each SDK span
 *                  type to its name, kind, OpenInference span kind, GenAI
 *                  operation and Langfuse observation type, plus the
 *                  type-specific extractors; llm.c (model, usage, finish
 *                  reason, tools) and messages.c (a model call's messages)
 *                  under it.
 *   attrs.c, arena.c  the attribute builder and the memory of the request.
 *   ids.c          the deterministic trace and span ids (rules: ids.h).
 *   exporters/otlp.c  the shared OTLP/HTTP sender the five destinations
 *                  wrap (tb__otlp_sender_*, declared at the end).
 */
#ifndef TRACEBOX_OTLP_ENCODE_H
#define TRACEBOX_OTLP_ENCODE_H

#include "internal.h"
#include "otlp/conv.h"
#include "otlp/ids.h"

#include <cjson/cJSON.h>
#include <stdint.h>

typedef enum tb__otlp_format {
    TB__OTLP_PROTOBUF = 0, /* application/x-protobuf */
    TB__OTLP_JSON = 1      /* application/json, OTLP/JSON mapping */
} tb__otlp_format;

/* A string attribute a destination adds. */
typedef struct tb__otlp_kv {
    const char *key;
    const char *value;
} tb__otlp_kv;

/* Find the trace record (the SDK export JSON text) of an SDK trace id whose
 * record is not in the batch. Returns a tb__malloc'd NUL-terminated copy the
 * encoder frees, or NULL when unknown. */
typedef char *(*tb__otlp_trace_lookup)(void *ctx, const char *sdk_trace_id);

/* Visit, in seq order, the stored handoff, generation and response spans
 * of a trace with seq < before_seq: visit(visit_ctx, seq, body, len) each.
 * false when there is no store to ask (the encoder then uses the batch).
 * ctx is the options' lookup_ctx. */
typedef void (*tb__otlp_span_visit)(void *visit_ctx, int64_t seq, const char *body, size_t len);
typedef bool (*tb__otlp_spans_lookup)(void *ctx, const char *sdk_trace_id, int64_t before_seq,
                                      tb__otlp_span_visit visit, void *visit_ctx);

typedef struct tb__otlp_options {
    unsigned conventions;              /* TB__OTLP_CONV_* (otlp/conv.h) */
    const char *service_name;          /* NULL or "": "tracebox" */
    const tb__otlp_kv *resource_attrs; /* added to the resource */
    size_t n_resource_attrs;
    const tb__otlp_kv *span_attrs; /* added to every span */
    size_t n_span_attrs;
    /* Trace records present in the batch are always used. For the other
     * spans the encoder asks lookup (when set), once per trace id. A span
     * whose trace record is found nowhere is sent without the trace-level
     * attributes (workflow name, group id, metadata). */
    tb__otlp_trace_lookup lookup;
    void *lookup_ctx; /* passed to both lookups */
    /* Where agent spans' context comes from (graph parent, lifted I/O);
     * NULL: the batch alone. */
    tb__otlp_spans_lookup spans_lookup;
} tb__otlp_options;

typedef struct tb__otlp_stats {
    size_t spans;          /* OTLP spans written */
    size_t traces_missing; /* spans sent without their trace's attributes */
    size_t bad;            /* records that are not SDK export objects */
} tb__otlp_stats;

/* Encode records[0..n) into out (appended; out->len is not reset). Trace
 * records give no span of their own. When `bad` is not NULL it points at n
 * bytes and bad[i] is set to 1 for a record whose body is not a JSON object
 * (such a record gives no span). Returns TB_OK, or TB_NOMEM (err says so).
 * With zero spans the request is still well formed (empty resourceSpans),
 * but callers should not send it. Any thread; no shared state. */
tb_status tb__otlp_encode(tb__buf *out, const tb_record *records, size_t n, tb__otlp_format fmt,
                          const tb__otlp_options *opts, unsigned char *bad, tb__otlp_stats *stats,
                          char *err, size_t err_size);

/* Parse `conventions = genai,openinference` into TB__OTLP_CONV_* bits.
 * false on an unknown name or an empty list. */
bool tb__otlp_parse_conventions(const char *s, unsigned *out);

/* The deterministic ids, tb__otlp_trace_id() and tb__otlp_span_id():
 * otlp/ids.h. */

/* Read an ExportTraceServiceResponse (binary or OTLP/JSON; a binary one
 * that does not decode is tried as JSON, because some servers answer a
 * protobuf request with JSON). *rejected gets partial_success.rejected_spans
 * (0 when absent) and msg its error_message (one line, "" when none).
 * Returns false when the body is neither (callers treat that as a full
 * success: a 2xx answer with an unreadable body). An empty body is a full
 * success. */
bool tb__otlp_parse_response(tb__otlp_format fmt, const char *body, size_t len, int64_t *rejected,
                             char *msg, size_t msg_size);

/* ---- trace records remembered across batches -------------------------
 * The shipper hands an exporter consecutive batches of one destination, so
 * a trace record usually precedes its spans by a batch at most. The cache
 * keeps the last `capacity` trace records an exporter has seen (bodies over
 * 16 KiB are not kept) so spans of a trace whose record was in an earlier
 * batch still get its attributes. It is per exporter instance and in memory
 * only; a trace it has not seen (after a restart, say) is asked of the
 * outbox through the send's host (tb_export_host_trace; exporters/otlp.c),
 * and spans of a trace found in neither are sent without them. One thread
 * at a time. */
typedef struct tb__otlp_trace_cache tb__otlp_trace_cache;
/* NULL when out of memory. */
tb__otlp_trace_cache *tb__otlp_trace_cache_new(size_t capacity);
void tb__otlp_trace_cache_free(tb__otlp_trace_cache *c); /* NULL: no-op */
/* Remember the trace records among records[0..n). */
void tb__otlp_trace_cache_put(tb__otlp_trace_cache *c, const tb_record *records, size_t n);
/* A copy (tb__malloc'd) of the cached trace record of sdk_trace_id, or NULL. */
char *tb__otlp_trace_cache_get(tb__otlp_trace_cache *c, const char *sdk_trace_id);

/* ---- the shared OTLP/HTTP sender (exporters/otlp.c) -------------------- */
typedef struct tb__otlp_sender_spec {
    const char *url;     /* the full traces URL */
    const char *url_key; /* the key it came from, for messages */
    tb__otlp_format format;
    tb__otlp_options encode; /* copied; the lookups are set by the sender */
    /* extra request headers: name, value, name, value, …, NULL */
    const char *const *headers;
    const char *bearer;     /* Authorization: Bearer …, or NULL */
    const char *basic_user; /* Basic auth when non-NULL */
    const char *basic_password;
} tb__otlp_sender_spec;

/* Create a sender for a destination section (reads the common HTTP keys).
 * On failure *self is NULL and err names the section and key. */
tb_status tb__otlp_sender_create(void **self, const tb_dest_config *cfg,
                                 const tb__otlp_sender_spec *spec, char *err, size_t err_size);
tb_status tb__otlp_sender_send(void *self, const tb_record *records, size_t n,
                               tb_export_result *result);
tb_status tb__otlp_sender_send_with(void *self, const tb_export_host *host,
                                    const tb_record *records, size_t n, tb_export_result *result);
void tb__otlp_sender_destroy(void *self);

/* The traces URL of a base endpoint for destinations that take either
 * form: kept when its path ends in /v1/traces, "/traces" appended when it
 * ends in /v1, else "/v1/traces" appended (a trailing '/' is dropped
 * first). tb__malloc'd; NULL when out of memory. */
char *tb__otlp_traces_url(const char *endpoint);

#endif
