/*
 * fork.c — what the library does at fork(): nothing the child inherits may
 * be a lock held by a thread that does not exist there, or a connection
 * the parent is in the middle of using.
 *
 * Each part of the library that owns such state registers a hook
 * (tb__fork_register) with a rank. One pthread_atfork handler, installed
 * the first time a hook is registered, calls every `prepare` in rank order
 * (lowest first) in the forking thread, before fork(): each takes its own
 * locks and brings what it owns to a quiet point (an outbox finishes the
 * commit in progress and closes its connection; a shipper thread finishes
 * its batch). After fork() the parent's hooks undo that in reverse order
 * (`parent`), and in the child (`child`) each gives itself a fresh start:
 * mutexes unlocked, condition variables re-made, no writer thread, no
 * queue, a connection opened on first use.
 *
 * The ranks fix the order the locks are taken in, and it matches the order
 * the library takes them in anyway: the processor registry (held while a
 * span end commits), then shippers, then outboxes, then leaf locks (the
 * log, SQLite's own).
 */
#include "internal.h"

#include <pthread.h>

static pthread_mutex_t hooks_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static tb__fork_hook *hooks; /* sorted by rank */

static void on_prepare(void)
{
    pthread_mutex_lock(&hooks_mu);
    for (tb__fork_hook *h = hooks; h; h = h->next)
        if (h->prepare)
            h->prepare(h->self);
    tb__log_hold(true);
}

/* the last hook, walking back */
static tb__fork_hook *last_hook(void)
{
    tb__fork_hook *h = hooks;
    while (h && h->next)
        h = h->next;
    return h;
}

static void on_parent(void)
{
    tb__log_hold(false);
    for (tb__fork_hook *h = last_hook(); h; h = h->prev)
        if (h->parent)
            h->parent(h->self);
    pthread_mutex_unlock(&hooks_mu);
}

static void on_child(void)
{
    tb__log_hold(false);
    for (tb__fork_hook *h = last_hook(); h; h = h->prev)
        if (h->child)
            h->child(h->self);
    pthread_mutex_unlock(&hooks_mu);
}

static void install_atfork(void)
{
    pthread_atfork(on_prepare, on_parent, on_child);
}

void tb__fork_register(tb__fork_hook *h)
{
    pthread_once(&atfork_once, install_atfork);
    pthread_mutex_lock(&hooks_mu);
    tb__fork_hook **at = &hooks, *prev = NULL;
    while (*at && (*at)->rank <= h->rank) {
        prev = *at;
        at = &(*at)->next;
    }
    h->next = *at;
    h->prev = prev;
    if (*at)
        (*at)->prev = h;
    *at = h;
    pthread_mutex_unlock(&hooks_mu);
}

void tb__fork_unregister(tb__fork_hook *h)
{
    pthread_mutex_lock(&hooks_mu);
    for (tb__fork_hook **at = &hooks; *at; at = &(*at)->next) {
        if (*at != h)
            continue;
        *at = h->next;
        if (h->next)
            h->next->prev = h->prev;
        break;
    }
    h->next = h->prev = NULL;
    pthread_mutex_unlock(&hooks_mu);
}
