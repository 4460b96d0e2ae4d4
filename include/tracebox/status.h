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

/* The message of the last failing tracebox call on this thread (for failures
 * where no handle exists yet, e.g. tb_outbox_open). Valid until the next
 * tracebox call on the same thread; "" when there is none. Any thread. */
TB_EXTERN const char *tb_last_error(void);

#ifdef __cplusplus
}
#endif
#endif
