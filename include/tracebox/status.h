/*
 * tracebox/status.h — status codes.
 *
 * One X-macro list makes both the enum and tb_status_str(), so they cannot
 * drift (the libuv pattern). The list only grows: never renumber or remove a
 * code (the libcurl rule). TB_OK is 0; every failure is positive.
 */
#ifndef TRACEBOX_STATUS_H
#define TRACEBOX_STATUS_H

#include "tracebox/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TB_STATUS_MAP(X)                                                                           \
    X(OK, 0, "ok")                                                                                 \
    X(ERROR, 1, "unspecified error")                                                               \
    X(NOMEM, 2, "out of memory")                                                                   \
    X(INVALID, 3, "invalid argument")                                                              \
    X(BAD_RECORD, 4, "malformed record")                                                           \
    X(IO, 5, "i/o error")                                                                          \
    X(FULL, 6, "outbox is full")                                                                   \
    X(BUSY, 7, "database is busy")                                                                 \
    X(CORRUPT, 8, "outbox file is corrupt")                                                        \
    X(NOT_OUTBOX, 9, "file is not a tracebox outbox")                                              \
    X(TOO_NEW, 10, "outbox written by a newer tracebox")                                           \
    X(MISUSE, 11, "library misuse")                                                                \
    X(DISABLED, 12, "tracing is disabled")                                                         \
    X(CONFIG, 13, "bad configuration")                                                             \
    X(NOT_FOUND, 14, "not found")                                                                  \
    X(TIMEOUT, 15, "timed out")                                                                    \
    X(CLOSED, 16, "handle is closed")                                                              \
    X(HTTP, 17, "http transport error")                                                            \
    X(READONLY, 18, "outbox is read-only")

typedef enum tb_status {
#define TB__STATUS_ENUM(name, value, text) TB_##name = value,
    TB_STATUS_MAP(TB__STATUS_ENUM)
#undef TB__STATUS_ENUM
} tb_status;

/* A static English description of `status`; never NULL, "unknown status"
 * for a value not in the list. Any thread. */
TB_EXTERN const char *tb_status_str(tb_status status);

/* The message of the last failing tracebox call on this thread: one error
 * channel per thread, as libgit2's git_error_last (every handle's *_errmsg
 * is this same message). Valid until the next tracebox call on the same
 * thread; "" when there is none. Any thread. */
TB_EXTERN const char *tb_last_error(void);

/* What the library reports on its own, outside any call's status: a
 * corrupt file renamed aside, an async write that failed, the shipper's
 * progress when asked to be verbose. The library never writes to stderr by
 * itself: it calls the log function, whose default writes
 * "tracebox: <message>" lines to stderr. */
typedef enum tb_log_level {
    TB_LOG_ERROR = 0, /* something was not done */
    TB_LOG_WARN = 1,  /* done, but look at it (a file renamed aside) */
    TB_LOG_INFO = 2   /* progress */
} tb_log_level;
/* message: one line, no trailing newline, valid during the call. The
 * function may be called from any tracebox thread (the async writer, the
 * shipper) at once: make it thread-safe. */
typedef void (*tb_log_fn)(void *ctx, tb_log_level level, const char *message);
/* Set the log function (NULL: the default, stderr) and its ctx. Set it
 * before starting tracebox threads; any thread. */
TB_EXTERN void tb_set_log_callback(tb_log_fn fn, void *ctx);

#ifdef __cplusplus
}
#endif
#endif
