/*
 * tracebox/outbox.h — the outbox file and the outbox processor.
 *
 * A tb_outbox is one open SQLite outbox file (created mode 0600, WAL,
 * migrated to the current schema). Records are SDK export objects (JSON);
 * tb_outbox_put_json() stores one, idempotently by id. tb_outbox_processor()
 * makes a trace processor that writes traces at on_trace_start and spans at
 * on_span_end through the same path.
 *
 * Durability (tb_outbox_options.durability):
 *   TB_DURABILITY_FULL   put returns after the commit, synchronous=FULL;
 *                        concurrent callers share one commit (group commit).
 *   TB_DURABILITY_NORMAL same with synchronous=NORMAL (survives a process
 *                        crash, not a power cut).
 *   TB_DURABILITY_ASYNC  put returns once the record is queued in memory; a
 *                        writer thread commits it within a few milliseconds.
 *
 * Threads: one tb_outbox may be used from any number of threads at once.
 * Several processes may open the same file.
 */
#ifndef TRACEBOX_OUTBOX_H
#define TRACEBOX_OUTBOX_H

#include "tracebox/tracing.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tb_outbox tb_outbox;

typedef enum tb_durability {
    TB_DURABILITY_FULL = 0,
    TB_DURABILITY_NORMAL = 1,
    TB_DURABILITY_ASYNC = 2
} tb_durability;

typedef enum tb_full_policy {
    TB_FULL_REFUSE = 0,     /* at max_size, refuse new records with TB_FULL */
    TB_FULL_PURGE_DELIVERED /* first delete the oldest delivered records */
} tb_full_policy;

typedef enum tb_queue_policy {
    TB_QUEUE_BLOCK = 0, /* async: a full queue makes the producer wait */
    TB_QUEUE_DROP = 1   /* async: a full queue drops the record (counted) */
} tb_queue_policy;

#define TB_OUTBOX_OPTIONS_VERSION 1
typedef struct tb_outbox_options {
    unsigned version;             /* TB_OUTBOX_OPTIONS_VERSION */
    tb_durability durability;     /* default TB_DURABILITY_FULL */
    int busy_timeout_ms;          /* default 10000 */
    int64_t max_size;             /* bytes; 0 = unbounded */
    tb_full_policy full_policy;   /* default TB_FULL_REFUSE */
    size_t queue_capacity;        /* async: records; 0 = 8192 */
    tb_queue_policy queue_policy; /* async: default TB_QUEUE_BLOCK */
    int flush_interval_ms;        /* async: default 5 */
    int readonly;                 /* open for reading only (no migration) */
    int redact;                   /* 1: replace span inputs/outputs (prompts, completions, tool
                                     arguments and results, audio) with "[redacted]" before
                                     storing; ids, names, models, usage and errors are kept */
} tb_outbox_options;
#define TB_OUTBOX_OPTIONS_INIT                                                                     \
    {                                                                                              \
        TB_OUTBOX_OPTIONS_VERSION, TB_DURABILITY_FULL, 10000, 0, TB_FULL_REFUSE, 0,                \
            TB_QUEUE_BLOCK, 5, 0, 0                                                                \
    }

/* Open (creating and migrating if needed) the outbox at `path`. opts may be
 * NULL for defaults. On failure *out is NULL and tb_last_error() says why:
 * TB_NOT_OUTBOX (a file that is not an outbox; left untouched), TB_TOO_NEW
 * (written by a newer schema), TB_IO. A corrupt outbox is renamed aside to
 * "<path>.corrupt-<time>" (never deleted), a message is written to stderr and
 * a fresh outbox is created. Any thread. */
TB_EXTERN tb_status tb_outbox_open(tb_outbox **out, const char *path,
                                   const tb_outbox_options *opts);

/* Flush (async mode), then close. NULL is a no-op. No other thread may use
 * the handle during or after the call. */
TB_EXTERN void tb_outbox_close(tb_outbox *outbox);

/* The message of the last failing call on this thread (the same as
 * tb_last_error(): tracebox has one error channel per thread, not per
 * handle). Valid until the next tracebox call on this thread. Never NULL. */
TB_EXTERN const char *tb_outbox_errmsg(const tb_outbox *outbox);

/* Store one SDK export object given as JSON text (`len` bytes; len may be
 * (size_t)-1 for a NUL-terminated string). The object is validated first:
 * TB_BAD_RECORD with a message naming the field, and nothing is stored. A
 * record whose id is already stored is acknowledged without a second row (a
 * trace row gains fields it lacked). If out_id is not NULL it receives the
 * record's id (copied, at most 64 bytes with the NUL; a longer id is cut
 * there, never in the file). Ids may have any shape ("trace_my-app-1234").
 * What the SDKs write but JSON forbids is stored in a tolerated form
 * instead of refused: NaN / Infinity / -Infinity become null, a lone
 * surrogate escape ("\ud800") becomes U+FFFD. Returns when the record is
 * durable per the durability mode. Any thread. */
TB_EXTERN tb_status tb_outbox_put_json(tb_outbox *outbox, const char *json, size_t len,
                                       char out_id[64]);

/* The outcome of one record of tb_outbox_put_json_many(). */
typedef struct tb_put_result {
    tb_status status; /* TB_OK: stored (durable per the durability mode) */
    char id[256];     /* the record's id (cut if longer), "" when refused */
    char error[512];  /* with a failure: one line naming the field */
} tb_put_result;

/* Store n records (json[i], len[i] bytes each) in as few transactions as
 * possible, as tb_outbox_put_json() would one by one: res[i] says what
 * became of record i (a bad record is refused alone; the others are
 * stored). Returns TB_OK when every record was tried (check res[]), else
 * the reason none was. Borrowed text must live until it returns. Any
 * thread. */
TB_EXTERN tb_status tb_outbox_put_json_many(tb_outbox *outbox, const char *const *json,
                                            const size_t *len, size_t n, tb_put_result *res);

/* The wire format of an OTLP request body. */
typedef enum tb_otlp_format {
    TB_OTLP_PROTOBUF = 0, /* application/x-protobuf */
    TB_OTLP_JSON = 1      /* application/json (the OTLP/JSON mapping) */
} tb_otlp_format;

/* What became of the spans of one OTLP request (tb_outbox_put_otlp). */
typedef struct tb_otlp_result {
    int64_t spans;     /* spans in the request */
    int64_t stored;    /* committed (now, or already by an earlier send of it) */
    int64_t rejected;  /* refused for what they are (a trace or span id that is not one):
                          sending them again will not help */
    int64_t failed;    /* not stored for the outbox's reason (full, busy, i/o): send again */
    tb_status failure; /* the status of the first failed one; TB_OK when none */
    char message[512]; /* one line: why the first rejected or failed span was not stored */
} tb_otlp_result;

/* Store every span of an OTLP/HTTP ExportTraceServiceRequest body (binary
 * protobuf or OTLP/JSON; not compressed) as a record of kind 'otlp': the
 * span in the OTLP/JSON mapping with its "resource" and "scope" beside it
 * as the body, the columns filled as for the SDK's records (trace_id and
 * span_id in lowercase hex, type the span kind: "internal", "server", …).
 * A span already stored (same trace and span id) is acknowledged without a
 * second row. The request is decoded whole first: one that does not decode
 * returns TB_BAD_RECORD with a one-line message saying where
 * (tb_last_error()), and nothing of it is stored. Otherwise returns TB_OK
 * once every span is committed or refused (in every durability mode): *res
 * (may be NULL) counts them. Any thread. */
TB_EXTERN tb_status tb_outbox_put_otlp(tb_outbox *outbox, const void *data, size_t len,
                                       tb_otlp_format format, tb_otlp_result *res);

/* Can a record be stored now? Takes the file's write lock for a moment on
 * a connection of its own (waiting at most timeout_ms for it) and checks
 * max_size: TB_OK, TB_BUSY (another writer holds the lock, e.g. an
 * operator's sqlite3 shell), TB_FULL (at max_size, refusing), TB_IO.
 * What `tracebox serve` answers GET /healthz with. Any thread. */
TB_EXTERN tb_status tb_outbox_probe(tb_outbox *outbox, int timeout_ms);

/* Wait until every record accepted before this call is committed (or
 * refused and counted), in async mode; other modes return at once. Records
 * other threads put meanwhile are not waited for, so a steady producer
 * cannot keep it waiting. TB_TIMEOUT after timeout_ms (< 0: no limit). */
TB_EXTERN tb_status tb_outbox_flush(tb_outbox *outbox, int64_t timeout_ms);

/* Count n records the application dropped before handing them over (a
 * binding's own bounded queue, full under its drop policy) in the file's
 * counters.dropped_queue, as the async queue counts its own: written with
 * the next batch, or at close. Cheap: no I/O on the calling thread. Any
 * thread. */
TB_EXTERN tb_status tb_outbox_count_dropped(tb_outbox *outbox, int64_t n);

/* Fill *out with a processor that writes into `outbox`. The outbox must
 * outlive the processor's registration. */
TB_EXTERN tb_status tb_outbox_processor(tb_outbox *outbox, tb_processor *out);

/* The file path as opened. Owned by the outbox. */
TB_EXTERN const char *tb_outbox_path(const tb_outbox *outbox);

#ifdef __cplusplus
}
#endif
#endif
