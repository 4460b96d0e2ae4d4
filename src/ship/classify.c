/*
 * classify.c — an HTTP answer → tb_export_result (classify.h has the
 * table).
 *
 * Design. The transport reports facts; this file turns them into one of
 * the outcomes the engine acts on, plus the one-line message that ends up
 * in `status`, dead letters and logs:
 *
 * - A transport failure is a retry. Its outcome is unknown when the body
 *   went out (or libcurl resent it on a fresh connection): the engine then
 *   counts the resend as a possible duplicate. The one exception is a 2xx
 *   whose reply was over the size cap: the batch was accepted, and
 *   retrying it would repeat it forever.
 *
 * - A refusal's message is what the server said: the JSON error message
 *   when there is one, else the first 200 bytes of the body, cut between
 *   UTF-8 characters and made one line. It comes from the server, not from
 *   our config, so it holds no credential of ours unless the server echoes
 *   one: exporters that send a key in a way a server may echo mask it
 *   afterwards (openai.c).
 *
 * - Retry-After comes as delta seconds or an HTTP-date; the date forms are
 *   read with libcurl's curl_getdate() (a parser, not the transport), and
 *   a date in the past means "now".
 */
#include "classify.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#define REFUSAL_RAW_BYTES 200

/* Cut s at `n` bytes without splitting a UTF-8 sequence. */
static size_t utf8_cut(const char *s, size_t len, size_t n)
{
    if (len <= n)
        return len;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

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
            tb__one_line(dst);
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
    tb__one_line(dst);
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
        tb__one_line(result->message);
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
