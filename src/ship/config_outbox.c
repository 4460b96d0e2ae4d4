/*
 * config_outbox.c — the [outbox] section as tb_outbox_options, for callers
 * that open an outbox from a configuration (the CLI, the bindings) without
 * reaching into the config's internals.
 */
#include "config_internal.h"

tb_status tb_config_outbox_options(const tb_config *cfg, tb_outbox_options *o)
{
    if (!cfg || !o)
        return tb__set_error(TB_INVALID, "tb_config_outbox_options: NULL argument");
    o->durability = cfg->durability;
    o->max_size = cfg->max_size;
    o->full_policy = cfg->full_policy;
    o->queue_capacity = cfg->queue_capacity;
    o->queue_policy = cfg->queue_policy;
    o->redact = cfg->redact;
    return TB_OK;
}
