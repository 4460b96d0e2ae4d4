/*
 * exporters/otlp.c — `type = otlp`, and the OTLP/HTTP sender that every
 * OTLP-speaking destination (otlp, langfuse, arize, phoenix, wandb) wraps.
 *
 * The sender (tb__otlp_sender_*, declared in otlp/encode.h) is the webhook
 * template with an OTLP body: create() reads the common HTTP keys
 * (http_config.h), adds the destination's URL, content type, headers and
 * auth, and opens one keep-alive connection; send() encodes the batch with
 * tb__otlp_encode(), POSTs it, lets tb__http_classify() sort the answer, and
 * on a 2xx reads the ExportTraceServiceResponse: partial_success
 * .rejected_spans becomes result->rejected_count (OTLP does not say which
 * spans, so nothing is dead-lettered for it; the shipper counts it in
 * counters.rejected_unnamed). No delivery state lives here.
 *
 * A batch of trace records only gives no span: nothing is sent and the
 * batch counts as delivered (OTLP senders should not send empty
 * envelopes). Trace records are remembered in a small per-destination
 * cache (otlp/encode.h) so the spans of the next batch still get their
 * trace's attributes. A record whose body is not a JSON object cannot be
 * encoded: it is marked in result->rejected (a dead letter) and the rest of
 * the batch is sent.
 *
 * The destination: `endpoint` is a base to which /v1/traces is appended
 * (OTEL_EXPORTER_OTLP_ENDPOINT rules), `traces_endpoint` a full URL used
 * as is (it wins when both are set); `protocol` http/protobuf (default) or
 * http/json; `conventions` genai,openinference (default both);
 * `service_name` (default "tracebox").
 */
#include "http.h"
#include "classify.h"
#include "otlp/encode.h"
#include "config_keylist.h"

#include <stdio.h>
#include <string.h>

#define TRACE_CACHE_SIZE 256 /* x 16 KiB at most: 4 MiB per destination */
#define MAX_EXTRA 8

typedef struct sender {
    tb__http *http;
    tb__buf body; /* reused between batches */
    tb__otlp_format format;
    tb__otlp_options enc;
    char *service_name;
    char *res_text;            /* resource_attributes, split in place */
    char *strs[4 * MAX_EXTRA]; /* owned keys and values of the extras */
    size_t n_strs;
    tb__otlp_kv res[MAX_EXTRA], spn[MAX_EXTRA];
    tb__otlp_trace_cache *cache;
    unsigned char *bad;
    size_t bad_cap;
} sender;

/* The encoder's lookups during one send: the exporter's cache of trace
 * records first, then the outbox through the host the shipper handed us. */
typedef struct lookup_ctx {
    tb__otlp_trace_cache *cache;
    const tb_export_host *host;
} lookup_ctx;

static char *trace_lookup(void *ctx, const char *sdk_trace_id)
{
    const lookup_ctx *lc = ctx;
    char *body = tb__otlp_trace_cache_get(lc->cache, sdk_trace_id);
    char *stored = NULL;
    if (!body && lc->host && tb_export_host_trace(lc->host, sdk_trace_id, &stored) == TB_OK) {
        body = tb__strdup(stored);
        tb_free(stored);
    }
    return body;
}

typedef struct visit_adapter {
    tb__otlp_span_visit visit;
    void *ctx;
} visit_adapter;

static int visit_record(void *ctx, const tb_record *r)
{
    const visit_adapter *va = ctx;
    va->visit(va->ctx, r->seq, r->body, r->body_len);
    return 0;
}

static bool spans_lookup(void *ctx, const char *sdk_trace_id, int64_t before_seq,
                         tb__otlp_span_visit visit, void *visit_ctx)
{
    static const char *const types[] = {"handoff", "generation", "response", NULL};
    const lookup_ctx *lc = ctx;
    visit_adapter va = {visit, visit_ctx};
    return lc->host && tb_export_host_spans(lc->host, sdk_trace_id, before_seq, types, visit_record,
                                            &va) == TB_OK;
}

static const char *keep(sender *s, const char *v)
{
    if (s->n_strs >= sizeof s->strs / sizeof s->strs[0])
        return NULL;
    char *c = tb__strdup(v ? v : "");
    if (c)
        s->strs[s->n_strs++] = c;
    return c;
}

static bool copy_kvs(sender *s, tb__otlp_kv *dst, const tb__otlp_kv *src, size_t n)
{
    if (n > MAX_EXTRA)
        return false;
    for (size_t i = 0; i < n; i++) {
        dst[i].key = keep(s, src[i].key);
        dst[i].value = keep(s, src[i].value);
        if (!dst[i].key || !dst[i].value)
            return false;
    }
    return true;
}

void tb__otlp_sender_destroy(void *self)
{
    sender *s = self;
    if (!s)
        return;
    tb__http_close(s->http);
    tb__buf_free(&s->body);
    tb__free_mem(s->service_name);
    tb__free_mem(s->res_text);
    for (size_t i = 0; i < s->n_strs; i++)
        tb__free_mem(s->strs[i]);
    tb__otlp_trace_cache_free(s->cache);
    tb__free_mem(s->bad);
    tb__free_mem(s);
}

/* resource_attributes (OTEL_RESOURCE_ATTRIBUTES), for every OTLP-family
 * destination: k=v,k2=v2, values percent-decoded, added after the
 * destination's own resource attributes (which win on a same key, as
 * attributes set in code win over the variable in the OTel SDKs). A
 * service.name among them is the service name when service_name
 * (OTEL_SERVICE_NAME) is not set, as the spec says. */
static tb_status add_resource_attributes(sender *s, const tb_dest_config *cfg, const char *name,
                                         char *err, size_t err_size)
{
    const char *ra = tb_dest_config_get(cfg, "resource_attributes");
    if (!ra || !ra[0])
        return TB_OK;
    if (!(s->res_text = tb__strdup(ra))) {
        snprintf(err, err_size, "[%s]: out of memory", name);
        return TB_NOMEM;
    }
    size_t n_own = s->enc.n_resource_attrs, n = n_own;
    for (char *item = s->res_text, *next; item && *item; item = next) {
        next = strchr(item, ',');
        if (next)
            *next++ = '\0';
        char *eq = strchr(item, '=');
        while (*item == ' ')
            item++;
        if (!eq || eq == item) {
            if (!*item)
                continue;
            snprintf(err, err_size,
                     "%s: [%s] resource_attributes: expected key=value pairs separated by commas",
                     tb_dest_config_where(cfg, "resource_attributes"), name);
            return TB_CONFIG;
        }
        *eq = '\0';
        for (char *e = eq - 1; e > item && *e == ' '; e--)
            *e = '\0';
        char *v = eq + 1, *w = v;
        for (char *r = v; *r; r++) { /* percent-decoding, in place */
            if (r[0] == '%' && tb__hexval(r[1]) >= 0 && tb__hexval(r[2]) >= 0) {
                *w++ = (char)(tb__hexval(r[1]) * 16 + tb__hexval(r[2]));
                r += 2;
            } else {
                *w++ = *r;
            }
        }
        *w = '\0';
        if (strcmp(item, "service.name") == 0) {
            if (!s->enc.service_name)
                s->enc.service_name = v;
            continue;
        }
        bool own = false;
        for (size_t i = 0; i < n_own && !own; i++)
            own = strcmp(s->res[i].key, item) == 0;
        if (own)
            continue;
        if (n == MAX_EXTRA) {
            snprintf(err, err_size, "%s: [%s] resource_attributes: at most %d attributes",
                     tb_dest_config_where(cfg, "resource_attributes"), name,
                     MAX_EXTRA - (int)n_own);
            return TB_CONFIG;
        }
        s->res[n].key = item;
        s->res[n].value = v;
        n++;
    }
    s->enc.n_resource_attrs = n;
    return TB_OK;
}

tb_status tb__otlp_sender_create(void **self, const tb_dest_config *cfg,
                                 const tb__otlp_sender_spec *spec, char *err, size_t err_size)
{
    *self = NULL;
    const char *name = tb_dest_config_name(cfg);
    sender *s = NULL;
    char why[400];
    tb__http_config hc;
    tb__http_config_init(&hc);
    tb_status st = tb__http_config_from_dest(&hc, cfg, err, err_size);
    if (st != TB_OK)
        goto done;
    st = tb__http_config_set_url(&hc, spec->url, why, sizeof why);
    if (st != TB_OK) {
        snprintf(err, err_size, "%s: [%s] %s: %s", tb_dest_config_where(cfg, spec->url_key), name,
                 spec->url_key, why);
        goto done;
    }
    st = tb__http_config_set_content_type(
        &hc, spec->format == TB__OTLP_JSON ? "application/json" : "application/x-protobuf");
    if (st == TB_OK && spec->bearer)
        st = tb__http_config_set_bearer(&hc, spec->bearer);
    if (st == TB_OK && spec->basic_user)
        st = tb__http_config_set_basic(&hc, spec->basic_user, spec->basic_password);
    if (st != TB_OK) {
        snprintf(err, err_size, "[%s]: out of memory", name);
        goto done;
    }
    for (size_t i = 0; spec->headers && spec->headers[i] && spec->headers[i + 1]; i += 2) {
        st = tb__http_config_add_header(&hc, spec->headers[i], spec->headers[i + 1], why,
                                        sizeof why);
        if (st != TB_OK) {
            /* why names the header, never its value */
            snprintf(err, err_size, "%s: [%s] header %s: %s", tb_dest_config_where(cfg, NULL), name,
                     spec->headers[i], why);
            goto done;
        }
    }
    st = TB_NOMEM;
    s = tb__calloc(1, sizeof *s);
    if (!s)
        goto nomem;
    s->format = spec->format;
    s->enc = spec->encode;
    if (spec->encode.service_name && !(s->service_name = tb__strdup(spec->encode.service_name)))
        goto nomem;
    s->enc.service_name = s->service_name;
    if (!copy_kvs(s, s->res, spec->encode.resource_attrs, spec->encode.n_resource_attrs) ||
        !copy_kvs(s, s->spn, spec->encode.span_attrs, spec->encode.n_span_attrs))
        goto nomem;
    s->enc.resource_attrs = s->res;
    s->enc.span_attrs = s->spn;
    st = add_resource_attributes(s, cfg, name, err, err_size);
    if (st != TB_OK)
        goto done;
    st = TB_NOMEM;
    s->cache = tb__otlp_trace_cache_new(TRACE_CACHE_SIZE);
    if (!s->cache)
        goto nomem;
    s->enc.lookup = trace_lookup;
    s->enc.spans_lookup = spans_lookup;
    st = tb__http_open(&s->http, &hc, why, sizeof why);
    if (st != TB_OK) {
        snprintf(err, err_size, "[%s]: %s", name, why);
        goto done;
    }
    *self = s;
    s = NULL;
    st = TB_OK;
    goto done;
nomem:
    snprintf(err, err_size, "[%s]: out of memory", name);
done:
    tb__otlp_sender_destroy(s);
    tb__http_config_free(&hc);
    return st;
}

tb_status tb__otlp_sender_send(void *self, const tb_record *records, size_t n,
                               tb_export_result *result)
{
    return tb__otlp_sender_send_with(self, NULL, records, n, result);
}

tb_status tb__otlp_sender_send_with(void *self, const tb_export_host *host,
                                    const tb_record *records, size_t n, tb_export_result *result)
{
    sender *s = self;
    tb__otlp_trace_cache_put(s->cache, records, n);
    lookup_ctx lc = {s->cache, host};
    tb__otlp_options enc = s->enc;
    enc.lookup_ctx = &lc;
    if (n > s->bad_cap) {
        unsigned char *bad = tb__realloc(s->bad, n);
        if (!bad) {
            snprintf(result->message, sizeof result->message, "out of memory building the batch");
            return TB_NOMEM;
        }
        s->bad = bad;
        s->bad_cap = n;
    }
    if (n)
        memset(s->bad, 0, n);
    tb__buf *b = &s->body;
    b->len = 0;
    b->failed = false;
    tb__otlp_stats stats;
    tb_status st = tb__otlp_encode(b, records, n, s->format, &enc, s->bad, &stats, result->message,
                                   sizeof result->message);
    if (st != TB_OK)
        return st;
    if (stats.bad && result->rejected)
        for (size_t i = 0; i < n; i++)
            if (s->bad[i])
                result->rejected[i] = 1;
    if (stats.spans == 0 && n > 0) {
        /* trace records (or undecodable records) only: nothing to send (an
         * empty batch is a probe, tb_destination_probe: it is sent) */
        result->outcome = TB_EXPORT_DELIVERED;
        result->http_status = 0;
        result->message[0] = '\0';
        if (stats.bad)
            snprintf(result->message, sizeof result->message,
                     "not an SDK export object: cannot be encoded as OTLP");
        return TB_OK;
    }
    tb__http_response resp;
    st = tb__http_post_with(s->http, host, b->data, b->len, &resp);
    if (st != TB_OK) {
        snprintf(result->message, sizeof result->message, "%s", resp.error);
        return st;
    }
    tb__http_classify(&resp, result);
    if (result->outcome == TB_EXPORT_DELIVERED) {
        int64_t rejected = 0;
        char msg[300];
        tb__otlp_parse_response(s->format, resp.body, resp.body_len, &rejected, msg, sizeof msg);
        if (rejected > (int64_t)stats.spans)
            rejected = (int64_t)stats.spans;
        result->rejected_count = rejected;
        if (rejected > 0)
            snprintf(result->message, sizeof result->message,
                     "partial success: %lld of %zu spans rejected%s%s", (long long)rejected,
                     stats.spans, msg[0] ? ": " : "", msg);
        else if (stats.bad)
            snprintf(result->message, sizeof result->message,
                     "not an SDK export object: cannot be encoded as OTLP");
    }
    /* do not keep a huge batch buffer around between sends */
    if (b->cap > ((size_t)16 << 20))
        tb__buf_free(b);
    return TB_OK;
}

/* ---- type = otlp ---- */

static tb_status otlp_create(void **self, const tb_dest_config *cfg, char *err, size_t err_size)
{
    *self = NULL;
    const char *name = tb_dest_config_name(cfg);
    const char *endpoint = tb_dest_config_get(cfg, "endpoint");
    const char *traces = tb_dest_config_get(cfg, "traces_endpoint");
    const char *protocol = tb_dest_config_get(cfg, "protocol");
    const char *conv = tb_dest_config_get(cfg, "conventions");
    tb__otlp_sender_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.format =
        protocol && strcmp(protocol, "http/json") == 0 ? TB__OTLP_JSON : TB__OTLP_PROTOBUF;
    if (protocol && protocol[0] && strcmp(protocol, "http/json") != 0 &&
        strcmp(protocol, "http/protobuf") != 0) {
        snprintf(err, err_size, "%s: [%s] protocol: expected http/protobuf or http/json",
                 tb_dest_config_where(cfg, "protocol"), name);
        return TB_CONFIG;
    }
    spec.encode.conventions = TB__OTLP_CONV_GENAI | TB__OTLP_CONV_OPENINFERENCE;
    if (conv && conv[0] && !tb__otlp_parse_conventions(conv, &spec.encode.conventions)) {
        snprintf(err, err_size,
                 "%s: [%s] conventions: expected genai, openinference or both (comma-separated)",
                 tb_dest_config_where(cfg, "conventions"), name);
        return TB_CONFIG;
    }
    spec.encode.service_name = tb_dest_config_get(cfg, "service_name");
    char *url = NULL;
    if (traces && traces[0]) {
        spec.url_key = "traces_endpoint";
        url = tb__strdup(traces);
    } else if (endpoint && endpoint[0]) {
        /* OTEL_EXPORTER_OTLP_ENDPOINT: a base, "v1/traces" appended */
        spec.url_key = "endpoint";
        size_t len = strlen(endpoint);
        while (len > 0 && endpoint[len - 1] == '/')
            len--;
        size_t size = len + sizeof "/v1/traces";
        url = tb__malloc(size);
        if (url)
            snprintf(url, size, "%.*s/v1/traces", (int)len, endpoint);
    } else {
        snprintf(err, err_size,
                 "%s: [%s] endpoint: missing (the collector's base URL, e.g. "
                 "http://127.0.0.1:4318, or traces_endpoint with the full URL)",
                 tb_dest_config_where(cfg, NULL), name);
        return TB_CONFIG;
    }
    if (!url) {
        snprintf(err, err_size, "[%s]: out of memory", name);
        return TB_NOMEM;
    }
    spec.url = url;
    tb_status st = tb__otlp_sender_create(self, cfg, &spec, err, err_size);
    tb__free_mem(url);
    return st;
}

/* The keys of `type = otlp` beyond the common HTTP ones (config_keylist.h),
 * with the OpenTelemetry exporter variables (the exporter environment spec,
 * for an HTTP traces exporter): the signal-specific
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is its own key, used as is and winning
 * over the base (otlp_create); for the others the TRACES_ variable wins over
 * the generic one. `headers`, `compression`, `timeout` (a bare number from
 * the environment is milliseconds, as the spec has it), `ca_file`,
 * `client_cert` and `client_key` are
 * common keys listed here only for their variables. OTEL_..._PROTOCOL=grpc
 * is refused by the protocol key's choices (exit 78): only OTLP/HTTP is
 * spoken. */
#define OTLP_KEYS(X)                                                                               \
    X("endpoint", .kind = TB_KEY_URL, .flags = TB_KEY_REQUIRED | TB_KEY_ENV_TRIGGER,               \
      .alternative = "traces_endpoint", .env = {"OTEL_EXPORTER_OTLP_ENDPOINT"})                    \
    X("traces_endpoint", .kind = TB_KEY_URL, .flags = TB_KEY_ENV_TRIGGER,                          \
      .env = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"})                                               \
    X("protocol", .kind = TB_KEY_ENUM, .choices = "http/protobuf|http/json",                       \
      .default_value = "http/protobuf",                                                            \
      .env = {"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"})                \
    X("conventions", .kind = TB_KEY_LIST, .choices = "genai|openinference",                        \
      .default_value = "genai,openinference")                                                      \
    X("headers", .kind = TB_KEY_HEADERS, .flags = TB_KEY_SECRET,                                   \
      .env = {"OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS"})                  \
    X("compression", .kind = TB_KEY_ENUM, .choices = "none|gzip",                                  \
      .env = {"OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION"})          \
    X("timeout", .kind = TB_KEY_DURATION, .min = 1,                                                \
      .env = {"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"})                  \
    X("ca_file", .kind = TB_KEY_STRING,                                                            \
      .env = {"OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", "OTEL_EXPORTER_OTLP_CERTIFICATE"})          \
    X("client_cert", .kind = TB_KEY_STRING,                                                        \
      .env = {"OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",                                      \
              "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"})                                            \
    X("client_key", .kind = TB_KEY_STRING,                                                         \
      .env = {"OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY", "OTEL_EXPORTER_OTLP_CLIENT_KEY"})            \
    X("service_name", .kind = TB_KEY_STRING, .default_value = "tracebox",                          \
      .env = {"OTEL_SERVICE_NAME"})                                                                \
    X("resource_attributes", .kind = TB_KEY_STRING, .env = {"OTEL_RESOURCE_ATTRIBUTES"})

static const tb_config_key otlp_config_keys[] = {OTLP_KEYS(TB__KEY_SPEC) TB__KEY_END};
static const char *const otlp_keys[] = {OTLP_KEYS(TB__KEY_NAME) NULL};

const tb_exporter_vtable tb__exporter_otlp = {
    .version = TB_EXPORTER_VERSION,
    .type = "otlp",
    .keys = otlp_keys,
    .create = otlp_create,
    .send = tb__otlp_sender_send,
    .send_with = tb__otlp_sender_send_with,
    .flush = NULL,
    .destroy = tb__otlp_sender_destroy,
    .config_keys = otlp_config_keys,
    .config_flags = TB_EXPORTER_HTTP,
};
