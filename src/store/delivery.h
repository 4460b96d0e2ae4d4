/*
 * delivery.h — each destination's delivery state in the outbox file
 * (internal; implemented in delivery.c): its row, its lease, the batch it
 * reads next, and what one send changed (cursor, dead letters, requeued
 * records, backoff). The shipper decides; these statements record. With
 * store.c (what operators ask) and db.c / outbox_writer.c (opening the
 * file, appending records) they are every statement on the outbox tables.
 *
 * Times are UTC ISO-8601 text (the file's format); `now` is the caller's.
 */
#ifndef TRACEBOX_DELIVERY_H
#define TRACEBOX_DELIVERY_H

#include "internal.h"

#include <sqlite3.h>

/* Make sure destination `name` has a row (new: cursor at the start, or at
 * the newest record with start_latest); keep its type current. */
tb_status tb__delivery_register(sqlite3 *db, const char *name, const char *type, bool start_latest,
                                const char *now);

/* Take or renew the lease until `until` when it is free, ours, expired at
 * `now`, or ends after `beyond` (written under a clock that has stepped
 * back since). *held: whether it is ours now. */
tb_status tb__delivery_lease_take(sqlite3 *db, const char *name, const char *owner,
                                  const char *until, const char *now, const char *beyond,
                                  bool *held);
/* Mid-batch: keep the lease while it is ours and unexpired; take it again
 * after it ran out (this process was stopped, say) only when the cursor is
 * still `batch_from` — otherwise another shipper has taken it meanwhile
 * and may have delivered this very batch (batch_from < 0: never again). */
tb_status tb__delivery_lease_renew(sqlite3 *db, const char *name, const char *owner,
                                   const char *until, const char *now, const char *beyond,
                                   int64_t batch_from, bool *held);
/* Clear backoff and credentials parking (after an operator fixed a key). */
tb_status tb__delivery_retry_now(sqlite3 *db, const char *name);
/* next_attempt_at of `name` in µs since the epoch; 0 when none (or NULL). */
int64_t tb__delivery_next_attempt_us(sqlite3 *db, const char *name);
/* Is the lease ours and unexpired at `now`? (false on error) */
bool tb__delivery_lease_held(sqlite3 *db, const char *name, const char *owner, const char *now);
void tb__delivery_lease_release(sqlite3 *db, const char *name, const char *owner);
/* Inside a transaction: true when `owner` still holds the lease (the one
 * check before recording an outcome: a lease taken over meanwhile means
 * the new holder owns it). */
tb_status tb__delivery_lease_confirm(sqlite3 *db, const char *name, const char *owner, bool *ours);

/* Is the destination waiting for its next attempt at `now`? A next attempt
 * after `beyond` (a clock that has stepped back since) is not waited for. */
bool tb__delivery_backing_off(sqlite3 *db, const char *name, const char *now, const char *beyond);
/* Failed attempts in a row (0 when unknown). */
int64_t tb__delivery_attempts(sqlite3 *db, const char *name);
/* Records pending for the destination (the `pending` view; -1 on error). */
int64_t tb__delivery_pending(sqlite3 *db, const char *name);

/* One record of a batch, borrowed for the call, with when the outbox took
 * it (for max_age). Return non-zero to stop reading. */
typedef int (*tb__delivery_row_fn)(void *ctx, const tb_record *r, const char *created_at);
/* The next records for `name`, in seq order, at most `limit`: its requeued
 * records (requeued = true), else those after its cursor that are not dead
 * letters. */
tb_status tb__delivery_read(sqlite3 *db, const char *name, bool requeued, int limit,
                            tb__delivery_row_fn fn, void *ctx);

/* ---- recording one send, inside the caller's transaction ---- */
tb_status tb__delivery_dead_letter(sqlite3 *db, const char *name, int64_t seq, const char *reason,
                                   int http_status, const char *now);
tb_status tb__delivery_unrequeue(sqlite3 *db, const char *name, int64_t seq);
/* Move the cursor to last_seq — unless the records were requeued ones, or
 * the cursor was moved back below `from` (the cursor the batch was read
 * after) meanwhile — and count `delivered`; last_success_at = now when
 * delivered > 0. */
tb_status tb__delivery_advance(sqlite3 *db, const char *name, bool requeued, int64_t from,
                               int64_t last_seq, int64_t delivered, const char *now);
/* The destination's cursor (0 when unknown). */
int64_t tb__delivery_cursor(sqlite3 *db, const char *name);
/* A send that went through: no backoff, no error; add `resent`. */
tb_status tb__delivery_succeeded(sqlite3 *db, const char *name, int64_t resent);
/* A send that did not: the backoff state and the one-line error. */
tb_status tb__delivery_failed(sqlite3 *db, const char *name, int64_t attempts,
                              const char *next_attempt_at, const char *error, int http_status,
                              bool auth_failed, int64_t resent);

#endif
