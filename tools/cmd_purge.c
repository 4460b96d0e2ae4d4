/*
 * cmd_purge.c — `tracebox purge [--older-than DURATION]`: delete records
 * that every destination has delivered (or dead-lettered), never what is
 * pending, then give the space back (incremental vacuum + WAL truncate).
 */
#include "db_util.h"

#include <sys/stat.h>

static long long file_bytes(const char *path)
{
    struct stat st;
    char wal[4200];
    long long n = stat(path, &st) == 0 ? (long long)st.st_size : 0;
    snprintf(wal, sizeof wal, "%s-wal", path);
    if (stat(wal, &st) == 0)
        n += (long long)st.st_size;
    return n;
}

int cmd_purge(cli *c)
{
    const char *older = NULL;
    int64_t older_ms = 0;
    for (int i = 0; i < c->argc; i++) {
        if (cli_flag(c, &i, "--older-than", &older) && older &&
            tb__parse_duration_ms(older, &older_ms))
            continue;
        return cli_fail(EXIT_USAGE,
                        "purge: bad argument '%s' (usage: tracebox purge "
                        "[--older-than DURATION], e.g. 7d, 12h, 30m)",
                        c->argv[i]);
    }
    const char *path = cli_db_path(c);
    sqlite3 *db = cli_db(c);
    if (!db)
        return EXIT_ERR;
    long long before = file_bytes(path);
    char cutoff[40];
    tb__iso8601(tb__now_us() - older_ms * 1000, cutoff);
    sqlite3_stmt *s = NULL;
    long long deleted = 0;
    int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db,
                                "DELETE FROM records WHERE seq <= (SELECT coalesce(min(cursor), 0) "
                                "FROM destinations) AND created_at <= ?1 AND seq NOT IN (SELECT "
                                "seq FROM requeued)",
                                -1, &s, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(s, 1, cutoff, -1, SQLITE_STATIC);
        rc = sqlite3_step(s) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
        deleted = sqlite3_changes(db);
    }
    sqlite3_finalize(s);
    if (rc == SQLITE_OK && deleted > 0) {
        char sql[128];
        snprintf(sql, sizeof sql, "UPDATE counters SET value = value + %lld WHERE name = 'purged'",
                 deleted);
        rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        cli_fail(EXIT_ERR, "purge: %s; nothing deleted", sqlite3_errmsg(db));
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        sqlite3_close(db);
        return EXIT_ERR;
    }
    sqlite3_exec(db, "PRAGMA incremental_vacuum", NULL, NULL, NULL);
    sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    sqlite3_close(db);
    long long after = file_bytes(path);
    printf("purged %lld delivered record(s); %s: %.1f MiB -> %.1f MiB\n", deleted, path,
           (double)before / 1048576.0, (double)after / 1048576.0);
    return EXIT_OK;
}
