/*
 * outbox_async.c — `async` durability: a put returns once its request is
 * queued, and a writer thread leads a batch (outbox_writer.c) every
 * flush_interval_ms, or sooner when the queue fills.
 *
 * The queue is bounded by queue_capacity; a full queue blocks the producer
 * or drops the record (counted in counters.dropped_queue) per queue_policy.
 * A request queued by tb__outbox_submit_async is detached: nobody waits
 * for it, and the leader frees it once written (tb_outbox_put_json_many
 * waits for its own requests even here). It was acknowledged, so a batch
 * that meets a file another connection holds locked (an operator's sqlite3
 * shell in a long transaction, past busy_timeout) is not dropped: it goes
 * back to the front of the queue and the writer tries again after a pause
 * (50 ms, doubling to 1 s), however long the lock lasts; producers meanwhile
 * fill the bounded queue (and block or drop, counted, per queue_policy),
 * and tb_outbox_flush() times out instead of claiming success. Only a
 * close while the lock still holds gives up, after twice busy_timeout, and
 * logs how many records it could not write. A record that fails for
 * another reason is logged and counted in counters.dropped_queue.
 * tb_outbox_flush waits until the queue is empty and no batch is being
 * written.
 */
#include "outbox_handle.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

/* The async writer polls: while records keep coming it wakes every
 * flush_interval_ms and commits what is queued, so producers never pay for
 * a wake-up (a futex call, a cross-CPU interrupt on a VM). After a second
 * with nothing to do it sleeps until a producer signals it (`deep_sleep`),
 * so an idle application costs nothing. A queue half full is signalled at
 * once whatever the state. */
/* Wait on work_cv for at most ms (ob->mu held). */
static void timed_wait(tb_outbox *ob, int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t ns = ts.tv_nsec + ms * 1000000;
    ts.tv_sec += (time_t)(ns / 1000000000);
    ts.tv_nsec = (long)(ns % 1000000000);
    pthread_cond_timedwait(&ob->work_cv, &ob->mu, &ts);
}

/* Closing while the file stays locked: what is still queued cannot be
 * written. Say so, loudly and with the count (it cannot reach the file's
 * counters either), and free it (ob->mu held). */
static void give_up_locked(tb_outbox *ob)
{
    size_t n = 0;
    for (tb__put_req *r = ob->head, *next; r; r = next) {
        next = r->next;
        tb__put_req_free(r);
        n++;
    }
    ob->head = ob->tail = NULL;
    ob->queued = 0;
    ob->n_finished += n;
    ob->gave_up = true;
    ob->retry_wait_ms = 0;
    tb__log(TB_LOG_ERROR,
            "%s stayed locked by another connection while closing: %zu acknowledged record(s) "
            "could not be written",
            ob->path, n);
}

static void *writer_main(void *arg)
{
    tb_outbox *ob = arg;
    int64_t idle_ms = 0;
    pthread_mutex_lock(&ob->mu);
    int64_t stop_at_ms = 0; /* closing: when to stop trying a locked file */
    for (;;) {
        if (ob->head && ob->retry_wait_ms) {
            /* the file was locked: wait before trying again (a close waits
             * at most twice the busy timeout more) */
            int64_t now = tb__mono_ms();
            if (ob->stopping && !stop_at_ms)
                stop_at_ms = now + 2 * (int64_t)ob->opts.busy_timeout_ms + 1000;
            if (ob->stopping && now >= stop_at_ms) {
                give_up_locked(ob);
                continue;
            }
            if (now < ob->retry_at_ms) {
                timed_wait(ob, ob->retry_at_ms - now);
                continue;
            }
        }
        if (ob->head) {
            while (ob->leading)
                pthread_cond_wait(&ob->done_cv, &ob->mu);
            if (ob->head)
                tb__outbox_lead_locked(ob);
            idle_ms = 0;
            continue;
        }
        if (ob->stopping)
            break;
        if (idle_ms < 1000) {
            timed_wait(ob, ob->opts.flush_interval_ms);
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

tb_status tb__outbox_async_start(tb_outbox *ob)
{
    if (pthread_create(&ob->writer, NULL, writer_main, ob) != 0)
        return tb__set_error(TB_ERROR, "cannot start the async writer thread");
    ob->writer_running = true;
    return TB_OK;
}

void tb__outbox_async_stop(tb_outbox *ob)
{
    if (!ob->writer_running)
        return;
    pthread_mutex_lock(&ob->mu);
    ob->stopping = true;
    pthread_cond_broadcast(&ob->work_cv);
    pthread_mutex_unlock(&ob->mu);
    pthread_join(ob->writer, NULL);
}

tb_status tb__outbox_submit_async(tb_outbox *ob, tb__put_req *r)
{
    if (!r->owned) {
        char *copy = tb__strndup(r->body, r->body_len);
        if (!copy) {
            tb__put_req_free(r);
            return tb__set_error(TB_NOMEM, "out of memory storing a record");
        }
        r->body = copy;
        r->owned = true;
    }
    /* the columns are already in the record's own buffer (the codec and
     * span.c put them there): a queue slot costs about the body */
    r->detached = true;
    pthread_mutex_lock(&ob->mu);
    if (!ob->writer_running && !ob->stopping && tb__outbox_async_start(ob) != TB_OK) {
        /* a forked child's first put starts its writer */
        pthread_mutex_unlock(&ob->mu);
        tb__put_req_free(r);
        return TB_ERROR;
    }
    while (ob->queued >= ob->opts.queue_capacity && ob->opts.queue_policy == TB_QUEUE_BLOCK)
        pthread_cond_wait(&ob->space_cv, &ob->mu);
    if (ob->queued >= ob->opts.queue_capacity) {
        ob->dropped++;
        pthread_mutex_unlock(&ob->mu);
        tb__put_req_free(r);
        return tb__set_error(TB_FULL,
                             "async queue full (%zu records): record dropped and "
                             "counted",
                             ob->opts.queue_capacity);
    }
    tb__outbox_enqueue_locked(ob, r);
    if (ob->deep_sleep || ob->queued >= ob->opts.queue_capacity / 2)
        pthread_cond_signal(&ob->work_cv);
    pthread_mutex_unlock(&ob->mu);
    return TB_OK;
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
    /* the records queued before this call, whatever comes after them */
    const uint64_t target = ob->n_queued;
    while (ob->n_finished < target) {
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
