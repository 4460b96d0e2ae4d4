/*
 * http.h — the HTTP transport every HTTP exporter shares (internal).
 *
 * Three pieces:
 *
 *   tb__http_config   what to send where: URL, headers, auth, TLS, gzip,
 *                     timeouts, response cap. Plain data the exporter fills
 *                     (tb__http_config_from_dest() reads the common keys of a
 *                     destination section) and frees with
 *                     tb__http_config_free(). Header values, tokens and
 *                     passwords live here and nowhere else: no message built
 *                     by this module ever contains them.
 *
 *   tb__http          one worker's connection: a single reused CURL easy
 *                     handle (keep-alive) plus a copy of the config. Not
 *                     thread-safe: one thread at a time per object (the
 *                     shipper's lease guarantees that per destination).
 *
 *   tb__http_classify()  DESIGN.md's response classes: a response (or a
 *                     transport failure) → tb_export_result.
 *
 * Typical exporter:
 *
 *     tb__http_config hc;
 *     tb__http_config_init(&hc);
 *     if (tb__http_config_from_dest(&hc, cfg, err, err_size) != TB_OK) ...
 *     tb__http_config_set_url(&hc, url); tb__http_config_set_bearer(&hc, key);
 *     tb__http_open(&self->http, &hc, err, err_size);   // copies hc
 *     tb__http_config_free(&hc);
 *     ...
 *     tb__http_response resp;
 *     tb__http_post(self->http, body, len, &resp);
 *     tb__http_classify(&resp, result);
 */
#ifndef TRACEBOX_HTTP_H
#define TRACEBOX_HTTP_H

#include "internal.h"

#include <stdatomic.h>

#define TB__HTTP_CONNECT_TIMEOUT_MS 10000
#define TB__HTTP_TIMEOUT_MS 30000
#define TB__HTTP_MAX_RESPONSE ((size_t)1 << 20) /* 1 MiB */

typedef struct tb__http_config {
    char *url;          /* http:// or https:// only */
    char *content_type; /* default "application/json" */
    /* Extra request headers, each "Name: value" (curl's form). Add them with
     * tb__http_config_add_header() / tb__http_config_parse_headers(), which
     * reject CR, LF and NUL. */
    char **headers;
    size_t n_headers;
    bool gzip;                  /* compress the body, Content-Encoding: gzip */
    int64_t connect_timeout_ms; /* default 10 s (capped at timeout_ms) */
    int64_t timeout_ms;         /* whole request; default 30 s */
    size_t max_response;        /* response body cap; default 1 MiB */
    char *ca_file;              /* CURLOPT_CAINFO, or NULL */
    bool insecure;              /* no peer/host verification */
    char *bearer;               /* Authorization: Bearer …, or NULL */
    char *basic_user;           /* Basic auth when non-NULL */
    char *basic_password;
    char *user_agent; /* default "tracebox/<version>" */
} tb__http_config;

/* Defaults; nothing allocated. */
void tb__http_config_init(tb__http_config *c);
/* Frees every string; leaves *c in the init state. NULL is a no-op. */
void tb__http_config_free(tb__http_config *c);

/* Setters copy their argument (NULL clears). TB_NOMEM on failure.
 * set_url rejects anything but http:// and https:// (TB_CONFIG). */
tb_status tb__http_config_set_url(tb__http_config *c, const char *url, char *err, size_t err_size);
tb_status tb__http_config_set_content_type(tb__http_config *c, const char *ct);
tb_status tb__http_config_set_bearer(tb__http_config *c, const char *token);
tb_status tb__http_config_set_basic(tb__http_config *c, const char *user, const char *password);

/* Add "name: value". TB_CONFIG (message in err, never the value) when the
 * name is not an HTTP token or either part holds CR, LF or NUL. */
tb_status tb__http_config_add_header(tb__http_config *c, const char *name, const char *value,
                                     char *err, size_t err_size);
/* Parse the `headers = k=v,k2=v2` form (OTEL_EXPORTER_OTLP_HEADERS rules:
 * pairs split on ',', name and value split on the first '=', both trimmed
 * and percent-decoded) and add each. Errors name the pair's position, not
 * its value. */
tb_status tb__http_config_parse_headers(tb__http_config *c, const char *spec, char *err,
                                        size_t err_size);

/* Read a destination's common HTTP keys into c: `headers`, `compression`
 * (none|gzip), `ca_file`, `insecure` (true/false/yes/no/on/off/1/0) and the
 * parsed `timeout` (tb_dest_config_timeout_ms). On a bad value returns
 * TB_CONFIG with "FILE:LINE: [section] key: what is wrong" in err. */
tb_status tb__http_config_from_dest(tb__http_config *c, const tb_dest_config *cfg, char *err,
                                    size_t err_size);

/* A parsed boolean value; false when s is not one. */
bool tb__http_parse_bool(const char *s, bool *out);

/* Copy `url` into dst without userinfo, query string or fragment — the
 * only form of a URL that may appear in a message. Returns dst. */
char *tb__http_redact_url(char *dst, size_t size, const char *url);

/* ---- the connection ---- */
typedef struct tb__http tb__http;

/* Create a connection from cfg (deep-copied; cfg may be freed after).
 * curl_global_init runs once per process. On failure *out is NULL and err
 * holds one line. */
tb_status tb__http_open(tb__http **out, const tb__http_config *cfg, char *err, size_t err_size);
/* NULL is a no-op. */
void tb__http_close(tb__http *h);

typedef struct tb__http_response {
    long status;      /* HTTP status; 0 when no response arrived */
    const char *body; /* response body, NUL-terminated, capped; owned
                         by the tb__http, valid until its next post */
    size_t body_len;
    int64_t retry_after_ms; /* Retry-After (seconds or HTTP-date); -1 none */
    bool body_sent;         /* the whole request body went out */
    bool transport_error;   /* no usable response: connect/resolve failure,
                               reset, timeout, TLS, oversized response … */
    int curl_code;          /* CURLcode, 0 when curl succeeded */
    bool too_large;         /* the response exceeded max_response */
    bool resent;            /* libcurl resent the body on a fresh connection
                               (a reused one died): it may have arrived twice */
    char error[384];        /* one line, no credentials; "" when fine */
} tb__http_response;

/* POST body[0..len) to the configured URL. Returns TB_OK when *resp says
 * what happened — including an HTTP error status or a transport failure
 * (resp->transport_error) — and TB_NOMEM/TB_INVALID for a local failure
 * (resp->error says which). */

tb_status tb__http_post(tb__http *h, const void *body, size_t len, tb__http_response *resp);
/* The same, for a send: the transfer aborts (a transport failure, outcome
 * unknown) once tb_export_host_stopping(host) says so. NULL host: never. */
tb_status tb__http_post_with(tb__http *h, const tb_export_host *host, const void *body, size_t len,
                             tb__http_response *resp);

/* Map a response to DESIGN.md's response classes. Sets outcome,
 * http_status, retry_after_ms, unknown_outcome and message; leaves
 * rejected / rejected_count alone. */
void tb__http_classify(const tb__http_response *resp, tb_export_result *result);

/* The message a refusal carries: the JSON "error":{"message"} or "message"
 * of body, else its first 200 bytes; one line, control characters replaced.
 * Writes at most size-1 bytes into dst and returns dst. */
char *tb__http_body_message(char *dst, size_t size, const char *body, size_t len);

/* Parse a Retry-After value (delta seconds or HTTP-date) into ms from
 * `now` (seconds since the epoch); -1 when unparseable. */
int64_t tb__http_parse_retry_after(const char *value, int64_t now);

#endif
