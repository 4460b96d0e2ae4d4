/*
 * otlp/trace_context.h — what agent spans learn from the rest of their
 * trace (internal; for encode.c; otlp/trace_context.c says what and why).
 *
 * Records are added in seq order; only handoff, generation and response
 * spans are kept. One thread at a time per context.
 */
#ifndef TRACEBOX_OTLP_TRACE_CONTEXT_H
#define TRACEBOX_OTLP_TRACE_CONTEXT_H

#include "otlp/conventions.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct tb__otlp_trace_ctx tb__otlp_trace_ctx;
tb__otlp_trace_ctx *tb__otlp_trace_ctx_new(void);    /* NULL: out of memory */
void tb__otlp_trace_ctx_free(tb__otlp_trace_ctx *c); /* NULL: no-op */
/* span: a parsed record (NULL: one that did not parse, taken as out of
 * memory). */
void tb__otlp_trace_ctx_add(tb__otlp_trace_ctx *c, int64_t order, const cJSON *span);
/* false when an add ran out of memory (the context is incomplete) */
bool tb__otlp_trace_ctx_ok(const tb__otlp_trace_ctx *c);
/* Fill v's graph_parent / lifted_* / run_* for the agent span at `order`
 * (its seq); the strings are c's. */
void tb__otlp_trace_ctx_apply(const tb__otlp_trace_ctx *c, int64_t order, tb__otlp_span_view *v);

#endif
