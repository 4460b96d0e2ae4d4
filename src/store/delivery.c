/*
 * delivery.c — the statements behind each destination's delivery state
 * (delivery.h): registration, the lease, reading a batch, and recording
 * what a send did.
 *
 * Design. The shipper (shipper.c) holds the policy — when to send, how to
 * split and bisect, how long to back off — and calls these to read and
 * record, inside its own transactions where a send's outcome must be one
 * commit. Statements are kept on the connection (tb__db_stmt): the
 * shipper runs these every batch, and preparing them again each time was a
 * tenth of a batch for the file exporter; a file migrated by another
 * process between calls makes SQLite prepare them again by itself. The
 * connection's owner (the shipper engine) finalizes them before it closes
 * the connection (tb__db_finalize_all). Every write names the
 * destination; the lease check (tb__delivery_lease_confirm) is how two
 * shippers of one destination never both record a batch.
 */
#include "delivery.h"

#include "db.h"
#include "store.h"

#include <stdarg.h>
#include <string.h>

/* Run `sql` with parameters by `fmt` (s: const char *, i: int64_t). */
static tb_status exec_bind(sqlite3 *db, const char *sql, const char *what, const char *fmt, ...)
{
    int rc;
    sqlite3_stmt *st = tb__db_stmt(db, sql, &rc);
    if (!st)
        return tb__db_error(db, rc, what);
    va_list ap;
    va_start(ap, fmt);
    for (int i = 0; fmt[i]; i++) {
        if (fmt[i] == 's')
            sqlite3_bind_text(st, i + 1, va_arg(ap, const char *), -1, SQLITE_TRANSIENT);
        else
            sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
    }
    va_end(ap);
    rc = sqlite3_step(st);
    tb_status status = rc == SQLITE_DONE || rc == SQLITE_ROW ? TB_OK : tb__db_error(db, rc, what);
    sqlite3_reset(st);
    return status;
}

/* Does `sql` (text parameters a, b, c; NULL: unbound) return a row? */
static bool exists(sqlite3 *db, const char *sql, const char *a, const char *b, const char *c)
{
    int rc;
    sqlite3_stmt *s = tb__db_stmt(db, sql, &rc);
    bool found = false;
    if (s) {
        const char *p[] = {a, b, c};
        for (int i = 0; i < 3; i++)
            if (p[i])
                sqlite3_bind_text(s, i + 1, p[i], -1, SQLITE_STATIC);
        found = sqlite3_step(s) == SQLITE_ROW;
        sqlite3_reset(s);
    }
    return found;
}

tb_status tb__delivery_register(sqlite3 *db, const char *name, const char *type, bool start_latest,
                                const char *now)
{
    return exec_bind(db,
                     "INSERT INTO destinations (name, type, cursor, created_at) VALUES (?1, ?2, "
                     "CASE WHEN ?3 THEN (SELECT coalesce(max(seq), 0) FROM records) ELSE 0 END, "
                     "?4) ON CONFLICT (name) DO UPDATE SET type = excluded.type",
                     "registering a destination", "ssis", name, type, (int64_t)start_latest, now);
}

tb_status tb__delivery_lease_take(sqlite3 *db, const char *name, const char *owner,
                                  const char *until, const char *now, const char *beyond,
                                  bool *held)
{
    tb_status st = exec_bind(db,
                             "UPDATE destinations SET lease_owner = ?2, lease_until = ?3 "
                             "WHERE name = ?1 AND (lease_owner IS NULL OR lease_owner = ?2 OR "
                             "lease_until IS NULL OR lease_until < ?4 OR lease_until > ?5)",
                             "taking the lease", "sssss", name, owner, until, now, beyond);
    *held = st == TB_OK && sqlite3_changes(db) == 1;
    return st;
}

tb_status tb__delivery_lease_renew(sqlite3 *db, const char *name, const char *owner,
                                   const char *until, const char *now, const char *beyond,
                                   int64_t batch_from, bool *held)
{
    tb_status st =
        exec_bind(db,
                  "UPDATE destinations SET lease_owner = ?2, lease_until = ?3 "
                  "WHERE name = ?1 AND ((lease_owner = ?2 AND lease_until >= ?4 AND "
                  "lease_until <= ?5) OR ((lease_owner IS NULL OR lease_until IS NULL "
                  "OR lease_until < ?4 OR lease_until > ?5) AND cursor = ?6))",
                  "renewing the lease", "sssssi", name, owner, until, now, beyond, batch_from);
    *held = st == TB_OK && sqlite3_changes(db) == 1;
    return st;
}

bool tb__delivery_lease_held(sqlite3 *db, const char *name, const char *owner, const char *now)
{
    return exists(db,
                  "SELECT 1 FROM destinations WHERE name = ?1 AND lease_owner = ?2 AND "
                  "lease_until > ?3",
                  name, owner, now);
}

void tb__delivery_lease_release(sqlite3 *db, const char *name, const char *owner)
{
    exec_bind(db,
              "UPDATE destinations SET lease_owner = NULL, lease_until = NULL "
              "WHERE name = ?1 AND lease_owner = ?2",
              "releasing the lease", "ss", name, owner);
}

tb_status tb__delivery_lease_confirm(sqlite3 *db, const char *name, const char *owner, bool *ours)
{
    tb_status st = exec_bind(db,
                             "UPDATE destinations SET lease_until = lease_until WHERE name = ?1 "
                             "AND lease_owner = ?2",
                             "checking the lease", "ss", name, owner);
    *ours = st == TB_OK && sqlite3_changes(db) == 1;
    return st;
}

bool tb__delivery_backing_off(sqlite3 *db, const char *name, const char *now, const char *beyond)
{
    return exists(db,
                  "SELECT 1 FROM destinations WHERE name = ?1 AND next_attempt_at > ?2 AND "
                  "next_attempt_at <= ?3",
                  name, now, beyond);
}

/* The one integer `sql` (one text parameter) returns, or `fallback`. */
static int64_t one_int(sqlite3 *db, const char *sql, const char *name, int64_t fallback)
{
    int rc;
    sqlite3_stmt *st = tb__db_stmt(db, sql, &rc);
    int64_t v = fallback;
    if (st) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            v = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
    }
    return v;
}

int64_t tb__delivery_attempts(sqlite3 *db, const char *name)
{
    return one_int(db, "SELECT attempts FROM destinations WHERE name = ?1", name, 0);
}

int64_t tb__delivery_pending(sqlite3 *db, const char *name)
{
    return one_int(db, "SELECT pending FROM outbox_status WHERE destination = ?1", name, -1);
}

tb_status tb__delivery_read(sqlite3 *db, const char *name, bool requeued, int limit,
                            tb__delivery_row_fn fn, void *ctx)
{
#define COLS TB__RECORD_COLS("r.") ", r.created_at"
    const char *sql = requeued ? "SELECT " COLS " FROM requeued q JOIN records r ON r.seq = q.seq "
                                 "WHERE q.destination = ?1 ORDER BY r.seq LIMIT ?2"
                               /* the per-row dead-letter probe only when the
                                * destination has dead letters at all (the first
                                * subquery runs once; OR stops at a true left side) */
                               : "SELECT " COLS " FROM records r WHERE r.seq > (SELECT cursor "
                                 "FROM destinations WHERE name = ?1) AND (NOT EXISTS (SELECT 1 "
                                 "FROM dead_letters WHERE destination = ?1) OR NOT EXISTS "
                                 "(SELECT 1 FROM dead_letters x WHERE x.destination = ?1 AND "
                                 "x.seq = r.seq)) ORDER BY r.seq LIMIT ?2";
#undef COLS
    int rc;
    sqlite3_stmt *s = tb__db_stmt(db, sql, &rc);
    if (!s)
        return tb__db_error(db, rc, "reading a batch");
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 2, limit);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        tb_record r;
        tb__store_row_record(s, &r);
        if (fn(ctx, &r, (const char *)sqlite3_column_text(s, 10))) {
            rc = SQLITE_DONE;
            break;
        }
    }
    tb_status st = rc == SQLITE_DONE ? TB_OK : tb__db_error(db, rc, "reading a batch");
    sqlite3_reset(s);
    return st;
}

tb_status tb__delivery_dead_letter(sqlite3 *db, const char *name, int64_t seq, const char *reason,
                                   int http_status, const char *now)
{
    return exec_bind(db,
                     "INSERT OR REPLACE INTO dead_letters (destination, seq, reason, http_status, "
                     "time) VALUES (?1, ?2, ?3, nullif(?4, 0), ?5)",
                     "writing a dead letter", "sisis", name, seq, reason ? reason : "refused",
                     (int64_t)http_status, now);
}

tb_status tb__delivery_unrequeue(sqlite3 *db, const char *name, int64_t seq)
{
    return exec_bind(db, "DELETE FROM requeued WHERE destination = ?1 AND seq = ?2",
                     "clearing a requeued record", "si", name, seq);
}

tb_status tb__delivery_advance(sqlite3 *db, const char *name, bool requeued, int64_t from,
                               int64_t last_seq, int64_t delivered, const char *now)
{
    /* a cursor moved back below `from` while the batch was out (tracebox
     * requeue --all) stays where the operator put it */
    return exec_bind(db,
                     "UPDATE destinations SET cursor = CASE WHEN ?2 OR cursor < ?6 THEN cursor "
                     "ELSE max(cursor, ?3) END, delivered = delivered + ?4, last_success_at = "
                     "CASE WHEN ?4 > 0 THEN ?5 ELSE last_success_at END WHERE name = ?1",
                     "advancing the cursor", "siiisi", name, (int64_t)requeued, last_seq, delivered,
                     now, from);
}

int64_t tb__delivery_cursor(sqlite3 *db, const char *name)
{
    return one_int(db, "SELECT cursor FROM destinations WHERE name = ?1", name, 0);
}

tb_status tb__delivery_retry_now(sqlite3 *db, const char *name)
{
    return exec_bind(db,
                     "UPDATE destinations SET next_attempt_at = NULL, auth_failed = 0 "
                     "WHERE name = ?1",
                     "clearing the backoff", "s", name);
}

int64_t tb__delivery_next_attempt_us(sqlite3 *db, const char *name)
{
    int rc;
    sqlite3_stmt *s =
        tb__db_stmt(db, "SELECT next_attempt_at FROM destinations WHERE name = ?1", &rc);
    int64_t us = 0;
    if (s) {
        sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
        if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0) &&
            !tb__parse_iso8601((const char *)sqlite3_column_text(s, 0), &us))
            us = 0;
        sqlite3_reset(s);
    }
    return us;
}

tb_status tb__delivery_succeeded(sqlite3 *db, const char *name, int64_t resent)
{
    return exec_bind(db,
                     "UPDATE destinations SET attempts = 0, next_attempt_at = NULL, "
                     "last_error = NULL, last_status = NULL, auth_failed = 0, "
                     "resent = resent + ?2 WHERE name = ?1",
                     "recording a delivery", "si", name, resent);
}

tb_status tb__delivery_failed(sqlite3 *db, const char *name, int64_t attempts,
                              const char *next_attempt_at, const char *error, int http_status,
                              bool auth_failed, int64_t resent)
{
    return exec_bind(db,
                     "UPDATE destinations SET attempts = ?2, next_attempt_at = ?3, "
                     "last_error = ?4, last_status = nullif(?5, 0), auth_failed = ?6, "
                     "resent = resent + ?7 WHERE name = ?1",
                     "recording a failure", "sissiii", name, attempts, next_attempt_at, error,
                     (int64_t)http_status, (int64_t)auth_failed, resent);
}
