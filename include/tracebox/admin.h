/*
 * tracebox/admin.h — the operator's view of an outbox file: what the
 * `tracebox` CLI's read and maintenance verbs use, and what a binding or a
 * monitoring agent can use the same way.
 *
 * An admin handle is one SQLite connection to one outbox file. Opened with
 * TB_ADMIN_READONLY it never creates, migrates or writes anything: a path
 * that holds no outbox is TB_NOT_FOUND ("no outbox at PATH"), a file that is
 * not one TB_NOT_OUTBOX. The maintenance calls (requeue, purge, forget) need
 * a handle opened without that flag.
 *
 * Rows are handed to a callback, borrowed: strings are valid only during
 * the call (copy what you keep). A callback that returns non-zero stops the
 * iteration (the call then returns TB_OK). NULL strings mean the column is
 * NULL. One handle belongs to one thread at a time; several handles (and
 * processes) may read one file while it is written and shipped.
 *
 * "May this record be deleted?" has one answer, used by purge, retention
 * and the size cap alike: only when every destination — configured or known
 * to the file — has delivered it (seq <= its cursor), it is not requeued,
 * and no dead letter points to it.
 */
#ifndef TRACEBOX_ADMIN_H
#define TRACEBOX_ADMIN_H

#include "tracebox/exporter.h"
#include "tracebox/status.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tb_admin tb_admin;

#define TB_ADMIN_READONLY 1u /* never create, migrate or write */

/* Open the outbox at `path`. On failure *out is NULL and tb_last_error()
 * says why in one line. Any thread. */
TB_EXTERN tb_status tb_admin_open(tb_admin **out, const char *path, unsigned flags);
/* NULL is a no-op. */
TB_EXTERN void tb_admin_close(tb_admin *admin);
/* The path it was opened with (borrowed). */
TB_EXTERN const char *tb_admin_path(const tb_admin *admin);

/* Figures of the whole file. Sizes are -1 when unknown. */
typedef struct tb_admin_figures {
    int64_t records;
    int64_t file_bytes, wal_bytes, free_bytes;
    /* counters of records that never became rows or left without delivery */
    int64_t refused_full, dropped_queue, purged, evicted_delivered, rejected_unnamed;
    /* records a destination does not take, delivered there without being
     * sent (OTLP spans at an `openai` destination) */
    int64_t skipped;
} tb_admin_figures;
TB_EXTERN tb_status tb_admin_figures_get(tb_admin *admin, tb_admin_figures *out);

/* One destination the file knows (the outbox_status view plus its state). */
typedef struct tb_dest_status {
    const char *name, *type;
    int64_t pending, oldest_pending_age_s, delivered, dead, attempts, resent, cursor;
    const char *last_error;      /* one line, never a credential */
    const char *next_attempt_at; /* UTC ISO-8601, or NULL: now */
    const char *last_success_at;
    const char *lease_owner; /* who is shipping it now, or NULL */
    int auth_failed;         /* 1 after a 401/403 until a success */
} tb_dest_status;
typedef int (*tb_dest_status_fn)(void *ctx, const tb_dest_status *row);
/* Every destination, by name. */
TB_EXTERN tb_status tb_admin_status(tb_admin *admin, tb_dest_status_fn fn, void *ctx);

/* One (destination, record) not yet delivered and not dead. */
typedef struct tb_pending_row {
    const char *destination;
    int64_t seq;
    const char *kind, *trace_id, *span_id, *type, *name, *ended_at;
    int64_t age_s; /* since the outbox accepted it */
} tb_pending_row;
typedef int (*tb_pending_fn)(void *ctx, const tb_pending_row *row);
/* What is pending, for one destination (NULL: all), by destination and seq;
 * at most `limit` rows (<= 0: no limit). */
TB_EXTERN tb_status tb_admin_pending(tb_admin *admin, const char *destination, int64_t limit,
                                     tb_pending_fn fn, void *ctx);

/* One dead letter, with what the record was (NULLs if it is gone). */
typedef struct tb_dead_row {
    const char *destination;
    int64_t seq;
    const char *reason;
    int http_status; /* 0: none */
    const char *time;
    const char *kind, *trace_id, *span_id, *type, *name;
} tb_dead_row;
typedef int (*tb_dead_fn)(void *ctx, const tb_dead_row *row);
TB_EXTERN tb_status tb_admin_dead(tb_admin *admin, const char *destination, tb_dead_fn fn,
                                  void *ctx);

/* The stored records (tb_record, exporter.h) of one trace, or of the whole
 * file (trace_id NULL), in seq order. */
TB_EXTERN tb_status tb_admin_records(tb_admin *admin, const char *trace_id, tb_record_fn fn,
                                     void *ctx);

/* One trace of the latest ones (tb_admin_traces): what a list of traces
 * shows. A trace is named by its trace record's workflow name, else by the
 * name of its first root span, else NULL. Times are the earliest
 * started_at and latest ended_at of its records (ISO-8601, as stored;
 * NULL when none). */
typedef struct tb_trace_row {
    const char *trace_id;
    const char *name;
    const char *started_at;
    const char *ended_at;
    int64_t spans;    /* span records (SDK spans and OTLP spans) */
    int64_t errors;   /* of those, with an error */
    int64_t last_seq; /* its newest record */
} tb_trace_row;
typedef int (*tb_trace_row_fn)(void *ctx, const tb_trace_row *row);
/* The `limit` traces with the newest records (by their newest seq), newest
 * first (limit <= 0: 50). Reads only the newest records and those of the
 * traces it lists, so it costs the same on a file of a million records. */
TB_EXTERN tb_status tb_admin_traces(tb_admin *admin, int64_t limit, tb_trace_row_fn fn, void *ctx);

/* A trace's delivery state at one destination. */
typedef struct tb_trace_delivery {
    const char *destination;
    int64_t delivered, pending, dead;
} tb_trace_delivery;
typedef int (*tb_trace_delivery_fn)(void *ctx, const tb_trace_delivery *row);
TB_EXTERN tb_status tb_admin_trace_delivery(tb_admin *admin, const char *trace_id,
                                            tb_trace_delivery_fn fn, void *ctx);

/* Put dead letters back in line (all = 0), or every retained record
 * (all = 1), for one destination (NULL: every one). *requeued (may be NULL)
 * counts the records really put back; *gone (may be NULL) the dead letters
 * that pointed to records no longer in the file (removed: there is nothing
 * to send; only files written before this rule can have them).
 * TB_NOT_FOUND for a destination the file does not know. One transaction. */
TB_EXTERN tb_status tb_admin_requeue(tb_admin *admin, const char *destination, int all,
                                     int64_t *requeued, int64_t *gone);

/* Delete what may be deleted (see the top of this file) and is older than
 * older_than_ms, in one transaction; then give the space back.
 * `configured` (NULL-terminated names; may be NULL): the destinations the
 * configuration has — one the file does not know yet will backfill from
 * the oldest record, so nothing is deleted while there is one. *deleted
 * (may be NULL) counts the records. */
TB_EXTERN tb_status tb_admin_purge(tb_admin *admin, const char *const *configured,
                                   int64_t older_than_ms, int64_t *deleted);

/* Drop a destination's delivery state (its row, dead letters and requeued
 * entries), so it no longer holds records back. TB_NOT_FOUND when the file
 * does not know it. *dead_dropped (may be NULL): its dead letters removed. */
TB_EXTERN tb_status tb_admin_forget(tb_admin *admin, const char *destination,
                                    int64_t *dead_dropped);

#ifdef __cplusplus
}
#endif
#endif
