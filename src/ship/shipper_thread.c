/*
 * shipper_thread.c — tb_shipper_*: the delivery engine (shipper.c) on a
 * thread of its own inside the application, passing until stopped.
 *
 * Stopping is two-phase: tb_shipper_stop() first lets an export in flight
 * finish (its outcome is then recorded), and in the last half of its
 * allowance raises the abort flag the send's host reports
 * (tb_export_host_stopping), so a slow server cannot hold the application
 * up; an aborted batch is sent again later. A thread that still does not
 * finish in time is detached and frees itself when it gets out.
 *
 * fork(): before it, the shipper finishes the batch in flight, ends its
 * pass and closes its connection (the next pass opens it again), so the
 * child inherits no connection in SQLite's per-process lock table. The
 * child has no shipper thread: tb_shipper_stop() there returns at once and
 * leaves the parent's exporters (their sockets are the parent's) alone.
 */
#include "shipper_engine.h"

#include "config_internal.h"
#include "db.h"
#include "delivery.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

struct tb_shipper {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_int stop;      /* finish the export in flight, then stop */
    atomic_int abort_now; /* abort the export in flight (stop's deadline is near) */
    atomic_int pause;     /* a fork is waiting: end the pass after this batch */
    bool in_pass;
    bool forked; /* this is a child of the process that started the thread */
    tb__fork_hook fork_hook;
    bool woken;
    bool finished;
    bool detached;
    engine e;
    dest_rt *dests;
    size_t n;
};

static void shipper_free(tb_shipper *s)
{
    tb__engine_close(&s->e, s->dests, s->n);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    tb__free_mem(s);
}

static void *shipper_main(void *arg)
{
    tb_shipper *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        if (atomic_load(&s->stop)) {
            pthread_mutex_unlock(&s->mu);
            break;
        }
        s->in_pass = true;
        pthread_mutex_unlock(&s->mu);
        if (tb__engine_reconnect(&s->e) == TB_OK)
            tb__engine_pass(&s->e, s->dests, s->n);
        else
            tb__log(TB_LOG_ERROR, "shipper: %s", tb_last_error());
        /* sleep until woken, stopped, or the poll interval passes */
        pthread_mutex_lock(&s->mu);
        s->in_pass = false;
        pthread_cond_broadcast(&s->cv);
        if (!atomic_load(&s->stop) && !s->woken) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            int64_t ns = ts.tv_nsec + s->e.cfg->poll_interval_ms * 1000000;
            ts.tv_sec += (time_t)(ns / 1000000000);
            ts.tv_nsec = (long)(ns % 1000000000);
            pthread_cond_timedwait(&s->cv, &s->mu, &ts);
        }
        s->woken = false;
        pthread_mutex_unlock(&s->mu);
    }
    pthread_mutex_lock(&s->mu);
    s->finished = true;
    bool detached = s->detached;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (detached)
        shipper_free(s);
    return NULL;
}

static void fork_prepare(void *self)
{
    tb_shipper *s = self;
    pthread_mutex_lock(&s->mu);
    atomic_store(&s->pause, 1);
    while (s->in_pass)
        pthread_cond_wait(&s->cv, &s->mu);
    tb__engine_forget_statements(&s->e);
    tb__db_close_quietly(s->e.db);
    s->e.db = NULL;
}

static void fork_parent(void *self)
{
    tb_shipper *s = self;
    atomic_store(&s->pause, 0);
    pthread_mutex_unlock(&s->mu);
}

static void fork_child(void *self)
{
    tb_shipper *s = self;
    s->forked = true;
    pthread_cond_init(&s->cv, NULL);
    pthread_mutex_unlock(&s->mu);
}

tb_status tb_shipper_start(tb_shipper **out, const char *db_path, const tb_config *cfg,
                           const tb_ship_options *opts)
{
    if (!out)
        return tb__set_error(TB_INVALID, "tb_shipper_start: out is NULL");
    *out = NULL;
    if (!db_path || !cfg)
        return tb__set_error(TB_INVALID, "tb_shipper_start: db_path and cfg are required");
    tb_shipper *s = tb__calloc(1, sizeof *s);
    if (!s)
        return tb__set_error(TB_NOMEM, "out of memory starting the shipper");
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    tb_ship_options o = TB_SHIP_OPTIONS_INIT;
    if (opts && tb__ship_options_read(&o, opts) != TB_OK) {
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cv);
        tb__free_mem(s);
        return TB_INVALID;
    }
    o.max_time_ms = 0;
    tb_status st = tb__engine_open(&s->e, db_path, cfg, &o, &s->dests, &s->n);
    if (st != TB_OK) {
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cv);
        tb__free_mem(s);
        return st;
    }
    for (size_t i = 0; o.retry_now && i < s->n; i++)
        tb__delivery_retry_now(s->e.db, s->dests[i].cfg->name);
    s->e.stop = &s->stop;
    s->e.abort = &s->abort_now;
    s->e.pause = &s->pause;
    s->fork_hook = (tb__fork_hook){.rank = TB__FORK_RANK_SHIPPER,
                                   .prepare = fork_prepare,
                                   .parent = fork_parent,
                                   .child = fork_child,
                                   .self = s};
    tb__fork_register(&s->fork_hook);
    if (pthread_create(&s->thread, NULL, shipper_main, s) != 0) {
        tb__fork_unregister(&s->fork_hook);
        shipper_free(s);
        return tb__set_error(TB_ERROR, "cannot start the shipper thread");
    }
    *out = s;
    return TB_OK;
}

void tb_shipper_wake(tb_shipper *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->woken = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

tb_status tb_shipper_stop(tb_shipper *s, int64_t timeout_ms)
{
    if (!s)
        return TB_OK;
    tb__fork_unregister(&s->fork_hook);
    if (s->forked) /* the thread and its sockets stayed with the parent */
        return TB_OK;
    int64_t start = tb__mono_ms();
    int64_t deadline = start + (timeout_ms < 0 ? 0 : timeout_ms);
    /* first let an export in flight finish (its outcome is then recorded);
     * in the last half of the allowance, abort it (it is sent again later) */
    int64_t abort_at = start + (timeout_ms < 0 ? 0 : timeout_ms / 2);
    pthread_mutex_lock(&s->mu);
    atomic_store(&s->stop, 1);
    pthread_cond_broadcast(&s->cv);
    while (!s->finished) {
        int64_t now = tb__mono_ms();
        int64_t left = deadline - now;
        if (left <= 0)
            break;
        if (now >= abort_at)
            atomic_store(&s->abort_now, 1);
        else if (left > abort_at - now)
            left = abort_at - now;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = ts.tv_nsec + left * 1000000;
        ts.tv_sec += (time_t)(ns / 1000000000);
        ts.tv_nsec = (long)(ns % 1000000000);
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    }
    if (!s->finished) {
        /* still inside an export: it frees itself when it gets out */
        s->detached = true;
        pthread_mutex_unlock(&s->mu);
        pthread_detach(s->thread);
        return tb__set_error(TB_TIMEOUT,
                             "shipper did not stop within %lld ms; it stops after "
                             "its current export (the batch is sent again later)",
                             (long long)timeout_ms);
    }
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    shipper_free(s);
    return TB_OK;
}
