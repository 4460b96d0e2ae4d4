/*
 * util.c — the small shared pieces: the allocator every allocation goes
 * through (with a fail-the-n-th-allocation hook for the torture tests), the
 * per-thread last error, clocks, ISO-8601, ids from getrandom(), UTF-8
 * validation, duration/size parsing and a growable buffer.
 */
#include "internal.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* ---- allocation ---- */

static _Atomic long fail_after = -1; /* -1: never fail */
static _Atomic long alloc_count = 0;
/* Set by the first tb__alloc_fail_after(): until a test arms the hook,
 * an allocation reads this one flag and touches no shared counter (a
 * counter every thread increments is a cache line they fight over). */
static atomic_bool armed = false;

static bool alloc_should_fail(void)
{
    if (!atomic_load_explicit(&armed, memory_order_relaxed))
        return false;
    atomic_fetch_add(&alloc_count, 1);
    long n = atomic_load(&fail_after);
    if (n < 0)
        return false;
    while (n > 0) {
        if (atomic_compare_exchange_weak(&fail_after, &n, n - 1))
            return false;
        if (n < 0)
            return false;
    }
    return true;
}

long tb__alloc_fail_after(long n)
{
    atomic_store(&armed, true);
    atomic_store(&fail_after, n);
    return atomic_exchange(&alloc_count, 0);
}

/* The JSON pool (tb__json_pool_begin): while a thread has one, what cJSON
 * allocates on that thread is carved from large chunks and its frees cost
 * nothing; the chunks go back at tb__json_pool_end. A batch's worth of
 * parsed bodies is thousands of small nodes, and malloc/free of each was a
 * fifth of the OTLP encoder's time. Past POOL_MAX bytes, allocations fall
 * back to malloc (and their frees to free), so a huge batch cannot make
 * the pool grow without bound. */
#define POOL_CHUNK ((size_t)256 << 10)
#define POOL_MAX ((size_t)64 << 20)

typedef struct pool_chunk {
    struct pool_chunk *next;
    char *at, *end;
    _Alignas(16) char data[];
} pool_chunk;

static _Thread_local struct {
    pool_chunk *head;
    size_t total;
    int depth;
    bool spilled; /* something came from malloc since the outermost begin */
} tl_pool;

static bool pool_owns(const void *p)
{
    for (const pool_chunk *c = tl_pool.head; c; c = c->next)
        if ((const char *)p >= c->data && (const char *)p < c->end)
            return true;
    return false;
}

#if defined(__GNUC__)
#define TB__NOINLINE __attribute__((noinline))
#else
#define TB__NOINLINE
#endif

/* A new chunk for n bytes (n rounded already), or malloc past POOL_MAX;
 * out of line, so the common case below saves no registers. */
static TB__NOINLINE void *pool_alloc_chunk(size_t n)
{
    size_t size = n > POOL_CHUNK ? n : POOL_CHUNK;
    if (tl_pool.total + size > POOL_MAX) {
        tl_pool.spilled = true;
        return tb__malloc(n);
    }
    pool_chunk *c;
    if (alloc_should_fail() || !(c = malloc(sizeof *c + size)))
        return NULL;
    c->at = c->data + n;
    c->end = c->data + size;
    c->next = tl_pool.head;
    tl_pool.head = c;
    tl_pool.total += size;
    return c->data;
}

static inline void *pool_alloc(size_t n)
{
    n = (n + 15) & ~(size_t)15;
    pool_chunk *c = tl_pool.head;
    if (!c || (size_t)(c->end - c->at) < n)
        return pool_alloc_chunk(n);
    void *p = c->at;
    c->at += n;
    return p;
}

void tb__json_pool_begin(void)
{
    if (tl_pool.depth++ == 0)
        tl_pool.spilled = false;
}

bool tb__json_pool_whole(void)
{
    return tl_pool.depth > 0 && !tl_pool.spilled;
}

void tb__json_pool_end(void)
{
    if (tl_pool.depth <= 0 || --tl_pool.depth > 0)
        return;
    for (pool_chunk *c = tl_pool.head, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    tl_pool.head = NULL;
    tl_pool.total = 0;
}

void *tb__malloc(size_t n)
{
    if (alloc_should_fail())
        return NULL;
    return malloc(n ? n : 1);
}

void *tb__calloc(size_t count, size_t n)
{
    if (alloc_should_fail())
        return NULL;
    return calloc(count ? count : 1, n ? n : 1);
}

void *tb__realloc(void *p, size_t n)
{
    if (alloc_should_fail())
        return NULL;
    return realloc(p, n ? n : 1);
}

void tb__free_mem(void *p)
{
    if (tl_pool.head && pool_owns(p))
        return; /* cJSON's, from the JSON pool (tb__json_pool_begin) */
    free(p);
}

void tb_free(void *ptr)
{
    free(ptr);
}

char *tb__strndup(const char *s, size_t n)
{
    if (!s)
        return NULL;
    char *d = tb__malloc(n + 1);
    if (!d)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *tb__strdup(const char *s)
{
    return s ? tb__strndup(s, strlen(s)) : NULL;
}

static void *json_malloc(size_t n)
{
    return tl_pool.depth > 0 ? pool_alloc(n) : tb__malloc(n);
}

void *tb__json_alloc(size_t n)
{
    return json_malloc(n);
}

static void json_free(void *p)
{
    if (tl_pool.head && pool_owns(p))
        return;
    free(p);
}

static pthread_once_t json_once = PTHREAD_ONCE_INIT;
static void json_init_once(void)
{
    cJSON_Hooks hooks = {json_malloc, json_free};
    cJSON_InitHooks(&hooks);
}

void tb__json_init(void)
{
    pthread_once(&json_once, json_init_once);
}

const char *tb_version(void)
{
    return TB_VERSION_STRING;
}

/* ---- errors ---- */

static _Thread_local char last_error[1024];

tb_status tb__set_error(tb_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return st;
}

void tb__clear_error(void)
{
    last_error[0] = '\0';
}

const char *tb_last_error(void)
{
    return last_error;
}

/* ---- logging ---- */

typedef struct log_sink {
    tb_log_fn fn;
    void *ctx;
} log_sink;

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static log_sink log_to;

void tb_set_log_callback(tb_log_fn fn, void *ctx)
{
    pthread_mutex_lock(&log_mu);
    log_to.fn = fn;
    log_to.ctx = ctx;
    pthread_mutex_unlock(&log_mu);
}

void tb__log_hold(bool hold)
{
    if (hold)
        pthread_mutex_lock(&log_mu);
    else
        pthread_mutex_unlock(&log_mu);
}

void tb__log(tb_log_level level, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&log_mu);
    log_sink sink = log_to;
    pthread_mutex_unlock(&log_mu);
    if (sink.fn)
        sink.fn(sink.ctx, level, msg);
    else
        fprintf(stderr, "tracebox: %s%s\n", level == TB_LOG_WARN ? "warning: " : "", msg);
}

/* ---- time ---- */

int64_t tb__now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t tb__mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's
 * civil_from_days): tb_span_end formats two of these per span, and gmtime_r
 * + snprintf were a third of its time. */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static void put_digits(char *p, unsigned v, int n)
{
    while (n-- > 0) {
        p[n] = (char)('0' + v % 10);
        v /= 10;
    }
}

void tb__iso8601(int64_t us, char buf[40])
{
    int64_t secs = us / 1000000;
    int64_t frac = us % 1000000;
    if (frac < 0) {
        frac += 1000000;
        secs -= 1;
    }
    int64_t days = secs / 86400, sod = secs % 86400;
    if (sod < 0) {
        sod += 86400;
        days -= 1;
    }
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    /* four digits of the year, as "%04u" of (unsigned)year % 10000 wrote it */
    put_digits(buf, (unsigned)y % 10000u, 4);
    buf[4] = '-';
    put_digits(buf + 5, m, 2);
    buf[7] = '-';
    put_digits(buf + 8, d, 2);
    buf[10] = 'T';
    put_digits(buf + 11, (unsigned)(sod / 3600), 2);
    buf[13] = ':';
    put_digits(buf + 14, (unsigned)(sod / 60 % 60), 2);
    buf[16] = ':';
    put_digits(buf + 17, (unsigned)(sod % 60), 2);
    buf[19] = '.';
    put_digits(buf + 20, (unsigned)frac, 6);
    memcpy(buf + 26, "+00:00", 7);
}

/* A hex digit's value plus one; 0: not a hex digit (tb__hexval). */
const unsigned char tb__hex_digit1[256] = {
    ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,  ['6'] = 7,  ['7'] = 8,
    ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
    ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

/* n ASCII digits at s (a NUL fails before anything after it is read). */
static inline bool digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        unsigned d = (unsigned)((unsigned char)s[i] - '0');
        if (d > 9)
            return false;
        v = v * 10 + (int)d;
    }
    *out = v;
    return true;
}

bool tb__parse_iso8601(const char *s, int64_t *us)
{
    int Y, M, D, h, m, sec;
    /* each test reads one character further than the one before, and a NUL
     * fails the test that reads it: a short text is never read past */
    if (!s)
        return false;
    if (!digits(s, 4, &Y) || s[4] != '-' || !digits(s + 5, 2, &M) || s[7] != '-' ||
        !digits(s + 8, 2, &D) || (s[10] != 'T' && s[10] != ' ') || !digits(s + 11, 2, &h) ||
        s[13] != ':' || !digits(s + 14, 2, &m) || s[16] != ':' || !digits(s + 17, 2, &sec))
        return false;
    if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
        return false;
    const char *p = s + 19;
    int64_t frac = 0;
    if (*p == '.') {
        p++;
        /* microseconds: the first six digits, scaled; any further ones read */
        static const int64_t scale[7] = {1000000, 100000, 10000, 1000, 100, 10, 1};
        int nd = 0;
        while ((unsigned)((unsigned char)*p - '0') <= 9) {
            if (nd < 6)
                frac = frac * 10 + (*p - '0');
            nd++;
            p++;
        }
        if (nd == 0)
            return false;
        frac *= scale[nd < 6 ? nd : 6];
    }
    int64_t off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        int sign = *p == '-' ? -1 : 1;
        if (!digits(p + 1, 2, &oh))
            return false;
        p += 3;
        if (*p == ':')
            p++;
        if (!digits(p, 2, &om))
            return false;
        p += 2;
        off = sign * ((int64_t)oh * 3600 + om * 60);
    } else if (*p != '\0') {
        return false;
    }
    if (*p != '\0')
        return false;
    /* days from civil (Howard Hinnant's algorithm) */
    int y = M <= 2 ? Y - 1 : Y;
    int era = (y >= 0 ? y : y - 399) / 400;
    int yoe = y - era * 400;
    int doy = (153 * (M + (M > 2 ? -3 : 9)) + 2) / 5 + D - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days = (int64_t)era * 146097 + doe - 719468;
    int64_t t = days * 86400 + h * 3600 + m * 60 + sec - off;
    *us = t * 1000000 + frac;
    return true;
}

/* ---- ids ---- */

tb_status tb__random(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t r = getrandom(p, n, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return tb__set_error(TB_IO, "getrandom failed: %s", strerror(errno));
        }
        p += r;
        n -= (size_t)r;
    }
    return TB_OK;
}

static tb_status new_id(char buf[40], const char *prefix, size_t hexlen)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[16];
    tb_status st = tb__random(raw, hexlen / 2);
    if (st != TB_OK)
        return st;
    size_t plen = strlen(prefix);
    memcpy(buf, prefix, plen);
    for (size_t i = 0; i < hexlen / 2; i++) {
        buf[plen + 2 * i] = hex[raw[i] >> 4];
        buf[plen + 2 * i + 1] = hex[raw[i] & 15];
    }
    buf[plen + hexlen] = '\0';
    return TB_OK;
}

tb_status tb__new_trace_id(char buf[40])
{
    return new_id(buf, "trace_", 32);
}

tb_status tb__new_span_id(char buf[40])
{
    return new_id(buf, "span_", 24);
}

/* Ids: the SDKs accept any caller-supplied id (`trace_my-app-1234`,
 * `span_req-42`); the generated ones are `trace_<32 hex>` / `span_<24 hex>`.
 * A record is never refused for its id's shape: any non-empty string is an
 * id (README "The C API"). */
bool tb__valid_id(const char *s)
{
    return s && s[0] != '\0';
}

/* ---- JSON the SDKs write but JSON does not allow ------------------------
 * Python's json.dumps writes NaN / Infinity / -Infinity for non-finite
 * floats, and both SDKs write a lone UTF-16 surrogate as an escape
 * ("\ud800") that no UTF-8 text can hold. Both would cost the whole span.
 * The documented, lossless-as-possible form: a non-finite number becomes
 * null (what JavaScript's JSON.stringify writes) and a lone surrogate
 * becomes U+FFFD. Only tokens outside strings and escapes inside strings
 * are touched; a text with neither is left alone (returns 0). */
void tb__set_err(char *err, size_t size, const char *fmt, ...)
{
    if (!err || size == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, size, fmt, ap);
    va_end(ap);
}

void tb__one_line(char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch < 0x20 || ch == 0x7f)
            *s = ' ';
    }
}

static bool hex4(const char *p, const char *end, unsigned *out)
{
    if (end - p < 4)
        return false;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int d = tb__hexval(p[i]);
        if (d < 0)
            return false;
        v = v << 4 | (unsigned)d;
    }
    *out = v;
    return true;
}

int tb__json_tolerate(const char *json, size_t len, char **out, size_t *out_len)
{
    static const struct {
        const char *token;
        size_t n;
    } k_nonfinite[] = {{"-Infinity", 9}, {"Infinity", 8}, {"NaN", 3}};
    *out = NULL;
    *out_len = 0;
    tb__buf b = {0};
    const char *p = json, *end = json + len, *copied = json;
    bool in_string = false, changed = false;
    while (p < end) {
        char c = *p;
        if (in_string) {
            if (c == '"') {
                in_string = false;
            } else if (c == '\\' && p + 1 < end && p[1] == 'u') {
                unsigned hi, lo;
                if (hex4(p + 2, end, &hi) && hi >= 0xD800 && hi <= 0xDFFF) {
                    bool pair = hi <= 0xDBFF && end - p >= 12 && p[6] == '\\' && p[7] == 'u' &&
                                hex4(p + 8, end, &lo) && lo >= 0xDC00 && lo <= 0xDFFF;
                    if (pair) {
                        p += 12;
                        continue;
                    }
                    tb__buf_append(&b, copied, (size_t)(p - copied));
                    tb__buf_append(&b, "\\ufffd", 6);
                    p += 6;
                    copied = p;
                    changed = true;
                    continue;
                }
                p += 2;
                continue;
            } else if (c == '\\') {
                p += 2;
                continue;
            }
            p++;
            continue;
        }
        if (c == '"') {
            in_string = true;
            p++;
            continue;
        }
        size_t i;
        for (i = 0; i < sizeof k_nonfinite / sizeof k_nonfinite[0]; i++)
            if ((size_t)(end - p) >= k_nonfinite[i].n &&
                memcmp(p, k_nonfinite[i].token, k_nonfinite[i].n) == 0)
                break;
        if (i < sizeof k_nonfinite / sizeof k_nonfinite[0]) {
            tb__buf_append(&b, copied, (size_t)(p - copied));
            tb__buf_append(&b, "null", 4);
            p += k_nonfinite[i].n;
            copied = p;
            changed = true;
            continue;
        }
        p++;
    }
    if (!changed) {
        tb__buf_free(&b);
        return 0;
    }
    tb__buf_append(&b, copied, (size_t)(end - copied));
    if (b.failed) {
        tb__buf_free(&b);
        return -1;
    }
    *out = b.data;
    *out_len = b.len;
    return 1;
}

size_t tb__utf8_put(unsigned long cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

int tb__json_escape_byte(int c)
{
    switch (c) {
    case 'b':
        return '\b';
    case 'f':
        return '\f';
    case 'n':
        return '\n';
    case 'r':
        return '\r';
    case 't':
        return '\t';
    case '"':
    case '\\':
    case '/':
        return c;
    default:
        return -1;
    }
}

bool tb__utf8_valid(const char *str, size_t len, size_t *bad_at)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        /* ASCII, 32 then eight bytes at a time (a record's body is checked
         * whole before the OTLP encoder uses its strings as they are) */
        while (i + 32 <= len) {
            uint64_t w[4];
            memcpy(w, s + i, 32);
            if ((w[0] | w[1] | w[2] | w[3]) & UINT64_C(0x8080808080808080))
                break;
            i += 32;
        }
        while (i + 8 <= len) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (w & UINT64_C(0x8080808080808080))
                break;
            i += 8;
        }
        if (i >= len)
            break;
        unsigned char c = s[i];
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 1;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3;
            cp = c & 0x07;
        } else {
            goto bad;
        }
        for (size_t k = 1; k <= n; k++) {
            if (i + k >= len || (s[i + k] & 0xC0) != 0x80)
                goto bad;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            goto bad;
        i += n + 1;
    }
    return true;
bad:
    if (bad_at)
        *bad_at = i;
    return false;
}

/* ---- durations and sizes ---- */

static bool parse_number_suffix(const char *s, double *num, const char **suffix)
{
    if (!s)
        return false;
    while (isspace((unsigned char)*s))
        s++;
    if (!isdigit((unsigned char)*s))
        return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || v < 0)
        return false;
    while (isspace((unsigned char)*end))
        end++;
    *num = v;
    *suffix = end;
    return true;
}

bool tb__parse_duration_ms(const char *s, int64_t *ms)
{
    double v;
    const char *suf;
    if (!parse_number_suffix(s, &v, &suf))
        return false;
    double mult;
    if (strcmp(suf, "ms") == 0)
        mult = 1;
    else if (strcmp(suf, "") == 0 || strcmp(suf, "s") == 0)
        mult = 1000;
    else if (strcmp(suf, "m") == 0 || strcmp(suf, "min") == 0)
        mult = 60e3;
    else if (strcmp(suf, "h") == 0)
        mult = 3600e3;
    else if (strcmp(suf, "d") == 0)
        mult = 86400e3;
    else if (strcmp(suf, "w") == 0)
        mult = 7 * 86400e3;
    else
        return false;
    double r = v * mult;
    if (r > 9.2e18)
        return false;
    *ms = (int64_t)r;
    return true;
}

bool tb__parse_size(const char *s, int64_t *bytes)
{
    double v;
    const char *suf;
    if (!parse_number_suffix(s, &v, &suf))
        return false;
    static const struct {
        const char *name;
        double mult;
    } units[] = {{"", 1},
                 {"B", 1},
                 {"K", 1024},
                 {"KB", 1e3},
                 {"KiB", 1024},
                 {"M", 1048576.0},
                 {"MB", 1e6},
                 {"MiB", 1048576.0},
                 {"G", 1073741824.0},
                 {"GB", 1e9},
                 {"GiB", 1073741824.0},
                 {"T", 1099511627776.0},
                 {"TB", 1e12},
                 {"TiB", 1099511627776.0}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(suf, units[i].name) == 0) {
            double r = v * units[i].mult;
            if (r > 9.2e18)
                return false;
            *bytes = (int64_t)r;
            return true;
        }
    }
    return false;
}

/* ---- buffer ---- */

char *tb__buf_grow(tb__buf *b, size_t n)
{
    if (b->failed)
        return NULL;
    if (n > SIZE_MAX / 2 - b->len) {
        b->failed = true;
        return NULL;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = tb__realloc(b->data, cap);
        if (!p) {
            b->failed = true;
            return NULL;
        }
        b->data = p;
        b->cap = cap;
    }
    return b->data + b->len;
}

void tb__buf_append(tb__buf *b, const void *data, size_t n)
{
    if (!tb__buf_reserve(b, n))
        return;
    memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void tb__buf_puts(tb__buf *b, const char *s)
{
    tb__buf_append(b, s, strlen(s));
}

void tb__buf_printf(tb__buf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
        return;
    }
    if ((size_t)n < sizeof tmp) {
        tb__buf_append(b, tmp, (size_t)n);
        return;
    }
    char *big = tb__malloc((size_t)n + 1);
    if (!big) {
        b->failed = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    tb__buf_append(b, big, (size_t)n);
    free(big);
}

void tb__buf_free(tb__buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->failed = false;
}

int tb_parse_duration(const char *text, int64_t *ms)
{
    return text && ms && tb__parse_duration_ms(text, ms) ? 0 : -1;
}

int tb_parse_size(const char *text, int64_t *bytes)
{
    return text && bytes && tb__parse_size(text, bytes) ? 0 : -1;
}

int tb_parse_time(const char *text, int64_t *us)
{
    return text && us && tb__parse_iso8601(text, us) ? 0 : -1;
}
