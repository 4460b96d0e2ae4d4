/*
 * trace.c — tb_trace, the Agents SDK's trace object in C.
 *
 * A trace is reference counted: the caller holds one reference and every
 * span started in it holds another, so tb_trace_free may come before the
 * spans are freed. While tracing is disabled a trace is a no-op that no
 * processor sees. The parse/validate helpers for caller text live here and
 * are shared with span.c (tracing_internal.h).
 */
#include "tracing_internal.h"
#include "json_print.h"

#include <stdatomic.h>
#include <string.h>

tb_status tb__parse_object(const char *json, const char *what, cJSON **out)
{
    *out = NULL;
    if (!json)
        return TB_OK;
    size_t bad;
    if (!tb__utf8_valid(json, strlen(json), &bad))
        return tb__set_error(TB_INVALID, "%s: invalid UTF-8 at byte %zu", what, bad);
    cJSON *v = cJSON_Parse(json);
    if (!v)
        return tb__set_error(TB_INVALID, "%s: not valid JSON", what);
    if (!cJSON_IsObject(v)) {
        cJSON_Delete(v);
        return tb__set_error(TB_INVALID, "%s: expected a JSON object", what);
    }
    *out = v;
    return TB_OK;
}

bool tb__valid_text(const char *s, const char *what)
{
    size_t bad;
    if (s && !tb__utf8_valid(s, strlen(s), &bad)) {
        tb__set_error(TB_INVALID, "%s: invalid UTF-8 at byte %zu", what, bad);
        return false;
    }
    return true;
}

void tb_trace_free(tb_trace *t)
{
    if (!t || atomic_fetch_sub(&t->refs, 1) != 1)
        return;
    tb__free_mem(t->workflow_name);
    tb__free_mem(t->group_id);
    cJSON_Delete(t->metadata);
    tb__free_mem(t);
}

tb_status tb_trace_start(tb_trace **out, const char *workflow_name, const tb_trace_options *opts)
{
    if (!out)
        return tb__set_error(TB_INVALID, "tb_trace_start: out is NULL");
    *out = NULL;
    tb__json_init();
    if (opts && opts->version != TB_TRACE_OPTIONS_VERSION)
        return tb__set_error(TB_INVALID, "tb_trace_start: options version %u is not %u",
                             opts->version, TB_TRACE_OPTIONS_VERSION);
    tb_trace *t = tb__calloc(1, sizeof *t);
    if (!t)
        return tb__set_error(TB_NOMEM, "out of memory starting a trace");
    atomic_init(&t->refs, 1);
    tb_status st;
    if (tb_tracing_disabled()) {
        t->noop = true;
        snprintf(t->id, sizeof t->id, "no-op");
        *out = t;
        return TB_OK;
    }
    if (!tb__valid_text(workflow_name, "workflow_name") ||
        !tb__valid_text(opts ? opts->group_id : NULL, "group_id")) {
        st = TB_INVALID;
        goto fail;
    }
    if (opts && opts->trace_id) {
        if (!tb__valid_text(opts->trace_id, "trace_id")) {
            st = TB_INVALID;
            goto fail;
        }
        if (!tb__valid_id(opts->trace_id) || strlen(opts->trace_id) >= sizeof t->id) {
            st = tb__set_error(TB_INVALID, "trace_id: expected a non-empty id of at most %zu bytes",
                               sizeof t->id - 1);
            goto fail;
        }
        snprintf(t->id, sizeof t->id, "%s", opts->trace_id);
    } else if ((st = tb__new_trace_id(t->id)) != TB_OK) {
        goto fail;
    }
    t->workflow_name = tb__strdup(workflow_name ? workflow_name : "Agent workflow");
    if (!t->workflow_name ||
        (opts && opts->group_id && !(t->group_id = tb__strdup(opts->group_id)))) {
        st = tb__set_error(TB_NOMEM, "out of memory starting a trace");
        goto fail;
    }
    if ((st = tb__parse_object(opts ? opts->metadata_json : NULL, "metadata", &t->metadata)) !=
        TB_OK)
        goto fail;
    *out = t;
    return tb__fan_out(TB__HOOK_TRACE_START, t, NULL);
fail:
    tb_trace_free(t);
    return st;
}

tb_status tb_trace_end(tb_trace *t)
{
    if (!t)
        return tb__set_error(TB_INVALID, "tb_trace_end: trace is NULL");
    if (t->ended)
        return tb__set_error(TB_MISUSE, "trace %s already ended", t->id);
    t->ended = true;
    if (t->noop)
        return TB_OK;
    return tb__fan_out(TB__HOOK_TRACE_END, t, NULL);
}

const char *tb_trace_id(const tb_trace *t)
{
    return t ? t->id : NULL;
}

tb_status tb_trace_export_json(const tb_trace *t, char **out)
{
    if (!out)
        return tb__set_error(TB_INVALID, "tb_trace_export_json: out is NULL");
    *out = NULL;
    if (!t)
        return tb__set_error(TB_INVALID, "tb_trace_export_json: trace is NULL");
    if (t->noop)
        return tb__set_error(TB_DISABLED, "no-op trace has no export");
    tb__json_init();
    cJSON *o = cJSON_CreateObject();
    cJSON *md = t->metadata ? cJSON_Duplicate(t->metadata, true) : cJSON_CreateNull();
    if (!o || !md || !cJSON_AddStringToObject(o, "object", "trace") ||
        !cJSON_AddStringToObject(o, "id", t->id) ||
        !cJSON_AddStringToObject(o, "workflow_name", t->workflow_name) ||
        !(t->group_id ? cJSON_AddStringToObject(o, "group_id", t->group_id)
                      : cJSON_AddNullToObject(o, "group_id"))) {
        cJSON_Delete(o);
        cJSON_Delete(md);
        return tb__set_error(TB_NOMEM, "out of memory exporting a trace");
    }
    if (!cJSON_AddItemToObject(o, "metadata", md)) {
        cJSON_Delete(o);
        cJSON_Delete(md);
        return tb__set_error(TB_NOMEM, "out of memory exporting a trace");
    }
    *out = tb__json_print(o);
    cJSON_Delete(o);
    return *out ? TB_OK : tb__set_error(TB_NOMEM, "out of memory exporting a trace");
}
