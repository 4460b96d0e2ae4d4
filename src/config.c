/*
 * config.c — the INI configuration (DESIGN.md, "Configuration").
 *
 * Design. inih does the INI syntax; this file does everything else. We feed
 * inih through ini_parse_stream() with our own reader (read_line) over the
 * whole file held in memory, because the Debian build of inih does not pass
 * line numbers to the handler. inih calls the reader once per line, so the
 * reader's count is the current line for the handler. The reader also:
 *   - strips leading blanks, so an indented `key = value` is an ordinary
 *     line (inih would read it as a continuation of the previous value; we
 *     do not support multi-line values);
 *   - opens sections itself (inih's Debian build does not report section
 *     headers, so an empty section or a repeated `[a]` would go unseen);
 *   - refuses lines longer than inih's fixed line buffer instead of letting
 *     inih split them silently (long values belong in ${VAR}).
 *
 * `[outbox]` and `[shipper]` keys are checked as they arrive. A destination
 * section is collected first (its `type` may come last) and checked when the
 * section ends, against one static table of types and keys (k_types) that
 * mirrors DESIGN.md's table; a type not in it is looked up among registered
 * exporters (tb__exporter_find), which accept the common keys plus the
 * vtable's `keys`.
 *
 * Errors: the first one wins, and is one line
 *     FILE:LINE: [section] key: what is wrong (what to do)
 * Secrets never reach a message: we only ever echo values of typed keys
 * (durations, sizes, integers, enums, booleans), never strings, URLs,
 * headers or keys, and never the value of an unknown key or a bad line.
 *
 * Without a file, destinations come from the platforms' usual environment
 * variables (env_only()); their errors name the variable instead of a line.
 */
#include "config_internal.h"

#include <ini.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FILE_BYTES (1024 * 1024) /* a config file larger than this is a mistake */
#define MAX_TYPE_KEYS 8
#define MAX_REQUIRED 2
#define MAX_SECTION_NAME 64
#define ENV_WHERE "environment"

/* ------------------------------------------------------------------------ */
/* The key table                                                             */
/* ------------------------------------------------------------------------ */

typedef enum kind {
    K_STRING,   /* anything */
    K_SECRET,   /* anything; never echoed (no value is echoed for strings) */
    K_URL,      /* empty, or starts with http:// or https:// */
    K_DURATION, /* tb__parse_duration_ms, within [min, max] */
    K_SIZE,     /* tb__parse_size, within [min, max] */
    K_INT,      /* decimal integer within [min, max] */
    K_ENUM,     /* one of `choices` ("a|b|c"); parsed value is its index */
    K_LIST,     /* comma-separated list of `choices` */
    K_BOOL,     /* true | false */
    K_HEADERS   /* name=value,name2=value2 */
} kind;

typedef struct key_spec {
    const char *name;
    kind kind;
    const char *choices;
    int64_t min, max;
} key_spec;

typedef struct type_spec {
    const char *type;
    int http; /* accepts the HTTP keys */
    /* each entry a group "a|b": at least one of them must be set */
    const char *required[MAX_REQUIRED];
    key_spec keys[MAX_TYPE_KEYS]; /* ends at name == NULL */
} type_spec;

#define I64MAX INT64_MAX

/* Keys every destination accepts. */
static const key_spec k_common[] = {{"type", K_STRING, NULL, 0, 0},
                                    {"batch_size", K_INT, NULL, 1, 100000},
                                    {"max_batch_bytes", K_SIZE, NULL, 1, I64MAX},
                                    {"timeout", K_DURATION, NULL, 1, I64MAX},
                                    {"max_age", K_DURATION, NULL, 0, I64MAX},
                                    {"start", K_ENUM, "oldest|latest", 0, 0},
                                    {"redact", K_ENUM, "none|io", 0, 0},
                                    {NULL, K_STRING, NULL, 0, 0}};

/* Keys every HTTP destination accepts. */
static const key_spec k_http[] = {{"headers", K_HEADERS, NULL, 0, 0},
                                  {"compression", K_ENUM, "none|gzip", 0, 0},
                                  {"ca_file", K_STRING, NULL, 0, 0},
                                  {"insecure", K_BOOL, NULL, 0, 0},
                                  {NULL, K_STRING, NULL, 0, 0}};

/* The built-in destination types and their own keys (DESIGN.md's table). */
static const type_spec k_types[] = {
    {"otlp",
     1,
     {"endpoint|traces_endpoint", NULL},
     {{"endpoint", K_URL, NULL, 0, 0},
      {"traces_endpoint", K_URL, NULL, 0, 0},
      {"protocol", K_ENUM, "http/protobuf|http/json", 0, 0},
      {"conventions", K_LIST, "genai|openinference", 0, 0},
      {"service_name", K_STRING, NULL, 0, 0},
      {NULL, K_STRING, NULL, 0, 0}}},
    {"openai",
     1,
     {"api_key", NULL},
     {{"base_url", K_URL, NULL, 0, 0},
      {"api_key", K_SECRET, NULL, 0, 0},
      {"organization", K_STRING, NULL, 0, 0},
      {"project", K_STRING, NULL, 0, 0},
      {NULL, K_STRING, NULL, 0, 0}}},
    {"langfuse",
     1,
     {"public_key", "secret_key"},
     {{"host", K_URL, NULL, 0, 0},
      {"public_key", K_SECRET, NULL, 0, 0},
      {"secret_key", K_SECRET, NULL, 0, 0},
      {NULL, K_STRING, NULL, 0, 0}}},
    {"arize",
     1,
     {NULL, NULL},
     {{"endpoint", K_URL, NULL, 0, 0},
      {"space_id", K_STRING, NULL, 0, 0},
      {"api_key", K_SECRET, NULL, 0, 0},
      {"project", K_STRING, NULL, 0, 0},
      {NULL, K_STRING, NULL, 0, 0}}},
    {"phoenix",
     1,
     {NULL, NULL},
     {{"endpoint", K_URL, NULL, 0, 0},
      {"api_key", K_SECRET, NULL, 0, 0},
      {"project", K_STRING, NULL, 0, 0},
      {NULL, K_STRING, NULL, 0, 0}}},
    {"wandb",
     1,
     {NULL, NULL},
     {{"endpoint", K_URL, NULL, 0, 0},
      {"api_key", K_SECRET, NULL, 0, 0},
      {"project", K_STRING, NULL, 0, 0},
      {NULL, K_STRING, NULL, 0, 0}}},
    {"file",
     0,
     {"path", NULL},
     {{"path", K_STRING, NULL, 0, 0},
      {"max_bytes", K_SIZE, NULL, 0, I64MAX},
      {"max_files", K_INT, NULL, 0, 1000000},
      {NULL, K_STRING, NULL, 0, 0}}},
    {"webhook", 1, {"url", NULL}, {{"url", K_URL, NULL, 0, 0}, {NULL, K_STRING, NULL, 0, 0}}},
};
#define N_TYPES (sizeof k_types / sizeof k_types[0])
#define TYPE_NAMES "otlp, openai, langfuse, arize, phoenix, wandb, file, webhook"

static const key_spec k_outbox[] = {{"path", K_STRING, NULL, 0, 0},
                                    {"durability", K_ENUM, "full|normal|async", 0, 0},
                                    {"max_size", K_SIZE, NULL, 0, I64MAX},
                                    {"retention", K_DURATION, NULL, 0, I64MAX},
                                    {"full_policy", K_ENUM, "refuse|purge_delivered", 0, 0},
                                    {"queue_capacity", K_INT, NULL, 0, 100000000},
                                    {"queue_policy", K_ENUM, "block|drop", 0, 0},
                                    {"redact", K_ENUM, "none|io", 0, 0},
                                    {NULL, K_STRING, NULL, 0, 0}};

static const key_spec k_shipper[] = {
    {"backoff_base", K_DURATION, NULL, 1, I64MAX},  {"backoff_cap", K_DURATION, NULL, 1, I64MAX},
    {"auth_backoff", K_DURATION, NULL, 1, I64MAX},  {"lease", K_DURATION, NULL, 1, I64MAX},
    {"poll_interval", K_DURATION, NULL, 1, I64MAX}, {NULL, K_STRING, NULL, 0, 0}};

#define MAX_SETTING_KEYS 8 /* >= keys in k_outbox / k_shipper */

/* Values of these keys are never shown, whatever their kind. */
static int is_secret_key(const char *key)
{
    return strcmp(key, "api_key") == 0 || strcmp(key, "secret_key") == 0 ||
           strcmp(key, "public_key") == 0 || strcmp(key, "headers") == 0 ||
           strstr(key, "secret") != NULL || strstr(key, "token") != NULL ||
           strstr(key, "password") != NULL;
}

static const key_spec *find_key(const key_spec *keys, const char *name)
{
    for (; keys->name; keys++)
        if (strcmp(keys->name, name) == 0)
            return keys;
    return NULL;
}

static const type_spec *find_type(const char *type)
{
    for (size_t i = 0; i < N_TYPES; i++)
        if (strcmp(k_types[i].type, type) == 0)
            return &k_types[i];
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* The parser state and errors                                               */
/* ------------------------------------------------------------------------ */

typedef enum section_kind { SEC_NONE, SEC_OUTBOX, SEC_SHIPPER, SEC_DEST } section_kind;

typedef struct parser {
    tb_config *cfg;
    const char *file; /* name used in messages */
    /* input */
    const char *text;
    size_t len, pos;
    int line;
    /* the current section */
    section_kind cur;
    char cur_name[MAX_SECTION_NAME + 1];
    size_t cur_dest;                /* SEC_DEST: index into cfg->dests */
    int seen_key[MAX_SETTING_KEYS]; /* SEC_OUTBOX/SHIPPER: line of each key */
    int outbox_line, shipper_line;  /* where those sections were opened */
    /* the first error */
    tb_status st; /* TB_OK until something fails */
    int err_line; /* its line, to order it against inih's; 0: none */
    int backoff_cap_line;
} parser;

/* "FILE:LINE" for a line of the file, "environment (VAR)" for a variable,
 * "environment" for a built-in value in env-only mode. */
static void where_str(char *buf, size_t size, const parser *p, int line, const char *var)
{
    if (var)
        snprintf(buf, size, ENV_WHERE " (%s)", var);
    else if (line > 0)
        snprintf(buf, size, "%s:%d", p->file, line);
    else
        snprintf(buf, size, "%s", p->file);
}

/* Record the first error: "WHERE: [section] key: message", WHERE from
 * where_str(). section and key may be NULL. */
static void fail_at(parser *p, int line, const char *var, const char *section, const char *key,
                    const char *fmt, ...) TB__PRINTF(6, 7);
static void fail_at(parser *p, int line, const char *var, const char *section, const char *key,
                    const char *fmt, ...)
{
    if (p->st != TB_OK)
        return;
    p->st = TB_CONFIG;
    p->err_line = line;
    char where[300];
    where_str(where, sizeof where, p, line, var);
    char what[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    char sec[MAX_SECTION_NAME + 4] = "";
    if (section && *section)
        snprintf(sec, sizeof sec, "[%s]%s", section, key ? " " : "");
    tb__set_error(TB_CONFIG, "%s: %s%s%s%s", where, sec, key ? key : "",
                  (sec[0] || key) ? ": " : "", what);
}

static void fail_nomem(parser *p)
{
    if (p->st != TB_OK)
        return;
    p->st = TB_NOMEM;
    tb__set_error(TB_NOMEM, "%s: out of memory while reading the configuration", p->file);
}

/* A value made safe to quote in a message: at most 48 bytes, printable. */
static void quote_value(char *buf, size_t size, const char *v)
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
                   const char *section, const char *key)
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
            fail_at(p, line, var, section, key,
                    "unterminated ${ (write ${NAME} or ${NAME:-default}; $$ is a literal $)");
            goto cleanup;
        }
        const char *name_end = name;
        if (is_var_start(*name_end))
            while (is_var_char(*name_end))
                name_end++;
        int has_default = name_end[0] == ':' && name_end[1] == '-';
        if (name_end == name || (name_end != close && !has_default)) {
            fail_at(p, line, var, section, key,
                    "bad variable reference (write ${NAME} or ${NAME:-default} with NAME of "
                    "letters, digits and _)");
            goto cleanup;
        }
        int name_len = (int)(name_end - name);
        char vname[256];
        if ((size_t)name_len >= sizeof vname) {
            fail_at(p, line, var, section, key, "variable name too long");
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
        } else if (!val) {
            fail_at(p, line, var, section, key,
                    "${%s} is not set (export %s, or write ${%s:-default})", vname, vname, vname);
            goto cleanup;
        }
        if (val)
            tb__buf_puts(&b, val);
        s = close + 1;
    }
    if (!b.data)
        tb__buf_append(&b, "", 0); /* an empty value is still a string */
    if (b.failed) {
        fail_nomem(p);
        goto cleanup;
    }
    *out = b.data;
    b.data = NULL;
cleanup:
    tb__buf_free(&b);
}

/* ------------------------------------------------------------------------ */
/* Values                                                                    */
/* ------------------------------------------------------------------------ */

/* Is `v` (of length n) one of "a|b|c"? Sets *index. */
static int in_choices(const char *choices, const char *v, size_t n, int64_t *index)
{
    int64_t i = 0;
    const char *c = choices;
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

/* Check `v` against `k`; on success *num holds the parsed number (duration
 * in ms, size in bytes, integer, enum index, bool 0/1). On failure record an
 * error at `where`. */
static int check_value(parser *p, const key_spec *k, const char *v, int64_t *num, int line,
                       const char *var, const char *section, int hidden)
{
    char shown[64];
    quote_value(shown, sizeof shown, v);
    /* a value from ${VAR} may be a secret put under the wrong key */
    if (hidden || is_secret_key(k->name))
        snprintf(shown, sizeof shown, "(value hidden)");
    *num = 0;
    switch (k->kind) {
    case K_STRING:
    case K_SECRET:
        return 1;
    case K_URL:
        if (*v && strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0) {
            fail_at(p, line, var, section, k->name,
                    "not an http:// or https:// URL (write the full URL, e.g. "
                    "https://host:port)");
            return 0;
        }
        return 1;
    case K_DURATION:
        if (!tb__parse_duration_ms(v, num)) {
            fail_at(p, line, var, section, k->name,
                    "`%s` is not a duration (use a number with ms, s, m, h, d or w, e.g. 30s)",
                    shown);
            return 0;
        }
        break;
    case K_SIZE:
        if (!tb__parse_size(v, num)) {
            fail_at(p, line, var, section, k->name,
                    "`%s` is not a size (use bytes or a number with KiB, MiB, GiB, KB, MB, GB, "
                    "e.g. 500MB)",
                    shown);
            return 0;
        }
        break;
    case K_INT:
        if (!parse_int(v, num)) {
            fail_at(p, line, var, section, k->name,
                    "`%s` is not an integer (use digits only, from %lld to %lld)", shown,
                    (long long)k->min, (long long)k->max);
            return 0;
        }
        break;
    case K_ENUM:
        if (!in_choices(k->choices, v, strlen(v), num)) {
            fail_at(p, line, var, section, k->name, "`%s` is not allowed (use %s)", shown,
                    k->choices);
            return 0;
        }
        return 1;
    case K_LIST:
        if (!check_list(k->choices, v)) {
            fail_at(p, line, var, section, k->name,
                    "`%s` is not allowed (use one or more of %s, separated by commas)", shown,
                    k->choices);
            return 0;
        }
        return 1;
    case K_BOOL:
        if (strcmp(v, "true") == 0)
            *num = 1;
        else if (strcmp(v, "false") != 0) {
            fail_at(p, line, var, section, k->name, "`%s` is not a boolean (use true or false)",
                    shown);
            return 0;
        }
        return 1;
    case K_HEADERS: {
        size_t bad = 0;
        if (!check_headers(v, &bad)) {
            fail_at(p, line, var, section, k->name,
                    "item %zu is not name=value (write Name=value,Other=value)", bad);
            return 0;
        }
        return 1;
    }
    }
    /* numeric kinds: range */
    if (*num < k->min || *num > k->max) {
        if (k->max == I64MAX) /* only min = 1 gets here: parsers refuse negatives */
            fail_at(p, line, var, section, k->name, "`%s` is too small (use more than 0)", shown);
        else
            fail_at(p, line, var, section, k->name, "`%s` is out of range (use %lld to %lld)",
                    shown, (long long)k->min, (long long)k->max);
        return 0;
    }
    return 1;
}

/* ------------------------------------------------------------------------ */
/* Building the structures                                                   */
/* ------------------------------------------------------------------------ */

static void config_defaults(tb_config *cfg)
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
    for (size_t i = 0; i < d->n_kv; i++) {
        tb__free_mem(d->kv[i].key);
        tb__free_mem(d->kv[i].value);
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

/* Append a destination; returns its index, or (size_t)-1 out of memory. */
static size_t add_dest(parser *p, const char *name, const char *file, int line)
{
    tb_config *cfg = p->cfg;
    tb_dest_config *grown = tb__realloc(cfg->dests, (cfg->n_dests + 1) * sizeof *grown);
    if (!grown) {
        fail_nomem(p);
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
    cfg->n_dests++; /* counted now so tb_config_free frees what is there */
    if (!d->name || !d->file) {
        fail_nomem(p);
        return (size_t)-1;
    }
    return cfg->n_dests - 1;
}

/* Append key = value (value is taken over, freed on failure). */
static int add_kv(parser *p, tb_dest_config *d, const char *key, char *value, int line)
{
    tb__kv *grown = tb__realloc(d->kv, (d->n_kv + 1) * sizeof *grown);
    if (!grown) {
        tb__free_mem(value);
        fail_nomem(p);
        return 0;
    }
    d->kv = grown;
    char *k = tb__strdup(key);
    if (!k) {
        tb__free_mem(value);
        fail_nomem(p);
        return 0;
    }
    d->kv[d->n_kv].key = k;
    d->kv[d->n_kv].value = value;
    d->kv[d->n_kv].line = line;
    d->kv[d->n_kv].hidden = 0;
    d->n_kv++;
    return 1;
}

static const tb__kv *find_kv(const tb_dest_config *d, const char *key)
{
    for (size_t i = 0; i < d->n_kv; i++)
        if (strcmp(d->kv[i].key, key) == 0)
            return &d->kv[i];
    return NULL;
}

/* The spec of `key` for a destination of built-in type `ts` (or registered
 * vtable `vt`); NULL when the key is not accepted. For registered keys a
 * string spec is written into *scratch. */
static const key_spec *dest_key(const type_spec *ts, const tb_exporter_vtable *vt, const char *key,
                                key_spec *scratch)
{
    const key_spec *k = find_key(k_common, key);
    if (k)
        return k;
    if (ts) {
        if (ts->http && (k = find_key(k_http, key)) != NULL)
            return k;
        return find_key(ts->keys, key);
    }
    if (vt && vt->keys) {
        for (const char *const *n = vt->keys; *n; n++) {
            if (strcmp(*n, key) == 0) {
                scratch->name = *n;
                scratch->kind = K_STRING;
                scratch->choices = NULL;
                scratch->min = scratch->max = 0;
                return scratch;
            }
        }
    }
    return NULL;
}

/* "a, b, c" of every key a type accepts, for the unknown-key hint. */
static void accepted_keys(char *buf, size_t size, const type_spec *ts, const tb_exporter_vtable *vt)
{
    size_t n = 0;
    buf[0] = '\0';
    const key_spec *lists[3] = {k_common, ts && ts->http ? k_http : NULL, ts ? ts->keys : NULL};
    for (size_t l = 0; l < 3; l++) {
        for (const key_spec *k = lists[l]; k && k->name; k++) {
            int w = snprintf(buf + n, size - n, "%s%s", n ? ", " : "", k->name);
            if (w < 0 || (size_t)w >= size - n)
                return;
            n += (size_t)w;
        }
    }
    if (!ts && vt && vt->keys) {
        for (const char *const *k = vt->keys; *k; k++) {
            int w = snprintf(buf + n, size - n, "%s%s", n ? ", " : "", *k);
            if (w < 0 || (size_t)w >= size - n)
                return;
            n += (size_t)w;
        }
    }
}

/* Check a collected destination: its type, each key and value, the
 * required keys; fill the parsed common fields. `vars`, when not NULL,
 * names the environment variable of each kv (env-only mode). */
static void check_dest(parser *p, tb_dest_config *d, const char *const *vars)
{
    const tb__kv *type_kv = find_kv(d, "type");
    if (!type_kv || !*type_kv->value) {
        fail_at(p, d->line, NULL, d->name, "type",
                "missing (add type = one of " TYPE_NAMES ", or a registered exporter type)");
        p->err_line = INT_MAX; /* known only at the section's end */
        return;
    }
    const type_spec *ts = find_type(type_kv->value);
    const tb_exporter_vtable *vt = ts ? NULL : tb__exporter_find(type_kv->value);
    if (!ts && !vt) {
        char shown[64];
        quote_value(shown, sizeof shown, type_kv->value);
        if (type_kv->hidden || vars)
            snprintf(shown, sizeof shown, "(value hidden)");
        fail_at(p, type_kv->line, vars ? vars[type_kv - d->kv] : NULL, d->name, "type",
                "unknown type `%s` (use one of " TYPE_NAMES
                ", or register it with tb_exporter_register())",
                shown);
        return;
    }
    d->type = tb__strdup(type_kv->value);
    if (!d->type) {
        fail_nomem(p);
        return;
    }

    for (size_t i = 0; i < d->n_kv; i++) {
        const tb__kv *kv = &d->kv[i];
        const char *var = vars ? vars[i] : NULL;
        key_spec scratch;
        const key_spec *k = dest_key(ts, vt, kv->key, &scratch);
        if (!k) {
            char keys[600];
            accepted_keys(keys, sizeof keys, ts, vt);
            fail_at(p, kv->line, var, d->name, kv->key, "unknown key for type %s (use one of: %s)",
                    d->type, keys);
            return;
        }
        int64_t num;
        if (!check_value(p, k, kv->value, &num, kv->line, var, d->name, kv->hidden || var))
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

    for (size_t r = 0; ts && r < MAX_REQUIRED && ts->required[r]; r++) {
        const char *group = ts->required[r];
        int found = 0;
        const char *s = group;
        for (;;) {
            const char *bar = strchr(s, '|');
            size_t n = bar ? (size_t)(bar - s) : strlen(s);
            for (size_t i = 0; i < d->n_kv && !found; i++)
                if (strlen(d->kv[i].key) == n && strncmp(d->kv[i].key, s, n) == 0 &&
                    d->kv[i].value[0])
                    found = 1;
            if (found || !bar)
                break;
            s = bar + 1;
        }
        if (!found) {
            char first[64];
            const char *bar = strchr(group, '|');
            size_t n = bar ? (size_t)(bar - group) : strlen(group);
            snprintf(first, sizeof first, "%.*s", (int)n, group);
            if (bar)
                fail_at(p, d->line, NULL, d->name, first,
                        "missing (type %s needs %s or %s; set one of them)", d->type, first,
                        bar + 1);
            else
                fail_at(p, d->line, NULL, d->name, first, "missing (type %s needs %s; set it)",
                        d->type, first);
            p->err_line = INT_MAX; /* known only at the section's end */
            return;
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Reading the file                                                          */
/* ------------------------------------------------------------------------ */

static void close_section(parser *p)
{
    if (p->cur == SEC_DEST && p->st == TB_OK)
        check_dest(p, &p->cfg->dests[p->cur_dest], NULL);
    p->cur = SEC_NONE;
}

static int valid_section_name(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!isalnum((unsigned char)s[n]) && s[n] != '_' && s[n] != '-' && s[n] != '.')
            return 0;
    return n > 0 && n <= MAX_SECTION_NAME;
}

/* `line` starts with '['. If it is a well-formed header, end the current
 * section and open the new one; otherwise leave the complaint to inih. */
static void open_section(parser *p, const char *line)
{
    const char *close = strchr(line, ']');
    if (!close)
        return;
    size_t n = (size_t)(close - line - 1);
    char name[MAX_SECTION_NAME + 1];
    snprintf(name, sizeof name, "%.*s", (int)(n < sizeof name ? n : sizeof name - 1), line + 1);
    if (n > MAX_SECTION_NAME || !valid_section_name(name)) {
        char shown[64];
        quote_value(shown, sizeof shown, name);
        fail_at(p, p->line, NULL, NULL, NULL,
                "bad section name [%s] (use 1 to %d letters, digits, _ - or .)", shown,
                MAX_SECTION_NAME);
        return;
    }
    close_section(p);
    if (p->st != TB_OK)
        return;
    memset(p->seen_key, 0, sizeof p->seen_key);
    snprintf(p->cur_name, sizeof p->cur_name, "%s", name);

    int *seen = NULL;
    if (strcmp(name, "outbox") == 0)
        seen = &p->outbox_line;
    else if (strcmp(name, "shipper") == 0)
        seen = &p->shipper_line;
    if (seen) {
        if (*seen) {
            fail_at(p, p->line, NULL, name, NULL,
                    "section appears twice (first at line %d; merge the two)", *seen);
            return;
        }
        *seen = p->line;
        p->cur = seen == &p->outbox_line ? SEC_OUTBOX : SEC_SHIPPER;
        return;
    }
    for (size_t i = 0; i < p->cfg->n_dests; i++) {
        if (strcmp(p->cfg->dests[i].name, name) == 0) {
            fail_at(p, p->line, NULL, name, NULL,
                    "section appears twice (first at line %d; merge the two or rename one)",
                    p->cfg->dests[i].line);
            return;
        }
    }
    size_t idx = add_dest(p, name, p->file, p->line);
    if (idx == (size_t)-1)
        return;
    p->cur = SEC_DEST;
    p->cur_dest = idx;
}

/* inih's reader: hand over the next line (fgets-like), counting lines. See
 * the comment at the top for what it does besides. */
static char *read_line(char *str, int num, void *stream)
{
    parser *p = stream;
    if (p->st != TB_OK || p->pos >= p->len || num < 2)
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
    if (n > 0 && (*s == ';' || *s == '#'))
        n = 0; /* a comment; its length does not matter */
    if (n > (size_t)num - 1) {
        fail_at(p, p->line, NULL, p->cur != SEC_NONE ? p->cur_name : NULL, NULL,
                "line longer than %d characters (move a long value into an environment "
                "variable and write ${NAME})",
                num - 1);
        return NULL;
    }
    memcpy(str, s, n);
    str[n] = '\0';
    if (n > 0 && str[0] == '[')
        open_section(p, str);
    return p->st == TB_OK ? str : NULL;
}

static void set_setting(parser *p, const key_spec *table, const char *key, int64_t num, char *value)
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

/* inih's handler: one `key = value` of the current section. */
static int on_key(void *user, const char *section, const char *name, const char *value)
{
    parser *p = user;
    (void)section; /* we track sections ourselves (read_line) */
    char *v = NULL;
    if (p->st != TB_OK)
        return 0;
    if (p->cur == SEC_NONE) {
        fail_at(p, p->line, NULL, NULL, name,
                "key outside a section (put it under [outbox], [shipper] or a destination)");
        goto cleanup;
    }
    if (p->cur == SEC_DEST) {
        tb_dest_config *d = &p->cfg->dests[p->cur_dest];
        const tb__kv *prev = find_kv(d, name);
        if (prev) {
            fail_at(p, p->line, NULL, d->name, name, "set twice (first at line %d; keep one)",
                    prev->line);
            goto cleanup;
        }
        expand(p, value, &v, p->line, NULL, d->name, name);
        if (v && add_kv(p, d, name, v, p->line) && strstr(value, "${"))
            d->kv[d->n_kv - 1].hidden = 1;
        v = NULL;
        goto cleanup;
    }
    const key_spec *table = p->cur == SEC_OUTBOX ? k_outbox : k_shipper;
    const key_spec *k = find_key(table, name);
    if (!k) {
        char keys[400] = "";
        size_t n = 0;
        for (const key_spec *t = table; t->name; t++) {
            int w = snprintf(keys + n, sizeof keys - n, "%s%s", n ? ", " : "", t->name);
            if (w > 0 && (size_t)w < sizeof keys - n)
                n += (size_t)w;
        }
        fail_at(p, p->line, NULL, p->cur_name, name, "unknown key (use one of: %s)", keys);
        goto cleanup;
    }
    size_t ki = (size_t)(k - table);
    if (p->seen_key[ki]) {
        fail_at(p, p->line, NULL, p->cur_name, name, "set twice (first at line %d; keep one)",
                p->seen_key[ki]);
        goto cleanup;
    }
    p->seen_key[ki] = p->line;
    expand(p, value, &v, p->line, NULL, p->cur_name, name);
    if (!v)
        goto cleanup;
    int64_t num;
    if (!check_value(p, k, v, &num, p->line, NULL, p->cur_name, strstr(value, "${") != NULL))
        goto cleanup;
    if (k->kind == K_STRING && !*v) {
        fail_at(p, p->line, NULL, p->cur_name, name, "empty (give a value or remove the line)");
        goto cleanup;
    }
    if (table == k_shipper && strcmp(name, "backoff_cap") == 0)
        p->backoff_cap_line = p->line;
    set_setting(p, table, name, num, v);
    v = NULL;
cleanup:
    tb__free_mem(v);
    return p->st == TB_OK;
}

/* Checks that need the whole file. */
static void check_settings(parser *p)
{
    tb_config *cfg = p->cfg;
    if (p->st == TB_OK && cfg->backoff_cap_ms < cfg->backoff_base_ms) {
        int line = p->backoff_cap_line ? p->backoff_cap_line : p->shipper_line;
        fail_at(p, line, NULL, "shipper", "backoff_cap",
                "smaller than backoff_base (make backoff_cap at least backoff_base)");
    }
}

static tb_status parse_text(tb_config **out, const char *text, size_t len, const char *name)
{
    parser p;
    memset(&p, 0, sizeof p);
    p.file = name;
    p.text = text;
    p.len = len;
    p.st = TB_OK;
    tb_status st;
    p.cfg = tb__calloc(1, sizeof *p.cfg);
    if (!p.cfg) {
        fail_nomem(&p);
        goto cleanup;
    }
    config_defaults(p.cfg);
    p.cfg->file = tb__strdup(name);
    if (!p.cfg->file) {
        fail_nomem(&p);
        goto cleanup;
    }
    int bad_line = ini_parse_stream(read_line, &p, on_key, &p);
    if (p.st == TB_OK)
        close_section(&p);
    if (p.st == TB_OK)
        check_settings(&p);
    /* inih reports the first line it could not read, which may come before
     * an error we found (in a destination, checked at its end). */
    if (bad_line > 0 && (p.st == TB_OK || (p.err_line > 0 && bad_line < p.err_line))) {
        p.st = TB_OK; /* inih's error came first: it replaces ours */
        fail_at(&p, bad_line, NULL, NULL, NULL,
                "malformed line (expected `key = value`, `[section]` or a `;` comment)");
    }
cleanup:
    st = p.st;
    if (st != TB_OK) {
        tb_config_free(p.cfg);
        p.cfg = NULL;
    } else {
        tb__clear_error();
    }
    *out = p.cfg;
    return st;
}

tb_status tb_config_parse(tb_config **out, const char *text, const char *name)
{
    if (!out)
        return tb__set_error(TB_INVALID, "tb_config_parse: out is NULL");
    *out = NULL;
    if (!text)
        return tb__set_error(TB_INVALID, "tb_config_parse: text is NULL");
    return parse_text(out, text, strlen(text), name ? name : "config");
}

/* ------------------------------------------------------------------------ */
/* Environment-only mode                                                     */
/* ------------------------------------------------------------------------ */

/* getenv, with an empty value counted as unset. */
static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

#define MAX_ENV_KV 8

typedef struct env_dest {
    const char *key[MAX_ENV_KV];
    const char *value[MAX_ENV_KV];
    const char *var[MAX_ENV_KV]; /* NULL for built-in values */
    size_t n;
} env_dest;

static void env_put(env_dest *e, const char *key, const char *value, const char *var)
{
    if (!value || e->n >= MAX_ENV_KV)
        return;
    e->key[e->n] = key;
    e->value[e->n] = value;
    e->var[e->n] = var;
    e->n++;
}

/* Put `key` from variable `var` if set. */
static void env_var(env_dest *e, const char *key, const char *var)
{
    env_put(e, key, env(var), var);
}

static void env_add(parser *p, const char *name, const char *type, const env_dest *e)
{
    if (p->st != TB_OK)
        return;
    size_t idx = add_dest(p, name, ENV_WHERE, 0);
    if (idx == (size_t)-1)
        return;
    tb_dest_config *d = &p->cfg->dests[idx];
    const char *vars[MAX_ENV_KV + 1];
    char *t = tb__strdup(type);
    if (!t || !add_kv(p, d, "type", t, 0)) {
        if (!t)
            fail_nomem(p);
        return;
    }
    vars[0] = NULL;
    for (size_t i = 0; i < e->n; i++) {
        char *v = tb__strdup(e->value[i]);
        if (!v) {
            fail_nomem(p);
            return;
        }
        if (!add_kv(p, d, e->key[i], v, 0))
            return;
        vars[i + 1] = e->var[i];
    }
    check_dest(p, d, vars);
}

/* One of a pair of variables set without the other: an error rather than a
 * destination that silently never receives anything. */
static int env_pair(parser *p, const char *a, const char *b)
{
    if (!env(a) == !env(b))
        return env(a) != NULL;
    fail_at(p, 0, env(a) ? a : b, NULL, NULL, "%s is set but %s is not (set both, or neither)",
            env(a) ? a : b, env(a) ? b : a);
    return 0;
}

/* Destinations from the platforms' usual variables. See DESIGN.md. */
static tb_status env_only(tb_config **out)
{
    parser p;
    memset(&p, 0, sizeof p);
    p.file = ENV_WHERE;
    p.st = TB_OK;
    tb_status st;
    p.cfg = tb__calloc(1, sizeof *p.cfg);
    if (!p.cfg) {
        fail_nomem(&p);
        goto cleanup;
    }
    config_defaults(p.cfg);

    if (env("OTEL_EXPORTER_OTLP_ENDPOINT") || env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")) {
        env_dest e = {0};
        env_var(&e, "endpoint", "OTEL_EXPORTER_OTLP_ENDPOINT");
        env_var(&e, "traces_endpoint", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
        env_var(&e, "headers", "OTEL_EXPORTER_OTLP_HEADERS");
        env_var(&e, "service_name", "OTEL_SERVICE_NAME");
        env_add(&p, "otlp", "otlp", &e);
    }
    if (env_pair(&p, "LANGFUSE_PUBLIC_KEY", "LANGFUSE_SECRET_KEY")) {
        env_dest e = {0};
        const char *host_var = env("LANGFUSE_HOST") ? "LANGFUSE_HOST" : "LANGFUSE_BASE_URL";
        if (env(host_var))
            env_var(&e, "host", host_var);
        else
            env_put(&e, "host", "https://cloud.langfuse.com", NULL);
        env_var(&e, "public_key", "LANGFUSE_PUBLIC_KEY");
        env_var(&e, "secret_key", "LANGFUSE_SECRET_KEY");
        env_add(&p, "langfuse", "langfuse", &e);
    }
    if (env_pair(&p, "ARIZE_SPACE_ID", "ARIZE_API_KEY")) {
        env_dest e = {0};
        env_var(&e, "space_id", "ARIZE_SPACE_ID");
        env_var(&e, "api_key", "ARIZE_API_KEY");
        env_var(&e, "project", "ARIZE_PROJECT_NAME");
        env_add(&p, "arize", "arize", &e);
    }
    if (env("PHOENIX_COLLECTOR_ENDPOINT")) {
        env_dest e = {0};
        env_var(&e, "endpoint", "PHOENIX_COLLECTOR_ENDPOINT");
        env_var(&e, "api_key", "PHOENIX_API_KEY");
        env_var(&e, "project", "PHOENIX_PROJECT_NAME");
        env_add(&p, "phoenix", "phoenix", &e);
    }
    /* WANDB_API_KEY alone is common (training runs), so it takes both. */
    char wandb_project[512];
    if (env("WANDB_API_KEY") && env("WANDB_PROJECT")) {
        env_dest e = {0};
        env_var(&e, "api_key", "WANDB_API_KEY");
        if (env("WANDB_ENTITY")) {
            snprintf(wandb_project, sizeof wandb_project, "%s/%s", env("WANDB_ENTITY"),
                     env("WANDB_PROJECT"));
            env_put(&e, "project", wandb_project, "WANDB_ENTITY");
        } else {
            env_var(&e, "project", "WANDB_PROJECT");
        }
        env_add(&p, "wandb", "wandb", &e);
    }
    /* OpenAI only when asked: OPENAI_API_KEY is set for far more than traces. */
    if (env("TRACEBOX_OPENAI") && strcmp(env("TRACEBOX_OPENAI"), "1") == 0) {
        if (!env("OPENAI_API_KEY")) {
            fail_at(&p, 0, "TRACEBOX_OPENAI", NULL, NULL,
                    "TRACEBOX_OPENAI=1 but OPENAI_API_KEY is not set (set it, or unset "
                    "TRACEBOX_OPENAI)");
        } else {
            env_dest e = {0};
            env_var(&e, "api_key", "OPENAI_API_KEY");
            env_var(&e, "organization", "OPENAI_ORG_ID");
            env_var(&e, "project", "OPENAI_PROJECT_ID");
            env_add(&p, "openai", "openai", &e);
        }
    }
    /* Nothing set: the embedded default for demos and first runs, a JSON
     * lines file in the working directory, so records always go somewhere
     * visible instead of nowhere. */
    if (p.st == TB_OK && p.cfg->n_dests == 0) {
        env_dest e = {0};
        env_put(&e, "path", "tracebox-export.jsonl", NULL);
        env_add(&p, "file", "file", &e);
    }
cleanup:
    st = p.st;
    if (st != TB_OK) {
        tb_config_free(p.cfg);
        p.cfg = NULL;
    } else {
        tb__clear_error();
    }
    *out = p.cfg;
    return st;
}

/* ------------------------------------------------------------------------ */
/* Loading                                                                   */
/* ------------------------------------------------------------------------ */

/* Read and parse `path`. `named`: the user named it, so absence is an error
 * (otherwise absence returns TB_NOT_FOUND quietly). */
static tb_status load_file(tb_config **out, const char *path, int named)
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
    st = parse_text(out, b.data ? b.data : "", b.len, path);
cleanup:
    if (f)
        fclose(f);
    tb__buf_free(&b);
    return st;
}

tb_status tb_config_load(tb_config **out, const char *path)
{
    if (!out)
        return tb__set_error(TB_INVALID, "tb_config_load: out is NULL");
    *out = NULL;
    if (path)
        return load_file(out, path, 1);
    if (env("TRACEBOX_CONFIG"))
        return load_file(out, env("TRACEBOX_CONFIG"), 1);
    tb_status st = load_file(out, "tracebox.ini", 0);
    if (st != TB_NOT_FOUND)
        return st;
    return env_only(out);
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
    const tb__kv *kv = find_kv(cfg, key);
    return kv ? kv->value : NULL;
}

/* Writes into cfg->where: the object is ours and never const underneath;
 * the string is valid until the next call for the same destination, which
 * makes this the one accessor that two threads must not share. */
const char *tb_dest_config_where(const tb_dest_config *cfg, const char *key)
{
    if (!cfg)
        return "";
    if (cfg->line <= 0)
        return ENV_WHERE;
    int line = cfg->line;
    const tb__kv *kv = key ? find_kv(cfg, key) : NULL;
    if (kv && kv->line > 0)
        line = kv->line;
    tb_dest_config *w = (tb_dest_config *)cfg;
    snprintf(w->where, sizeof w->where, "%s:%d", cfg->file, line);
    return w->where;
}

int64_t tb_dest_config_timeout_ms(const tb_dest_config *cfg)
{
    return cfg ? cfg->timeout_ms : 30000;
}
