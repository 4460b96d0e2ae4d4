/*
 * otlp/ids.c — deterministic OTLP ids from SDK ids (the rules: ids.h).
 *
 * Design. An SDK id that already carries enough hex is used as it is, so
 * the OTLP id can be found again by eye in the SDK id; anything else
 * (user-chosen ids, other SDKs' shapes) is hashed with FNV-1a-64, which
 * needs no table and no state. An all-zero result is never produced: OTLP
 * treats zero ids as invalid.
 */
#include "otlp/ids.h"

#include "internal.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#define FNV_BASIS UINT64_C(0xcbf29ce484222325)
#define FNV_PRIME UINT64_C(0x100000001b3)
#define GOLDEN UINT64_C(0x9e3779b97f4a7c15)

static uint64_t fnv1a64(uint64_t h, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        h ^= *p;
        h *= FNV_PRIME;
    }
    return h;
}

static void put_be64(uint8_t *out, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        out[i] = (uint8_t)(v & 0xff);
        v >>= 8;
    }
}

/* Decode the first 2*n characters of s as hex into out; false when any is
 * not a hex digit or the bytes are all zero. It reads no further than the
 * first character that is not a hex digit (a NUL ends it). */
static bool hex_bytes(const char *s, uint8_t *out, size_t n)
{
    unsigned nonzero = 0;
    for (size_t i = 0; i < n; i++) {
        int hi = tb__hexval(s[2 * i]);
        if (hi < 0)
            return false;
        int lo = tb__hexval(s[2 * i + 1]);
        if (lo < 0)
            return false;
        out[i] = (uint8_t)(hi << 4 | lo);
        nonzero |= out[i];
    }
    return nonzero != 0;
}

uint64_t tb__otlp_id_hash(const char *id)
{
    /* eight bytes a step (a trace id is 38): FNV-1a's mixing over words,
     * then a final avalanche; only compared within one process */
    size_t n = strlen(id);
    uint64_t h = FNV_BASIS ^ n;
    for (; n >= 8; n -= 8, id += 8) {
        uint64_t w;
        memcpy(&w, id, 8);
        h = (h ^ w) * FNV_PRIME;
        h ^= h >> 29;
    }
    uint64_t w = 0;
    memcpy(&w, id, n);
    h = (h ^ w) * FNV_PRIME;
    h ^= h >> 32;
    h *= GOLDEN;
    return h ^ (h >> 29);
}

void tb__otlp_trace_id(const char *sdk, uint8_t out[16])
{
    if (!sdk)
        sdk = "";
    const char *h = strncmp(sdk, "trace_", 6) == 0 ? sdk + 6 : sdk;
    if (hex_bytes(h, out, 16) && h[32] == '\0') /* exactly 32 hex digits */
        return;
    uint64_t a = fnv1a64(FNV_BASIS, sdk);
    uint64_t b = fnv1a64(a ^ GOLDEN, sdk);
    put_be64(out, a);
    put_be64(out + 8, b);
    if ((a | b) == 0)
        out[15] = 1;
}

void tb__otlp_span_id(const char *sdk, uint8_t out[8])
{
    if (!sdk)
        sdk = "";
    const char *h = strncmp(sdk, "span_", 5) == 0 ? sdk + 5 : sdk;
    if (hex_bytes(h, out, 8)) /* at least 16 hex digits: the first 16 */
        return;
    uint64_t a = fnv1a64(FNV_BASIS, sdk);
    put_be64(out, a ? a : 1);
}
