/*
 * json_scan.c — the validating scanner of json_scan.h.
 *
 * One recursive descent over the bytes. What it accepts is RFC 8259 JSON
 * within cJSON's limits (the codec stored what cJSON accepted before; every
 * text accepted here cJSON parses too, which the record fuzzer checks):
 * strings without raw control characters, the eight escapes and \u with
 * surrogates in pairs, numbers as the RFC writes them, nesting at most
 * 1000 deep. UTF-8 and NUL bytes are checked by the caller first.
 */
#include "json_scan.h"

#include "internal.h"

#include <stdio.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define MAX_DEPTH 1000 /* cJSON's CJSON_NESTING_LIMIT */

typedef struct key {
    const unsigned char *at; /* inside the quotes */
    size_t len;
    bool escaped;
} key;

/* The keys of an object checked for duplicates (object()). */
typedef struct key_list {
    key inline_keys[32];
    key *keys; /* inline_keys, or grown on the heap */
    size_t n, cap;
} key_list;

typedef struct scan {
    const unsigned char *start, *p, *end;
    int depth;
    bool failed;
    key_list seen[2]; /* the record's keys and span_data's (depth 1 and 2) */
    char dup[2][64];  /* the first duplicate key at depth 1 and 2 */
    bool has_dup[2];
} scan;

static bool fail(scan *s)
{
    s->failed = true;
    return false;
}

static inline __attribute__((always_inline)) void ws(scan *s)
{
    /* compact JSON has none: every JSON space is at most ' ', so one
     * comparison settles the common case */
    while (s->p < s->end && *s->p <= ' ' &&
           (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static int hex4(const unsigned char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        int h = tb__hexval((char)p[i]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

/* A string at s->p (its opening quote); s->p ends after the closing one. */
static bool string(scan *s, bool *escaped)
{
    const unsigned char *p = s->p + 1, *end = s->end;
    bool esc = false;
    for (;;) {
        /* plain bytes passed over sixteen at a time with SSE2 (every
         * x86-64), then eight (SWAR), each step stopping on the first
         * quote, backslash or control character; the byte loop decides
         * what is left (and, big-endian, the word a SWAR step stopped in) */
#if defined(__SSE2__)
        {
            const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'),
                          ctl = _mm_set1_epi8(0x1F);
            unsigned hit16 = 0;
            while (end - p >= 16) {
                __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
                __m128i m =
                    _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
                                 _mm_cmpeq_epi8(_mm_max_epu8(v, ctl), ctl)); /* v <= 0x1F */
                hit16 = (unsigned)_mm_movemask_epi8(m);
                if (hit16) {
                    p += __builtin_ctz(hit16);
                    break;
                }
                p += 16;
            }
            if (hit16)
                goto stopped;
        }
#endif
        while (end - p >= 8) {
            uint64_t w;
            memcpy(&w, p, 8);
            const uint64_t ones = UINT64_C(0x0101010101010101),
                           highs = UINT64_C(0x8080808080808080);
            uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
            uint64_t hit =
                (((q - ones) & ~q) | ((b - ones) & ~b) | ((w - ones * 0x20) & ~w)) & highs;
            if (hit) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
                /* the lowest marked byte is a real one (a borrow only
                 * marks bytes above a real hit): go straight to it */
                p += (unsigned)__builtin_ctzll(hit) / 8;
#endif
                break;
            }
            p += 8;
        }
        while (p < end && *p != '"' && *p != '\\' && *p >= 0x20)
            p++;
#if defined(__SSE2__)
    stopped:
#endif
        if (p >= end || *p < 0x20) {
            s->p = p;
            return fail(s);
        }
        if (*p == '"')
            break;
        esc = true;
        if (end - p < 2) {
            s->p = p;
            return fail(s);
        }
        switch (p[1]) {
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
            p += 2;
            break;
        case 'u': {
            int c = end - p >= 6 ? hex4(p + 2) : -1;
            if (c < 0 || (c >= 0xDC00 && c <= 0xDFFF)) {
                s->p = p;
                return fail(s);
            }
            if (c >= 0xD800 && c <= 0xDBFF) {
                int lo = end - p >= 12 && p[6] == '\\' && p[7] == 'u' ? hex4(p + 8) : -1;
                if (lo < 0xDC00 || lo > 0xDFFF) {
                    s->p = p;
                    return fail(s);
                }
                p += 12;
            } else {
                p += 6;
            }
            break;
        }
        default:
            s->p = p;
            return fail(s);
        }
    }
    s->p = p + 1;
    if (escaped)
        *escaped = esc;
    return true;
}

static bool digits(scan *s)
{
    const unsigned char *p = s->p;
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
        s->p++;
    return s->p > p || fail(s);
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool number(scan *s)
{
    if (*s->p == '-')
        s->p++;
    if (s->p >= s->end)
        return fail(s);
    if (*s->p == '0')
        s->p++;
    else if (!digits(s))
        return false;
    if (s->p < s->end && *s->p == '.') {
        s->p++;
        if (!digits(s))
            return false;
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->p++;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
            s->p++;
        if (!digits(s))
            return false;
    }
    return true;
}

static bool literal(scan *s, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
        return fail(s);
    s->p += n;
    return true;
}

/* Decode the inside of a string slice [at, at+len) into out; returns the
 * decoded length. The slice was validated by string(). */
static size_t decode(const unsigned char *at, size_t len, char *out)
{
    const unsigned char *p = at, *end = at + len;
    char *o = out;
    while (p < end) {
        const unsigned char *b = memchr(p, '\\', (size_t)(end - p));
        if (!b)
            b = end;
        memcpy(o, p, (size_t)(b - p));
        o += b - p;
        p = b;
        if (p >= end)
            break;
        char c = (char)p[1];
        p += 2;
        if (c != 'u') { /* b f n r t " \ / (string() let no other through) */
            *o++ = (char)tb__json_escape_byte(c);
            continue;
        }
        unsigned long cp = (unsigned long)hex4(p);
        p += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + ((unsigned long)hex4(p + 2) - 0xDC00);
            p += 6;
        }
        o += tb__utf8_put(cp, o);
    }
    *o = '\0';
    return (size_t)(o - out);
}

size_t tb__json_string(const tb__jval *v, char *out)
{
    if (!v->escaped) {
        memcpy(out, v->at + 1, v->len - 2);
        out[v->len - 2] = '\0';
        return v->len - 2;
    }
    return decode((const unsigned char *)v->at + 1, v->len - 2, out);
}

/* Are two keys equal once decoded, as cJSON compares them: up to a NUL
 * (a \u0000 in a key ends it for every reader after us, so "id\u0000x"
 * is "id" here too)? Not inlined: its buffers stay off the recursion. */
static __attribute__((noinline)) bool key_equal(const key *a, const key *b)
{
    if (!a->escaped && !b->escaped) /* raw text has no NUL (refused before) */
        return a->len == b->len && memcmp(a->at, b->at, a->len) == 0;
    char sa[256], sb[256];
    char *da = a->len < sizeof sa ? sa : tb__malloc(a->len + 1);
    char *db = b->len < sizeof sb ? sb : tb__malloc(b->len + 1);
    bool eq = false;
    if (da && db) {
        decode(a->at, a->len, da);
        decode(b->at, b->len, db);
        eq = strcmp(da, db) == 0;
    }
    if (da != sa)
        tb__free_mem(da);
    if (db != sb)
        tb__free_mem(db);
    return eq;
}

/* Which of spec's keys is k, or -1. */
static int key_index(const tb__jspec *spec, const key *k)
{
    for (size_t i = 0; i < spec->n; i++) {
        const char *w = spec->keys[i];
        if (!k->escaped && (k->len == 0 || (unsigned char)w[0] != k->at[0]))
            continue; /* most keys differ at once */
        key want = {(const unsigned char *)w, strlen(w), false};
        if (k->escaped ? key_equal(k, &want)
                       : (k->len == want.len && memcmp(k->at, want.at, k->len) == 0))
            return (int)i;
    }
    return -1;
}

static __attribute__((noinline)) void note_dup(scan *s, const key *k)
{
    int level = s->depth - 1;
    if (level < 0 || level > 1 || s->has_dup[level])
        return;
    char buf[256];
    const char *text = (const char *)k->at;
    size_t len = k->len;
    if (k->escaped && k->len < sizeof buf) {
        len = decode(k->at, k->len, buf);
        text = buf;
    }
    snprintf(s->dup[level], sizeof s->dup[level], "%.*s", (int)len, text);
    tb__one_line(s->dup[level]); /* it goes into one-line messages */
    s->has_dup[level] = true;
}

static bool value(scan *s, const tb__jspec *spec, tb__jval *out);

/* Remember k among the keys of an object checked for duplicates, noting it
 * when it was there already. Not inlined: its work stays off the
 * recursion. */
static __attribute__((noinline)) void remember(scan *s, key_list *seen, const key *k)
{
    for (size_t i = 0; i < seen->n; i++) {
        const key *o = &seen->keys[i];
        /* two raw keys of different lengths or first bytes differ: most
         * pairs are told apart here, without the call */
        if (!o->escaped && !k->escaped && (o->len != k->len || o->at[0] != k->at[0]))
            continue;
        if (key_equal(o, k)) {
            note_dup(s, k);
            break;
        }
    }
    if (seen->n == seen->cap) {
        key *grown = tb__malloc(2 * seen->cap * sizeof *grown);
        if (!grown)
            return; /* out of memory: the rest of the keys go unchecked */
        memcpy(grown, seen->keys, seen->n * sizeof *grown);
        if (seen->keys != seen->inline_keys)
            tb__free_mem(seen->keys);
        seen->keys = grown;
        seen->cap *= 2;
    }
    seen->keys[seen->n++] = *k;
}

/* An object: checked, and the members the spec names (the record,
 * span_data, error) captured. The objects the spec asks it of (the record
 * and span_data: depth 1 and 2) have their keys compared for duplicates;
 * those keys go to the scan's lists, not this frame, so 1000 levels take
 * about the stack cJSON's parse takes. */
static bool object(scan *s, const tb__jspec *spec)
{
    if (++s->depth > MAX_DEPTH)
        return fail(s);
    key_list *seen = spec && spec->dups && s->depth <= 2 ? &s->seen[s->depth - 1] : NULL;
    if (seen) {
        seen->keys = seen->inline_keys;
        seen->n = 0;
        seen->cap = sizeof seen->inline_keys / sizeof seen->inline_keys[0];
    }
    s->p++; /* { */
    ws(s);
    bool ok = false;
    if (s->p < s->end && *s->p == '}') {
        s->p++;
        ok = true;
    }
    while (!ok) {
        if (s->p >= s->end || *s->p != '"') {
            fail(s);
            break;
        }
        key k = {s->p + 1, 0, false};
        if (!string(s, &k.escaped))
            break;
        k.len = (size_t)(s->p - 1 - k.at);
        ws(s);
        if (s->p >= s->end || *s->p != ':') {
            fail(s);
            break;
        }
        s->p++;
        ws(s);
        int idx = spec ? key_index(spec, &k) : -1;
        bool first = idx >= 0 && spec->vals[idx].type == TB__J_ABSENT;
        const tb__jspec *sub = first && spec->sub ? spec->sub[idx] : NULL;
        if (!value(s, sub, first ? &spec->vals[idx] : NULL))
            break;
        if (seen)
            remember(s, seen, &k);
        ws(s);
        if (s->p < s->end && *s->p == ',') {
            s->p++;
            ws(s);
            continue;
        }
        if (s->p < s->end && *s->p == '}') {
            s->p++;
            ok = true;
        } else {
            fail(s);
            break;
        }
    }
    if (seen && seen->keys != seen->inline_keys)
        tb__free_mem(seen->keys);
    s->depth--;
    return ok;
}

static bool array(scan *s)
{
    if (++s->depth > MAX_DEPTH)
        return fail(s);
    s->p++; /* [ */
    ws(s);
    if (s->p < s->end && *s->p == ']') {
        s->p++;
        s->depth--;
        return true;
    }
    for (;;) {
        if (!value(s, NULL, NULL))
            return false;
        ws(s);
        if (s->p < s->end && *s->p == ',') {
            s->p++;
            ws(s);
            continue;
        }
        if (s->p < s->end && *s->p == ']') {
            s->p++;
            s->depth--;
            return true;
        }
        return fail(s);
    }
}

static bool value(scan *s, const tb__jspec *spec, tb__jval *out)
{
    if (s->p >= s->end)
        return fail(s);
    const unsigned char *at = s->p;
    tb__jtype type;
    bool escaped = false, ok;
    switch (*s->p) {
    case '{':
        type = TB__J_OBJECT;
        ok = object(s, spec);
        break;
    case '[':
        type = TB__J_ARRAY;
        ok = array(s);
        break;
    case '"':
        type = TB__J_STRING;
        ok = string(s, &escaped);
        break;
    case 't':
        type = TB__J_TRUE;
        ok = literal(s, "true");
        break;
    case 'f':
        type = TB__J_FALSE;
        ok = literal(s, "false");
        break;
    case 'n':
        type = TB__J_NULL;
        ok = literal(s, "null");
        break;
    default:
        if (*s->p != '-' && (*s->p < '0' || *s->p > '9'))
            return fail(s);
        type = TB__J_NUMBER;
        ok = number(s);
        break;
    }
    if (ok && out) {
        out->type = type;
        out->at = (const char *)at;
        out->len = (size_t)(s->p - at);
        out->escaped = escaped;
    }
    return ok;
}

static void clear_spec(const tb__jspec *spec)
{
    if (!spec)
        return;
    for (size_t i = 0; i < spec->n; i++) {
        memset(&spec->vals[i], 0, sizeof spec->vals[i]);
        if (spec->sub)
            clear_spec(spec->sub[i]);
    }
}

tb__jscan_result tb__json_scan(const char *text, size_t len, const tb__jspec *spec, tb__jval *top,
                               size_t *where, char *dup, size_t dup_size)
{
    scan s; /* the key lists are set up by the object that uses one */
    s.depth = 0;
    s.failed = false;
    s.has_dup[0] = s.has_dup[1] = false;
    s.start = s.p = (const unsigned char *)text;
    s.end = s.start + len;
    clear_spec(spec);
    *where = 0;
    ws(&s);
    bool is_object = s.p < s.end && *s.p == '{';
    tb__jval ignored;
    if (!value(&s, is_object ? spec : NULL, top ? top : &ignored)) {
        *where = (size_t)(s.p - s.start);
        return TB__JSCAN_SYNTAX;
    }
    ws(&s);
    if (s.p < s.end) {
        *where = (size_t)(s.p - s.start);
        return TB__JSCAN_TRAILING;
    }
    if (!is_object)
        return TB__JSCAN_NOT_OBJECT;
    for (int level = 0; level < 2; level++) {
        if (s.has_dup[level]) {
            if (dup && dup_size)
                snprintf(dup, dup_size, "%s", s.dup[level]);
            return TB__JSCAN_DUPLICATE;
        }
    }
    return TB__JSCAN_OK;
}
