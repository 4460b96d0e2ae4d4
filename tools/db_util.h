/* db_util.h — direct SQLite access for the read/maintenance verbs. */
#ifndef TRACEBOX_DB_UTIL_H
#define TRACEBOX_DB_UTIL_H
#include "cli.h"
#include "outbox_internal.h"

/* Open the outbox for a verb; prints the error and returns NULL on failure. */
sqlite3 *cli_db(cli *c);
/* Column text or "" (never NULL). */
const char *cli_col(sqlite3_stmt *s, int i);
/* The first column of the first row of `sql` (with ?1 bound to `arg` when
 * not NULL), or `fallback` when there is no row or the query fails. */
long long cli_scalar(sqlite3 *db, const char *sql, const char *arg, long long fallback);
/* Write `s` as a JSON string literal (quoted, escaped) to f; NULL -> null. */
void cli_json_str(FILE *f, const char *s);
#endif
