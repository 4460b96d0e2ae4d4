/*
 * config_keys.c — the key tables and validation (README
 * "Configuration").
 *
 * Design. Every key has a kind (tb_config_kind, include/tracebox/
 * exporter.h), and one function, tb__cfg_check_value(), checks a value
 * against its kind and range, for [outbox] and [shipper] as for
 * destinations. The core owns only the keys every destination type takes
 * (k_common, and k_http for types flagged TB_EXPORTER_HTTP); each type
 * declares the rest in its own table, at the end of its file under
 * src/exporters/, referenced from its vtable (config_keys). So this file
 * knows no exporter's key or variable: a destination section is checked
 * against the table of the type its `type = …` names, found through the
 * exporter registry, the same way for a built-in type and for one a user
 * registered. A type registered the first way (vtable.keys, names only)
 * accepts the common keys plus those names, as strings.
 *
 * A destination section is collected first (its `type` may come last) and
 * checked when it ends: unknown keys (the error lists the valid ones), each
 * value, then the required keys in table order. The parsed common keys land
 * in the tb_dest_config fields the shipper reads.
 *
 * Errors: see config_parse.h (recorded by config_build.c). Which values
 * may be quoted is decided here and only here (check_value's `shown`).
 */
#include "config_parse.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define I64MAX INT64_MAX

/* Keys every destination accepts. */
static const tb_config_key k_common[] = {
    {.name = "type", .kind = TB_KEY_STRING},
    {.name = "batch_size", .kind = TB_KEY_INT, .min = 1, .max = 100000},
    {.name = "max_batch_bytes", .kind = TB_KEY_SIZE, .min = 1},
    {.name = "timeout", .kind = TB_KEY_DURATION, .min = 1},
    {.name = "max_age", .kind = TB_KEY_DURATION},
    {.name = "start", .kind = TB_KEY_ENUM, .choices = "oldest|latest"},
    {.name = "redact", .kind = TB_KEY_ENUM, .choices = "none|io"},
    {.name = NULL}};

/* Keys every HTTP destination (TB_EXPORTER_HTTP) accepts. */
static const tb_config_key k_http[] = {
    {.name = "headers", .kind = TB_KEY_HEADERS, .flags = TB_KEY_SECRET},
    {.name = "compression", .kind = TB_KEY_ENUM, .choices = "none|gzip"},
    {.name = "ca_file", .kind = TB_KEY_STRING},
    {.name = "insecure", .kind = TB_KEY_BOOL},
    {.name = NULL}};

/* The built-in types, in the order messages list them. Their keys are in
 * their own files; the registry (exporter.c) resolves a name to a vtable. */
static const tb_exporter_vtable *const k_builtin[] = {
    &tb__exporter_otlp,    &tb__exporter_openai, &tb__exporter_langfuse, &tb__exporter_arize,
    &tb__exporter_phoenix, &tb__exporter_wandb,  &tb__exporter_file,     &tb__exporter_webhook,
};
#define N_BUILTIN (sizeof k_builtin / sizeof k_builtin[0])

const tb_exporter_vtable *tb__cfg_builtin(size_t i)
{
    return i < N_BUILTIN ? k_builtin[i] : NULL;
}

/* ------------------------------------------------------------------------ */
/* Values                                                                    */
/* ------------------------------------------------------------------------ */

const tb_config_key *tb__cfg_find_key(const tb_config_key *keys, const char *name)
{
    for (; keys && keys->name; keys++)
        if (strcmp(keys->name, name) == 0)
            return keys;
    return NULL;
}

/* Append ", name" (or "name" first) to buf; 0 when it no longer fits. */
static int add_name(char *buf, size_t size, size_t *n, const char *name)
{
    int w = snprintf(buf + *n, size - *n, "%s%s", *n ? ", " : "", name);
    if (w < 0 || (size_t)w >= size - *n)
        return 0;
    *n += (size_t)w;
    return 1;
}

void tb__cfg_key_names(char *buf, size_t size, const tb_config_key *keys)
{
    size_t n = 0;
    buf[0] = '\0';
    for (; keys && keys->name; keys++)
        if (!add_name(buf, size, &n, keys->name))
            return;
}

/* A value never shown whatever its kind: flagged, or named like a secret
 * (…key, …secret…, …token…, …password…), in case a table forgot the flag. */
static int is_secret(const tb_config_key *k)
{
    size_t n = strlen(k->name);
    return (k->flags & TB_KEY_SECRET) || (n >= 3 && strcmp(k->name + n - 3, "key") == 0) ||
           strstr(k->name, "secret") != NULL || strstr(k->name, "token") != NULL ||
           strstr(k->name, "password") != NULL;
}

/* Is `v` (of length n) one of "a|b|c"? Sets *index. */
static int in_choices(const char *choices, const char *v, size_t n, int64_t *index)
{
    int64_t i = 0;
    const char *c = choices ? choices : "";
    for (;;) {
        const char *bar = strchr(c, '|');
        size_t cn = bar ? (size_t)(bar - c) : strlen(c);
        if (cn == n && strncmp(c, v, n) == 0) {
            *index = i;
            return 1;
        }
        if (!bar)
            return 0;
        c = bar + 1;
        i++;
    }
}

static int parse_int(const char *v, int64_t *out)
{
    if (!*v || isspace((unsigned char)*v))
        return 0;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno != 0 || *end != '\0')
        return 0;
    *out = (int64_t)x;
    return 1;
}

static int check_headers(const char *v, size_t *bad_item)
{
    size_t item = 0;
    const char *s = v;
    while (*s) {
        const char *comma = strchr(s, ',');
        size_t n = comma ? (size_t)(comma - s) : strlen(s);
        item++;
        const char *eq = memchr(s, '=', n);
        size_t blank = 0;
        while (blank < n && isspace((unsigned char)s[blank]))
            blank++;
        if (blank < n) { /* empty items (a trailing comma) are allowed */
            if (!eq || eq == s + blank) {
                *bad_item = item;
                return 0;
            }
        }
        if (!comma)
            break;
        s = comma + 1;
    }
    return 1;
}

static int check_list(const char *choices, const char *v)
{
    const char *s = v;
    for (;;) {
        while (isspace((unsigned char)*s))
            s++;
        const char *comma = strchr(s, ',');
        size_t n = comma ? (size_t)(comma - s) : strlen(s);
        while (n > 0 && isspace((unsigned char)s[n - 1]))
            n--;
        int64_t ignored;
        if (!in_choices(choices, s, n, &ignored))
            return 0;
        if (!comma)
            return 1;
        s = comma + 1;
    }
}

int tb__cfg_check_value(tb__cfg_parser *p, const tb_config_key *k, const char *v, int64_t *num,
                        int line, const char *var, const char *section, int hidden)
{
    char shown[64];
    tb__cfg_quote(shown, sizeof shown, v);
    /* a value from ${VAR} may be a secret put under the wrong key */
    if (hidden || is_secret(k))
        snprintf(shown, sizeof shown, "(value hidden)");
    int64_t max = k->max > 0 ? k->max : I64MAX;
    *num = 0;
    switch (k->kind) {
    case TB_KEY_STRING:
        return 1;
    case TB_KEY_URL:
        if (*v && strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0) {
            tb__cfg_fail(p, line, var, section, k->name,
                         "not an http:// or https:// URL (write the full URL, e.g. "
                         "https://host:port)");
            return 0;
        }
        return 1;
    case TB_KEY_DURATION:
        if (!tb__parse_duration_ms(v, num)) {
            tb__cfg_fail(p, line, var, section, k->name,
                         "`%s` is not a duration (use a number with ms, s, m, h, d or w, e.g. "
                         "30s)",
                         shown);
            return 0;
        }
        break;
    case TB_KEY_SIZE:
        if (!tb__parse_size(v, num)) {
            tb__cfg_fail(p, line, var, section, k->name,
                         "`%s` is not a size (use bytes or a number with KiB, MiB, GiB, KB, MB, "
                         "GB, e.g. 500MB)",
                         shown);
            return 0;
        }
        break;
    case TB_KEY_INT:
        if (!parse_int(v, num)) {
            tb__cfg_fail(p, line, var, section, k->name,
                         "`%s` is not an integer (use digits only, from %lld to %lld)", shown,
                         (long long)k->min, (long long)max);
            return 0;
        }
        break;
    case TB_KEY_ENUM:
        if (!in_choices(k->choices, v, strlen(v), num)) {
            tb__cfg_fail(p, line, var, section, k->name, "`%s` is not allowed (use %s)", shown,
                         k->choices ? k->choices : "");
            return 0;
        }
        return 1;
    case TB_KEY_LIST:
        if (!check_list(k->choices, v)) {
            tb__cfg_fail(p, line, var, section, k->name,
                         "`%s` is not allowed (use one or more of %s, separated by commas)", shown,
                         k->choices ? k->choices : "");
            return 0;
        }
        return 1;
    case TB_KEY_BOOL:
        if (strcmp(v, "true") == 0)
            *num = 1;
        else if (strcmp(v, "false") != 0) {
            tb__cfg_fail(p, line, var, section, k->name,
                         "`%s` is not a boolean (use true or false)", shown);
            return 0;
        }
        return 1;
    case TB_KEY_HEADERS: {
        size_t bad = 0;
        if (!check_headers(v, &bad)) {
            tb__cfg_fail(p, line, var, section, k->name,
                         "item %zu is not name=value (write Name=value,Other=value)", bad);
            return 0;
        }
        return 1;
    }
    default: /* a kind from a newer header: accept it as a string */
        return 1;
    }
    /* numeric kinds: range (the parsers refuse negative durations and sizes) */
    if (*num < k->min || *num > max) {
        if (max == I64MAX && k->min == 1)
            tb__cfg_fail(p, line, var, section, k->name, "`%s` is too small (use more than 0)",
                         shown);
        else if (max == I64MAX)
            tb__cfg_fail(p, line, var, section, k->name, "`%s` is too small (use at least %lld)",
                         shown, (long long)k->min);
        else
            tb__cfg_fail(p, line, var, section, k->name, "`%s` is out of range (use %lld to %lld)",
                         shown, (long long)k->min, (long long)max);
        return 0;
    }
    return 1;
}

/* ------------------------------------------------------------------------ */
/* Destination types                                                         */
/* ------------------------------------------------------------------------ */

/* The one place that reads a vtable's key declaration. (When the vtable's
 * version next changes, this is where the new members get gated on it.) */
int tb__cfg_type_find(const char *type, tb__cfg_type *out)
{
    memset(out, 0, sizeof *out);
    const tb_exporter_vtable *vt = tb__exporter_find(type);
    if (!vt)
        return 0;
    out->vt = vt;
    if (vt->config_keys) {
        out->keys = vt->config_keys;
        out->flags = vt->config_flags;
        out->env_switch = vt->config_env_switch;
    } else {
        out->names = vt->keys;
    }
    return 1;
}

/* "otlp, openai, …": the built-in type names, for messages. */
static void type_names(char *buf, size_t size)
{
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < N_BUILTIN; i++)
        if (!add_name(buf, size, &n, k_builtin[i]->type))
            return;
}

/* The spec of `key` for a destination of type `t`; NULL when the type does
 * not accept it. A version-1 name gets a string spec written to *scratch.
 * The core's own spec wins for the common keys (a type lists one of them
 * only to give it environment variables). */
static const tb_config_key *dest_key(const tb__cfg_type *t, const char *key, tb_config_key *scratch)
{
    const tb_config_key *k = tb__cfg_find_key(k_common, key);
    if (k)
        return k;
    if ((t->flags & TB_EXPORTER_HTTP) && (k = tb__cfg_find_key(k_http, key)) != NULL)
        return k;
    if (t->keys)
        return tb__cfg_find_key(t->keys, key);
    for (const char *const *n = t->names; n && *n; n++) {
        if (strcmp(*n, key) == 0) {
            memset(scratch, 0, sizeof *scratch);
            scratch->name = *n;
            scratch->kind = TB_KEY_STRING;
            return scratch;
        }
    }
    return NULL;
}

/* "a, b, c" of every key a type accepts, for the unknown-key hint: the
 * common ones first, then the type's own. */
static void accepted_keys(char *buf, size_t size, const tb__cfg_type *t)
{
    size_t n = 0;
    buf[0] = '\0';
    const tb_config_key *lists[2] = {k_common, (t->flags & TB_EXPORTER_HTTP) ? k_http : NULL};
    for (size_t l = 0; l < 2; l++)
        for (const tb_config_key *k = lists[l]; k && k->name; k++)
            if (!add_name(buf, size, &n, k->name))
                return;
    for (const tb_config_key *k = t->keys; k && k->name; k++) {
        if (tb__cfg_find_key(k_common, k->name) ||
            ((t->flags & TB_EXPORTER_HTTP) && tb__cfg_find_key(k_http, k->name)))
            continue; /* listed above */
        if (!add_name(buf, size, &n, k->name))
            return;
    }
    for (const char *const *k = t->keys ? NULL : t->names; k && *k; k++)
        if (!add_name(buf, size, &n, *k))
            return;
}

/* Is `key` set, non-empty, in d? */
static int is_set(const tb_dest_config *d, const char *key)
{
    const tb__kv *kv = key ? tb__cfg_find_kv(d, key) : NULL;
    return kv && kv->value[0];
}

void tb__cfg_check_dest(tb__cfg_parser *p, tb_dest_config *d, const char *const *vars)
{
    char names[200];
    const tb__kv *type_kv = tb__cfg_find_kv(d, "type");
    if (!type_kv || !*type_kv->value) {
        type_names(names, sizeof names);
        tb__cfg_fail(p, d->line, NULL, d->name, "type",
                     "missing (add type = one of %s, or a registered exporter type)", names);
        p->err_line = INT_MAX; /* known only at the section's end */
        return;
    }
    tb__cfg_type t;
    if (!tb__cfg_type_find(type_kv->value, &t)) {
        char shown[64];
        tb__cfg_quote(shown, sizeof shown, type_kv->value);
        if (type_kv->hidden || vars)
            snprintf(shown, sizeof shown, "(value hidden)");
        type_names(names, sizeof names);
        tb__cfg_fail(p, type_kv->line, vars ? vars[type_kv - d->kv] : NULL, d->name, "type",
                     "unknown type `%s` (use one of %s, or register it with "
                     "tb_exporter_register())",
                     shown, names);
        return;
    }
    d->type = tb__strdup(type_kv->value);
    if (!d->type) {
        tb__cfg_fail_nomem(p);
        return;
    }

    for (size_t i = 0; i < d->n_kv; i++) {
        const tb__kv *kv = &d->kv[i];
        const char *var = vars ? vars[i] : NULL;
        tb_config_key scratch;
        const tb_config_key *k = dest_key(&t, kv->key, &scratch);
        if (!k) {
            char keys[600];
            accepted_keys(keys, sizeof keys, &t);
            tb__cfg_fail(p, kv->line, var, d->name, kv->key,
                         "unknown key for type %s (use one of: %s)", d->type, keys);
            return;
        }
        int64_t num;
        if (!tb__cfg_check_value(p, k, kv->value, &num, kv->line, var, d->name, kv->hidden || var))
            return;
        if (strcmp(k->name, "batch_size") == 0)
            d->batch_size = (int)num;
        else if (strcmp(k->name, "max_batch_bytes") == 0)
            d->max_batch_bytes = num;
        else if (strcmp(k->name, "timeout") == 0)
            d->timeout_ms = num;
        else if (strcmp(k->name, "max_age") == 0)
            d->max_age_ms = num;
        else if (strcmp(k->name, "start") == 0)
            d->start_latest = num == 1;
        else if (strcmp(k->name, "redact") == 0)
            d->redact = num == 1;
    }

    /* Required keys, in the order the type lists them. */
    for (const tb_config_key *k = t.keys; k && k->name; k++) {
        if (!(k->flags & TB_KEY_REQUIRED) || is_set(d, k->name) || is_set(d, k->alternative))
            continue;
        if (k->alternative)
            tb__cfg_fail(p, d->line, NULL, d->name, k->name,
                         "missing (type %s needs %s or %s; set one of them)", d->type, k->name,
                         k->alternative);
        else
            tb__cfg_fail(p, d->line, NULL, d->name, k->name, "missing (type %s needs %s; set it)",
                         d->type, k->name);
        p->err_line = INT_MAX; /* known only at the section's end */
        return;
    }
}
