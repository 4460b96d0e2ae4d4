/*
 * otlp/ingest.h — an OTLP request into outbox records (internal; the
 * public entry is tb_outbox_put_otlp, tracebox/outbox.h).
 */
#ifndef TRACEBOX_OTLP_INGEST_H
#define TRACEBOX_OTLP_INGEST_H

#include "internal.h"
#include "record.h"

/* The records of one request, ready for the writer. */
typedef struct tb__otlp_decoded {
    tb__record *recs; /* columns of kind 'otlp' (rec->strings owns them) */
    char **bodies;    /* tb__malloc'd stored bodies (json.h) */
    size_t *lens;
    size_t n; /* records; spans refused for their ids are counted in res */
} tb__otlp_decoded;

/* Decode a whole request (binary protobuf or OTLP/JSON) and turn each
 * valid span into a record. TB_BAD_RECORD (nothing in *out) when the
 * request does not decode, with a one-line message saying where. res gets
 * spans, rejected (and failed: out of memory). redact: replace inputs and
 * outputs (ingest.c: content_key). */
tb_status tb__otlp_ingest_decode(const void *data, size_t len, tb_otlp_format format, bool redact,
                                 tb__otlp_decoded *out, tb_otlp_result *res);
void tb__otlp_decoded_free(tb__otlp_decoded *d);

#endif
