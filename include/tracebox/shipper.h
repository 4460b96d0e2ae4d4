/*
 * tracebox/shipper.h — delivery from the outbox to every destination.
 *
 * For each destination the shipper takes a lease (so two shippers never ship
 * the same batch), reads the next batch after the destination's cursor,
 * exports it and then, in one transaction, advances the cursor or records
 * the failure (backoff with full jitter, Retry-After) or writes dead
 * letters. Delivery is at-least-once, in seq order, per destination.
 *
 * Two shapes: tb_ship_once() drains and returns (the `ship --once` verb);
 * tb_shipper_start() runs the same loop on a thread until tb_shipper_stop().
 */
#ifndef TRACEBOX_SHIPPER_H
#define TRACEBOX_SHIPPER_H

#include "tracebox/config.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tb_shipper tb_shipper;

#define TB_SHIP_OPTIONS_VERSION 2 /* version 1 (without the last two fields) is accepted */
typedef struct tb_ship_options {
    unsigned version;        /* TB_SHIP_OPTIONS_VERSION */
    const char *destination; /* ship only this one; NULL: all */
    int64_t max_time_ms;     /* stop after this long; 0: no limit */
    int verbose;             /* 1: a line per batch on stderr; 2: a progress
                                line each second */
    /* version 2 */
    int retry_now; /* first clear every backoff and credentials parking of
                      the destinations shipped (after fixing a key) */
    int wait;      /* tb_ship_once with max_time_ms: sleep through backoffs
                      that end before the deadline, and go on */
} tb_ship_options;
#define TB_SHIP_OPTIONS_INIT                                                                       \
    {                                                                                              \
        TB_SHIP_OPTIONS_VERSION, NULL, 0, 0, 0, 0                                                  \
    }

typedef struct tb_ship_report {
    int64_t delivered; /* records delivered this run */
    int64_t dead;      /* records dead-lettered this run */
    int64_t pending;   /* records still pending at the end */
    int64_t batches;   /* batches accepted */
    int64_t failures;  /* failed attempts */
    int backing_off;   /* destinations left waiting for a retry */
} tb_ship_report;

/* Drain: ship every destination in `cfg` until it is caught up or backing
 * off (or max_time passes). With opts->wait and a max_time, a destination
 * backing off until before the deadline is waited for and shipped again;
 * the run ends when everything is delivered, when what is left waits past
 * the deadline, or at the deadline. report may be NULL. Returns TB_OK when the run
 * worked (check report->pending), TB_CONFIG for a destination that cannot
 * be created, another status for an outbox failure. Any thread. */
TB_EXTERN tb_status tb_ship_once(const char *db_path, const tb_config *cfg,
                                 const tb_ship_options *opts, tb_ship_report *report);

/* What a destination answered to an empty batch (tb_destination_probe). */
typedef struct tb_probe_result {
    tb_export_outcome outcome; /* TB_EXPORT_DELIVERED: reached and accepted */
    int http_status;           /* 0: no HTTP answer (unreachable, or not HTTP) */
    char message[512];         /* one line, no credentials */
} tb_probe_result;

/* Build the destination `name` of cfg and send it one empty batch (an empty
 * ExportTraceServiceRequest, `{"data":[]}`, `[]`; a file destination opens
 * its file): reachability and credentials without shipping anything.
 * TB_NOT_FOUND when cfg has no such destination, TB_CONFIG when it cannot
 * be built (an unset ${VAR}, a bad key). Any thread. */
TB_EXTERN tb_status tb_destination_probe(const tb_config *cfg, const char *name,
                                         tb_probe_result *out);

/* Start a shipper thread. cfg is copied by reference: it must outlive the
 * shipper. On failure *out is NULL. */
TB_EXTERN tb_status tb_shipper_start(tb_shipper **out, const char *db_path, const tb_config *cfg,
                                     const tb_ship_options *opts);

/* Ask the thread to stop and wait at most timeout_ms for it, then free the
 * shipper. An HTTP export in flight is aborted at once (its batch is sent
 * again later). NULL is a no-op returning TB_OK. Returns TB_TIMEOUT if the
 * thread did not stop in time (e.g. stuck in a user exporter or fsync): it
 * is detached, frees itself when it gets out, and until then still reads
 * `cfg`, which must therefore stay valid until the process exits. */
TB_EXTERN tb_status tb_shipper_stop(tb_shipper *shipper, int64_t timeout_ms);

/* Wake the thread now (e.g. after a burst of writes). */
TB_EXTERN void tb_shipper_wake(tb_shipper *shipper);

#ifdef __cplusplus
}
#endif
#endif
