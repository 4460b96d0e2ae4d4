/*
 * tracebox/config.h — the INI configuration.
 *
 * `[outbox]` and `[shipper]` are settings; every other section is a
 * destination named by the section, with `type = …`. Values expand ${VAR}
 * and ${VAR:-default} from the environment. With no file, destinations come
 * from the platforms' usual environment variables. Errors name file, line
 * and key; secrets are never echoed.
 */
#ifndef TRACEBOX_CONFIG_H
#define TRACEBOX_CONFIG_H

#include "tracebox/exporter.h"
#include "tracebox/outbox.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tb_config tb_config;

/* Load the configuration. `path` NULL means $TRACEBOX_CONFIG, else
 * ./tracebox.ini if it exists, else the environment only. On failure *out
 * is NULL, the status is TB_CONFIG (or TB_IO/TB_NOMEM) and tb_last_error()
 * holds one line "FILE:LINE: [section] key: what is wrong". Any thread. */
TB_EXTERN tb_status tb_config_load(tb_config **out, const char *path);

/* tb_config_load, and every error found: on failure *errors (free with
 * tb_free) holds each one on a line of its own, in file order (the first is
 * tb_last_error()). `errors` may be NULL. A `${VAR}` that is not set in a
 * destination's key is not a load error: see tb_dest_config_unresolved(). */
TB_EXTERN tb_status tb_config_load_report(tb_config **out, const char *path, char **errors);

/* Parse INI text; `name` is used as the file name in errors. */
TB_EXTERN tb_status tb_config_parse(tb_config **out, const char *text, const char *name);

/* NULL is a no-op. */
TB_EXTERN void tb_config_free(tb_config *cfg);

/* [outbox] path, or NULL when not set. */
TB_EXTERN const char *tb_config_outbox_path(const tb_config *cfg);
TB_EXTERN size_t tb_config_destination_count(const tb_config *cfg);
/* Borrowed; valid while cfg lives. NULL when out of range / not found. */
TB_EXTERN const tb_dest_config *tb_config_destination(const tb_config *cfg, size_t index);
TB_EXTERN const tb_dest_config *tb_config_find_destination(const tb_config *cfg, const char *name);

/* Apply the [outbox] settings (durability, max_size, full_policy,
 * queue_capacity, queue_policy, redact) to *opts, which the caller has
 * initialised (TB_OUTBOX_OPTIONS_INIT); settings the file leaves out keep
 * their value. TB_INVALID when either is NULL. Any thread. */
TB_EXTERN tb_status tb_config_outbox_options(const tb_config *cfg, tb_outbox_options *opts);

/* The [serve] settings of `tracebox serve`; a key the file leaves out is
 * NULL or 0. Strings are borrowed (valid while cfg lives); `token` is a
 * secret (a ${VAR} reference in the file): never print it. TB_CONFIG (the
 * message names FILE:LINE and the variable) when the token's ${VAR} is not
 * set: that stops `serve` only, as an unset destination key stops only
 * shipping to it. */
typedef struct tb_serve_settings {
    const char *listen;      /* HOST:PORT */
    const char *token;       /* Bearer token clients must send */
    int64_t max_body;        /* bytes, after decompression */
    int64_t max_connections; /* at once */
    int64_t timeout_ms;      /* a connection idle this long is closed */
} tb_serve_settings;
TB_EXTERN tb_status tb_config_serve_settings(const tb_config *cfg, tb_serve_settings *out);

#ifdef __cplusplus
}
#endif
#endif
