/*
 * shipper_engine.h — the delivery engine (shipper.c) as its two shapes use
 * it (internal): tb_ship_once() runs one pass in the caller's thread; the
 * shipper thread (shipper_thread.c) runs passes until stopped. An engine
 * owns its connection to the outbox and one exporter instance per
 * destination; one thread uses it at a time.
 */
#ifndef TRACEBOX_SHIPPER_ENGINE_H
#define TRACEBOX_SHIPPER_ENGINE_H

#include "internal.h"

#include <sqlite3.h>
#include <stdatomic.h>

typedef struct batch {
    tb_record *rec;
    unsigned char *dead; /* per record: 1 = dead-letter */
    int *dead_status;    /* HTTP status for the dead letter */
    char **dead_reason;  /* owned reason strings */
    char **own_body;     /* a body of its own (a destination that redacts), else NULL */
    size_t n, cap;
    bool requeued; /* records come from the requeued table */
    int64_t from;  /* the cursor the batch was read after */
} batch;

typedef struct dest_rt {
    const tb_dest_config *cfg;
    const tb_exporter_vtable *vt;
    void *inst;
    int64_t lease_ms;
    int64_t lease_at_ms; /* monotonic time the lease was last taken/renewed */
    bool held;           /* we hold its lease (during a pass) */
    bool idle;           /* caught up, backing off or lease elsewhere: done this pass */
    int64_t used_ms;     /* time spent on it this pass */
    batch b;             /* the batch being sent (reused) */
} dest_rt;

typedef struct engine {
    sqlite3 *db; /* NULL after a fork closed it: tb__engine_reconnect */
    char *path;
    const tb_config *cfg;
    char owner[96];
    tb_ship_report report;
    atomic_int *stop;       /* thread shape: set to ask for a stop */
    atomic_int *abort;      /* thread shape: set to abort the send in flight */
    atomic_int *pause;      /* thread shape: end the pass after this batch (fork) */
    int64_t deadline_ms;    /* monotonic; 0: none */
    int64_t progress_at_ms; /* verbose 2: last progress line */
    int verbose;
} engine;

/* Open the outbox and create an exporter per configured destination (or
 * only opts->destination); *out gets *out_n destinations. */
tb_status tb__engine_open(engine *e, const char *db_path, const tb_config *cfg,
                          const tb_ship_options *opts, dest_rt **out, size_t *out_n);
/* One pass: batch after batch, each to the busy destination that has had
 * the least time so far, until each is idle (or time is up) — so a slow
 * destination gets its turns without holding the others back. */
tb_status tb__engine_pass(engine *e, dest_rt *dests, size_t n);
void tb__engine_close(engine *e, dest_rt *dests, size_t n);
/* Finalize the statements kept on the connection (delivery.c, the
 * exporters' questions) before db closes. */
void tb__engine_forget_statements(engine *e);
/* Copy options of version 1 or 2 into the current struct (defaults for
 * what an older version lacks). TB_INVALID for another version. */
tb_status tb__ship_options_read(tb_ship_options *dst, const tb_ship_options *src);
/* Open the connection again if a fork closed it (e->db NULL). */
tb_status tb__engine_reconnect(engine *e);

#endif
