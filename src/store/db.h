/*
 * db.h — a connection to an outbox file (internal; implemented in db.c):
 * opening it with the house pragmas, checking and migrating the schema,
 * and the small helpers every statement of the store floor uses.
 */
#ifndef TRACEBOX_DB_H
#define TRACEBOX_DB_H

#include "internal.h"

#include <sqlite3.h>

/* The application_id stamped into every outbox ("TBOX"). */
#define TB__APP_ID 0x54424f58

/* Open a connection to an outbox file: refuse non-outboxes untouched,
 * rename a corrupt one aside, create with mode 0600, set WAL, busy timeout
 * and synchronous, migrate (unless readonly). On failure *out is NULL and
 * the thread's last error is set. */
tb_status tb__db_open(sqlite3 **out, const char *path, int busy_timeout_ms, int synchronous_full,
                      int readonly);

/* Close without a checkpoint (before fork(); see db.c). NULL is fine. */
void tb__db_close_quietly(sqlite3 *db);
/* Run `sql` (no rows expected); on failure set the last error naming `what`. */
tb_status tb__db_exec(sqlite3 *db, const char *sql, const char *what);

/* A statement for `sql` kept on the connection: prepared on first use
 * (SQLITE_PREPARE_PERSISTENT), found again by its text among the
 * connection's statements that are not running, and handed out reset with
 * its bindings cleared. The caller resets it when done and never finalizes
 * it; whoever closes the connection calls tb__db_finalize_all first. For a
 * connection that runs the same few statements over and over (the
 * shipper's: a dozen a batch, each 50 000-190 000 instructions to prepare).
 * NULL on failure, with the SQLite code in *rc. */
sqlite3_stmt *tb__db_stmt(sqlite3 *db, const char *sql, int *rc);
/* Finalize every statement of the connection (before sqlite3_close). */
void tb__db_finalize_all(sqlite3 *db);

/* Map an SQLite result code to a tb_status (SQLITE_FULL -> TB_FULL, …). */
tb_status tb__db_status(int rc);

/* Set the thread's last error from the connection: "<what>: <errmsg>". */
tb_status tb__db_error(sqlite3 *db, int rc, const char *what);

/* The schema version this library writes. */
int tb__schema_version(void);

/* Bytes of the connection's -wal file (0 when there is none). */
int64_t tb__db_wal_bytes(sqlite3 *db);

/* Bytes used by live pages (page_count - freelist_count) * page_size. */
int64_t tb__db_used_bytes(sqlite3 *db);

/* Add `delta` to counters.name (inside the caller's transaction). */
tb_status tb__db_counter_add(sqlite3 *db, const char *name, int64_t delta);

#endif
