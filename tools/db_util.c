/*
 * db_util.c — direct SQLite access shared by the read and maintenance
 * verbs (status, pending, show, dead, requeue, purge, demo).
 */
#include "db_util.h"

sqlite3 *cli_db(cli *c)
{
    sqlite3 *db = NULL;
    if (tb__db_open(&db, cli_db_path(c), 10000, 1, 0) != TB_OK) {
        cli_fail(EXIT_ERR, "%s", tb_last_error());
        return NULL;
    }
    return db;
}

const char *cli_col(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? (const char *)t : "";
}

void cli_json_str(FILE *f, const char *s)
{
    if (!s) {
        fputs("null", f);
        return;
    }
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", f);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

long long cli_scalar(sqlite3 *db, const char *sql, const char *arg, long long fallback)
{
    sqlite3_stmt *s = NULL;
    long long v = fallback;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK) {
        if (arg)
            sqlite3_bind_text(s, 1, arg, -1, SQLITE_STATIC);
        if (sqlite3_step(s) == SQLITE_ROW)
            v = sqlite3_column_int64(s, 0);
    }
    sqlite3_finalize(s);
    return v;
}
