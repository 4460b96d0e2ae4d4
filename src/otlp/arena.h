/*
 * otlp/arena.h — the memory of one OTLP request being built (internal).
 *
 * Every struct and string of a request (the protobuf-c model encode.c
 * builds and the writers read) is carved from one arena and freed in one
 * go with it. Allocation never fails visibly: a failure marks the arena
 * (`failed`), every later allocation returns NULL, and the encoder checks
 * the mark once at the end. One thread at a time.
 */
#ifndef TRACEBOX_OTLP_ARENA_H
#define TRACEBOX_OTLP_ARENA_H

#include <stdbool.h>
#include <stddef.h>

typedef struct tb__otlp_arena {
    struct tb__otlp_chunk *head; /* arena.c's; NULL: nothing allocated yet */
    bool failed;
} tb__otlp_arena;

/* n bytes aligned for any type, or NULL (the arena is then marked). A
 * zero-initialised tb__otlp_arena is an empty one. */
void *tb__otlp_arena_alloc(tb__otlp_arena *ar, size_t n);
/* A NUL-terminated copy of s[0..len) as valid UTF-8 (invalid bytes become
 * U+FFFD), or NULL. */
char *tb__otlp_arena_str(tb__otlp_arena *ar, const char *s, size_t len);
/* The same for a C string; NULL copies as "". */
char *tb__otlp_arena_cstr(tb__otlp_arena *ar, const char *s);
/* Free everything; the arena is empty (and usable) again. */
void tb__otlp_arena_free(tb__otlp_arena *ar);

#endif
