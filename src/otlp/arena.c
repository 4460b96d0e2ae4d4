/*
 * otlp/arena.c — the arena one OTLP request is built in.
 *
 * Design. A request is thousands of small structs and strings that all die
 * together, so they come from a list of 64 KiB chunks and are freed in one
 * pass. A block larger than a quarter chunk gets a chunk of its own, linked
 * behind the head, so the head's free space stays usable for the small
 * ones. Nothing is ever freed alone.
 *
 * Strings are copied as valid UTF-8 (invalid bytes become U+FFFD): protobuf
 * decoders (Go, upb) reject invalid UTF-8 in string fields, and one bad
 * byte would otherwise refuse a whole batch.
 *
 * Memory: an allocation failure marks the arena; every later allocation
 * returns NULL and tb__otlp_encode() turns the mark into TB_NOMEM.
 */
#include "otlp/arena.h"

#include "internal.h"

#include <stdalign.h>
#include <stdint.h>
#include <string.h>

#define ARENA_CHUNK ((size_t)64 * 1024)
#define ARENA_ALIGN (alignof(max_align_t))

typedef struct tb__otlp_chunk {
    struct tb__otlp_chunk *next;
    size_t used, cap;
} chunk;

#define CHUNK_HDR ((sizeof(chunk) + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN)

void *tb__otlp_arena_alloc(tb__otlp_arena *ar, size_t n)
{
    if (ar->failed)
        return NULL;
    n = (n + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
    chunk *c = ar->head;
    if (c && c->cap - c->used >= n) {
        void *p = (char *)c + CHUNK_HDR + c->used;
        c->used += n;
        return p;
    }
    /* a big block gets a chunk of its own behind the head, so the head's
     * free space stays usable for the small ones */
    bool own = n > ARENA_CHUNK / 4;
    size_t cap = own ? n : ARENA_CHUNK;
    c = tb__malloc(CHUNK_HDR + cap);
    if (!c) {
        ar->failed = true;
        return NULL;
    }
    c->cap = cap;
    c->used = n;
    if (own && ar->head) {
        c->next = ar->head->next;
        ar->head->next = c;
    } else {
        c->next = ar->head;
        ar->head = c;
    }
    return (char *)c + CHUNK_HDR;
}

void tb__otlp_arena_free(tb__otlp_arena *ar)
{
    chunk *c = ar->head;
    while (c) {
        chunk *next = c->next;
        tb__free_mem(c);
        c = next;
    }
    ar->head = NULL;
}

char *tb__otlp_arena_str(tb__otlp_arena *ar, const char *s, size_t len)
{
    size_t bad;
    if (tb__utf8_valid(s, len, &bad)) {
        char *p = tb__otlp_arena_alloc(ar, len + 1);
        if (p) {
            memcpy(p, s, len);
            p[len] = '\0';
        }
        return p;
    }
    /* worst case: every byte becomes U+FFFD (3 bytes) */
    if (len > (SIZE_MAX - 1) / 3) {
        ar->failed = true;
        return NULL;
    }
    char *p = tb__otlp_arena_alloc(ar, len * 3 + 1);
    if (!p)
        return NULL;
    size_t pos = 0, o = 0;
    while (pos < len) {
        if (tb__utf8_valid(s + pos, len - pos, &bad))
            bad = len - pos;
        memcpy(p + o, s + pos, bad);
        o += bad;
        pos += bad;
        if (pos < len) {
            memcpy(p + o, "\xEF\xBF\xBD", 3);
            o += 3;
            pos++;
        }
    }
    p[o] = '\0';
    return p;
}

char *tb__otlp_arena_cstr(tb__otlp_arena *ar, const char *s)
{
    return tb__otlp_arena_str(ar, s ? s : "", s ? strlen(s) : 0);
}
