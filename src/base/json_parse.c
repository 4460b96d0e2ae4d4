/*
 * json_parse.c — text to cJSON trees (json_print.h: tb__json_parse), the
 * tree cJSON_ParseWithLength makes, in less time.
 *
 * The OTLP encoder parses every stored body of a batch; cJSON's parser was
 * a fifth of its instructions: it measures each string before copying it,
 * calls its allocation hook per node and per string, and reads numbers
 * through a copy. This one reads each string once (a string without
 * escapes is one memcpy), takes its memory where cJSON's hook does (the
 * JSON pool when one is open, so the trees need no cJSON_Delete there), and
 * reads numbers as cJSON does (a copy of the number's characters, strtod).
 *
 * It accepts exactly what cJSON 1.7.15 accepts, quirks included: any byte
 * up to 0x20 is white space, text after the value is ignored, a UTF-8 BOM
 * is skipped, \u escapes with bad hex digits read as U+0000, a lone low
 * surrogate fails, nesting stops at CJSON_NESTING_LIMIT.
 * tests/fuzz/fuzz_json_print.c holds it to cJSON on arbitrary bytes: both
 * fail, or both make trees that print the same.
 */
#include "json_print.h"

#include <limits.h>
#include <locale.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

typedef struct parser {
    const unsigned char *at, *end;
    size_t depth;
    bool insitu; /* strings are decoded in place (tb__json_parse_insitu) */
} parser;

/* An item's type, keeping the mark an in-situ key already put on it. */
static void set_type(cJSON *item, int type)
{
    item->type = (item->type & cJSON_StringIsConst) | type;
}

static cJSON *new_node(void)
{
    cJSON *n = tb__json_alloc(sizeof *n);
    if (n)
        memset(n, 0, sizeof *n);
    return n;
}

/* cJSON's white space: every byte up to 0x20. At the end of the text it
 * steps back onto the last byte, as cJSON's buffer_skip_whitespace does
 * (the byte then fails whatever is expected of it). */
static void skip_ws(parser *p)
{
    if (p->at >= p->end)
        return;
    while (p->at < p->end && *p->at <= 32)
        p->at++;
    if (p->at == p->end)
        p->at--;
}

static unsigned hex4(const unsigned char *s)
{
    unsigned h = 0;
    for (int i = 0; i < 4; i++) {
        int v = tb__hexval((char)s[i]);
        if (v < 0)
            return 0; /* cJSON's parse_hex4: a bad digit makes the whole 0 */
        h = (h << 4) | (unsigned)v;
    }
    return h;
}

/* A \u escape at s (before `close`, the closing quote) as UTF-8 at *out;
 * the escape's length (6 or 12), or 0 where cJSON fails. */
static size_t utf16_escape(const unsigned char *s, const unsigned char *close, unsigned char **out)
{
    if (close - s < 6)
        return 0;
    unsigned long cp = hex4(s + 2);
    size_t len = 6;
    if (cp >= 0xDC00 && cp <= 0xDFFF)
        return 0;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        const unsigned char *t = s + 6;
        if (close - t < 6 || t[0] != '\\' || t[1] != 'u')
            return 0;
        unsigned lo = hex4(t + 2);
        if (lo < 0xDC00 || lo > 0xDFFF)
            return 0;
        cp = 0x10000 + (((cp & 0x3FF) << 10) | (lo & 0x3FF));
        len = 12;
    }
    *out += tb__utf8_put(cp, (char *)*out);
    return len;
}

/* The string at p->at (its opening quote) as a new NUL-terminated text. */
static char *parse_string(parser *p)
{
    const unsigned char *s = p->at;
    if (s >= p->end || *s != '"')
        return NULL;
    const unsigned char *q = s + 1;
    size_t escapes = 0;
    /* most strings have no backslash before their closing quote: the
     * first quote or backslash, sixteen bytes a step with SSE2 (every
     * x86-64), tells; two memchr calls elsewhere */
#if defined(__SSE2__)
    {
        const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
        while (p->end - q >= 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)q);
            unsigned hit = (unsigned)_mm_movemask_epi8(
                _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)));
            if (hit) {
                q += __builtin_ctz(hit);
                break;
            }
            q += 16;
        }
    }
#else
    const unsigned char *quote = memchr(q, '"', (size_t)(p->end - q));
    if (quote && !memchr(q, '\\', (size_t)(quote - q)))
        q = quote;
#endif
    while (q < p->end && *q != '"') {
        if (*q == '\\') {
            if (q + 1 >= p->end)
                return NULL;
            escapes++;
            q++;
        }
        q++;
    }
    if (q >= p->end)
        return NULL;
    size_t n = (size_t)(q - s - 1);
    /* in situ: the decoded text is never longer than its source, so it is
     * written over it, and its NUL over the closing quote at the latest */
    unsigned char *out =
        p->insitu ? (unsigned char *)(uintptr_t)(s + 1) : tb__json_alloc(n - escapes + 1);
    if (!out)
        return NULL;
    if (!escapes) {
        if (!p->insitu)
            memcpy(out, s + 1, n);
        out[n] = '\0';
        p->at = q + 1;
        return (char *)out;
    }
    unsigned char *o = out;
    for (const unsigned char *i = s + 1; i < q;) {
        if (*i != '\\') {
            *o++ = *i++;
            continue;
        }
        size_t len = 2;
        int e = tb__json_escape_byte(i[1]);
        if (e >= 0) {
            *o++ = (unsigned char)e;
        } else if (i[1] != 'u' || !(len = utf16_escape(i, q, &o))) {
            if (!p->insitu)
                cJSON_free(out);
            return NULL;
        }
        i += len;
    }
    *o = '\0';
    p->at = q + 1;
    return (char *)out;
}

static bool number_char(unsigned char c)
{
    return (c >= '0' && c <= '9') || c == '+' || c == '-' || c == 'e' || c == 'E' || c == '.';
}

static bool parse_number(parser *p, cJSON *item)
{
    /* cJSON (Debian's 1.7.15) copies the whole run of these characters,
     * '.' as the locale's decimal point, and lets strtod read what it can */
    size_t n = 0;
    while (p->at + n < p->end && number_char(p->at[n]))
        n++;
    /* an integer of up to 15 digits (token counts, times): strtod's double
     * is the integer itself, exactly; made here without copy or call */
    size_t neg = n && p->at[0] == '-';
    if (n > neg && n - neg <= 15) {
        int64_t v = 0;
        size_t k = neg;
        for (; k < n && p->at[k] >= '0' && p->at[k] <= '9'; k++)
            v = v * 10 + (p->at[k] - '0');
        if (k == n) {
            double d = neg ? -(double)v : (double)v;
            item->valuedouble = d;
            item->valueint = d >= INT_MAX ? INT_MAX : d <= (double)INT_MIN ? INT_MIN : (int)d;
            set_type(item, cJSON_Number);
            p->at += n;
            return true;
        }
    }
    char small[64], *num = small;
    if (n >= sizeof small && !(num = tb__malloc(n + 1)))
        return false;
    char point = 0; /* the locale's, asked only for a number that has a '.' */
    for (size_t i = 0; i < n; i++) {
        num[i] = (char)p->at[i];
        if (num[i] == '.')
            num[i] = point ? point : (point = localeconv()->decimal_point[0]);
    }
    num[n] = '\0';
    char *after = NULL;
    double d = strtod(num, &after);
    size_t used = (size_t)(after - num);
    if (num != small)
        tb__free_mem(num);
    if (used == 0)
        return false;
    item->valuedouble = d;
    if (d >= INT_MAX)
        item->valueint = INT_MAX;
    else if (d <= (double)INT_MIN)
        item->valueint = INT_MIN;
    else
        item->valueint = (int)d;
    set_type(item, cJSON_Number);
    p->at += used;
    return true;
}

static bool parse_value(parser *p, cJSON *item);

/* An array or an object (close is ']' or '}'), p->at on its opening
 * bracket. Children are linked into item as they come, so a failure
 * leaves a tree cJSON_Delete can free. */
static bool parse_container(parser *p, cJSON *item, unsigned char close)
{
    bool object = close == '}';
    if (p->depth >= CJSON_NESTING_LIMIT)
        return false;
    p->depth++;
    set_type(item, object ? cJSON_Object : cJSON_Array);
    p->at++;
    skip_ws(p);
    if (p->at < p->end && *p->at == close)
        goto done;
    if (p->at >= p->end)
        return false;
    cJSON *last = NULL;
    p->at--; /* onto the byte before the first element, as cJSON steps */
    do {
        cJSON *c = new_node();
        if (!c)
            return false;
        if (last) {
            last->next = c;
            c->prev = last;
        } else {
            item->child = c;
        }
        last = c;
        item->child->prev = c;
        p->at++;
        skip_ws(p);
        if (object) {
            c->string = parse_string(p);
            if (!c->string)
                return false;
            if (p->insitu) /* the key is the caller's text: never freed */
                c->type = cJSON_StringIsConst;
            skip_ws(p);
            if (p->at >= p->end || *p->at != ':')
                return false;
            p->at++;
            skip_ws(p);
        }
        if (!parse_value(p, c))
            return false;
        skip_ws(p);
    } while (p->at < p->end && *p->at == ',');
    if (p->at >= p->end || *p->at != close)
        return false;
done:
    p->depth--;
    p->at++;
    return true;
}

static bool parse_value(parser *p, cJSON *item)
{
    size_t left = (size_t)(p->end - p->at);
    if (left == 0)
        return false;
    switch (*p->at) {
    case 'n':
        if (left >= 4 && memcmp(p->at, "null", 4) == 0) {
            set_type(item, cJSON_NULL);
            p->at += 4;
            return true;
        }
        return false;
    case 'f':
        if (left >= 5 && memcmp(p->at, "false", 5) == 0) {
            set_type(item, cJSON_False);
            p->at += 5;
            return true;
        }
        return false;
    case 't':
        if (left >= 4 && memcmp(p->at, "true", 4) == 0) {
            set_type(item, cJSON_True);
            item->valueint = 1;
            p->at += 4;
            return true;
        }
        return false;
    case '"':
        item->valuestring = parse_string(p);
        if (!item->valuestring)
            return false;
        /* in situ, the text is the caller's: cJSON_Delete must not free it */
        set_type(item, cJSON_String | (p->insitu ? cJSON_IsReference : 0));
        return true;
    case '[':
        return parse_container(p, item, ']');
    case '{':
        return parse_container(p, item, '}');
    default:
        if (*p->at == '-' || (*p->at >= '0' && *p->at <= '9'))
            return parse_number(p, item);
        return false;
    }
}

cJSON *tb__json_parse_str(const char *s)
{
    return s ? tb__json_parse(s, strlen(s) + 1) : NULL;
}

static cJSON *parse(const char *text, size_t len, bool insitu)
{
    if (!text || len == 0)
        return NULL;
    tb__json_init();
    parser p = {(const unsigned char *)text, (const unsigned char *)text + len, 0, insitu};
    if (len > 4 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        p.at += 3;
    cJSON *root = new_node();
    if (!root)
        return NULL;
    skip_ws(&p);
    if (!parse_value(&p, root)) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

cJSON *tb__json_parse(const char *text, size_t len)
{
    return parse(text, len, false);
}

cJSON *tb__json_parse_insitu(char *text, size_t len)
{
    return parse(text, len, true);
}
