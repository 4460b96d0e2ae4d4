/*
 * outbox.c — the outbox handle: validated records into `records`, durably.
 *
 * Group commit. Every put validates its record on the caller's thread (a bad
 * record never reaches the file), then joins a queue. In `full`/`normal`
 * mode the first caller to find no leader becomes the leader: it takes the
 * whole queue, writes it in one BEGIN IMMEDIATE transaction, commits (one
 * fsync for all), marks each request done and wakes the waiters; one of
 * those that arrived meanwhile leads the next batch. Each caller returns
 * only when its own record is committed. If a batch fails, it is rolled
 * back and its records are retried one per transaction, so one bad record
 * (or a full disk) fails only itself.
 *
 * In `async` mode the put returns once the request is queued; a writer
 * thread leads a batch every flush_interval_ms (or sooner when the queue
 * fills). The queue is bounded; a full queue blocks or drops (counted in
 * counters.dropped_queue) per queue_policy.
 *
 * Size cap: before a batch, the live bytes of the file are compared with
 * max_size; at the cap, records are refused with TB_FULL and counted in
 * counters.refused_full, or (full_policy = purge_delivered) the oldest
 * records every destination has delivered are deleted first.
 */
#include "outbox_internal.h"
#include "store.h"
#include "record.h"
#include "redact.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

typedef struct put_req {
    struct put_req *next;
    tb__record rec;
    char *body; /* owned when `owned` (async copy, redacted text); else borrowed */
    size_t body_len;
    bool owned;    /* free body with the request */
    bool detached; /* async: nobody waits; the leader frees the request */
    bool done;
    tb_status st;
    char err[512];
} put_req;

struct tb_outbox {
    char *path;
    tb_outbox_options opts;
    sqlite3 *db; /* used only by the current leader */
    sqlite3_stmt *ins, *get_trace, *upd_trace;

    pthread_mutex_t mu;
    pthread_cond_t done_cv;  /* a batch finished */
    pthread_cond_t space_cv; /* async: queue has room */
    pthread_cond_t work_cv;  /* async: wake the writer */
    put_req *head, *tail;
    size_t queued;
    bool leading;
    int64_t dropped; /* async drops not yet written to counters */
    int64_t refused; /* TB_FULL refusals not yet written to counters */
    /* async writer */
    pthread_t writer;
    bool writer_running;
    bool stopping;
    bool deep_sleep; /* the writer waits for a signal (idle for a second) */
};

const char *tb_outbox_errmsg(const tb_outbox *outbox)
{
    (void)outbox;
    return tb_last_error();
}

const char *tb_outbox_path(const tb_outbox *outbox)
{
    return outbox ? outbox->path : NULL;
}

/* ---- writing one batch (leader only, without the mutex) ---- */

static tb_status merge_trace(tb_outbox *ob, put_req *r)
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
    bool changed = false;
    const cJSON *item;
    cJSON_ArrayForEach(item, r->rec.root)
    {
        cJSON *have = cJSON_GetObjectItemCaseSensitive(old, item->string);
        if (cJSON_IsNull(item))
            continue;
        if (!have || cJSON_IsNull(have)) {
            cJSON *dup = cJSON_Duplicate(item, true);
            if (!dup) {
                cJSON_Delete(old);
                return TB_NOMEM;
            }
            bool ok = have ? cJSON_ReplaceItemInObjectCaseSensitive(old, item->string, dup)
                           : cJSON_AddItemToObject(old, item->string, dup);
            if (!ok) {
                cJSON_Delete(dup);
                cJSON_Delete(old);
                return tb__set_error(TB_NOMEM, "out of memory merging trace %s", r->rec.trace_id);
            }
            changed = true;
        }
    }
    tb_status st = TB_OK;
    if (changed) {
        char *body = cJSON_PrintUnformatted(old);
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

static tb_status insert_one(tb_outbox *ob, put_req *r, const char *now)
{
    sqlite3_stmt *s = ob->ins;
    const tb__record *rec = &r->rec;
    sqlite3_reset(s);
    sqlite3_bind_text(s, 1, rec->is_trace ? "trace" : "span", -1, SQLITE_STATIC);
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
    if (sqlite3_changes(ob->db) == 0 && rec->is_trace)
        return merge_trace(ob, r);
    return TB_OK;
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

static void set_req_error(put_req *r, tb_status st)
{
    r->st = st;
    snprintf(r->err, sizeof r->err, "%s", tb_last_error());
}

/* Write requests [first, end) in one transaction. On failure rolls back
 * and returns the status without marking the requests. */
static tb_status write_batch(tb_outbox *ob, put_req *first, put_req *end, int64_t refused,
                             int64_t dropped)
{
    char now[40];
    tb__iso8601(tb__now_us(), now);
    tb_status st = tb__db_exec(ob->db, "BEGIN IMMEDIATE", "starting a write");
    if (st != TB_OK)
        return st;
    bool room = make_room(ob);
    int64_t newly_refused = 0;
    for (put_req *r = first; r != end; r = r->next) {
        if (!room) {
            r->st = tb__set_error(TB_FULL,
                                  "outbox %s reached max_size (%lld bytes); record %s refused "
                                  "and counted (ship and purge, or raise max_size)",
                                  ob->path, (long long)ob->opts.max_size, r->rec.id);
            snprintf(r->err, sizeof r->err, "%s", tb_last_error());
            newly_refused++;
            continue;
        }
        if ((st = insert_one(ob, r, now)) != TB_OK)
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
static void lead(tb_outbox *ob, put_req *head, int64_t *refused, int64_t *dropped)
{
    tb_status st = write_batch(ob, head, NULL, *refused, *dropped);
    if (st == TB_OK) {
        *refused = *dropped = 0;
        return;
    }
    /* isolate: one request per transaction */
    for (put_req *r = head; r; r = r->next) {
        put_req *next = r->next;
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

static void free_req(put_req *r)
{
    tb__record_clear(&r->rec);
    if (r->owned)
        tb__free_mem(r->body);
    tb__free_mem(r);
}

/* Take the queue and lead one batch. Called with ob->mu held and
 * ob->leading false; returns with ob->mu held. */
static void lead_locked(tb_outbox *ob)
{
    put_req *batch = ob->head;
    ob->head = ob->tail = NULL;
    ob->queued = 0;
    int64_t refused = ob->refused, dropped = ob->dropped;
    ob->refused = ob->dropped = 0;
    ob->leading = true;
    pthread_cond_broadcast(&ob->space_cv);
    pthread_mutex_unlock(&ob->mu);

    lead(ob, batch, &refused, &dropped);

    /* detached (async) requests are the leader's alone: free them before
     * taking the lock, so producers do not wait behind the frees */
    put_req *waited = NULL;
    for (put_req *r = batch, *next; r; r = next) {
        next = r->next;
        if (r->detached) {
            if (r->st != TB_OK)
                tb__log(TB_LOG_ERROR, "async write failed: %s", r->err);
            free_req(r);
        } else {
            r->next = waited;
            waited = r;
        }
    }
    pthread_mutex_lock(&ob->mu);
    ob->refused += refused;
    ob->dropped += dropped;
    ob->leading = false;
    for (put_req *r = waited; r; r = r->next)
        r->done = true;
    pthread_cond_broadcast(&ob->done_cv);
}

/* The async writer polls: while records keep coming it wakes every
 * flush_interval_ms and commits what is queued, so producers never pay for
 * a wake-up (a futex call, a cross-CPU interrupt on a VM). After a second
 * with nothing to do it sleeps until a producer signals it (`deep_sleep`),
 * so an idle application costs nothing. A queue half full is signalled at
 * once whatever the state. */
static void *writer_main(void *arg)
{
    tb_outbox *ob = arg;
    int64_t idle_ms = 0;
    pthread_mutex_lock(&ob->mu);
    for (;;) {
        if (ob->head) {
            while (ob->leading)
                pthread_cond_wait(&ob->done_cv, &ob->mu);
            if (ob->head)
                lead_locked(ob);
            idle_ms = 0;
            continue;
        }
        if (ob->stopping)
            break;
        if (idle_ms < 1000) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            int64_t ns = ts.tv_nsec + (int64_t)ob->opts.flush_interval_ms * 1000000;
            ts.tv_sec += (time_t)(ns / 1000000000);
            ts.tv_nsec = (long)(ns % 1000000000);
            pthread_cond_timedwait(&ob->work_cv, &ob->mu, &ts);
            idle_ms += ob->opts.flush_interval_ms;
        } else {
            ob->deep_sleep = true;
            while (!ob->head && !ob->stopping)
                pthread_cond_wait(&ob->work_cv, &ob->mu);
            ob->deep_sleep = false;
            idle_ms = 0;
        }
    }
    pthread_mutex_unlock(&ob->mu);
    return NULL;
}

/* ---- public ---- */

static tb_status prepare(tb_outbox *ob)
{
    static const char *ins =
        "INSERT OR IGNORE INTO records (kind, trace_id, span_id, parent_id, type, name, "
        "started_at, ended_at, error, body, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)";
    static const char *get = "SELECT seq, body FROM records WHERE kind = 'trace' AND trace_id = ?";
    static const char *upd =
        "UPDATE records SET body = ?1, name = coalesce(?2, name) WHERE seq = ?3";
    int rc;
    if ((rc = sqlite3_prepare_v3(ob->db, ins, -1, SQLITE_PREPARE_PERSISTENT, &ob->ins, NULL)) ||
        (rc = sqlite3_prepare_v3(ob->db, get, -1, SQLITE_PREPARE_PERSISTENT, &ob->get_trace,
                                 NULL)) ||
        (rc = sqlite3_prepare_v3(ob->db, upd, -1, SQLITE_PREPARE_PERSISTENT, &ob->upd_trace, NULL)))
        return tb__db_error(ob->db, rc, "preparing statements");
    return TB_OK;
}

tb_status tb_outbox_open(tb_outbox **out, const char *path, const tb_outbox_options *opts)
{
    tb_outbox_options defaults = TB_OUTBOX_OPTIONS_INIT;
    tb_status st = TB_NOMEM;
    if (!out)
        return tb__set_error(TB_INVALID, "tb_outbox_open: out is NULL");
    *out = NULL;
    if (!path)
        return tb__set_error(TB_INVALID, "tb_outbox_open: path is NULL");
    if (opts && opts->version != TB_OUTBOX_OPTIONS_VERSION)
        return tb__set_error(TB_INVALID, "tb_outbox_open: options version %u is not %u",
                             opts->version, TB_OUTBOX_OPTIONS_VERSION);
    tb__json_init();
    tb_outbox *ob = tb__calloc(1, sizeof *ob);
    if (!ob)
        return tb__set_error(TB_NOMEM, "out of memory opening %s", path);
    ob->opts = opts ? *opts : defaults;
    if (ob->opts.busy_timeout_ms <= 0)
        ob->opts.busy_timeout_ms = 10000;
    if (ob->opts.queue_capacity == 0)
        ob->opts.queue_capacity = 8192;
    if (ob->opts.flush_interval_ms <= 0)
        ob->opts.flush_interval_ms = 5;
    pthread_mutex_init(&ob->mu, NULL);
    pthread_cond_init(&ob->done_cv, NULL);
    pthread_cond_init(&ob->space_cv, NULL);
    pthread_cond_init(&ob->work_cv, NULL);
    if (!(ob->path = tb__strdup(path))) {
        tb__set_error(TB_NOMEM, "out of memory opening %s", path);
        goto fail;
    }
    if ((st = tb__db_open(&ob->db, path, ob->opts.busy_timeout_ms,
                          ob->opts.durability == TB_DURABILITY_FULL, ob->opts.readonly)) != TB_OK)
        goto fail;
    /* SQLite silently falls back to read-only when the file is write-protected
     * (mode 0400, another owner): say so at open, not at the first put */
    if (!ob->opts.readonly && sqlite3_db_readonly(ob->db, "main") == 1) {
        st = tb__set_error(TB_READONLY,
                           "%s is read-only for this process (check its owner and mode: a "
                           "writer needs read-write access to the file and its directory)",
                           path);
        goto fail;
    }
    if (!ob->opts.readonly && (st = prepare(ob)) != TB_OK)
        goto fail;
    if (ob->opts.durability == TB_DURABILITY_ASYNC && !ob->opts.readonly) {
        if (pthread_create(&ob->writer, NULL, writer_main, ob) != 0) {
            st = tb__set_error(TB_ERROR, "cannot start the async writer thread");
            goto fail;
        }
        ob->writer_running = true;
    }
    *out = ob;
    return TB_OK;
fail:
    tb_outbox_close(ob);
    return st;
}

void tb_outbox_close(tb_outbox *ob)
{
    if (!ob)
        return;
    if (ob->writer_running) {
        pthread_mutex_lock(&ob->mu);
        ob->stopping = true;
        pthread_cond_broadcast(&ob->work_cv);
        pthread_mutex_unlock(&ob->mu);
        pthread_join(ob->writer, NULL);
    }
    sqlite3_finalize(ob->ins);
    sqlite3_finalize(ob->get_trace);
    sqlite3_finalize(ob->upd_trace);
    if (ob->db) {
        /* a last passive checkpoint keeps the WAL from lingering */
        sqlite3_wal_checkpoint_v2(ob->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        sqlite3_close(ob->db);
    }
    pthread_mutex_destroy(&ob->mu);
    pthread_cond_destroy(&ob->done_cv);
    pthread_cond_destroy(&ob->space_cv);
    pthread_cond_destroy(&ob->work_cv);
    tb__free_mem(ob->path);
    tb__free_mem(ob);
}

/* Queue a decoded request and, unless async, wait until it is committed.
 * r->body is set: owned (r->owned) or borrowed for the duration of the
 * call. Takes ownership of r. */
static tb_status submit(tb_outbox *ob, put_req *r)
{
    if (ob->opts.durability == TB_DURABILITY_ASYNC) {
        if (!r->owned) {
            char *copy = tb__strndup(r->body, r->body_len);
            if (!copy) {
                free_req(r);
                return tb__set_error(TB_NOMEM, "out of memory storing a record");
            }
            r->body = copy;
            r->owned = true;
        }
        /* a queued span keeps only its columns (a trace keeps its tree for
         * a merge), so a queue slot costs about the body, not a cJSON tree */
        r->detached = true;
        if (!r->rec.is_trace && r->rec.root && tb__record_compact(&r->rec) != TB_OK) {
            free_req(r);
            return tb__set_error(TB_NOMEM, "out of memory storing a record");
        }
        pthread_mutex_lock(&ob->mu);
        while (ob->queued >= ob->opts.queue_capacity && ob->opts.queue_policy == TB_QUEUE_BLOCK)
            pthread_cond_wait(&ob->space_cv, &ob->mu);
        if (ob->queued >= ob->opts.queue_capacity) {
            ob->dropped++;
            pthread_mutex_unlock(&ob->mu);
            free_req(r);
            return tb__set_error(TB_FULL,
                                 "async queue full (%zu records): record dropped and "
                                 "counted",
                                 ob->opts.queue_capacity);
        }
        if (ob->tail)
            ob->tail->next = r;
        else
            ob->head = r;
        ob->tail = r;
        ob->queued++;
        if (ob->deep_sleep || ob->queued >= ob->opts.queue_capacity / 2)
            pthread_cond_signal(&ob->work_cv);
        pthread_mutex_unlock(&ob->mu);
        return TB_OK;
    }

    pthread_mutex_lock(&ob->mu);
    if (ob->tail)
        ob->tail->next = r;
    else
        ob->head = r;
    ob->tail = r;
    ob->queued++;
    while (!r->done) {
        if (!ob->leading)
            lead_locked(ob);
        else
            pthread_cond_wait(&ob->done_cv, &ob->mu);
    }
    pthread_mutex_unlock(&ob->mu);
    tb_status st = r->st;
    if (st != TB_OK)
        tb__set_error(st, "%s", r->err);
    free_req(r);
    return st;
}

/* Decode one record's text into r (redacted when the outbox says so). Text
 * that JSON forbids but the SDKs write (NaN, lone surrogates) is stored in
 * its tolerated form (tb__json_tolerate); that pass runs only when the text
 * does not decode as it is. On success r->body is the text to store:
 * borrowed `json`, or an owned rewrite. */
static tb_status decode_put(tb_outbox *ob, put_req *r, const char *json, size_t len, char *err,
                            size_t err_size)
{
    char *tolerated = NULL, *redacted = NULL;
    size_t tlen = 0, rlen = 0;
    const char *text = json;
    const size_t in_len = len;
    tb_status st;
    for (int pass = 0;; pass++) {
        if (ob->opts.redact && tb__redact_record(text, len, &redacted, &rlen) == 1) {
            text = redacted;
            len = rlen;
        }
        st = tb__record_decode(&r->rec, text, len, err, err_size);
        if (st != TB_BAD_RECORD || pass > 0 ||
            tb__json_tolerate(json, in_len, &tolerated, &tlen) != 1)
            break;
        tb__free_mem(redacted);
        redacted = NULL;
        text = tolerated;
        len = tlen;
    }
    if (st != TB_OK) {
        tb__free_mem(redacted);
        tb__free_mem(tolerated);
        return st;
    }
    if (redacted) {
        tb__free_mem(tolerated);
        r->body = redacted;
    } else {
        r->body = tolerated ? tolerated : (char *)json;
    }
    r->owned = r->body != json;
    r->body_len = len;
    return TB_OK;
}

tb_status tb_outbox_put_json(tb_outbox *ob, const char *json, size_t len, char out_id[64])
{
    if (!ob || !json)
        return tb__set_error(TB_INVALID, "tb_outbox_put_json: %s is NULL", ob ? "json" : "outbox");
    if (ob->opts.readonly)
        return tb__set_error(TB_READONLY, "%s was opened read-only", ob->path);
    if (len == (size_t)-1)
        len = strlen(json);
    /* trim trailing newline/space so lines from files store cleanly */
    while (len > 0 && (json[len - 1] == '\n' || json[len - 1] == '\r' || json[len - 1] == ' '))
        len--;
    put_req *r = tb__calloc(1, sizeof *r);
    if (!r)
        return tb__set_error(TB_NOMEM, "out of memory storing a record");
    char err[512];
    tb_status st = decode_put(ob, r, json, len, err, sizeof err);
    if (st != TB_OK) {
        tb__free_mem(r);
        return tb__set_error(st, "%s", err);
    }
    if (out_id)
        snprintf(out_id, 64, "%s", r->rec.id);
    return submit(ob, r);
}

tb_status tb__outbox_put_record(tb_outbox *ob, tb__record *rec, char *body, size_t len)
{
    if (ob->opts.readonly) {
        tb__record_clear(rec);
        tb__free_mem(body);
        return tb__set_error(TB_READONLY, "%s was opened read-only", ob->path);
    }
    if (ob->opts.redact) {
        char *redacted = NULL;
        size_t rlen;
        if (tb__redact_record(body, len, &redacted, &rlen) == 1) {
            tb__free_mem(body);
            body = redacted;
            len = rlen;
        }
    }
    put_req *r = tb__calloc(1, sizeof *r);
    if (!r) {
        tb__record_clear(rec);
        tb__free_mem(body);
        return tb__set_error(TB_NOMEM, "out of memory storing a record");
    }
    r->rec = *rec;
    memset(rec, 0, sizeof *rec);
    r->body = body;
    r->owned = true;
    r->body_len = len;
    return submit(ob, r);
}

tb_status tb_outbox_flush(tb_outbox *ob, int64_t timeout_ms)
{
    if (!ob)
        return tb__set_error(TB_INVALID, "tb_outbox_flush: outbox is NULL");
    if (ob->opts.durability != TB_DURABILITY_ASYNC)
        return TB_OK;
    int64_t deadline = tb__mono_ms() + (timeout_ms < 0 ? INT64_C(1) << 40 : timeout_ms);
    pthread_mutex_lock(&ob->mu);
    pthread_cond_signal(&ob->work_cv);
    while (ob->head || ob->leading) {
        int64_t left = deadline - tb__mono_ms();
        if (left <= 0) {
            pthread_mutex_unlock(&ob->mu);
            return tb__set_error(TB_TIMEOUT, "flush timed out with records still queued");
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t wait = left < 50 ? left : 50;
        int64_t ns = ts.tv_nsec + wait * 1000000;
        ts.tv_sec += (time_t)(ns / 1000000000);
        ts.tv_nsec = (long)(ns % 1000000000);
        pthread_cond_timedwait(&ob->done_cv, &ob->mu, &ts);
        pthread_cond_signal(&ob->work_cv);
    }
    pthread_mutex_unlock(&ob->mu);
    return TB_OK;
}

/* ---- the outbox processor ---- */

static tb_status proc_trace_start(void *self, const tb_trace *trace)
{
    char *json = NULL;
    tb_status st = tb_trace_export_json(trace, &json);
    if (st == TB_OK)
        st = tb_outbox_put_json(self, json, (size_t)-1, NULL);
    tb_free(json);
    return st;
}

static tb_status proc_span_end(void *self, const tb_span *span)
{
    /* the span knows its own columns: no need to parse the JSON just made */
    tb__record rec;
    char *json = NULL;
    size_t len = 0;
    tb_status st = tb__span_record(span, &rec, &json, &len);
    if (st != TB_OK)
        return st;
    return tb__outbox_put_record(self, &rec, json, len);
}

static tb_status proc_flush(void *self)
{
    return tb_outbox_flush(self, -1);
}

static tb_status proc_shutdown(void *self, int64_t timeout_ms)
{
    return tb_outbox_flush(self, timeout_ms);
}

tb_status tb_outbox_processor(tb_outbox *outbox, tb_processor *out)
{
    if (!outbox || !out)
        return tb__set_error(TB_INVALID, "tb_outbox_processor: NULL argument");
    memset(out, 0, sizeof *out);
    out->version = TB_PROCESSOR_VERSION;
    out->self = outbox;
    out->on_trace_start = proc_trace_start;
    out->on_span_end = proc_span_end;
    out->force_flush = proc_flush;
    out->shutdown = proc_shutdown;
    return TB_OK;
}

/* ---- many at once (tracebox ingest) ---- */

tb_status tb_outbox_put_json_many(tb_outbox *ob, const char *const *json, const size_t *len,
                                  size_t n, tb_put_result *res)
{
    if (!ob || (n && (!json || !len || !res)))
        return tb__set_error(TB_INVALID, "tb_outbox_put_json_many: NULL argument");
    if (ob->opts.readonly)
        return tb__set_error(TB_READONLY, "%s was opened read-only", ob->path);
    if (n == 0)
        return TB_OK;
    put_req **reqs = tb__calloc(n, sizeof *reqs);
    if (!reqs)
        return tb__set_error(TB_NOMEM, "out of memory storing records");
    size_t valid = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = json[i] ? len[i] : 0;
        while (l > 0 && (json[i][l - 1] == '\n' || json[i][l - 1] == '\r' || json[i][l - 1] == ' '))
            l--;
        res[i].id[0] = '\0';
        res[i].error[0] = '\0';
        put_req *r = tb__calloc(1, sizeof *r);
        if (!r) {
            res[i].status = TB_NOMEM;
            snprintf(res[i].error, sizeof res[i].error, "out of memory");
            continue;
        }
        res[i].status = decode_put(ob, r, json[i], l, res[i].error, sizeof res[i].error);
        if (res[i].status != TB_OK) {
            tb__free_mem(r);
            continue;
        }
        snprintf(res[i].id, sizeof res[i].id, "%s", r->rec.id);
        reqs[i] = r;
        valid++;
    }
    if (valid) {
        /* not detached: whoever leads (the async writer too) marks them done
         * and leaves them to us */
        pthread_mutex_lock(&ob->mu);
        for (size_t i = 0; i < n; i++) {
            if (!reqs[i])
                continue;
            if (ob->tail)
                ob->tail->next = reqs[i];
            else
                ob->head = reqs[i];
            ob->tail = reqs[i];
            ob->queued++;
        }
        for (size_t i = 0; i < n; i++) {
            while (reqs[i] && !reqs[i]->done) {
                if (!ob->leading)
                    lead_locked(ob);
                else
                    pthread_cond_wait(&ob->done_cv, &ob->mu);
            }
        }
        pthread_mutex_unlock(&ob->mu);
    }
    for (size_t i = 0; i < n; i++) {
        if (!reqs[i])
            continue;
        res[i].status = reqs[i]->st;
        if (res[i].status != TB_OK)
            snprintf(res[i].error, sizeof res[i].error, "%s", reqs[i]->err);
        free_req(reqs[i]);
    }
    tb__free_mem(reqs);
    return TB_OK;
}
