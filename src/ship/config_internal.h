/*
 * config_internal.h — the parsed configuration, as the shipper reads it
 * (config.c frees and reads it). The config*.c files fill it while loading
 * (config_parse.h is their shared workbench); once tb_config_load()
 * returns, nothing writes it, so threads may share it freely.
 */
#ifndef TRACEBOX_CONFIG_INTERNAL_H
#define TRACEBOX_CONFIG_INTERNAL_H

#include "internal.h"

/* WHERE of a value that came from the environment (env-only mode). */
#define TB__CFG_ENV_WHERE "environment"

typedef struct tb__kv {
    char *key;
    char *value; /* after ${VAR} expansion */
    int line;    /* 0 for values from the environment */
    int hidden;  /* the value came from ${VAR} or the environment: never echo it */
    char *where; /* "FILE:LINE", made at load time; NULL for line 0 */
    char *vars;  /* the variables the value names ("A,B"), or NULL */
    char *unset; /* a ${VAR} it names is not set: the message; NULL when resolved */
} tb__kv;

struct tb_dest_config {
    char *name;
    char *type;
    char *file; /* config file name, or "environment" */
    int line;   /* line of the [section] header */
    /* common keys, parsed (defaults applied) */
    int batch_size;          /* default 512 */
    int64_t max_batch_bytes; /* default 4 MiB */
    int64_t timeout_ms;      /* default 30000 */
    int64_t max_age_ms;      /* 0 = no limit */
    int start_latest;        /* start = latest */
    int redact;              /* redact = io: inputs/outputs replaced before sending */
    /* every key of the section, including the common ones */
    tb__kv *kv;
    size_t n_kv;
    char *where; /* "FILE:LINE" of the header, made at load time; NULL for line 0 */
    /* the first key whose ${VAR} is not set (its kv's message, borrowed):
     * the destination cannot be built until it is */
    const char *unresolved;
};

struct tb_config {
    char *file; /* NULL in env-only mode */
    /* [outbox] */
    char *outbox_path;
    tb_durability durability;
    int64_t max_size;     /* 0 = none */
    int64_t retention_ms; /* 0 = keep forever */
    tb_full_policy full_policy;
    size_t queue_capacity; /* 0 = the outbox's default (8192) */
    tb_queue_policy queue_policy;
    int redact; /* redact = io: inputs/outputs replaced before storing */
    /* [shipper] */
    int64_t backoff_base_ms;  /* default 1000 */
    int64_t backoff_cap_ms;   /* default 300000 */
    int64_t auth_backoff_ms;  /* default 900000 (401/403) */
    int64_t lease_ms;         /* default 60000 */
    int64_t poll_interval_ms; /* thread shape: idle poll, default 1000 */
    /* [serve] (tracebox serve); 0 / NULL: not set */
    char *serve_listen;
    char *serve_token;       /* a secret: never shown */
    char *serve_token_unset; /* the message when its ${VAR} is not set */
    int64_t serve_max_body;
    int64_t serve_max_connections;
    int64_t serve_timeout_ms;
    tb_dest_config *dests;
    size_t n_dests;
};

/* The first `key = value` of d named key, or NULL. */
const tb__kv *tb__cfg_find_kv(const tb_dest_config *d, const char *key);

#endif
