/*
 * cmd_pending.c — `tracebox pending` and `tracebox export`: reading records
 * back out of the outbox (the `pending` view and the `records` table).
 */
#include "db_util.h"

#include <string.h>

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
    sqlite3 *db = cli_db(c);
    if (!db)
        return EXIT_ERR;
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT destination, seq, kind, trace_id, span_id, type, name, "
                                "ended_at, age FROM pending WHERE ?1 IS NULL OR destination = ?1 "
                                "ORDER BY destination, seq LIMIT ?2",
                                -1, &s, NULL);
    if (rc != SQLITE_OK) {
        cli_fail(EXIT_ERR, "pending: %s", sqlite3_errmsg(db));
        sqlite3_close(db);
        return EXIT_ERR;
    }
    sqlite3_bind_text(s, 1, dest, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, limit);
    long long rows = 0;
    if (!c->json)
        printf("%-14s %8s %-5s %-38s %-30s %-10s %-24s %8s\n", "DESTINATION", "SEQ", "KIND",
               "TRACE", "SPAN", "TYPE", "NAME", "AGE");
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        rows++;
        if (c->json) {
            /* one JSON object per line; the strings are ids and names we stored */
            printf("{\"destination\":\"%s\",\"seq\":%lld,\"kind\":\"%s\",\"trace_id\":\"%s\","
                   "\"span_id\":%s%s%s,\"type\":\"%s\",\"age_seconds\":%lld}\n",
                   cli_col(s, 0), (long long)sqlite3_column_int64(s, 1), cli_col(s, 2),
                   cli_col(s, 3), sqlite3_column_type(s, 4) == SQLITE_NULL ? "" : "\"",
                   sqlite3_column_type(s, 4) == SQLITE_NULL ? "null" : cli_col(s, 4),
                   sqlite3_column_type(s, 4) == SQLITE_NULL ? "" : "\"", cli_col(s, 5),
                   (long long)sqlite3_column_int64(s, 8));
        } else {
            char age[32];
            printf("%-14s %8lld %-5s %-38s %-30s %-10s %-24.24s %8s\n", cli_col(s, 0),
                   (long long)sqlite3_column_int64(s, 1), cli_col(s, 2), cli_col(s, 3),
                   cli_col(s, 4), cli_col(s, 5), cli_col(s, 6),
                   cli_age(sqlite3_column_int64(s, 8), age));
        }
    }
    int result = EXIT_OK;
    if (rc != SQLITE_DONE)
        result = cli_fail(EXIT_ERR, "pending: %s", sqlite3_errmsg(db));
    else if (!c->json && rows == 0)
        printf("(nothing pending%s)\n",
               dest ? " for that destination" : "; destinations appear after their first ship");
    sqlite3_finalize(s);
    sqlite3_close(db);
    return result;
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
    sqlite3 *db = cli_db(c);
    if (!db)
        return EXIT_ERR;
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT body FROM records WHERE ?1 IS NULL OR trace_id = ?1 "
                                "ORDER BY seq",
                                -1, &s, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(s, 1, trace, -1, SQLITE_STATIC);
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
            fwrite(sqlite3_column_text(s, 0), 1, (size_t)sqlite3_column_bytes(s, 0), stdout);
            fputc('\n', stdout);
        }
    }
    int result = rc == SQLITE_DONE ? EXIT_OK : cli_fail(EXIT_ERR, "export: %s", sqlite3_errmsg(db));
    sqlite3_finalize(s);
    sqlite3_close(db);
    return result;
}
