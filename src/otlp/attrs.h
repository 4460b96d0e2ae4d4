/*
 * otlp/attrs.h — the attribute builder: how the conventions add the
 * attributes of a span (internal).
 *
 * encode.c owns the memory of the request being built (otlp/arena.h);
 * conventions.c, llm.c and messages.c add attributes through these calls,
 * which make key and value valid UTF-8 (invalid bytes become U+FFFD) and
 * copy them, except a literal or a string of the span's own valid text (and
 * in wire mode, below, nothing valid is copied: it is packed at once), and
 * never fail
 * visibly: an allocation failure marks the builder, and tb__otlp_encode()
 * returns TB_NOMEM. One thread at a time.
 */
#ifndef TRACEBOX_OTLP_ATTRS_H
#define TRACEBOX_OTLP_ATTRS_H

#include "otlp/arena.h"
#include "internal.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tb__otlp_attrs tb__otlp_attrs;

/* The calls below copy key and value into the request's arena, made valid
 * UTF-8 (in wire mode: pack them, checked), except a string literal: its
 * text is ours (ASCII) and lives as long as the program, so it is used as
 * it is. Most keys and many values
 * are literals, and the copies were a tenth of the encoder's time. GCC and
 * Clang tell a literal at compile time (__builtin_constant_p is 1 for a
 * literal, 0 for any array or pointer variable); elsewhere all is copied. */
#if defined(__GNUC__)
#define TB__OTLP_LIT(s) __builtin_constant_p(s)
#else
#define TB__OTLP_LIT(s) 0
#endif

#define tb__otlp_attr_str(a, key, value)                                                           \
    tb__otlp_attr_str_((a), (key), TB__OTLP_LIT(key), (value), TB__OTLP_LIT(value))
/* A value that is a string constant of this program, though not a literal
 * at the call (a table's entry, a function's choice of literals): used as
 * it is, like a literal. */
#define tb__otlp_attr_static(a, key, value)                                                        \
    tb__otlp_attr_str_((a), (key), TB__OTLP_LIT(key), (value), true)
#define tb__otlp_attr_strn(a, key, value, len)                                                     \
    tb__otlp_attr_strn_((a), (key), TB__OTLP_LIT(key), (value), (len))
#define tb__otlp_attr_int(a, key, value) tb__otlp_attr_int_((a), (key), TB__OTLP_LIT(key), (value))
#define tb__otlp_attr_double(a, key, value)                                                        \
    tb__otlp_attr_double_((a), (key), TB__OTLP_LIT(key), (value))
#define tb__otlp_attr_bool(a, key, value)                                                          \
    tb__otlp_attr_bool_((a), (key), TB__OTLP_LIT(key), (value))
/* The JSON text of v (unformatted) as a string; NULL / JSON null: none. */
#define tb__otlp_attr_json(a, key, v) tb__otlp_attr_json_((a), (key), TB__OTLP_LIT(key), (v))

/* What the macros call; *_lit: the string is a literal (see above). A NULL
 * value adds nothing. */
void tb__otlp_attr_str_(tb__otlp_attrs *a, const char *key, bool key_lit, const char *value,
                        bool value_lit);
void tb__otlp_attr_strn_(tb__otlp_attrs *a, const char *key, bool key_lit, const char *value,
                         size_t len);
void tb__otlp_attr_int_(tb__otlp_attrs *a, const char *key, bool key_lit, int64_t value);
void tb__otlp_attr_double_(tb__otlp_attrs *a, const char *key, bool key_lit, double value);
void tb__otlp_attr_bool_(tb__otlp_attrs *a, const char *key, bool key_lit, bool value);
void tb__otlp_attr_json_(tb__otlp_attrs *a, const char *key, bool key_lit, const cJSON *v);
/* Mark the builder failed (an allocation of the caller's failed). */
void tb__otlp_attr_fail(tb__otlp_attrs *a);

/* ---- for the request builder (encode.c) ---------------------------------
 * encode.c keeps one builder per request, zeroed, with `ar` set to the
 * request's arena; it reads `failed` at the end and frees `v` with
 * tb__free_mem and `scratch` with tb__buf_free. The other fields are
 * attrs.c's. */
struct tb__otlp_attrs {
    tb__otlp_arena *ar;
    struct Tbotlp__KeyValue **v; /* tb__realloc'd, reused from span to span */
    size_t n, cap;
    bool failed;
    tb__buf scratch; /* JSON text on its way into the arena; tb__buf_free it */
    /* Wire mode (encode.c, for the attributes of a span of a protobuf
     * request): when set, each attribute is appended to this buffer as the
     * packed bytes of one Span.attributes field (pack.h) instead of being
     * built as structs, and its strings are not copied, only checked (and
     * repaired) as UTF-8; tb__otlp_attrs_take() then has nothing to take. */
    tb__buf *wire;
    /* The text the span being converted was parsed from, in place, when it
     * is valid UTF-8 (encode.c sets it around each span; NULL: none). A
     * key or value that lies inside it and ends at a NUL there is used as
     * it is, not copied: it lives until the request is written, and the
     * in-place parse only ever decodes a valid text into valid UTF-8. */
    const char *borrow_lo, *borrow_hi;
};

/* Attributes kept to be added again (the same KeyValues, or in wire mode
 * a copy of their bytes; the request's memory either way). Zeroed: none. */
typedef struct tb__otlp_attrs_kept {
    struct Tbotlp__KeyValue **kv;
    size_t n;
    const char *bytes;
    size_t len;
} tb__otlp_attrs_kept;

/* Where the attributes collected so far end: a mark for keep. */
size_t tb__otlp_attrs_mark(const tb__otlp_attrs *a);
/* Keep the attributes collected since the mark `from` in *k (the builder
 * keeps them too); *k is zeroed when there are none or on failure. */
void tb__otlp_attrs_keep(tb__otlp_attrs *a, size_t from, tb__otlp_attrs_kept *k);
/* Add kept attributes of this request, in the mode they were kept in. */
void tb__otlp_attrs_add_kept(tb__otlp_attrs *a, const tb__otlp_attrs_kept *k);

/* Move the collected attributes into the arena and reset the builder:
 * the array for a message's `attributes`, its length in *n_out (NULL and
 * 0 when there are none, or on failure). */
struct Tbotlp__KeyValue **tb__otlp_attrs_take(tb__otlp_attrs *a, size_t *n_out);

#endif
