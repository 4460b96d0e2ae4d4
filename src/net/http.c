/*
 * http.c — the libcurl transport shared by every HTTP exporter.
 *
 * Design (the sentry-native transport shape):
 *
 * - curl_global_init runs once per process (pthread_once). Each tb__http
 *   owns ONE easy handle that is configured once in tb__http_open() and
 *   reused for every POST, so connections are kept alive between batches.
 *   Only the body changes per request.
 *
 * - Every request is bounded: connect timeout (10 s default), total timeout
 *   (the destination's `timeout`), and a response body cap (1 MiB default;
 *   CURLOPT_MAXFILESIZE stops early when Content-Length says so, the write
 *   callback stops otherwise). A response over the cap is a transport error,
 *   never an unbounded read.
 *
 * - Only http and https, no redirects (a 3xx is reported, not followed), TLS
 *   verification on unless the destination says `insecure`. Proxies come
 *   from the usual environment variables (libcurl's default).
 *
 * - "Was the body sent?" decides whether a failure has an unknown outcome:
 *   after a failed transfer CURLINFO_REQUEST_SIZE (> 0 once the request went
 *   out) and CURLINFO_SIZE_UPLOAD_T (body bytes written) tell. A timeout or
 *   reset after the whole body was written may have been processed, so the
 *   shipper counts the resend as a possible duplicate.
 *
 * - Credentials (auth headers, custom header values, userinfo and query of
 *   the URL) never reach a message: messages are built from the curl error
 *   and the URL with userinfo/query/fragment stripped, and as a second line
 *   of defence every known secret is masked out of curl's error text.
 *
 * - tb__http_classify() is DESIGN.md's "Response classes" table in code.
 */
#include "http.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <zlib.h>

/* Secrets shorter than this are not masked in curl's error text (masking
 * "1" would mangle every digit); they are still never put there by us. */
#define MIN_SECRET_LEN 4
#define REFUSAL_RAW_BYTES 200

struct tb__http {
    tb__http_config cfg;
    CURL *curl;
    struct curl_slist *slist;
    char errbuf[CURL_ERROR_SIZE];
    char safe_url[256]; /* the URL as messages show it */
    /* secrets to mask in curl's error text (borrowed from cfg / owned) */
    char **secrets;
    size_t n_secrets;
    /* response state of the current request */
    char *resp;
    size_t resp_len;
    size_t resp_cap;
    bool too_large;
    bool nomem;
    int64_t retry_after_ms;
    /* the compressed body (reused) */
    unsigned char *gz;
    size_t gz_cap;
    /* the request body as curl reads it (see read_body / seek_body) */
    const char *up;
    size_t up_len, up_pos;
    bool rewound; /* curl sent the body again on a fresh connection */
};

/* The body goes to curl through a read callback (not CURLOPT_POSTFIELDS)
 * so that we see a rewind: when a reused keep-alive connection dies after
 * the body was written, libcurl resends the request on a new connection by
 * itself. That keeps delivery quick, but the destination may then have the
 * batch twice — which DESIGN.md says to count. */
static size_t read_body(char *buf, size_t size, size_t nitems, void *userp)
{
    tb__http *h = userp;
    size_t n = size * nitems, left = h->up_len - h->up_pos;
    if (n > left)
        n = left;
    memcpy(buf, h->up + h->up_pos, n);
    h->up_pos += n;
    return n;
}

static int seek_body(void *userp, curl_off_t offset, int origin)
{
    tb__http *h = userp;
    if (origin != SEEK_SET || offset < 0 || (size_t)offset > h->up_len)
        return CURL_SEEKFUNC_CANTSEEK;
    if (h->up_pos > 0)
        h->rewound = true;
    h->up_pos = (size_t)offset;
    return CURL_SEEKFUNC_OK;
}

/* ------------------------------------------------------------------ */
/* small string helpers                                                */

static void set_err(char *err, size_t size, const char *fmt, ...) TB__PRINTF(3, 4);
static void set_err(char *err, size_t size, const char *fmt, ...)
{
    if (!err || size == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, size, fmt, ap);
    va_end(ap);
}

/* Replace control characters so the text stays one line. */
static void one_line(char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch < 0x20 || ch == 0x7f)
            *s = ' ';
    }
}

/* Cut s at `n` bytes without splitting a UTF-8 sequence. */
static size_t utf8_cut(const char *s, size_t len, size_t n)
{
    if (len <= n)
        return len;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

static bool replace_str(char **slot, const char *value)
{
    char *copy = NULL;
    if (value) {
        copy = tb__strdup(value);
        if (!copy)
            return false;
    }
    tb__free_mem(*slot);
    *slot = copy;
    return true;
}

static bool is_tchar(unsigned char c)
{
    return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decode [s, s+n) into a new buffer; *out_len gets its length
 * (the result may hold NUL bytes, which the caller rejects). Invalid
 * escapes are kept literally, as Python's unquote does. */
static char *pct_decode(const char *s, size_t n, size_t *out_len)
{
    char *out = tb__malloc(n + 1);
    if (!out)
        return NULL;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < n && (hi = hexval(s[i + 1])) >= 0 &&
            (lo = hexval(s[i + 2])) >= 0) {
            out[j++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[j++] = s[i];
        }
    }
    out[j] = '\0';
    *out_len = j;
    return out;
}

static void trim(const char **s, const char **e)
{
    while (*s < *e && (**s == ' ' || **s == '\t'))
        (*s)++;
    while (*e > *s && ((*e)[-1] == ' ' || (*e)[-1] == '\t'))
        (*e)--;
}

/* ------------------------------------------------------------------ */
/* configuration                                                       */

void tb__http_config_init(tb__http_config *c)
{
    memset(c, 0, sizeof *c);
    c->connect_timeout_ms = TB__HTTP_CONNECT_TIMEOUT_MS;
    c->timeout_ms = TB__HTTP_TIMEOUT_MS;
    c->max_response = TB__HTTP_MAX_RESPONSE;
}

void tb__http_config_free(tb__http_config *c)
{
    if (!c)
        return;
    tb__free_mem(c->url);
    tb__free_mem(c->content_type);
    for (size_t i = 0; i < c->n_headers; i++)
        tb__free_mem(c->headers[i]);
    tb__free_mem(c->headers);
    tb__free_mem(c->ca_file);
    tb__free_mem(c->bearer);
    tb__free_mem(c->basic_user);
    tb__free_mem(c->basic_password);
    tb__free_mem(c->user_agent);
    tb__http_config_init(c);
}

tb_status tb__http_config_set_url(tb__http_config *c, const char *url, char *err, size_t err_size)
{
    if (url && strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0) {
        char safe[256];
        set_err(err, err_size, "URL %s: only http:// and https:// are supported",
                tb__http_redact_url(safe, sizeof safe, url));
        return TB_CONFIG;
    }
    if (url && (strchr(url, '\r') || strchr(url, '\n') || strchr(url, ' '))) {
        set_err(err, err_size, "URL contains a space, CR or LF");
        return TB_CONFIG;
    }
    if (!replace_str(&c->url, url)) {
        set_err(err, err_size, "out of memory");
        return TB_NOMEM;
    }
    return TB_OK;
}

tb_status tb__http_config_set_content_type(tb__http_config *c, const char *ct)
{
    return replace_str(&c->content_type, ct) ? TB_OK : TB_NOMEM;
}

tb_status tb__http_config_set_bearer(tb__http_config *c, const char *token)
{
    return replace_str(&c->bearer, token) ? TB_OK : TB_NOMEM;
}

tb_status tb__http_config_set_basic(tb__http_config *c, const char *user, const char *password)
{
    if (!replace_str(&c->basic_user, user) ||
        !replace_str(&c->basic_password, user ? (password ? password : "") : NULL))
        return TB_NOMEM;
    return TB_OK;
}

/* Validate and add a header whose name/value may hold NUL (after decoding),
 * hence the explicit lengths. `which` names it in errors. */
static tb_status add_header_n(tb__http_config *c, const char *name, size_t name_len,
                              const char *value, size_t value_len, const char *which, char *err,
                              size_t err_size)
{
    if (name_len == 0) {
        set_err(err, err_size, "%s: empty header name", which);
        return TB_CONFIG;
    }
    for (size_t i = 0; i < name_len; i++) {
        unsigned char ch = (unsigned char)name[i];
        if (ch == '\r' || ch == '\n' || ch == '\0') {
            set_err(err, err_size, "%s: header name contains CR, LF or NUL", which);
            return TB_CONFIG;
        }
        if (!is_tchar(ch)) {
            set_err(err, err_size, "%s: header name has a character not allowed in HTTP", which);
            return TB_CONFIG;
        }
    }
    for (size_t i = 0; i < value_len; i++) {
        unsigned char ch = (unsigned char)value[i];
        if (ch == '\r' || ch == '\n' || ch == '\0') {
            /* the name is a valid token here, safe to show; the value never is */
            set_err(err, err_size, "%s (%.*s): header value contains CR, LF or NUL", which,
                    (int)(name_len > 64 ? 64 : name_len), name);
            return TB_CONFIG;
        }
    }
    /* curl's form: "Name: value", or "Name;" to send an empty value */
    size_t need = name_len + 2 + value_len + 1;
    char *line = tb__malloc(need);
    char **grown = line ? tb__realloc(c->headers, (c->n_headers + 1) * sizeof *grown) : NULL;
    if (!grown) {
        tb__free_mem(line);
        set_err(err, err_size, "out of memory");
        return TB_NOMEM;
    }
    c->headers = grown;
    memcpy(line, name, name_len);
    if (value_len == 0) {
        line[name_len] = ';';
        line[name_len + 1] = '\0';
    } else {
        line[name_len] = ':';
        line[name_len + 1] = ' ';
        memcpy(line + name_len + 2, value, value_len);
        line[name_len + 2 + value_len] = '\0';
    }
    c->headers[c->n_headers++] = line;
    return TB_OK;
}

tb_status tb__http_config_add_header(tb__http_config *c, const char *name, const char *value,
                                     char *err, size_t err_size)
{
    if (!c || !name || !value) {
        set_err(err, err_size, "header: missing name or value");
        return TB_INVALID;
    }
    return add_header_n(c, name, strlen(name), value, strlen(value), "header", err, err_size);
}

tb_status tb__http_config_parse_headers(tb__http_config *c, const char *spec, char *err,
                                        size_t err_size)
{
    if (!spec)
        return TB_OK;
    const char *p = spec;
    int index = 0;
    while (*p) {
        const char *end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        const char *s = p, *e = end;
        p = *end ? end + 1 : end;
        trim(&s, &e);
        if (s == e)
            continue; /* empty pair ("a=b,,c=d" or a trailing comma) */
        index++;
        char which[48];
        snprintf(which, sizeof which, "header %d", index);
        const char *eq = memchr(s, '=', (size_t)(e - s));
        if (!eq) {
            set_err(err, err_size, "%s: expected name=value", which);
            return TB_CONFIG;
        }
        const char *ns = s, *ne = eq, *vs = eq + 1, *ve = e;
        trim(&ns, &ne);
        trim(&vs, &ve);
        size_t nlen = 0, vlen = 0;
        char *name = pct_decode(ns, (size_t)(ne - ns), &nlen);
        char *value = name ? pct_decode(vs, (size_t)(ve - vs), &vlen) : NULL;
        tb_status st;
        if (!value) {
            set_err(err, err_size, "out of memory");
            st = TB_NOMEM;
        } else {
            st = add_header_n(c, name, nlen, value, vlen, which, err, err_size);
        }
        if (value)
            memset(value, 0, vlen); /* a secret: do not leave it in freed memory */
        tb__free_mem(name);
        tb__free_mem(value);
        if (st != TB_OK)
            return st;
    }
    return TB_OK;
}

bool tb__http_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    if (!s)
        return false;
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

tb_status tb__http_config_from_dest(tb__http_config *c, const tb_dest_config *cfg, char *err,
                                    size_t err_size)
{
    const char *name = tb_dest_config_name(cfg);
    const char *v;
    char why[300];
    tb_status st;

    if ((v = tb_dest_config_get(cfg, "headers")) != NULL) {
        st = tb__http_config_parse_headers(c, v, why, sizeof why);
        if (st != TB_OK) {
            set_err(err, err_size, "%s: [%s] headers: %s", tb_dest_config_where(cfg, "headers"),
                    name, why);
            return st;
        }
    }
    if ((v = tb_dest_config_get(cfg, "compression")) != NULL) {
        if (strcmp(v, "gzip") == 0) {
            c->gzip = true;
        } else if (strcmp(v, "none") == 0 || v[0] == '\0') {
            c->gzip = false;
        } else {
            set_err(err, err_size, "%s: [%s] compression: expected none or gzip",
                    tb_dest_config_where(cfg, "compression"), name);
            return TB_CONFIG;
        }
    }
    if ((v = tb_dest_config_get(cfg, "ca_file")) != NULL && v[0]) {
        if (access(v, R_OK) != 0) {
            char eb[128];
            int e = errno;
            if (strerror_r(e, eb, sizeof eb) != 0)
                snprintf(eb, sizeof eb, "errno %d", e);
            set_err(err, err_size, "%s: [%s] ca_file: cannot read %s: %s",
                    tb_dest_config_where(cfg, "ca_file"), name, v, eb);
            return TB_CONFIG;
        }
        if (!replace_str(&c->ca_file, v)) {
            set_err(err, err_size, "[%s] ca_file: out of memory", name);
            return TB_NOMEM;
        }
    }
    if ((v = tb_dest_config_get(cfg, "insecure")) != NULL) {
        if (!tb__http_parse_bool(v, &c->insecure)) {
            set_err(err, err_size, "%s: [%s] insecure: expected true or false",
                    tb_dest_config_where(cfg, "insecure"), name);
            return TB_CONFIG;
        }
    }
    int64_t t = tb_dest_config_timeout_ms(cfg);
    if (t > 0)
        c->timeout_ms = t;
    return TB_OK;
}

char *tb__http_redact_url(char *dst, size_t size, const char *url)
{
    if (size == 0)
        return dst;
    if (!url) {
        snprintf(dst, size, "(no url)");
        return dst;
    }
    const char *scheme_end = strstr(url, "://");
    const char *auth = scheme_end ? scheme_end + 3 : url;
    size_t auth_len = strcspn(auth, "/?#");
    const char *at = NULL;
    for (const char *q = auth; q < auth + auth_len; q++)
        if (*q == '@')
            at = q; /* the last '@' ends the userinfo */
    const char *host = at ? at + 1 : auth;
    size_t rest_len = strcspn(host, "?#");
    size_t scheme_len = (size_t)(auth - url);
    snprintf(dst, size, "%.*s%.*s", (int)(scheme_len > 32 ? 32 : scheme_len), url,
             (int)(rest_len > INT_MAX ? INT_MAX : rest_len), host);
    one_line(dst);
    return dst;
}

/* ------------------------------------------------------------------ */
/* the connection                                                      */

static pthread_once_t g_curl_once = PTHREAD_ONCE_INIT;
static CURLcode g_curl_init_rc = CURLE_OK;

static void curl_init_once(void)
{
    g_curl_init_rc = curl_global_init(CURL_GLOBAL_ALL);
}

static bool copy_config(tb__http_config *dst, const tb__http_config *src)
{
    tb__http_config_init(dst);
    dst->gzip = src->gzip;
    dst->connect_timeout_ms = src->connect_timeout_ms;
    dst->timeout_ms = src->timeout_ms;
    dst->max_response = src->max_response;
    dst->insecure = src->insecure;
    if (!replace_str(&dst->url, src->url) || !replace_str(&dst->content_type, src->content_type) ||
        !replace_str(&dst->ca_file, src->ca_file) || !replace_str(&dst->bearer, src->bearer) ||
        !replace_str(&dst->basic_user, src->basic_user) ||
        !replace_str(&dst->basic_password, src->basic_password) ||
        !replace_str(&dst->user_agent, src->user_agent))
        return false;
    if (src->n_headers) {
        dst->headers = tb__calloc(src->n_headers, sizeof *dst->headers);
        if (!dst->headers)
            return false;
        for (size_t i = 0; i < src->n_headers; i++) {
            dst->headers[i] = tb__strdup(src->headers[i]);
            if (!dst->headers[i])
                return false;
            dst->n_headers = i + 1;
        }
    }
    return true;
}

static bool add_secret(tb__http *h, const char *s, size_t n)
{
    if (!s || n < MIN_SECRET_LEN)
        return true;
    char *copy = tb__strndup(s, n);
    char **grown = copy ? tb__realloc(h->secrets, (h->n_secrets + 1) * sizeof *grown) : NULL;
    if (!grown) {
        tb__free_mem(copy);
        return false;
    }
    h->secrets = grown;
    h->secrets[h->n_secrets++] = copy;
    return true;
}

/* Everything secret this connection knows: header values, auth, and the
 * URL's userinfo and query. */
static bool collect_secrets(tb__http *h)
{
    const tb__http_config *c = &h->cfg;
    for (size_t i = 0; i < c->n_headers; i++) {
        const char *colon = strchr(c->headers[i], ':');
        if (colon) {
            const char *v = colon + 1;
            while (*v == ' ')
                v++;
            if (!add_secret(h, v, strlen(v)))
                return false;
        }
    }
    if (c->bearer && !add_secret(h, c->bearer, strlen(c->bearer)))
        return false;
    if (c->basic_user && !add_secret(h, c->basic_user, strlen(c->basic_user)))
        return false;
    if (c->basic_password && !add_secret(h, c->basic_password, strlen(c->basic_password)))
        return false;
    if (c->url) {
        const char *se = strstr(c->url, "://");
        const char *auth = se ? se + 3 : c->url;
        size_t alen = strcspn(auth, "/?#");
        const char *at = NULL;
        for (const char *q = auth; q < auth + alen; q++)
            if (*q == '@')
                at = q;
        if (at) {
            if (!add_secret(h, auth, (size_t)(at - auth)))
                return false;
            const char *colon = memchr(auth, ':', (size_t)(at - auth));
            if (colon && !add_secret(h, colon + 1, (size_t)(at - colon - 1)))
                return false;
        }
        const char *q = strchr(c->url, '?');
        if (q) {
            size_t qlen = strcspn(q + 1, "#");
            if (!add_secret(h, q + 1, qlen))
                return false;
        }
    }
    return true;
}

/* Overwrite every known secret in s with '*'. */
static void mask_secrets(const tb__http *h, char *s)
{
    for (size_t i = 0; i < h->n_secrets; i++) {
        size_t n = strlen(h->secrets[i]);
        char *from = s, *hit;
        /* move past each hit: a secret made of '*' must not loop forever */
        while ((hit = strstr(from, h->secrets[i])) != NULL) {
            memset(hit, '*', n);
            from = hit + n;
        }
    }
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    tb__http *h = userdata;
    size_t n = size * nmemb;
    if (n > h->cfg.max_response || h->resp_len > h->cfg.max_response - n) {
        h->too_large = true;
        return 0; /* abort the transfer: CURLE_WRITE_ERROR */
    }
    if (h->resp_len + n + 1 > h->resp_cap) {
        size_t cap = h->resp_cap ? h->resp_cap : 4096;
        while (cap < h->resp_len + n + 1)
            cap *= 2;
        char *grown = tb__realloc(h->resp, cap);
        if (!grown) {
            h->nomem = true;
            return 0;
        }
        h->resp = grown;
        h->resp_cap = cap;
    }
    memcpy(h->resp + h->resp_len, ptr, n);
    h->resp_len += n;
    h->resp[h->resp_len] = '\0';
    return n;
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *userdata)
{
    tb__http *h = userdata;
    size_t n = size * nitems;
    static const char name[] = "retry-after:";
    if (n >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
        h->retry_after_ms = -1; /* a new response (after a 100 Continue, say) */
    } else if (n > sizeof name - 1 && strncasecmp(buf, name, sizeof name - 1) == 0) {
        char value[128];
        size_t vlen = n - (sizeof name - 1);
        if (vlen >= sizeof value)
            vlen = sizeof value - 1;
        memcpy(value, buf + sizeof name - 1, vlen);
        value[vlen] = '\0';
        h->retry_after_ms = tb__http_parse_retry_after(value, (int64_t)time(NULL));
    }
    return n;
}

static voidpf z_alloc(voidpf opaque, uInt items, uInt size)
{
    (void)opaque;
    return tb__calloc(items, size);
}

static void z_free(voidpf opaque, voidpf p)
{
    (void)opaque;
    tb__free_mem(p);
}

/* gzip body into h->gz; *out_len its size. */
static tb_status gzip_body(tb__http *h, const void *body, size_t len, size_t *out_len)
{
    if (len > (size_t)UINT_MAX / 2)
        return TB_INVALID;
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    zs.zalloc = z_alloc;
    zs.zfree = z_free;
    /* windowBits 15 + 16: a gzip wrapper instead of zlib's */
    if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
        Z_OK)
        return TB_NOMEM;
    size_t bound = (size_t)deflateBound(&zs, (uLong)len) + 32;
    if (bound > h->gz_cap) {
        unsigned char *grown = tb__realloc(h->gz, bound);
        if (!grown) {
            deflateEnd(&zs);
            return TB_NOMEM;
        }
        h->gz = grown;
        h->gz_cap = bound;
    }
    zs.next_in = (Bytef *)(uintptr_t)body; /* zlib's API is not const */
    zs.avail_in = (uInt)len;
    zs.next_out = h->gz;
    zs.avail_out = (uInt)(h->gz_cap > UINT_MAX ? UINT_MAX : h->gz_cap);
    int zrc = deflate(&zs, Z_FINISH);
    *out_len = (size_t)zs.total_out;
    deflateEnd(&zs);
    return zrc == Z_STREAM_END ? TB_OK : TB_NOMEM;
}

/* Does a custom header line set `name`? */
static bool has_header(const tb__http_config *c, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < c->n_headers; i++)
        if (strncasecmp(c->headers[i], name, n) == 0 &&
            (c->headers[i][n] == ':' || c->headers[i][n] == ';'))
            return true;
    return false;
}

#define SETOPT(opt, val)                                                                           \
    do {                                                                                           \
        if (curl_easy_setopt(h->curl, opt, val) != CURLE_OK) {                                     \
            failed_opt = #opt;                                                                     \
            goto fail;                                                                             \
        }                                                                                          \
    } while (0)

/* A transfer made for a send aborts within curl's progress interval once
 * the send's host says the shipper is stopping (tb_export_host_stopping),
 * so tb_shipper_stop() is not held up by a slow server. */
static int progress_cb(void *clientp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return tb_export_host_stopping(clientp);
}

static long clamp_long(int64_t v)
{
    if (v < 0)
        return 0;
    return v > LONG_MAX ? LONG_MAX : (long)v;
}

tb_status tb__http_open(tb__http **out, const tb__http_config *cfg, char *err, size_t err_size)
{
    const char *failed_opt = NULL;
    tb_status st = TB_NOMEM;
    *out = NULL;
    if (!cfg || !cfg->url) {
        set_err(err, err_size, "http: no URL");
        return TB_INVALID;
    }
    pthread_once(&g_curl_once, curl_init_once);
    if (g_curl_init_rc != CURLE_OK) {
        set_err(err, err_size, "http: curl_global_init failed: %s",
                curl_easy_strerror(g_curl_init_rc));
        return TB_HTTP;
    }
    tb__http *h = tb__calloc(1, sizeof *h);
    if (!h) {
        set_err(err, err_size, "out of memory");
        return TB_NOMEM;
    }
    if (!copy_config(&h->cfg, cfg) || !collect_secrets(h))
        goto fail;
    tb__http_redact_url(h->safe_url, sizeof h->safe_url, h->cfg.url);

    /* the fixed request headers */
    char line[256];
    const char *ct = h->cfg.content_type ? h->cfg.content_type : "application/json";
    snprintf(line, sizeof line, "Content-Type: %s", ct);
    struct curl_slist *sl;
    if (!has_header(&h->cfg, "Content-Type")) { /* a `headers =` entry wins */
        if (!(sl = curl_slist_append(h->slist, line)))
            goto fail;
        h->slist = sl;
    }
    /* no 100-continue round trip: it only adds latency for our bodies */
    if (!(sl = curl_slist_append(h->slist, "Expect:")))
        goto fail;
    h->slist = sl;
    if (h->cfg.gzip) {
        if (!(sl = curl_slist_append(h->slist, "Content-Encoding: gzip")))
            goto fail;
        h->slist = sl;
    }
    if (h->cfg.bearer) {
        tb__buf b = {0};
        tb__buf_puts(&b, "Authorization: Bearer ");
        tb__buf_puts(&b, h->cfg.bearer);
        if (b.failed || !b.data) {
            tb__buf_free(&b);
            goto fail;
        }
        sl = curl_slist_append(h->slist, b.data);
        memset(b.data, 0, b.len);
        tb__buf_free(&b);
        if (!sl)
            goto fail;
        h->slist = sl;
    }
    for (size_t i = 0; i < h->cfg.n_headers; i++) {
        if (!(sl = curl_slist_append(h->slist, h->cfg.headers[i])))
            goto fail;
        h->slist = sl;
    }

    h->curl = curl_easy_init();
    if (!h->curl)
        goto fail;
    int64_t connect_ms = h->cfg.connect_timeout_ms;
    if (h->cfg.timeout_ms > 0 && (connect_ms <= 0 || connect_ms > h->cfg.timeout_ms))
        connect_ms = h->cfg.timeout_ms;
    st = TB_HTTP;
    SETOPT(CURLOPT_ERRORBUFFER, h->errbuf);
    SETOPT(CURLOPT_NOSIGNAL, 1L);
    SETOPT(CURLOPT_URL, h->cfg.url);
    SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
    SETOPT(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
    SETOPT(CURLOPT_POST, 1L);
    SETOPT(CURLOPT_HTTPHEADER, h->slist);
    SETOPT(CURLOPT_CONNECTTIMEOUT_MS, clamp_long(connect_ms));
    SETOPT(CURLOPT_TIMEOUT_MS, clamp_long(h->cfg.timeout_ms));
    SETOPT(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)h->cfg.max_response);
    SETOPT(CURLOPT_WRITEFUNCTION, on_body);
    SETOPT(CURLOPT_WRITEDATA, h);
    SETOPT(CURLOPT_HEADERFUNCTION, on_header);
    SETOPT(CURLOPT_HEADERDATA, h);
    SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
    SETOPT(CURLOPT_USERAGENT,
           h->cfg.user_agent ? h->cfg.user_agent : "tracebox/" TB_VERSION_STRING);
    if (h->cfg.basic_user) {
        SETOPT(CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        SETOPT(CURLOPT_USERNAME, h->cfg.basic_user);
        SETOPT(CURLOPT_PASSWORD, h->cfg.basic_password ? h->cfg.basic_password : "");
    }
    if (h->cfg.ca_file)
        SETOPT(CURLOPT_CAINFO, h->cfg.ca_file);
    if (h->cfg.insecure) {
        SETOPT(CURLOPT_SSL_VERIFYPEER, 0L);
        SETOPT(CURLOPT_SSL_VERIFYHOST, 0L);
    } else {
        SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
        SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
    }
    *out = h;
    return TB_OK;

fail:
    if (st == TB_NOMEM || !failed_opt)
        set_err(err, err_size, "http %s: out of memory", h->safe_url);
    else
        set_err(err, err_size, "http %s: libcurl refused %s", h->safe_url, failed_opt);
    tb__http_close(h);
    return failed_opt ? TB_HTTP : TB_NOMEM;
}

void tb__http_close(tb__http *h)
{
    if (!h)
        return;
    if (h->curl)
        curl_easy_cleanup(h->curl);
    curl_slist_free_all(h->slist);
    for (size_t i = 0; i < h->n_secrets; i++) {
        memset(h->secrets[i], 0, strlen(h->secrets[i]));
        tb__free_mem(h->secrets[i]);
    }
    tb__free_mem(h->secrets);
    tb__http_config_free(&h->cfg);
    tb__free_mem(h->resp);
    tb__free_mem(h->gz);
    tb__free_mem(h);
}

tb_status tb__http_post(tb__http *h, const void *body, size_t len, tb__http_response *resp)
{
    return tb__http_post_with(h, NULL, body, len, resp);
}

tb_status tb__http_post_with(tb__http *h, const tb_export_host *host, const void *body, size_t len,
                             tb__http_response *resp)
{
    memset(resp, 0, sizeof *resp);
    resp->retry_after_ms = -1;
    resp->body = "";
    if (!h || (!body && len)) {
        snprintf(resp->error, sizeof resp->error, "http: invalid arguments");
        return TB_INVALID;
    }
    const void *payload = body ? body : "";
    size_t payload_len = len;
    if (h->cfg.gzip) {
        tb_status st = gzip_body(h, payload, len, &payload_len);
        if (st != TB_OK) {
            snprintf(resp->error, sizeof resp->error, "POST %s: cannot gzip the %zu-byte body",
                     h->safe_url, len);
            return st;
        }
        payload = h->gz;
    }
    h->resp_len = 0;
    if (h->resp)
        h->resp[0] = '\0';
    h->too_large = false;
    h->nomem = false;
    h->retry_after_ms = -1;
    h->errbuf[0] = '\0';
    h->up = payload;
    h->up_len = payload_len;
    h->up_pos = 0;
    h->rewound = false;
    curl_easy_setopt(h->curl, CURLOPT_POST, 1L);
    curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, NULL);
    curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)payload_len);
    curl_easy_setopt(h->curl, CURLOPT_READFUNCTION, read_body);
    curl_easy_setopt(h->curl, CURLOPT_READDATA, h);
    curl_easy_setopt(h->curl, CURLOPT_SEEKFUNCTION, seek_body);
    curl_easy_setopt(h->curl, CURLOPT_SEEKDATA, h);
    curl_easy_setopt(h->curl, CURLOPT_XFERINFOFUNCTION, progress_cb);
    curl_easy_setopt(h->curl, CURLOPT_XFERINFODATA, (void *)host);
    curl_easy_setopt(h->curl, CURLOPT_NOPROGRESS, host ? 0L : 1L);

    CURLcode rc = curl_easy_perform(h->curl);

    long status = 0;
    curl_off_t uploaded = 0;
    long request_size = 0;
    curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(h->curl, CURLINFO_SIZE_UPLOAD_T, &uploaded);
    curl_easy_getinfo(h->curl, CURLINFO_REQUEST_SIZE, &request_size);
    resp->status = status;
    resp->body = h->resp ? h->resp : "";
    resp->body_len = h->resp_len;
    resp->retry_after_ms = h->retry_after_ms;
    resp->curl_code = (int)rc;
    resp->body_sent = request_size > 0 && uploaded >= (curl_off_t)payload_len;
    resp->resent = h->rewound;

    if (h->nomem) {
        snprintf(resp->error, sizeof resp->error, "POST %s: out of memory reading the response",
                 h->safe_url);
        resp->transport_error = true;
        return TB_NOMEM;
    }
    if (rc == CURLE_OK)
        return TB_OK;

    resp->transport_error = true;
    if (h->too_large || rc == CURLE_FILESIZE_EXCEEDED) {
        resp->too_large = true;
        snprintf(resp->error, sizeof resp->error,
                 "POST %s: response larger than %zu bytes (HTTP %ld); cut off", h->safe_url,
                 h->cfg.max_response, status);
        return TB_OK;
    }
    char detail[CURL_ERROR_SIZE];
    snprintf(detail, sizeof detail, "%s", h->errbuf[0] ? h->errbuf : curl_easy_strerror(rc));
    mask_secrets(h, detail);
    size_t dl = strlen(detail);
    while (dl > 0 && (detail[dl - 1] == '\n' || detail[dl - 1] == ' '))
        detail[--dl] = '\0';
    snprintf(resp->error, sizeof resp->error, "POST %.160s: %.190s (curl error %d)", h->safe_url,
             detail, (int)rc);
    one_line(resp->error);
    return TB_OK;
}

/* ------------------------------------------------------------------ */
/* classification                                                      */

int64_t tb__http_parse_retry_after(const char *value, int64_t now)
{
    if (!value)
        return -1;
    while (*value == ' ' || *value == '\t')
        value++;
    char buf[128];
    snprintf(buf, sizeof buf, "%s", value);
    size_t n = strlen(buf);
    while (n > 0 &&
           (buf[n - 1] == '\r' || buf[n - 1] == '\n' || buf[n - 1] == ' ' || buf[n - 1] == '\t'))
        buf[--n] = '\0';
    if (n == 0)
        return -1;
    if (isdigit((unsigned char)buf[0])) {
        char *end = NULL;
        errno = 0;
        long long secs = strtoll(buf, &end, 10);
        if (errno == 0 && end && *end == '\0') {
            if (secs > 100LL * 365 * 24 * 3600) /* absurd: clamp, never overflow */
                secs = 100LL * 365 * 24 * 3600;
            return (int64_t)secs * 1000;
        }
        /* not all digits: fall through to the date form */
    }
    time_t when = curl_getdate(buf, NULL);
    if (when == (time_t)-1)
        return -1;
    int64_t delta = (int64_t)when - now;
    return delta > 0 ? delta * 1000 : 0;
}

char *tb__http_body_message(char *dst, size_t size, const char *body, size_t len)
{
    if (size == 0)
        return dst;
    dst[0] = '\0';
    if (!body || len == 0)
        return dst;
    size_t i = 0;
    while (i < len && isspace((unsigned char)body[i]))
        i++;
    if (i < len && body[i] == '{') {
        tb__json_init();
        cJSON *root = cJSON_ParseWithLength(body, len);
        const char *msg = NULL;
        if (root) {
            const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
            const cJSON *m =
                cJSON_IsObject(e) ? cJSON_GetObjectItemCaseSensitive(e, "message") : NULL;
            if (cJSON_IsString(m))
                msg = m->valuestring;
            else if (cJSON_IsString(e))
                msg = e->valuestring;
            else if (cJSON_IsString(m = cJSON_GetObjectItemCaseSensitive(root, "message")))
                msg = m->valuestring;
        }
        if (msg && msg[0]) {
            size_t ml = utf8_cut(msg, strlen(msg), size - 1);
            memcpy(dst, msg, ml);
            dst[ml] = '\0';
            one_line(dst);
            cJSON_Delete(root);
            return dst;
        }
        cJSON_Delete(root);
    }
    size_t cap = size - 1 < REFUSAL_RAW_BYTES ? size - 1 : REFUSAL_RAW_BYTES;
    size_t n = utf8_cut(body, len, cap);
    memcpy(dst, body, n);
    dst[n] = '\0';
    /* a NUL inside the body ends the C string early; fine for a message */
    one_line(dst);
    /* trim leading/trailing blanks left by newlines */
    size_t s = 0, e = strlen(dst);
    while (s < e && dst[s] == ' ')
        s++;
    while (e > s && dst[e - 1] == ' ')
        e--;
    memmove(dst, dst + s, e - s);
    dst[e - s] = '\0';
    return dst;
}

static bool is_retryable_status(long s)
{
    return s == 408 || s == 429 || s == 500 || s == 502 || s == 503 || s == 504;
}

void tb__http_classify(const tb__http_response *resp, tb_export_result *result)
{
    long s = resp->status;
    result->http_status = (int)(s > INT_MAX || s < 0 ? 0 : s);
    result->retry_after_ms = resp->retry_after_ms;
    result->unknown_outcome = 0;
    result->message[0] = '\0';

    if (resp->resent)
        result->unknown_outcome = 1; /* curl sent the body twice: maybe a duplicate */
    if (resp->transport_error && resp->too_large && s >= 200 && s < 300) {
        /* the destination accepted the batch; only its reply was too big to
         * read (and is not needed): resending would repeat it forever */
        result->outcome = TB_EXPORT_DELIVERED;
        snprintf(result->message, sizeof result->message,
                 "HTTP %ld: accepted; the response was over the size cap and was not read", s);
        return;
    }
    if (resp->transport_error) {
        result->outcome = TB_EXPORT_RETRY;
        result->unknown_outcome = resp->body_sent || resp->resent ? 1 : 0;
        snprintf(result->message, sizeof result->message, "%s",
                 resp->error[0] ? resp->error : "transport error");
        one_line(result->message);
        return;
    }
    if (s >= 200 && s < 300) {
        result->outcome = TB_EXPORT_DELIVERED;
        return;
    }
    char msg[400];
    tb__http_body_message(msg, sizeof msg, resp->body, resp->body_len);
    const char *what;
    if (s == 401 || s == 403) {
        result->outcome = TB_EXPORT_AUTH;
        what = "credentials refused";
    } else if (s == 413) {
        result->outcome = TB_EXPORT_TOO_LARGE;
        what = "payload too large";
    } else if (is_retryable_status(s)) {
        result->outcome = TB_EXPORT_RETRY;
        what = "server busy or failing";
    } else if (s >= 400 && s < 500) {
        result->outcome = TB_EXPORT_REFUSED;
        what = "refused";
    } else {
        /* 1xx/3xx (redirects are not followed), 501, 505, … : nothing says
         * the data is bad, so keep it and retry */
        result->outcome = TB_EXPORT_RETRY;
        what = (s >= 300 && s < 400) ? "redirect not followed" : "unexpected status";
    }
    if (msg[0])
        snprintf(result->message, sizeof result->message, "HTTP %ld: %s", s, msg);
    else
        snprintf(result->message, sizeof result->message, "HTTP %ld %s", s, what);
}
