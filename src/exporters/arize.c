/*
 * exporters/arize.c — `type = arize`: OTLP/HTTP (protobuf) to Arize AX
 * with OpenInference attributes.
 *
 * Headers as Arize's own exporter (arize-otel) sends them: `authorization`
 * (the API key as it is, no "Bearer"), `arize-space-id` and
 * `arize-interface: otel`; it calls the older `api_key` / `space_id`
 * deprecated, so they are not sent. The project
 * is the resource attribute openinference.project.name (plus its legacy
 * alias model_id, and arize.project.name on every span, which Arize's own
 * exporters set): Arize answers 500 to spans with no project, so `project`
 * defaults to "default" rather than being left out. `endpoint` defaults to
 * https://otlp.arize.com/v1/traces; a base URL gets /v1/traces appended
 * (tb__otlp_traces_url) because Arize accepts and silently drops posts to
 * /v1. space_id and api_key are required.
 */
#include "otlp/encode.h"
#include "config_keylist.h"

#include <stdio.h>
#include <string.h>

#define DEFAULT_ENDPOINT "https://otlp.arize.com/v1/traces"
#define DEFAULT_PROJECT "default"

static tb_status arize_create(void **self, const tb_dest_config *cfg, char *err, size_t err_size)
{
    *self = NULL;
    const char *name = tb_dest_config_name(cfg);
    const char *endpoint = tb_dest_config_get(cfg, "endpoint");
    const char *space = tb_dest_config_get(cfg, "space_id");
    const char *key = tb_dest_config_get(cfg, "api_key");
    const char *project = tb_dest_config_get(cfg, "project");
    if (!space || !space[0] || !key || !key[0]) {
        const char *k = !space || !space[0] ? "space_id" : "api_key";
        snprintf(err, err_size, "%s: [%s] %s: missing or empty (set it, e.g. ${ARIZE_%s})",
                 tb_dest_config_where(cfg, k), name, k,
                 !space || !space[0] ? "SPACE_ID" : "API_KEY");
        return TB_CONFIG;
    }
    if (!project || !project[0])
        project = DEFAULT_PROJECT;
    char *url = tb__otlp_traces_url(endpoint && endpoint[0] ? endpoint : DEFAULT_ENDPOINT);
    if (!url) {
        snprintf(err, err_size, "[%s]: out of memory", name);
        return TB_NOMEM;
    }
    const char *headers[] = {"authorization", key, "arize-space-id", space, "arize-interface",
                             "otel",          NULL};
    const tb__otlp_kv res[] = {{"openinference.project.name", project}, {"model_id", project}};
    const tb__otlp_kv spn[] = {{"arize.project.name", project}};
    tb__otlp_sender_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.url = url;
    spec.url_key = "endpoint";
    spec.format = TB__OTLP_PROTOBUF;
    spec.encode.conventions = TB__OTLP_CONV_OPENINFERENCE;
    spec.encode.service_name = tb_dest_config_get(cfg, "service_name");
    spec.encode.resource_attrs = res;
    spec.encode.n_resource_attrs = sizeof res / sizeof res[0];
    spec.encode.span_attrs = spn;
    spec.encode.n_span_attrs = sizeof spn / sizeof spn[0];
    spec.headers = headers;
    tb_status st = tb__otlp_sender_create(self, cfg, &spec, err, err_size);
    tb__free_mem(url);
    return st;
}

/* The keys of `type = arize` beyond the common HTTP ones (config_keylist.h).
 * space_id and api_key are checked by arize_create(), not at load time, so
 * verbs that ship nothing work without them; without a file, either
 * variable builds the destination and half of the pair is an error. */
#define ARIZE_KEYS(X)                                                                              \
    X("endpoint", .kind = TB_KEY_URL, .default_value = DEFAULT_ENDPOINT)                           \
    X("space_id", .kind = TB_KEY_STRING, .flags = TB_KEY_ENV_TRIGGER | TB_KEY_ENV_NEEDED,          \
      .env = {"ARIZE_SPACE_ID"})                                                                   \
    X("api_key", .kind = TB_KEY_STRING,                                                            \
      .flags = TB_KEY_SECRET | TB_KEY_ENV_TRIGGER | TB_KEY_ENV_NEEDED, .env = {"ARIZE_API_KEY"})   \
    X("project", .kind = TB_KEY_STRING, .default_value = DEFAULT_PROJECT,                          \
      .env = {"ARIZE_PROJECT_NAME"})                                                               \
    X("service_name", .kind = TB_KEY_STRING, .env = {"OTEL_SERVICE_NAME"})                         \
    X("resource_attributes", .kind = TB_KEY_STRING, .env = {"OTEL_RESOURCE_ATTRIBUTES"})

static const tb_config_key arize_config_keys[] = {ARIZE_KEYS(TB__KEY_SPEC) TB__KEY_END};
static const char *const arize_keys[] = {ARIZE_KEYS(TB__KEY_NAME) NULL};

const tb_exporter_vtable tb__exporter_arize = {
    .version = TB_EXPORTER_VERSION,
    .type = "arize",
    .keys = arize_keys,
    .create = arize_create,
    .send = tb__otlp_sender_send,
    .send_with = tb__otlp_sender_send_with,
    .flush = NULL,
    .destroy = tb__otlp_sender_destroy,
    .config_keys = arize_config_keys,
    .config_flags = TB_EXPORTER_HTTP,
};
