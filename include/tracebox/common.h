/* tracebox/common.h — export macro and version shared by every public header. */
#ifndef TRACEBOX_COMMON_H
#define TRACEBOX_COMMON_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#define TB_EXTERN __declspec(dllexport)
#elif defined(__GNUC__)
#define TB_EXTERN __attribute__((visibility("default")))
#else
#define TB_EXTERN
#endif

#define TB_VERSION_MAJOR 0
#define TB_VERSION_MINOR 1
#define TB_VERSION_PATCH 0
#define TB_VERSION_STRING "0.1.0"

#ifdef __cplusplus
extern "C" {
#endif

/* The library's version string ("0.1.0"). Static; any thread. */
TB_EXTERN const char *tb_version(void);

/* Free memory that tracebox handed to the caller (strings from *_json
 * functions). NULL is a no-op. Any thread. */
TB_EXTERN void tb_free(void *ptr);

/* A duration as the configuration writes it ("500ms", "30s", "5m", "12h",
 * "7d"; a bare number is seconds) into milliseconds. 0 on success, -1 when
 * it is not one. Any thread. */
TB_EXTERN int tb_parse_duration(const char *text, int64_t *ms);

/* A size as the configuration writes it ("512", "64KB", "100MiB", "1GiB")
 * into bytes. 0 on success, -1 when it is not one. Any thread. */
TB_EXTERN int tb_parse_size(const char *text, int64_t *bytes);

/* An ISO-8601 time as the SDKs write it ("2025-06-01T12:34:56.789Z",
 * "…+00:00") into microseconds since the epoch. 0 on success, -1 when it is
 * not one. Any thread. */
TB_EXTERN int tb_parse_time(const char *text, int64_t *us);

#ifdef __cplusplus
}
#endif
#endif
