/*
 * classify.h — what an HTTP answer means for a batch (internal): the table
 * of README "Delivery semantics", in code.
 *
 * The transport (src/net/http.h) says what happened — a status, a body, a
 * Retry-After, or a transport failure and whether the body went out — in a
 * tb__http_response. What that means for delivery is the shipper's policy,
 * not the transport's, so it lives on this floor:
 *
 *     2xx                        delivered (also when only the reply was
 *                                over the size cap)
 *     408, 429, 500, 502-504,    retry (Retry-After passed on); a transport
 *     transport failure          failure after the body went out has an
 *                                unknown outcome
 *     401, 403                   auth (the key, not the data: long backoff)
 *     413                        too large (the engine splits)
 *     other 4xx                  refused (the engine bisects, dead-letters)
 *     1xx, 3xx, other 5xx        retry: nothing says the data is bad
 *
 * The response struct is declared here, not in http.h, so that this floor
 * needs nothing from the one above (http.h includes this header). The
 * names keep their tb__http_ prefix: they read an HTTP exchange, whichever
 * floor does it.
 *
 * Every function is pure (no shared state); any thread.
 */
#ifndef TRACEBOX_CLASSIFY_H
#define TRACEBOX_CLASSIFY_H

#include "internal.h"

/* One POST's outcome, as the transport fills it (tb__http_post). */
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

/* Map a response to the response classes above. Sets outcome,
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
