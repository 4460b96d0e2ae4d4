/*
 * otlp/encode.h — SDK export records → one OTLP ExportTraceServiceRequest,
 * as binary protobuf or as OTLP/JSON (internal).
 *
 * Every OTLP-speaking destination (otlp, langfuse, arize, phoenix, wandb)
 * goes through tb__otlp_encode(): it differs only in the attribute
 * conventions it asks for, a few extra resource / span attributes, and the
 * wire format. Three layers, three files:
 *
 *   encode.c       the request's structure: one ResourceSpans (service and
 *                  SDK attributes + the destination's extras), one
 *                  ScopeSpans (scope "tracebox"), one OTLP span per SDK
 *                  span; deterministic ids; times; status and the
 *                  "exception" event; protobuf (protobuf-c) and OTLP/JSON
 *                  (cJSON) writers; the response parser; a small cache of
 *                  trace records for spans whose trace came in an earlier
 *                  batch.
 *   conventions.c  every attribute of a span: one table maps each SDK span
 *                  type to its name, kind, OpenInference span kind, GenAI
 *                  operation and Langfuse observation type, plus the
 *                  type-specific extractors (model, usage, messages, I/O).
 *   exporters/otlp.c  the shared OTLP/HTTP sender the five destinations
 *                  wrap (tb__otlp_sender_*, declared at the end).
 *
 * Ids (DESIGN.md "Delivery semantics": a resend carries the same ids):
 *   trace id  = the 16 bytes of the 32 hex digits after "trace_" (or of a
 *               bare 32-hex id); any other id, or an all-zero one, is
 *               hashed: two FNV-1a-64 passes over the whole id string, the
 *               first from the standard offset basis, the second from the
 *               first's result XOR 0x9e3779b97f4a7c15, big-endian.
 *   span id   = the first 16 of the hex digits after "span_" (the SDK's 24
 *               hex digits are uuid4 hex, so these are 60 random bits and
 *               the OTLP id is a visible prefix of the SDK id); any other
 *               id, or an all-zero prefix, is FNV-1a-64 of the whole id.
 *   parent    = the parent's span id by the same rule; a span whose
 *               parent_id is null is a root and has no parent_span_id.
 * The full SDK ids are kept in tracebox.sdk_trace_id / tracebox.sdk_span_id.
 */
#ifndef TRACEBOX_OTLP_ENCODE_H
#define TRACEBOX_OTLP_ENCODE_H

#include "internal.h"

#include <cjson/cJSON.h>
#include <stdint.h>

typedef enum tb__otlp_format {
    TB__OTLP_PROTOBUF = 0, /* application/x-protobuf */
    TB__OTLP_JSON = 1      /* application/json, OTLP/JSON mapping */
} tb__otlp_format;

/* Attribute conventions, a bit set. */
#define TB__OTLP_CONV_GENAI 1u         /* OpenTelemetry GenAI, gen_ai.* */
#define TB__OTLP_CONV_OPENINFERENCE 2u /* OpenInference (Arize, Phoenix) */
#define TB__OTLP_CONV_LANGFUSE 4u      /* langfuse.* */
#define TB__OTLP_CONV_WANDB 8u         /* W&B Weave threads: wandb.thread_id, wandb.is_turn */

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
 * false when there is no store to ask (the encoder then uses the batch). */
typedef void (*tb__otlp_span_visit)(void *visit_ctx, int64_t seq, const char *body, size_t len);
typedef bool (*tb__otlp_spans_lookup)(const char *sdk_trace_id, int64_t before_seq,
                                      tb__otlp_span_visit visit, void *visit_ctx);

typedef struct tb__otlp_options {
    unsigned conventions;              /* TB__OTLP_CONV_* */
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
    void *lookup_ctx;
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

/* The deterministic ids (see the top of this file). */
void tb__otlp_trace_id(const char *sdk_trace_id, uint8_t out[16]);
void tb__otlp_span_id(const char *sdk_span_id, uint8_t out[8]);

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
 * only: after a restart, spans of a trace shipped before are sent without
 * them. One thread at a time. */
typedef struct tb__otlp_trace_cache tb__otlp_trace_cache;
/* NULL when out of memory. */
tb__otlp_trace_cache *tb__otlp_trace_cache_new(size_t capacity);
void tb__otlp_trace_cache_free(tb__otlp_trace_cache *c); /* NULL: no-op */
/* Remember the trace records among records[0..n). */
void tb__otlp_trace_cache_put(tb__otlp_trace_cache *c, const tb_record *records, size_t n);
/* A tb__otlp_trace_lookup; ctx is the cache. */
char *tb__otlp_trace_cache_lookup(void *ctx, const char *sdk_trace_id);

/* ---- between encode.c and conventions.c -------------------------------
 * encode.c owns the memory of the request being built; conventions.c adds
 * attributes through these calls, which copy key and value (invalid UTF-8
 * becomes U+FFFD) and never fail visibly: an allocation failure marks the
 * builder, and tb__otlp_encode() returns TB_NOMEM. */
typedef struct tb__otlp_attrs tb__otlp_attrs;
void tb__otlp_attr_str(tb__otlp_attrs *a, const char *key, const char *value); /* NULL: none */
void tb__otlp_attr_strn(tb__otlp_attrs *a, const char *key, const char *value, size_t len);
void tb__otlp_attr_int(tb__otlp_attrs *a, const char *key, int64_t value);
void tb__otlp_attr_double(tb__otlp_attrs *a, const char *key, double value);
void tb__otlp_attr_bool(tb__otlp_attrs *a, const char *key, bool value);
/* The JSON text of v (unformatted) as a string; NULL / JSON null: none. */
void tb__otlp_attr_json(tb__otlp_attrs *a, const char *key, const cJSON *v);
/* Mark the builder failed (a conventions.c allocation failed). */
void tb__otlp_attr_fail(tb__otlp_attrs *a);

/* What conventions.c sees of one SDK span. */
typedef struct tb__otlp_span_view {
    const cJSON *span;  /* the span record */
    const cJSON *data;  /* span_data (an object; empty when missing) */
    const char *type;   /* effective type: see tb__otlp_effective_type */
    const cJSON *trace; /* its trace record, or NULL when unknown */
    const cJSON *error; /* the error object, or NULL */
    /* From the other records of the trace (encode.c, agent spans only; NULL
     * when not known): the agent that handed off to this one, and the
     * input of the first / the final text of the last model call under it
     * (lifted: the SDK gives agent spans no input or output of their own).
     * For a top-level agent span, the same over the whole trace so far:
     * the run's input and final answer. An input is JSON text when its
     * _json flag says so, else plain text. */
    const char *graph_parent;
    const char *lifted_in, *lifted_out;
    bool lifted_in_json;
    const char *run_in, *run_out;
    bool run_in_json;
} tb__otlp_span_view;

/* ---- what agent spans learn from the rest of their trace ----------------
 * (otlp/trace_context.c says what and why.) Records are added in seq
 * order; only handoff, generation and response spans are kept. */
typedef struct tb__otlp_trace_ctx tb__otlp_trace_ctx;
tb__otlp_trace_ctx *tb__otlp_trace_ctx_new(void); /* NULL: out of memory */
void tb__otlp_trace_ctx_free(tb__otlp_trace_ctx *c);
void tb__otlp_trace_ctx_add(tb__otlp_trace_ctx *c, int64_t order, const cJSON *span);
/* false when an add ran out of memory (the context is incomplete) */
bool tb__otlp_trace_ctx_ok(const tb__otlp_trace_ctx *c);
/* Fill v's graph_parent / lifted_* / run_* for the agent span at `order`
 * (its seq); the strings are c's. */
void tb__otlp_trace_ctx_apply(const tb__otlp_trace_ctx *c, int64_t order, tb__otlp_span_view *v);

/* span_data.type, except that a custom span whose data.sdk_span_type is
 * "task" or "turn" (how the SDK exports those) is "task" / "turn". Never
 * NULL ("unknown" when there is no type). */
const char *tb__otlp_effective_type(const cJSON *span_data);
/* OTLP SpanKind: 3 (CLIENT) for generation and response, else 1. */
int tb__otlp_span_kind(const tb__otlp_span_view *v);
/* The span's name into buf (NUL-terminated, cut on a UTF-8 boundary). */
void tb__otlp_span_name(const tb__otlp_span_view *v, char *buf, size_t size);
/* Every attribute of the span for the given conventions, plus the
 * tracebox.* ones that are always there. */
void tb__otlp_conventions_apply(const tb__otlp_span_view *v, unsigned conventions,
                                tb__otlp_attrs *a);

/* ---- the shared OTLP/HTTP sender (exporters/otlp.c) -------------------- */
typedef struct tb__otlp_sender_spec {
    const char *url;     /* the full traces URL */
    const char *url_key; /* the key it came from, for messages */
    tb__otlp_format format;
    tb__otlp_options encode; /* copied; lookup is set by the sender */
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
void tb__otlp_sender_destroy(void *self);

/* The traces URL of a base endpoint for destinations that take either
 * form: kept when its path ends in /v1/traces, "/traces" appended when it
 * ends in /v1, else "/v1/traces" appended (a trailing '/' is dropped
 * first). tb__malloc'd; NULL when out of memory. */
char *tb__otlp_traces_url(const char *endpoint);

#endif
