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
    const char *kind; /* "trace", "span", or "otlp" (a span `tracebox serve` received over OTLP:
                         body = the span in OTLP/JSON with "resource" and "scope") */
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

/* A callback that receives records, borrowed for the call; return non-zero
 * to stop the iteration. */
typedef int (*tb_record_fn)(void *ctx, const tb_record *record);

/* ---- What the shipper offers an exporter during a send ------------------
 * An exporter written against version 2 gets a host with each batch
 * (send_with below): what it may need from the outbox and the shipper,
 * the same for a user's exporter as for the built-in ones. The host and
 * everything it hands out are valid only during that send_with() call, on
 * the thread that made it. */
typedef struct tb_export_host tb_export_host;

/* The stored trace record (the SDK's trace export object, JSON) of
 * trace_id, in *out_json (free with tb_free). TB_NOT_FOUND when the outbox
 * does not hold it (yet). Exporters that put trace-level attributes on
 * every span use it for spans whose trace came in an earlier batch. */
TB_EXTERN tb_status tb_export_host_trace(const tb_export_host *host, const char *trace_id,
                                         char **out_json);

/* The stored span records of trace_id with seq < before_seq (<= 0: all),
 * in seq order, whose span_data.type is one of `types` (NULL-terminated;
 * NULL: every type). */
TB_EXTERN tb_status tb_export_host_spans(const tb_export_host *host, const char *trace_id,
                                         int64_t before_seq, const char *const *types,
                                         tb_record_fn fn, void *ctx);

/* Non-zero once the shipper asks the exporter to give up the send in
 * flight (tb_shipper_stop() running out of patience): return soon with
 * TB_EXPORT_RETRY and unknown_outcome set; the batch is sent again later.
 * Cheap; may be polled from a transfer's progress callback. NULL host: 0. */
TB_EXTERN int tb_export_host_stopping(const tb_export_host *host);

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
    /* With TB_EXPORT_DELIVERED: records of the batch the destination does
     * not take and the exporter left out on purpose (an `openai`
     * destination and the OTLP spans `tracebox serve` received): delivered
     * as far as this destination goes, counted in counters.skipped. */
    int64_t skipped_count;
} tb_export_result;

/* A destination's configuration section, read-only. */
typedef struct tb_dest_config tb_dest_config;
TB_EXTERN const char *tb_dest_config_name(const tb_dest_config *cfg);
TB_EXTERN const char *tb_dest_config_type(const tb_dest_config *cfg);
/* The value of `key` after ${VAR} expansion, or NULL when not set. */
TB_EXTERN const char *tb_dest_config_get(const tb_dest_config *cfg, const char *key);
/* "FILE:LINE" where `key` was set (or the section when key is NULL), for
 * error messages; "environment" for env-only destinations. The string is
 * made when the configuration is loaded and lives as long as it: the call
 * writes nothing, so any thread may call it, also on a configuration that
 * other threads share. NULL cfg gives "". */
TB_EXTERN const char *tb_dest_config_where(const tb_dest_config *cfg, const char *key);
/* The common settings, parsed. */
TB_EXTERN int64_t tb_dest_config_timeout_ms(const tb_dest_config *cfg);
/* Secrets are resolved when a destination is built: the message of the
 * first key whose ${VAR} is not set ("FILE:LINE: [name] key: ${VAR} is not
 * set (…)"), or NULL when every key is resolved. Shipping to it fails with
 * TB_CONFIG and this message. */
TB_EXTERN const char *tb_dest_config_unresolved(const tb_dest_config *cfg);
/* The keys of the section, in file order (for listing). */
TB_EXTERN size_t tb_dest_config_key_count(const tb_dest_config *cfg);
TB_EXTERN const char *tb_dest_config_key_name(const tb_dest_config *cfg, size_t index);
/* The environment variables a key's value came from ("A,B"), or NULL. */
TB_EXTERN const char *tb_dest_config_key_vars(const tb_dest_config *cfg, const char *key);
/* What may be shown of a key's value: a secret as its length, a URL with
 * user, password and query masked, headers as their names, anything else
 * as it is. Never a credential. */
TB_EXTERN void tb_dest_config_show(const tb_dest_config *cfg, const char *key, char *buf,
                                   size_t size);

/* ---- The keys a destination type accepts (its config map) ----------------
 *
 * Each type declares its keys in one table, as Fluent Bit's config_map: the
 * core checks every value of a section against it before create() runs (an
 * unknown key or a bad value is an error naming FILE:LINE and the key, and
 * listing the valid keys), and builds the destinations of environment-only
 * mode (no config file) from the variables the table names (for now the
 * built-in types' tables, and a registered type's only when it replaces a
 * built-in one of the same name). The keys every type takes (type,
 * batch_size, max_batch_bytes, timeout, max_age, start, redact; with
 * TB_EXPORTER_HTTP also headers, compression, ca_file, insecure) belong to
 * the core and are not listed again, except to give one of them
 * environment variables (`headers` of type otlp).
 *
 *     static const tb_config_key kafka_keys[] = {
 *         {.name = "brokers", .kind = TB_KEY_STRING, .flags = TB_KEY_REQUIRED,
 *          .env = {"KAFKA_BROKERS"}},
 *         {.name = "acks", .kind = TB_KEY_ENUM, .choices = "0|1|all", .default_value = "1"},
 *         {.name = NULL}};
 *     ... .config_keys = kafka_keys, ...
 *
 * create() still reads values as strings (tb_dest_config_get) and applies
 * the defaults itself; what it reads has passed the table's checks. */

/* What a value must look like. This list only grows. */
typedef enum tb_config_kind {
    TB_KEY_STRING = 0,   /* anything (never echoed in errors) */
    TB_KEY_URL = 1,      /* empty, or starting http:// or https:// */
    TB_KEY_BOOL = 2,     /* true | false */
    TB_KEY_INT = 3,      /* decimal integer in [min, max] */
    TB_KEY_SIZE = 4,     /* bytes, or a number with KB/KiB/MB/MiB/GB/GiB, in [min, max] */
    TB_KEY_DURATION = 5, /* a number with ms/s/m/h/d/w, in [min, max] milliseconds */
    TB_KEY_ENUM = 6,     /* one of `choices` ("a|b|c") */
    TB_KEY_LIST = 7,     /* comma-separated, each one of `choices` */
    TB_KEY_HEADERS = 8   /* name=value,name2=value2 */
} tb_config_kind;

/* tb_config_key.flags */
#define TB_KEY_REQUIRED 0x01u /* a section must set it, non-empty (or `alternative`) */
#define TB_KEY_SECRET 0x02u   /* its value is never shown, whatever its kind */
/* Environment-only mode (no config file; see README "Configuration").
 * TRIGGER: one of its variables being set builds the destination.
 * NEEDED: the destination needs one of its variables; once built (by a
 * trigger, or the type's switch) a missing one is an error naming both
 * variables, and a type with no trigger and no switch is built, silently,
 * only when all its needed keys have a variable.
 * DEFAULT: with no variable set, the destination gets default_value (so
 * what it will use shows in `tracebox check`). */
#define TB_KEY_ENV_TRIGGER 0x10u
#define TB_KEY_ENV_NEEDED 0x20u
#define TB_KEY_ENV_DEFAULT 0x40u

#define TB_KEY_MAX_ENV 4

/* One key of a type. A table ends with an entry whose name is NULL. */
typedef struct tb_config_key {
    const char *name;
    tb_config_kind kind;
    unsigned flags;      /* TB_KEY_* */
    const char *choices; /* TB_KEY_ENUM, TB_KEY_LIST: "a|b|c" */
    int64_t min, max;    /* TB_KEY_INT, _SIZE, _DURATION; max 0 = no upper bound */
    /* The value create() uses when the key is not set: documentation, and
     * with TB_KEY_ENV_DEFAULT the value of an environment-only destination.
     * The core never puts it into a file's section. NULL: none. */
    const char *default_value;
    /* With TB_KEY_REQUIRED: another key that satisfies the need as well
     * ("endpoint or traces_endpoint"). */
    const char *alternative;
    /* Environment-only mode: where the value comes from, in order of
     * precedence (the first one that is set and not empty wins; the OTel
     * rule that a signal-specific variable beats the general one is this
     * order). Each is a variable name ("OTEL_SERVICE_NAME"), or a template
     * of ${NAME} references that applies only when all of them are set
     * ("${WANDB_ENTITY}/${WANDB_PROJECT}"). Unused slots are NULL. */
    const char *env[TB_KEY_MAX_ENV];
} tb_config_key;

/* tb_exporter_vtable.config_flags. HTTP: the type also takes headers,
 * compression, ca_file and insecure. ENV_FALLBACK: environment-only mode
 * builds it, from its defaults, when it builds no other destination. */
#define TB_EXPORTER_HTTP 0x01u
#define TB_EXPORTER_ENV_FALLBACK 0x02u

/* Version 1: up to destroy. Version 2 adds the key table and send_with;
 * a version 1 vtable is still accepted (the core reads only its first
 * members). */
#define TB_EXPORTER_VERSION 2
typedef struct tb_exporter_vtable {
    unsigned version; /* TB_EXPORTER_VERSION (or 1) */
    const char *type; /* the `type = …` name */
    /* The first way to declare keys: names only, every value a string, no
     * environment variables. Ignored when config_keys is set (the built-in
     * types set both, from one list). NULL-terminated; may be NULL. */
    const char *const *keys;
    /* Create an instance from its section. On failure write a one-line
     * message (naming the section and key, never a secret) into err. */
    tb_status (*create)(void **self, const tb_dest_config *cfg, char *err, size_t err_size);
    /* Encode and send records[0..n). Fill *result; return TB_OK when result
     * says what happened (even a refusal), another status for a local
     * failure (which the shipper treats as retryable). With version 2 it
     * may be NULL when send_with is set. */
    tb_status (*send)(void *self, const tb_record *records, size_t n, tb_export_result *result);
    /* Make what was sent durable (e.g. fsync); may be NULL. */
    tb_status (*flush)(void *self);
    void (*destroy)(void *self);
    /* ---- Version 2 (added at the end, so a vtable written for version 1
     * with designated initializers compiles unchanged, with these zero). */
    /* The keys this type accepts beyond the core's, ending at name == NULL;
     * the core validates every value against it. NULL: use `keys`. */
    const tb_config_key *config_keys;
    unsigned config_flags; /* TB_EXPORTER_HTTP | TB_EXPORTER_ENV_FALLBACK */
    /* Environment-only mode considers this type only while this variable is
     * "1" (an opt-in for platforms whose key is set for other reasons, e.g.
     * OpenAI traces). NULL: no switch. */
    const char *config_env_switch;
    /* Version 2: send, with the host (see tb_export_host above). When set,
     * the shipper calls it instead of send. */
    tb_status (*send_with)(void *self, const tb_export_host *host, const tb_record *records,
                           size_t n, tb_export_result *result);
} tb_exporter_vtable;

/* Register an exporter type. The vtable must stay valid for the process'
 * life. Registering a type name twice replaces it. Call before loading a
 * configuration that uses it. Any thread. */
TB_EXTERN tb_status tb_exporter_register(const tb_exporter_vtable *vtable);

#ifdef __cplusplus
}
#endif
#endif
