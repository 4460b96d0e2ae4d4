/*
 * exporter.c — the registry of destination types: the built-in ones from
 * src/exporters/, and any a C user registers. Looked up by `type = …`.
 */
#include "internal.h"

#include <pthread.h>
#include <stddef.h>
#include <string.h>

#define MAX_USER_TYPES 32

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static const tb_exporter_vtable *user_types[MAX_USER_TYPES];
static size_t n_user;

static const tb_exporter_vtable *const builtin[] = {
    &tb__exporter_file,     &tb__exporter_webhook, &tb__exporter_otlp,    &tb__exporter_openai,
    &tb__exporter_langfuse, &tb__exporter_arize,   &tb__exporter_phoenix, &tb__exporter_wandb,
};

/* A version 1 vtable ends at destroy: the registry keeps a full-size copy
 * with the version 2 members zero, so the rest of the library reads one
 * layout. Copies live for the process (registration is for its life). */
static const tb_exporter_vtable *as_v2(const tb_exporter_vtable *vt)
{
    if (vt->version >= 2)
        return vt;
    tb_exporter_vtable *copy = tb__calloc(1, sizeof *copy);
    if (!copy)
        return NULL;
    memcpy(copy, vt, offsetof(tb_exporter_vtable, config_keys));
    copy->version = 2;
    return copy;
}

tb_status tb_exporter_register(const tb_exporter_vtable *vt)
{
    if (!vt || !vt->type || !*vt->type || !vt->create || !vt->destroy)
        return tb__set_error(TB_INVALID,
                             "tb_exporter_register: type, create, send and destroy are required");
    if (vt->version != 1 && vt->version != TB_EXPORTER_VERSION)
        return tb__set_error(TB_INVALID, "tb_exporter_register: version %u is not 1 or %u",
                             vt->version, TB_EXPORTER_VERSION);
    if (!vt->send && !(vt->version >= 2 && vt->send_with))
        return tb__set_error(TB_INVALID,
                             "tb_exporter_register: type, create, send and destroy are required");
    if (!(vt = as_v2(vt)))
        return tb__set_error(TB_NOMEM, "tb_exporter_register: out of memory");
    pthread_mutex_lock(&reg_mu);
    for (size_t i = 0; i < n_user; i++) {
        if (strcmp(user_types[i]->type, vt->type) == 0) {
            user_types[i] = vt;
            pthread_mutex_unlock(&reg_mu);
            return TB_OK;
        }
    }
    if (n_user == MAX_USER_TYPES) {
        pthread_mutex_unlock(&reg_mu);
        return tb__set_error(TB_FULL, "tb_exporter_register: at most %d types", MAX_USER_TYPES);
    }
    user_types[n_user++] = vt;
    pthread_mutex_unlock(&reg_mu);
    return TB_OK;
}

const tb_exporter_vtable *tb__exporter_find(const char *type)
{
    const tb_exporter_vtable *found = NULL;
    if (!type)
        return NULL;
    pthread_mutex_lock(&reg_mu);
    for (size_t i = 0; i < n_user && !found; i++)
        if (strcmp(user_types[i]->type, type) == 0)
            found = user_types[i];
    pthread_mutex_unlock(&reg_mu);
    for (size_t i = 0; !found && i < sizeof builtin / sizeof builtin[0]; i++)
        if (strcmp(builtin[i]->type, type) == 0)
            found = builtin[i];
    return found;
}
