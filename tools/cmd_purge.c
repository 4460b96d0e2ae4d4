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
    int64_t deleted = 0;
    if (tb__db_purge_delivered(db, older_ms, &deleted) != TB_OK) {
        cli_fail(EXIT_ERR, "purge: %s; nothing deleted", tb_last_error());
        sqlite3_close(db);
        return EXIT_ERR;
    }
    sqlite3_exec(db, "PRAGMA incremental_vacuum", NULL, NULL, NULL);
    sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    sqlite3_close(db);
    long long after = file_bytes(path);
    printf("purged %lld delivered record(s); %s: %.1f MiB -> %.1f MiB\n", (long long)deleted, path,
           (double)before / 1048576.0, (double)after / 1048576.0);
    return EXIT_OK;
}
