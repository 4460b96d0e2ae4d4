/*
 * cmd_check.c — `tracebox check [--connect]`: validate the configuration
 * without shipping.
 *
 * Loads the config in play (--config, $TRACEBOX_CONFIG, ./tracebox.ini, or
 * the environment) and lists every error, one per line, in file order.
 * Then, for each destination: its type and each key as it may be shown (a
 * secret as its length, a URL with its credentials masked, headers as
 * their names; tb_dest_config_show) with where it was set and the
 * environment variables behind it, and any ${VAR} it still needs. With
 * --connect, each destination that could be built is sent one empty batch
 * (tb_destination_probe) and the answer is reported.
 *
 * Exit: 0 all good, 78 a configuration error (an unset ${VAR} included),
 * 77 credentials refused, 69 a destination unreachable (with --connect).
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static void list_destination(const tb_dest_config *d)
{
    printf("[%s] %s\n", tb_dest_config_name(d), tb_dest_config_type(d));
    size_t n = tb_dest_config_key_count(d);
    for (size_t i = 0; i < n; i++) {
        const char *key = tb_dest_config_key_name(d, i);
        if (strcmp(key, "type") == 0)
            continue;
        char shown[400];
        tb_dest_config_show(d, key, shown, sizeof shown);
        const char *vars = tb_dest_config_key_vars(d, key);
        printf("    %-16s %s", key, shown);
        if (vars)
            printf("   (from ${%s})", vars);
        printf("   %s\n", tb_dest_config_where(d, key));
    }
}

int cmd_check(cli *c)
{
    bool connect = false;
    for (int i = 0; i < c->argc; i++) {
        if (cli_flag(c, &i, "--connect", NULL))
            connect = true;
        else
            return cli_fail(EXIT_USAGE,
                            "check: bad argument '%s' (usage: tracebox check "
                            "[--connect] [--config FILE])",
                            c->argv[i]);
    }
    tb_config *cfg = NULL;
    char *errors = NULL;
    tb_status st = tb_config_load_report(&cfg, c->config, &errors);
    if (st != TB_OK) {
        fputs(errors ? errors : tb_last_error(), stderr);
        if (!errors)
            fputc('\n', stderr);
        size_t count = 0;
        for (const char *e = errors; e && *e; e++)
            count += *e == '\n';
        fprintf(stderr, "tracebox: check: %zu error(s) in the configuration\n", count ? count : 1);
        tb_free(errors);
        return st == TB_CONFIG ? EXIT_CONFIG : EXIT_ERR;
    }
    int rc = EXIT_OK;
    size_t n = tb_config_destination_count(cfg);
    const char *path = tb_config_outbox_path(cfg);
    printf("outbox: %s\n", path ? path : "(not set: --db, $TRACEBOX_DB or ./tracebox.db)");
    if (n == 0)
        printf("no destinations: records are stored and nothing ships (add a section with a "
               "type, or set a platform's variables)\n");
    size_t unresolved = 0;
    for (size_t i = 0; i < n; i++) {
        const tb_dest_config *d = tb_config_destination(cfg, i);
        list_destination(d);
        if (tb_dest_config_unresolved(d)) {
            /* every key of this destination that still needs a variable */
            fprintf(stderr, "%s\n", tb_dest_config_unresolved(d));
            unresolved++;
            rc = EXIT_CONFIG;
        }
    }
    tb_serve_settings serve;
    if (tb_config_serve_settings(cfg, &serve) != TB_OK) {
        /* [serve] token's variable: only `serve` needs it */
        fprintf(stderr, "%s (only `tracebox serve` needs it)\n", tb_last_error());
        unresolved++;
        rc = EXIT_CONFIG;
    }
    if (connect && rc == EXIT_OK) {
        for (size_t i = 0; i < n; i++) {
            const tb_dest_config *d = tb_config_destination(cfg, i);
            tb_probe_result pr;
            tb_status ps = tb_destination_probe(cfg, tb_dest_config_name(d), &pr);
            const char *verdict = "reachable, accepted";
            int code = EXIT_OK;
            if (ps != TB_OK) {
                verdict = "could not be tried";
                code = EXIT_ERR;
            } else if (pr.outcome == TB_EXPORT_AUTH) {
                verdict = "CREDENTIALS REFUSED";
                code = EXIT_NOPERM;
            } else if (pr.outcome == TB_EXPORT_RETRY && pr.http_status == 0) {
                verdict = "UNREACHABLE";
                code = EXIT_UNAVAILABLE;
            } else if (pr.outcome != TB_EXPORT_DELIVERED) {
                verdict = "reachable, but it refused an empty batch";
            }
            printf("connect [%s]: %s", tb_dest_config_name(d), verdict);
            if (pr.http_status)
                printf(" (HTTP %d)", pr.http_status);
            if (ps != TB_OK)
                printf(": %s", tb_last_error());
            else if (pr.message[0] && code != EXIT_OK)
                printf(": %s", pr.message);
            printf("\n");
            /* the worst wins: credentials, then reachability, then other */
            if (code == EXIT_NOPERM || (code == EXIT_UNAVAILABLE && rc != EXIT_NOPERM) ||
                (code == EXIT_ERR && rc == EXIT_OK))
                rc = code;
        }
    }
    if (rc == EXIT_OK)
        fprintf(stderr, "tracebox: check: OK: %zu destination(s)%s\n", n,
                connect ? ", each reached and accepted" : "");
    else if (unresolved)
        fprintf(stderr,
                "tracebox: check: %zu section(s) need variables that are not set (verbs "
                "that ship nothing work without them)\n",
                unresolved);
    tb_config_free(cfg);
    return rc;
}
