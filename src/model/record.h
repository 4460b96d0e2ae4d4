/*
 * record.h — the record codec: validate one SDK export object (JSON text)
 * and pull out the columns the outbox indexes.
 */
#ifndef TRACEBOX_RECORD_H
#define TRACEBOX_RECORD_H

#include "internal.h"

#include <cjson/cJSON.h>

typedef struct tb__record {
    cJSON *root; /* a parsed object (span.c builds records from one); owned; NULL once decoded */
    bool is_trace;
    bool is_otlp;   /* an OTLP span received by `tracebox serve` (kind 'otlp'; otlp/ingest.c) */
    const char *id; /* trace id for a trace, span id for a span */
    const char *trace_id;
    const char *span_id;   /* NULL for a trace */
    const char *parent_id; /* NULL when none */
    const char *type;      /* span_data.type, "trace" for a trace */
    char *name;            /* owned; may be NULL */
    const char *started_at;
    const char *ended_at;
    char *error_json; /* owned; NULL when no error */
    char *strings;    /* owned; after tb__record_compact the columns live here */
    bool packed;      /* decoded: every string above lives in `strings` (root is NULL) */
} tb__record;

/* Validate and pull out the columns in one pass over the text, without a
 * tree (json_scan.h); the columns live in rec->strings. On failure returns
 * TB_BAD_RECORD (or TB_NOMEM) and writes "field: what is wrong" into err;
 * *rec is left empty. */
tb_status tb__record_decode(tb__record *rec, const char *json, size_t len, char *err,
                            size_t err_size);
void tb__record_clear(tb__record *rec);
/* Copy the borrowed columns into one allocation and free the tree (root
 * becomes NULL): a record built from a span (span.c) owns its strings, as a
 * decoded one does. */
tb_status tb__record_compact(tb__record *rec);
/* The `name` column of a span: its name, model, server, "from -> to" … */
char *tb__span_name(const cJSON *data, const char *type);
/* The record of an ended span, built from the span itself (span.c):
 * *rec owns its strings (no tree); *body is the export JSON (tb__malloc'd). */
tb_status tb__span_record(const tb_span *span, tb__record *rec, char **body, size_t *len);

#endif
