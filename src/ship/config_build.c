/*
 * config_build.c — writing a tb_config while it is loaded: the defaults,
 * adding destinations and keys, the first error, and handing the result
 * over (config_parse.h, the workbench the config*.c files share).
 *
 * Design. Everything that writes a configuration is here or in its
 * callers (config_ini.c, config_env.c, config_keys.c); config.c only frees
 * and reads it. Each write goes through a tb__cfg_parser, the state of one
 * load, which also keeps its first error:
 *
 * - Every error is one line, and a load goes on after one so that
 *   `tracebox check` can list them all. Every config*.c file reports
 *   through tb__cfg_fail() / tb__cfg_fail_nomem() and never formats a
 *   location itself, so every message has the same shape,
 *       WHERE: [section] key: what is wrong (what to do)
 *   with WHERE "FILE:LINE", FILE, or "environment (VAR)". tb__cfg_finish()
 *   puts the earliest (by line) in the per-thread error, where
 *   tb_last_error() reads it, hands the whole list over when asked, and
 *   frees a configuration that failed.
 *
 * - A key's "FILE:LINE" is made when the key is added (where_of), so the
 *   accessors can stay pure (config.c).
 *
 * - tb__cfg_quote() is the one way a value reaches a message: printable,
 *   cut at 48 bytes. Whether a value may be quoted at all is its caller's
 *   call (config_keys.c decides it per key kind).
 */
#include "config_parse.h"

#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* The first error                                                           */
/* ------------------------------------------------------------------------ */

static void vformat(const tb__cfg_parser *p, char *buf, size_t size, int line, const char *var,
                    const char *section, const char *key, const char *fmt, va_list ap)
{
    char where[300];
    if (var)
        snprintf(where, sizeof where, TB__CFG_ENV_WHERE " (%s)", var);
    else if (line > 0 && line < INT_MAX)
        snprintf(where, sizeof where, "%s:%d", p->file, line);
    else
        snprintf(where, sizeof where, "%s", p->file);
    char what[700];
    vsnprintf(what, sizeof what, fmt, ap);
    char sec[TB__CFG_MAX_SECTION_NAME + 4] = "";
    if (section && *section)
        snprintf(sec, sizeof sec, "[%s]%s", section, key ? " " : "");
    snprintf(buf, size, "%s: %s%s%s%s", where, sec, key ? key : "", (sec[0] || key) ? ": " : "",
             what);
}

void tb__cfg_format(const tb__cfg_parser *p, char *buf, size_t size, int line, const char *var,
                    const char *section, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vformat(p, buf, size, line, var, section, key, fmt, ap);
    va_end(ap);
}

void tb__cfg_fail(tb__cfg_parser *p, int line, const char *var, const char *section,
                  const char *key, const char *fmt, ...)
{
    if (p->st == TB_NOMEM)
        return;
    p->st = TB_CONFIG;
    char msg[1200];
    va_list ap;
    va_start(ap, fmt);
    vformat(p, msg, sizeof msg, line, var, section, key, fmt, ap);
    va_end(ap);
    if (p->n_errs >= TB__CFG_MAX_ERRORS)
        return;
    tb__cfg_err *grown = tb__realloc(p->errs, (p->n_errs + 1) * sizeof *grown);
    char *copy = tb__strdup(msg);
    if (!grown || !copy) {
        if (grown)
            p->errs = grown;
        tb__free_mem(copy);
        tb__cfg_fail_nomem(p);
        return;
    }
    p->errs = grown;
    p->errs[p->n_errs].line = line;
    p->errs[p->n_errs].msg = copy;
    p->n_errs++;
}

void tb__cfg_mark_end(tb__cfg_parser *p)
{
    /* listed where the section ends: after its own lines, before the next */
    if (p->n_errs > 0 && p->line > 0)
        p->errs[p->n_errs - 1].line = p->line;
}

void tb__cfg_fail_nomem(tb__cfg_parser *p)
{
    if (p->st == TB_NOMEM)
        return;
    p->st = TB_NOMEM;
    tb__set_error(TB_NOMEM, "%s: out of memory while reading the configuration", p->file);
}

void tb__cfg_quote(char *buf, size_t size, const char *v)
{
    size_t n = 0;
    for (; *v && n + 4 < size && n < 48; v++)
        buf[n++] = isprint((unsigned char)*v) ? *v : '?';
    if (*v && n + 4 < size) {
        buf[n++] = '.';
        buf[n++] = '.';
        buf[n++] = '.';
    }
    buf[n] = '\0';
}

/* ------------------------------------------------------------------------ */
/* Building                                                                  */
/* ------------------------------------------------------------------------ */

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
    d->kv[d->n_kv].vars = NULL;
    d->kv[d->n_kv].unset = NULL;
    d->n_kv++;
    return 1;
nomem:
    tb__free_mem(k);
    tb__free_mem(value);
    tb__cfg_fail_nomem(p);
    return 0;
}

/* Order the errors by line, keeping the order of errors on one line (an
 * insertion sort: there are at most TB__CFG_MAX_ERRORS). */
static void sort_by_line(tb__cfg_err *e, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        tb__cfg_err x = e[i];
        size_t j = i;
        for (; j > 0 && e[j - 1].line > x.line; j--)
            e[j] = e[j - 1];
        e[j] = x;
    }
}

char *tb__cfg_var_names(const char *raw)
{
    tb__buf b = {0};
    for (const char *s = raw; (s = strstr(s, "${")) != NULL;) {
        const char *name = s + 2, *e = name;
        while (isalnum((unsigned char)*e) || *e == '_')
            e++;
        if (e > name && (s == raw || s[-1] != '$')) {
            if (b.len)
                tb__buf_append(&b, ",", 1);
            tb__buf_append(&b, name, (size_t)(e - name));
        }
        s = e;
    }
    if (b.failed) {
        tb__buf_free(&b);
        return NULL;
    }
    return b.data;
}

tb_status tb__cfg_finish(tb__cfg_parser *p, tb_config **out, char **all)
{
    tb_status st = p->st;
    if (all)
        *all = NULL;
    sort_by_line(p->errs, p->n_errs);
    if (st == TB_CONFIG && p->n_errs > 0)
        tb__set_error(TB_CONFIG, "%s", p->errs[0].msg);
    if (all && p->n_errs > 0) {
        tb__buf b = {0};
        for (size_t i = 0; i < p->n_errs; i++) {
            tb__buf_puts(&b, p->errs[i].msg);
            tb__buf_append(&b, "\n", 1);
        }
        if (p->n_errs >= TB__CFG_MAX_ERRORS)
            tb__buf_printf(&b, "%s: (stopped listing after %d errors)\n", p->file,
                           TB__CFG_MAX_ERRORS);
        if (!b.failed)
            *all = b.data;
        else
            tb__buf_free(&b);
    }
    for (size_t i = 0; i < p->n_errs; i++)
        tb__free_mem(p->errs[i].msg);
    tb__free_mem(p->errs);
    p->errs = NULL;
    p->n_errs = 0;
    if (st != TB_OK) {
        tb_config_free(p->cfg);
        p->cfg = NULL;
    } else {
        tb__clear_error();
    }
    *out = p->cfg;
    return st;
}
