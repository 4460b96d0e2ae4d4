/*
 * exporters/langfuse.c — `type = langfuse`: OTLP/HTTP (protobuf) to
 * Langfuse's OpenTelemetry endpoint, {host}/api/public/otel/v1/traces.
 *
 * Langfuse's old batch ingestion API is retired on Langfuse Cloud and off by
 * default on self-hosted v4, so this is OTLP through the shared sender
 * (exporters/otlp.c) with Langfuse's own needs:
 *   - Basic auth public_key:secret_key; `x-langfuse-ingestion-version: 4`
 *     (the real-time v4 write path) and our own x-langfuse-sdk-name /
 *     -version (never "python" or "javascript", which the server
 *     version-gates);
 *   - the langfuse.* attributes on top of GenAI and OpenInference
 *     (conventions.c): langfuse.observation.type on every span,
 *     langfuse.trace.name and session.id from the trace on every span of
 *     it (v4 reads trace-level attributes from any span), model name,
 *     usage_details as a JSON string on generation spans only,
 *     observation input / output.
 * Langfuse answers 200 with a JSON body even to protobuf; the sender reads
 * that as a full success. v4 does not de-duplicate a span sent twice: a
 * resend after an unknown outcome (README "Delivery semantics") can show a
 * span twice.
 */
#include "otlp/encode.h"
#include "config_keylist.h"

#include <stdio.h>
#include <string.h>

#define DEFAULT_HOST "https://cloud.langfuse.com"
#define OTLP_PATH "/api/public/otel/v1/traces"

static tb_status langfuse_create(void **self, const tb_dest_config *cfg, char *err, size_t err_size)
{
    *self = NULL;
    const char *name = tb_dest_config_name(cfg);
    const char *host = tb_dest_config_get(cfg, "host");
    const char *pk = tb_dest_config_get(cfg, "public_key");
    const char *sk = tb_dest_config_get(cfg, "secret_key");
    if (!pk || !pk[0] || !sk || !sk[0]) {
        const char *key = !pk || !pk[0] ? "public_key" : "secret_key";
        snprintf(err, err_size, "%s: [%s] %s: missing or empty (set it, e.g. ${LANGFUSE_%s})",
                 tb_dest_config_where(cfg, key), name, key,
                 !pk || !pk[0] ? "PUBLIC_KEY" : "SECRET_KEY");
        return TB_CONFIG;
    }
    if (!host || !host[0])
        host = DEFAULT_HOST;
    size_t len = strlen(host);
    while (len > 0 && host[len - 1] == '/')
        len--;
    size_t size = len + sizeof OTLP_PATH;
    char *url = tb__malloc(size);
    if (!url) {
        snprintf(err, err_size, "[%s]: out of memory", name);
        return TB_NOMEM;
    }
    snprintf(url, size, "%.*s%s", (int)len, host, OTLP_PATH);
    const char *headers[] = {"x-langfuse-ingestion-version",
                             "4",
                             "x-langfuse-sdk-name",
                             "tracebox",
                             "x-langfuse-sdk-version",
                             tb_version(),
                             NULL};
    tb__otlp_sender_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.url = url;
    spec.url_key = "host";
    spec.format = TB__OTLP_PROTOBUF;
    spec.encode.conventions =
        TB__OTLP_CONV_GENAI | TB__OTLP_CONV_OPENINFERENCE | TB__OTLP_CONV_LANGFUSE;
    spec.encode.service_name = tb_dest_config_get(cfg, "service_name");
    spec.headers = headers;
    spec.basic_user = pk;
    spec.basic_password = sk;
    tb_status st = tb__otlp_sender_create(self, cfg, &spec, err, err_size);
    tb__free_mem(url);
    return st;
}

/* The keys of `type = langfuse` beyond the common HTTP ones
 * (config_keylist.h). Without a file, either key variable builds the
 * destination and half of the pair is an error; LANGFUSE_BASE_URL wins over
 * LANGFUSE_HOST (the legacy name), and with neither the host is Langfuse
 * Cloud. */
#define LANGFUSE_KEYS(X)                                                                           \
    X("host", .kind = TB_KEY_URL, .flags = TB_KEY_ENV_DEFAULT, .default_value = DEFAULT_HOST,      \
      .env = {"LANGFUSE_BASE_URL", "LANGFUSE_HOST"})                                               \
    X("public_key", .kind = TB_KEY_STRING,                                                         \
      .flags = TB_KEY_REQUIRED | TB_KEY_SECRET | TB_KEY_ENV_TRIGGER | TB_KEY_ENV_NEEDED,           \
      .env = {"LANGFUSE_PUBLIC_KEY"})                                                              \
    X("secret_key", .kind = TB_KEY_STRING,                                                         \
      .flags = TB_KEY_REQUIRED | TB_KEY_SECRET | TB_KEY_ENV_TRIGGER | TB_KEY_ENV_NEEDED,           \
      .env = {"LANGFUSE_SECRET_KEY"})                                                              \
    X("service_name", .kind = TB_KEY_STRING, .env = {"OTEL_SERVICE_NAME"})                         \
    X("resource_attributes", .kind = TB_KEY_STRING, .env = {"OTEL_RESOURCE_ATTRIBUTES"})

static const tb_config_key langfuse_config_keys[] = {LANGFUSE_KEYS(TB__KEY_SPEC) TB__KEY_END};
static const char *const langfuse_keys[] = {LANGFUSE_KEYS(TB__KEY_NAME) NULL};

const tb_exporter_vtable tb__exporter_langfuse = {
    .version = TB_EXPORTER_VERSION,
    .type = "langfuse",
    .keys = langfuse_keys,
    .create = langfuse_create,
    .send = tb__otlp_sender_send,
    .send_with = tb__otlp_sender_send_with,
    .flush = NULL,
    .destroy = tb__otlp_sender_destroy,
    .config_keys = langfuse_config_keys,
    .config_flags = TB_EXPORTER_HTTP,
};
