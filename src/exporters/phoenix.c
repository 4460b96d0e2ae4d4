/*
 * exporters/phoenix.c — `type = phoenix`: OTLP/HTTP to an Arize Phoenix
 * server, OpenInference attributes.
 *
 * Phoenix takes protobuf only and compares Content-Type exactly against
 * "application/x-protobuf", which is what the sender sends. `endpoint`
 * (default http://localhost:6006, PHOENIX_COLLECTOR_ENDPOINT) is a base:
 * /v1/traces is appended unless it is already there (tb__otlp_traces_url).
 * `api_key`, when set, goes out as Authorization: Bearer (Phoenix with auth
 * enabled). The project goes out twice, as Phoenix reads it: the
 * x-project-name header (which wins at Phoenix) and the resource attribute
 * openinference.project.name; default "default" (Phoenix's own default).
 */
#include "otlp/encode.h"
#include "config_keylist.h"

#include <stdio.h>
#include <string.h>

#define DEFAULT_ENDPOINT "http://localhost:6006"
#define DEFAULT_PROJECT "default"

static tb_status phoenix_create(void **self, const tb_dest_config *cfg, char *err, size_t err_size)
{
    *self = NULL;
    const char *name = tb_dest_config_name(cfg);
    const char *endpoint = tb_dest_config_get(cfg, "endpoint");
    const char *key = tb_dest_config_get(cfg, "api_key");
    const char *project = tb_dest_config_get(cfg, "project");
    if (!project || !project[0])
        project = DEFAULT_PROJECT;
    char *url = tb__otlp_traces_url(endpoint && endpoint[0] ? endpoint : DEFAULT_ENDPOINT);
    if (!url) {
        snprintf(err, err_size, "[%s]: out of memory", name);
        return TB_NOMEM;
    }
    const tb__otlp_kv res[] = {{"openinference.project.name", project}};
    const char *headers[] = {"x-project-name", project, NULL};
    tb__otlp_sender_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.url = url;
    spec.url_key = "endpoint";
    spec.format = TB__OTLP_PROTOBUF;
    spec.encode.conventions = TB__OTLP_CONV_OPENINFERENCE;
    spec.encode.service_name = tb_dest_config_get(cfg, "service_name");
    spec.encode.resource_attrs = res;
    spec.encode.n_resource_attrs = 1;
    spec.headers = headers;
    spec.bearer = key && key[0] ? key : NULL;
    tb_status st = tb__otlp_sender_create(self, cfg, &spec, err, err_size);
    tb__free_mem(url);
    return st;
}

/* The keys of `type = phoenix` beyond the common HTTP ones
 * (config_keylist.h); without a file, PHOENIX_COLLECTOR_ENDPOINT builds the
 * destination. */
#define PHOENIX_KEYS(X)                                                                            \
    X("endpoint", .kind = TB_KEY_URL, .flags = TB_KEY_ENV_TRIGGER,                                 \
      .default_value = DEFAULT_ENDPOINT, .env = {"PHOENIX_COLLECTOR_ENDPOINT"})                    \
    X("api_key", .kind = TB_KEY_STRING, .flags = TB_KEY_SECRET, .env = {"PHOENIX_API_KEY"})        \
    X("project", .kind = TB_KEY_STRING, .default_value = DEFAULT_PROJECT,                          \
      .env = {"PHOENIX_PROJECT_NAME"})                                                             \
    X("headers", .kind = TB_KEY_HEADERS, .flags = TB_KEY_SECRET,                                   \
      .env = {"PHOENIX_CLIENT_HEADERS"})                                                           \
    X("service_name", .kind = TB_KEY_STRING, .env = {"OTEL_SERVICE_NAME"})                         \
    X("resource_attributes", .kind = TB_KEY_STRING, .env = {"OTEL_RESOURCE_ATTRIBUTES"})

static const tb_config_key phoenix_config_keys[] = {PHOENIX_KEYS(TB__KEY_SPEC) TB__KEY_END};
static const char *const phoenix_keys[] = {PHOENIX_KEYS(TB__KEY_NAME) NULL};

const tb_exporter_vtable tb__exporter_phoenix = {
    .version = TB_EXPORTER_VERSION,
    .type = "phoenix",
    .keys = phoenix_keys,
    .create = phoenix_create,
    .send = tb__otlp_sender_send,
    .send_with = tb__otlp_sender_send_with,
    .flush = NULL,
    .destroy = tb__otlp_sender_destroy,
    .config_keys = phoenix_config_keys,
    .config_flags = TB_EXPORTER_HTTP,
};
