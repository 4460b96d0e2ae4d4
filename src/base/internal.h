/*
 * internal.h — what the library's files share and the public API does not.
 *
 * Allocation: every allocation goes through tb__malloc & co. so the
 * allocation-failure tests can fail the n-th one (tb__alloc_fail_after).
 * cJSON is routed through the same hooks.
 *
 * Errors: a failing public call records its message with tb__set_error();
 * tb_last_error() reads it back on the same thread.
 */
#ifndef TRACEBOX_INTERNAL_H
#define TRACEBOX_INTERNAL_H

#include "tracebox.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdbool.h>

#if defined(__GNUC__)
#define TB__PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define TB__PRINTF(a, b)
#endif

/* ---- allocation ---- */
void *tb__malloc(size_t n);
void *tb__calloc(size_t count, size_t n);
void *tb__realloc(void *p, size_t n);
void tb__free_mem(void *p);
char *tb__strdup(const char *s);
char *tb__strndup(const char *s, size_t n);
/* Fail every allocation after `n` more succeed; n < 0 turns failure off.
 * Returns how many allocations were attempted since the last call. Test
 * hook; exported so the test binaries can reach it. */
long tb__alloc_fail_after(long n);
/* Make cJSON use the allocator above (idempotent, thread-safe). */
void tb__json_init(void);
/* Between these, what cJSON allocates on the calling thread comes from a
 * pool and its frees cost nothing; _end gives the pool back, so nothing
 * cJSON allocated in between may be used after it. Nest freely. */
void tb__json_pool_begin(void);
void tb__json_pool_end(void);
/* Has everything cJSON allocated on this thread since the outermost
 * tb__json_pool_begin come from the pool? Then tb__json_pool_end frees it
 * all, and a tree made meanwhile needs no cJSON_Delete (a walk of every
 * node for nothing). */
bool tb__json_pool_whole(void);
/* What cJSON's allocation hook returns (from the pool when one is open):
 * memory a cJSON tree may hold and cJSON_Delete may free. */
void *tb__json_alloc(size_t n);

/* ---- errors ---- */
/* Set this thread's last error; returns `st` so callers can `return`. */
tb_status tb__set_error(tb_status st, const char *fmt, ...) TB__PRINTF(2, 3);
void tb__clear_error(void);

/* ---- time and ids ---- */
/* Wall-clock time in microseconds since the epoch. */
int64_t tb__now_us(void);
/* Monotonic milliseconds. */
int64_t tb__mono_ms(void);
/* ISO-8601 UTC with microseconds: 2025-06-01T12:34:56.789012+00:00.
 * buf must hold 33 bytes. */
void tb__iso8601(int64_t us, char buf[40]);
/* Parse an ISO-8601 timestamp (both SDK styles) into µs; false if bad. */
bool tb__parse_iso8601(const char *s, int64_t *us);
/* Report through the application's log function (tb_set_log_callback;
 * default: a line on stderr). One line, no newline. Any thread. */
void tb__log(tb_log_level level, const char *fmt, ...) TB__PRINTF(2, 3);

/* Fill with cryptographically random bytes (getrandom). */
tb_status tb__random(void *buf, size_t n);
/* "trace_" + 32 hex / "span_" + 24 hex; buf holds 40 bytes. */
tb_status tb__new_trace_id(char buf[40]);
tb_status tb__new_span_id(char buf[40]);
/* Write a message into a caller's buffer (NULL or size 0: nothing). */
void tb__set_err(char *err, size_t size, const char *fmt, ...) TB__PRINTF(3, 4);
/* Replace control characters in s with spaces, so the text stays one line. */
void tb__one_line(char *s);
/* The value of one hex digit, or -1: a table, inline (ids are decoded a
 * digit at a time, several ids a record, on the shipping path). */
extern const unsigned char tb__hex_digit1[256];
static inline int tb__hexval(char c)
{
    return (int)tb__hex_digit1[(unsigned char)c] - 1;
}
/* A trace or span id: any non-empty string (the SDKs accept caller ids). */
bool tb__valid_id(const char *s);
/* Rewrite what the SDKs write but JSON forbids: NaN / Infinity / -Infinity
 * outside strings become null, a lone \uD800-\uDFFF escape becomes \ufffd.
 * 1: *out (tb__malloc'd, *out_len bytes) holds the rewritten text; 0: there
 * was nothing to rewrite; -1: out of memory. */
int tb__json_tolerate(const char *json, size_t len, char **out, size_t *out_len);
/* Code point cp (at most 0x10FFFF) as UTF-8 at out (1 to 4 bytes); the
 * number written. */
size_t tb__utf8_put(unsigned long cp, char *out);
/* The byte a JSON escape \c stands for (b f n r t " \ /), or -1 (u, and
 * anything else, is the caller's). */
int tb__json_escape_byte(int c);
/* Is [s, s+len) valid UTF-8? On failure *bad_at is the byte offset. */
bool tb__utf8_valid(const char *s, size_t len, size_t *bad_at);

/* ---- fork (fork.c) ---- */
/* A part of the library that owns locks, threads or connections registers
 * a hook: at fork(), every prepare runs in rank order in the forking thread
 * (take your locks, reach a quiet point), then parent or child in reverse
 * order. Ranks: */
enum {
    TB__FORK_RANK_PROCESSORS = 10, /* the processor registry */
    TB__FORK_RANK_SHIPPER = 20,    /* shipper threads */
    TB__FORK_RANK_OUTBOX = 30,     /* outboxes */
    TB__FORK_RANK_LEAF = 90        /* SQLite's own mutexes (then the log) */
};
typedef struct tb__fork_hook {
    struct tb__fork_hook *next, *prev;
    int rank;
    void (*prepare)(void *self);
    void (*parent)(void *self);
    void (*child)(void *self);
    void *self;
} tb__fork_hook;
void tb__fork_register(tb__fork_hook *h);
void tb__fork_unregister(tb__fork_hook *h);
/* Take (true) or release the log's lock: fork.c holds it across fork(),
 * after every hook's prepare (util.c). */
void tb__log_hold(bool hold);

/* ---- durations and sizes ("30s", "5m", "7d", "1GiB") ---- */
bool tb__parse_duration_ms(const char *s, int64_t *ms);
bool tb__parse_size(const char *s, int64_t *bytes);

/* ---- growable buffer ---- */
typedef struct tb__buf {
    char *data;
    size_t len;
    size_t cap;
    bool failed; /* an append ran out of memory */
} tb__buf;
/* Room for n more bytes (and the NUL kept after them) at b->data + b->len,
 * or NULL when memory runs out (b->failed is then set). The common case,
 * room already there, is inline (the printers and packers call it per
 * value); tb__buf_grow does the rest. */
char *tb__buf_grow(tb__buf *b, size_t n);
static inline char *tb__buf_reserve(tb__buf *b, size_t n)
{
    if (!b->failed && n < b->cap - b->len)
        return b->data + b->len;
    return tb__buf_grow(b, n);
}
void tb__buf_append(tb__buf *b, const void *data, size_t n);
void tb__buf_puts(tb__buf *b, const char *s);
void tb__buf_printf(tb__buf *b, const char *fmt, ...) TB__PRINTF(2, 3);
void tb__buf_free(tb__buf *b);

/* ---- exporter registry (exporter.c) ---- */
const tb_exporter_vtable *tb__exporter_find(const char *type);
/* Built-in types, each defined at the end of its src/exporters/ file. */
extern const tb_exporter_vtable tb__exporter_file;
extern const tb_exporter_vtable tb__exporter_webhook;
extern const tb_exporter_vtable tb__exporter_otlp;
extern const tb_exporter_vtable tb__exporter_openai;
extern const tb_exporter_vtable tb__exporter_langfuse;
extern const tb_exporter_vtable tb__exporter_arize;
extern const tb_exporter_vtable tb__exporter_phoenix;
extern const tb_exporter_vtable tb__exporter_wandb;

#endif
