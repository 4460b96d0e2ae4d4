/*
 * http_config.c — building a tb__http_config (http_config.h): the URL
 * check, the `headers = k=v,…` parser, auth, and the common keys of a
 * destination section.
 *
 * Design. Validation happens once, here, when a value is stored, so the
 * transport (http.c) can hand the strings to libcurl as they are:
 *
 * - A URL must be http:// or https:// and hold no space, CR or LF; libcurl
 *   is also told to speak nothing else (CURLOPT_PROTOCOLS_STR).
 *
 * - Headers follow OTEL_EXPORTER_OTLP_HEADERS: pairs split on ',', name and
 *   value on the first '=', both trimmed, then percent-decoded. Decoding
 *   may produce CR, LF or NUL, so names and values are checked after it,
 *   with explicit lengths (add_header_n): a name must be an HTTP token, and
 *   nothing may smuggle a second header line in. A decoded value is wiped
 *   before it is freed.
 *
 * - Errors name the key and the pair's position, never a header value, a
 *   token or a password; a URL is shown only as tb__http_redact_url()
 *   leaves it (no userinfo, query or fragment).
 */
#include "http_config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* small string helpers                                                */

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
        if (s[i] == '%' && i + 2 < n && (hi = tb__hexval(s[i + 1])) >= 0 &&
            (lo = tb__hexval(s[i + 2])) >= 0) {
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
    tb__free_mem(c->client_cert);
    tb__free_mem(c->client_key);
    tb__free_mem(c->bearer);
    tb__free_mem(c->basic_user);
    tb__free_mem(c->basic_password);
    tb__free_mem(c->user_agent);
    tb__http_config_init(c);
}

bool tb__http_config_copy(tb__http_config *dst, const tb__http_config *src)
{
    tb__http_config_init(dst);
    dst->gzip = src->gzip;
    dst->connect_timeout_ms = src->connect_timeout_ms;
    dst->timeout_ms = src->timeout_ms;
    dst->max_response = src->max_response;
    dst->insecure = src->insecure;
    if (!replace_str(&dst->url, src->url) || !replace_str(&dst->content_type, src->content_type) ||
        !replace_str(&dst->ca_file, src->ca_file) ||
        !replace_str(&dst->client_cert, src->client_cert) ||
        !replace_str(&dst->client_key, src->client_key) ||
        !replace_str(&dst->bearer, src->bearer) ||
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

tb_status tb__http_config_set_url(tb__http_config *c, const char *url, char *err, size_t err_size)
{
    if (url && strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0) {
        char safe[256];
        tb__set_err(err, err_size, "URL %s: only http:// and https:// are supported",
                    tb__http_redact_url(safe, sizeof safe, url));
        return TB_CONFIG;
    }
    if (url && (strchr(url, '\r') || strchr(url, '\n') || strchr(url, ' '))) {
        tb__set_err(err, err_size, "URL contains a space, CR or LF");
        return TB_CONFIG;
    }
    if (!replace_str(&c->url, url)) {
        tb__set_err(err, err_size, "out of memory");
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
        tb__set_err(err, err_size, "%s: empty header name", which);
        return TB_CONFIG;
    }
    for (size_t i = 0; i < name_len; i++) {
        unsigned char ch = (unsigned char)name[i];
        if (ch == '\r' || ch == '\n' || ch == '\0') {
            tb__set_err(err, err_size, "%s: header name contains CR, LF or NUL", which);
            return TB_CONFIG;
        }
        if (!is_tchar(ch)) {
            tb__set_err(err, err_size, "%s: header name has a character not allowed in HTTP",
                        which);
            return TB_CONFIG;
        }
    }
    for (size_t i = 0; i < value_len; i++) {
        unsigned char ch = (unsigned char)value[i];
        if (ch == '\r' || ch == '\n' || ch == '\0') {
            /* the name is a valid token here, safe to show; the value never is */
            tb__set_err(err, err_size, "%s (%.*s): header value contains CR, LF or NUL", which,
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
        tb__set_err(err, err_size, "out of memory");
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
        tb__set_err(err, err_size, "header: missing name or value");
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
            tb__set_err(err, err_size, "%s: expected name=value", which);
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
            tb__set_err(err, err_size, "out of memory");
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
            tb__set_err(err, err_size, "%s: [%s] headers: %s", tb_dest_config_where(cfg, "headers"),
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
            tb__set_err(err, err_size, "%s: [%s] compression: expected none or gzip",
                        tb_dest_config_where(cfg, "compression"), name);
            return TB_CONFIG;
        }
    }
    static const char *const files[] = {"ca_file", "client_cert", "client_key"};
    char **slots[] = {&c->ca_file, &c->client_cert, &c->client_key};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        if ((v = tb_dest_config_get(cfg, files[i])) == NULL || !v[0])
            continue;
        if (access(v, R_OK) != 0) {
            char eb[128];
            int e = errno;
            if (strerror_r(e, eb, sizeof eb) != 0)
                snprintf(eb, sizeof eb, "errno %d", e);
            tb__set_err(err, err_size, "%s: [%s] %s: cannot read %s: %s",
                        tb_dest_config_where(cfg, files[i]), name, files[i], v, eb);
            return TB_CONFIG;
        }
        if (!replace_str(slots[i], v)) {
            tb__set_err(err, err_size, "[%s] %s: out of memory", name, files[i]);
            return TB_NOMEM;
        }
    }
    if (c->client_key && !c->client_cert) {
        tb__set_err(err, err_size, "%s: [%s] client_key: set without client_cert",
                    tb_dest_config_where(cfg, "client_key"), name);
        return TB_CONFIG;
    }
    if ((v = tb_dest_config_get(cfg, "insecure")) != NULL) {
        if (!tb__http_parse_bool(v, &c->insecure)) {
            tb__set_err(err, err_size, "%s: [%s] insecure: expected true or false",
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
    tb__one_line(dst);
    return dst;
}
