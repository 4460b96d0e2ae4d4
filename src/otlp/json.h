/*
 * otlp/json.h — the OTLP/JSON writer of a built request (internal).
 */
#ifndef TRACEBOX_OTLP_JSON_H
#define TRACEBOX_OTLP_JSON_H

#include "internal.h"

struct Tbotlp__ExportTraceServiceRequest;

/* Append req as OTLP/JSON (unformatted) to out. TB_OK, or TB_NOMEM (out
 * may then hold part of it). Any thread; req is only read. */
tb_status tb__otlp_json_request(tb__buf *out, const struct Tbotlp__ExportTraceServiceRequest *req);

struct Tbotlp__Span;
struct Tbotlp__Resource;
struct Tbotlp__InstrumentationScope;
/* The stored body of an OTLP span that `tracebox serve` received (kind
 * 'otlp'): the span in the OTLP/JSON mapping with "resource" and "scope"
 * (and "resourceSchemaUrl" / "scopeSchemaUrl" when set) beside its own
 * fields. Strings that are not valid UTF-8 become U+FFFD. NULL when out of
 * memory. */
struct cJSON *tb__otlp_json_stored_span(const struct Tbotlp__Span *span,
                                        const struct Tbotlp__Resource *resource,
                                        const char *resource_schema_url,
                                        const struct Tbotlp__InstrumentationScope *scope,
                                        const char *scope_schema_url);
#endif
