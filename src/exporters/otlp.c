/*
 * otlp.c — the `otlp` destination. Placeholder until its exporter lands: the
 * type is known to the config, and `ship` says it is not available yet.
 */
#include "internal.h"

static tb_status create(void **self, const tb_dest_config *cfg, char *err, size_t err_size)
{
    *self = NULL;
    snprintf(err, err_size, "%s: [%s] type = otlp is not available in this build yet",
             tb_dest_config_where(cfg, "type"), tb_dest_config_name(cfg));
    return TB_CONFIG;
}

static tb_status send_batch(void *self, const tb_record *records, size_t n,
                            tb_export_result *result)
{
    (void)self;
    (void)records;
    (void)n;
    (void)result;
    return TB_ERROR;
}

static void destroy(void *self)
{
    (void)self;
}

const tb_exporter_vtable tb__exporter_otlp = {
    .version = TB_EXPORTER_VERSION,
    .type = "otlp",
    .keys = NULL,
    .create = create,
    .send = send_batch,
    .flush = NULL,
    .destroy = destroy,
};
