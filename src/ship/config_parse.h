/*
 * config_parse.h — the workbench the config*.c files share while they build
 * a tb_config; nothing outside them includes it.
 *
 * The pieces, one file each:
 *   config_ini.c   the INI reader, ${VAR} expansion, [outbox] / [shipper],
 *                  tb_config_parse() and tb_config_load();
 *   config_keys.c  the core's key tables, the value checks every kind of key
 *                  gets, and the validation of a destination section against
 *                  the table its type declares (tb_exporter_vtable
 *                  .config_keys);
 *   config_env.c   destinations built from environment variables when there
 *                  is no file, from the same tables;
 *   config_build.c writing a tb_config: defaults, destinations, keys, the
 *                  first error, and handing the result over;
 *   config.c       the model (config_internal.h): freeing and reading it.
 *
 * One rule runs through all of them: every error is one line,
 *     WHERE: [section] key: what is wrong (what to do)
 * with WHERE "FILE:LINE", or "environment (VAR)" in env-only mode. Secrets
 * never reach a message: only values of typed keys (durations, sizes,
 * integers, enums, booleans) are ever quoted, never strings, URLs, headers,
 * a key flagged secret, or anything that came from ${VAR} or a variable.
 */
#ifndef TRACEBOX_CONFIG_PARSE_H
#define TRACEBOX_CONFIG_PARSE_H

#include "config_internal.h"

#define TB__CFG_MAX_SECTION_NAME 64
#define TB__CFG_MAX_SETTING_KEYS 8 /* >= keys of [outbox] / [shipper] */

typedef enum tb__cfg_section {
    TB__SEC_NONE,
    TB__SEC_OUTBOX,
    TB__SEC_SHIPPER,
    TB__SEC_SERVE,
    TB__SEC_DEST,
    TB__SEC_SKIP /* after a bad header: its keys are not checked */
} tb__cfg_section;

/* One error found while loading. */
typedef struct tb__cfg_err {
    int line; /* for ordering; INT_MAX-ish for "end of section" */
    char *msg;
} tb__cfg_err;
#define TB__CFG_MAX_ERRORS 100

/* The state of one load, from a file or from the environment. */
typedef struct tb__cfg_parser {
    tb_config *cfg;
    const char *file; /* name used in messages */
    /* input */
    const char *text;
    size_t len, pos;
    int line;
    /* the current section */
    tb__cfg_section cur;
    char cur_name[TB__CFG_MAX_SECTION_NAME + 1];
    size_t cur_dest;                           /* TB__SEC_DEST: index into cfg->dests */
    int seen_key[TB__CFG_MAX_SETTING_KEYS];    /* [outbox]/[shipper]: line of each key */
    int outbox_line, shipper_line, serve_line; /* where those sections were opened */
    /* the errors: the load goes on after one, to report them all */
    tb_status st; /* TB_OK until something fails */
    tb__cfg_err *errs;
    size_t n_errs;
    int backoff_cap_line;
} tb__cfg_parser;

/* ---- errors (config_build.c) ---- */

/* Record an error: "WHERE: [section] key: message". WHERE is
 * "environment (VAR)" when var is set, else "FILE:LINE" (or FILE for line
 * 0). section and key may be NULL. Every error is kept (up to
 * TB__CFG_MAX_ERRORS); the earliest by line becomes tb_last_error(). */
void tb__cfg_fail(tb__cfg_parser *p, int line, const char *var, const char *section,
                  const char *key, const char *fmt, ...) TB__PRINTF(6, 7);
/* The same message, into buf, without recording it. */
void tb__cfg_format(const tb__cfg_parser *p, char *buf, size_t size, int line, const char *var,
                    const char *section, const char *key, const char *fmt, ...) TB__PRINTF(8, 9);
void tb__cfg_fail_nomem(tb__cfg_parser *p);
/* The error just recorded is known only at its section's end (a missing
 * key): list it after the errors of the section's lines. */
void tb__cfg_mark_end(tb__cfg_parser *p);
/* A value made safe to quote in a message: at most 48 bytes, printable. */
void tb__cfg_quote(char *buf, size_t size, const char *v);

/* ---- keys and values (config_keys.c) ---- */

const tb_config_key *tb__cfg_find_key(const tb_config_key *keys, const char *name);
/* Is v a URL tracebox can send to (http/https, a host, a port in range)?
 * On failure `why` says what is wrong, without quoting v. */
int tb__cfg_url_ok(const char *v, char *why, size_t size);
/* "did you mean `x`? " when a name of the table is close to key, else "". */
void tb__cfg_did_you_mean(char *buf, size_t size, const char *key, const tb_config_key *keys);
/* "a, b, c": the names of a table, for an unknown-key hint. */
void tb__cfg_key_names(char *buf, size_t size, const tb_config_key *keys);
/* Check `v` against `k`; on success *num holds the parsed number (duration
 * in ms, size in bytes, integer, enum index, bool 0/1). On failure record
 * an error at line / var. `hidden`: never quote the value. */
int tb__cfg_check_value(tb__cfg_parser *p, const tb_config_key *k, const char *v, int64_t *num,
                        int line, const char *var, const char *section, int hidden);

/* A destination type as the core sees it: its vtable's key table, or the
 * first way (names only, strings), and its flags. */
typedef struct tb__cfg_type {
    const tb_exporter_vtable *vt;
    const tb_config_key *keys; /* NULL: a version-1 `keys` name list */
    const char *const *names;  /* that list, when keys is NULL */
    unsigned flags;            /* TB_EXPORTER_* */
    const char *env_switch;
} tb__cfg_type;
/* The type named `type` (registered types first, then built-in); 0 when
 * there is none. */
int tb__cfg_type_find(const char *type, tb__cfg_type *out);
/* The built-in types, in the order errors list them and env-only mode
 * builds them; NULL past the end. */
const tb_exporter_vtable *tb__cfg_builtin(size_t i);

/* Check a collected destination: its type, each key and value, the
 * required keys; fill the parsed common fields. `vars`, when not NULL,
 * names the environment variable of each kv (env-only mode; NULL entries
 * for built-in values). */
void tb__cfg_check_dest(tb__cfg_parser *p, tb_dest_config *d, const char *const *vars);

/* ---- building (config_build.c) ---- */

void tb__cfg_defaults(tb_config *cfg);
/* Append a destination; its index, or (size_t)-1 out of memory. */
size_t tb__cfg_add_dest(tb__cfg_parser *p, const char *name, const char *file, int line);
/* "A,B": the names of the ${A} ${B} a raw value refers to (tb__malloc'd;
 * NULL when none or out of memory). */
char *tb__cfg_var_names(const char *raw);
/* Append key = value; value is taken over (freed on failure). 0 on failure. */
int tb__cfg_add_kv(tb__cfg_parser *p, tb_dest_config *d, const char *key, char *value, int line);
/* Hand the result over: *out is the config on success, NULL (and the config
 * freed) on failure; the error is cleared on success. When `all` is not
 * NULL it gets every error, one per line, ordered by line (tb__malloc'd;
 * NULL when there were none). */
tb_status tb__cfg_finish(tb__cfg_parser *p, tb_config **out, char **all);

/* ---- env-only mode (config_env.c) ---- */

/* getenv, with an empty value counted as unset. */
const char *tb__cfg_env(const char *name);
/* Destinations from the variables the types' tables name. */
tb_status tb__cfg_env_only(tb_config **out);

#endif
