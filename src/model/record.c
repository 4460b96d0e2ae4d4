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

#include "json_scan.h"

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
static void excerpt_text(const char *str, char *out, size_t n)
{
    size_t i = 0;
    const char *s = str;
    out[i++] = '"';
    for (; *s && i + 5 < n; s++)
        out[i++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
    if (*s)
        out[i++] = '.', out[i++] = '.', out[i++] = '.';
    out[i++] = '"';
    out[i] = '\0';
}

static void excerpt(const tb__jval *v, char *out, size_t n)
{
    switch (v->type) {
    case TB__J_STRING: {
        char buf[96];
        if (v->len < sizeof buf) { /* decoded text is never longer */
            tb__json_string(v, buf);
        } else { /* the start of a long string, as written, is enough */
            memcpy(buf, v->at + 1, sizeof buf - 1);
            buf[sizeof buf - 1] = '\0';
        }
        excerpt_text(buf, out, n);
        break;
    }
    case TB__J_NULL:
        snprintf(out, n, "null");
        break;
    case TB__J_NUMBER:
        snprintf(out, n, "a number");
        break;
    case TB__J_TRUE:
    case TB__J_FALSE:
        snprintf(out, n, "a boolean");
        break;
    case TB__J_ARRAY:
        snprintf(out, n, "an array");
        break;
    case TB__J_OBJECT:
        snprintf(out, n, "an object");
        break;
    default:
        snprintf(out, n, "missing");
        break;
    }
}

static bool check_time(const char *s)
{
    int64_t us;
    return s == NULL || tb__parse_iso8601(s, &us);
}

/* The human name of a span: what an operator looks for in `pending`. Each
 * argument is the span_data member of that name when it is a string, else
 * NULL. A handoff's "from -> to" is written into buf (cut at 511 bytes);
 * any other name is one of the arguments. */
static const char *span_name_of(const char *type, const char *name, const char *from,
                                const char *to, const char *model, const char *server,
                                const char *response_id, char buf[512])
{
    if (strcmp(type, "handoff") == 0) {
        snprintf(buf, 512, "%s -> %s", from ? from : "?", to ? to : "?");
        return buf;
    }
    return name ? name : model ? model : server ? server : response_id ? response_id : type;
}

static const char *str_of(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

char *tb__span_name(const cJSON *data, const char *type)
{
    char buf[512];
    return tb__strdup(span_name_of(type, str_of(data, "name"), str_of(data, "from_agent"),
                                   str_of(data, "to_agent"), str_of(data, "model"),
                                   str_of(data, "server"), str_of(data, "response_id"), buf));
}

void tb__record_clear(tb__record *rec)
{
    cJSON_Delete(rec->root);
    if (!rec->packed) {
        tb__free_mem(rec->name);
        tb__free_mem(rec->error_json);
    }
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

/* The members the codec reads (json_scan.h): of the record, of span_data
 * and of error. */
enum {
    K_OBJECT,
    K_ID,
    K_TRACE_ID,
    K_PARENT_ID,
    K_STARTED,
    K_ENDED,
    K_SPAN_DATA,
    K_ERROR,
    K_METADATA,
    K_WORKFLOW,
    K_GROUP,
    N_TOP
};
enum { D_TYPE, D_NAME, D_MODEL, D_SERVER, D_RESPONSE_ID, D_FROM, D_TO, N_DATA };
static const char *const k_top[N_TOP] = {
    "object",    "id",    "trace_id", "parent_id",     "started_at", "ended_at",
    "span_data", "error", "metadata", "workflow_name", "group_id"};
static const char *const k_data[N_DATA] = {"type",        "name",       "model",   "server",
                                           "response_id", "from_agent", "to_agent"};
static const char *const k_error[] = {"message"};

/* Values of a scanned record, decoded into one buffer. */
typedef struct decoded {
    char *buf, *at;
} decoded;

/* A string member decoded into d (NULL when absent or not a string);
 * *len (may be NULL) its decoded length, NUL bytes included. */
static const char *take(decoded *d, const tb__jval *v, size_t *len)
{
    if (v->type != TB__J_STRING)
        return NULL;
    char *s = d->at;
    size_t n = tb__json_string(v, s);
    d->at += n + 1;
    if (len)
        *len = n;
    return s;
}

/* Optional string: absent or null -> NULL, string -> it, else false. */
static bool opt_string(decoded *d, const tb__jval *v, const char **out, size_t *len)
{
    *out = NULL;
    if (v->type == TB__J_ABSENT || v->type == TB__J_NULL)
        return true;
    if (v->type != TB__J_STRING)
        return false;
    *out = take(d, v, len);
    return true;
}

/* An id that decodes with a \u0000 in it: a C string would cut it short. */
static bool cut_at_nul(const char *s, size_t len)
{
    return s && strlen(s) != len;
}

/* The error object's text without the blanks between tokens. */
static const char *compact_json(decoded *d, const tb__jval *v)
{
    char *out = d->at, *o = out;
    bool in_str = false;
    for (size_t i = 0; i < v->len; i++) {
        char c = v->at[i];
        if (in_str) {
            *o++ = c;
            if (c == '\\' && i + 1 < v->len)
                *o++ = v->at[++i];
            else if (c == '"')
                in_str = false;
        } else if (c == '"') {
            in_str = true;
            *o++ = c;
        } else if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            *o++ = c;
        }
    }
    *o = '\0';
    d->at = o + 1;
    return out;
}

tb_status tb__record_decode(tb__record *rec, const char *json, size_t len, char *err,
                            size_t err_size)
{
    char ex[80];
    memset(rec, 0, sizeof *rec);
    err[0] = '\0';

    if (!json)
        return fail(err, err_size, "record: NULL");
    size_t bad_at;
    if (!tb__utf8_valid(json, len, &bad_at))
        return fail(err, err_size, "record: invalid UTF-8 at byte %zu", bad_at);
    if (memchr(json, '\0', len))
        return fail(err, err_size, "record: NUL byte inside the JSON text");

    tb__jval top[N_TOP], data[N_DATA], error[1], whole;
    const tb__jspec data_spec = {k_data, N_DATA, data, NULL, true};
    const tb__jspec error_spec = {k_error, 1, error, NULL, false};
    const tb__jspec *subs[N_TOP] = {[K_SPAN_DATA] = &data_spec, [K_ERROR] = &error_spec};
    const tb__jspec spec = {k_top, N_TOP, top, subs, true};
    size_t where = 0;
    char dup[64];
    switch (tb__json_scan(json, len, &spec, &whole, &where, dup, sizeof dup)) {
    case TB__JSCAN_OK:
        break;
    case TB__JSCAN_SYNTAX:
        return fail(err, err_size, "record: not valid JSON (near byte %zu)", where);
    case TB__JSCAN_TRAILING:
        return fail(err, err_size, "record: unexpected text after the JSON object (byte %zu)",
                    where);
    case TB__JSCAN_NOT_OBJECT:
        excerpt(&whole, ex, sizeof ex);
        return fail(err, err_size, "record: expected a JSON object, got %s", ex);
    case TB__JSCAN_DUPLICATE:
        return fail(err, err_size,
                    "%s: the key appears twice (readers disagree on which one counts)", dup);
    }

    const tb__jval *object = &top[K_OBJECT];
    bool is_trace = object->type == TB__J_STRING && object->len == sizeof "\"trace\"" - 1 &&
                    memcmp(object->at, "\"trace\"", object->len) == 0;
    bool is_span = object->type == TB__J_STRING && object->len == sizeof "\"trace.span\"" - 1 &&
                   memcmp(object->at, "\"trace.span\"", object->len) == 0;
    if (!is_trace && !is_span && object->type == TB__J_STRING && object->escaped) {
        char o[16];
        if (object->len < sizeof o) {
            tb__json_string(object, o);
            is_trace = strcmp(o, "trace") == 0;
            is_span = strcmp(o, "trace.span") == 0;
        }
    }
    if (!is_trace && !is_span) {
        excerpt(object, ex, sizeof ex);
        return fail(err, err_size, "object: expected \"trace\" or \"trace.span\", got %s", ex);
    }
    rec->is_trace = is_trace;

    /* one buffer for every decoded string, the error's text and the name
     * of a handoff: decoded text is never longer than its slice */
    size_t size = 512 + top[K_ERROR].len + 1;
    for (size_t i = 0; i < N_TOP; i++)
        if (top[i].type == TB__J_STRING)
            size += top[i].len + 1;
    for (size_t i = 0; i < N_DATA; i++)
        if (data[i].type == TB__J_STRING)
            size += data[i].len + 1;
    decoded d;
    d.buf = d.at = tb__malloc(size);
    if (!d.buf) {
        snprintf(err, err_size, "out of memory");
        return TB_NOMEM;
    }
    rec->strings = d.buf;
    rec->packed = true;

    size_t id_len = 0;
    const char *id = NULL;
    if (!opt_string(&d, &top[K_ID], &id, &id_len) || !id) {
        excerpt(&top[K_ID], ex, sizeof ex);
        goto bad_msg_id;
    }
    rec->id = id;
    if (!tb__valid_id(id)) {
        fail(err, err_size, "id: expected a non-empty string, got \"\"");
        goto bad;
    }

    if (rec->is_trace) {
        const char *wf = NULL, *group = NULL;
        if (!opt_string(&d, &top[K_WORKFLOW], &wf, NULL)) {
            fail(err, err_size, "workflow_name: expected a string or null");
            goto bad;
        }
        if (!opt_string(&d, &top[K_GROUP], &group, NULL)) {
            fail(err, err_size, "group_id: expected a string or null");
            goto bad;
        }
        const tb__jval *md = &top[K_METADATA];
        if (md->type != TB__J_ABSENT && md->type != TB__J_NULL && md->type != TB__J_OBJECT) {
            fail(err, err_size, "metadata: expected an object or null");
            goto bad;
        }
        if (cut_at_nul(id, id_len)) {
            fail(err, err_size, "id: contains a NUL character (\\u0000), which ids may not");
            goto bad;
        }
        rec->trace_id = id;
        rec->type = "trace";
        rec->name = (char *)(wf ? wf : "Agent workflow");
        if (!wf) { /* owned by the buffer like the rest */
            rec->name = d.at;
            memcpy(d.at, "Agent workflow", sizeof "Agent workflow");
            d.at += sizeof "Agent workflow";
        }
        return TB_OK;
    }

    /* a span */
    rec->span_id = id;
    size_t tid_len = 0, pid_len = 0;
    if (!opt_string(&d, &top[K_TRACE_ID], &rec->trace_id, &tid_len) ||
        !tb__valid_id(rec->trace_id)) {
        excerpt(&top[K_TRACE_ID], ex, sizeof ex);
        fail(err, err_size, "trace_id: expected a non-empty string, got %s", ex);
        goto bad;
    }
    if (!opt_string(&d, &top[K_PARENT_ID], &rec->parent_id, &pid_len) ||
        (rec->parent_id && !tb__valid_id(rec->parent_id))) {
        excerpt(&top[K_PARENT_ID], ex, sizeof ex);
        fail(err, err_size, "parent_id: expected null or a span id, got %s", ex);
        goto bad;
    }
    const char *id_keys[] = {"id", "trace_id", "parent_id"};
    const char *id_vals[] = {rec->span_id, rec->trace_id, rec->parent_id};
    const size_t id_lens[] = {id_len, tid_len, pid_len};
    for (size_t i = 0; i < 3; i++) {
        if (cut_at_nul(id_vals[i], id_lens[i])) {
            fail(err, err_size, "%s: contains a NUL character (\\u0000), which ids may not",
                 id_keys[i]);
            goto bad;
        }
    }
    if (!opt_string(&d, &top[K_STARTED], &rec->started_at, NULL) || !check_time(rec->started_at)) {
        excerpt(&top[K_STARTED], ex, sizeof ex);
        fail(err, err_size, "started_at: expected an ISO-8601 time or null, got %s", ex);
        goto bad;
    }
    if (!opt_string(&d, &top[K_ENDED], &rec->ended_at, NULL) || !check_time(rec->ended_at)) {
        excerpt(&top[K_ENDED], ex, sizeof ex);
        fail(err, err_size, "ended_at: expected an ISO-8601 time or null, got %s", ex);
        goto bad;
    }
    if (top[K_SPAN_DATA].type != TB__J_OBJECT) {
        excerpt(&top[K_SPAN_DATA], ex, sizeof ex);
        fail(err, err_size, "span_data: expected an object, got %s", ex);
        goto bad;
    }
    const char *type = take(&d, &data[D_TYPE], NULL);
    if (!type || type[0] == '\0') {
        excerpt(&data[D_TYPE], ex, sizeof ex);
        fail(err, err_size, "span_data.type: expected a non-empty string, got %s", ex);
        goto bad;
    }
    rec->type = type;
    const tb__jval *error_v = &top[K_ERROR];
    if (error_v->type != TB__J_ABSENT && error_v->type != TB__J_NULL) {
        if (error_v->type != TB__J_OBJECT || error[0].type != TB__J_STRING) {
            fail(err, err_size, "error: expected null or {\"message\": string, \"data\": …}");
            goto bad;
        }
        rec->error_json = (char *)compact_json(&d, error_v);
    }
    const tb__jval *md = &top[K_METADATA];
    if (md->type != TB__J_ABSENT && md->type != TB__J_NULL && md->type != TB__J_OBJECT) {
        fail(err, err_size, "metadata: expected an object or null");
        goto bad;
    }
    char *name_buf = d.at;
    d.at += 512;
    const char *name = take(&d, &data[D_NAME], NULL), *from = take(&d, &data[D_FROM], NULL),
               *to = take(&d, &data[D_TO], NULL), *model = take(&d, &data[D_MODEL], NULL),
               *server = take(&d, &data[D_SERVER], NULL),
               *response_id = take(&d, &data[D_RESPONSE_ID], NULL);
    rec->name = (char *)span_name_of(type, name, from, to, model, server, response_id, name_buf);
    return TB_OK;

bad_msg_id:
    fail(err, err_size, "id: expected a string, got %s", ex);
bad:
    tb__record_clear(rec);
    return TB_BAD_RECORD;
}
