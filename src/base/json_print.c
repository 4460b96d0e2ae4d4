/*
 * json_print.c — cJSON trees to text (json_print.h).
 *
 * Design. One recursive walk appends to a tb__buf. A string is measured
 * once (its escapes counted), the buffer grown once for it, then copied
 * with the escapes cJSON uses: \" \\ \b \f \n \r \t, \u00xx (lower-case
 * hex) for the other control characters, every other byte as it is. An
 * int is written by hand; any other number (-0 included) is printed by cJSON itself
 * (its %1.15g / %1.17g rule and the locale's decimal point), so the output
 * cannot drift from cJSON_PrintUnformatted's.
 */
#include "json_print.h"

#include <math.h>
#include <string.h>

static void put_char(tb__buf *b, char c)
{
    char *p = tb__buf_reserve(b, 1);
    if (!p)
        return;
    *p = c;
    b->len++;
    b->data[b->len] = '\0';
}

/* Bytes each input byte takes once escaped: 1, 2 (\n), or 6 (\u001f). */
static const unsigned char esc_len[256] = {
    6, 6, 6, 6, 6, 6, 6, 6, 2, 2, 2, 6, 2, 2, 6, 6, /* \b \t \n \f \r */
    6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, /* */
    1, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* \" */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1, /* \\ */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* */
};

void tb__json_write_str(tb__buf *b, const char *str)
{
    if (!str) {
        tb__buf_append(b, "\"\"", 2);
        return;
    }
    const unsigned char *s = (const unsigned char *)str;
    size_t n = 0, out = 0;
    for (; s[n]; n++)
        out += esc_len[s[n]];
    char *p = tb__buf_reserve(b, out + 2);
    if (!p)
        return;
    *p++ = '"';
    if (out == n) {
        memcpy(p, s, n);
        p += n;
    } else {
        static const char hex[] = "0123456789abcdef";
        for (size_t i = 0; i < n; i++) {
            unsigned char c = s[i];
            if (esc_len[c] == 1) {
                *p++ = (char)c;
                continue;
            }
            *p++ = '\\';
            switch (c) {
            case '"':
                *p++ = '"';
                break;
            case '\\':
                *p++ = '\\';
                break;
            case '\b':
                *p++ = 'b';
                break;
            case '\f':
                *p++ = 'f';
                break;
            case '\n':
                *p++ = 'n';
                break;
            case '\r':
                *p++ = 'r';
                break;
            case '\t':
                *p++ = 't';
                break;
            default:
                memcpy(p, "u00", 3);
                p[3] = hex[c >> 4];
                p[4] = hex[c & 15];
                p += 5;
                break;
            }
        }
    }
    *p++ = '"';
    b->len = (size_t)(p - b->data);
    b->data[b->len] = '\0';
}

static void write_int(tb__buf *b, int v)
{
    char tmp[16];
    size_t i = sizeof tmp;
    /* in unsigned arithmetic, so INT_MIN has a magnitude */
    unsigned u = v < 0 ? 0u - (unsigned)v : (unsigned)v;
    do {
        tmp[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        tmp[--i] = '-';
    tb__buf_append(b, tmp + i, sizeof tmp - i);
}

static void write_number(tb__buf *b, const cJSON *item)
{
    double d = item->valuedouble;
    /* an int prints as %1.15g prints it, but for -0 */
    if (!isnan(d) && !isinf(d) && d == (double)item->valueint && !(d == 0 && signbit(d))) {
        write_int(b, item->valueint);
        return;
    }
    /* NaN, infinities and fractions: cJSON's own rule, from cJSON, into a
     * buffer of ours (cJSON's own print allocates twice a number, which
     * inside a JSON pool is never given back) */
    cJSON copy = *item;
    copy.next = copy.prev = copy.child = NULL;
    copy.string = NULL;
    char text[64]; /* cJSON prints a number in at most 25 bytes */
    if (!cJSON_PrintPreallocated(&copy, text, (int)sizeof text, 0)) {
        b->failed = true;
        return;
    }
    tb__buf_append(b, text, strlen(text));
}

void tb__json_write(tb__buf *b, const cJSON *item)
{
    if (!item || b->failed) {
        b->failed = true;
        return;
    }
    switch (item->type & 0xFF) {
    case cJSON_NULL:
        tb__buf_append(b, "null", 4);
        return;
    case cJSON_False:
        tb__buf_append(b, "false", 5);
        return;
    case cJSON_True:
        tb__buf_append(b, "true", 4);
        return;
    case cJSON_Number:
        write_number(b, item);
        return;
    case cJSON_Raw:
        if (!item->valuestring) {
            b->failed = true;
            return;
        }
        tb__buf_append(b, item->valuestring, strlen(item->valuestring));
        return;
    case cJSON_String:
        tb__json_write_str(b, item->valuestring);
        return;
    case cJSON_Array:
        put_char(b, '[');
        for (const cJSON *c = item->child; c && !b->failed; c = c->next) {
            tb__json_write(b, c);
            if (c->next)
                put_char(b, ',');
        }
        put_char(b, ']');
        return;
    case cJSON_Object:
        put_char(b, '{');
        for (const cJSON *c = item->child; c && !b->failed; c = c->next) {
            tb__json_write_str(b, c->string);
            put_char(b, ':');
            tb__json_write(b, c);
            if (c->next)
                put_char(b, ',');
        }
        put_char(b, '}');
        return;
    default:
        b->failed = true;
        return;
    }
}

char *tb__json_print(const cJSON *item)
{
    tb__buf b = {0};
    tb__json_write(&b, item);
    if (b.failed || !b.data) {
        tb__buf_free(&b);
        return NULL;
    }
    return b.data;
}
