/*
 * shipper.c — the delivery engine.
 *
 * Per destination, one batch is: take the lease (a row in `destinations`;
 * it expires, so a crashed shipper's lease is taken over, and while it is
 * held no other shipper — thread, process or overlapping cron run — ships
 * that destination); skip it while next_attempt_at is in the future; read
 * the next batch (requeued records first, then records after the cursor,
 * by count and by bytes); dead-letter what is older than max_age; export;
 * then, in one transaction, advance the cursor past the resolved prefix,
 * write dead letters, or record the failure with its backoff. A pass gives
 * each next batch to the busy destination that has had the least time so
 * far (tb__engine_pass), so a slow or hanging destination never holds the
 * others back, in the thread or in `ship --once --max-time`.
 *
 * Resolving a batch (resolve()): DELIVERED resolves it (records the
 * platform named as rejected become dead letters); 413 splits it in halves;
 * another 4xx bisects it until the bad records are single and dead-lettered
 * while the rest is delivered; a retryable failure or an auth failure
 * stops at the first unresolved record. Only the resolved prefix moves the
 * cursor, so order is kept and nothing is skipped.
 *
 * Backoff is exponential with full jitter: a uniform delay in
 * [0, min(cap, base * 2^(attempts-1))], or Retry-After when that is longer;
 * 401/403 wait auth_backoff and raise an alert in outbox_status.
 *
 * After a pass the shipper runs retention (records every destination has
 * delivered, older than `retention`) and a passive WAL checkpoint, keeping
 * that work off the producers' path.
 */
#include "shipper_engine.h"

#include "config_internal.h"
#include "delivery.h"
#include "export_host.h"
#include "db.h"
#include "store.h"
#include "redact.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* A WAL larger than this is truncated when a pass ships nothing. */
#define WAL_TRUNCATE_BYTES (INT64_C(4) << 20)

/* The longest Retry-After honoured: a longer one waits this long. */
#define TB__MAX_RETRY_AFTER_MS (INT64_C(3600) * 1000)

/* ---- small helpers ---- */

static void now_iso(char buf[40], int64_t plus_ms)
{
    tb__iso8601(tb__now_us() + plus_ms * 1000, buf);
}

static bool out_of_time(const engine *e)
{
    return (e->stop && atomic_load(e->stop)) || (e->pause && atomic_load(e->pause)) ||
           (e->deadline_ms && tb__mono_ms() >= e->deadline_ms);
}

static void batch_clear(batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        tb_record *r = &b->rec[i];
        free((void *)r->kind); /* the columns' one block, with the body unless own_body */
        free(b->own_body[i]);
        free(b->dead_reason[i]);
    }
    b->n = 0;
}

static void batch_free(batch *b)
{
    batch_clear(b);
    tb__free_mem(b->rec);
    tb__free_mem(b->dead);
    tb__free_mem(b->dead_status);
    tb__free_mem(b->dead_reason);
    tb__free_mem(b->own_body);
    memset(b, 0, sizeof *b);
}

/* A row's text columns, and its body when `with_body`, copied into one
 * block that starts with `kind` (never NULL in a row), so a record costs
 * one allocation, not nine. false: out of memory (then r->kind is NULL and
 * nothing is held). */
static bool copy_row(tb_record *r, const tb_record *src, bool with_body)
{
    const char *from[8] = {src->kind, src->trace_id, src->span_id,    src->parent_id,
                           src->type, src->name,     src->started_at, src->ended_at};
    const char **to[8] = {&r->kind, &r->trace_id, &r->span_id,    &r->parent_id,
                          &r->type, &r->name,     &r->started_at, &r->ended_at};
    size_t len[8], total = 0;
    for (int i = 0; i < 8; i++) {
        len[i] = from[i] ? strlen(from[i]) + 1 : 0;
        total += len[i];
        *to[i] = NULL;
    }
    r->body = NULL;
    if (!src->kind || !src->body)
        return false;
    char *p = tb__malloc(total + (with_body ? src->body_len + 1 : 0));
    if (!p)
        return false;
    for (int i = 0; i < 8; i++) {
        if (!from[i])
            continue;
        memcpy(p, from[i], len[i]);
        *to[i] = p;
        p += len[i];
    }
    if (with_body) {
        memcpy(p, src->body, src->body_len);
        p[src->body_len] = '\0';
        r->body = p;
    }
    return true;
}

static bool batch_reserve(batch *b, size_t n)
{
    if (n <= b->cap)
        return true;
    tb_record *rec = tb__realloc(b->rec, n * sizeof *rec);
    if (!rec)
        return false;
    b->rec = rec;
    unsigned char *dead = tb__realloc(b->dead, n);
    if (!dead)
        return false;
    b->dead = dead;
    int *ds = tb__realloc(b->dead_status, n * sizeof *ds);
    if (!ds)
        return false;
    b->dead_status = ds;
    char **dr = tb__realloc(b->dead_reason, n * sizeof *dr);
    if (!dr)
        return false;
    b->dead_reason = dr;
    char **ob = tb__realloc(b->own_body, n * sizeof *ob);
    if (!ob)
        return false;
    b->own_body = ob;
    b->cap = n;
    return true;
}

/* One row of the batch being read: copied (and redacted, or marked
 * expired) per the destination's settings. */
typedef struct reading {
    const dest_rt *d;
    batch *b;
    int64_t bytes, now_us;
    tb_status st;
} reading;

static int read_row(void *ctx, const tb_record *src, const char *created_at)
{
    reading *rd = ctx;
    batch *b = rd->b;
    const tb_dest_config *cfg = rd->d->cfg;
    if (b->n > 0 && rd->bytes + (int64_t)src->body_len > cfg->max_batch_bytes)
        return 1;
    tb_record *r = &b->rec[b->n];
    *r = *src;
    /* a body to redact is copied apart: its original is freed at once, so
     * what this destination must not get does not wait out the send */
    copy_row(r, src, !cfg->redact);
    b->dead[b->n] = 0;
    b->dead_status[b->n] = 0;
    b->dead_reason[b->n] = NULL;
    b->own_body[b->n] = NULL;
    if (cfg->redact && r->kind)
        r->body = b->own_body[b->n] = tb__strndup(src->body, src->body_len);
    b->n++;
    if (!r->body || !r->kind || !r->trace_id) {
        rd->st = tb__set_error(TB_NOMEM, "out of memory reading a batch");
        return 1;
    }
    if (cfg->redact) {
        /* this destination gets no prompts, outputs or tool arguments */
        char *red = NULL;
        size_t red_len = 0;
        int rr = tb__redact_record(r->body, r->body_len, &red, &red_len);
        if (rr < 0) {
            rd->st = tb__set_error(TB_NOMEM, "out of memory redacting a batch");
            return 1;
        }
        if (rr == 1) {
            free(b->own_body[b->n - 1]);
            r->body = b->own_body[b->n - 1] = red;
            r->body_len = red_len;
        }
    }
    int64_t created;
    if (cfg->max_age_ms > 0 && created_at && tb__parse_iso8601(created_at, &created) &&
        rd->now_us - created > cfg->max_age_ms * 1000) {
        b->dead[b->n - 1] = 1;
        b->dead_reason[b->n - 1] = tb__strdup("expired");
    }
    rd->bytes += (int64_t)src->body_len;
    return 0;
}

/* Read the next batch for `d`: requeued records first, then after the cursor. */
static tb_status read_batch(engine *e, dest_rt *d, batch *b)
{
    batch_clear(b);
    int limit = d->cfg->batch_size;
    if (!batch_reserve(b, (size_t)limit))
        return tb__set_error(TB_NOMEM, "out of memory reading a batch");
    /* read before the batch: a requeue --all between the two only makes
     * the commit below leave the cursor alone (the records go again) */
    b->from = tb__delivery_cursor(e->db, d->cfg->name);
    for (int pass = 0; pass < 2 && b->n == 0; pass++) {
        b->requeued = pass == 0;
        reading rd = {.d = d, .b = b, .now_us = tb__now_us(), .st = TB_OK};
        tb_status st = tb__delivery_read(e->db, d->cfg->name, b->requeued, limit, read_row, &rd);
        if (st == TB_OK)
            st = rd.st;
        if (st != TB_OK)
            return st;
    }
    return TB_OK;
}

/* ---- sending and resolving ---- */

typedef struct outcome {
    tb_export_result last; /* the failure that stopped resolution, if any */
    bool stopped;
    bool lease_lost; /* another shipper holds the destination now */
    int64_t duplicates_possible;
    int64_t rejected_unnamed; /* refusals the platform counted but did not name */
    int64_t skipped;          /* records the destination does not take */
    int64_t batches;
} outcome;

static void dead_letter(batch *b, size_t i, int status, const char *reason)
{
    b->dead[i] = 1;
    b->dead_status[i] = status;
    free(b->dead_reason[i]);
    b->dead_reason[i] = tb__strdup(reason && *reason ? reason : "refused");
}

static tb_status take_lease(engine *e, dest_rt *d, bool *held);

/* Before a send: check the lease is still ours (a read), and renew it once
 * a third of it has passed (a 413 split or a 4xx bisection makes many sends
 * per batch). False when it is lost. */
static bool keep_lease(engine *e, dest_rt *d)
{
    if (tb__mono_ms() - d->lease_at_ms >= d->lease_ms / 3) {
        /* renewing: if the lease ran out meanwhile (this process was
         * stopped past it), another shipper may have sent this batch; take
         * it again only if the cursor has not moved (never for requeued
         * records, which do not move it) */
        char now[40], until[40], beyond[40];
        now_iso(now, 0);
        now_iso(until, d->lease_ms);
        now_iso(beyond, d->lease_ms + 1000);
        bool held = false;
        tb_status st = tb__delivery_lease_renew(e->db, d->cfg->name, e->owner, until, now, beyond,
                                                d->b.requeued ? -1 : d->b.from, &held);
        if (st == TB_OK && held)
            d->lease_at_ms = tb__mono_ms();
        return st == TB_OK && held;
    }
    char now[40];
    now_iso(now, 0);
    return tb__delivery_lease_held(e->db, d->cfg->name, e->owner, now);
}

/* Send records [lo, hi) that are not already dead; returns the number of
 * leading records resolved (hi on success). */
static size_t resolve(engine *e, dest_rt *d, batch *b, size_t lo, size_t hi, outcome *oc)
{
    /* the live records of the range, contiguous for the exporter */
    size_t n = 0;
    tb_record *live = tb__malloc((hi - lo) * sizeof *live);
    size_t *idx = tb__malloc((hi - lo) * sizeof *idx);
    unsigned char *rej = tb__calloc(hi - lo, 1);
    if (!live || !idx || !rej) {
        tb__free_mem(live);
        tb__free_mem(idx);
        tb__free_mem(rej);
        oc->stopped = true;
        oc->last.outcome = TB_EXPORT_RETRY;
        snprintf(oc->last.message, sizeof oc->last.message, "out of memory sending a batch");
        return lo;
    }
    for (size_t i = lo; i < hi; i++)
        if (!b->dead[i]) {
            live[n] = b->rec[i];
            idx[n++] = i;
        }
    size_t resolved = hi;
    if (n == 0)
        goto done;
    if (out_of_time(e)) {
        resolved = lo;
        oc->stopped = true;
        oc->last.outcome = TB_EXPORT_RETRY;
        snprintf(oc->last.message, sizeof oc->last.message, "stopped before sending");
        goto done;
    }
    if (!keep_lease(e, d)) {
        resolved = lo;
        oc->stopped = true;
        oc->lease_lost = true;
        goto done;
    }
    tb_export_result res;
    memset(&res, 0, sizeof res);
    res.retry_after_ms = -1;
    res.rejected = rej;
    /* what the exporter may ask of us during the send (export_host.h) */
    tb_export_host host = {.db = e->db, .abort = e->abort, .keep_stmts = true};
    tb_status st = d->vt->send_with ? d->vt->send_with(d->inst, &host, live, n, &res)
                                    : d->vt->send(d->inst, live, n, &res);
    if (st != TB_OK) {
        /* a local failure of the exporter: retry later */
        res.outcome = TB_EXPORT_RETRY;
        if (!res.message[0])
            snprintf(res.message, sizeof res.message, "%s",
                     tb_last_error()[0] ? tb_last_error() : tb_status_str(st));
    }
    if (res.outcome == TB_EXPORT_DELIVERED && d->vt->flush) {
        st = d->vt->flush(d->inst);
        if (st != TB_OK) {
            res.outcome = TB_EXPORT_RETRY;
            res.unknown_outcome = 1;
            snprintf(res.message, sizeof res.message, "flush failed: %s", tb_last_error());
        }
    }
    if (e->verbose == 2 && tb__mono_ms() - e->progress_at_ms >= 1000) {
        e->progress_at_ms = tb__mono_ms();
        tb__log(TB_LOG_INFO, "ship: %s: %lld delivered so far, now at seq %lld", d->cfg->name,
                (long long)e->report.delivered, (long long)live[n - 1].seq);
    }
    if (e->verbose == 1)
        tb__log(TB_LOG_INFO, "ship: %s: %zu records (seq %lld..%lld): %s%s%s", d->cfg->name, n,
                (long long)live[0].seq, (long long)live[n - 1].seq,
                res.outcome == TB_EXPORT_DELIVERED ? "delivered" : "failed",
                res.message[0] ? ": " : "", res.message);
    switch (res.outcome) {
    case TB_EXPORT_DELIVERED:
        oc->batches++;
        if (res.unknown_outcome)
            oc->duplicates_possible += (int64_t)n;
        for (size_t k = 0; k < n; k++)
            if (rej[k])
                dead_letter(b, idx[k], res.http_status,
                            res.message[0] ? res.message : "rejected by the destination");
        oc->rejected_unnamed += res.rejected_count;
        oc->skipped += res.skipped_count;
        break;
    case TB_EXPORT_TOO_LARGE:
    case TB_EXPORT_REFUSED:
        if (n == 1) {
            char reason[600];
            snprintf(reason, sizeof reason, "%s%s",
                     res.outcome == TB_EXPORT_TOO_LARGE ? "too large: " : "",
                     res.message[0] ? res.message : "refused");
            dead_letter(b, idx[0], res.http_status, reason);
        } else {
            size_t mid = idx[n / 2];
            size_t r = resolve(e, d, b, lo, mid, oc);
            resolved = r < mid ? r : resolve(e, d, b, mid, hi, oc);
        }
        break;
    case TB_EXPORT_RETRY:
    case TB_EXPORT_AUTH:
    default:
        oc->stopped = true;
        oc->last = res;
        oc->last.rejected = NULL;
        if (res.unknown_outcome)
            oc->duplicates_possible += (int64_t)n;
        resolved = lo;
        break;
    }
done:
    tb__free_mem(live);
    tb__free_mem(idx);
    tb__free_mem(rej);
    return resolved;
}

static int64_t backoff_ms(const engine *e, int64_t attempts)
{
    int64_t cap = e->cfg->backoff_cap_ms, base = e->cfg->backoff_base_ms;
    int64_t ceil = base;
    for (int64_t i = 1; i < attempts && ceil < cap; i++)
        ceil *= 2;
    if (ceil > cap)
        ceil = cap;
    uint64_t r = 0;
    tb__random(&r, sizeof r);
    return ceil > 0 ? (int64_t)(r % (uint64_t)(ceil + 1)) : 0;
}

/* Commit the outcome of one batch in one transaction. */
static tb_status commit(engine *e, dest_rt *d, batch *b, size_t resolved, const outcome *oc)
{
    char now[40], next[40];
    now_iso(now, 0);
    tb_status st = tb__db_exec(e->db, "BEGIN IMMEDIATE", "recording a delivery");
    if (st != TB_OK)
        return st;
    /* only the lease holder records anything: if the lease expired and was
     * taken over while we were sending, the new holder owns the outcome */
    bool ours = false;
    st = tb__delivery_lease_confirm(e->db, d->cfg->name, e->owner, &ours);
    if (st != TB_OK || oc->lease_lost || !ours) {
        sqlite3_exec(e->db, "ROLLBACK", NULL, NULL, NULL);
        return st;
    }
    int64_t delivered = 0, dead = 0, last_seq = 0;
    for (size_t i = 0; i < resolved; i++) {
        const tb_record *r = &b->rec[i];
        last_seq = r->seq;
        if (b->dead[i]) {
            dead++;
            st = tb__delivery_dead_letter(e->db, d->cfg->name, r->seq, b->dead_reason[i],
                                          b->dead_status[i], now);
        } else {
            delivered++;
        }
        if (st == TB_OK && b->requeued)
            st = tb__delivery_unrequeue(e->db, d->cfg->name, r->seq);
        if (st != TB_OK)
            goto rollback;
    }
    if (resolved > 0) {
        st = tb__delivery_advance(e->db, d->cfg->name, b->requeued, b->from, last_seq, delivered,
                                  now);
        if (st != TB_OK)
            goto rollback;
    }
    int64_t failed_before = 0;
    char state_line[900] = "";
    tb_log_level state_level = TB_LOG_INFO;
    if (!oc->stopped) {
        failed_before = tb__delivery_attempts(e->db, d->cfg->name);
        st = tb__delivery_succeeded(e->db, d->cfg->name, oc->duplicates_possible);
        if (failed_before > 0)
            snprintf(state_line, sizeof state_line,
                     "[%s] recovered after %lld failed attempt(s); shipping the backlog",
                     d->cfg->name, (long long)failed_before);
    } else {
        int64_t attempts = tb__delivery_attempts(e->db, d->cfg->name) + 1;
        int64_t wait;
        bool auth = oc->last.outcome == TB_EXPORT_AUTH;
        if (auth)
            wait = e->cfg->auth_backoff_ms;
        else
            wait = backoff_ms(e, attempts);
        /* Retry-After wins when longer, up to an hour (a server asking for
         * a year must not park the destination for one) */
        int64_t ra = oc->last.retry_after_ms;
        if (ra > TB__MAX_RETRY_AFTER_MS)
            ra = TB__MAX_RETRY_AFTER_MS;
        if (ra > wait)
            wait = ra;
        now_iso(next, wait);
        char msg[700];
        /* the HTTP exporters' messages already start with "HTTP <status>:" */
        if (oc->last.http_status && strncmp(oc->last.message, "HTTP ", 5) != 0)
            snprintf(msg, sizeof msg, "HTTP %d: %s", oc->last.http_status, oc->last.message);
        else
            snprintf(msg, sizeof msg, "%s", oc->last.message);
        st = tb__delivery_failed(e->db, d->cfg->name, attempts, next, msg, oc->last.http_status,
                                 auth, oc->duplicates_possible);
        e->report.failures++;
        /* a state change is worth a line without --verbose: the first
         * failure, and every refusal of the credentials (one per
         * auth_backoff) */
        if (auth) {
            state_level = TB_LOG_ERROR;
            snprintf(state_line, sizeof state_line,
                     "[%s] credentials refused (%s); parked for %lld min: fix the key, then "
                     "`tracebox ship --once --retry-now`",
                     d->cfg->name, msg, (long long)(wait / 60000));
        } else if (attempts == 1) {
            state_level = TB_LOG_WARN;
            snprintf(state_line, sizeof state_line, "[%s] failing: %s; next try in %lld %s",
                     d->cfg->name, msg, (long long)(wait < 1000 ? wait : (wait + 999) / 1000),
                     wait < 1000 ? "ms" : "s");
        }
    }
    if (st == TB_OK && oc->rejected_unnamed > 0)
        st = tb__db_counter_add(e->db, "rejected_unnamed", oc->rejected_unnamed);
    if (st == TB_OK && oc->skipped > 0)
        st = tb__db_counter_add(e->db, "skipped", oc->skipped);
    if (st != TB_OK)
        goto rollback;
    if ((st = tb__db_exec(e->db, "COMMIT", "committing a delivery")) != TB_OK)
        goto rollback;
    e->report.delivered += delivered;
    e->report.dead += dead;
    e->report.batches += oc->batches;
    if (dead > 0) {
        const char *why = "";
        for (size_t i = 0; i < resolved && !why[0]; i++)
            if (b->dead[i] && b->dead_reason[i])
                why = b->dead_reason[i];
        tb__log(TB_LOG_WARN, "[%s] dead-lettered %lld record(s): %s (see `tracebox dead`)",
                d->cfg->name, (long long)dead, why);
    }
    if (state_line[0])
        tb__log(state_level, "%s", state_line);
    return TB_OK;
rollback:
    sqlite3_exec(e->db, "ROLLBACK", NULL, NULL, NULL);
    return st;
}

/* ---- leases ---- */

static tb_status ensure_row(engine *e, dest_rt *d)
{
    char now[40];
    now_iso(now, 0);
    return tb__delivery_register(e->db, d->cfg->name, d->cfg->type, d->cfg->start_latest, now);
}

/* Take or renew the lease. Returns TB_OK with *held set. The times are
 * wall-clock text (operators read them): a lease that ends further ahead
 * than any lease can was written under a clock that has since stepped
 * back, and counts as expired. */
static tb_status take_lease(engine *e, dest_rt *d, bool *held)
{
    char now[40], until[40], beyond[40];
    now_iso(now, 0);
    now_iso(until, d->lease_ms);
    now_iso(beyond, d->lease_ms + 1000);
    tb_status st = tb__delivery_lease_take(e->db, d->cfg->name, e->owner, until, now, beyond, held);
    if (*held)
        d->lease_at_ms = tb__mono_ms();
    return st;
}

static void release_lease(engine *e, dest_rt *d)
{
    tb__delivery_lease_release(e->db, d->cfg->name, e->owner);
}

/* Is `d` waiting for its next attempt? A next attempt further ahead than
 * any backoff can set (the longest of backoff_cap, auth_backoff and the
 * Retry-After cap) was written under a clock that has since stepped back:
 * it is due now. */
static bool backing_off(engine *e, dest_rt *d)
{
    char now[40], beyond[40];
    int64_t longest = e->cfg->backoff_cap_ms;
    if (e->cfg->auth_backoff_ms > longest)
        longest = e->cfg->auth_backoff_ms;
    if (TB__MAX_RETRY_AFTER_MS > longest)
        longest = TB__MAX_RETRY_AFTER_MS;
    now_iso(now, 0);
    now_iso(beyond, longest + 1000);
    return tb__delivery_backing_off(e->db, d->cfg->name, now, beyond);
}

/* Send `d`'s next batch and record it; marks `d` idle when it is caught up,
 * backing off, stopped, or its lease is held elsewhere. */
static tb_status ship_batch(engine *e, dest_rt *d)
{
    tb_status st = TB_OK;
    if (backing_off(e, d) || (st = take_lease(e, d, &d->held)) != TB_OK || !d->held ||
        (st = read_batch(e, d, &d->b)) != TB_OK || d->b.n == 0) {
        d->idle = true;
        return st;
    }
    outcome oc;
    memset(&oc, 0, sizeof oc);
    size_t resolved = resolve(e, d, &d->b, 0, d->b.n, &oc);
    if ((st = commit(e, d, &d->b, resolved, &oc)) != TB_OK)
        d->idle = true;
    if (oc.lease_lost) {
        d->held = false; /* someone else's now: do not release it */
        d->idle = true;
    }
    if (oc.stopped)
        d->idle = true;
    return st;
}

/* Retention and checkpoints: the shipper's housekeeping. */
static void housekeeping(engine *e, bool shipped)
{
    int64_t purged;
    if (e->cfg->retention_ms > 0)
        tb__store_purge(e->db, e->cfg->retention_ms, false, &purged);
    /* A pass that shipped nothing (caught up, or every destination backing
     * off) also gives the WAL back: a long read transaction (an operator's
     * sqlite3 shell) can grow it to hundreds of MiB, and SQLite keeps the
     * file at its largest until a TRUNCATE checkpoint. The checkpoint does
     * not wait: a reader still there makes it a passive one. */
    if (!shipped && tb__db_wal_bytes(e->db) > WAL_TRUNCATE_BYTES) {
        sqlite3_busy_timeout(e->db, 0);
        int rc = sqlite3_wal_checkpoint_v2(e->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
        sqlite3_busy_timeout(e->db, 10000);
        if (rc == SQLITE_OK)
            return;
    }
    sqlite3_wal_checkpoint_v2(e->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
}

/* ---- the run ---- */

void tb__engine_close(engine *e, dest_rt *dests, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (dests[i].inst)
            dests[i].vt->destroy(dests[i].inst);
    tb__free_mem(dests);
    tb__engine_forget_statements(e);
    sqlite3_close(e->db);
    e->db = NULL;
    tb__free_mem(e->path);
    e->path = NULL;
}

void tb__engine_forget_statements(engine *e)
{
    /* those delivery.c and the exporters' questions keep on the connection */
    tb__db_finalize_all(e->db);
}

tb_status tb__engine_reconnect(engine *e)
{
    return e->db ? TB_OK : tb__db_open(&e->db, e->path, 10000, 1, 0);
}

tb_status tb__engine_open(engine *e, const char *db_path, const tb_config *cfg,
                          const tb_ship_options *opts, dest_rt **out, size_t *out_n)
{
    *out = NULL;
    *out_n = 0;
    memset(e, 0, sizeof *e);
    e->cfg = cfg;
    e->verbose = opts ? opts->verbose : 0;
    e->progress_at_ms = tb__mono_ms();
    char host[64] = "host";
    gethostname(host, sizeof host - 1);
    uint32_t rnd = 0;
    tb__random(&rnd, sizeof rnd);
    snprintf(e->owner, sizeof e->owner, "%s:%ld:%08x", host, (long)getpid(), rnd);
    if (opts && opts->max_time_ms > 0)
        e->deadline_ms = tb__mono_ms() + opts->max_time_ms;
    const char *only = opts ? opts->destination : NULL;
    if (only && !tb_config_find_destination(cfg, only))
        return tb__set_error(TB_CONFIG, "no destination named '%s' in the configuration", only);
    if (cfg->n_dests == 0)
        return tb__set_error(TB_CONFIG, "no destinations configured (add a section with "
                                        "type = … to the config)");
    dest_rt *dests = tb__calloc(cfg->n_dests, sizeof *dests);
    if (!dests)
        return tb__set_error(TB_NOMEM, "out of memory");
    size_t n = 0;
    tb_status st;
    for (size_t i = 0; i < cfg->n_dests; i++) {
        const tb_dest_config *dc = &cfg->dests[i];
        if (only && strcmp(dc->name, only) != 0)
            continue;
        if (dc->unresolved) {
            /* its secrets were left for now: they are needed now */
            st = tb__set_error(TB_CONFIG, "%s", dc->unresolved);
            goto fail;
        }
        dest_rt *d = &dests[n];
        d->cfg = dc;
        d->vt = tb__exporter_find(dc->type);
        if (!d->vt) {
            st = tb__set_error(TB_CONFIG, "%s: [%s] type = %s is not available in this build",
                               tb_dest_config_where(dc, "type"), dc->name, dc->type);
            goto fail;
        }
        char err[512] = "";
        if ((st = d->vt->create(&d->inst, dc, err, sizeof err)) != TB_OK) {
            d->inst = NULL;
            st = tb__set_error(TB_CONFIG, "%s", err[0] ? err : tb_last_error());
            goto fail;
        }
        n++;
        d->lease_ms = cfg->lease_ms;
        if (d->lease_ms < 2 * dc->timeout_ms + 10000)
            d->lease_ms = 2 * dc->timeout_ms + 10000;
    }
    if (!(e->path = tb__strdup(db_path))) {
        st = tb__set_error(TB_NOMEM, "out of memory opening %s", db_path);
        goto fail;
    }
    if ((st = tb__db_open(&e->db, db_path, 10000, 1, 0)) != TB_OK)
        goto fail;
    for (size_t i = 0; i < n; i++)
        if ((st = ensure_row(e, &dests[i])) != TB_OK)
            goto fail;
    *out = dests;
    *out_n = n;
    return TB_OK;
fail:
    tb__engine_close(e, dests, n);
    return st;
}

/* One pass over every destination until each is idle (or time is up). */
tb_status tb__engine_pass(engine *e, dest_rt *dests, size_t n)
{
    tb_status first = TB_OK;
    bool shipped = false;
    for (size_t i = 0; i < n; i++) {
        dests[i].idle = false;
        dests[i].used_ms = 0;
    }
    /* the next batch goes to the busy destination that has had the least
     * time this pass: a destination that answers in 1 ms ships batch after
     * batch while one that answers in 500 ms gets its turns too */
    while (!out_of_time(e)) {
        dest_rt *d = NULL;
        for (size_t i = 0; i < n; i++)
            if (!dests[i].idle && (!d || dests[i].used_ms < d->used_ms))
                d = &dests[i];
        if (!d)
            break;
        int64_t t0 = tb__mono_ms();
        int64_t before = e->report.batches + e->report.failures;
        tb_status st = ship_batch(e, d);
        shipped = shipped || e->report.batches + e->report.failures != before;
        d->used_ms += tb__mono_ms() - t0 + 1;
        if (st != TB_OK && first == TB_OK)
            first = st;
    }
    for (size_t i = 0; i < n; i++) {
        if (dests[i].held)
            release_lease(e, &dests[i]);
        dests[i].held = false;
        batch_free(&dests[i].b);
    }
    housekeeping(e, shipped);
    return first;
}

static void fill_report(engine *e, dest_rt *dests, size_t n, tb_ship_report *report)
{
    e->report.pending = 0;
    e->report.backing_off = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t p = tb__delivery_pending(e->db, dests[i].cfg->name);
        if (p > 0)
            e->report.pending += p;
        if (backing_off(e, &dests[i]))
            e->report.backing_off++;
    }
    if (report)
        *report = e->report;
}

tb_status tb__ship_options_read(tb_ship_options *dst, const tb_ship_options *src)
{
    tb_ship_options d = TB_SHIP_OPTIONS_INIT;
    if (src->version != 1 && src->version != TB_SHIP_OPTIONS_VERSION)
        return tb__set_error(TB_INVALID, "ship options version %u is not 1 or %u", src->version,
                             TB_SHIP_OPTIONS_VERSION);
    d.destination = src->destination;
    d.max_time_ms = src->max_time_ms;
    d.verbose = src->verbose;
    if (src->version >= 2) { /* a version 1 struct is shorter: never read past it */
        d.retry_now = src->retry_now;
        d.wait = src->wait;
    }
    *dst = d;
    return TB_OK;
}

/* After a pass with something still pending: how long until a destination
 * with pending records may be tried again (0: now, e.g. its lease is held
 * by another shipper for a moment; then a short pause); -1 when nothing is
 * pending. A next attempt further ahead than any backoff can set (a clock
 * step) counts as now. */
static int64_t time_to_next_try(engine *e, dest_rt *dests, size_t n)
{
    int64_t best = -1, now_us = tb__now_us();
    for (size_t i = 0; i < n; i++) {
        if (tb__delivery_pending(e->db, dests[i].cfg->name) <= 0)
            continue;
        int64_t at = tb__delivery_next_attempt_us(e->db, dests[i].cfg->name);
        int64_t ms = at > now_us ? (at - now_us) / 1000 + 1 : 200;
        if (best < 0 || ms < best)
            best = ms;
    }
    return best;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

tb_status tb_destination_probe(const tb_config *cfg, const char *name, tb_probe_result *out)
{
    if (!cfg || !name || !out)
        return tb__set_error(TB_INVALID, "tb_destination_probe: NULL argument");
    memset(out, 0, sizeof *out);
    const tb_dest_config *dc = tb_config_find_destination(cfg, name);
    if (!dc)
        return tb__set_error(TB_NOT_FOUND, "no destination [%s] in the configuration", name);
    if (dc->unresolved)
        return tb__set_error(TB_CONFIG, "%s", dc->unresolved);
    const tb_exporter_vtable *vt = tb__exporter_find(dc->type);
    if (!vt)
        return tb__set_error(TB_CONFIG, "%s: [%s] type = %s is not available in this build",
                             tb_dest_config_where(dc, "type"), dc->name, dc->type);
    void *inst = NULL;
    char err[512] = "";
    if (vt->create(&inst, dc, err, sizeof err) != TB_OK)
        return tb__set_error(TB_CONFIG, "%s", err[0] ? err : tb_last_error());
    tb_export_result res;
    memset(&res, 0, sizeof res);
    res.retry_after_ms = -1;
    unsigned char rejected[1] = {0};
    res.rejected = rejected;
    tb_record none;
    memset(&none, 0, sizeof none);
    atomic_int never = 0;
    tb_export_host host = {.db = NULL, .abort = &never};
    tb_status st =
        vt->send_with ? vt->send_with(inst, &host, &none, 0, &res) : vt->send(inst, &none, 0, &res);
    vt->destroy(inst);
    if (st != TB_OK) {
        res.outcome = TB_EXPORT_RETRY;
        if (!res.message[0])
            snprintf(res.message, sizeof res.message, "%s", tb_last_error());
    }
    out->outcome = res.outcome;
    out->http_status = res.http_status;
    snprintf(out->message, sizeof out->message, "%s", res.message);
    return TB_OK;
}

tb_status tb_ship_once(const char *db_path, const tb_config *cfg, const tb_ship_options *opts,
                       tb_ship_report *report)
{
    if (report)
        memset(report, 0, sizeof *report);
    if (!db_path || !cfg)
        return tb__set_error(TB_INVALID, "tb_ship_once: db_path and cfg are required");
    tb_ship_options o = TB_SHIP_OPTIONS_INIT;
    if (opts && tb__ship_options_read(&o, opts) != TB_OK)
        return TB_INVALID;
    engine e;
    dest_rt *dests;
    size_t n;
    tb_status st = tb__engine_open(&e, db_path, cfg, &o, &dests, &n);
    if (st != TB_OK)
        return st;
    for (size_t i = 0; o.retry_now && i < n && st == TB_OK; i++)
        st = tb__delivery_retry_now(e.db, dests[i].cfg->name);
    if (st == TB_OK) {
        for (;;) {
            st = tb__engine_pass(&e, dests, n);
            int64_t wait_ms = o.wait && e.deadline_ms ? time_to_next_try(&e, dests, n) : -1;
            if (wait_ms < 0 || tb__mono_ms() + wait_ms >= e.deadline_ms)
                break; /* nothing to wait for, or it waits past the deadline */
            sleep_ms(wait_ms);
        }
    }
    fill_report(&e, dests, n, report);
    tb__engine_close(&e, dests, n);
    return st;
}
