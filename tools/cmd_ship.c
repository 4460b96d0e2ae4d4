/*
 * cmd_ship.c — `tracebox ship`: one-shot (--once, for cron) or a
 * long-running shipper that stops cleanly on SIGTERM/SIGINT.
 */
#include "cli.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cmd_ship(cli *c)
{
    bool once = false, verbose = false;
    const char *dest = NULL, *max_time = NULL;
    long long max_s = 0;
    for (int i = 0; i < c->argc; i++) {
        if (cli_flag(c, &i, "--once", NULL))
            once = true;
        else if (cli_flag(c, &i, "--verbose", NULL) || cli_flag(c, &i, "-v", NULL))
            verbose = true;
        else if (cli_flag(c, &i, "--destination", &dest) && dest)
            continue;
        else if (cli_flag(c, &i, "--max-time", &max_time) && cli_int(max_time, &max_s) && max_s > 0)
            continue;
        else
            return cli_fail(EXIT_USAGE,
                            "ship: bad argument '%s' (usage: tracebox ship [--once] "
                            "[--destination NAME] [--max-time SECONDS] [--config FILE])",
                            c->argv[i]);
    }
    tb_config *cfg = cli_config(c);
    if (!cfg)
        return EXIT_CONFIG;
    const char *db = cli_db_path(c);
    tb_ship_options o = TB_SHIP_OPTIONS_INIT;
    o.destination = dest;
    o.max_time_ms = max_s * 1000;
    /* progress on stderr once work takes more than a second, on a terminal */
    o.verbose = verbose ? 1 : (isatty(STDERR_FILENO) ? 2 : 0);
    if (once) {
        tb_ship_report r;
        tb_status st = tb_ship_once(db, cfg, &o, &r);
        if (st == TB_CONFIG)
            return cli_fail(EXIT_CONFIG, "ship: %s", tb_last_error());
        if (st != TB_OK && r.delivered == 0 && r.pending == 0)
            return cli_fail(EXIT_ERR, "ship: %s", tb_last_error());
        fprintf(stderr,
                "tracebox: ship: delivered %lld, dead-lettered %lld, still pending %lld%s\n",
                (long long)r.delivered, (long long)r.dead, (long long)r.pending,
                r.backing_off ? " (a destination is backing off: see `tracebox status`)" : "");
        if (st != TB_OK)
            fprintf(stderr, "tracebox: ship: %s\n", tb_last_error());
        return r.pending > 0 ? EXIT_PENDING : (st == TB_OK ? EXIT_OK : EXIT_ERR);
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
    if (max_s > 0) {
        struct timespec ts = {.tv_sec = (time_t)max_s};
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
