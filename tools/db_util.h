/* db_util.h — direct SQLite access for the read/maintenance verbs. */
#ifndef TRACEBOX_DB_UTIL_H
#define TRACEBOX_DB_UTIL_H
#include "cli.h"
#include "outbox_internal.h"

/* Open the outbox for a verb; prints the error and returns NULL on failure. */
sqlite3 *cli_db(cli *c);
/* Column text or "" (never NULL). */
const char *cli_col(sqlite3_stmt *s, int i);
/* Write `s` as a JSON string literal (quoted, escaped) to f; NULL -> null. */
void cli_json_str(FILE *f, const char *s);
#endif
