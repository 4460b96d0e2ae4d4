/*
 * outbox.c — the outbox handle: validated records into `records`, durably.
 *
 * This file opens and closes the handle and holds the ways in: the put
 * entry points (tb_outbox_put_json, tb_outbox_put_json_many, and the
 * outbox processor's hooks, which hand over a span's columns without
 * re-parsing its JSON). Every put validates its record on the caller's
 * thread, so a bad record never reaches the file: the text is decoded,
 * redacted when the outbox says so, and stored in its tolerated form when
 * the SDKs wrote what JSON forbids (NaN, lone surrogates). Then it joins
 * the handle's queue (outbox_handle.h), and one of two files takes over:
 *
 *   outbox_writer.c  group commit (`full`/`normal`): a caller that finds no
 *                    leader writes the whole queue in one transaction; each
 *                    caller returns once its own record is committed
 *   outbox_async.c   `async`: the put returns once queued; a writer thread
 *                    commits the queue every flush_interval_ms
 */
#include "outbox_handle.h"
#include "redact.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

const char *tb_outbox_errmsg(const tb_outbox *outbox)
{
    (void)outbox;
    return tb_last_error();
}

const char *tb_outbox_path(const tb_outbox *outbox)
{
    return outbox ? outbox->path : NULL;
}

/* ---- fork (fork.c) ----
 * Before fork() the outbox lets a commit in progress finish and closes its
 * connection (SQLite's per-process lock table must not be inherited with a
 * connection in it); the next leader opens it again, in the parent as in
 * the child. The child keeps nothing else of the parent's: the records
 * queued there are the parent's to write, the writer thread did not come
 * along (the first put starts one), and locks and condition variables are
 * made new. */
static void fork_prepare(void *self)
{
    tb_outbox *ob = self;
    pthread_mutex_lock(&ob->mu);
    while (ob->leading)
        pthread_cond_wait(&ob->done_cv, &ob->mu);
    if (ob->db && !ob->opts.readonly) {
        tb__outbox_disconnect(ob, true);
        ob->reopen = true;
    }
}

static void fork_parent(void *self)
{
    tb_outbox *ob = self;
    pthread_mutex_unlock(&ob->mu);
}

static void fork_child(void *self)
{
    tb_outbox *ob = self;
    for (tb__put_req *r = ob->head, *next; r; r = next) {
        next = r->next;
        tb__put_req_free(r);
    }
    ob->head = ob->tail = NULL;
    ob->queued = 0;
    ob->n_finished = ob->n_queued;  /* the parent writes what was queued */
    atomic_store(&ob->arriving, 0); /* no thread of the child is mid-put */
    ob->gave_up = false;
    ob->dropped = ob->refused = 0; /* the parent counts its own */
    ob->writer_running = false;
    ob->stopping = false;
    ob->deep_sleep = false;
    ob->retry_wait_ms = 0;
    pthread_cond_init(&ob->done_cv, NULL);
    pthread_cond_init(&ob->space_cv, NULL);
    pthread_cond_init(&ob->work_cv, NULL);
    pthread_mutex_unlock(&ob->mu);
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
    if (!ob->opts.readonly && (st = tb__outbox_prepare(ob)) != TB_OK)
        goto fail;
    if (ob->opts.durability == TB_DURABILITY_ASYNC && !ob->opts.readonly &&
        (st = tb__outbox_async_start(ob)) != TB_OK)
        goto fail;
    ob->fork_hook = (tb__fork_hook){.rank = TB__FORK_RANK_OUTBOX,
                                    .prepare = fork_prepare,
                                    .parent = fork_parent,
                                    .child = fork_child,
                                    .self = ob};
    tb__fork_register(&ob->fork_hook);
    *out = ob;
    return TB_OK;
fail:
    tb_outbox_close(ob);
    return st;
}

tb_status tb_outbox_count_dropped(tb_outbox *ob, int64_t n)
{
    if (!ob || n < 0)
        return tb__set_error(TB_INVALID, "tb_outbox_count_dropped: %s",
                             ob ? "n is negative" : "outbox is NULL");
    pthread_mutex_lock(&ob->mu);
    ob->dropped += n;
    pthread_mutex_unlock(&ob->mu);
    return TB_OK;
}

void tb_outbox_close(tb_outbox *ob)
{
    if (!ob)
        return;
    tb__fork_unregister(&ob->fork_hook);
    tb__outbox_async_stop(ob);
    /* counts no batch has carried yet (drops, refusals) go in now */
    pthread_mutex_lock(&ob->mu);
    /* (not when the writer just gave up on a locked file: that would wait
     * out the lock once more for nothing) */
    if (!ob->opts.readonly && !ob->gave_up && (ob->dropped > 0 || ob->refused > 0) && !ob->leading)
        tb__outbox_lead_locked(ob);
    pthread_mutex_unlock(&ob->mu);
    tb__outbox_disconnect(ob, false);
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
/* Group commit: a put that finds no leader leads, taking every request
 * queued. While fewer are queued than the last batch held (the threads it
 * released are on their way back), or other puts have begun and are still
 * decoding, it first waits for them, at most as long as writing a batch
 * has lately taken: a batch of 32 costs one fsync where 32 batches of one
 * cost 32, and the wait is never longer than the commit it saves. A lone
 * producer never waits (its last batch was itself). ob->mu held;
 * ob->leading is false. */
static void gather_locked(tb_outbox *ob)
{
    int64_t budget = ob->commit_us > 2000 ? 2000 : ob->commit_us;
    if (budget <= 0 || (ob->queued >= ob->last_batch && atomic_load(&ob->arriving) <= 0))
        return;
    ob->leading = true; /* nobody else leads meanwhile */
    ob->gathering = true;
    int64_t deadline = tb__now_us() + budget;
    while (ob->queued < ob->last_batch || atomic_load(&ob->arriving) > 0) {
        int64_t now = tb__now_us();
        if (now >= deadline)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = ts.tv_nsec + (deadline - now) * 1000;
        ts.tv_sec += (time_t)(ns / 1000000000);
        ts.tv_nsec = (long)(ns % 1000000000);
        pthread_cond_timedwait(&ob->work_cv, &ob->mu, &ts);
    }
    ob->gathering = false;
    ob->leading = false;
}

static tb_status submit(tb_outbox *ob, tb__put_req *r)
{
    if (ob->opts.durability == TB_DURABILITY_ASYNC) {
        atomic_fetch_sub(&ob->arriving, 1);
        return tb__outbox_submit_async(ob, r);
    }

    pthread_mutex_lock(&ob->mu);
    tb__outbox_enqueue_locked(ob, r);
    atomic_fetch_sub(&ob->arriving, 1);
    if (ob->gathering)
        pthread_cond_signal(&ob->work_cv);
    while (!r->done) {
        if (!ob->leading)
            gather_locked(ob);
        if (!ob->leading)
            tb__outbox_lead_locked(ob);
        else
            pthread_cond_wait(&ob->done_cv, &ob->mu);
    }
    pthread_mutex_unlock(&ob->mu);
    tb_status st = r->st;
    if (st != TB_OK)
        tb__set_error(st, "%s", r->err);
    tb__put_req_free(r);
    return st;
}

/* Decode one record's text into r (redacted when the outbox says so). Text
 * that JSON forbids but the SDKs write (NaN, lone surrogates) is stored in
 * its tolerated form (tb__json_tolerate); that pass runs only when the text
 * does not decode as it is. On success r->body is the text to store:
 * borrowed `json`, or an owned rewrite. */
static tb_status decode_put(tb_outbox *ob, tb__put_req *r, const char *json, size_t len, char *err,
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
    atomic_fetch_add(&ob->arriving, 1); /* on its way to the queue: submit() */
    tb__put_req *r = tb__calloc(1, sizeof *r);
    if (!r) {
        atomic_fetch_sub(&ob->arriving, 1);
        return tb__set_error(TB_NOMEM, "out of memory storing a record");
    }
    char err[512];
    tb_status st = decode_put(ob, r, json, len, err, sizeof err);
    if (st != TB_OK) {
        atomic_fetch_sub(&ob->arriving, 1);
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
    tb__put_req *r = tb__calloc(1, sizeof *r);
    if (!r) {
        tb__record_clear(rec);
        tb__free_mem(body);
        return tb__set_error(TB_NOMEM, "out of memory storing a record");
    }
    atomic_fetch_add(&ob->arriving, 1); /* submit() takes it back */
    r->rec = *rec;
    memset(rec, 0, sizeof *rec);
    r->body = body;
    r->owned = true;
    r->body_len = len;
    return submit(ob, r);
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

/* Queue reqs[0..n) (NULL entries skipped) and wait until every one is
 * done. Not detached: whoever leads (the async writer too) marks them done
 * and leaves them to the caller. */
static void wait_many(tb_outbox *ob, tb__put_req **reqs, size_t n)
{
    pthread_mutex_lock(&ob->mu);
    for (size_t i = 0; i < n; i++) {
        if (!reqs[i])
            continue;
        tb__outbox_enqueue_locked(ob, reqs[i]);
    }
    for (size_t i = 0; i < n; i++) {
        while (reqs[i] && !reqs[i]->done) {
            if (!ob->leading)
                tb__outbox_lead_locked(ob);
            else
                pthread_cond_wait(&ob->done_cv, &ob->mu);
        }
    }
    pthread_mutex_unlock(&ob->mu);
}

/* What became of each request into res[], and the requests freed. */
static void take_results(tb__put_req **reqs, size_t n, tb_put_result *res)
{
    for (size_t i = 0; i < n; i++) {
        if (!reqs[i])
            continue;
        res[i].status = reqs[i]->st;
        if (res[i].status != TB_OK)
            snprintf(res[i].error, sizeof res[i].error, "%s", reqs[i]->err);
        tb__put_req_free(reqs[i]);
    }
}

tb_status tb_outbox_put_json_many(tb_outbox *ob, const char *const *json, const size_t *len,
                                  size_t n, tb_put_result *res)
{
    if (!ob || (n && (!json || !len || !res)))
        return tb__set_error(TB_INVALID, "tb_outbox_put_json_many: NULL argument");
    if (ob->opts.readonly)
        return tb__set_error(TB_READONLY, "%s was opened read-only", ob->path);
    if (n == 0)
        return TB_OK;
    tb__put_req **reqs = tb__calloc(n, sizeof *reqs);
    if (!reqs)
        return tb__set_error(TB_NOMEM, "out of memory storing records");
    size_t valid = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = json[i] ? len[i] : 0;
        while (l > 0 && (json[i][l - 1] == '\n' || json[i][l - 1] == '\r' || json[i][l - 1] == ' '))
            l--;
        res[i].id[0] = '\0';
        res[i].error[0] = '\0';
        tb__put_req *r = tb__calloc(1, sizeof *r);
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
    if (valid)
        wait_many(ob, reqs, n);
    take_results(reqs, n, res);
    tb__free_mem(reqs);
    return TB_OK;
}

/* ---- records decoded elsewhere (the OTLP receiver, src/otlp/ingest.c) ---- */

bool tb__outbox_redacts(const tb_outbox *ob)
{
    return ob->opts.redact != 0;
}

tb_status tb__outbox_put_decoded(tb_outbox *ob, tb__record *recs, char **bodies, const size_t *lens,
                                 size_t n, tb_put_result *res)
{
    tb__put_req **reqs = ob->opts.readonly ? NULL : tb__calloc(n ? n : 1, sizeof *reqs);
    tb_status st = ob->opts.readonly
                       ? tb__set_error(TB_READONLY, "%s was opened read-only", ob->path)
                   : !reqs ? tb__set_error(TB_NOMEM, "out of memory storing records")
                           : TB_OK;
    for (size_t i = 0; i < n; i++) {
        res[i].status = st;
        res[i].error[0] = '\0';
        snprintf(res[i].id, sizeof res[i].id, "%s", recs[i].id ? recs[i].id : "");
        tb__put_req *r = st == TB_OK ? tb__calloc(1, sizeof *r) : NULL;
        if (!r) {
            if (st == TB_OK)
                res[i].status = TB_NOMEM;
            snprintf(res[i].error, sizeof res[i].error, "%s",
                     st == TB_OK ? "out of memory" : tb_last_error());
            tb__record_clear(&recs[i]);
            tb__free_mem(bodies[i]);
            bodies[i] = NULL;
            continue;
        }
        r->rec = recs[i];
        memset(&recs[i], 0, sizeof recs[i]);
        r->body = bodies[i];
        r->body_len = lens[i];
        r->owned = true;
        bodies[i] = NULL;
        reqs[i] = r;
    }
    if (st != TB_OK) {
        tb__free_mem(reqs);
        return st;
    }
    wait_many(ob, reqs, n);
    take_results(reqs, n, res);
    tb__free_mem(reqs);
    return TB_OK;
}

/* ---- can a record be stored now? (serve's /healthz) ---- */

tb_status tb_outbox_probe(tb_outbox *ob, int timeout_ms)
{
    if (!ob)
        return tb__set_error(TB_INVALID, "tb_outbox_probe: outbox is NULL");
    if (ob->opts.readonly)
        return tb__set_error(TB_READONLY, "%s was opened read-only", ob->path);
    /* a connection of its own: the handle's belongs to whoever leads */
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(ob->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    tb_status st = TB_OK;
    if (rc != SQLITE_OK) {
        st = tb__set_error(TB_IO, "cannot open %s: %s", ob->path,
                           db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    } else {
        sqlite3_busy_timeout(db, timeout_ms > 0 ? timeout_ms : 1);
        rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
            st = tb__set_error(tb__db_status(rc), "%s cannot be written now: %s", ob->path,
                               sqlite3_errmsg(db));
        } else {
            int64_t used = tb__db_used_bytes(db);
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            if (ob->opts.max_size > 0 && used >= ob->opts.max_size &&
                ob->opts.full_policy != TB_FULL_PURGE_DELIVERED)
                st = tb__set_error(TB_FULL, "%s is at max_size (%lld bytes used)", ob->path,
                                   (long long)used);
        }
    }
    sqlite3_close(db);
    return st;
}
