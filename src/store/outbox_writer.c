/*
 * outbox_writer.c — group commit: how queued records reach `records`.
 *
 * Every put joins the handle's queue. In `full`/`normal` mode the first
 * caller to find no leader becomes the leader: it takes the whole queue,
 * writes it in one BEGIN IMMEDIATE transaction, commits (one fsync for
 * all), marks each request done and wakes the waiters; one of those that
 * arrived meanwhile leads the next batch. Each caller returns only when its
 * own record is committed. If a batch fails, it is rolled back and its
 * records are retried one per transaction, so one bad record (or a full
 * disk) fails only itself. In `async` mode the writer thread
 * (outbox_async.c) is the one that leads.
 *
 * A trace put again does not make a second row: the stored trace keeps its
 * fields and gains those it lacked (merge_trace).
 *
 * Size cap: before a batch, the live bytes of the file are compared with
 * max_size; at the cap, records are refused with TB_FULL and counted in
 * counters.refused_full, or (full_policy = purge_delivered) the oldest
 * records every destination has delivered are deleted first.
 */
#include "outbox_handle.h"
#include "json_print.h"
#include "store.h"

#include <stdio.h>

tb_status tb__outbox_prepare(tb_outbox *ob)
{
    static const char *ins =
        "INSERT OR IGNORE INTO records (kind, trace_id, span_id, parent_id, type, name, "
        "started_at, ended_at, error, body, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)";
    static const char *get = "SELECT seq, body FROM records WHERE kind = 'trace' AND trace_id = ?";
    static const char *upd =
        "UPDATE records SET body = ?1, name = coalesce(?2, name) WHERE seq = ?3";
    static const char *seq_get = "SELECT seq FROM sqlite_sequence WHERE name = 'records'";
    static const char *seq_back =
        "UPDATE sqlite_sequence SET seq = ?1 WHERE name = 'records' AND seq = ?1 + 1";
    int rc;
    if ((rc = sqlite3_prepare_v3(ob->db, ins, -1, SQLITE_PREPARE_PERSISTENT, &ob->ins, NULL)) ||
        (rc = sqlite3_prepare_v3(ob->db, get, -1, SQLITE_PREPARE_PERSISTENT, &ob->get_trace,
                                 NULL)) ||
        (rc = sqlite3_prepare_v3(ob->db, upd, -1, SQLITE_PREPARE_PERSISTENT, &ob->upd_trace,
                                 NULL)) ||
        (rc = sqlite3_prepare_v3(ob->db, seq_get, -1, SQLITE_PREPARE_PERSISTENT, &ob->seq_get,
                                 NULL)) ||
        (rc = sqlite3_prepare_v3(ob->db, seq_back, -1, SQLITE_PREPARE_PERSISTENT, &ob->seq_back,
                                 NULL)))
        return tb__db_error(ob->db, rc, "preparing statements");
    return TB_OK;
}

void tb__outbox_disconnect(tb_outbox *ob, bool quietly)
{
    sqlite3_finalize(ob->ins);
    sqlite3_finalize(ob->get_trace);
    sqlite3_finalize(ob->upd_trace);
    sqlite3_finalize(ob->seq_get);
    sqlite3_finalize(ob->seq_back);
    ob->ins = ob->get_trace = ob->upd_trace = ob->seq_get = ob->seq_back = NULL;
    if (ob->db && quietly) {
        tb__db_close_quietly(ob->db);
    } else if (ob->db) {
        /* a last passive checkpoint keeps the WAL from lingering */
        sqlite3_wal_checkpoint_v2(ob->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        sqlite3_close(ob->db);
    }
    ob->db = NULL;
}

tb_status tb__outbox_reopen(tb_outbox *ob)
{
    if (!ob->reopen)
        return TB_OK;
    tb_status st = tb__db_open(&ob->db, ob->path, ob->opts.busy_timeout_ms,
                               ob->opts.durability == TB_DURABILITY_FULL, 0);
    if (st == TB_OK)
        st = tb__outbox_prepare(ob);
    if (st != TB_OK) {
        tb__outbox_disconnect(ob, true);
        return st;
    }
    ob->reopen = false;
    return TB_OK;
}

/* ---- writing one batch (leader only, without the mutex) ---- */

static tb_status merge_trace(tb_outbox *ob, tb__put_req *r)
{
    /* A trace put again: keep the stored row, add fields it lacked. */
    sqlite3_stmt *g = ob->get_trace;
    sqlite3_reset(g);
    sqlite3_bind_text(g, 1, r->rec.trace_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(g);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(g);
        return rc == SQLITE_DONE ? TB_OK : tb__db_error(ob->db, rc, "reading a stored trace");
    }
    cJSON *old = cJSON_Parse((const char *)sqlite3_column_text(g, 1));
    int64_t seq = sqlite3_column_int64(g, 0);
    sqlite3_reset(g);
    /* stored bodies were validated on the way in: NULL here is memory */
    if (!old)
        return tb__set_error(TB_NOMEM, "out of memory merging trace %s", r->rec.trace_id);
    /* the codec built no tree (record.c): read the new text now, on this
     * rare path only */
    tb__json_init();
    cJSON *incoming = cJSON_ParseWithLength(r->body, r->body_len);
    if (!incoming) {
        cJSON_Delete(old);
        return tb__set_error(TB_NOMEM, "out of memory merging trace %s", r->rec.trace_id);
    }
    bool changed = false;
    const cJSON *item;
    cJSON_ArrayForEach(item, incoming)
    {
        cJSON *have = cJSON_GetObjectItemCaseSensitive(old, item->string);
        if (cJSON_IsNull(item))
            continue;
        if (!have || cJSON_IsNull(have)) {
            cJSON *dup = cJSON_Duplicate(item, true);
            if (!dup) {
                cJSON_Delete(old);
                cJSON_Delete(incoming);
                return TB_NOMEM;
            }
            bool ok = have ? cJSON_ReplaceItemInObjectCaseSensitive(old, item->string, dup)
                           : cJSON_AddItemToObject(old, item->string, dup);
            if (!ok) {
                cJSON_Delete(dup);
                cJSON_Delete(old);
                cJSON_Delete(incoming);
                return tb__set_error(TB_NOMEM, "out of memory merging trace %s", r->rec.trace_id);
            }
            changed = true;
        }
    }
    cJSON_Delete(incoming);
    tb_status st = TB_OK;
    if (changed) {
        char *body = tb__json_print(old);
        if (!body) {
            cJSON_Delete(old);
            return TB_NOMEM;
        }
        sqlite3_stmt *u = ob->upd_trace;
        sqlite3_reset(u);
        sqlite3_bind_text(u, 1, body, -1, SQLITE_TRANSIENT);
        const cJSON *wf = cJSON_GetObjectItemCaseSensitive(old, "workflow_name");
        if (cJSON_IsString(wf))
            sqlite3_bind_text(u, 2, wf->valuestring, -1, SQLITE_TRANSIENT);
        else
            sqlite3_bind_null(u, 2);
        sqlite3_bind_int64(u, 3, seq);
        rc = sqlite3_step(u);
        sqlite3_reset(u);
        tb__free_mem(body);
        if (rc != SQLITE_DONE)
            st = tb__db_error(ob->db, rc, "updating a stored trace");
    }
    cJSON_Delete(old);
    return st;
}

/* The last seq handed out (0 before the first record), inside the write
 * transaction. */
static tb_status last_seq(tb_outbox *ob, int64_t *seq)
{
    sqlite3_stmt *g = ob->seq_get;
    sqlite3_reset(g);
    int rc = sqlite3_step(g);
    *seq = rc == SQLITE_ROW ? sqlite3_column_int64(g, 0) : 0;
    sqlite3_reset(g);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return tb__db_error(ob->db, rc, "reading the last seq");
    return TB_OK;
}

/* INSERT OR IGNORE takes a seq even for the duplicate it skips; give it
 * back, so that seq has no holes but deletes (schema/003_status.sql counts
 * on it). seq is the last seq handed out before the skipped insert; the
 * update only moves the sequence from seq + 1 back to seq. */
static tb_status give_seq_back(tb_outbox *ob, int64_t seq)
{
    sqlite3_stmt *u = ob->seq_back;
    sqlite3_reset(u);
    sqlite3_bind_int64(u, 1, seq);
    int rc = sqlite3_step(u);
    sqlite3_reset(u);
    return rc == SQLITE_DONE ? TB_OK : tb__db_error(ob->db, rc, "giving a seq back");
}

static tb_status insert_one(tb_outbox *ob, tb__put_req *r, const char *now, int64_t *seq)
{
    sqlite3_stmt *s = ob->ins;
    const tb__record *rec = &r->rec;
    sqlite3_reset(s);
    sqlite3_bind_text(s, 1,
                      rec->is_trace  ? "trace"
                      : rec->is_otlp ? "otlp"
                                     : "span",
                      -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, rec->trace_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, rec->span_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, rec->parent_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, rec->type, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 6, rec->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 7, rec->started_at, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 8, rec->ended_at, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 9, rec->error_json, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 10, r->body, (int)r->body_len, SQLITE_STATIC);
    sqlite3_bind_text(s, 11, now, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (rc != SQLITE_DONE)
        return tb__db_error(ob->db, rc, "storing a record");
    if (sqlite3_changes(ob->db) > 0) {
        *seq = sqlite3_last_insert_rowid(ob->db);
        return TB_OK;
    }
    tb_status st = give_seq_back(ob, *seq);
    if (st == TB_OK && rec->is_trace)
        st = merge_trace(ob, r);
    return st;
}

/* Make room under max_size by deleting the oldest fully delivered records.
 * Returns true when there is room now. */
static bool make_room(tb_outbox *ob)
{
    int64_t used = tb__db_used_bytes(ob->db);
    if (ob->opts.max_size <= 0 || used < ob->opts.max_size)
        return true;
    if (ob->opts.full_policy != TB_FULL_PURGE_DELIVERED)
        return false;
    /* what may be deleted (store.h: delivered everywhere, not requeued,
     * no dead letter pointing to it), oldest first */
    int64_t n = 0;
    if (tb__store_evict(ob->db, 1000, &n) != TB_OK)
        return false;
    return tb__db_used_bytes(ob->db) < ob->opts.max_size;
}

static void set_req_error(tb__put_req *r, tb_status st)
{
    r->st = st;
    snprintf(r->err, sizeof r->err, "%s", tb_last_error());
}

/* Write requests [first, end) in one transaction. On failure rolls back
 * and returns the status without marking the requests. */
static tb_status write_batch(tb_outbox *ob, tb__put_req *first, tb__put_req *end, int64_t refused,
                             int64_t dropped)
{
    char now[40];
    tb__iso8601(tb__now_us(), now);
    tb_status st = tb__db_exec(ob->db, "BEGIN IMMEDIATE", "starting a write");
    if (st != TB_OK)
        return st;
    bool room = make_room(ob);
    int64_t newly_refused = 0, seq = 0;
    if ((st = last_seq(ob, &seq)) != TB_OK)
        goto rollback;
    for (tb__put_req *r = first; r != end; r = r->next) {
        if (!room) {
            r->st = tb__set_error(TB_FULL,
                                  "outbox %s reached max_size (%lld bytes); record %s refused "
                                  "and counted (ship and purge, or raise max_size)",
                                  ob->path, (long long)ob->opts.max_size, r->rec.id);
            snprintf(r->err, sizeof r->err, "%s", tb_last_error());
            newly_refused++;
            continue;
        }
        if ((st = insert_one(ob, r, now, &seq)) != TB_OK)
            goto rollback;
        r->st = TB_OK;
    }
    if (newly_refused + refused > 0 &&
        (st = tb__db_counter_add(ob->db, "refused_full", newly_refused + refused)) != TB_OK)
        goto rollback;
    if (dropped > 0 && (st = tb__db_counter_add(ob->db, "dropped_queue", dropped)) != TB_OK)
        goto rollback;
    if ((st = tb__db_exec(ob->db, "COMMIT", "committing records")) != TB_OK)
        goto rollback;
    return TB_OK;
rollback:
    sqlite3_exec(ob->db, "ROLLBACK", NULL, NULL, NULL);
    return st;
}

/* Leader: write the list [head..NULL). Every request ends with st set.
 * Counts that could not be written to `counters` are added back to
 * *refused / *dropped for the next batch. */
static void lead(tb_outbox *ob, tb__put_req *head, int64_t *refused, int64_t *dropped)
{
    tb_status st = tb__outbox_reopen(ob);
    if (st != TB_OK) {
        /* after a fork, the file could not be opened again: every record
         * gets the reason (a busy file is retried like any other) */
        for (tb__put_req *r = head; r; r = r->next)
            set_req_error(r, st);
        return;
    }
    st = write_batch(ob, head, NULL, *refused, *dropped);
    if (st == TB_OK) {
        *refused = *dropped = 0;
        return;
    }
    if (st == TB_BUSY) {
        /* someone else holds the write lock (an operator's sqlite3 shell,
         * say): no record is at fault, and trying them one by one would
         * wait busy_timeout each */
        for (tb__put_req *r = head; r; r = r->next)
            set_req_error(r, st);
        return;
    }
    /* isolate: one request per transaction */
    for (tb__put_req *r = head; r; r = r->next) {
        tb__put_req *next = r->next;
        r->next = NULL;
        tb_status one = write_batch(ob, r, NULL, 0, 0);
        r->next = next;
        if (one != TB_OK) {
            set_req_error(r, one);
            if (one == TB_FULL)
                (*refused)++; /* the disk itself is full: counted with a later batch */
        }
    }
}

void tb__put_req_free(tb__put_req *r)
{
    tb__record_clear(&r->rec);
    if (r->owned)
        tb__free_mem(r->body);
    tb__free_mem(r);
}

/* Take the queue and lead one batch (outbox_handle.h). */
void tb__outbox_lead_locked(tb_outbox *ob)
{
    tb__put_req *batch = ob->head;
    size_t n_batch = ob->queued;
    ob->last_batch = ob->queued;
    ob->head = ob->tail = NULL;
    ob->queued = 0;
    int64_t refused = ob->refused, dropped = ob->dropped;
    ob->refused = ob->dropped = 0;
    ob->leading = true;
    pthread_cond_broadcast(&ob->space_cv);
    pthread_mutex_unlock(&ob->mu);

    int64_t t0 = tb__now_us();
    lead(ob, batch, &refused, &dropped);
    int64_t took = tb__now_us() - t0;

    /* detached (async) requests are the leader's alone: they were
     * acknowledged, so one that met a locked file goes back to the front of
     * the queue, in order, for the writer to try again after a pause; the
     * others are freed before taking the lock, so producers do not wait
     * behind the frees (one that failed for good is logged and counted) */
    tb__put_req *waited = NULL, *again = NULL, *again_last = NULL;
    size_t n_again = 0;
    for (tb__put_req *r = batch, *next; r; r = next) {
        next = r->next;
        if (r->detached && r->st == TB_BUSY) {
            r->next = NULL;
            if (again_last)
                again_last->next = r;
            else
                again = r;
            again_last = r;
            n_again++;
        } else if (r->detached) {
            if (r->st != TB_OK) {
                tb__log(TB_LOG_ERROR, "async write failed: %s", r->err);
                if (r->st != TB_FULL) /* TB_FULL is counted as refused */
                    dropped++;
            }
            tb__put_req_free(r);
        } else {
            r->next = waited;
            waited = r;
        }
    }
    pthread_mutex_lock(&ob->mu);
    if (again) {
        again_last->next = ob->head;
        if (!ob->head)
            ob->tail = again_last;
        ob->head = again;
        ob->queued += n_again;
        ob->retry_wait_ms =
            ob->retry_wait_ms ? (ob->retry_wait_ms * 2 > 1000 ? 1000 : ob->retry_wait_ms * 2) : 50;
        ob->retry_at_ms = tb__mono_ms() + ob->retry_wait_ms;
    } else {
        ob->retry_wait_ms = 0;
    }
    ob->n_finished += n_batch - n_again; /* those put back are not finished */
    ob->refused += refused;
    ob->dropped += dropped;
    ob->commit_us = (3 * ob->commit_us + (took > 0 ? took : 0)) / 4;
    ob->leading = false;
    for (tb__put_req *r = waited; r; r = r->next)
        r->done = true;
    pthread_cond_broadcast(&ob->done_cv);
}
