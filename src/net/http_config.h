/*
 * http_config.h — what an HTTP destination sends where (internal).
 *
 * tb__http_config is plain data: URL, extra headers, auth, TLS, gzip,
 * timeouts and the response cap. An exporter fills one
 * (tb__http_config_from_dest() reads the common keys of a destination
 * section, the setters add the rest), hands it to tb__http_open() (http.h),
 * which deep-copies it, and frees it with tb__http_config_free().
 *
 * Everything here validates before it stores: a URL must be http:// or
 * https://, a header name must be an HTTP token, and no name or value may
 * hold CR, LF or NUL (no header injection from a config file or a
 * variable). Header values, tokens and passwords live in this struct and
 * nowhere else: no message built from it ever quotes them, and a URL
 * appears in messages only as tb__http_redact_url() leaves it.
 *
 * Not thread-safe: a config belongs to the thread that builds it.
 */
#ifndef TRACEBOX_HTTP_CONFIG_H
#define TRACEBOX_HTTP_CONFIG_H

#include "internal.h"

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
    char *client_cert;          /* CURLOPT_SSLCERT (PEM), or NULL */
    char *client_key;           /* CURLOPT_SSLKEY (PEM), or NULL */
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
/* Deep-copy src into dst (which need not be initialised). False when
 * memory runs out; dst then holds what was copied, for
 * tb__http_config_free(). */
bool tb__http_config_copy(tb__http_config *dst, const tb__http_config *src);

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
 * (none|gzip), `ca_file`, `client_cert`, `client_key` (mutual TLS; the key
 * may also sit in the certificate's file), `insecure`
 * (true/false/yes/no/on/off/1/0) and the
 * parsed `timeout` (tb_dest_config_timeout_ms). On a bad value returns
 * TB_CONFIG with "FILE:LINE: [section] key: what is wrong" in err. */
tb_status tb__http_config_from_dest(tb__http_config *c, const tb_dest_config *cfg, char *err,
                                    size_t err_size);

/* A parsed boolean value; false when s is not one. */
bool tb__http_parse_bool(const char *s, bool *out);

/* Copy `url` into dst without userinfo, query string or fragment — the
 * only form of a URL that may appear in a message. Returns dst. */
char *tb__http_redact_url(char *dst, size_t size, const char *url);

#endif
