/*
 * outbox_handle.h — the inside of a tb_outbox, shared by the three files
 * that implement it and by nobody else:
 *
 *   outbox.c         open and close, decoding a put, the put entry points,
 *                    the outbox processor
 *   outbox_writer.c  group commit: a leader takes the whole queue and
 *                    writes it in one transaction (insert, trace merge,
 *                    size cap, one-by-one retry)
 *   outbox_async.c   async mode: queueing without waiting, the writer
 *                    thread, flush
 *
 * The queue and the leader flag are guarded by `mu`; the connection and its
 * statements are used only by the current leader, without the mutex.
 */
#ifndef TRACEBOX_OUTBOX_HANDLE_H
#define TRACEBOX_OUTBOX_HANDLE_H

#include "outbox_put.h"
#include "db.h"
#include "record.h"

#include <pthread.h>
#include <stdatomic.h>

typedef struct tb__put_req {
    struct tb__put_req *next;
    tb__record rec;
    char *body; /* owned when `owned` (async copy, redacted text); else borrowed */
    size_t body_len;
    bool owned;    /* free body with the request */
    bool detached; /* async: nobody waits; the leader frees the request */
    bool done;
    tb_status st;
    char err[512];
} tb__put_req;

struct tb_outbox {
    char *path;
    tb_outbox_options opts;
    sqlite3 *db; /* used only by the current leader */
    sqlite3_stmt *ins, *get_trace, *upd_trace;
    /* the last seq handed out, read at the start of a write, and giving
     * back the one an ignored duplicate took (outbox_writer.c) */
    sqlite3_stmt *seq_get, *seq_back;

    pthread_mutex_t mu;
    pthread_cond_t done_cv;  /* a batch finished */
    pthread_cond_t space_cv; /* async: queue has room */
    pthread_cond_t work_cv;  /* async: wake the writer */
    tb__put_req *head, *tail;
    size_t queued;
    bool leading;
    /* group commit (full, normal): puts that have begun but are not queued
     * yet, and what writing a batch took lately; a new leader waits for
     * the ones on their way, at most that long (outbox.c, gather) */
    _Atomic int arriving;
    int64_t commit_us;
    size_t last_batch; /* requests in the last batch */
    bool gathering;
    int64_t dropped; /* async drops not yet written to counters */
    int64_t refused; /* TB_FULL refusals not yet written to counters */
    /* async writer */
    pthread_t writer;
    bool writer_running;
    bool stopping;
    bool deep_sleep;       /* the writer waits for a signal (idle for a second) */
    int64_t retry_at_ms;   /* the file was locked: no batch before this (monotonic) */
    int64_t retry_wait_ms; /* the current wait (doubles to 1 s); 0: not waiting */
    /* fork (outbox.c): the connection is closed before fork() and opened
     * again by the next leader, in the parent and in the child */
    tb__fork_hook fork_hook;
    bool reopen;
    /* requests ever queued, and ever finished (written, refused or given
     * up): tb_outbox_flush waits for the ones queued before it, not for an
     * empty queue, which a steady producer would never leave */
    uint64_t n_queued, n_finished;
    bool gave_up; /* closing: the file stayed locked (outbox_async.c) */
};

/* Append r to the queue. Called with ob->mu held. */
static inline void tb__outbox_enqueue_locked(tb_outbox *ob, tb__put_req *r)
{
    if (ob->tail)
        ob->tail->next = r;
    else
        ob->head = r;
    ob->tail = r;
    ob->queued++;
    ob->n_queued++;
}

/* Store a record whose columns are already known (the outbox processor,
 * from a tb_span). Takes ownership of *rec (cleared) and of body (tb__malloc'd). */
struct tb__record;
tb_status tb__outbox_put_record(tb_outbox *ob, struct tb__record *rec, char *body, size_t len);

/* ---- outbox_writer.c ---- */

/* Prepare the leader's statements (insert, read and update a stored trace). */
tb_status tb__outbox_prepare(tb_outbox *ob);
/* Leader: open the connection again when a fork closed it (ob->reopen). */
tb_status tb__outbox_reopen(tb_outbox *ob);
/* Finalize the statements and close the connection (NULL-safe). */
void tb__outbox_disconnect(tb_outbox *ob, bool quietly);
/* Take the queue and lead one batch. Called with ob->mu held and
 * ob->leading false; returns with ob->mu held. Every request taken ends
 * with st set: detached ones are freed, the others marked done (done_cv). */
void tb__outbox_lead_locked(tb_outbox *ob);
/* Free a request: its record and, when owned, its body. */
void tb__put_req_free(tb__put_req *r);

/* ---- outbox_async.c ---- */

/* Start the writer thread (async mode); sets the last error on failure. */
tb_status tb__outbox_async_start(tb_outbox *ob);
/* Stop the writer thread, if running, once it has written what is queued. */
void tb__outbox_async_stop(tb_outbox *ob);
/* Queue a decoded request without waiting (async mode): copies a borrowed
 * body, blocks or drops when the queue is full (queue_policy). Takes
 * ownership of r. */
tb_status tb__outbox_submit_async(tb_outbox *ob, tb__put_req *r);

#endif
