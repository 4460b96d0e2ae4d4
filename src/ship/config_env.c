/*
 * config_env.c — destinations from environment variables, when there is no
 * configuration file (README "Configuration").
 *
 * Design. This file knows no platform and no variable: each type's key
 * table (its vtable's config_keys, in src/exporters/) says which variables
 * supply which key, in order of precedence, and how they decide whether the
 * destination exists at all:
 *   - a type with a switch (config_env_switch) is considered only while
 *     that variable is "1", and the switch alone builds it (an opt-in, for a
 *     platform whose key is set for far more than traces);
 *   - otherwise a key flagged TB_KEY_ENV_TRIGGER builds it when one of its
 *     variables is set (a collector endpoint, either half of a key pair);
 *   - a type with neither is built, silently, only when every key flagged
 *     TB_KEY_ENV_NEEDED has a variable (for a platform whose API key alone
 *     is common and means nothing here).
 * Once built, a needed key with no variable is an error naming both
 * variables: half of a pair is a mistake, not a destination that silently
 * never receives anything. Keys flagged TB_KEY_ENV_DEFAULT get the table's
 * default when no variable is set. The destination is named after its
 * type, its keys carry no line (tb_dest_config_where() says
 * "environment"), and it is then validated exactly as a file's section
 * would be (config_keys.c), with errors that name the variable.
 *
 * Types are visited in the built-in order (tb__cfg_builtin), those behind a
 * switch after the others; a type registered under a built-in's name
 * replaces its table. When nothing was built, the type flagged
 * TB_EXPORTER_ENV_FALLBACK (file) is built from its defaults: the embedded
 * default for demos and first runs, so records always go somewhere visible.
 */
#include "config_parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_VAR_NAME 128

typedef tb__cfg_parser parser;

const char *tb__cfg_env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* One key's value as the environment gives it. */
typedef struct env_value {
    char *value;            /* owned until handed to the destination */
    char var[MAX_VAR_NAME]; /* the variable behind it (a template's first) */
    int from_var;           /* 0: the table's default */
} env_value;

/* Is `c` a template ("${A}/${B}") rather than a variable name? */
static int is_template(const char *c)
{
    return strstr(c, "${") != NULL;
}

/* The first variable a source names, into buf ("" when none). */
static void first_var(const char *c, char *buf, size_t size)
{
    const char *open = is_template(c) ? strstr(c, "${") : NULL;
    const char *close = open ? strchr(open, '}') : NULL;
    if (open && close)
        snprintf(buf, size, "%.*s", (int)(close - open - 2), open + 2);
    else if (!open)
        snprintf(buf, size, "%s", c);
    else
        buf[0] = '\0';
}

/* The value of one source `c`: 1 and *out (allocated) when every variable it
 * names is set, 0 when one is not, -1 out of memory. */
static int source_value(const char *c, char **out)
{
    *out = NULL;
    if (!is_template(c)) {
        const char *v = tb__cfg_env(c);
        if (!v)
            return 0;
        *out = tb__strdup(v);
        return *out ? 1 : -1;
    }
    tb__buf b = {0};
    const char *s = c;
    int r = 1;
    while (*s) {
        const char *open = strstr(s, "${");
        const char *close = open ? strchr(open, '}') : NULL;
        if (!open || !close) {
            tb__buf_puts(&b, s);
            break;
        }
        tb__buf_append(&b, s, (size_t)(open - s));
        char name[MAX_VAR_NAME];
        snprintf(name, sizeof name, "%.*s", (int)(close - open - 2), open + 2);
        const char *v = tb__cfg_env(name);
        if (!v) {
            r = 0;
            goto cleanup;
        }
        tb__buf_puts(&b, v);
        s = close + 1;
    }
    if (!b.data)
        tb__buf_append(&b, "", 0);
    if (b.failed) {
        r = -1;
        goto cleanup;
    }
    *out = b.data;
    b.data = NULL;
cleanup:
    tb__buf_free(&b);
    return r;
}

/* Fill *g for key k from the first of its sources that is set, else from
 * its default (TB_KEY_ENV_DEFAULT). 1 found, 0 not, -1 out of memory. */
static int key_value(const tb_config_key *k, env_value *g)
{
    for (size_t i = 0; i < TB_KEY_MAX_ENV && k->env[i]; i++) {
        int r = source_value(k->env[i], &g->value);
        if (r != 0) {
            first_var(k->env[i], g->var, sizeof g->var);
            g->from_var = 1;
            /* the OpenTelemetry variables give timeouts in milliseconds,
             * as a bare number */
            if (r > 0 && k->kind == TB_KEY_DURATION && g->value[0] &&
                strspn(g->value, "0123456789") == strlen(g->value)) {
                size_t n = strlen(g->value);
                char *ms = tb__realloc(g->value, n + 3);
                if (!ms)
                    return -1;
                memcpy(ms + n, "ms", 3);
                g->value = ms;
            }
            return r;
        }
    }
    if ((k->flags & TB_KEY_ENV_DEFAULT) && k->default_value) {
        g->value = tb__strdup(k->default_value);
        return g->value ? 1 : -1;
    }
    return 0;
}

/* Build the destination of type t, if the environment asks for it (or
 * always, for the fallback). */
static void build(parser *p, const tb__cfg_type *t, int fallback)
{
    size_t n = 0;
    while (t->keys[n].name)
        n++;
    env_value *g = tb__calloc(n + 1, sizeof *g);
    const char **vars = tb__calloc(n + 2, sizeof *vars);
    if (!g || !vars) {
        tb__cfg_fail_nomem(p);
        goto cleanup;
    }
    int has_trigger = 0, has_needed = 0;
    size_t trigger = n, missing = n; /* n: none */
    for (size_t i = 0; i < n; i++) {
        const tb_config_key *k = &t->keys[i];
        if (key_value(k, &g[i]) < 0) {
            tb__cfg_fail_nomem(p);
            goto cleanup;
        }
        if (k->flags & TB_KEY_ENV_TRIGGER) {
            has_trigger = 1;
            if (g[i].from_var && trigger == n)
                trigger = i;
        }
        if (k->flags & TB_KEY_ENV_NEEDED) {
            has_needed = 1;
            if (!g[i].from_var && missing == n)
                missing = i;
        }
    }
    int built;
    if (fallback)
        built = 1;
    else if (t->env_switch)
        built = tb__cfg_env(t->env_switch) && strcmp(tb__cfg_env(t->env_switch), "1") == 0;
    else if (has_trigger)
        built = trigger < n;
    else
        built = has_needed && missing == n;
    if (!built)
        goto cleanup;
    if (missing < n && !fallback) {
        char need[MAX_VAR_NAME] = "";
        if (t->keys[missing].env[0])
            first_var(t->keys[missing].env[0], need, sizeof need);
        if (t->env_switch)
            tb__cfg_fail(p, 0, t->env_switch, NULL, NULL,
                         "%s=1 but %s is not set (set it, or unset %s)", t->env_switch, need,
                         t->env_switch);
        else
            tb__cfg_fail(p, 0, g[trigger].var, NULL, NULL,
                         "%s is set but %s is not (set both, or neither)", g[trigger].var, need);
        goto cleanup;
    }

    const char *type = t->vt->type;
    size_t idx = tb__cfg_add_dest(p, type, TB__CFG_ENV_WHERE, 0);
    if (idx == (size_t)-1)
        goto cleanup;
    tb_dest_config *d = &p->cfg->dests[idx];
    char *tv = tb__strdup(type);
    if (!tv) {
        tb__cfg_fail_nomem(p);
        goto cleanup;
    }
    if (!tb__cfg_add_kv(p, d, "type", tv, 0))
        goto cleanup;
    vars[0] = NULL;
    for (size_t i = 0; i < n; i++) {
        if (!g[i].value)
            continue;
        char *v = g[i].value;
        g[i].value = NULL; /* tb__cfg_add_kv takes it, also on failure */
        if (!tb__cfg_add_kv(p, d, t->keys[i].name, v, 0))
            goto cleanup;
        d->kv[d->n_kv - 1].hidden = g[i].from_var;
        vars[d->n_kv - 1] = g[i].from_var ? g[i].var : NULL;
    }
    tb__cfg_check_dest(p, d, vars);
cleanup:
    for (size_t i = 0; g && i < n; i++)
        tb__free_mem(g[i].value);
    tb__free_mem(g);
    tb__free_mem(vars);
}

tb_status tb__cfg_env_only(tb_config **out)
{
    parser p;
    memset(&p, 0, sizeof p);
    p.file = TB__CFG_ENV_WHERE;
    p.st = TB_OK;
    p.cfg = tb__calloc(1, sizeof *p.cfg);
    if (!p.cfg) {
        tb__cfg_fail_nomem(&p);
        return tb__cfg_finish(&p, out, NULL);
    }
    tb__cfg_defaults(p.cfg);
    /* pass 0: the plain types; 1: those behind a switch; 2: the fallback */
    for (int pass = 0; pass < 3 && p.st == TB_OK; pass++) {
        if (pass == 2 && p.cfg->n_dests > 0)
            break;
        const tb_exporter_vtable *vt;
        for (size_t i = 0; (vt = tb__cfg_builtin(i)) != NULL && p.st == TB_OK; i++) {
            tb__cfg_type t;
            if (!tb__cfg_type_find(vt->type, &t) || !t.keys)
                continue;
            int fallback = (t.flags & TB_EXPORTER_ENV_FALLBACK) != 0;
            int this_pass = fallback ? 2 : t.env_switch ? 1 : 0;
            if (this_pass != pass)
                continue;
            build(&p, &t, fallback);
            if (fallback)
                break; /* one embedded default */
        }
    }
    return tb__cfg_finish(&p, out, NULL);
}
