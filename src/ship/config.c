/*
 * config.c — the configuration model (README "Configuration"): how a
 * tb_config is freed and read.
 *
 * Design. A tb_config is written only while it is loaded (config_ini.c
 * from a file, config_env.c from the environment, both through the
 * builders of config_build.c) and is read-only afterwards, so every
 * accessor below is pure and may be called from any thread on a
 * configuration that threads share. That is why tb_dest_config_where()
 * does not format anything: each key's "FILE:LINE" is made once, when the
 * key is added, and the accessor only picks the right string.
 *
 * A destination keeps every `key = value` of its section in order (the
 * common keys too), after ${VAR} expansion, with the line it came from; the
 * common keys are also parsed into fields once they passed validation
 * (config_keys.c). Exporters read their own keys as strings through
 * tb_dest_config_get().
 *
 * This file is the floor of the config*.c files: it knows nothing of
 * loading (no parser, no errors), and they all read the model through it.
 */
#include "config_internal.h"

#include <stdio.h>
#include <string.h>

static void dest_free_fields(tb_dest_config *d)
{
    tb__free_mem(d->name);
    tb__free_mem(d->type);
    tb__free_mem(d->file);
    tb__free_mem(d->where);
    for (size_t i = 0; i < d->n_kv; i++) {
        tb__free_mem(d->kv[i].key);
        tb__free_mem(d->kv[i].value);
        tb__free_mem(d->kv[i].where);
        tb__free_mem(d->kv[i].vars);
        tb__free_mem(d->kv[i].unset);
    }
    tb__free_mem(d->kv);
}

void tb_config_free(tb_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->n_dests; i++)
        dest_free_fields(&cfg->dests[i]);
    tb__free_mem(cfg->dests);
    tb__free_mem(cfg->file);
    tb__free_mem(cfg->outbox_path);
    tb__free_mem(cfg->serve_listen);
    tb__free_mem(cfg->serve_token_unset);
    if (cfg->serve_token) {
        memset(cfg->serve_token, 0, strlen(cfg->serve_token));
        tb__free_mem(cfg->serve_token);
    }
    tb__free_mem(cfg);
}

const tb__kv *tb__cfg_find_kv(const tb_dest_config *d, const char *key)
{
    for (size_t i = 0; i < d->n_kv; i++)
        if (strcmp(d->kv[i].key, key) == 0)
            return &d->kv[i];
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Accessors                                                                 */
/* ------------------------------------------------------------------------ */

const char *tb_config_outbox_path(const tb_config *cfg)
{
    return cfg ? cfg->outbox_path : NULL;
}

size_t tb_config_destination_count(const tb_config *cfg)
{
    return cfg ? cfg->n_dests : 0;
}

const tb_dest_config *tb_config_destination(const tb_config *cfg, size_t index)
{
    return cfg && index < cfg->n_dests ? &cfg->dests[index] : NULL;
}

const tb_dest_config *tb_config_find_destination(const tb_config *cfg, const char *name)
{
    if (!cfg || !name)
        return NULL;
    for (size_t i = 0; i < cfg->n_dests; i++)
        if (strcmp(cfg->dests[i].name, name) == 0)
            return &cfg->dests[i];
    return NULL;
}

const char *tb_dest_config_name(const tb_dest_config *cfg)
{
    return cfg ? cfg->name : NULL;
}

const char *tb_dest_config_type(const tb_dest_config *cfg)
{
    return cfg ? cfg->type : NULL;
}

const char *tb_dest_config_get(const tb_dest_config *cfg, const char *key)
{
    if (!cfg || !key)
        return NULL;
    const tb__kv *kv = tb__cfg_find_kv(cfg, key);
    return kv ? kv->value : NULL;
}

/* Pure: the strings were made at load time (tb__cfg_add_dest/_add_kv,
 * config_build.c). A
 * tb_dest_config filled in by hand rather than loaded (white-box tests do
 * that) has none; it gets a per-thread buffer, valid until the calling
 * thread's next call, which still writes nothing shared. */
const char *tb_dest_config_where(const tb_dest_config *cfg, const char *key)
{
    static _Thread_local char scratch[320];
    if (!cfg)
        return "";
    if (cfg->line <= 0)
        return TB__CFG_ENV_WHERE;
    const tb__kv *kv = key ? tb__cfg_find_kv(cfg, key) : NULL;
    if (kv && kv->line > 0) {
        if (kv->where)
            return kv->where;
        snprintf(scratch, sizeof scratch, "%s:%d", cfg->file, kv->line);
        return scratch;
    }
    if (cfg->where)
        return cfg->where;
    snprintf(scratch, sizeof scratch, "%s:%d", cfg->file, cfg->line);
    return scratch;
}

int64_t tb_dest_config_timeout_ms(const tb_dest_config *cfg)
{
    return cfg ? cfg->timeout_ms : 30000;
}

tb_status tb_config_serve_settings(const tb_config *cfg, tb_serve_settings *out)
{
    if (!cfg || !out)
        return tb__set_error(TB_INVALID, "tb_config_serve_settings: NULL argument");
    if (cfg->serve_token_unset)
        return tb__set_error(TB_CONFIG, "%s", cfg->serve_token_unset);
    *out = (tb_serve_settings){.listen = cfg->serve_listen,
                               .token = cfg->serve_token,
                               .max_body = cfg->serve_max_body,
                               .max_connections = cfg->serve_max_connections,
                               .timeout_ms = cfg->serve_timeout_ms};
    return TB_OK;
}
