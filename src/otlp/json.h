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

#endif
