/*
 * cli.h — what the `tracebox` verbs share: argument helpers, the outbox
 * path rule (--db, else $TRACEBOX_DB, else [outbox] path, else
 * ./tracebox.db), and the exit codes.
 */
#ifndef TRACEBOX_CLI_H
#define TRACEBOX_CLI_H

#include "tracebox.h"

#include <stdbool.h>
#include <stdio.h>

/* Exit codes (documented in `tracebox help` and the README). */
enum {
    EXIT_OK = 0,
    EXIT_ERR = 1,            /* other error */
    EXIT_USAGE = 2,          /* bad command line */
    EXIT_CHECK_WARNING = 1,  /* status --check: the monitoring-plugins convention */
    EXIT_CHECK_CRITICAL = 2, /* (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN) */
    EXIT_CHECK_UNKNOWN = 3,
    EXIT_UNAVAILABLE = 69, /* check --connect: a destination unreachable (EX_UNAVAILABLE) */
    EXIT_PENDING = 75,     /* ship --once: something still pending (EX_TEMPFAIL) */
    EXIT_NOPERM = 77,      /* credentials refused (EX_NOPERM) */
    EXIT_CONFIG = 78       /* bad configuration (EX_CONFIG) */
};

typedef struct cli {
    const char *db;     /* --db */
    const char *config; /* --config */
    bool json;          /* --json */
    int argc;           /* the verb's own arguments */
    char **argv;
    long long rows; /* rows a verb's callback printed */
    FILE *out;      /* where status writes (NULL: stdout); serve's /metrics */
} cli;

typedef int (*cli_verb_fn)(cli *c);

/* Print "tracebox: <msg>\n" to stderr; returns `code`. */
int cli_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The outbox path per the rule above; loads the config only if needed. */
const char *cli_db_path(cli *c);
/* Open the outbox (creating it). On failure prints the error, returns NULL. */
tb_outbox *cli_open(cli *c);
/* Open the outbox for the read and maintenance verbs: read-only (never
 * creating or migrating anything) unless `write`. Prints the error and
 * returns NULL on failure (a path with no outbox: "no outbox at PATH"). */
tb_admin *cli_admin(cli *c, bool write);
/* s as a JSON string (NULL: null). */
void cli_json_str(FILE *f, const char *s);
/* A monotonic clock in milliseconds. */
int64_t cli_mono_ms(void);
/* Sleep ms milliseconds (a pause before trying a locked file again). */
void cli_nap_ms(int64_t ms);
/* Is argv[i] == name? If it takes a value, store it and advance *i. */
bool cli_flag(cli *c, int *i, const char *name, const char **value);
/* A duration ("90s", "5m", "1h"); a bare number is seconds. */
bool cli_duration(const char *s, int64_t *ms);
/* Strict integer parse; false on anything but a whole number. */
bool cli_int(const char *s, long long *out);
/* Load the config (--config, $TRACEBOX_CONFIG, ./tracebox.ini, env).
 * Prints the error and returns NULL on failure. Cached. */
tb_config *cli_config(cli *c);
/* Is a config file in play (--config, $TRACEBOX_CONFIG or ./tracebox.ini)? */
bool cli_config_in_play(const cli *c);
/* Is stdout a terminal and colour allowed (NO_COLOR unset)? */
bool cli_color(void);
/* Human age "3m12s" of `seconds`. */
const char *cli_age(long long seconds, char buf[32]);

int cmd_init(cli *c);
int cmd_ingest(cli *c);
int cmd_pending(cli *c);
int cmd_export(cli *c);
int cmd_ship(cli *c);
int cmd_status(cli *c);
int cmd_dead(cli *c);
int cmd_requeue(cli *c);
int cmd_show(cli *c);
int cmd_purge(cli *c);
int cmd_forget(cli *c);
int cmd_demo(cli *c);
int cmd_check(cli *c);
int cmd_serve(cli *c);

#endif
