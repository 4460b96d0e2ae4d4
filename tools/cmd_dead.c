/*
 * cmd_dead.c — `tracebox dead` (what was refused for good, and why),
 * `tracebox requeue` (put it back in line once the cause is fixed) and
 * `tracebox forget` (drop a destination's delivery state).
 */
#include "cli.h"

#include <string.h>

static int dead_row(void *ctx, const tb_dead_row *r)
{
    cli *c = ctx;
    c->rows++;
    if (c->json) {
        printf("{\"destination\":");
        cli_json_str(stdout, r->destination);
        printf(",\"seq\":%lld,\"reason\":", (long long)r->seq);
        cli_json_str(stdout, r->reason);
        printf(",\"http_status\":%d,\"time\":", r->http_status);
        cli_json_str(stdout, r->time);
        printf(",\"trace_id\":");
        cli_json_str(stdout, r->trace_id);
        printf(",\"span_id\":");
        cli_json_str(stdout, r->span_id);
        printf("}\n");
    } else {
        char status[16] = "-";
        if (r->http_status)
            snprintf(status, sizeof status, "%d", r->http_status);
        printf("%-14s %8lld %6s %-10s %-30s %s\n", r->destination, (long long)r->seq, status,
               r->type ? r->type : "", r->span_id ? r->span_id : (r->trace_id ? r->trace_id : ""),
               r->reason ? r->reason : "");
    }
    return 0;
}

int cmd_dead(cli *c)
{
    const char *dest = NULL;
    for (int i = 0; i < c->argc; i++) {
        if (cli_flag(c, &i, "--destination", &dest) && dest)
            continue;
        return cli_fail(EXIT_USAGE,
                        "dead: bad argument '%s' (usage: tracebox dead "
                        "[--destination NAME] [--json])",
                        c->argv[i]);
    }
    tb_admin *a = cli_admin(c, false);
    if (!a)
        return EXIT_ERR;
    if (!c->json)
        printf("%-14s %8s %6s %-10s %-30s %s\n", "DESTINATION", "SEQ", "HTTP", "TYPE", "SPAN",
               "REASON");
    c->rows = 0;
    int result = EXIT_OK;
    if (tb_admin_dead(a, dest, dead_row, c) != TB_OK)
        result = cli_fail(EXIT_ERR, "dead: %s", tb_last_error());
    else if (!c->json && c->rows == 0)
        printf("(no dead letters)\n");
    else if (!c->json)
        printf("\nfix the cause, then: tracebox requeue%s%s --dead\n",
               dest ? " --destination " : "", dest ? dest : "");
    tb_admin_close(a);
    return result;
}

int cmd_requeue(cli *c)
{
    const char *dest = NULL;
    bool dead = false, all = false;
    for (int i = 0; i < c->argc; i++) {
        if (cli_flag(c, &i, "--destination", &dest) && dest)
            continue;
        if (cli_flag(c, &i, "--dead", NULL))
            dead = true;
        else if (cli_flag(c, &i, "--all", NULL))
            all = true;
        else
            return cli_fail(EXIT_USAGE,
                            "requeue: bad argument '%s' (usage: tracebox requeue "
                            "[--destination NAME] (--dead|--all))",
                            c->argv[i]);
    }
    if (dead == all)
        return cli_fail(EXIT_USAGE, "requeue: say --dead (dead letters) or --all (every retained "
                                    "record)");
    tb_admin *a = cli_admin(c, true);
    if (!a)
        return EXIT_ERR;
    int64_t requeued = 0, gone = 0;
    tb_status st = tb_admin_requeue(a, dest, all, &requeued, &gone);
    tb_admin_close(a);
    if (st == TB_NOT_FOUND)
        return cli_fail(EXIT_ERR, "requeue: %s (see `tracebox status`)", tb_last_error());
    if (st != TB_OK)
        return cli_fail(EXIT_ERR, "requeue: %s; nothing changed", tb_last_error());
    if (dead)
        printf("requeued %lld dead letter(s)%s%s; they ship on the next `tracebox ship`\n",
               (long long)requeued, dest ? " for " : "", dest ? dest : "");
    else
        printf("every retained record is back in line%s%s\n", dest ? " for " : "",
               dest ? dest : "");
    if (gone)
        printf("%lld dead letter(s) pointed to records no longer in the outbox (purged by an "
               "older tracebox); removed\n",
               (long long)gone);
    return EXIT_OK;
}

int cmd_forget(cli *c)
{
    const char *name = NULL;
    bool force = false;
    for (int i = 0; i < c->argc; i++) {
        if (cli_flag(c, &i, "--force", NULL))
            force = true;
        else if (!name && c->argv[i][0] != '-')
            name = c->argv[i];
        else
            return cli_fail(EXIT_USAGE,
                            "forget: bad argument '%s' (usage: tracebox forget NAME [--force])",
                            c->argv[i]);
    }
    if (!name)
        return cli_fail(EXIT_USAGE, "forget: which destination? (usage: tracebox forget NAME "
                                    "[--force]; names are in `tracebox status`)");
    if (!force && cli_config_in_play(c)) {
        tb_config *cfg = cli_config(c);
        if (!cfg)
            return EXIT_CONFIG;
        if (tb_config_find_destination(cfg, name))
            return cli_fail(EXIT_ERR,
                            "forget: [%s] is in the configuration: it would backfill again on "
                            "the next ship; remove it from the config first, or add --force",
                            name);
    }
    tb_admin *a = cli_admin(c, true);
    if (!a)
        return EXIT_ERR;
    int64_t dropped = 0;
    tb_status st = tb_admin_forget(a, name, &dropped);
    tb_admin_close(a);
    if (st != TB_OK)
        return cli_fail(EXIT_ERR, "forget: %s", tb_last_error());
    printf("forgot %s (and its %lld dead letter(s)); it no longer holds records back from purge\n",
           name, (long long)dropped);
    return EXIT_OK;
}
