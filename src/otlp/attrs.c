/*
 * otlp/attrs.c — the attribute builder (otlp/attrs.h).
 *
 * Design. The attributes of one span (or of the resource, or of an event)
 * are collected as protobuf-c KeyValue / AnyValue pairs, each pair one
 * arena block, behind a pointer array that is reused from span to span;
 * tb__otlp_attrs_take() copies the array into the arena for the message that
 * owns it. Keys and string values are arena copies made valid UTF-8,
 * except literals and the strings of a span's own text when that text is
 * valid UTF-8 (parsed in place, it lives as long as the request).
 *
 * In wire mode (a span of a protobuf request) there are no structs: each
 * attribute is packed where it is added (pack.c writes the bytes, the same
 * as when it packs the structs), so it is neither allocated, nor copied,
 * nor walked again to be sized and written. Its strings only need to be
 * valid UTF-8 by then: checked, and repaired into the arena when not.
 *
 * An allocation failure marks the builder; every later call is a no-op.
 */
#include "otlp/attrs.h"

#include "internal.h"
#include "json_print.h"
#include "otlp/pack.h"
#include "trace.pb-c.h"

#include <stdint.h>
#include <string.h>

typedef struct kvbox {
    Tbotlp__KeyValue kv;
    Tbotlp__AnyValue av;
} kvbox;

/* s[0..len) is a whole string of the span's valid text (attrs.h:
 * borrow_lo): inside it, and ending at a NUL there (so not cut inside a
 * character) */
static bool borrowed(const tb__otlp_attrs *a, const char *s, size_t len)
{
    uintptr_t p = (uintptr_t)s, lo = (uintptr_t)a->borrow_lo, hi = (uintptr_t)a->borrow_hi;
    return p >= lo && p < hi && len < hi - p && s[len] == '\0';
}

/* s[0..len) as the request's string: s itself when it is borrowed, else an
 * arena copy. */
static char *text_of(tb__otlp_attrs *a, const char *s, size_t len)
{
    if (borrowed(a, s, len))
        return (char *)(uintptr_t)s;
    return tb__otlp_arena_str(a->ar, s, len);
}

/* ---- wire mode ---- */

/* s[0..*len) as valid UTF-8 to be packed now: s itself (a literal, a
 * borrowed string, or checked), else a repaired arena copy whose length
 * goes to *len. NULL: out of memory. */
static const char *wire_text(tb__otlp_attrs *a, const char *s, size_t *len, bool lit)
{
    size_t bad;
    if (lit || borrowed(a, s, *len) || tb__utf8_valid(s, *len, &bad))
        return s;
    char *c = tb__otlp_arena_str(a->ar, s, *len);
    if (c)
        *len = strlen(c);
    return c;
}

/* The key of an attribute to pack, valid UTF-8, its length in *kn (NULL
 * packs as ""); false: the builder failed (marked). */
static inline bool wire_key(tb__otlp_attrs *a, const char *key, bool key_lit, const char **k,
                            size_t *kn)
{
    *kn = key ? strlen(key) : 0;
    *k = key ? wire_text(a, key, kn, key_lit) : NULL;
    if (a->failed || a->ar->failed || (key && !*k)) {
        a->failed = true;
        return false;
    }
    return true;
}

/* Pack one attribute whose value (not a string) is av. */
static void wire_put(tb__otlp_attrs *a, const char *key, bool key_lit, Tbotlp__AnyValue *av)
{
    const char *k;
    size_t kn;
    if (!wire_key(a, key, key_lit, &k, &kn))
        return;
    Tbotlp__KeyValue kv = TBOTLP__KEY_VALUE__INIT;
    kv.key = (char *)(uintptr_t)k;
    kv.value = av;
    tb__otlp_pack_kv(a->wire, 0x4A, &kv);
    if (a->wire->failed)
        a->failed = true;
}

static void wire_str(tb__otlp_attrs *a, const char *key, bool key_lit, const char *value,
                     size_t len, bool value_lit)
{
    const char *k, *v = wire_text(a, value, &len, value_lit);
    size_t kn;
    if (!v)
        a->failed = true;
    if (!wire_key(a, key, key_lit, &k, &kn))
        return;
    tb__otlp_pack_str_kv(a->wire, 0x4A, k, kn, v, len);
    if (a->wire->failed)
        a->failed = true;
}

/* ---- struct mode ---- */

/* Room for `more` KeyValue pointers; false: out of memory (marked). */
static bool room(tb__otlp_attrs *a, size_t more)
{
    if (a->n + more <= a->cap)
        return true;
    size_t cap = a->cap ? a->cap : 32;
    while (cap < a->n + more)
        cap *= 2;
    Tbotlp__KeyValue **v = tb__realloc(a->v, cap * sizeof *v);
    if (!v) {
        a->failed = true;
        return false;
    }
    a->v = v;
    a->cap = cap;
    return true;
}

static Tbotlp__AnyValue *attr_new(tb__otlp_attrs *a, const char *key, bool key_lit)
{
    if (a->failed || a->ar->failed || !room(a, 1))
        return NULL;
    kvbox *b = tb__otlp_arena_alloc(a->ar, sizeof *b);
    /* a literal is ours and outlives the request: protobuf-c only reads it */
    char *k = key_lit && key ? (char *)(uintptr_t)key
              : key          ? text_of(a, key, strlen(key))
                             : tb__otlp_arena_cstr(a->ar, key);
    if (!b || !k) {
        a->failed = true;
        return NULL;
    }
    Tbotlp__KeyValue kv0 = TBOTLP__KEY_VALUE__INIT;
    Tbotlp__AnyValue av0 = TBOTLP__ANY_VALUE__INIT;
    b->kv = kv0;
    b->av = av0;
    b->kv.key = k;
    b->kv.value = &b->av;
    a->v[a->n++] = &b->kv;
    return &b->av;
}

void tb__otlp_attr_strn_(tb__otlp_attrs *a, const char *key, bool key_lit, const char *value,
                         size_t len)
{
    if (!value)
        return;
    if (a->wire) {
        /* packed, the string ends at a NUL in it, as it does as a struct */
        const char *nul = memchr(value, '\0', len);
        wire_str(a, key, key_lit, value, nul ? (size_t)(nul - value) : len, false);
        return;
    }
    Tbotlp__AnyValue *v = attr_new(a, key, key_lit);
    if (!v)
        return;
    char *s = text_of(a, value, len);
    if (!s) {
        a->failed = true;
        return;
    }
    v->value_case = TBOTLP__ANY_VALUE__VALUE_STRING_VALUE;
    v->string_value = s;
}

void tb__otlp_attr_str_(tb__otlp_attrs *a, const char *key, bool key_lit, const char *value,
                        bool value_lit)
{
    if (!value)
        return;
    if (a->wire) {
        wire_str(a, key, key_lit, value, strlen(value), value_lit);
        return;
    }
    if (!value_lit) {
        tb__otlp_attr_strn_(a, key, key_lit, value, strlen(value));
        return;
    }
    Tbotlp__AnyValue *v = attr_new(a, key, key_lit);
    if (!v)
        return;
    v->value_case = TBOTLP__ANY_VALUE__VALUE_STRING_VALUE;
    v->string_value = (char *)(uintptr_t)value;
}

/* Add an attribute whose value (not a string) is av: packed in wire mode,
 * else a copy in the arena. */
static void add_value(tb__otlp_attrs *a, const char *key, bool key_lit, Tbotlp__AnyValue *av)
{
    if (a->wire) {
        wire_put(a, key, key_lit, av);
        return;
    }
    Tbotlp__AnyValue *v = attr_new(a, key, key_lit);
    if (v)
        *v = *av;
}

void tb__otlp_attr_int_(tb__otlp_attrs *a, const char *key, bool key_lit, int64_t value)
{
    Tbotlp__AnyValue av = TBOTLP__ANY_VALUE__INIT;
    av.value_case = TBOTLP__ANY_VALUE__VALUE_INT_VALUE;
    av.int_value = value;
    add_value(a, key, key_lit, &av);
}

void tb__otlp_attr_double_(tb__otlp_attrs *a, const char *key, bool key_lit, double value)
{
    Tbotlp__AnyValue av = TBOTLP__ANY_VALUE__INIT;
    av.value_case = TBOTLP__ANY_VALUE__VALUE_DOUBLE_VALUE;
    av.double_value = value;
    add_value(a, key, key_lit, &av);
}

void tb__otlp_attr_bool_(tb__otlp_attrs *a, const char *key, bool key_lit, bool value)
{
    Tbotlp__AnyValue av = TBOTLP__ANY_VALUE__INIT;
    av.value_case = TBOTLP__ANY_VALUE__VALUE_BOOL_VALUE;
    av.bool_value = value ? 1 : 0;
    add_value(a, key, key_lit, &av);
}

void tb__otlp_attr_json_(tb__otlp_attrs *a, const char *key, bool key_lit, const cJSON *value)
{
    if (!value || cJSON_IsNull(value) || cJSON_IsInvalid(value))
        return;
    /* printed into the builder's scratch text, then copied once */
    a->scratch.len = 0;
    if (a->scratch.data)
        a->scratch.data[0] = '\0';
    tb__json_write(&a->scratch, value);
    if (a->scratch.failed) {
        a->failed = true;
        return;
    }
    tb__otlp_attr_strn_(a, key, key_lit, a->scratch.data, a->scratch.len);
}

void tb__otlp_attr_fail(tb__otlp_attrs *a)
{
    a->failed = true;
}

size_t tb__otlp_attrs_mark(const tb__otlp_attrs *a)
{
    return a->wire ? a->wire->len : a->n;
}

void tb__otlp_attrs_keep(tb__otlp_attrs *a, size_t from, tb__otlp_attrs_kept *k)
{
    memset(k, 0, sizeof *k);
    if (a->failed)
        return;
    if (a->wire) {
        if (a->wire->failed || from >= a->wire->len)
            return;
        size_t len = a->wire->len - from;
        char *bytes = tb__otlp_arena_alloc(a->ar, len);
        if (!bytes) {
            a->failed = true;
            return;
        }
        memcpy(bytes, a->wire->data + from, len);
        k->bytes = bytes;
        k->len = len;
        return;
    }
    if (from >= a->n)
        return;
    Tbotlp__KeyValue **v = tb__otlp_arena_alloc(a->ar, (a->n - from) * sizeof *v);
    if (!v) {
        a->failed = true;
        return;
    }
    memcpy(v, a->v + from, (a->n - from) * sizeof *v);
    k->kv = v;
    k->n = a->n - from;
}

void tb__otlp_attrs_add_kept(tb__otlp_attrs *a, const tb__otlp_attrs_kept *k)
{
    if (a->failed)
        return;
    if (a->wire) {
        if (k->len) {
            tb__buf_append(a->wire, k->bytes, k->len);
            if (a->wire->failed)
                a->failed = true;
        }
        return;
    }
    if (k->n == 0 || !room(a, k->n))
        return;
    memcpy(a->v + a->n, k->kv, k->n * sizeof *k->kv);
    a->n += k->n;
}

Tbotlp__KeyValue **tb__otlp_attrs_take(tb__otlp_attrs *a, size_t *n_out)
{
    *n_out = 0;
    if (a->n == 0 || a->failed)
        return NULL;
    Tbotlp__KeyValue **v = tb__otlp_arena_alloc(a->ar, a->n * sizeof *v);
    if (!v) {
        a->failed = true;
        return NULL;
    }
    memcpy(v, a->v, a->n * sizeof *v);
    *n_out = a->n;
    a->n = 0;
    return v;
}
