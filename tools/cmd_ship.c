/*
 * cmd_ship.c — `tracebox ship`: one-shot (--once, for cron) or a
 * long-running shipper that stops cleanly on SIGTERM/SIGINT.
 */
#include "cli.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct auth_scan {
    const tb_config *cfg;
    const char *only; /* --destination, or NULL: every configured one */
    bool refused;
} auth_scan;

static int auth_row(void *ctx, const tb_dest_status *r)
{
    auth_scan *k = ctx;
    bool shipped = k->only ? strcmp(k->only, r->name) == 0
                           : tb_config_find_destination(k->cfg, r->name) != NULL;
    if (shipped && r->auth_failed)
        k->refused = true;
    return 0;
}

/* Did a destination shipped in this run have its credentials refused? */
static bool auth_refused(cli *c, const tb_config *cfg, const char *only)
{
    tb_admin *a = NULL;
    if (tb_admin_open(&a, cli_db_path(c), TB_ADMIN_READONLY) != TB_OK)
        return false;
    auth_scan k = {cfg, only, false};
    tb_admin_status(a, auth_row, &k);
    tb_admin_close(a);
    return k.refused;
}

/* -q: the library's lines of a run are kept back and printed only when the
 * run does not end with 0 (cron mails only when there is something to do) */
typedef struct held_log {
    char *text;
    size_t len, cap;
} held_log;

static void hold_line(void *ctx, tb_log_level level, const char *msg)
{
    held_log *h = ctx;
    char line[1200];
    int n = snprintf(line, sizeof line, "tracebox: %s%s\n", level == TB_LOG_WARN ? "warning: " : "",
                     msg);
    if (n <= 0)
        return;
    size_t add = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    if (h->len + add + 1 > h->cap) {
        size_t cap = (h->cap + add + 1) * 2;
        char *g = realloc(h->text, cap);
        if (!g)
            return;
        h->text = g;
        h->cap = cap;
    }
    memcpy(h->text + h->len, line, add);
    h->len += add;
    h->text[h->len] = '\0';
}

int cmd_ship(cli *c)
{
    bool once = false, verbose = false, quiet = false, retry_now = false;
    const char *dest = NULL, *max_time = NULL;
    int64_t max_ms = 0;
    for (int i = 0; i < c->argc; i++) {
        if (cli_flag(c, &i, "--once", NULL))
            once = true;
        else if (cli_flag(c, &i, "--verbose", NULL) || cli_flag(c, &i, "-v", NULL))
            verbose = true;
        else if (cli_flag(c, &i, "--quiet", NULL) || cli_flag(c, &i, "-q", NULL))
            quiet = true;
        else if (cli_flag(c, &i, "--retry-now", NULL))
            retry_now = true;
        else if (cli_flag(c, &i, "--destination", &dest) && dest)
            continue;
        else if (cli_flag(c, &i, "--max-time", &max_time) && max_time &&
                 cli_duration(max_time, &max_ms) && max_ms > 0)
            continue;
        else
            return cli_fail(EXIT_USAGE,
                            "ship: bad argument '%s' (usage: tracebox ship [--once] "
                            "[--destination NAME] [--max-time DURATION] [--retry-now] [-q] "
                            "[--config FILE])",
                            c->argv[i]);
    }
    tb_config *cfg = cli_config(c);
    if (!cfg)
        return EXIT_CONFIG;
    const char *db = cli_db_path(c);
    tb_ship_options o = TB_SHIP_OPTIONS_INIT;
    o.destination = dest;
    o.max_time_ms = max_ms;
    o.retry_now = retry_now;
    o.wait = 1; /* with --max-time: sleep through backoffs that end before it */
    /* progress on stderr once work takes more than a second, on a terminal */
    o.verbose = verbose ? 1 : (isatty(STDERR_FILENO) && !quiet ? 2 : 0);
    if (once) {
        tb_ship_report r;
        held_log held = {0};
        if (quiet)
            tb_set_log_callback(hold_line, &held);
        tb_status st = tb_ship_once(db, cfg, &o, &r);
        tb_set_log_callback(NULL, NULL);
        if (st == TB_CONFIG)
            return cli_fail(EXIT_CONFIG, "ship: %s", tb_last_error());
        if (st != TB_OK && r.delivered == 0 && r.pending == 0)
            return cli_fail(EXIT_ERR, "ship: %s", tb_last_error());
        bool refused = auth_refused(c, cfg, dest);
        int rc = refused         ? EXIT_NOPERM
                 : r.pending > 0 ? EXIT_PENDING
                 : st == TB_OK   ? EXIT_OK
                                 : EXIT_ERR;
        if (held.text && rc != EXIT_OK)
            fputs(held.text, stderr);
        free(held.text);
        if (rc != EXIT_OK || !quiet)
            fprintf(stderr,
                    "tracebox: ship: delivered %lld, dead-lettered %lld, still pending %lld%s%s\n",
                    (long long)r.delivered, (long long)r.dead, (long long)r.pending,
                    refused ? " (credentials refused: fix the key, then `tracebox ship --once "
                              "--retry-now`)"
                    : r.backing_off
                        ? " (a destination is backing off past the deadline: see `tracebox "
                          "status`)"
                        : "",
                    "");
        if (st != TB_OK)
            fprintf(stderr, "tracebox: ship: %s\n", tb_last_error());
        return rc;
    }

    /* long-running: block the signals before the thread starts, then wait */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    tb_shipper *sh = NULL;
    tb_status st = tb_shipper_start(&sh, db, cfg, &o);
    if (st != TB_OK)
        return cli_fail(st == TB_CONFIG ? EXIT_CONFIG : EXIT_ERR, "ship: %s", tb_last_error());
    fprintf(stderr, "tracebox: shipping from %s until SIGTERM/SIGINT\n", db);
    int sig = 0;
    if (max_ms > 0) {
        struct timespec ts = {.tv_sec = (time_t)(max_ms / 1000),
                              .tv_nsec = (long)(max_ms % 1000) * 1000000};
        siginfo_t info;
        sig = sigtimedwait(&set, &info, &ts);
    } else {
        sigwait(&set, &sig);
    }
    st = tb_shipper_stop(sh, 15000);
    if (st != TB_OK) {
        /* the detached thread may still read the config: leave without freeing it */
        cli_fail(EXIT_ERR, "ship: %s", tb_last_error());
        fflush(NULL);
        _exit(EXIT_ERR);
    }
    fprintf(stderr, "tracebox: shipper stopped cleanly\n");
    return EXIT_OK;
}
