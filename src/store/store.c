/*
 * store.c — what operators ask of the outbox tables, and the one rule for
 * deleting records.
 *
 * Design. The file's tables are a contract (schema/, README): operators
 * read them with the sqlite3 shell, so the statements here read the same
 * views they do (`pending`, `outbox_status`) rather than a private copy of
 * their logic. Every statement is parameterised; rows go to the caller's
 * callback as borrowed strings (include/tracebox/admin.h), so a million
 * pending rows are never held in memory. Writes (requeue, forget, purge)
 * are one BEGIN IMMEDIATE transaction each: they either happen whole or not
 * at all, and a shipper running meanwhile sees one or the other.
 *
 * The deletion rule (TB__STORE_DELETABLE, store.h) is written once and used
 * by purge and retention (tb__store_purge) and by the size cap
 * (tb__store_evict): a record a dead letter points to is never deleted, so
 * `requeue --dead` always has something to put back.
 */
#include "store.h"

#include "db.h"

#include <string.h>

/* (sqlite3_column_text is NULL for an SQL NULL: no type asked first) */
static const char *col(sqlite3_stmt *s, int i)
{
    return (const char *)sqlite3_column_text(s, i);
}

void tb__store_row_record(sqlite3_stmt *s, tb_record *r)
{
    *r = (tb_record){.seq = sqlite3_column_int64(s, 0),
                     .kind = col(s, 1),
                     .trace_id = col(s, 2),
                     .span_id = col(s, 3),
                     .parent_id = col(s, 4),
                     .type = col(s, 5),
                     .name = col(s, 6),
                     .started_at = col(s, 7),
                     .ended_at = col(s, 8),
                     .body = col(s, 9),
                     .body_len = (size_t)sqlite3_column_bytes(s, 9)};
}

/* Prepare, bind text parameters (NULL binds NULL), report failure. */
static tb_status prepare(sqlite3 *db, sqlite3_stmt **s, const char *sql, const char *what,
                         const char *p1, const char *p2)
{
    int rc = sqlite3_prepare_v2(db, sql, -1, s, NULL);
    if (rc != SQLITE_OK) {
        sqlite3_finalize(*s);
        *s = NULL;
        return tb__db_error(db, rc, what);
    }
    int n = sqlite3_bind_parameter_count(*s);
    if (n >= 1)
        sqlite3_bind_text(*s, 1, p1, -1, SQLITE_TRANSIENT);
    if (n >= 2)
        sqlite3_bind_text(*s, 2, p2, -1, SQLITE_TRANSIENT);
    return TB_OK;
}

/* Step to the end: TB_OK, or the error naming `what`. */
static tb_status finish(sqlite3 *db, sqlite3_stmt *s, int rc, const char *what)
{
    sqlite3_finalize(s);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? TB_OK : tb__db_error(db, rc, what);
}

/* prepare() for a question asked again and again (the shipper asks it for
 * every trace of a batch) on a connection that keeps its statements
 * (tb__db_stmt: one asked again from inside an exporter's callback, while
 * the first is stepping, gets one of its own). keep false: an ordinary
 * prepare. End it with finish_kept(). */
static tb_status prepare_kept(sqlite3 *db, bool keep, sqlite3_stmt **s, const char *sql,
                              const char *what, const char *p1)
{
    if (!keep)
        return prepare(db, s, sql, what, p1, NULL);
    int rc;
    if (!(*s = tb__db_stmt(db, sql, &rc)))
        return tb__db_error(db, rc, what);
    sqlite3_bind_text(*s, 1, p1, -1, SQLITE_TRANSIENT);
    return TB_OK;
}

static tb_status finish_kept(sqlite3 *db, bool keep, sqlite3_stmt *s, int rc, const char *what)
{
    if (!keep)
        return finish(db, s, rc, what);
    tb_status st = rc == SQLITE_DONE || rc == SQLITE_ROW ? TB_OK : tb__db_error(db, rc, what);
    sqlite3_reset(s);
    return st;
}

static tb_status scalar(sqlite3 *db, const char *sql, const char *p1, const char *what,
                        int64_t *out)
{
    sqlite3_stmt *s = NULL;
    tb_status st = prepare(db, &s, sql, what, p1, NULL);
    if (st != TB_OK)
        return st;
    int rc = sqlite3_step(s);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    return finish(db, s, rc, what);
}

static tb_status exec_bound(sqlite3 *db, const char *sql, const char *p1, const char *what,
                            int64_t *changes)
{
    sqlite3_stmt *s = NULL;
    tb_status st = prepare(db, &s, sql, what, p1, NULL);
    if (st != TB_OK)
        return st;
    int rc = sqlite3_step(s);
    if (changes)
        *changes = rc == SQLITE_DONE ? sqlite3_changes(db) : 0;
    return finish(db, s, rc, what);
}

/* ---- deleting ----------------------------------------------------------- */

tb_status tb__store_purge(sqlite3 *db, int64_t older_than_ms, bool keep_all, int64_t *deleted)
{
    char cutoff[40];
    tb__iso8601(tb__now_us() - older_than_ms * 1000, cutoff);
    *deleted = 0;
    if (keep_all)
        return TB_OK;
    tb_status st = tb__db_exec(db, "BEGIN IMMEDIATE", "starting a purge");
    if (st != TB_OK)
        return st;
    /* oldest first, up to the first record inside the window (records are
     * appended in time order; one written under a clock stepped back waits
     * for the next purge): no index on created_at needed
     * (schema/004_purge_by_seq.sql), and only what goes is read */
    st = exec_bound(db,
                    "DELETE FROM records WHERE " TB__STORE_DELETABLE " AND created_at <= ?1 "
                    "AND seq < coalesce((SELECT seq FROM records WHERE created_at > ?1 "
                    "ORDER BY seq LIMIT 1), 9223372036854775807)",
                    cutoff, "purging delivered records", deleted);
    if (st == TB_OK && *deleted > 0)
        st = tb__db_counter_add(db, "purged", *deleted);
    if (st == TB_OK)
        st = tb__db_exec(db, "COMMIT", "committing a purge");
    if (st != TB_OK) {
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        *deleted = 0;
    }
    return st;
}

tb_status tb__store_evict(sqlite3 *db, int limit, int64_t *evicted)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "DELETE FROM records WHERE seq IN (SELECT seq FROM records WHERE " TB__STORE_DELETABLE
             " ORDER BY seq LIMIT %d)",
             limit > 0 ? limit : 1);
    tb_status st = exec_bound(db, sql, NULL, "evicting delivered records", evicted);
    if (st == TB_OK && *evicted > 0)
        st = tb__db_counter_add(db, "evicted_delivered", *evicted);
    return st;
}

/* ---- reading ------------------------------------------------------------ */

tb_status tb__store_figures(sqlite3 *db, tb_admin_figures *f)
{
    /* the last seq handed out minus the rows deleted (schema/003_status.sql:
     * no holes but deletes), not a count that grows with the file; a file
     * of an older schema opened read-only counts */
    tb_status st = TB_OK;
    sqlite3_stmt *probe = NULL;
    bool counted =
        sqlite3_prepare_v2(db, "SELECT rows FROM records_deleted", -1, &probe, NULL) == SQLITE_OK;
    sqlite3_finalize(probe);
    if (counted)
        st = scalar(db,
                    "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'records'), 0) "
                    "- coalesce((SELECT rows FROM records_deleted WHERE id = 1), 0)",
                    NULL, "counting records", &f->records);
    else
        st = scalar(db, "SELECT count(*) FROM records", NULL, "counting records", &f->records);
    static const struct {
        const char *name;
        size_t off;
    } k_counters[] = {
        {"refused_full", offsetof(tb_admin_figures, refused_full)},
        {"dropped_queue", offsetof(tb_admin_figures, dropped_queue)},
        {"purged", offsetof(tb_admin_figures, purged)},
        {"evicted_delivered", offsetof(tb_admin_figures, evicted_delivered)},
        {"rejected_unnamed", offsetof(tb_admin_figures, rejected_unnamed)},
        {"skipped", offsetof(tb_admin_figures, skipped)},
    };
    for (size_t i = 0; st == TB_OK && i < sizeof k_counters / sizeof k_counters[0]; i++)
        st = scalar(db, "SELECT coalesce(max(value), 0) FROM counters WHERE name = ?1",
                    k_counters[i].name, "reading counters",
                    (int64_t *)(void *)((char *)f + k_counters[i].off));
    return st;
}

tb_status tb__store_status(sqlite3 *db, tb_dest_status_fn fn, void *ctx)
{
    sqlite3_stmt *s = NULL;
    tb_status st =
        prepare(db, &s,
                "SELECT o.destination, o.type, o.pending, coalesce(o.oldest_pending_age, 0), "
                "o.delivered, o.dead, o.attempts, d.resent, d.cursor, o.last_error, "
                "o.next_attempt_at, o.last_success_at, o.lease_owner, d.auth_failed "
                "FROM outbox_status o JOIN destinations d ON d.name = o.destination "
                "ORDER BY o.destination",
                "reading status", NULL, NULL);
    if (st != TB_OK)
        return st;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        tb_dest_status r = {
            .name = col(s, 0),
            .type = col(s, 1),
            .pending = sqlite3_column_int64(s, 2),
            .oldest_pending_age_s = sqlite3_column_int64(s, 3),
            .delivered = sqlite3_column_int64(s, 4),
            .dead = sqlite3_column_int64(s, 5),
            .attempts = sqlite3_column_int64(s, 6),
            .resent = sqlite3_column_int64(s, 7),
            .cursor = sqlite3_column_int64(s, 8),
            .last_error = col(s, 9),
            .next_attempt_at = col(s, 10),
            .last_success_at = col(s, 11),
            .lease_owner = col(s, 12),
            .auth_failed = sqlite3_column_int(s, 13) != 0,
        };
        if (fn(ctx, &r))
            break;
    }
    return finish(db, s, rc, "reading status");
}

tb_status tb__store_pending(sqlite3 *db, const char *destination, int64_t limit, tb_pending_fn fn,
                            void *ctx)
{
    sqlite3_stmt *s = NULL;
    tb_status st = prepare(db, &s,
                           "SELECT destination, seq, kind, trace_id, span_id, type, name, "
                           "ended_at, age FROM pending WHERE ?1 IS NULL OR destination = ?1 "
                           "ORDER BY destination, seq LIMIT ?2",
                           "reading pending records", destination, NULL);
    if (st != TB_OK)
        return st;
    sqlite3_bind_int64(s, 2, limit > 0 ? limit : -1);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        tb_pending_row r = {.destination = col(s, 0),
                            .seq = sqlite3_column_int64(s, 1),
                            .kind = col(s, 2),
                            .trace_id = col(s, 3),
                            .span_id = col(s, 4),
                            .type = col(s, 5),
                            .name = col(s, 6),
                            .ended_at = col(s, 7),
                            .age_s = sqlite3_column_int64(s, 8)};
        if (fn(ctx, &r))
            break;
    }
    return finish(db, s, rc, "reading pending records");
}

tb_status tb__store_dead(sqlite3 *db, const char *destination, tb_dead_fn fn, void *ctx)
{
    sqlite3_stmt *s = NULL;
    tb_status st = prepare(db, &s,
                           "SELECT x.destination, x.seq, x.reason, x.http_status, x.time, r.kind, "
                           "r.trace_id, r.span_id, r.type, r.name FROM dead_letters x LEFT JOIN "
                           "records r ON r.seq = x.seq WHERE ?1 IS NULL OR x.destination = ?1 "
                           "ORDER BY x.destination, x.seq",
                           "reading dead letters", destination, NULL);
    if (st != TB_OK)
        return st;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        tb_dead_row r = {.destination = col(s, 0),
                         .seq = sqlite3_column_int64(s, 1),
                         .reason = col(s, 2),
                         .http_status = sqlite3_column_int(s, 3),
                         .time = col(s, 4),
                         .kind = col(s, 5),
                         .trace_id = col(s, 6),
                         .span_id = col(s, 7),
                         .type = col(s, 8),
                         .name = col(s, 9)};
        if (fn(ctx, &r))
            break;
    }
    return finish(db, s, rc, "reading dead letters");
}

tb_status tb__store_records(sqlite3 *db, const char *trace_id, tb_record_fn fn, void *ctx)
{
    sqlite3_stmt *s = NULL;
    tb_status st = prepare(db, &s,
                           trace_id ? "SELECT " TB__RECORD_COLS("") " FROM records WHERE "
                                                                    "trace_id = ?1 ORDER BY seq"
                                    : "SELECT " TB__RECORD_COLS("") " FROM records ORDER BY seq",
                           "reading records", trace_id, NULL);
    if (st != TB_OK)
        return st;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        tb_record r;
        tb__store_row_record(s, &r);
        if (fn(ctx, &r))
            break;
    }
    return finish(db, s, rc, "reading records");
}

tb_status tb__store_trace_record(sqlite3 *db, bool keep, const char *trace_id, char **out)
{
    *out = NULL;
    sqlite3_stmt *s = NULL;
    tb_status st = prepare_kept(db, keep, &s,
                                "SELECT body FROM records WHERE kind = 'trace' AND trace_id = ?1",
                                "reading a trace record", trace_id);
    if (st != TB_OK)
        return st;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const char *body = col(s, 0);
        if (body && !(*out = tb__strndup(body, (size_t)sqlite3_column_bytes(s, 0)))) {
            finish_kept(db, keep, s, rc, "reading a trace record");
            return tb__set_error(TB_NOMEM, "out of memory reading a trace record");
        }
    }
    st = finish_kept(db, keep, s, rc, "reading a trace record");
    if (st == TB_OK && !*out)
        st = tb__set_error(TB_NOT_FOUND, "no trace record %s in the outbox", trace_id);
    return st;
}

tb_status tb__store_trace_spans(sqlite3 *db, bool keep, const char *trace_id, int64_t before_seq,
                                const char *const *types, tb_record_fn fn, void *ctx)
{
    sqlite3_stmt *s = NULL;
    /* `seq < ?2` as a plain range: the trace_id index holds the rowid, so
     * SQLite walks only the trace's records before before_seq (for a batch
     * that holds the rest of the trace, usually none) instead of all of
     * them, each read from the table to be tested */
    tb_status st =
        prepare_kept(db, keep, &s,
                     "SELECT " TB__RECORD_COLS("") " FROM records WHERE trace_id = ?1 AND "
                                                   "seq < ?2 AND kind = 'span' ORDER BY seq",
                     "reading a trace's spans", trace_id);
    if (st != TB_OK)
        return st;
    sqlite3_bind_int64(s, 2, before_seq > 0 ? before_seq : INT64_MAX);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *type = col(s, 5);
        bool wanted = !types;
        for (size_t i = 0; !wanted && types[i]; i++)
            wanted = type && strcmp(type, types[i]) == 0;
        if (!wanted)
            continue;
        tb_record r;
        tb__store_row_record(s, &r);
        if (fn(ctx, &r))
            break;
    }
    return finish_kept(db, keep, s, rc, "reading a trace's spans");
}

tb_status tb__store_trace_delivery(sqlite3 *db, const char *trace_id, tb_trace_delivery_fn fn,
                                   void *ctx)
{
    sqlite3_stmt *s = NULL;
    tb_status st = prepare(
        db, &s,
        "SELECT d.name, (SELECT count(*) FROM records r WHERE r.trace_id = ?1 AND r.seq <= "
        "d.cursor AND r.seq NOT IN (SELECT seq FROM dead_letters x WHERE x.destination = d.name) "
        "AND r.seq NOT IN (SELECT seq FROM requeued q WHERE q.destination = d.name)), "
        "(SELECT count(*) FROM pending p WHERE p.destination = d.name AND p.trace_id = ?1), "
        "(SELECT count(*) FROM dead_letters x JOIN records r ON r.seq = x.seq WHERE "
        "x.destination = d.name AND r.trace_id = ?1) FROM destinations d ORDER BY d.name",
        "reading a trace's delivery", trace_id, NULL);
    if (st != TB_OK)
        return st;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        tb_trace_delivery r = {.destination = col(s, 0),
                               .delivered = sqlite3_column_int64(s, 1),
                               .pending = sqlite3_column_int64(s, 2),
                               .dead = sqlite3_column_int64(s, 3)};
        if (fn(ctx, &r))
            break;
    }
    return finish(db, s, rc, "reading a trace's delivery");
}

tb_status tb__store_traces(sqlite3 *db, int64_t limit, tb_trace_row_fn fn, void *ctx)
{
    /* the distinct trace ids among the newest records (a bounded scan down
     * seq), then each one's figures through the trace_id index */
    sqlite3_stmt *s = NULL;
    tb_status st = prepare(
        db, &s,
        "WITH t AS (SELECT trace_id, max(seq) AS last FROM (SELECT trace_id, seq FROM records "
        "ORDER BY seq DESC LIMIT ?3) GROUP BY trace_id ORDER BY last DESC LIMIT ?2) "
        "SELECT t.trace_id, coalesce((SELECT r.name FROM records r WHERE r.trace_id = t.trace_id "
        "AND r.kind = 'trace'), (SELECT r.name FROM records r WHERE r.trace_id = t.trace_id AND "
        "r.kind <> 'trace' AND r.parent_id IS NULL ORDER BY r.seq LIMIT 1)), "
        "(SELECT min(r.started_at) FROM records r WHERE r.trace_id = t.trace_id), "
        "(SELECT max(r.ended_at) FROM records r WHERE r.trace_id = t.trace_id), "
        "(SELECT count(*) FROM records r WHERE r.trace_id = t.trace_id AND r.kind <> 'trace'), "
        "(SELECT count(*) FROM records r WHERE r.trace_id = t.trace_id AND r.kind <> 'trace' "
        "AND r.error IS NOT NULL), t.last FROM t ORDER BY t.last DESC",
        "reading the latest traces", NULL, NULL);
    if (st != TB_OK)
        return st;
    if (limit <= 0)
        limit = 50;
    sqlite3_bind_int64(s, 2, limit);
    sqlite3_bind_int64(s, 3, limit > 1000 ? limit * 20 : 20000);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        tb_trace_row r = {.trace_id = col(s, 0),
                          .name = col(s, 1),
                          .started_at = col(s, 2),
                          .ended_at = col(s, 3),
                          .spans = sqlite3_column_int64(s, 4),
                          .errors = sqlite3_column_int64(s, 5),
                          .last_seq = sqlite3_column_int64(s, 6)};
        if (fn(ctx, &r))
            break;
    }
    return finish(db, s, rc, "reading the latest traces");
}

tb_status tb__store_has_destination(sqlite3 *db, const char *name, bool *found)
{
    int64_t n = 0;
    tb_status st = scalar(db, "SELECT count(*) FROM destinations WHERE name = ?1", name,
                          "reading destinations", &n);
    *found = n > 0;
    return st;
}

/* ---- writing ------------------------------------------------------------ */

tb_status tb__store_requeue(sqlite3 *db, const char *destination, bool all, int64_t *requeued,
                            int64_t *gone)
{
    *requeued = *gone = 0;
    tb_status st = tb__db_exec(db, "BEGIN IMMEDIATE", "starting a requeue");
    if (st != TB_OK)
        return st;
    int64_t n = 0;
    if (all) {
        /* every retained record back in line: rewind the cursor */
        st = scalar(db,
                    "SELECT count(*) FROM destinations d JOIN records r WHERE ?1 IS NULL OR "
                    "d.name = ?1",
                    destination, "counting records to requeue", requeued);
        if (st == TB_OK)
            st = exec_bound(db, "UPDATE destinations SET cursor = 0 WHERE ?1 IS NULL OR name = ?1",
                            destination, "rewinding cursors", &n);
        if (st == TB_OK)
            st = exec_bound(db, "DELETE FROM requeued WHERE ?1 IS NULL OR destination = ?1",
                            destination, "clearing requeued records", &n);
    } else {
        /* dead letters below the cursor go to `requeued`; those above it
         * only stop being dead. Either way the record must still exist. */
        int64_t below = 0, above = 0;
        st = exec_bound(db,
                        "INSERT OR IGNORE INTO requeued (destination, seq) SELECT x.destination, "
                        "x.seq FROM dead_letters x JOIN destinations d ON d.name = x.destination "
                        "JOIN records r ON r.seq = x.seq WHERE x.seq <= d.cursor AND "
                        "(?1 IS NULL OR x.destination = ?1)",
                        destination, "requeueing dead letters", &below);
        if (st == TB_OK)
            st = scalar(db,
                        "SELECT count(*) FROM dead_letters x JOIN destinations d ON d.name = "
                        "x.destination JOIN records r ON r.seq = x.seq WHERE x.seq > d.cursor AND "
                        "(?1 IS NULL OR x.destination = ?1)",
                        destination, "requeueing dead letters", &above);
        if (st == TB_OK)
            st = scalar(db,
                        "SELECT count(*) FROM dead_letters x WHERE (?1 IS NULL OR x.destination = "
                        "?1) AND x.seq NOT IN (SELECT seq FROM records)",
                        destination, "requeueing dead letters", gone);
        *requeued = below + above;
    }
    if (st == TB_OK)
        st = exec_bound(db, "DELETE FROM dead_letters WHERE ?1 IS NULL OR destination = ?1",
                        destination, "removing requeued dead letters", &n);
    if (st == TB_OK)
        st = tb__db_exec(db, "COMMIT", "committing a requeue");
    if (st != TB_OK) {
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        *requeued = *gone = 0;
    }
    return st;
}

tb_status tb__store_forget(sqlite3 *db, const char *destination, int64_t *dead_dropped)
{
    *dead_dropped = 0;
    tb_status st = tb__db_exec(db, "BEGIN IMMEDIATE", "starting to forget a destination");
    int64_t n = 0;
    if (st == TB_OK)
        st = exec_bound(db, "DELETE FROM dead_letters WHERE destination = ?1", destination,
                        "forgetting dead letters", dead_dropped);
    if (st == TB_OK)
        st = exec_bound(db, "DELETE FROM requeued WHERE destination = ?1", destination,
                        "forgetting requeued records", &n);
    if (st == TB_OK)
        st = exec_bound(db, "DELETE FROM destinations WHERE name = ?1", destination,
                        "forgetting a destination", &n);
    if (st == TB_OK)
        st = tb__db_exec(db, "COMMIT", "committing");
    if (st != TB_OK) {
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        *dead_dropped = 0;
    }
    return st;
}
