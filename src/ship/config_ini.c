/*
 * config_ini.c — reading the INI text (README "Configuration"):
 * the reader, ${VAR} expansion, the [outbox] and [shipper] settings, and
 * tb_config_parse() / tb_config_load().
 *
 * The reader is ours (no line-length limit, real line numbers, `#` and `;`
 * comments). A line is, after its leading and trailing blanks:
 *   - empty, or a comment: it starts with `#` or `;`;
 *   - `[name]`, optionally followed by a comment;
 *   - `key = value`: the key is what comes before the first `=`, the value
 *     what comes after it, blanks trimmed; a `#` or `;` that follows a
 *     blank starts a comment (so `abc#def` is a value, `abc #def` is `abc`).
 * A UTF-8 byte order mark at the start is skipped. Anything else is a
 * malformed line. The load goes on after an error, so every error is
 * reported (tb_config_load_report); the keys of a section whose header is
 * bad are skipped, so one mistake makes one message.
 *
 * `[outbox]` and `[shipper]` keys are checked as they arrive, against the
 * two small tables below. A destination section is only collected here (its
 * `type` may come last); config_keys.c checks it against its type's table
 * when the section ends. Values are expanded as they arrive, and a value
 * that came from ${VAR} is marked hidden so no message ever quotes it.
 * Secrets are resolved when a destination is built: an unset ${VAR} in a
 * destination's key is not a load error; the key is marked unresolved,
 * and building that destination (shipping to it, `tracebox check`) fails
 * with the message. Verbs that ship nothing work without the secrets.
 *
 * With no file (none named, no $TRACEBOX_CONFIG, no ./tracebox.ini),
 * tb_config_load() hands over to config_env.c.
 */
#include "config_parse.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FILE_BYTES (1024 * 1024) /* a config file larger than this is a mistake */

typedef tb__cfg_parser parser;

static const tb_config_key k_outbox[] = {
    {.name = "path", .kind = TB_KEY_STRING},
    {.name = "durability", .kind = TB_KEY_ENUM, .choices = "full|normal|async"},
    {.name = "max_size", .kind = TB_KEY_SIZE},
    {.name = "retention", .kind = TB_KEY_DURATION},
    {.name = "full_policy", .kind = TB_KEY_ENUM, .choices = "refuse|purge_delivered"},
    {.name = "queue_capacity", .kind = TB_KEY_INT, .max = 100000000},
    {.name = "queue_policy", .kind = TB_KEY_ENUM, .choices = "block|drop"},
    {.name = "redact", .kind = TB_KEY_ENUM, .choices = "none|io"},
    {.name = NULL}};

static const tb_config_key k_shipper[] = {
    {.name = "backoff_base", .kind = TB_KEY_DURATION, .min = 1},
    {.name = "backoff_cap", .kind = TB_KEY_DURATION, .min = 1},
    {.name = "auth_backoff", .kind = TB_KEY_DURATION, .min = 1},
    {.name = "lease", .kind = TB_KEY_DURATION, .min = 1},
    {.name = "poll_interval", .kind = TB_KEY_DURATION, .min = 1},
    {.name = NULL}};

static const tb_config_key k_serve[] = {
    {.name = "listen", .kind = TB_KEY_STRING},
    {.name = "token", .kind = TB_KEY_STRING, .flags = TB_KEY_SECRET},
    {.name = "max_body", .kind = TB_KEY_SIZE, .min = 1024},
    {.name = "max_connections", .kind = TB_KEY_INT, .min = 1, .max = 100000},
    {.name = "timeout", .kind = TB_KEY_DURATION, .min = 1000},
    {.name = NULL}};

/* ------------------------------------------------------------------------ */
/* ${VAR} expansion                                                          */
/* ------------------------------------------------------------------------ */

static int is_var_start(char c)
{
    return isalpha((unsigned char)c) || c == '_';
}
static int is_var_char(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

/* Expand ${VAR}, ${VAR:-default} and $$ in `in` into a new string *out.
 * A `$` followed by anything else is kept as is. An unset (or, for :-, an
 * empty) variable without a default is an error that names the variable;
 * values never appear in messages. */
static void expand(parser *p, const char *in, char **out, int line, const char *var,
                   const char *section, const char *key, char **unset)
{
    tb__buf b = {0};
    *out = NULL;
    const char *s = in;
    while (*s) {
        const char *dollar = strchr(s, '$');
        if (!dollar) {
            tb__buf_puts(&b, s);
            break;
        }
        tb__buf_append(&b, s, (size_t)(dollar - s));
        if (dollar[1] == '$') {
            tb__buf_append(&b, "$", 1);
            s = dollar + 2;
            continue;
        }
        if (dollar[1] != '{') {
            tb__buf_append(&b, "$", 1);
            s = dollar + 1;
            continue;
        }
        const char *name = dollar + 2;
        const char *close = strchr(name, '}');
        if (!close) {
            tb__cfg_fail(p, line, var, section, key,
                         "unterminated ${ (write ${NAME} or ${NAME:-default}; $$ is a literal $)");
            goto cleanup;
        }
        const char *name_end = name;
        if (is_var_start(*name_end))
            while (is_var_char(*name_end))
                name_end++;
        int has_default = name_end[0] == ':' && name_end[1] == '-';
        if (name_end == name || (name_end != close && !has_default)) {
            tb__cfg_fail(p, line, var, section, key,
                         "bad variable reference (write ${NAME} or ${NAME:-default} with NAME of "
                         "letters, digits and _)");
            goto cleanup;
        }
        int name_len = (int)(name_end - name);
        char vname[256];
        if ((size_t)name_len >= sizeof vname) {
            tb__cfg_fail(p, line, var, section, key, "variable name too long");
            goto cleanup;
        }
        memcpy(vname, name, (size_t)name_len);
        vname[name_len] = '\0';
        const char *val = getenv(vname);
        if (has_default) {
            if (!val || !*val) {
                const char *def = name_end + 2;
                tb__buf_append(&b, def, (size_t)(close - def));
                val = NULL;
            }
        } else if (!val && unset) {
            /* a destination's key: resolved when the destination is built */
            if (!*unset) {
                char msg[1000];
                tb__cfg_format(p, msg, sizeof msg, line, var, section, key,
                               "${%s} is not set (export %s, or write ${%s:-default})", vname,
                               vname, vname);
                if (!(*unset = tb__strdup(msg))) {
                    tb__cfg_fail_nomem(p);
                    goto cleanup;
                }
            }
        } else if (!val) {
            tb__cfg_fail(p, line, var, section, key,
                         "${%s} is not set (export %s, or write ${%s:-default})", vname, vname,
                         vname);
            goto cleanup;
        }
        if (val)
            tb__buf_puts(&b, val);
        s = close + 1;
    }
    if (!b.data)
        tb__buf_append(&b, "", 0); /* an empty value is still a string */
    if (b.failed) {
        tb__cfg_fail_nomem(p);
        goto cleanup;
    }
    *out = b.data;
    b.data = NULL;
cleanup:
    tb__buf_free(&b);
}

/* ------------------------------------------------------------------------ */
/* Reading the file                                                          */
/* ------------------------------------------------------------------------ */

static void close_section(parser *p)
{
    if (p->cur == TB__SEC_DEST && p->st != TB_NOMEM)
        tb__cfg_check_dest(p, &p->cfg->dests[p->cur_dest], NULL);
    p->cur = TB__SEC_NONE;
}

static int valid_section_name(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!isalnum((unsigned char)s[n]) && s[n] != '_' && s[n] != '-' && s[n] != '.')
            return 0;
    return n > 0 && n <= TB__CFG_MAX_SECTION_NAME;
}

/* `line` starts with '['. If it is a well-formed header, end the current
 * section and open the new one; otherwise say what is wrong and skip the
 * section's keys. */
static void open_section(parser *p, const char *line)
{
    const char *close = strchr(line, ']');
    const char *after = close ? close + 1 : NULL;
    while (after && (*after == ' ' || *after == '\t'))
        after++;
    if (!close || (*after && *after != '#' && *after != ';')) {
        close_section(p);
        p->cur = TB__SEC_SKIP;
        tb__cfg_fail(p, p->line, NULL, NULL, NULL,
                     "malformed section header (expected `[name]`, optionally followed by a "
                     "comment)");
        return;
    }
    size_t n = (size_t)(close - line - 1);
    char name[TB__CFG_MAX_SECTION_NAME + 1];
    snprintf(name, sizeof name, "%.*s", (int)(n < sizeof name ? n : sizeof name - 1), line + 1);
    if (n > TB__CFG_MAX_SECTION_NAME || !valid_section_name(name)) {
        char shown[64];
        tb__cfg_quote(shown, sizeof shown, name);
        close_section(p);
        p->cur = TB__SEC_SKIP;
        tb__cfg_fail(p, p->line, NULL, NULL, NULL,
                     "bad section name [%s] (use 1 to %d letters, digits, _ - or .)", shown,
                     TB__CFG_MAX_SECTION_NAME);
        return;
    }
    close_section(p);
    memset(p->seen_key, 0, sizeof p->seen_key);
    snprintf(p->cur_name, sizeof p->cur_name, "%s", name);

    int *seen = NULL;
    if (strcmp(name, "outbox") == 0)
        seen = &p->outbox_line;
    else if (strcmp(name, "shipper") == 0)
        seen = &p->shipper_line;
    else if (strcmp(name, "serve") == 0)
        seen = &p->serve_line;
    if (seen) {
        if (*seen) {
            p->cur = TB__SEC_SKIP;
            tb__cfg_fail(p, p->line, NULL, name, NULL,
                         "section appears twice (first at line %d; merge the two)", *seen);
            return;
        }
        *seen = p->line;
        p->cur = seen == &p->outbox_line    ? TB__SEC_OUTBOX
                 : seen == &p->shipper_line ? TB__SEC_SHIPPER
                                            : TB__SEC_SERVE;
        return;
    }
    for (size_t i = 0; i < p->cfg->n_dests; i++) {
        if (strcmp(p->cfg->dests[i].name, name) == 0) {
            p->cur = TB__SEC_SKIP;
            tb__cfg_fail(p, p->line, NULL, name, NULL,
                         "section appears twice (first at line %d; merge the two or rename one)",
                         p->cfg->dests[i].line);
            return;
        }
    }
    size_t idx = tb__cfg_add_dest(p, name, p->file, p->line);
    if (idx == (size_t)-1) {
        p->cur = TB__SEC_SKIP;
        return;
    }
    p->cur = TB__SEC_DEST;
    p->cur_dest = idx;
}

static void set_setting(parser *p, const tb_config_key *table, const char *key, int64_t num,
                        char *value)
{
    tb_config *cfg = p->cfg;
    if (table == k_outbox) {
        if (strcmp(key, "path") == 0) {
            tb__free_mem(cfg->outbox_path);
            cfg->outbox_path = value;
            return;
        }
        if (strcmp(key, "durability") == 0)
            cfg->durability = (tb_durability)num;
        else if (strcmp(key, "max_size") == 0)
            cfg->max_size = num;
        else if (strcmp(key, "retention") == 0)
            cfg->retention_ms = num;
        else if (strcmp(key, "full_policy") == 0)
            cfg->full_policy = num ? TB_FULL_PURGE_DELIVERED : TB_FULL_REFUSE;
        else if (strcmp(key, "queue_capacity") == 0)
            cfg->queue_capacity = (size_t)num;
        else if (strcmp(key, "queue_policy") == 0)
            cfg->queue_policy = num ? TB_QUEUE_DROP : TB_QUEUE_BLOCK;
        else if (strcmp(key, "redact") == 0)
            cfg->redact = num == 1;
    } else if (table == k_serve) {
        if (strcmp(key, "listen") == 0) {
            tb__free_mem(cfg->serve_listen);
            cfg->serve_listen = value;
            return;
        }
        if (strcmp(key, "token") == 0) {
            tb__free_mem(cfg->serve_token);
            cfg->serve_token = value;
            return;
        }
        if (strcmp(key, "max_body") == 0)
            cfg->serve_max_body = num;
        else if (strcmp(key, "max_connections") == 0)
            cfg->serve_max_connections = num;
        else if (strcmp(key, "timeout") == 0)
            cfg->serve_timeout_ms = num;
    } else {
        if (strcmp(key, "backoff_base") == 0)
            cfg->backoff_base_ms = num;
        else if (strcmp(key, "backoff_cap") == 0)
            cfg->backoff_cap_ms = num;
        else if (strcmp(key, "auth_backoff") == 0)
            cfg->auth_backoff_ms = num;
        else if (strcmp(key, "lease") == 0)
            cfg->lease_ms = num;
        else if (strcmp(key, "poll_interval") == 0)
            cfg->poll_interval_ms = num;
    }
    tb__free_mem(value);
}

/* One `key = value` of the current section. */
static void on_key(parser *p, const char *name, const char *value)
{
    char *v = NULL, *unset = NULL;
    if (p->cur == TB__SEC_SKIP)
        return;
    if (p->cur == TB__SEC_NONE) {
        tb__cfg_fail(p, p->line, NULL, NULL, name,
                     "key outside a section (put it under [outbox], [shipper] or a destination)");
        goto cleanup;
    }
    if (p->cur == TB__SEC_DEST) {
        tb_dest_config *d = &p->cfg->dests[p->cur_dest];
        const tb__kv *prev = tb__cfg_find_kv(d, name);
        if (prev) {
            tb__cfg_fail(p, p->line, NULL, d->name, name, "set twice (first at line %d; keep one)",
                         prev->line);
            goto cleanup;
        }
        expand(p, value, &v, p->line, NULL, d->name, name, &unset);
        if (v && tb__cfg_add_kv(p, d, name, v, p->line)) {
            tb__kv *kv = &d->kv[d->n_kv - 1];
            if (strstr(value, "${")) {
                kv->hidden = 1;
                kv->vars = tb__cfg_var_names(value);
            }
            kv->unset = unset;
            unset = NULL;
            if (kv->unset && !d->unresolved)
                d->unresolved = kv->unset;
        }
        v = NULL;
        goto cleanup;
    }
    const tb_config_key *table = p->cur == TB__SEC_OUTBOX    ? k_outbox
                                 : p->cur == TB__SEC_SHIPPER ? k_shipper
                                                             : k_serve;
    const tb_config_key *k = tb__cfg_find_key(table, name);
    if (!k) {
        char keys[400], hint[120];
        tb__cfg_key_names(keys, sizeof keys, table);
        tb__cfg_did_you_mean(hint, sizeof hint, name, table);
        tb__cfg_fail(p, p->line, NULL, p->cur_name, name, "unknown key (%suse one of: %s)", hint,
                     keys);
        goto cleanup;
    }
    size_t ki = (size_t)(k - table);
    if (p->seen_key[ki]) {
        tb__cfg_fail(p, p->line, NULL, p->cur_name, name, "set twice (first at line %d; keep one)",
                     p->seen_key[ki]);
        goto cleanup;
    }
    p->seen_key[ki] = p->line;
    /* [serve] token is a secret like a destination's: an unset ${VAR}
     * stops `serve` alone, not every verb (tb_config_serve_settings) */
    bool deferred = table == k_serve && strcmp(name, "token") == 0;
    expand(p, value, &v, p->line, NULL, p->cur_name, name, deferred ? &unset : NULL);
    if (deferred && unset) {
        tb__free_mem(p->cfg->serve_token_unset);
        p->cfg->serve_token_unset = unset;
        unset = NULL;
        goto cleanup;
    }
    if (!v)
        goto cleanup;
    int64_t num;
    if (!tb__cfg_check_value(p, k, v, &num, p->line, NULL, p->cur_name,
                             strstr(value, "${") != NULL))
        goto cleanup;
    if (k->kind == TB_KEY_STRING && !*v) {
        tb__cfg_fail(p, p->line, NULL, p->cur_name, name,
                     "empty (give a value or remove the line)");
        goto cleanup;
    }
    if (table == k_shipper && strcmp(name, "backoff_cap") == 0)
        p->backoff_cap_line = p->line;
    set_setting(p, table, name, num, v);
    v = NULL;
cleanup:
    tb__free_mem(v);
    tb__free_mem(unset);
}

/* Checks that need the whole file. */
static void check_settings(parser *p)
{
    tb_config *cfg = p->cfg;
    if (cfg->backoff_cap_ms < cfg->backoff_base_ms) {
        int line = p->backoff_cap_line ? p->backoff_cap_line : p->shipper_line;
        tb__cfg_fail(p, line, NULL, "shipper", "backoff_cap",
                     "smaller than backoff_base (make backoff_cap at least backoff_base)");
    }
}

/* The next line of the text, blanks trimmed (a byte order mark skipped on
 * the first); NULL at the end. */
static const char *next_line(parser *p, size_t *n_out)
{
    if (p->pos >= p->len)
        return NULL;
    const char *s = p->text + p->pos;
    const char *nl = memchr(s, '\n', p->len - p->pos);
    size_t n = nl ? (size_t)(nl - s) : p->len - p->pos;
    p->pos += n + (nl ? 1 : 0);
    p->line++;
    if (p->line == 1 && n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
        s += 3;
        n -= 3;
    }
    while (n > 0 && (*s == ' ' || *s == '\t'))
        s++, n--;
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    *n_out = n;
    return s;
}

/* Cut a comment off a value: a `#` or `;` after a blank. */
static void cut_comment(char *v)
{
    for (char *c = v; *c; c++) {
        if ((*c == '#' || *c == ';') && c > v && (c[-1] == ' ' || c[-1] == '\t')) {
            *c = '\0';
            break;
        }
    }
    size_t n = strlen(v);
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        v[--n] = '\0';
}

static void parse_lines(parser *p)
{
    size_t n;
    const char *s;
    while ((s = next_line(p, &n)) != NULL && p->st != TB_NOMEM) {
        if (n == 0 || *s == '#' || *s == ';')
            continue;
        char *line = tb__strndup(s, n);
        if (!line) {
            tb__cfg_fail_nomem(p);
            return;
        }
        if (line[0] == '[') {
            open_section(p, line);
        } else {
            char *eq = strchr(line, '=');
            char *key_end = eq;
            while (key_end && key_end > line && (key_end[-1] == ' ' || key_end[-1] == '\t'))
                key_end--;
            if (!eq || key_end == line) {
                tb__cfg_fail(p, p->line, NULL, NULL, NULL,
                             "malformed line (expected `key = value`, `[section]` or a `#` or "
                             "`;` comment)");
            } else {
                *key_end = '\0';
                char *value = eq + 1;
                while (*value == ' ' || *value == '\t')
                    value++;
                cut_comment(value);
                on_key(p, line, value);
            }
        }
        tb__free_mem(line);
    }
}

static tb_status parse_text(tb_config **out, const char *text, size_t len, const char *name,
                            char **all)
{
    parser p;
    memset(&p, 0, sizeof p);
    p.file = name;
    p.text = text;
    p.len = len;
    p.st = TB_OK;
    p.cfg = tb__calloc(1, sizeof *p.cfg);
    if (!p.cfg) {
        tb__cfg_fail_nomem(&p);
        goto cleanup;
    }
    tb__cfg_defaults(p.cfg);
    p.cfg->file = tb__strdup(name);
    if (!p.cfg->file) {
        tb__cfg_fail_nomem(&p);
        goto cleanup;
    }
    parse_lines(&p);
    if (p.st != TB_NOMEM) {
        close_section(&p);
        check_settings(&p);
    }
cleanup:
    return tb__cfg_finish(&p, out, all);
}

tb_status tb_config_parse(tb_config **out, const char *text, const char *name)
{
    if (!out)
        return tb__set_error(TB_INVALID, "tb_config_parse: out is NULL");
    *out = NULL;
    if (!text)
        return tb__set_error(TB_INVALID, "tb_config_parse: text is NULL");
    return parse_text(out, text, strlen(text), name ? name : "config", NULL);
}

/* ------------------------------------------------------------------------ */
/* Loading                                                                   */
/* ------------------------------------------------------------------------ */

/* Read and parse `path`. `named`: the user named it, so absence is an error
 * (otherwise absence returns TB_NOT_FOUND quietly). */
static tb_status load_file(tb_config **out, const char *path, int named, char **all)
{
    tb__buf b = {0};
    tb_status st;
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        if (e == ENOENT && !named) {
            st = TB_NOT_FOUND;
            goto cleanup;
        }
        st = tb__set_error(e == ENOENT ? TB_CONFIG : TB_IO,
                           "%s: cannot open the configuration: %s (check --config or "
                           "TRACEBOX_CONFIG)",
                           path, strerror(e));
        goto cleanup;
    }
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        tb__buf_append(&b, chunk, n);
        if (b.len > MAX_FILE_BYTES) {
            st = tb__set_error(TB_CONFIG, "%s: larger than %d bytes; not a configuration file",
                               path, MAX_FILE_BYTES);
            goto cleanup;
        }
    }
    if (ferror(f)) {
        st = tb__set_error(TB_IO, "%s: cannot read the configuration: %s", path, strerror(errno));
        goto cleanup;
    }
    if (b.failed) {
        st = tb__set_error(TB_NOMEM, "%s: out of memory reading the configuration", path);
        goto cleanup;
    }
    if (b.len && memchr(b.data, '\0', b.len)) {
        st = tb__set_error(TB_CONFIG, "%s: contains a NUL byte; not a text file", path);
        goto cleanup;
    }
    st = parse_text(out, b.data ? b.data : "", b.len, path, all);
cleanup:
    if (f)
        fclose(f);
    tb__buf_free(&b);
    return st;
}

tb_status tb_config_load_report(tb_config **out, const char *path, char **errors)
{
    if (errors)
        *errors = NULL;
    if (!out)
        return tb__set_error(TB_INVALID, "tb_config_load: out is NULL");
    *out = NULL;
    tb_status st;
    if (path)
        st = load_file(out, path, 1, errors);
    else if (tb__cfg_env("TRACEBOX_CONFIG"))
        st = load_file(out, tb__cfg_env("TRACEBOX_CONFIG"), 1, errors);
    else if ((st = load_file(out, "tracebox.ini", 0, errors)) == TB_NOT_FOUND)
        st = tb__cfg_env_only(out);
    /* a failure found before any line was read (no file, unreadable, env
     * mode) is the one error */
    if (st != TB_OK && errors && !*errors) {
        size_t n = strlen(tb_last_error());
        if ((*errors = tb__malloc(n + 2)) != NULL) {
            memcpy(*errors, tb_last_error(), n);
            memcpy(*errors + n, "\n", 2);
        }
    }
    return st;
}

tb_status tb_config_load(tb_config **out, const char *path)
{
    return tb_config_load_report(out, path, NULL);
}
