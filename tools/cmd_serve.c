/*
 * cmd_serve.c — `tracebox serve`: a durable local receiver. Any agent in
 * any language gets the outbox by pointing its exporter at it.
 *
 *   POST /v1/traces         OTLP/HTTP (protobuf or JSON, gzip accepted)
 *   POST /v1/traces/ingest  the OpenAI Agents SDK exporter's shape
 *   GET  /metrics           `tracebox status --prometheus`
 *   GET  /healthz           200 when a record can be stored now, else 503
 *   GET  /, /trace/ID       the read-only page (serve_page.c)
 *
 * Design. libmicrohttpd, one thread per connection (a connection limit
 * bounds them): a request's thread decodes the whole body, hands it to the
 * library (tb_outbox_put_otlp / tb_outbox_put_json_many) and answers only
 * when every record is committed, so concurrent requests share commits
 * through the outbox's group commit, and a 200 always means "on disk". A
 * request that cannot be stored gets 503 with Retry-After (the OTLP and
 * Agents SDK exporters retry those); a malformed one 400 with a one-line
 * reason and nothing of it stored. The shipper runs in the same process on
 * the same configuration, as `tracebox ship` does.
 *
 * Safety. Loopback by default; another address needs `[serve] token` (a
 * Bearer token every request must carry) or --insecure-listen. A body over
 * max_body (default 8 MiB, after gzip too) gets 413; a connection idle for
 * `timeout` (default 30 s) is closed; at most max_connections at once
 * (default 64), and, off loopback, a fourth of them per client address. Nothing a client
 * sends is logged; the token is never printed.
 */
#include "cli.h"
#include "serve_page.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <zlib.h>

#define DEFAULT_LISTEN "127.0.0.1:4318"
#define DEFAULT_MAX_BODY ((size_t)8 << 20)
#define DEFAULT_CONNECTIONS 256
#define DEFAULT_TIMEOUT_S 30
#define RETRY_AFTER_S "5"

typedef struct server {
    cli *c;
    tb_outbox *ob;
    const char *db;
    const char *token; /* NULL: none asked */
    size_t max_body;
    atomic_llong requests, spans, records, refused;
    atomic_int active;          /* requests begun and not yet answered */
    atomic_llong last_store_ms; /* when a POST last stored something (monotonic) */
    atomic_llong last_fail_ms;  /* when a POST last could not store (503) */
} server;

/* One request's state between the calls libmicrohttpd makes for it. */
typedef struct request {
    char *body;
    size_t len, cap;
    bool too_big;
    bool answered; /* a response was queued before the body was read */
} request;

/* ---- responses ------------------------------------------------------------ */

static enum MHD_Result respond(struct MHD_Connection *mc, unsigned status, const char *type,
                               const void *body, size_t len, const char *retry_after)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    if (type)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (retry_after)
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, retry_after);
    enum MHD_Result ret = MHD_queue_response(mc, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result respond_text(struct MHD_Connection *mc, unsigned status, const char *text,
                                    const char *retry_after)
{
    return respond(mc, status, "text/plain; charset=utf-8", text, strlen(text), retry_after);
}

/* The OTLP error body: a google.rpc.Status (code, message), in the
 * request's format. gRPC codes: 3 INVALID_ARGUMENT, 8 RESOURCE_EXHAUSTED,
 * 14 UNAVAILABLE, 16 UNAUTHENTICATED. */
static size_t put_varint(unsigned char *p, uint64_t v)
{
    size_t n = 0;
    do {
        p[n++] = (unsigned char)((v & 0x7F) | (v > 0x7F ? 0x80 : 0));
        v >>= 7;
    } while (v);
    return n;
}

static enum MHD_Result otlp_error(struct MHD_Connection *mc, bool json, unsigned status, int code,
                                  const char *msg, const char *retry_after)
{
    if (json) {
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        if (!f)
            return MHD_NO;
        fprintf(f, "{\"code\":%d,\"message\":", code);
        cli_json_str(f, msg);
        fputs("}", f);
        fclose(f);
        enum MHD_Result r = respond(mc, status, "application/json", text, len, retry_after);
        free(text);
        return r;
    }
    size_t mlen = strlen(msg);
    unsigned char *buf = malloc(mlen + 32);
    if (!buf)
        return MHD_NO;
    size_t n = 0;
    buf[n++] = 0x08; /* Status.code = 1 */
    n += put_varint(buf + n, (uint64_t)code);
    buf[n++] = 0x12; /* Status.message = 2 */
    n += put_varint(buf + n, mlen);
    memcpy(buf + n, msg, mlen);
    n += mlen;
    enum MHD_Result r = respond(mc, status, "application/x-protobuf", buf, n, retry_after);
    free(buf);
    return r;
}

/* 200 with an ExportTraceServiceResponse: empty, or partial_success with
 * the rejected spans and why. */
static enum MHD_Result otlp_ok(struct MHD_Connection *mc, bool json, int64_t rejected,
                               const char *msg)
{
    if (json) {
        if (!rejected)
            return respond(mc, MHD_HTTP_OK, "application/json", "{}", 2, NULL);
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        if (!f)
            return MHD_NO;
        fprintf(f, "{\"partialSuccess\":{\"rejectedSpans\":\"%lld\",\"errorMessage\":",
                (long long)rejected);
        cli_json_str(f, msg);
        fputs("}}", f);
        fclose(f);
        enum MHD_Result r = respond(mc, MHD_HTTP_OK, "application/json", text, len, NULL);
        free(text);
        return r;
    }
    if (!rejected)
        return respond(mc, MHD_HTTP_OK, "application/x-protobuf", "", 0, NULL);
    size_t mlen = strlen(msg);
    unsigned char *ps = malloc(mlen + 32), *buf = malloc(mlen + 48);
    if (!ps || !buf) {
        free(ps);
        free(buf);
        return MHD_NO;
    }
    size_t n = 0;
    ps[n++] = 0x08; /* ExportTracePartialSuccess.rejected_spans = 1 */
    n += put_varint(ps + n, (uint64_t)rejected);
    ps[n++] = 0x12; /* error_message = 2 */
    n += put_varint(ps + n, mlen);
    memcpy(ps + n, msg, mlen);
    n += mlen;
    size_t m = 0;
    buf[m++] = 0x0A; /* ExportTraceServiceResponse.partial_success = 1 */
    m += put_varint(buf + m, n);
    memcpy(buf + m, ps, n);
    m += n;
    enum MHD_Result r = respond(mc, MHD_HTTP_OK, "application/x-protobuf", buf, m, NULL);
    free(ps);
    free(buf);
    return r;
}

/* ---- request bodies ------------------------------------------------------- */

/* Inflate a gzip body into *out (at most max bytes). 0 ok, 1 too large, -1
 * not gzip (msg says why). */
static int gunzip(const char *in, size_t len, size_t max, char **out, size_t *out_len, char *msg,
                  size_t msg_size)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 15 + 16) != Z_OK) {
        snprintf(msg, msg_size, "gzip: cannot start inflating");
        return -1;
    }
    size_t cap = len * 4 + 1024 < max ? len * 4 + 1024 : max + 1;
    char *buf = malloc(cap);
    if (!buf) {
        inflateEnd(&z);
        snprintf(msg, msg_size, "out of memory");
        return -1;
    }
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)len;
    size_t have = 0;
    int rc = Z_OK;
    for (;;) {
        if (rc == Z_STREAM_END) {
            /* gzip allows members one after another (RFC 1952): inflate
             * them all; bytes after the last that are not one are an error */
            if (z.avail_in == 0)
                break;
            if (inflateReset(&z) != Z_OK) {
                snprintf(msg, msg_size, "gzip: cannot start the next member");
                free(buf);
                inflateEnd(&z);
                return -1;
            }
            rc = Z_OK;
        }
        if (have == cap) {
            if (cap > max) {
                free(buf);
                inflateEnd(&z);
                return 1;
            }
            size_t ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;
            char *g = realloc(buf, ncap);
            if (!g) {
                free(buf);
                inflateEnd(&z);
                snprintf(msg, msg_size, "out of memory");
                return -1;
            }
            buf = g;
            cap = ncap;
        }
        z.next_out = (Bytef *)buf + have;
        z.avail_out = (uInt)(cap - have);
        rc = inflate(&z, Z_NO_FLUSH);
        have = cap - z.avail_out;
        if (rc == Z_BUF_ERROR && z.avail_in == 0) {
            rc = Z_DATA_ERROR;
            z.msg = (char *)"truncated";
        }
        if (rc != Z_OK && rc != Z_STREAM_END) {
            snprintf(msg, msg_size, "gzip: %s at byte %lu", z.msg ? z.msg : "not gzip data",
                     (unsigned long)z.total_in);
            free(buf);
            inflateEnd(&z);
            return -1;
        }
        if (have > max) {
            free(buf);
            inflateEnd(&z);
            return 1;
        }
    }
    inflateEnd(&z);
    *out = buf;
    *out_len = have;
    return 0;
}

/* The media type of a Content-Type header, compared without parameters. */
static bool media_is(const char *ct, const char *want)
{
    if (!ct)
        return false;
    size_t n = strlen(want);
    while (*ct == ' ')
        ct++;
    return strncasecmp(ct, want, n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/* An error to a POST: a google.rpc.Status on /v1/traces (the OTLP/HTTP
 * rule for every 4xx and 5xx, in the request's format), one line of text on
 * /v1/traces/ingest. */
static enum MHD_Result post_error(struct MHD_Connection *mc, const char *url, unsigned status,
                                  int code, const char *msg)
{
    if (strcmp(url, "/v1/traces") != 0)
        return respond_text(mc, status, msg, NULL);
    const char *ct = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Content-Type");
    return otlp_error(mc, media_is(ct, "application/json"), status, code, msg, NULL);
}

/* ---- POST /v1/traces ------------------------------------------------------ */

static enum MHD_Result post_otlp(server *s, struct MHD_Connection *mc, const char *body, size_t len)
{
    const char *ct = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Content-Type");
    bool json = media_is(ct, "application/json");
    if (!json && !media_is(ct, "application/x-protobuf") && !media_is(ct, "application/protobuf"))
        return otlp_error(mc, false, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, 3,
                          "Content-Type must be application/x-protobuf or application/json", NULL);
    tb_otlp_result res;
    tb_status st =
        tb_outbox_put_otlp(s->ob, body, len, json ? TB_OTLP_JSON : TB_OTLP_PROTOBUF, &res);
    if (st == TB_BAD_RECORD)
        return otlp_error(mc, json, MHD_HTTP_BAD_REQUEST, 3, tb_last_error(), NULL);
    if (st != TB_OK) {
        atomic_store(&s->last_fail_ms, cli_mono_ms());
        return otlp_error(mc, json, MHD_HTTP_SERVICE_UNAVAILABLE, 14, tb_last_error(),
                          RETRY_AFTER_S);
    }
    atomic_fetch_add(&s->spans, res.stored);
    if (res.stored)
        atomic_store(&s->last_store_ms, cli_mono_ms());
    atomic_fetch_add(&s->refused, res.rejected);
    if (res.failed) {
        atomic_store(&s->last_fail_ms, cli_mono_ms());
        char msg[700];
        snprintf(msg, sizeof msg, "%lld of %lld spans not stored (send again): %s",
                 (long long)res.failed, (long long)res.spans, res.message);
        return otlp_error(mc, json, MHD_HTTP_SERVICE_UNAVAILABLE, res.failure == TB_FULL ? 8 : 14,
                          msg, RETRY_AFTER_S);
    }
    return otlp_ok(mc, json, res.rejected, res.message);
}

/* ---- POST /v1/traces/ingest ----------------------------------------------
 * {"data":[obj, obj, …]}: each element's text is handed to the library as
 * it came (the bytes the SDK's JSON.stringify / json.dumps wrote for it),
 * so the stored body is what a binding would have stored. A small scanner
 * finds the elements; the library validates each. */

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* The end of the JSON value at p (strings and nesting matched), or NULL. */
static const char *value_end(const char *p, const char *end)
{
    int depth = 0;
    for (; p < end; p++) {
        char ch = *p;
        if (ch == '"') {
            for (p++; p < end && *p != '"'; p++)
                if (*p == '\\')
                    p++;
            if (p >= end)
                return NULL;
            if (depth == 0)
                return p + 1;
        } else if (ch == '{' || ch == '[') {
            if (++depth > 1000)
                return NULL;
        } else if (ch == '}' || ch == ']') {
            if (--depth < 0)
                return NULL;
            if (depth == 0)
                return p + 1;
        } else if (depth == 0 &&
                   (ch == ',' || ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t')) {
            return p;
        }
    }
    return depth == 0 ? p : NULL;
}

/* Find the elements of the top-level "data" array. The object must be
 * whole, with one "data" and nothing after it. false with msg. */
static bool split_data(const char *body, size_t len, const char ***items, size_t **lens, size_t *n,
                       char *msg, size_t msg_size)
{
    const char *p = body, *end = body + len;
    size_t cap = 0;
    bool seen = false;
    *items = NULL;
    *lens = NULL;
    *n = 0;
    p = skip_ws(p, end);
    if (p >= end || *p != '{') {
        snprintf(msg, msg_size, "body: not a JSON object ({\"data\":[...]})");
        return false;
    }
    p = skip_ws(p + 1, end);
    while (p < end && *p != '}') {
        const char *kend = *p == '"' ? value_end(p, end) : NULL;
        bool is_data = kend && kend - p == 6 && memcmp(p, "\"data\"", 6) == 0;
        p = kend ? skip_ws(kend, end) : end;
        if (p >= end || *p != ':')
            goto bad;
        p = skip_ws(p + 1, end);
        if (is_data && seen) {
            snprintf(msg, msg_size, "body: \"data\" appears twice");
            goto fail;
        }
        if (is_data) {
            seen = true;
            if (p >= end || *p != '[') {
                snprintf(msg, msg_size, "body: \"data\" is not an array");
                goto fail;
            }
            p = skip_ws(p + 1, end);
            while (p < end && *p != ']') {
                const char *vend = value_end(p, end);
                if (!vend || vend == p)
                    goto bad;
                if (*n == cap) {
                    cap = cap ? cap * 2 : 64;
                    const char **gi = realloc(*items, cap * sizeof **items);
                    if (gi)
                        *items = gi;
                    size_t *gl = gi ? realloc(*lens, cap * sizeof **lens) : NULL;
                    if (gl)
                        *lens = gl;
                    if (!gi || !gl) {
                        snprintf(msg, msg_size, "out of memory");
                        goto fail;
                    }
                }
                (*items)[*n] = p;
                (*lens)[*n] = (size_t)(vend - p);
                (*n)++;
                p = skip_ws(vend, end);
                if (p < end && *p == ',')
                    p = skip_ws(p + 1, end);
                else if (p >= end || *p != ']')
                    goto bad;
            }
            if (p >= end)
                goto bad;
            p = skip_ws(p + 1, end);
        } else {
            const char *vend = p < end ? value_end(p, end) : NULL;
            if (!vend || vend == p)
                goto bad;
            p = skip_ws(vend, end);
        }
        if (p < end && *p == ',')
            p = skip_ws(p + 1, end);
        else if (p >= end || *p != '}')
            goto bad;
    }
    if (p >= end)
        goto bad;
    if (skip_ws(p + 1, end) != end) {
        snprintf(msg, msg_size, "body: text after the object at byte %td", p + 1 - body);
        goto fail;
    }
    if (!seen) {
        snprintf(msg, msg_size, "body: no \"data\" array");
        goto fail;
    }
    return true;
bad:
    snprintf(msg, msg_size, "body: bad JSON at byte %td", p - body);
fail:
    free(*items);
    free(*lens);
    *items = NULL;
    *lens = NULL;
    *n = 0;
    return false;
}

static enum MHD_Result post_ingest(server *s, struct MHD_Connection *mc, const char *body,
                                   size_t len)
{
    const char **items = NULL;
    size_t *lens = NULL, n = 0;
    char msg[600];
    if (!split_data(body, len, &items, &lens, &n, msg, sizeof msg))
        return respond_text(mc, MHD_HTTP_BAD_REQUEST, msg, NULL);
    if (n == 0) {
        free(items);
        free(lens);
        return respond(mc, MHD_HTTP_NO_CONTENT, NULL, "", 0, NULL);
    }
    tb_put_result *res = calloc(n, sizeof *res);
    if (!res) {
        free(items);
        free(lens);
        return respond_text(mc, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory", RETRY_AFTER_S);
    }
    tb_status st = tb_outbox_put_json_many(s->ob, items, lens, n, res);
    size_t stored = 0, bad = 0, failed = 0;
    const char *first_bad = NULL, *first_failed = NULL;
    size_t first_bad_i = 0;
    for (size_t i = 0; st == TB_OK && i < n; i++) {
        if (res[i].status == TB_OK) {
            stored++;
        } else if (res[i].status == TB_BAD_RECORD) {
            if (!bad++) {
                first_bad = res[i].error;
                first_bad_i = i;
            }
        } else if (!failed++) {
            first_failed = res[i].error;
        }
    }
    atomic_fetch_add(&s->records, (long long)stored);
    if (stored)
        atomic_store(&s->last_store_ms, cli_mono_ms());
    enum MHD_Result r;
    if (st != TB_OK || failed)
        atomic_store(&s->last_fail_ms, cli_mono_ms());
    if (st != TB_OK) {
        snprintf(msg, sizeof msg, "nothing stored: %s", tb_last_error());
        r = respond_text(mc, MHD_HTTP_SERVICE_UNAVAILABLE, msg, RETRY_AFTER_S);
    } else if (failed) {
        /* the SDK's exporter retries 5xx: what was stored is stored once */
        snprintf(msg, sizeof msg, "%zu of %zu records not stored (send again): %s", failed, n,
                 first_failed);
        r = respond_text(mc, MHD_HTTP_SERVICE_UNAVAILABLE, msg, RETRY_AFTER_S);
    } else if (bad) {
        snprintf(msg, sizeof msg, "%zu of %zu records refused (the rest are stored): data[%zu]: %s",
                 bad, n, first_bad_i, first_bad);
        r = respond_text(mc, MHD_HTTP_BAD_REQUEST, msg, NULL);
    } else {
        r = respond(mc, MHD_HTTP_NO_CONTENT, NULL, "", 0, NULL);
    }
    free(res);
    free(items);
    free(lens);
    return r;
}

/* ---- GET ------------------------------------------------------------------ */

/* `status --prometheus` into text (malloc'd); its exit code. */
static int metrics_text(server *s, char **text, size_t *len)
{
    *text = NULL;
    *len = 0;
    FILE *f = open_memstream(text, len);
    if (!f)
        return EXIT_ERR;
    cli c = *s->c;
    char *argv[] = {(char *)"--prometheus", NULL};
    c.argc = 1;
    c.argv = argv;
    c.json = false;
    c.out = f;
    int rc = cmd_status(&c);
    fprintf(f,
            "# HELP tracebox_serve_spans_total OTLP spans stored by this serve process.\n"
            "# TYPE tracebox_serve_spans_total counter\ntracebox_serve_spans_total %lld\n"
            "# HELP tracebox_serve_records_total Agents SDK records stored by this serve "
            "process.\n# TYPE tracebox_serve_records_total counter\n"
            "tracebox_serve_records_total %lld\n"
            "# HELP tracebox_serve_rejected_spans_total OTLP spans refused for their ids.\n"
            "# TYPE tracebox_serve_rejected_spans_total counter\n"
            "tracebox_serve_rejected_spans_total %lld\n",
            (long long)atomic_load(&s->spans), (long long)atomic_load(&s->records),
            (long long)atomic_load(&s->refused));
    fclose(f);
    return rc;
}

static enum MHD_Result get_metrics(server *s, struct MHD_Connection *mc)
{
    char *text = NULL;
    size_t len = 0;
    int rc = metrics_text(s, &text, &len);
    char msg[600];
    snprintf(msg, sizeof msg, "the outbox cannot be read: %s\n", tb_last_error());
    enum MHD_Result r =
        rc == EXIT_OK
            ? respond(mc, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", text, len, NULL)
            : respond_text(mc, MHD_HTTP_SERVICE_UNAVAILABLE, msg, NULL);
    free(text);
    return r;
}

static enum MHD_Result get_healthz(server *s, struct MHD_Connection *mc)
{
    /* a POST stored something a moment ago: the file takes records (a
     * probe would only queue for the write lock behind those writers) */
    long long last = atomic_load(&s->last_store_ms);
    if (last && last > atomic_load(&s->last_fail_ms) && cli_mono_ms() - last < 2000)
        return respond_text(mc, MHD_HTTP_OK, "ok\n", NULL);
    tb_status st = tb_outbox_probe(s->ob, 2000);
    if (st == TB_OK)
        return respond_text(mc, MHD_HTTP_OK, "ok\n", NULL);
    char msg[600];
    snprintf(msg, sizeof msg, "unavailable: %s\n", tb_last_error());
    return respond_text(mc, MHD_HTTP_SERVICE_UNAVAILABLE, msg, RETRY_AFTER_S);
}

static enum MHD_Result get_page(server *s, struct MHD_Connection *mc, const char *url)
{
    char *body = NULL;
    size_t len = 0;
    const char *type = "text/plain; charset=utf-8";
    int status = serve_page(s->db, url, &body, &len, &type);
    enum MHD_Result r =
        body ? respond(mc, (unsigned)status, type, body, len, NULL)
             : respond_text(mc, MHD_HTTP_SERVICE_UNAVAILABLE, "the page cannot be made\n", NULL);
    free(body);
    return r;
}

/* ---- dispatch ------------------------------------------------------------- */

static bool authorized(server *s, struct MHD_Connection *mc)
{
    if (!s->token)
        return true;
    const char *h = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return false;
    h += 7;
    /* compared in constant time over the token's length */
    size_t n = strlen(s->token), m = strlen(h);
    unsigned diff = (unsigned)(n ^ m);
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned)(s->token[i] ^ (i < m ? h[i] : 0));
    return diff == 0;
}

static bool is_post_path(const char *url)
{
    return strcmp(url, "/v1/traces") == 0 || strcmp(url, "/v1/traces/ingest") == 0;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *mc, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
    (void)version;
    server *s = cls;
    request *rq = *con_cls;
    bool post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
    if (!rq) {
        rq = calloc(1, sizeof *rq);
        if (!rq)
            return MHD_NO;
        *con_cls = rq;
        atomic_fetch_add(&s->requests, 1);
        atomic_fetch_add(&s->active, 1); /* completed() takes it back */
        /* answered before the body is read: the connection is closed after */
        if (!authorized(s, mc)) {
            rq->answered = true;
            return respond_text(mc, MHD_HTTP_UNAUTHORIZED,
                                "missing or wrong Authorization: Bearer token\n", NULL);
        }
        if (post && is_post_path(url)) {
            const char *cl =
                MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
            if (cl && strtoull(cl, NULL, 10) > s->max_body) {
                rq->answered = true;
                char msg[200];
                snprintf(msg, sizeof msg, "request body larger than %zu bytes", s->max_body);
                return post_error(mc, url, MHD_HTTP_CONTENT_TOO_LARGE, 8, msg);
            }
        }
        return MHD_YES;
    }
    if (rq->answered) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (rq->too_big || rq->len + n > s->max_body) {
            rq->too_big = true;
            return MHD_YES;
        }
        if (rq->len + n > rq->cap) {
            size_t cap = rq->cap ? rq->cap : 65536;
            while (cap < rq->len + n)
                cap *= 2;
            char *g = realloc(rq->body, cap);
            if (!g)
                return MHD_NO;
            rq->body = g;
            rq->cap = cap;
        }
        memcpy(rq->body + rq->len, upload_data, n);
        rq->len += n;
        return MHD_YES;
    }

    /* the whole request is here */
    if (post && is_post_path(url)) {
        char msg[300];
        if (rq->too_big) {
            snprintf(msg, sizeof msg, "request body larger than %zu bytes", s->max_body);
            return post_error(mc, url, MHD_HTTP_CONTENT_TOO_LARGE, 8, msg);
        }
        const char *body = rq->body ? rq->body : "";
        size_t len = rq->len;
        char *plain = NULL;
        const char *enc =
            MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_ENCODING);
        if (enc && strcasecmp(enc, "gzip") == 0) {
            size_t plen = 0;
            int g = gunzip(body, len, s->max_body, &plain, &plen, msg, sizeof msg);
            if (g == 1) {
                snprintf(msg, sizeof msg, "request body larger than %zu bytes uncompressed",
                         s->max_body);
                return post_error(mc, url, MHD_HTTP_CONTENT_TOO_LARGE, 8, msg);
            }
            if (g < 0)
                return post_error(mc, url, MHD_HTTP_BAD_REQUEST, 3, msg);
            body = plain;
            len = plen;
        } else if (enc && strcasecmp(enc, "identity") != 0) {
            char shown[48];
            size_t k = 0;
            for (const char *c = enc; *c && k < 40; c++)
                shown[k++] = *c >= 0x20 && *c < 0x7F ? *c : '?';
            shown[k] = '\0';
            snprintf(msg, sizeof msg, "Content-Encoding %s is not supported (gzip is)", shown);
            return post_error(mc, url, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, 3, msg);
        }
        enum MHD_Result r = strcmp(url, "/v1/traces") == 0 ? post_otlp(s, mc, body, len)
                                                           : post_ingest(s, mc, body, len);
        free(plain);
        return r;
    }
    bool get =
        strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    if (is_post_path(url))
        return respond_text(mc, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST\n", NULL);
    if (!get)
        return respond_text(mc, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET\n", NULL);
    if (strcmp(url, "/metrics") == 0)
        return get_metrics(s, mc);
    if (strcmp(url, "/healthz") == 0)
        return get_healthz(s, mc);
    return get_page(s, mc, url);
}

static void completed(void *cls, struct MHD_Connection *mc, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    (void)mc;
    (void)toe;
    server *s = cls;
    request *rq = *con_cls;
    if (rq) {
        free(rq->body);
        free(rq);
        atomic_fetch_sub(&s->active, 1);
    }
    *con_cls = NULL;
}

/* ---- listening ------------------------------------------------------------ */

/* HOST:PORT ("127.0.0.1:4318", "[::1]:4318", "0.0.0.0:4318", ":4318",
 * "localhost:0") into an address. */
static bool parse_listen(const char *spec, struct sockaddr_storage *ss, char *shown,
                         size_t shown_size)
{
    char host[256];
    const char *colon = strrchr(spec, ':');
    if (!colon || !colon[1])
        return false;
    size_t hl = (size_t)(colon - spec);
    if (hl >= sizeof host)
        return false;
    memcpy(host, spec, hl);
    host[hl] = '\0';
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = '\0';
    }
    long long port = 0;
    if (!cli_int(colon + 1, &port) || port < 0 || port > 65535)
        return false;
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%lld", port);
    if (getaddrinfo(host[0] ? host : NULL, portstr, &hints, &ai) != 0 || !ai)
        return false;
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    char addr[INET6_ADDRSTRLEN] = "";
    if (ai->ai_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)ai->ai_addr)->sin_addr, addr,
                  sizeof addr);
    else
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)(void *)ai->ai_addr)->sin6_addr, addr,
                  sizeof addr);
    snprintf(shown, shown_size, ai->ai_family == AF_INET6 ? "[%s]" : "%s", addr);
    freeaddrinfo(ai);
    return true;
}

static bool is_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)(const void *)ss;
        return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
    }
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)(const void *)ss;
        return IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
    }
    return false;
}

/* libmicrohttpd percent-decodes the path before the handler sees it; the
 * page decodes its trace ids itself (an id may hold "%41" or "/"), so the
 * path is handed over as it came. */
static size_t keep_escaped(void *cls, struct MHD_Connection *mc, char *s)
{
    (void)cls;
    (void)mc;
    return strlen(s);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[600];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    fprintf(stderr, "tracebox: serve: %s\n", line);
}

int cmd_serve(cli *c)
{
    const char *listen_arg = NULL, *max_body_arg = NULL;
    bool insecure = false;
    for (int i = 0; i < c->argc; i++) {
        if (cli_flag(c, &i, "--listen", &listen_arg) && listen_arg)
            continue;
        if (cli_flag(c, &i, "--max-body", &max_body_arg) && max_body_arg)
            continue;
        if (cli_flag(c, &i, "--insecure-listen", NULL)) {
            insecure = true;
            continue;
        }
        return cli_fail(EXIT_USAGE,
                        "serve: bad argument '%s' (usage: tracebox serve [--listen HOST:PORT] "
                        "[--max-body SIZE] [--insecure-listen] [--db PATH] [--config FILE])",
                        c->argv[i]);
    }
    tb_config *cfg = cli_config(c);
    if (!cfg)
        return EXIT_CONFIG;
    tb_serve_settings set;
    if (tb_config_serve_settings(cfg, &set) != TB_OK)
        return cli_fail(EXIT_CONFIG, "serve: %s", tb_last_error());
    const char *spec = listen_arg ? listen_arg : set.listen ? set.listen : DEFAULT_LISTEN;
    struct sockaddr_storage ss;
    char shown[INET6_ADDRSTRLEN + 2];
    if (!parse_listen(spec, &ss, shown, sizeof shown))
        return cli_fail(EXIT_USAGE,
                        "serve: --listen %s: not HOST:PORT (e.g. 127.0.0.1:4318, [::1]:4318)",
                        spec);
    if (!is_loopback(&ss) && !set.token && !insecure)
        return cli_fail(EXIT_CONFIG,
                        "serve: %s is not a loopback address: set [serve] token = ${VAR} (clients "
                        "then send Authorization: Bearer …), or pass --insecure-listen",
                        spec);
    server s = {.c = c, .token = set.token && set.token[0] ? set.token : NULL};
    s.max_body = set.max_body > 0 ? (size_t)set.max_body : DEFAULT_MAX_BODY;
    if (max_body_arg) {
        int64_t b = 0;
        if (tb_parse_size(max_body_arg, &b) != 0 || b < 1024)
            return cli_fail(EXIT_USAGE, "serve: --max-body %s: not a size of at least 1KiB",
                            max_body_arg);
        s.max_body = (size_t)b;
    }
    unsigned conns = set.max_connections > 0 ? (unsigned)set.max_connections : DEFAULT_CONNECTIONS;
    unsigned timeout_s =
        set.timeout_ms > 0 ? (unsigned)((set.timeout_ms + 999) / 1000) : DEFAULT_TIMEOUT_S;

    s.ob = cli_open(c);
    if (!s.ob)
        return EXIT_ERR;
    s.db = tb_outbox_path(s.ob);

    /* signals blocked before any thread starts, so sigwait gets them */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    tb_shipper *sh = NULL;
    if (tb_config_destination_count(cfg) > 0) {
        tb_ship_options o = TB_SHIP_OPTIONS_INIT;
        if (tb_shipper_start(&sh, s.db, cfg, &o) != TB_OK) {
            int rc = cli_fail(EXIT_CONFIG, "serve: %s", tb_last_error());
            tb_outbox_close(s.ob);
            return rc;
        }
    }

    /* a per-address limit only off loopback: on loopback every local app
     * is the same address */
    unsigned per_ip = is_loopback(&ss) ? 0 : conns / 4 ? conns / 4 : 1;
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ITC |
            MHD_USE_ERROR_LOG | (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
        0, NULL, NULL, handle, &s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT, conns,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip, MHD_OPTION_CONNECTION_TIMEOUT, timeout_s,
        MHD_OPTION_NOTIFY_COMPLETED, completed, &s, MHD_OPTION_UNESCAPE_CALLBACK, keep_escaped,
        NULL, MHD_OPTION_END);
    if (!d) {
        int err = errno;
        tb_shipper_stop(sh, 15000);
        tb_outbox_close(s.ob);
        return cli_fail(EXIT_ERR, "serve: cannot listen on %s: %s", spec,
                        err ? strerror(err) : "libmicrohttpd refused the options");
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    unsigned port = info ? info->port : 0;
    fprintf(stderr,
            "tracebox: serve: listening on http://%s:%u (db %s; %zu destination(s) shipping; "
            "stop with SIGTERM)\n",
            shown, port, s.db, tb_config_destination_count(cfg));
    fflush(stderr);

    int sig = 0;
    sigwait(&sigs, &sig);
    fprintf(stderr, "tracebox: serve: stopping (%s)\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    /* no new connections; the requests in flight are answered (their
     * answers wait for their commits), at most 15 s */
    MHD_quiesce_daemon(d);
    for (int64_t until = cli_mono_ms() + 15000;
         atomic_load(&s.active) > 0 && cli_mono_ms() < until;)
        cli_nap_ms(5);
    MHD_stop_daemon(d);
    tb_status st = tb_shipper_stop(sh, 15000);
    tb_outbox_close(s.ob);
    if (st != TB_OK) {
        cli_fail(EXIT_ERR, "serve: %s", tb_last_error());
        fflush(NULL);
        _exit(EXIT_ERR);
    }
    fprintf(stderr,
            "tracebox: serve: stopped cleanly (%lld requests, %lld OTLP spans, %lld "
            "records stored)\n",
            (long long)atomic_load(&s.requests), (long long)atomic_load(&s.spans),
            (long long)atomic_load(&s.records));
    return EXIT_OK;
}
