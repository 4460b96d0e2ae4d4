/*
 * otlp/attrs.h — the attribute builder: how the conventions add the
 * attributes of a span (internal).
 *
 * encode.c owns the memory of the request being built (otlp/arena.h);
 * conventions.c, llm.c and messages.c add attributes through these calls,
 * which copy key and value (invalid UTF-8 becomes U+FFFD) and never fail
 * visibly: an allocation failure marks the builder, and tb__otlp_encode()
 * returns TB_NOMEM. One thread at a time.
 */
#ifndef TRACEBOX_OTLP_ATTRS_H
#define TRACEBOX_OTLP_ATTRS_H

#include "otlp/arena.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tb__otlp_attrs tb__otlp_attrs;

void tb__otlp_attr_str(tb__otlp_attrs *a, const char *key, const char *value); /* NULL: none */
void tb__otlp_attr_strn(tb__otlp_attrs *a, const char *key, const char *value, size_t len);
void tb__otlp_attr_int(tb__otlp_attrs *a, const char *key, int64_t value);
void tb__otlp_attr_double(tb__otlp_attrs *a, const char *key, double value);
void tb__otlp_attr_bool(tb__otlp_attrs *a, const char *key, bool value);
/* The JSON text of v (unformatted) as a string; NULL / JSON null: none. */
void tb__otlp_attr_json(tb__otlp_attrs *a, const char *key, const cJSON *v);
/* Mark the builder failed (an allocation of the caller's failed). */
void tb__otlp_attr_fail(tb__otlp_attrs *a);

/* ---- for the request builder (encode.c) ---------------------------------
 * encode.c keeps one builder per request, zeroed, with `ar` set to the
 * request's arena; it reads `failed` at the end and frees `v` with
 * tb__free_mem. The other fields are attrs.c's. */
struct tb__otlp_attrs {
    tb__otlp_arena *ar;
    struct Tbotlp__KeyValue **v; /* tb__realloc'd, reused from span to span */
    size_t n, cap;
    bool failed;
};

/* Move the collected attributes into the arena and reset the builder:
 * the array for a message's `attributes`, its length in *n_out (NULL and
 * 0 when there are none, or on failure). */
struct Tbotlp__KeyValue **tb__otlp_attrs_take(tb__otlp_attrs *a, size_t *n_out);

#endif
