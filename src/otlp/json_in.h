/*
 * otlp/json_in.h — the OTLP/JSON reader (internal): a request, or the
 * stored body of one OTLP span, into the protobuf-c model.
 */
#ifndef TRACEBOX_OTLP_JSON_IN_H
#define TRACEBOX_OTLP_JSON_IN_H

#include "internal.h"
#include "otlp/arena.h"

#include <cjson/cJSON.h>

struct Tbotlp__ExportTraceServiceRequest;
struct Tbotlp__Span;
struct Tbotlp__Resource;
struct Tbotlp__InstrumentationScope;

/* Read an ExportTraceServiceRequest in the OTLP/JSON mapping. Everything
 * is carved from ar. false with a one-line message naming the field
 * ("resourceSpans[0].scopeSpans[0].spans[3].traceId: not hex") when it is
 * not one, or "out of memory". */
bool tb__otlp_json_read_request(tb__otlp_arena *ar, const cJSON *root,
                                struct Tbotlp__ExportTraceServiceRequest **out, char *err,
                                size_t err_size);

/* A stored 'otlp' body (json.h: tb__otlp_json_stored_span) read back. */
typedef struct tb__otlp_stored {
    struct Tbotlp__Span *span;
    struct Tbotlp__Resource *resource;
    char *resource_schema_url;
    struct Tbotlp__InstrumentationScope *scope;
    char *scope_schema_url;
} tb__otlp_stored;
bool tb__otlp_json_read_stored(tb__otlp_arena *ar, const cJSON *root, tb__otlp_stored *out,
                               char *err, size_t err_size);

#endif
