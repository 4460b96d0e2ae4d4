/*
 * tracebox/tracing.h — traces, spans and trace processors.
 *
 * This mirrors the OpenAI Agents SDK tracing model. A trace is started with
 * tb_trace_start(); spans are started inside it with tb_span_start() (or a
 * typed helper) and ended with tb_span_end(). Every registered processor sees
 * on_trace_start / on_span_start / on_span_end / on_trace_end, in
 * registration order, synchronously on the calling thread. A processor that
 * fails does not stop the others (its status is remembered and returned).
 *
 * Lifetimes: a tb_trace and a tb_span are owned by the caller from start until
 * the matching *_free. Ending does not free, so ending twice is detected
 * (TB_MISUSE) rather than being a use-after-free. A span keeps its trace alive:
 * tb_trace_free() before the spans are freed is safe.
 *
 * Threads: distinct traces and spans may be used from any threads at once. A
 * single span or trace must not be mutated from two threads at once.
 */
#ifndef TRACEBOX_TRACING_H
#define TRACEBOX_TRACING_H

#include "tracebox/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tb_trace tb_trace;
typedef struct tb_span tb_span;

/* ---- processors -------------------------------------------------------- */

#define TB_PROCESSOR_VERSION 1

/* A trace processor. Fill it in and pass it to tb_add_trace_processor(),
 * which copies the struct. Every hook may be NULL. `self` is passed back to
 * each hook. `release` is called once when the processor is removed (by
 * tb_set_trace_processors or tb_shutdown). Hooks must be thread-safe and must
 * not register or remove processors. */
typedef struct tb_processor {
    unsigned version; /* TB_PROCESSOR_VERSION */
    void *self;
    tb_status (*on_trace_start)(void *self, const tb_trace *trace);
    tb_status (*on_trace_end)(void *self, const tb_trace *trace);
    tb_status (*on_span_start)(void *self, const tb_span *span);
    tb_status (*on_span_end)(void *self, const tb_span *span);
    tb_status (*force_flush)(void *self);
    tb_status (*shutdown)(void *self, int64_t timeout_ms);
    void (*release)(void *self);
} tb_processor;

/* Append a processor to the global list (the SDK's add_trace_processor).
 * The struct is copied. Any thread. */
TB_EXTERN tb_status tb_add_trace_processor(const tb_processor *processor);

/* Replace the global list with `count` processors (count 0 clears it); the
 * old processors are released (not shut down). Any thread. */
TB_EXTERN tb_status tb_set_trace_processors(const tb_processor *processors, size_t count);

/* Call force_flush on every processor. Returns the first failure. */
TB_EXTERN tb_status tb_force_flush(void);

/* Call shutdown on every processor with one shared deadline, then release
 * and remove them all. Returns the first failure. */
TB_EXTERN tb_status tb_shutdown(int64_t timeout_ms);

/* Turn all tracing off (or back on). When off, tb_trace_start and
 * tb_span_start still succeed but make no-op objects whose id is "no-op"
 * and processors are never called. The initial value comes from
 * OPENAI_AGENTS_DISABLE_TRACING ("1"/"true"). Any thread. */
TB_EXTERN void tb_set_tracing_disabled(int disabled);
TB_EXTERN int tb_tracing_disabled(void);

/* ---- traces ------------------------------------------------------------ */

#define TB_TRACE_OPTIONS_VERSION 1
typedef struct tb_trace_options {
    unsigned version;          /* TB_TRACE_OPTIONS_VERSION */
    const char *trace_id;      /* NULL: generate "trace_<32 hex>"; else any non-empty id
                                  of at most 255 bytes (e.g. "trace_my-app-1234") */
    const char *group_id;      /* NULL: none */
    const char *metadata_json; /* a JSON object, or NULL */
} tb_trace_options;
#define TB_TRACE_OPTIONS_INIT                                                                      \
    {                                                                                              \
        TB_TRACE_OPTIONS_VERSION, NULL, NULL, NULL                                                 \
    }

/* Start a trace and run on_trace_start. `workflow_name` NULL means
 * "Agent workflow". opts may be NULL. On success *out is a new trace the
 * caller frees with tb_trace_free(); on failure *out is NULL. A processor
 * failure does not fail the call: the trace is returned and the status is
 * the processor's (check tb_last_error()). */
TB_EXTERN tb_status tb_trace_start(tb_trace **out, const char *workflow_name,
                                   const tb_trace_options *opts);

/* Run on_trace_end. Ending twice returns TB_MISUSE. NULL: TB_INVALID. */
TB_EXTERN tb_status tb_trace_end(tb_trace *trace);

/* Release the caller's reference. NULL is a no-op. */
TB_EXTERN void tb_trace_free(tb_trace *trace);

/* The trace id ("trace_…", or "no-op"). Owned by the trace. */
TB_EXTERN const char *tb_trace_id(const tb_trace *trace);

/* The SDK export object of the trace as JSON text. *out_json is allocated;
 * free it with tb_free(). */
TB_EXTERN tb_status tb_trace_export_json(const tb_trace *trace, char **out_json);

/* ---- spans ------------------------------------------------------------- */

/* Start a span of any type. `parent` NULL makes it a child of the trace.
 * `type` is the span_data type ("agent", "generation", …; unknown types are
 * kept). `data_json` is a JSON object with the other span_data fields, or
 * NULL. On success *out is a new span the caller frees with tb_span_free(). */
TB_EXTERN tb_status tb_span_start(tb_span **out, tb_trace *trace, const tb_span *parent,
                                  const char *type, const char *data_json);

/* Typed helpers: the span_data fields of each SDK type. NULL strings become
 * JSON null. *_json arguments are JSON text (or NULL). */
TB_EXTERN tb_status tb_span_start_agent(tb_span **out, tb_trace *trace, const tb_span *parent,
                                        const char *name);
TB_EXTERN tb_status tb_span_start_function(tb_span **out, tb_trace *trace, const tb_span *parent,
                                           const char *name, const char *input);
TB_EXTERN tb_status tb_span_start_generation(tb_span **out, tb_trace *trace, const tb_span *parent,
                                             const char *model, const char *input_json);
TB_EXTERN tb_status tb_span_start_response(tb_span **out, tb_trace *trace, const tb_span *parent,
                                           const char *response_id);
TB_EXTERN tb_status tb_span_start_handoff(tb_span **out, tb_trace *trace, const tb_span *parent,
                                          const char *from_agent, const char *to_agent);
TB_EXTERN tb_status tb_span_start_guardrail(tb_span **out, tb_trace *trace, const tb_span *parent,
                                            const char *name, int triggered);
TB_EXTERN tb_status tb_span_start_custom(tb_span **out, tb_trace *trace, const tb_span *parent,
                                         const char *name, const char *data_json);
TB_EXTERN tb_status tb_span_start_mcp_tools(tb_span **out, tb_trace *trace, const tb_span *parent,
                                            const char *server);
TB_EXTERN tb_status tb_span_start_transcription(tb_span **out, tb_trace *trace,
                                                const tb_span *parent, const char *model);
TB_EXTERN tb_status tb_span_start_speech(tb_span **out, tb_trace *trace, const tb_span *parent,
                                         const char *model, const char *input);
TB_EXTERN tb_status tb_span_start_speech_group(tb_span **out, tb_trace *trace,
                                               const tb_span *parent, const char *input);
/* task and turn are exported as "custom" spans, as the SDK does. */
TB_EXTERN tb_status tb_span_start_task(tb_span **out, tb_trace *trace, const tb_span *parent,
                                       const char *name);
TB_EXTERN tb_status tb_span_start_turn(tb_span **out, tb_trace *trace, const tb_span *parent,
                                       int turn, const char *agent_name);

/* Set span_data[key] to a JSON value (text such as "\"hi\"", "42", "[…]").
 * Replaces an existing key. Setting "type" is refused (TB_INVALID). */
TB_EXTERN tb_status tb_span_set_data(tb_span *span, const char *key, const char *value_json);
/* Attach to a response span what the SDKs' export drops (the record
 * format's extension fields): span_data.response = response_json (the
 * Responses API object, a JSON object) and span_data.input = input_json
 * (its input: a JSON string or a list of input items). Either may be NULL
 * to leave it unset. Sets span_data.response_id from the response's "id"
 * when it is not set yet. The `openai` destination strips both, so OpenAI
 * receives exactly the SDK's own export; every other destination reads its
 * model, usage, messages and tools from them. TB_INVALID for a span that is
 * not a response span or for text that is not such JSON. Same threads as
 * tb_span_set_data. */
TB_EXTERN tb_status tb_span_set_response(tb_span *span, const char *response_json,
                                         const char *input_json);
/* Set span_data[key] to a string (NULL sets JSON null). */
TB_EXTERN tb_status tb_span_set_string(tb_span *span, const char *key, const char *value);
/* Set generation/response usage {"input_tokens":…, "output_tokens":…}. */
TB_EXTERN tb_status tb_span_set_usage(tb_span *span, int64_t input_tokens, int64_t output_tokens);
/* Set the span-level "metadata" object (JSON object text; NULL clears). */
TB_EXTERN tb_status tb_span_set_metadata(tb_span *span, const char *metadata_json);
/* Set (replace) the span's error. data_json may be NULL. */
TB_EXTERN tb_status tb_span_set_error(tb_span *span, const char *message, const char *data_json);

/* Stamp ended_at and run on_span_end on every processor. With the outbox
 * processor in `full`/`normal` mode the record is durable when this returns;
 * it returns within about one busy_timeout. TB_BUSY means the outbox file
 * stayed locked by another connection (an operator's sqlite3 shell in a
 * long transaction) and nothing was stored: the span is not ended, and
 * calling tb_span_end() again later stores it with its first ended_at (a
 * processor that did take it sees it twice; the outbox keeps it once).
 * Ending an ended span returns TB_MISUSE. */
TB_EXTERN tb_status tb_span_end(tb_span *span);

/* Release the span. NULL is a no-op. */
TB_EXTERN void tb_span_free(tb_span *span);

TB_EXTERN const char *tb_span_id(const tb_span *span);
TB_EXTERN const char *tb_span_trace_id(const tb_span *span);
/* Parent span id, or NULL when the parent is the trace. */
TB_EXTERN const char *tb_span_parent_id(const tb_span *span);
/* The span_data type ("agent", …). */
TB_EXTERN const char *tb_span_type(const tb_span *span);

/* The SDK export object of the span as JSON text; free with tb_free(). */
TB_EXTERN tb_status tb_span_export_json(const tb_span *span, char **out_json);

#ifdef __cplusplus
}
#endif
#endif
