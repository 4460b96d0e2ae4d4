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
 *   of defence every known secret is masked out of curl's error text, and
 *   out of the response body (a server may echo the request's headers).
 *
 * This file reports what happened and stops there. What is sent, and its
 * checks, is http_config.c; what a response means for the batch
 * (tb__http_classify) is delivery policy, in src/ship/classify.c.
 */
#include "http.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <zlib.h>

/* Secrets shorter than this are not masked in curl's error text (masking
 * "1" would mangle every digit); they are still never put there by us. */
#define MIN_SECRET_LEN 4

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
 * batch twice — which README "Delivery semantics" says to count. */
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
/* the connection                                                      */

static pthread_once_t g_curl_once = PTHREAD_ONCE_INIT;
static CURLcode g_curl_init_rc = CURLE_OK;

static void curl_init_once(void)
{
    g_curl_init_rc = curl_global_init(CURL_GLOBAL_ALL);
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

/* RFC 4648 base64 of s[0..n) (what curl sends for Basic auth), or NULL. */
static char *base64(const char *s, size_t n)
{
    static const char k[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = tb__malloc((n + 2) / 3 * 4 + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)(unsigned char)s[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)(unsigned char)s[i + 1] << 8;
        if (i + 2 < n)
            v |= (unsigned char)s[i + 2];
        out[o++] = k[v >> 18 & 63];
        out[o++] = k[v >> 12 & 63];
        out[o++] = i + 1 < n ? k[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? k[v & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

/* Everything secret this connection knows: header values (and the
 * credential after an auth scheme, "Bearer <token>"), Bearer and Basic
 * auth (also as the base64 the header carries), and the URL's userinfo and
 * query. */
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
            const char *sp = strchr(v, ' ');
            if (sp && !add_secret(h, sp + 1, strlen(sp + 1)))
                return false;
        }
    }
    if (c->bearer && !add_secret(h, c->bearer, strlen(c->bearer)))
        return false;
    if (c->basic_user && !add_secret(h, c->basic_user, strlen(c->basic_user)))
        return false;
    if (c->basic_password && !add_secret(h, c->basic_password, strlen(c->basic_password)))
        return false;
    if (c->basic_user) {
        tb__buf up = {0};
        tb__buf_printf(&up, "%s:%s", c->basic_user, c->basic_password ? c->basic_password : "");
        char *b64 = up.failed ? NULL : base64(up.data, up.len);
        bool ok = b64 && add_secret(h, b64, strlen(b64));
        tb__free_mem(b64);
        tb__buf_free(&up);
        if (!ok)
            return false;
    }
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
            /* curl sends the userinfo as Basic auth */
            char *b64 = base64(auth, (size_t)(at - auth));
            bool ok = b64 && add_secret(h, b64, strlen(b64));
            tb__free_mem(b64);
            if (!ok)
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

/* Overwrite every known secret in s[0..len) with '*'. */
static void mask_bytes(const tb__http *h, char *s, size_t len)
{
    for (size_t i = 0; i < h->n_secrets; i++) {
        size_t n = strlen(h->secrets[i]);
        /* move past each hit: a secret made of '*' must not loop forever */
        for (size_t at = 0; n <= len && at <= len - n;) {
            char *hit = memchr(s + at, h->secrets[i][0], len - n - at + 1);
            if (!hit)
                break;
            at = (size_t)(hit - s);
            if (memcmp(hit, h->secrets[i], n) == 0) {
                memset(hit, '*', n);
                at += n;
            } else {
                at++;
            }
        }
    }
}

static void mask_secrets(const tb__http *h, char *s)
{
    mask_bytes(h, s, strlen(s));
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
        tb__set_err(err, err_size, "http: no URL");
        return TB_INVALID;
    }
    pthread_once(&g_curl_once, curl_init_once);
    if (g_curl_init_rc != CURLE_OK) {
        tb__set_err(err, err_size, "http: curl_global_init failed: %s",
                    curl_easy_strerror(g_curl_init_rc));
        return TB_HTTP;
    }
    tb__http *h = tb__calloc(1, sizeof *h);
    if (!h) {
        tb__set_err(err, err_size, "out of memory");
        return TB_NOMEM;
    }
    if (!tb__http_config_copy(&h->cfg, cfg) || !collect_secrets(h))
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
    if (h->cfg.client_cert)
        SETOPT(CURLOPT_SSLCERT, h->cfg.client_cert);
    if (h->cfg.client_key)
        SETOPT(CURLOPT_SSLKEY, h->cfg.client_key);
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
        tb__set_err(err, err_size, "http %s: out of memory", h->safe_url);
    else
        tb__set_err(err, err_size, "http %s: libcurl refused %s", h->safe_url, failed_opt);
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
    /* a server may echo the request's headers back (in an error page, say):
     * nothing that reaches a message, the outbox or a log may hold them */
    if (h->resp)
        mask_bytes(h, h->resp, h->resp_len);
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
    tb__one_line(resp->error);
    return TB_OK;
}
