/*
 * http.h — the HTTP transport every HTTP exporter shares (internal).
 *
 * Three pieces, one header each:
 *
 *   tb__http_config   what to send where: URL, headers, auth, TLS, gzip,
 *                     timeouts, response cap (http_config.h). Plain data
 *                     the exporter fills and frees; tb__http_open() copies
 *                     it.
 *
 *   tb__http          one worker's connection (here): a single reused CURL
 *                     easy handle (keep-alive) plus a copy of the config.
 *                     Not thread-safe: one thread at a time per object (the
 *                     shipper's lease guarantees that per destination).
 *
 *   tb__http_response what one POST gave, and tb__http_classify() to turn
 *                     it into a tb_export_result (src/ship/classify.h: the
 *                     response classes are delivery policy, a floor below).
 *
 * This header includes the other two, since its functions take their
 * types, so an exporter includes http.h (and classify.h when it
 * classifies, to say so).
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
#include "http_config.h"
#include "classify.h"

typedef struct tb__http tb__http;

/* Create a connection from cfg (deep-copied; cfg may be freed after).
 * curl_global_init runs once per process. On failure *out is NULL and err
 * holds one line. */
tb_status tb__http_open(tb__http **out, const tb__http_config *cfg, char *err, size_t err_size);
/* NULL is a no-op. */
void tb__http_close(tb__http *h);

/* POST body[0..len) to the configured URL. Returns TB_OK when *resp says
 * what happened — including an HTTP error status or a transport failure
 * (resp->transport_error) — and TB_NOMEM/TB_INVALID for a local failure
 * (resp->error says which). */
tb_status tb__http_post(tb__http *h, const void *body, size_t len, tb__http_response *resp);
/* The same, for a send: the transfer aborts (a transport failure, outcome
 * unknown) once tb_export_host_stopping(host) says so. NULL host: never. */
tb_status tb__http_post_with(tb__http *h, const tb_export_host *host, const void *body, size_t len,
                             tb__http_response *resp);

#endif
