/*
 * tracebox/exporter.h — the interface a destination implements.
 *
 * The shipper reads a batch of records a destination has not yet received
 * and hands it, borrowed, to the exporter's send(). The exporter encodes and
 * transmits it and fills a tb_export_result saying what happened; the
 * shipper alone decides what to do (advance the cursor, back off, split,
 * bisect, dead-letter). Exporters hold no delivery state of their own.
 *
 * Every built-in destination type (file, webhook, …) is one file under
 * src/exporters/ that ends in one tb_exporter_vtable. A C user registers an
 * own type with tb_exporter_register() and then names it in `type = …`.
 */
#ifndef TRACEBOX_EXPORTER_H
#define TRACEBOX_EXPORTER_H

#include "tracebox/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One stored record, borrowed for the duration of send(). Strings may be
 * NULL where the column is NULL. */
typedef struct tb_record {
    int64_t seq;
    const char *kind; /* "trace" or "span" */
    const char *trace_id;
    const char *span_id;
    const char *parent_id;
    const char *type;
    const char *name;
    const char *started_at;
    const char *ended_at;
    const char *body; /* the SDK export object, JSON */
    size_t body_len;
} tb_record;

typedef enum tb_export_outcome {
    TB_EXPORT_DELIVERED = 0, /* accepted (2xx); rejected[] may name refusals */
    TB_EXPORT_RETRY = 1,     /* transient: back off and send again */
    TB_EXPORT_AUTH = 2,      /* 401/403: the key is wrong; keep, back off long */
    TB_EXPORT_TOO_LARGE = 3, /* 413: split the batch */
    TB_EXPORT_REFUSED = 4    /* other 4xx: the data is bad; bisect */
} tb_export_outcome;

typedef struct tb_export_result {
    tb_export_outcome outcome;
    int http_status;        /* 0 when there was no HTTP response */
    int64_t retry_after_ms; /* from Retry-After; -1 when absent */
    int unknown_outcome;    /* with a failure: the body may have arrived (e.g.
                               timeout after sending), so a resend may
                               duplicate; with DELIVERED: the batch may have
                               arrived twice (the transport resent it) */
    /* With TB_EXPORT_DELIVERED: per-record refusals the platform named.
     * `rejected` points at `n` bytes (one per record, zeroed by the shipper);
     * set rejected[i] = 1 to dead-letter record i. rejected_count counts
     * refusals the platform reported without naming the records. */
    unsigned char *rejected;
    int64_t rejected_count;
    /* One line, no credentials. */
    char message[512];
} tb_export_result;

/* A destination's configuration section, read-only. */
typedef struct tb_dest_config tb_dest_config;
TB_EXTERN const char *tb_dest_config_name(const tb_dest_config *cfg);
TB_EXTERN const char *tb_dest_config_type(const tb_dest_config *cfg);
/* The value of `key` after ${VAR} expansion, or NULL when not set. */
TB_EXTERN const char *tb_dest_config_get(const tb_dest_config *cfg, const char *key);
/* "FILE:LINE" where `key` was set (or the section when key is NULL), for
 * error messages; "environment" for env-only destinations. */
TB_EXTERN const char *tb_dest_config_where(const tb_dest_config *cfg, const char *key);
/* The common settings, parsed. */
TB_EXTERN int64_t tb_dest_config_timeout_ms(const tb_dest_config *cfg);

#define TB_EXPORTER_VERSION 1
typedef struct tb_exporter_vtable {
    unsigned version; /* TB_EXPORTER_VERSION */
    const char *type; /* the `type = …` name */
    /* Keys this type accepts beyond the common ones; NULL-terminated. */
    const char *const *keys;
    /* Create an instance from its section. On failure write a one-line
     * message (naming the section and key, never a secret) into err. */
    tb_status (*create)(void **self, const tb_dest_config *cfg, char *err, size_t err_size);
    /* Encode and send records[0..n). Fill *result; return TB_OK when result
     * says what happened (even a refusal), another status for a local
     * failure (which the shipper treats as retryable). */
    tb_status (*send)(void *self, const tb_record *records, size_t n, tb_export_result *result);
    /* Make what was sent durable (e.g. fsync); may be NULL. */
    tb_status (*flush)(void *self);
    void (*destroy)(void *self);
} tb_exporter_vtable;

/* Register an exporter type. The vtable must stay valid for the process'
 * life. Registering a type name twice replaces it. Call before loading a
 * configuration that uses it. Any thread. */
TB_EXTERN tb_status tb_exporter_register(const tb_exporter_vtable *vtable);

#ifdef __cplusplus
}
#endif
#endif
