/*
 * cmd_dead.c — `tracebox dead` (what was refused for good, and why) and
 * `tracebox requeue` (put it back in line once the cause is fixed).
 */
#include "db_util.h"

#include <string.h>

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
    sqlite3 *db = cli_db(c);
    if (!db)
        return EXIT_ERR;
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT x.destination, x.seq, x.reason, x.http_status, x.time, "
                                "r.kind, r.trace_id, r.span_id, r.type, r.name FROM dead_letters "
                                "x LEFT JOIN records r ON r.seq = x.seq WHERE ?1 IS NULL OR "
                                "x.destination = ?1 ORDER BY x.destination, x.seq",
                                -1, &s, NULL);
    if (rc != SQLITE_OK) {
        sqlite3_close(db);
        return cli_fail(EXIT_ERR, "dead: %s", sqlite3_errmsg(db));
    }
    sqlite3_bind_text(s, 1, dest, -1, SQLITE_STATIC);
    int n = 0;
    if (!c->json)
        printf("%-14s %8s %6s %-10s %-30s %s\n", "DESTINATION", "SEQ", "HTTP", "TYPE", "SPAN",
               "REASON");
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        n++;
        if (c->json) {
            printf("{\"destination\":");
            cli_json_str(stdout, cli_col(s, 0));
            printf(",\"seq\":%lld,\"reason\":", (long long)sqlite3_column_int64(s, 1));
            cli_json_str(stdout, cli_col(s, 2));
            printf(",\"http_status\":%lld,\"time\":", (long long)sqlite3_column_int64(s, 3));
            cli_json_str(stdout, cli_col(s, 4));
            printf(",\"trace_id\":");
            cli_json_str(stdout, cli_col(s, 6));
            printf(",\"span_id\":");
            cli_json_str(stdout, sqlite3_column_type(s, 7) == SQLITE_NULL ? NULL : cli_col(s, 7));
            printf("}\n");
        } else {
            const char *status = sqlite3_column_type(s, 3) == SQLITE_NULL ? "-" : cli_col(s, 3);
            printf("%-14s %8lld %6s %-10s %-30s %s\n", cli_col(s, 0),
                   (long long)sqlite3_column_int64(s, 1), status, cli_col(s, 8),
                   sqlite3_column_type(s, 7) == SQLITE_NULL ? cli_col(s, 6) : cli_col(s, 7),
                   cli_col(s, 2));
        }
    }
    if (!c->json && n == 0)
        printf("(no dead letters)\n");
    else if (!c->json)
        printf("\nfix the cause, then: tracebox requeue%s%s --dead\n",
               dest ? " --destination " : "", dest ? dest : "");
    sqlite3_finalize(s);
    sqlite3_close(db);
    return EXIT_OK;
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
    sqlite3 *db = cli_db(c);
    if (!db)
        return EXIT_ERR;
    if (dest) {
        sqlite3_stmt *q = NULL;
        int found = 0;
        if (sqlite3_prepare_v2(db, "SELECT 1 FROM destinations WHERE name = ?1", -1, &q, NULL) ==
            SQLITE_OK) {
            sqlite3_bind_text(q, 1, dest, -1, SQLITE_STATIC);
            found = sqlite3_step(q) == SQLITE_ROW;
        }
        sqlite3_finalize(q);
        if (!found) {
            sqlite3_close(db);
            return cli_fail(EXIT_ERR,
                            "requeue: no destination '%s' in the outbox (see "
                            "`tracebox status`)",
                            dest);
        }
    }
    /* dead letters below the cursor go to `requeued`; those above it just
     * stop being dead. --all rewinds the cursor to the start. */
    const char *sql =
        dead ? "BEGIN IMMEDIATE;"
               "INSERT OR IGNORE INTO requeued (destination, seq) SELECT x.destination, x.seq "
               "FROM dead_letters x JOIN destinations d ON d.name = x.destination "
               "JOIN records r ON r.seq = x.seq "
               "WHERE x.seq <= d.cursor AND (?1 IS NULL OR x.destination = ?1);"
             : "BEGIN IMMEDIATE;"
               "UPDATE destinations SET cursor = 0 WHERE ?1 IS NULL OR name = ?1;"
               "DELETE FROM requeued WHERE ?1 IS NULL OR destination = ?1;";
    /* sqlite3_exec cannot bind: run statement by statement */
    const char *tail = sql;
    int rc = SQLITE_OK;
    long long moved = 0;
    while (rc == SQLITE_OK && tail && *tail) {
        sqlite3_stmt *s = NULL;
        rc = sqlite3_prepare_v2(db, tail, -1, &s, &tail);
        if (rc != SQLITE_OK || !s)
            break;
        if (sqlite3_bind_parameter_count(s) >= 1)
            sqlite3_bind_text(s, 1, dest, -1, SQLITE_STATIC);
        rc = sqlite3_step(s);
        if (rc == SQLITE_DONE || rc == SQLITE_ROW)
            rc = SQLITE_OK;
        moved += sqlite3_changes(db);
        sqlite3_finalize(s);
    }
    sqlite3_stmt *d = NULL;
    if (rc == SQLITE_OK) {
        rc = sqlite3_prepare_v2(db, "DELETE FROM dead_letters WHERE ?1 IS NULL OR destination = ?1",
                                -1, &d, NULL);
        if (rc == SQLITE_OK) {
            sqlite3_bind_text(d, 1, dest, -1, SQLITE_STATIC);
            rc = sqlite3_step(d) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
            if (dead)
                moved = sqlite3_changes(db);
        }
        sqlite3_finalize(d);
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        cli_fail(EXIT_ERR, "requeue: %s; nothing changed", sqlite3_errmsg(db));
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        sqlite3_close(db);
        return EXIT_ERR;
    }
    if (dead)
        printf("requeued %lld dead letter(s)%s%s; they ship on the next `tracebox ship`\n", moved,
               dest ? " for " : "", dest ? dest : "");
    else
        printf("every retained record is back in line%s%s\n", dest ? " for " : "",
               dest ? dest : "");
    sqlite3_close(db);
    return EXIT_OK;
}
