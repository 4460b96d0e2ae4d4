/*
 * otlp/attrs.c — the attribute builder (otlp/attrs.h).
 *
 * Design. The attributes of one span (or of the resource, or of an event)
 * are collected as protobuf-c KeyValue / AnyValue pairs, each pair one
 * arena block, behind a pointer array that is reused from span to span;
 * tb__otlp_attrs_take() copies the array into the arena for the message that
 * owns it. Keys and string values are arena copies made valid UTF-8,
 * except literals and the strings of a span's own text when that text is
 * valid UTF-8 (parsed in place, it lives as long as the request). An allocation failure marks the
 * builder; every later call is a no-op.
 */
#include "otlp/attrs.h"

#include "internal.h"
#include "json_print.h"
#include "trace.pb-c.h"

#include <stdint.h>
#include <string.h>

typedef struct kvbox {
    Tbotlp__KeyValue kv;
    Tbotlp__AnyValue av;
} kvbox;

/* s[0..len) as the request's string: s itself when it lies in the span's
 * valid text and ends there (attrs.h: borrow_lo), else an arena copy. */
static char *text_of(tb__otlp_attrs *a, const char *s, size_t len)
{
    uintptr_t p = (uintptr_t)s, lo = (uintptr_t)a->borrow_lo, hi = (uintptr_t)a->borrow_hi;
    if (p >= lo && p < hi && len < hi - p && s[len] == '\0')
        return (char *)(uintptr_t)s;
    return tb__otlp_arena_str(a->ar, s, len);
}

static Tbotlp__AnyValue *attr_new(tb__otlp_attrs *a, const char *key, bool key_lit)
{
    if (a->failed || a->ar->failed)
        return NULL;
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 32;
        Tbotlp__KeyValue **v = tb__realloc(a->v, cap * sizeof *v);
        if (!v) {
            a->failed = true;
            return NULL;
        }
        a->v = v;
        a->cap = cap;
    }
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

void tb__otlp_attr_int_(tb__otlp_attrs *a, const char *key, bool key_lit, int64_t value)
{
    Tbotlp__AnyValue *v = attr_new(a, key, key_lit);
    if (!v)
        return;
    v->value_case = TBOTLP__ANY_VALUE__VALUE_INT_VALUE;
    v->int_value = value;
}

void tb__otlp_attr_double_(tb__otlp_attrs *a, const char *key, bool key_lit, double value)
{
    Tbotlp__AnyValue *v = attr_new(a, key, key_lit);
    if (!v)
        return;
    v->value_case = TBOTLP__ANY_VALUE__VALUE_DOUBLE_VALUE;
    v->double_value = value;
}

void tb__otlp_attr_bool_(tb__otlp_attrs *a, const char *key, bool key_lit, bool value)
{
    Tbotlp__AnyValue *v = attr_new(a, key, key_lit);
    if (!v)
        return;
    v->value_case = TBOTLP__ANY_VALUE__VALUE_BOOL_VALUE;
    v->bool_value = value ? 1 : 0;
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

size_t tb__otlp_attrs_count(const tb__otlp_attrs *a)
{
    return a->n;
}

Tbotlp__KeyValue **tb__otlp_attrs_since(tb__otlp_attrs *a, size_t from, size_t *n_out)
{
    *n_out = 0;
    if (a->failed || from >= a->n)
        return NULL;
    Tbotlp__KeyValue **v = tb__otlp_arena_alloc(a->ar, (a->n - from) * sizeof *v);
    if (!v) {
        a->failed = true;
        return NULL;
    }
    memcpy(v, a->v + from, (a->n - from) * sizeof *v);
    *n_out = a->n - from;
    return v;
}

void tb__otlp_attrs_add_kvs(tb__otlp_attrs *a, Tbotlp__KeyValue *const *kv, size_t n)
{
    if (a->failed || n == 0)
        return;
    if (a->n + n > a->cap) {
        size_t cap = a->cap ? a->cap : 32;
        while (cap < a->n + n)
            cap *= 2;
        Tbotlp__KeyValue **v = tb__realloc(a->v, cap * sizeof *v);
        if (!v) {
            a->failed = true;
            return;
        }
        a->v = v;
        a->cap = cap;
    }
    memcpy(a->v + a->n, kv, n * sizeof *kv);
    a->n += n;
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
