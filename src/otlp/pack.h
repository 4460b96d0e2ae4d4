/*
 * otlp/pack.h — the binary protobuf writer of a built request (internal).
 */
#ifndef TRACEBOX_OTLP_PACK_H
#define TRACEBOX_OTLP_PACK_H

#include "internal.h"

struct Tbotlp__ExportTraceServiceRequest;

/* Append req, packed, to out: the same bytes as
 * tbotlp__export_trace_service_request__pack(). TB_OK, or TB_NOMEM (out is
 * then marked failed), or TB_ERROR if the sizes and the bytes written
 * disagree (a bug). Any thread; req is only read. */
tb_status tb__otlp_pack_request(tb__buf *out, const struct Tbotlp__ExportTraceServiceRequest *req);

#endif
