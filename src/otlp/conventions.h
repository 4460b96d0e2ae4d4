/*
 * otlp/conventions.h — the name, kind and attributes of one OTLP span,
 * made from one SDK span (internal; for encode.c, and trace_context.c
 * fills part of the view). otlp/conventions.c says which attribute goes
 * out under which convention.
 */
#ifndef TRACEBOX_OTLP_CONVENTIONS_H
#define TRACEBOX_OTLP_CONVENTIONS_H

#include "otlp/attrs.h"
#include "otlp/conv.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

/* The trace-level attributes conventions.c wrote for one span of a trace,
 * kept (by encode.c, one per trace of a request) for its other spans: they
 * depend on the trace record and the conventions only, unless the span has
 * metadata of its own or W&B's per-span flag applies. The KeyValues (or
 * their packed bytes) are the request's (its arena): several spans share
 * them. Zeroed by
 * its owner; conventions.c fills it on first use. */
typedef struct tb__otlp_trace_attrs {
    bool built;
    tb__otlp_attrs_kept kept;
} tb__otlp_trace_attrs;

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
    tb__otlp_trace_attrs *trace_attrs; /* NULL: nothing kept */
} tb__otlp_span_view;

/* span_data.type, except that a custom span whose data.sdk_span_type is
 * "task" or "turn" (how the SDK exports those) is "task" / "turn". Never
 * NULL ("unknown" when there is no type). */
const char *tb__otlp_effective_type(const cJSON *span_data);
/* OTLP SpanKind: 3 (CLIENT) for generation and response, else 1. */
int tb__otlp_span_kind(const tb__otlp_span_view *v);
/* The span's name into buf (NUL-terminated, cut on a UTF-8 boundary). */
void tb__otlp_span_name(const tb__otlp_span_view *v, char *buf, size_t size);
/* Every attribute of the span for the given conventions (TB__OTLP_CONV_*
 * bits), plus the tracebox.* ones that are always there. */
void tb__otlp_conventions_apply(const tb__otlp_span_view *v, unsigned conventions,
                                tb__otlp_attrs *a);

#endif
