/*
 * outbox_async.c — `async` durability: a put returns once its request is
 * queued, and a writer thread leads a batch (outbox_writer.c) every
 * flush_interval_ms, or sooner when the queue fills.
 *
 * The queue is bounded by queue_capacity; a full queue blocks the producer
 * or drops the record (counted in counters.dropped_queue) per queue_policy.
 * A request queued by tb__outbox_submit_async is detached: nobody waits
 * for it, and the leader frees it, logging a write that failed
 * (tb_outbox_put_json_many waits for its own requests even here).
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
                tb__outbox_lead_locked(ob);
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
    /* a queued span keeps only its columns (a trace keeps its tree for
     * a merge), so a queue slot costs about the body, not a cJSON tree */
    r->detached = true;
    if (!r->rec.is_trace && r->rec.root && tb__record_compact(&r->rec) != TB_OK) {
        tb__put_req_free(r);
        return tb__set_error(TB_NOMEM, "out of memory storing a record");
    }
    pthread_mutex_lock(&ob->mu);
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
