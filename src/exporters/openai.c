/*
 * exporters/openai.c — `type = openai`: the OpenAI traces dashboard.
 *
 * The exporter follows webhook.c: create() reads base_url (default
 * https://api.openai.com), api_key, organization and project plus the
 * common HTTP keys, and opens one keep-alive connection to
 * {base_url}/v1/traces/ingest with the headers the Agents SDK sends
 * (Bearer key, Content-Type: application/json, OpenAI-Beta: traces=v1,
 * OpenAI-Organization / OpenAI-Project when set; User-Agent tracebox/<v>
 * comes from http.c). send() writes {"data":[record,…]} in seq order, each
 * record as the sanitizer leaves it (openai_sanitize.c: ingest's limits and
 * shapes), and lets tb__http_classify() map the answer (2xx/204 →
 * delivered; the shipper does the rest: 401/403 back off, 413 split, other
 * 4xx bisect and dead-letter). The key lives in the connection's config
 * and in this object only to mask it: a refusal's body may echo it, and
 * result->message ends up in the outbox file.
 */
#include "http.h"
#include "classify.h"
#include "openai_sanitize.h"
#include "config_keylist.h"

#include <stdio.h>
#include <string.h>

#define DEFAULT_BASE_URL "https://api.openai.com"
#define INGEST_PATH "/traces/ingest"

typedef struct openai {
    tb__http *http;
    char *api_key; /* only to mask it out of messages */
    tb__buf body;  /* reused between batches */
} openai;

/* {base_url}/v1/traces/ingest. A base that already ends in /v1 (the form
 * OPENAI_BASE_URL takes) or in the full ingest path is not doubled. */
static void ingest_url(tb__buf *b, const char *base)
{
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/')
        n--;
    tb__buf_append(b, base, n);
    static const char full[] = "/v1" INGEST_PATH;
    bool has_full =
        n >= sizeof full - 1 && memcmp(base + n - (sizeof full - 1), full, sizeof full - 1) == 0;
    if (!has_full)
        tb__buf_puts(b, n >= 3 && memcmp(base + n - 3, "/v1", 3) == 0 ? INGEST_PATH : full);
    tb__buf_append(b, "", 1);
}

static void openai_free(openai *o)
{
    if (!o)
        return;
    tb__http_close(o->http);
    if (o->api_key) {
        memset(o->api_key, 0, strlen(o->api_key));
        tb__free_mem(o->api_key);
    }
    tb__buf_free(&o->body);
    tb__free_mem(o);
}

static tb_status openai_create(void **self, const tb_dest_config *cfg, char *err, size_t err_size)
{
    *self = NULL;
    const char *name = tb_dest_config_name(cfg);
    const char *base = tb_dest_config_get(cfg, "base_url");
    const char *key = tb_dest_config_get(cfg, "api_key");
    const char *org = tb_dest_config_get(cfg, "organization");
    const char *project = tb_dest_config_get(cfg, "project");
    if (!base || !base[0])
        base = DEFAULT_BASE_URL;
    if (!key || !key[0]) {
        snprintf(err, err_size,
                 "%s: [%s] api_key: missing or empty (set api_key = ${OPENAI_API_KEY} and export "
                 "the key)",
                 tb_dest_config_where(cfg, key ? "api_key" : NULL), name);
        return TB_CONFIG;
    }
    tb__http_config hc;
    tb__http_config_init(&hc);
    tb__buf url = {0};
    openai *o = NULL;
    char why[400];
    tb_status st = tb__http_config_from_dest(&hc, cfg, err, err_size);
    if (st != TB_OK)
        goto done;
    ingest_url(&url, base);
    if (url.failed) {
        st = TB_NOMEM;
        snprintf(err, err_size, "[%s]: out of memory", name);
        goto done;
    }
    st = tb__http_config_set_url(&hc, url.data, why, sizeof why);
    if (st != TB_OK) {
        snprintf(err, err_size, "%s: [%s] base_url: %s",
                 tb_dest_config_where(cfg, tb_dest_config_get(cfg, "base_url") ? "base_url" : NULL),
                 name, why);
        goto done;
    }
    struct {
        const char *header, *value, *key;
    } hdrs[] = {{"OpenAI-Beta", "traces=v1", NULL},
                {"OpenAI-Organization", org, "organization"},
                {"OpenAI-Project", project, "project"}};
    for (size_t i = 0; i < sizeof hdrs / sizeof hdrs[0]; i++) {
        if (!hdrs[i].value || !hdrs[i].value[0])
            continue;
        st = tb__http_config_add_header(&hc, hdrs[i].header, hdrs[i].value, why, sizeof why);
        if (st != TB_OK) {
            snprintf(err, err_size, "%s: [%s] %s: %s",
                     tb_dest_config_where(cfg, hdrs[i].key ? hdrs[i].key : NULL), name,
                     hdrs[i].key ? hdrs[i].key : "header", why);
            goto done;
        }
    }
    if ((st = tb__http_config_set_content_type(&hc, "application/json")) != TB_OK ||
        (st = tb__http_config_set_bearer(&hc, key)) != TB_OK) {
        snprintf(err, err_size, "[%s]: out of memory", name);
        goto done;
    }
    o = tb__calloc(1, sizeof *o);
    if (!o || !(o->api_key = tb__strdup(key))) {
        st = TB_NOMEM;
        snprintf(err, err_size, "[%s]: out of memory", name);
        goto done;
    }
    st = tb__http_open(&o->http, &hc, why, sizeof why);
    if (st != TB_OK) {
        snprintf(err, err_size, "[%s]: %s", name, why);
        goto done;
    }
    *self = o;
    o = NULL;
done:
    openai_free(o);
    tb__buf_free(&url);
    tb__http_config_free(&hc);
    return st;
}

/* Overwrite every occurrence of the key in msg (a refusal body may echo
 * it). Keys shorter than 4 bytes are left alone, as http.c does. */
static void mask_key(const openai *o, char *msg)
{
    size_t n = o->api_key ? strlen(o->api_key) : 0;
    if (n < 4)
        return;
    char *hit;
    while ((hit = strstr(msg, o->api_key)) != NULL)
        memset(hit, '*', n);
}

static tb_status openai_send_with(void *self, const tb_export_host *host, const tb_record *records,
                                  size_t n, tb_export_result *result)
{
    openai *o = self;
    tb__buf *b = &o->body;
    b->len = 0;
    b->failed = false;
    tb__buf_puts(b, "{\"data\":[");
    size_t sent = 0;
    for (size_t i = 0; i < n; i++) {
        /* OTLP spans (`tracebox serve`) are not Agents SDK records: the
         * ingest endpoint would refuse them. Left out and counted. */
        if (records[i].kind && strcmp(records[i].kind, "otlp") == 0) {
            result->skipped_count++;
            continue;
        }
        if (sent++)
            tb__buf_append(b, ",", 1);
        const char *body = records[i].body;
        size_t len = records[i].body_len;
        if (!body || !len) {
            tb__buf_append(b, "null", 4);
            continue;
        }
        char *clean = NULL;
        size_t clean_len = 0;
        int r = tb__openai_sanitize_record(body, len, &clean, &clean_len);
        if (r == TB__OPENAI_NOMEM) {
            snprintf(result->message, sizeof result->message,
                     "out of memory preparing record %lld for ingest", (long long)records[i].seq);
            return TB_NOMEM;
        }
        if (r == TB__OPENAI_CHANGED)
            tb__buf_append(b, clean, clean_len);
        else
            tb__buf_append(b, body, len);
        tb__free_mem(clean);
    }
    tb__buf_puts(b, "]}");
    if (!sent) {
        result->outcome = TB_EXPORT_DELIVERED;
        return TB_OK;
    }
    if (b->failed) {
        snprintf(result->message, sizeof result->message, "out of memory building the batch");
        return TB_NOMEM;
    }
    tb__http_response resp;
    tb_status st = tb__http_post_with(o->http, host, b->data, b->len, &resp);
    if (st != TB_OK) {
        snprintf(result->message, sizeof result->message, "%s", resp.error);
        mask_key(o, result->message);
        return st;
    }
    tb__http_classify(&resp, result);
    mask_key(o, result->message);
    /* do not keep a huge batch buffer around between sends */
    if (b->cap > ((size_t)16 << 20))
        tb__buf_free(b);
    return TB_OK;
}

static tb_status openai_send(void *self, const tb_record *records, size_t n,
                             tb_export_result *result)
{
    return openai_send_with(self, NULL, records, n, result);
}

static void openai_destroy(void *self)
{
    openai_free(self);
}

/* The keys of `type = openai` beyond the common HTTP ones (config_keylist.h).
 * Without a file, OPENAI_API_KEY builds a destination only with
 * TRACEBOX_OPENAI=1 (the vtable's switch): the key is set for far more than
 * traces. */
#define OPENAI_KEYS(X)                                                                             \
    X("base_url", .kind = TB_KEY_URL, .default_value = DEFAULT_BASE_URL)                           \
    X("api_key", .kind = TB_KEY_STRING,                                                            \
      .flags = TB_KEY_REQUIRED | TB_KEY_SECRET | TB_KEY_ENV_NEEDED, .env = {"OPENAI_API_KEY"})     \
    X("organization", .kind = TB_KEY_STRING, .env = {"OPENAI_ORG_ID"})                             \
    X("project", .kind = TB_KEY_STRING, .env = {"OPENAI_PROJECT_ID"})

static const tb_config_key openai_config_keys[] = {OPENAI_KEYS(TB__KEY_SPEC) TB__KEY_END};
static const char *const openai_keys[] = {OPENAI_KEYS(TB__KEY_NAME) NULL};

const tb_exporter_vtable tb__exporter_openai = {
    .version = TB_EXPORTER_VERSION,
    .type = "openai",
    .keys = openai_keys,
    .create = openai_create,
    .send = openai_send,
    .send_with = openai_send_with,
    .flush = NULL,
    .destroy = openai_destroy,
    .config_keys = openai_config_keys,
    .config_flags = TB_EXPORTER_HTTP,
    .config_env_switch = "TRACEBOX_OPENAI",
};
