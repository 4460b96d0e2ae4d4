/*
 * processors.c — the trace processor registry and the fan-out to it.
 *
 * Processors live in one global list guarded by a read-write lock: fan-out
 * holds the read lock, so hooks run concurrently from many threads, and
 * (un)registering waits for them. Every processor is called even when an
 * earlier one fails; the first failure is returned and recorded as the
 * thread's last error. Shutdown takes the list out from under the lock
 * first, so hooks are never called on a processor being shut down.
 *
 * The global switch OPENAI_AGENTS_DISABLE_TRACING lives here too: traces
 * and spans started while it is on are no-ops that reach no processor.
 */
#include "tracing_internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static pthread_rwlock_t proc_lock = PTHREAD_RWLOCK_INITIALIZER;
static tb_processor *procs;
static size_t n_procs;
static atomic_int disabled = -1; /* -1: not read from the environment yet */

/* fork (fork.c): a span end holds the read lock while its processors
 * commit; fork() waits for those to finish, so the child never inherits
 * the lock held */
static void fork_lock(void *self)
{
    (void)self;
    pthread_rwlock_wrlock(&proc_lock);
}

static void fork_unlock(void *self)
{
    (void)self;
    pthread_rwlock_unlock(&proc_lock);
}

static tb__fork_hook fork_hook = {.rank = TB__FORK_RANK_PROCESSORS,
                                  .prepare = fork_lock,
                                  .parent = fork_unlock,
                                  .child = fork_unlock};
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

static void register_fork_hook(void)
{
    tb__fork_register(&fork_hook);
}

int tb_tracing_disabled(void)
{
    int d = atomic_load(&disabled);
    if (d < 0) {
        const char *e = getenv("OPENAI_AGENTS_DISABLE_TRACING");
        d = e && (strcmp(e, "1") == 0 || strcmp(e, "true") == 0 || strcmp(e, "TRUE") == 0 ||
                  strcmp(e, "True") == 0);
        int expected = -1;
        atomic_compare_exchange_strong(&disabled, &expected, d);
        d = atomic_load(&disabled);
    }
    return d;
}

void tb_set_tracing_disabled(int d)
{
    atomic_store(&disabled, d ? 1 : 0);
}

tb_status tb_add_trace_processor(const tb_processor *p)
{
    if (!p)
        return tb__set_error(TB_INVALID, "tb_add_trace_processor: processor is NULL");
    if (p->version != TB_PROCESSOR_VERSION)
        return tb__set_error(TB_INVALID, "tb_add_trace_processor: version %u is not %u", p->version,
                             TB_PROCESSOR_VERSION);
    pthread_once(&fork_once, register_fork_hook);
    pthread_rwlock_wrlock(&proc_lock);
    tb_processor *grown = tb__realloc(procs, (n_procs + 1) * sizeof *procs);
    if (!grown) {
        pthread_rwlock_unlock(&proc_lock);
        return tb__set_error(TB_NOMEM, "out of memory adding a processor");
    }
    procs = grown;
    procs[n_procs++] = *p;
    pthread_rwlock_unlock(&proc_lock);
    return TB_OK;
}

static void release_all(tb_processor *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (list[i].release)
            list[i].release(list[i].self);
    tb__free_mem(list);
}

tb_status tb_set_trace_processors(const tb_processor *p, size_t count)
{
    if (count && !p)
        return tb__set_error(TB_INVALID, "tb_set_trace_processors: processors is NULL");
    for (size_t i = 0; i < count; i++)
        if (p[i].version != TB_PROCESSOR_VERSION)
            return tb__set_error(TB_INVALID,
                                 "tb_set_trace_processors: processor %zu has "
                                 "version %u, not %u",
                                 i, p[i].version, TB_PROCESSOR_VERSION);
    tb_processor *list = NULL;
    if (count) {
        list = tb__malloc(count * sizeof *list);
        if (!list)
            return tb__set_error(TB_NOMEM, "out of memory setting processors");
        memcpy(list, p, count * sizeof *list);
    }
    pthread_rwlock_wrlock(&proc_lock);
    tb_processor *old = procs;
    size_t n_old = n_procs;
    procs = list;
    n_procs = count;
    pthread_rwlock_unlock(&proc_lock);
    release_all(old, n_old);
    return TB_OK;
}

static const char *hook_name[] = {"on_trace_start", "on_trace_end", "on_span_start", "on_span_end",
                                  "force_flush"};

tb_status tb__fan_out(enum tb__hook h, const tb_trace *t, const tb_span *s)
{
    tb_status first = TB_OK;
    char first_msg[1024] = "";
    pthread_rwlock_rdlock(&proc_lock);
    for (size_t i = 0; i < n_procs; i++) {
        const tb_processor *p = &procs[i];
        tb_status st = TB_OK;
        tb__clear_error();
        switch (h) {
        case TB__HOOK_TRACE_START:
            st = p->on_trace_start ? p->on_trace_start(p->self, t) : TB_OK;
            break;
        case TB__HOOK_TRACE_END:
            st = p->on_trace_end ? p->on_trace_end(p->self, t) : TB_OK;
            break;
        case TB__HOOK_SPAN_START:
            st = p->on_span_start ? p->on_span_start(p->self, s) : TB_OK;
            break;
        case TB__HOOK_SPAN_END:
            st = p->on_span_end ? p->on_span_end(p->self, s) : TB_OK;
            break;
        case TB__HOOK_FLUSH:
            st = p->force_flush ? p->force_flush(p->self) : TB_OK;
            break;
        }
        /* the first failure is reported, except that a busy file wins: it
         * is the one a caller can retry (tb_span_end) */
        if (st != TB_OK && (first == TB_OK || (st == TB_BUSY && first != TB_BUSY))) {
            first = st;
            snprintf(first_msg, sizeof first_msg, "processor %zu %s: %s", i, hook_name[h],
                     tb_last_error()[0] ? tb_last_error() : tb_status_str(st));
        }
    }
    pthread_rwlock_unlock(&proc_lock);
    if (first != TB_OK)
        tb__set_error(first, "%s", first_msg);
    else
        tb__clear_error();
    return first;
}

tb_status tb_force_flush(void)
{
    return tb__fan_out(TB__HOOK_FLUSH, NULL, NULL);
}

tb_status tb_shutdown(int64_t timeout_ms)
{
    tb_status first = TB_OK;
    int64_t deadline = tb__mono_ms() + timeout_ms;
    pthread_rwlock_wrlock(&proc_lock);
    tb_processor *list = procs;
    size_t n = n_procs;
    procs = NULL;
    n_procs = 0;
    pthread_rwlock_unlock(&proc_lock);
    for (size_t i = 0; i < n; i++) {
        int64_t left = deadline - tb__mono_ms();
        if (left < 0)
            left = 0;
        tb_status st = list[i].shutdown ? list[i].shutdown(list[i].self, left) : TB_OK;
        if (st != TB_OK && first == TB_OK)
            first = st;
    }
    release_all(list, n);
    return first;
}
