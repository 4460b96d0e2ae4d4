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

#include <curl/curl.h>

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
    {.name = "client_cert", .kind = TB_KEY_STRING},
    {.name = "client_key", .kind = TB_KEY_STRING},
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

int tb__cfg_url_ok(const char *v, char *why, size_t size)
{
    if (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0) {
        snprintf(why, size, "it does not start with http:// or https://");
        return 0;
    }
    /* the authority: between // and the first / ? or # */
    const char *auth = strstr(v, "//") + 2;
    size_t an = strcspn(auth, "/?#");
    if (an > 0 && auth[an - 1] == ':') {
        snprintf(why, size, "a `:` with no port after it");
        return 0;
    }
    CURLU *u = curl_url();
    if (!u) {
        snprintf(why, size, "out of memory");
        return 0;
    }
    CURLUcode rc = curl_url_set(u, CURLUPART_URL, v, 0);
    char *host = NULL;
    int ok =
        rc == CURLUE_OK && curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK && host && *host;
    if (!ok)
        snprintf(why, size, "%s",
                 rc == CURLUE_BAD_PORT_NUMBER ? "the port is not a number from 1 to 65535"
                 : rc != CURLUE_OK            ? curl_url_strerror(rc)
                                              : "no host name");
    curl_free(host);
    curl_url_cleanup(u);
    return ok;
}

/* The URL with its user and password replaced by *** and its query by
 * "(query hidden)": what may be shown of it. */
static void url_masked(const char *v, char *buf, size_t size)
{
    CURLU *u = curl_url();
    char *out = NULL, *user = NULL, *query = NULL;
    if (u && curl_url_set(u, CURLUPART_URL, v, 0) == CURLUE_OK) {
        if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK && user) {
            curl_url_set(u, CURLUPART_USER, "***", 0);
            curl_url_set(u, CURLUPART_PASSWORD, NULL, 0);
        }
        if (curl_url_get(u, CURLUPART_QUERY, &query, 0) == CURLUE_OK && query)
            curl_url_set(u, CURLUPART_QUERY, "(query-hidden)", 0);
        curl_url_get(u, CURLUPART_URL, &out, 0);
    }
    snprintf(buf, size, "%s", out ? out : "(not a URL)");
    curl_free(out);
    curl_free(user);
    curl_free(query);
    curl_url_cleanup(u);
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
    case TB_KEY_URL: {
        char why[160];
        if (*v && strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0) {
            tb__cfg_fail(p, line, var, section, k->name,
                         "not an http:// or https:// URL (write the full URL, e.g. "
                         "https://host:port)");
            return 0;
        }
        if (*v && !tb__cfg_url_ok(v, why, sizeof why)) {
            tb__cfg_fail(p, line, var, section, k->name,
                         "not a usable URL: %s (write the full URL, e.g. https://host:port)", why);
            return 0;
        }
        return 1;
    }
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

/* Edit distance between a and b (insert, delete, replace, swap of two
 * neighbours), for a did-you-mean; stops counting at 9. */
static int distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 40 || lb > 40)
        return 9;
    int d[41][41];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            int cost = a[i - 1] != b[j - 1];
            int best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < best)
                best = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    }
    return d[la][lb];
}

static void consider(const char *key, const char *name, const char **best, int *best_d)
{
    int dist = distance(key, name);
    if (dist < *best_d) {
        *best_d = dist;
        *best = name;
    }
}

/* "did you mean `x`? " when one name is close to key, else "". */
static void suggest(char *buf, size_t size, const char *key, const char *best, int best_d)
{
    size_t len = strlen(key);
    int limit = len <= 4 ? 1 : len <= 8 ? 2 : 3;
    if (best && best_d <= limit)
        snprintf(buf, size, "did you mean `%s`? ", best);
    else if (size)
        buf[0] = '\0';
}

void tb__cfg_did_you_mean(char *buf, size_t size, const char *key, const tb_config_key *keys)
{
    const char *best = NULL;
    int best_d = 99;
    for (; keys && keys->name; keys++)
        consider(key, keys->name, &best, &best_d);
    suggest(buf, size, key, best, best_d);
}

static void did_you_mean(char *buf, size_t size, const char *key, const tb__cfg_type *t)
{
    const char *best = NULL;
    int best_d = 99;
    const tb_config_key *lists[3] = {k_common, (t->flags & TB_EXPORTER_HTTP) ? k_http : NULL,
                                     t->keys};
    for (size_t l = 0; l < 3; l++)
        for (const tb_config_key *k = lists[l]; k && k->name; k++)
            consider(key, k->name, &best, &best_d);
    for (const char *const *k = t->keys ? NULL : t->names; k && *k; k++)
        consider(key, *k, &best, &best_d);
    suggest(buf, size, key, best, best_d);
}

/* Is `key` set, non-empty, in d? (A ${VAR} not set yet counts: it is
 * reported when the destination is built.) */
static int is_set(const tb_dest_config *d, const char *key)
{
    const tb__kv *kv = key ? tb__cfg_find_kv(d, key) : NULL;
    return kv && (kv->value[0] || kv->unset);
}

void tb__cfg_check_dest(tb__cfg_parser *p, tb_dest_config *d, const char *const *vars)
{
    char names[200];
    const tb__kv *type_kv = tb__cfg_find_kv(d, "type");
    if (!type_kv || !*type_kv->value) {
        type_names(names, sizeof names);
        tb__cfg_fail(p, d->line, NULL, d->name, "type",
                     "missing (add type = one of %s, or a registered exporter type)", names);
        tb__cfg_mark_end(p); /* known only at the section's end */
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
            char keys[600], hint[120] = "";
            accepted_keys(keys, sizeof keys, &t);
            did_you_mean(hint, sizeof hint, kv->key, &t);
            tb__cfg_fail(p, kv->line, var, d->name, kv->key,
                         "unknown key for type %s (%suse one of: %s)", d->type, hint, keys);
            continue;
        }
        if (kv->unset)
            continue; /* checked when it is resolved, as the destination is built */
        int64_t num;
        if (!tb__cfg_check_value(p, k, kv->value, &num, kv->line, var, d->name, kv->hidden || var))
            continue;
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
        tb__cfg_mark_end(p); /* known only at the section's end */
    }
}

/* ---- what `tracebox check` shows of a destination ---- */

size_t tb_dest_config_key_count(const tb_dest_config *cfg)
{
    return cfg ? cfg->n_kv : 0;
}

const char *tb_dest_config_key_name(const tb_dest_config *cfg, size_t i)
{
    return cfg && i < cfg->n_kv ? cfg->kv[i].key : NULL;
}

const char *tb_dest_config_key_vars(const tb_dest_config *cfg, const char *key)
{
    const tb__kv *kv = cfg && key ? tb__cfg_find_kv(cfg, key) : NULL;
    return kv ? kv->vars : NULL;
}

const char *tb_dest_config_unresolved(const tb_dest_config *cfg)
{
    return cfg ? cfg->unresolved : NULL;
}

/* "A=…, B=…": the names of a headers value, never a value. */
static void header_names(const char *h, char *buf, size_t size)
{
    size_t n = 0;
    buf[0] = '\0';
    while (*h) {
        size_t item = strcspn(h, ",");
        size_t name = strcspn(h, "=");
        if (name > item)
            name = item;
        while (name > 0 && h[0] == ' ')
            h++, name--, item--;
        int w = snprintf(buf + n, size - n, "%s%.*s=…", n ? ", " : "", (int)name, h);
        if (w < 0 || (size_t)w >= size - n)
            break;
        n += (size_t)w;
        h += item;
        if (*h == ',')
            h++;
    }
}

void tb_dest_config_show(const tb_dest_config *cfg, const char *key, char *buf, size_t size)
{
    if (!buf || !size)
        return;
    buf[0] = '\0';
    const tb__kv *kv = cfg && key ? tb__cfg_find_kv(cfg, key) : NULL;
    if (!kv)
        return;
    if (kv->unset) {
        snprintf(buf, size, "(not set: a variable it names is missing)");
        return;
    }
    tb__cfg_type t;
    tb_config_key scratch;
    const tb_config_key *k =
        cfg->type && tb__cfg_type_find(cfg->type, &t) ? dest_key(&t, kv->key, &scratch) : NULL;
    if (k && k->kind == TB_KEY_HEADERS)
        header_names(kv->value, buf, size); /* names are not secret, values are */
    else if (!k || is_secret(k))            /* a secret, or a key no table describes */
        snprintf(buf, size, "(secret, %zu characters)", strlen(kv->value));
    else if (k->kind == TB_KEY_URL && *kv->value)
        url_masked(kv->value, buf, size);
    else if (k->kind != TB_KEY_URL)
        snprintf(buf, size, "%s", kv->value);
}
