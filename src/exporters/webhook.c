/*
 * exporters/webhook.c — `type = webhook`: POST a JSON array of records.
 *
 * The smallest HTTP exporter, and the template the others copy: create()
 * reads `url` plus the common HTTP keys (http_config.c does the work),
 * send() joins the records' bodies — already JSON objects, sent verbatim —
 * into `[body,body,…]`, POSTs it with Content-Type application/json over
 * the instance's one keep-alive connection, and lets tb__http_classify()
 * (src/ship/classify.c) turn the answer into a tb_export_result. No
 * delivery state lives here.
 */
#include "http.h"
#include "classify.h"
#include "config_keylist.h"

#include <stdio.h>
#include <string.h>

typedef struct webhook {
    tb__http *http;
    tb__buf body; /* reused between batches */
} webhook;

static tb_status webhook_create(void **self, const tb_dest_config *cfg, char *err, size_t err_size)
{
    *self = NULL;
    const char *name = tb_dest_config_name(cfg);
    const char *url = tb_dest_config_get(cfg, "url");
    if (!url || !url[0]) {
        snprintf(err, err_size, "%s: [%s] url: missing (the URL to POST records to)",
                 tb_dest_config_where(cfg, NULL), name);
        return TB_CONFIG;
    }
    tb__http_config hc;
    tb__http_config_init(&hc);
    char why[400];
    tb_status st = tb__http_config_from_dest(&hc, cfg, err, err_size);
    if (st != TB_OK)
        goto done;
    st = tb__http_config_set_url(&hc, url, why, sizeof why);
    if (st != TB_OK) {
        snprintf(err, err_size, "%s: [%s] url: %s", tb_dest_config_where(cfg, "url"), name, why);
        goto done;
    }
    if ((st = tb__http_config_set_content_type(&hc, "application/json")) != TB_OK) {
        snprintf(err, err_size, "[%s]: out of memory", name);
        goto done;
    }
    webhook *w = tb__calloc(1, sizeof *w);
    if (!w) {
        st = TB_NOMEM;
        snprintf(err, err_size, "[%s]: out of memory", name);
        goto done;
    }
    st = tb__http_open(&w->http, &hc, why, sizeof why);
    if (st != TB_OK) {
        snprintf(err, err_size, "[%s]: %s", name, why);
        tb__free_mem(w);
        goto done;
    }
    *self = w;
done:
    tb__http_config_free(&hc);
    return st;
}

static tb_status webhook_send_with(void *self, const tb_export_host *host, const tb_record *records,
                                   size_t n, tb_export_result *result)
{
    webhook *w = self;
    tb__buf *b = &w->body;
    b->len = 0;
    b->failed = false;
    tb__buf_append(b, "[", 1);
    for (size_t i = 0; i < n; i++) {
        if (i)
            tb__buf_append(b, ",", 1);
        if (records[i].body && records[i].body_len)
            tb__buf_append(b, records[i].body, records[i].body_len);
        else
            tb__buf_append(b, "null", 4);
    }
    tb__buf_append(b, "]", 1);
    if (b->failed) {
        snprintf(result->message, sizeof result->message, "out of memory building the batch");
        return TB_NOMEM;
    }
    tb__http_response resp;
    tb_status st = tb__http_post_with(w->http, host, b->data, b->len, &resp);
    if (st != TB_OK) {
        snprintf(result->message, sizeof result->message, "%s", resp.error);
        return st;
    }
    tb__http_classify(&resp, result);
    /* do not keep a huge batch buffer around between sends */
    if (b->cap > ((size_t)16 << 20))
        tb__buf_free(b);
    return TB_OK;
}

static tb_status webhook_send(void *self, const tb_record *records, size_t n,
                              tb_export_result *result)
{
    return webhook_send_with(self, NULL, records, n, result);
}

static void webhook_destroy(void *self)
{
    webhook *w = self;
    if (!w)
        return;
    tb__http_close(w->http);
    tb__buf_free(&w->body);
    tb__free_mem(w);
}

/* The keys of `type = webhook` beyond the common HTTP ones (config_keylist.h). */
#define WEBHOOK_KEYS(X) X("url", .kind = TB_KEY_URL, .flags = TB_KEY_REQUIRED)

static const tb_config_key webhook_config_keys[] = {WEBHOOK_KEYS(TB__KEY_SPEC) TB__KEY_END};
static const char *const webhook_keys[] = {WEBHOOK_KEYS(TB__KEY_NAME) NULL};

const tb_exporter_vtable tb__exporter_webhook = {
    .version = TB_EXPORTER_VERSION,
    .type = "webhook",
    .keys = webhook_keys,
    .create = webhook_create,
    .send = webhook_send,
    .send_with = webhook_send_with,
    .flush = NULL,
    .destroy = webhook_destroy,
    .config_keys = webhook_config_keys,
    .config_flags = TB_EXPORTER_HTTP,
};
