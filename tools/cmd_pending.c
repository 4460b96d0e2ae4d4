/*
 * cmd_pending.c — `tracebox pending` and `tracebox export`: reading records
 * back out of the outbox (the `pending` view and the `records` table),
 * read-only.
 */
#include "cli.h"

#include <string.h>

static const char *str(const char *s)
{
    return s ? s : "";
}

static int pending_row(void *ctx, const tb_pending_row *r)
{
    cli *c = ctx;
    if (c->json) {
        printf("{\"destination\":");
        cli_json_str(stdout, r->destination);
        printf(",\"seq\":%lld,\"kind\":", (long long)r->seq);
        cli_json_str(stdout, r->kind);
        printf(",\"trace_id\":");
        cli_json_str(stdout, r->trace_id);
        printf(",\"span_id\":");
        cli_json_str(stdout, r->span_id);
        printf(",\"type\":");
        cli_json_str(stdout, r->type);
        printf(",\"age_seconds\":%lld}\n", (long long)r->age_s);
    } else {
        char age[32];
        printf("%-14s %8lld %-5s %-38s %-30s %-10s %-24.24s %8s\n", str(r->destination),
               (long long)r->seq, str(r->kind), str(r->trace_id), str(r->span_id), str(r->type),
               str(r->name), cli_age(r->age_s, age));
    }
    c->rows++;
    return 0;
}

int cmd_pending(cli *c)
{
    const char *dest = NULL, *limit_s = NULL;
    long long limit = 50;
    for (int i = 0; i < c->argc; i++) {
        if (cli_flag(c, &i, "--destination", &dest) && dest)
            continue;
        if (cli_flag(c, &i, "--limit", &limit_s) && cli_int(limit_s, &limit) && limit > 0)
            continue;
        return cli_fail(EXIT_USAGE,
                        "pending: bad argument '%s' (usage: tracebox pending "
                        "[--destination NAME] [--limit N] [--json])",
                        c->argv[i]);
    }
    tb_admin *a = cli_admin(c, false);
    if (!a)
        return EXIT_ERR;
    if (!c->json)
        printf("%-14s %8s %-5s %-38s %-30s %-10s %-24s %8s\n", "DESTINATION", "SEQ", "KIND",
               "TRACE", "SPAN", "TYPE", "NAME", "AGE");
    c->rows = 0;
    int result = EXIT_OK;
    if (tb_admin_pending(a, dest, limit, pending_row, c) != TB_OK)
        result = cli_fail(EXIT_ERR, "pending: %s", tb_last_error());
    else if (!c->json && c->rows == 0)
        printf("(nothing pending%s)\n",
               dest ? " for that destination" : "; destinations appear after their first ship");
    tb_admin_close(a);
    return result;
}

static int export_row(void *ctx, const tb_record *r)
{
    (void)ctx;
    fwrite(r->body, 1, r->body_len, stdout);
    fputc('\n', stdout);
    return 0;
}

int cmd_export(cli *c)
{
    const char *trace = NULL;
    for (int i = 0; i < c->argc; i++) {
        if (cli_flag(c, &i, "--trace", &trace) && trace)
            continue;
        return cli_fail(EXIT_USAGE,
                        "export: bad argument '%s' (usage: tracebox export "
                        "[--trace ID])",
                        c->argv[i]);
    }
    tb_admin *a = cli_admin(c, false);
    if (!a)
        return EXIT_ERR;
    int result = EXIT_OK;
    if (tb_admin_records(a, trace, export_row, NULL) != TB_OK)
        result = cli_fail(EXIT_ERR, "export: %s", tb_last_error());
    tb_admin_close(a);
    return result;
}
