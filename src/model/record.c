/*
 * record.c — the record codec.
 *
 * The canonical record is the object the Agents SDK exports (Python
 * `export()`, JS `toJSON()`). We accept exactly that shape and nothing
 * partial: a record is either valid as a whole (and stored verbatim) or
 * refused with a message naming the field. Unknown span_data types and
 * unknown extra fields are kept, because the SDKs grow.
 *
 * Both timestamp styles are accepted (Python `+00:00` with microseconds, JS
 * `Z` with milliseconds); they are stored as written.
 */
#include "record.h"

#include <string.h>

static tb_status fail(char *err, size_t n, const char *fmt, ...) TB__PRINTF(3, 4);
static tb_status fail(char *err, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, n, fmt, ap);
    va_end(ap);
    return TB_BAD_RECORD;
}

/* A short, printable excerpt of a bad value for an error message. */
static void excerpt(const cJSON *v, char *out, size_t n)
{
    if (cJSON_IsString(v)) {
        size_t i = 0;
        const char *s = v->valuestring;
        out[i++] = '"';
        for (; *s && i + 5 < n; s++)
            out[i++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
        if (*s)
            out[i++] = '.', out[i++] = '.', out[i++] = '.';
        out[i++] = '"';
        out[i] = '\0';
    } else if (cJSON_IsNull(v)) {
        snprintf(out, n, "null");
    } else if (cJSON_IsNumber(v)) {
        snprintf(out, n, "a number");
    } else if (cJSON_IsBool(v)) {
        snprintf(out, n, "a boolean");
    } else if (cJSON_IsArray(v)) {
        snprintf(out, n, "an array");
    } else if (cJSON_IsObject(v)) {
        snprintf(out, n, "an object");
    } else {
        snprintf(out, n, "missing");
    }
}

/* Optional string: absent or null -> NULL; string -> it; else error. */
static bool opt_string(const cJSON *obj, const char *key, const char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v)) {
        *out = NULL;
        return true;
    }
    if (!cJSON_IsString(v))
        return false;
    *out = v->valuestring;
    return true;
}

static bool check_time(const char *s)
{
    int64_t us;
    return s == NULL || tb__parse_iso8601(s, &us);
}

/* The human name of a span: what an operator looks for in `pending`. */
char *tb__span_name(const cJSON *data, const char *type)
{
    const char *name = NULL;
    const cJSON *v;
    char buf[512];
    if ((v = cJSON_GetObjectItemCaseSensitive(data, "name")) && cJSON_IsString(v))
        name = v->valuestring;
    if (strcmp(type, "handoff") == 0) {
        const char *from = NULL, *to = NULL;
        opt_string(data, "from_agent", &from);
        opt_string(data, "to_agent", &to);
        snprintf(buf, sizeof buf, "%s -> %s", from ? from : "?", to ? to : "?");
        return tb__strdup(buf);
    }
    if (!name && (v = cJSON_GetObjectItemCaseSensitive(data, "model")) && cJSON_IsString(v))
        name = v->valuestring;
    if (!name && (v = cJSON_GetObjectItemCaseSensitive(data, "server")) && cJSON_IsString(v))
        name = v->valuestring;
    if (!name && (v = cJSON_GetObjectItemCaseSensitive(data, "response_id")) && cJSON_IsString(v))
        name = v->valuestring;
    if (!name)
        name = type;
    return tb__strdup(name);
}

void tb__record_clear(tb__record *rec)
{
    cJSON_Delete(rec->root);
    tb__free_mem(rec->name);
    tb__free_mem(rec->error_json);
    tb__free_mem(rec->strings);
    memset(rec, 0, sizeof *rec);
}

tb_status tb__record_compact(tb__record *rec)
{
    const char **cols[] = {&rec->id,   &rec->trace_id,   &rec->span_id, &rec->parent_id,
                           &rec->type, &rec->started_at, &rec->ended_at};
    size_t n = sizeof cols / sizeof cols[0], total = 0;
    for (size_t i = 0; i < n; i++)
        total += *cols[i] ? strlen(*cols[i]) + 1 : 0;
    char *buf = tb__malloc(total ? total : 1);
    if (!buf)
        return TB_NOMEM;
    char *p = buf;
    for (size_t i = 0; i < n; i++) {
        if (!*cols[i])
            continue;
        size_t len = strlen(*cols[i]) + 1;
        memcpy(p, *cols[i], len);
        *cols[i] = p;
        p += len;
    }
    cJSON_Delete(rec->root);
    rec->root = NULL;
    tb__free_mem(rec->strings);
    rec->strings = buf;
    return TB_OK;
}

/* The first key of obj that appears twice, or NULL. JSON readers disagree
 * on which one wins (cJSON the first, Python and JavaScript the last), so a
 * record that has one is refused rather than stored under one id and read
 * under another. */
static const char *duplicate_key(const cJSON *obj)
{
    if (!cJSON_IsObject(obj))
        return NULL;
    for (const cJSON *a = obj->child; a; a = a->next)
        for (const cJSON *b = a->next; b; b = b->next)
            if (a->string && b->string && strcmp(a->string, b->string) == 0)
                return a->string;
    return NULL;
}

/* Did the id `got` (as decoded) end early at a \u0000 escape? cJSON's
 * strings end at the first NUL, so "ab\u0000cd" would be stored as "ab".
 * Looked for only when the text has such an escape at all. */
static bool id_cut_at_nul(const char *json, size_t len, const char *got)
{
    static const char esc[] = "\\u0000";
    const size_t e = sizeof esc - 1;
    if (!got)
        return false;
    const char *first = NULL; /* the first \u0000 in the text */
    for (const char *p = json; p && (size_t)(p - json) + e <= len;
         p = memchr(p + 1, '\\', len - (size_t)(p - json) - 1)) {
        if (*p == '\\' && memcmp(p, esc, e) == 0) {
            first = p;
            break;
        }
    }
    if (!first)
        return false;
    size_t n = strlen(got);
    for (size_t i = 0; i + 1 + n + e <= len; i++)
        if (json[i] == '"' && memcmp(json + i + 1, got, n) == 0 &&
            memcmp(json + i + 1 + n, esc, e) == 0)
            return true;
    return false;
}

tb_status tb__record_decode(tb__record *rec, const char *json, size_t len, char *err,
                            size_t err_size)
{
    tb_status st = TB_BAD_RECORD;
    char ex[80];
    memset(rec, 0, sizeof *rec);
    tb__json_init();
    err[0] = '\0';

    if (!json)
        return fail(err, err_size, "record: NULL");
    size_t bad_at;
    if (!tb__utf8_valid(json, len, &bad_at))
        return fail(err, err_size, "record: invalid UTF-8 at byte %zu", bad_at);
    if (memchr(json, '\0', len))
        return fail(err, err_size, "record: NUL byte inside the JSON text");

    const char *end = NULL;
    rec->root = cJSON_ParseWithLengthOpts(json, len, &end, false);
    if (!rec->root) {
        const char *where = cJSON_GetErrorPtr();
        size_t off = where && where >= json && where <= json + len ? (size_t)(where - json) : 0;
        return fail(err, err_size, "record: not valid JSON (near byte %zu)", off);
    }
    while (end && end < json + len && (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n'))
        end++;
    if (end && end < json + len) {
        st = fail(err, err_size, "record: unexpected text after the JSON object (byte %zu)",
                  (size_t)(end - json));
        goto fail;
    }
    if (!cJSON_IsObject(rec->root)) {
        excerpt(rec->root, ex, sizeof ex);
        st = fail(err, err_size, "record: expected a JSON object, got %s", ex);
        goto fail;
    }

    const char *dup = duplicate_key(rec->root);
    if (!dup)
        dup = duplicate_key(cJSON_GetObjectItemCaseSensitive(rec->root, "span_data"));
    if (dup) {
        st = fail(err, err_size, "%s: the key appears twice (readers disagree on which one counts)",
                  dup);
        goto fail;
    }

    const cJSON *object = cJSON_GetObjectItemCaseSensitive(rec->root, "object");
    const char *id = NULL;
    if (!cJSON_IsString(object) || (strcmp(object->valuestring, "trace") != 0 &&
                                    strcmp(object->valuestring, "trace.span") != 0)) {
        excerpt(object, ex, sizeof ex);
        st = fail(err, err_size, "object: expected \"trace\" or \"trace.span\", got %s", ex);
        goto fail;
    }
    rec->is_trace = strcmp(object->valuestring, "trace") == 0;
    if (!opt_string(rec->root, "id", &id) || !id) {
        excerpt(cJSON_GetObjectItemCaseSensitive(rec->root, "id"), ex, sizeof ex);
        st = fail(err, err_size, "id: expected a string, got %s", ex);
        goto fail;
    }
    rec->id = id;

    if (rec->is_trace) {
        const char *wf = NULL, *group = NULL;
        if (!tb__valid_id(id)) {
            st = fail(err, err_size, "id: expected a non-empty string, got \"\"");
            goto fail;
        }
        if (!opt_string(rec->root, "workflow_name", &wf)) {
            st = fail(err, err_size, "workflow_name: expected a string or null");
            goto fail;
        }
        if (!opt_string(rec->root, "group_id", &group)) {
            st = fail(err, err_size, "group_id: expected a string or null");
            goto fail;
        }
        const cJSON *md = cJSON_GetObjectItemCaseSensitive(rec->root, "metadata");
        if (md && !cJSON_IsNull(md) && !cJSON_IsObject(md)) {
            st = fail(err, err_size, "metadata: expected an object or null");
            goto fail;
        }
        if (id_cut_at_nul(json, len, id)) {
            st = fail(err, err_size, "id: contains a NUL character (\\u0000), which ids may not");
            goto fail;
        }
        rec->trace_id = id;
        rec->type = "trace";
        rec->name = tb__strdup(wf ? wf : "Agent workflow");
        if (!rec->name) {
            st = TB_NOMEM;
            goto fail;
        }
        return TB_OK;
    }

    /* a span */
    if (!tb__valid_id(id)) {
        st = fail(err, err_size, "id: expected a non-empty string, got \"\"");
        goto fail;
    }
    rec->span_id = id;
    if (!opt_string(rec->root, "trace_id", &rec->trace_id) || !tb__valid_id(rec->trace_id)) {
        excerpt(cJSON_GetObjectItemCaseSensitive(rec->root, "trace_id"), ex, sizeof ex);
        st = fail(err, err_size, "trace_id: expected a non-empty string, got %s", ex);
        goto fail;
    }
    if (!opt_string(rec->root, "parent_id", &rec->parent_id) ||
        (rec->parent_id && !tb__valid_id(rec->parent_id))) {
        excerpt(cJSON_GetObjectItemCaseSensitive(rec->root, "parent_id"), ex, sizeof ex);
        st = fail(err, err_size, "parent_id: expected null or a span id, got %s", ex);
        goto fail;
    }
    const char *id_keys[] = {"id", "trace_id", "parent_id"};
    const char *id_vals[] = {rec->span_id, rec->trace_id, rec->parent_id};
    for (size_t i = 0; i < 3; i++) {
        if (id_cut_at_nul(json, len, id_vals[i])) {
            st = fail(err, err_size, "%s: contains a NUL character (\\u0000), which ids may not",
                      id_keys[i]);
            goto fail;
        }
    }
    if (!opt_string(rec->root, "started_at", &rec->started_at) || !check_time(rec->started_at)) {
        excerpt(cJSON_GetObjectItemCaseSensitive(rec->root, "started_at"), ex, sizeof ex);
        st = fail(err, err_size, "started_at: expected an ISO-8601 time or null, got %s", ex);
        goto fail;
    }
    if (!opt_string(rec->root, "ended_at", &rec->ended_at) || !check_time(rec->ended_at)) {
        excerpt(cJSON_GetObjectItemCaseSensitive(rec->root, "ended_at"), ex, sizeof ex);
        st = fail(err, err_size, "ended_at: expected an ISO-8601 time or null, got %s", ex);
        goto fail;
    }
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(rec->root, "span_data");
    if (!cJSON_IsObject(data)) {
        excerpt(data, ex, sizeof ex);
        st = fail(err, err_size, "span_data: expected an object, got %s", ex);
        goto fail;
    }
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(data, "type");
    if (!cJSON_IsString(type) || type->valuestring[0] == '\0') {
        excerpt(type, ex, sizeof ex);
        st = fail(err, err_size, "span_data.type: expected a non-empty string, got %s", ex);
        goto fail;
    }
    rec->type = type->valuestring;
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(rec->root, "error");
    if (error && !cJSON_IsNull(error)) {
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(error, "message");
        if (!cJSON_IsObject(error) || !cJSON_IsString(msg)) {
            st = fail(err, err_size, "error: expected null or {\"message\": string, \"data\": …}");
            goto fail;
        }
        rec->error_json = cJSON_PrintUnformatted(error);
        if (!rec->error_json) {
            st = TB_NOMEM;
            goto fail;
        }
    }
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(rec->root, "metadata");
    if (md && !cJSON_IsNull(md) && !cJSON_IsObject(md)) {
        st = fail(err, err_size, "metadata: expected an object or null");
        goto fail;
    }
    rec->name = tb__span_name(data, rec->type);
    if (!rec->name) {
        st = TB_NOMEM;
        goto fail;
    }
    return TB_OK;

fail:
    if (st == TB_NOMEM)
        snprintf(err, err_size, "out of memory");
    tb__record_clear(rec);
    return st;
}
