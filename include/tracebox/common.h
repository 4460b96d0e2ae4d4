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

#ifdef __cplusplus
}
#endif
#endif
