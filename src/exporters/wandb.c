/*
 * exporters/wandb.c — `type = wandb`: OTLP/HTTP (protobuf) to W&B Weave.
 *
 * Weave's OTLP endpoint (default https://trace.wandb.ai/otel/v1/traces;
 * dedicated installs https://<sub>.wandb.io/traces/otel/v1/traces) takes
 * protobuf only. A bare host (https://trace.wandb.ai) gets /otel/v1/traces,
 * another base (…/traces/otel) /v1/traces (tb__otlp_traces_url). Auth is the
 * `wandb-api-key` header. The project routes two ways and both are sent:
 * the resource attributes wandb.entity + wandb.project (preferred by Weave)
 * and the header project_id: entity/project. Weave drops spans with no
 * entity and project, so `project` must be "entity/project"; api_key and
 * project are required. GenAI and OpenInference attributes (Weave reads
 * both).
 */
#include "otlp/encode.h"
#include "config_keylist.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define DEFAULT_ENDPOINT "https://trace.wandb.ai/otel/v1/traces"

/* The traces URL of `endpoint`: a URL with no path is Weave's host. */
static char *traces_url(const char *endpoint)
{
    const char *host = strstr(endpoint, "://");
    host = host ? host + 3 : endpoint;
    const char *path = strchr(host, '/');
    if (path && path[strspn(path, "/")] != '\0')
        return tb__otlp_traces_url(endpoint);
    size_t len = (size_t)(path ? path - endpoint : (ptrdiff_t)strlen(endpoint));
    size_t size = len + sizeof "/otel/v1/traces";
    char *url = tb__malloc(size);
    if (url)
        snprintf(url, size, "%.*s/otel/v1/traces", (int)len, endpoint);
    return url;
}

static tb_status wandb_create(void **self, const tb_dest_config *cfg, char *err, size_t err_size)
{
    *self = NULL;
    const char *name = tb_dest_config_name(cfg);
    const char *endpoint = tb_dest_config_get(cfg, "endpoint");
    const char *key = tb_dest_config_get(cfg, "api_key");
    const char *project = tb_dest_config_get(cfg, "project");
    if (!key || !key[0]) {
        snprintf(err, err_size,
                 "%s: [%s] api_key: missing or empty (set it, e.g. ${WANDB_API_KEY})",
                 tb_dest_config_where(cfg, "api_key"), name);
        return TB_CONFIG;
    }
    const char *slash = project ? strchr(project, '/') : NULL;
    if (!slash || slash == project || !slash[1] || strchr(slash + 1, '/')) {
        snprintf(err, err_size,
                 "%s: [%s] project: expected entity/project (with WANDB_PROJECT alone, set "
                 "WANDB_ENTITY too)",
                 tb_dest_config_where(cfg, "project"), name);
        return TB_CONFIG;
    }
    char entity[256];
    size_t elen = (size_t)(slash - project);
    if (elen >= sizeof entity) {
        snprintf(err, err_size, "%s: [%s] project: the entity is too long",
                 tb_dest_config_where(cfg, "project"), name);
        return TB_CONFIG;
    }
    memcpy(entity, project, elen);
    entity[elen] = '\0';
    char *url = traces_url(endpoint && endpoint[0] ? endpoint : DEFAULT_ENDPOINT);
    if (!url) {
        snprintf(err, err_size, "[%s]: out of memory", name);
        return TB_NOMEM;
    }
    const char *headers[] = {"wandb-api-key", key, "project_id", project, NULL};
    const tb__otlp_kv res[] = {{"wandb.entity", entity}, {"wandb.project", slash + 1}};
    tb__otlp_sender_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.url = url;
    spec.url_key = "endpoint";
    spec.format = TB__OTLP_PROTOBUF;
    spec.encode.conventions =
        TB__OTLP_CONV_GENAI | TB__OTLP_CONV_OPENINFERENCE | TB__OTLP_CONV_WANDB;
    spec.encode.service_name = tb_dest_config_get(cfg, "service_name");
    spec.encode.resource_attrs = res;
    spec.encode.n_resource_attrs = 2;
    spec.headers = headers;
    tb_status st = tb__otlp_sender_create(self, cfg, &spec, err, err_size);
    tb__free_mem(url);
    return st;
}

/* The keys of `type = wandb` beyond the common HTTP ones (config_keylist.h).
 * api_key and project are checked by wandb_create(). Without a file, the
 * destination needs both WANDB_API_KEY and WANDB_PROJECT (the key alone is
 * common on training machines and builds nothing); WANDB_ENTITY, when set,
 * makes the project entity/project. */
#define WANDB_KEYS(X)                                                                              \
    X("endpoint", .kind = TB_KEY_URL, .default_value = DEFAULT_ENDPOINT)                           \
    X("api_key", .kind = TB_KEY_STRING, .flags = TB_KEY_SECRET | TB_KEY_ENV_NEEDED,                \
      .env = {"WANDB_API_KEY"})                                                                    \
    X("project", .kind = TB_KEY_STRING, .flags = TB_KEY_ENV_NEEDED,                                \
      .env = {"${WANDB_ENTITY}/${WANDB_PROJECT}", "WANDB_PROJECT"})                                \
    X("service_name", .kind = TB_KEY_STRING, .env = {"OTEL_SERVICE_NAME"})                         \
    X("resource_attributes", .kind = TB_KEY_STRING, .env = {"OTEL_RESOURCE_ATTRIBUTES"})

static const tb_config_key wandb_config_keys[] = {WANDB_KEYS(TB__KEY_SPEC) TB__KEY_END};
static const char *const wandb_keys[] = {WANDB_KEYS(TB__KEY_NAME) NULL};

const tb_exporter_vtable tb__exporter_wandb = {
    .version = TB_EXPORTER_VERSION,
    .type = "wandb",
    .keys = wandb_keys,
    .create = wandb_create,
    .send = tb__otlp_sender_send,
    .send_with = tb__otlp_sender_send_with,
    .flush = NULL,
    .destroy = tb__otlp_sender_destroy,
    .config_keys = wandb_config_keys,
    .config_flags = TB_EXPORTER_HTTP,
};
