/*
 * store.h — the operator-facing statements on the outbox tables (internal;
 * implemented in store.c): status, pending, dead letters, a trace's records
 * and delivery, requeue, forget, and the one rule for deleting records that
 * purge, retention and the size cap share. The public face of these is
 * include/tracebox/admin.h.
 */
#ifndef TRACEBOX_STORE_H
#define TRACEBOX_STORE_H

#include "internal.h"
#include "tracebox/admin.h"

#include <sqlite3.h>

/* The one rule: a record may be deleted only when every destination the
 * file knows has delivered it, it is not requeued and no dead letter points
 * to it. (Destinations the file does not know yet: the caller's concern.) */
#define TB__STORE_DELETABLE                                                                        \
    "seq <= (SELECT coalesce(min(cursor), 0) FROM destinations) "                                  \
    "AND seq NOT IN (SELECT seq FROM requeued) AND seq NOT IN (SELECT seq FROM dead_letters)"

/* Purge, in one transaction, what may be deleted and is older than
 * older_than_ms; count it in counters.purged. keep_all: a destination that
 * the file does not know yet needs everything (nothing is deleted). */
tb_status tb__store_purge(sqlite3 *db, int64_t older_than_ms, bool keep_all, int64_t *deleted);
/* Inside the caller's transaction: delete up to `limit` of the oldest
 * records that may be deleted; count them in counters.evicted_delivered. */
tb_status tb__store_evict(sqlite3 *db, int limit, int64_t *evicted);

/* The columns of `records` that make a tb_record, in the order
 * tb__store_row_record() reads them; `t` prefixes each ("r." or ""). */
#define TB__RECORD_COLS(t)                                                                         \
    t "seq, " t "kind, " t "trace_id, " t "span_id, " t "parent_id, " t "type, " t "name, " t      \
      "started_at, " t "ended_at, " t "body"
/* A tb_record borrowing the current row of s (columns TB__RECORD_COLS from
 * column 0; valid until the next step). */
void tb__store_row_record(sqlite3_stmt *s, tb_record *r);

tb_status tb__store_figures(sqlite3 *db, tb_admin_figures *out);
tb_status tb__store_status(sqlite3 *db, tb_dest_status_fn fn, void *ctx);
tb_status tb__store_pending(sqlite3 *db, const char *destination, int64_t limit, tb_pending_fn fn,
                            void *ctx);
tb_status tb__store_dead(sqlite3 *db, const char *destination, tb_dead_fn fn, void *ctx);
tb_status tb__store_records(sqlite3 *db, const char *trace_id, tb_record_fn fn, void *ctx);
tb_status tb__store_trace_delivery(sqlite3 *db, const char *trace_id, tb_trace_delivery_fn fn,
                                   void *ctx);
tb_status tb__store_traces(sqlite3 *db, int64_t limit, tb_trace_row_fn fn, void *ctx);
/* Does the file know destination `name`? */
tb_status tb__store_has_destination(sqlite3 *db, const char *name, bool *found);
/* The shipper's questions during a send (tb_export_host): a trace's record
 * (*out tb__malloc'd; TB_NOT_FOUND when absent), and its span records with
 * seq < before_seq (<= 0: all) of the given types (NULL: all), by seq.
 * keep: db keeps the statement between calls (tb__db_stmt: whoever closes
 * db calls tb__db_finalize_all first); false: prepared each time. */
tb_status tb__store_trace_record(sqlite3 *db, bool keep, const char *trace_id, char **out);
tb_status tb__store_trace_spans(sqlite3 *db, bool keep, const char *trace_id, int64_t before_seq,
                                const char *const *types, tb_record_fn fn, void *ctx);
tb_status tb__store_requeue(sqlite3 *db, const char *destination, bool all, int64_t *requeued,
                            int64_t *gone);
tb_status tb__store_forget(sqlite3 *db, const char *destination, int64_t *dead_dropped);

#endif
