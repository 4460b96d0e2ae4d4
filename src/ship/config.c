/*
 * config.c — the configuration model (DESIGN.md, "Configuration"): how a
 * tb_config is built, freed and read.
 *
 * Design. A tb_config is written only while it is loaded (config_ini.c
 * from a file, config_env.c from the environment, both through the helpers
 * here) and is read-only afterwards, so every accessor below is pure and may
 * be called from any thread on a configuration that threads share. That is
 * why tb_dest_config_where() does not format anything: each key's
 * "FILE:LINE" is made once, when the key is added, and the accessor only
 * picks the right string.
 *
 * A destination keeps every `key = value` of its section in order (the
 * common keys too), after ${VAR} expansion, with the line it came from; the
 * common keys are also parsed into fields once they passed validation
 * (config_keys.c). Exporters read their own keys as strings through
 * tb_dest_config_get().
 */
#include "config_parse.h"

#include <stdio.h>
#include <string.h>

void tb__cfg_defaults(tb_config *cfg)
{
    cfg->durability = TB_DURABILITY_FULL;
    cfg->max_size = 0;
    cfg->retention_ms = 0;
    cfg->full_policy = TB_FULL_REFUSE;
    cfg->queue_capacity = 0; /* the outbox's own default (8192) */
    cfg->queue_policy = TB_QUEUE_BLOCK;
    cfg->backoff_base_ms = 1000;
    cfg->backoff_cap_ms = 300000;
    cfg->auth_backoff_ms = 900000;
    cfg->lease_ms = 60000;
    cfg->poll_interval_ms = 1000;
}

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
    tb__free_mem(cfg);
}

/* "FILE:LINE", or NULL for line 0 (the environment). *ok is cleared when
 * memory runs out. */
static char *where_of(const char *file, int line, int *ok)
{
    if (line <= 0)
        return NULL;
    size_t size = strlen(file) + 16;
    char *w = tb__malloc(size);
    if (!w) {
        *ok = 0;
        return NULL;
    }
    snprintf(w, size, "%s:%d", file, line);
    return w;
}

size_t tb__cfg_add_dest(tb__cfg_parser *p, const char *name, const char *file, int line)
{
    tb_config *cfg = p->cfg;
    tb_dest_config *grown = tb__realloc(cfg->dests, (cfg->n_dests + 1) * sizeof *grown);
    if (!grown) {
        tb__cfg_fail_nomem(p);
        return (size_t)-1;
    }
    cfg->dests = grown;
    tb_dest_config *d = &cfg->dests[cfg->n_dests];
    memset(d, 0, sizeof *d);
    d->batch_size = 512;
    d->max_batch_bytes = 4 * 1024 * 1024;
    d->timeout_ms = 30000;
    d->max_age_ms = 0;
    d->start_latest = 0;
    d->line = line;
    d->name = tb__strdup(name);
    d->file = tb__strdup(file);
    int ok = d->name && d->file;
    if (ok)
        d->where = where_of(file, line, &ok);
    cfg->n_dests++; /* counted now so tb_config_free frees what is there */
    if (!ok) {
        tb__cfg_fail_nomem(p);
        return (size_t)-1;
    }
    return cfg->n_dests - 1;
}

int tb__cfg_add_kv(tb__cfg_parser *p, tb_dest_config *d, const char *key, char *value, int line)
{
    int ok = 1;
    char *k = NULL, *where = NULL;
    tb__kv *grown = tb__realloc(d->kv, (d->n_kv + 1) * sizeof *grown);
    if (!grown)
        goto nomem;
    d->kv = grown;
    k = tb__strdup(key);
    if (!k)
        goto nomem;
    where = where_of(d->file, line, &ok);
    if (!ok)
        goto nomem;
    d->kv[d->n_kv].key = k;
    d->kv[d->n_kv].value = value;
    d->kv[d->n_kv].line = line;
    d->kv[d->n_kv].hidden = 0;
    d->kv[d->n_kv].where = where;
    d->n_kv++;
    return 1;
nomem:
    tb__free_mem(k);
    tb__free_mem(value);
    tb__cfg_fail_nomem(p);
    return 0;
}

const tb__kv *tb__cfg_find_kv(const tb_dest_config *d, const char *key)
{
    for (size_t i = 0; i < d->n_kv; i++)
        if (strcmp(d->kv[i].key, key) == 0)
            return &d->kv[i];
    return NULL;
}

tb_status tb__cfg_finish(tb__cfg_parser *p, tb_config **out)
{
    tb_status st = p->st;
    if (st != TB_OK) {
        tb_config_free(p->cfg);
        p->cfg = NULL;
    } else {
        tb__clear_error();
    }
    *out = p->cfg;
    return st;
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

/* Pure: the strings were made at load time (tb__cfg_add_dest/_add_kv). A
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
