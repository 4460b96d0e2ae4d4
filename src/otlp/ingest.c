/*
 * otlp/ingest.c — an OTLP ExportTraceServiceRequest into the outbox, one
 * record of kind 'otlp' per span (tb_outbox_put_otlp, outbox.h).
 *
 * Design. `tracebox serve` hands every POST /v1/traces body here. The
 * request is decoded whole before anything is stored, so a malformed one
 * stores nothing: binary protobuf with protobuf-c (after a walk that
 * bounds the nesting depth of its values, which protobuf-c's recursive
 * decoder does not), OTLP/JSON with cJSON and json_in.c. Each span becomes
 * a record whose body is the span in OTLP/JSON with its resource and scope
 * beside it (json.c), and whose columns are filled as for the SDK's
 * records (the operator queries them the same way). The records go down to
 * the writer together (outbox_put.h), in as few transactions as it makes,
 * and this returns only when each is committed or refused.
 *
 * What a span is refused for (partial success; the rest is stored): a
 * trace id that is not 16 bytes or is all zero, a span id that is not 8
 * bytes or is all zero. What the outbox refuses (full, busy, i/o) is
 * counted apart, so the receiver can ask the sender to try again.
 */
#include "otlp/ingest.h"

#include "otlp/arena.h"
#include "otlp/json.h"
#include "otlp/json_in.h"
#include "json_print.h"
#include "json_scan.h"
#include "outbox_put.h"
#include "trace.pb-c.h"

#include <stdio.h>
#include <string.h>

#define MAX_DEPTH 64 /* nesting of messages, values within values included */

/* ---- a bound on protobuf nesting ----------------------------------------
 * The message types that hold other messages, and which of their fields
 * (length-delimited) are which message. Anything else is left to
 * protobuf-c. */
enum msg {
    M_NONE,
    M_REQUEST,
    M_RESOURCE_SPANS,
    M_RESOURCE,
    M_SCOPE_SPANS,
    M_SCOPE,
    M_SPAN,
    M_EVENT,
    M_LINK,
    M_KEY_VALUE,
    M_ANY_VALUE,
    M_ARRAY_VALUE,
    M_KV_LIST
};

static enum msg child(enum msg m, uint32_t field)
{
    switch (m) {
    case M_REQUEST:
        return field == 1 ? M_RESOURCE_SPANS : M_NONE;
    case M_RESOURCE_SPANS:
        return field == 1 ? M_RESOURCE : field == 2 ? M_SCOPE_SPANS : M_NONE;
    case M_RESOURCE:
        return field == 1 ? M_KEY_VALUE : M_NONE;
    case M_SCOPE_SPANS:
        return field == 1 ? M_SCOPE : field == 2 ? M_SPAN : M_NONE;
    case M_SCOPE:
        return field == 3 ? M_KEY_VALUE : M_NONE;
    case M_SPAN:
        return field == 9 ? M_KEY_VALUE : field == 11 ? M_EVENT : field == 13 ? M_LINK : M_NONE;
    case M_EVENT:
        return field == 3 ? M_KEY_VALUE : M_NONE;
    case M_LINK:
        return field == 4 ? M_KEY_VALUE : M_NONE;
    case M_KEY_VALUE:
        return field == 2 ? M_ANY_VALUE : M_NONE;
    case M_ANY_VALUE:
        return field == 5 ? M_ARRAY_VALUE : field == 6 ? M_KV_LIST : M_NONE;
    case M_ARRAY_VALUE:
        return field == 1 ? M_ANY_VALUE : M_NONE;
    case M_KV_LIST:
        return field == 1 ? M_KEY_VALUE : M_NONE;
    default:
        return M_NONE;
    }
}

static bool varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        *v |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80))
            return true;
    }
    return false;
}

/* Walk one message [p, end) of type m at `depth`. false with err set at a
 * truncated field, a group, or nesting deeper than MAX_DEPTH. */
static bool walk(const uint8_t *p, const uint8_t *end, enum msg m, int depth, const uint8_t *base,
                 char *err, size_t err_size)
{
    if (depth > MAX_DEPTH) {
        snprintf(err, err_size, "protobuf: values nested deeper than %d levels at byte %td",
                 MAX_DEPTH, p - base);
        return false;
    }
    while (p < end) {
        const uint8_t *at = p;
        uint64_t key = 0, v = 0;
        if (!varint(&p, end, &key))
            goto truncated;
        uint32_t field = (uint32_t)(key >> 3);
        switch (key & 7) {
        case 0:
            if (!varint(&p, end, &v))
                goto truncated;
            break;
        case 1:
            if (end - p < 8)
                goto truncated;
            p += 8;
            break;
        case 5:
            if (end - p < 4)
                goto truncated;
            p += 4;
            break;
        case 2: {
            if (!varint(&p, end, &v) || v > (uint64_t)(end - p))
                goto truncated;
            enum msg c = child(m, field);
            if (c != M_NONE && !walk(p, p + v, c, depth + 1, base, err, err_size))
                return false;
            p += v;
            break;
        }
        default:
            snprintf(err, err_size, "protobuf: wire type %u at byte %td is not one OTLP uses",
                     (unsigned)(key & 7), at - base);
            return false;
        }
        if (field == 0) {
            snprintf(err, err_size, "protobuf: field number 0 at byte %td", at - base);
            return false;
        }
        continue;
    truncated:
        snprintf(err, err_size, "protobuf: truncated field at byte %td of %td", at - base,
                 end - base);
        return false;
    }
    return true;
}

/* ---- OTLP/JSON, strictly ---------------------------------------------------- */

/* A \u0000 in a string: C strings (and so the protobuf-c model) end there,
 * so the text after it would be dropped without a word. The text is valid
 * JSON here. */
static const char *nul_escape(const char *p, const char *end)
{
    bool in_string = false;
    for (; p < end; p++) {
        if (!in_string) {
            in_string = *p == '"';
            continue;
        }
        if (*p == '"') {
            in_string = false;
        } else if (*p == '\\') {
            if (end - p >= 6 && memcmp(p + 1, "u0000", 5) == 0)
                return p;
            p++; /* the escaped character */
        }
    }
    return NULL;
}

static bool json_strict(const void *data, size_t len, char *err, size_t err_size)
{
    static const char *const keys[] = {"resourceSpans", "resource_spans"};
    tb__jval vals[2];
    const tb__jspec spec = {.keys = keys, .n = 2, .vals = vals, .dups = true};
    size_t where = 0;
    char dup[64] = "";
    switch (tb__json_scan(data, len, &spec, NULL, &where, dup, sizeof dup)) {
    case TB__JSCAN_OK:
        break;
    case TB__JSCAN_SYNTAX:
        snprintf(err, err_size, "not valid JSON at byte %zu of %zu", where, len);
        return false;
    case TB__JSCAN_NOT_OBJECT:
        snprintf(err, err_size, "not a JSON object");
        return false;
    case TB__JSCAN_TRAILING:
        snprintf(err, err_size, "text after the request at byte %zu", where);
        return false;
    case TB__JSCAN_DUPLICATE:
        snprintf(err, err_size, "key \"%s\" appears twice", dup);
        return false;
    }
    if (vals[0].type != TB__J_ABSENT && vals[1].type != TB__J_ABSENT) {
        snprintf(err, err_size, "both resourceSpans and resource_spans");
        return false;
    }
    const char *nul = nul_escape(data, (const char *)data + len);
    if (nul) {
        snprintf(err, err_size, "a string holds \\u0000 at byte %td (not accepted)",
                 nul - (const char *)data);
        return false;
    }
    return true;
}

/* ---- a span into a record -------------------------------------------------- */

static const char *const kind_names[] = {"unspecified", "internal", "server",
                                         "client",      "producer", "consumer"};

static bool id_ok(ProtobufCBinaryData id, size_t want)
{
    if (id.len != want)
        return false;
    for (size_t i = 0; i < id.len; i++)
        if (id.data[i])
            return true;
    return false;
}

static void hex(ProtobufCBinaryData id, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < id.len; i++) {
        out[2 * i] = digits[id.data[i] >> 4];
        out[2 * i + 1] = digits[id.data[i] & 15];
    }
    out[2 * id.len] = '\0';
}

/* Attribute keys whose values are a model's or a tool's inputs and outputs
 * (OpenInference and OpenTelemetry GenAI names): with `redact`, their
 * values are replaced, as the SDK records' inputs and outputs are. */
static bool content_key(const char *k)
{
    static const char *const prefixes[] = {"input.value",
                                           "output.value",
                                           "llm.input_messages",
                                           "llm.output_messages",
                                           "llm.prompts",
                                           "llm.prompt_template.variables",
                                           "gen_ai.prompt",
                                           "gen_ai.completion",
                                           "gen_ai.input.messages",
                                           "gen_ai.output.messages",
                                           "gen_ai.system_instructions",
                                           "gen_ai.tool.call.arguments",
                                           "gen_ai.tool.call.result",
                                           "retrieval.documents",
                                           "embedding.embeddings",
                                           "reranker.input_documents",
                                           "reranker.output_documents"};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
        if (strncmp(k, prefixes[i], strlen(prefixes[i])) == 0)
            return true;
    return false;
}

/* kv's value becomes the string "[redacted]". */
static bool redact_value(cJSON *kv)
{
    cJSON *v = cJSON_CreateObject();
    if (!v || !cJSON_AddStringToObject(v, "stringValue", "[redacted]") ||
        !cJSON_ReplaceItemInObjectCaseSensitive(kv, "value", v)) {
        cJSON_Delete(v);
        return false;
    }
    return true;
}

/* The attributes whose key is a content key (all: every one but a GenAI
 * event's role, index and system). */
static bool redact_attrs(cJSON *attrs, bool all)
{
    cJSON *kv;
    cJSON_ArrayForEach(kv, attrs)
    {
        const cJSON *key = cJSON_GetObjectItemCaseSensitive(kv, "key");
        if (!cJSON_IsString(key))
            continue;
        const char *k = key->valuestring;
        bool hit = all ? strcmp(k, "gen_ai.system") != 0 &&
                             strcmp(k, "gen_ai.provider.name") != 0 && strcmp(k, "index") != 0 &&
                             strcmp(k, "role") != 0
                       : content_key(k);
        if (hit && !redact_value(kv))
            return false;
    }
    return true;
}

/* The span's and its events' content attributes; every attribute of a
 * GenAI event (gen_ai.user.message, gen_ai.choice, …: their attributes are
 * the message) but its role and index. */
static bool redact_body(cJSON *body)
{
    if (!redact_attrs(cJSON_GetObjectItemCaseSensitive(body, "attributes"), false))
        return false;
    cJSON *ev;
    cJSON_ArrayForEach(ev, cJSON_GetObjectItemCaseSensitive(body, "events"))
    {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(ev, "name");
        bool genai = cJSON_IsString(name) && strncmp(name->valuestring, "gen_ai.", 7) == 0;
        if (!redact_attrs(cJSON_GetObjectItemCaseSensitive(ev, "attributes"), genai))
            return false;
    }
    return true;
}

/* At most 40 bytes of a span's name for a message: one line, ASCII. */
static const char *shown(const char *name, char out[48])
{
    snprintf(out, 48, "%.40s", name ? name : "");
    tb__one_line(out);
    return out;
}

/* Copy s to *p (NUL included), advance *p; the copy. */
static char *put_str(char **p, const char *s)
{
    char *at = *p;
    size_t n = strlen(s) + 1;
    memcpy(at, s, n);
    *p += n;
    return at;
}

/* Fill rec (columns in one allocation, rec->strings) and *body for one
 * span. TB_BAD_RECORD with msg for a span refused for its ids. */
static tb_status span_record(const Tbotlp__ResourceSpans *rs, const Tbotlp__ScopeSpans *ss,
                             const Tbotlp__Span *s, bool redact, tb__record *rec, char **body,
                             size_t *body_len, char *msg, size_t msg_size)
{
    memset(rec, 0, sizeof *rec);
    *body = NULL;
    char shown_name[48];
    if (!id_ok(s->trace_id, 16)) {
        snprintf(msg, msg_size, "span \"%s\": traceId is %s", shown(s->name, shown_name),
                 s->trace_id.len == 16 ? "all zero" : "not 16 bytes");
        return TB_BAD_RECORD;
    }
    if (!id_ok(s->span_id, 8)) {
        snprintf(msg, msg_size, "span \"%s\": spanId is %s", shown(s->name, shown_name),
                 s->span_id.len == 8 ? "all zero" : "not 8 bytes");
        return TB_BAD_RECORD;
    }
    if (s->parent_span_id.len != 0 && s->parent_span_id.len != 8) {
        snprintf(msg, msg_size, "span \"%s\": parentSpanId is not 8 bytes",
                 shown(s->name, shown_name));
        return TB_BAD_RECORD;
    }
    /* a link whose ids are not a trace id and a span id is dropped (and
     * counted in dropped_links_count, as an SDK counts what it drops) */
    Tbotlp__Span copy = *s;
    Tbotlp__Span__Link **links = NULL;
    size_t bad_links = 0;
    for (size_t i = 0; i < s->n_links; i++)
        bad_links += s->links[i]->trace_id.len != 16 || s->links[i]->span_id.len != 8;
    if (bad_links) {
        links = tb__malloc((s->n_links - bad_links + 1) * sizeof *links);
        if (!links) {
            snprintf(msg, msg_size, "out of memory");
            return TB_NOMEM;
        }
        size_t k = 0;
        for (size_t i = 0; i < s->n_links; i++)
            if (s->links[i]->trace_id.len == 16 && s->links[i]->span_id.len == 8)
                links[k++] = s->links[i];
        copy.links = links;
        copy.n_links = k;
        copy.dropped_links_count += (uint32_t)bad_links;
    }
    cJSON *o =
        tb__otlp_json_stored_span(&copy, rs->resource, rs->schema_url, ss->scope, ss->schema_url);
    tb__free_mem(links);
    if (o && redact && !redact_body(o)) {
        cJSON_Delete(o);
        o = NULL;
    }
    char *text = o ? tb__json_print(o) : NULL;
    /* the name as stored (valid UTF-8), for the column */
    const cJSON *nm = cJSON_GetObjectItemCaseSensitive(o, "name");
    const char *name = cJSON_IsString(nm) ? nm->valuestring : "";
    char *error = NULL;
    if (text && s->status && s->status->code == TBOTLP__STATUS__STATUS_CODE__STATUS_CODE_ERROR) {
        cJSON *e = cJSON_CreateObject();
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(o, "status");
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(st, "message");
        if (e && cJSON_AddStringToObject(e, "message", cJSON_IsString(m) ? m->valuestring : ""))
            error = tb__json_print(e);
        cJSON_Delete(e);
        if (!error) {
            cJSON_free(text);
            text = NULL;
        }
    }
    char started[40] = "", ended[40] = "";
    if (s->start_time_unix_nano)
        tb__iso8601((int64_t)(s->start_time_unix_nano / 1000), started);
    if (s->end_time_unix_nano)
        tb__iso8601((int64_t)(s->end_time_unix_nano / 1000), ended);
    const char *type = (unsigned)s->kind < 6 ? kind_names[s->kind] : "unspecified";
    size_t need = 33 + 17 + 17 + strlen(type) + 1 + strlen(name) + 1 + sizeof started +
                  sizeof ended + (error ? strlen(error) + 1 : 0);
    char *buf = text ? tb__malloc(need) : NULL;
    if (!buf) {
        cJSON_free(text);
        cJSON_free(error);
        cJSON_Delete(o);
        snprintf(msg, msg_size, "out of memory");
        return TB_NOMEM;
    }
    char *p = buf;
    rec->trace_id = p;
    hex(s->trace_id, p);
    p += 33;
    rec->span_id = p;
    hex(s->span_id, p);
    p += 17;
    rec->parent_id = NULL;
    if (id_ok(s->parent_span_id, 8)) {
        rec->parent_id = p;
        hex(s->parent_span_id, p);
    }
    p += 17;
    rec->type = put_str(&p, type);
    rec->name = put_str(&p, name);
    rec->started_at = started[0] ? put_str(&p, started) : NULL;
    rec->ended_at = ended[0] ? put_str(&p, ended) : NULL;
    rec->error_json = error ? put_str(&p, error) : NULL;
    rec->id = rec->span_id;
    rec->is_otlp = true;
    rec->strings = buf;
    rec->packed = true;
    cJSON_free(error);
    cJSON_Delete(o);
    /* cJSON allocates with tb__malloc (util.c's hooks; no JSON pool is open
     * on an entry point's thread), so the writer can free the text itself */
    *body = text;
    *body_len = strlen(text);
    return TB_OK;
}

/* ---- the request -------------------------------------------------------- */

static void note(tb_otlp_result *res, const char *msg)
{
    if (!res->message[0])
        snprintf(res->message, sizeof res->message, "%s", msg);
}

tb_status tb__otlp_ingest_decode(const void *data, size_t len, tb_otlp_format format, bool redact,
                                 tb__otlp_decoded *out, tb_otlp_result *res)
{
    memset(out, 0, sizeof *out);
    memset(res, 0, sizeof *res);
    if (!data && len)
        return tb__set_error(TB_INVALID, "tb_outbox_put_otlp: NULL data");
    char err[512] = "";
    Tbotlp__ExportTraceServiceRequest *req = NULL, *unpacked = NULL;
    tb__otlp_arena ar = {0};
    cJSON *root = NULL;
    tb_status st = TB_OK;
    tb__json_init();
    if (format == TB_OTLP_PROTOBUF) {
        const uint8_t *p = data;
        if (!walk(p, p + len, M_REQUEST, 0, p, err, sizeof err)) {
            st = tb__set_error(TB_BAD_RECORD, "%s", err);
            goto done;
        }
        unpacked = tbotlp__export_trace_service_request__unpack(NULL, len, p);
        if (!unpacked) {
            st = tb__set_error(TB_BAD_RECORD,
                               "protobuf: not an ExportTraceServiceRequest (%zu bytes)", len);
            goto done;
        }
        req = unpacked;
    } else if (format == TB_OTLP_JSON) {
        /* strict first (json_scan.h: RFC 8259, nothing after the object,
         * no key twice at the top), so that what cJSON would let pass or
         * read its own way is refused with where it is */
        if (!json_strict(data, len, err, sizeof err)) {
            st = tb__set_error(TB_BAD_RECORD, "json: %s", err);
            goto done;
        }
        root = cJSON_ParseWithLength(data, len);
        if (!root) {
            st = tb__set_error(TB_NOMEM, "json: out of memory parsing %zu bytes", len);
            goto done;
        }
        if (!tb__otlp_json_read_request(&ar, root, &req, err, sizeof err)) {
            st = tb__set_error(ar.failed ? TB_NOMEM : TB_BAD_RECORD, "json: %s", err);
            goto done;
        }
    } else {
        st = tb__set_error(TB_INVALID, "tb_outbox_put_otlp: unknown format %d", (int)format);
        goto done;
    }

    size_t n = 0;
    for (size_t i = 0; i < req->n_resource_spans; i++)
        for (size_t j = 0; j < req->resource_spans[i]->n_scope_spans; j++)
            n += req->resource_spans[i]->scope_spans[j]->n_spans;
    res->spans = (int64_t)n;
    if (n == 0)
        goto done;
    out->recs = tb__calloc(n, sizeof *out->recs);
    out->bodies = tb__calloc(n, sizeof *out->bodies);
    out->lens = tb__calloc(n, sizeof *out->lens);
    if (!out->recs || !out->bodies || !out->lens) {
        tb__otlp_decoded_free(out);
        st = tb__set_error(TB_NOMEM, "out of memory storing %zu OTLP spans", n);
        goto done;
    }
    for (size_t i = 0; i < req->n_resource_spans; i++) {
        const Tbotlp__ResourceSpans *rs = req->resource_spans[i];
        for (size_t j = 0; j < rs->n_scope_spans; j++) {
            const Tbotlp__ScopeSpans *ss = rs->scope_spans[j];
            for (size_t q = 0; q < ss->n_spans; q++) {
                char msg[256];
                size_t k = out->n;
                tb_status s1 = span_record(rs, ss, ss->spans[q], redact, &out->recs[k],
                                           &out->bodies[k], &out->lens[k], msg, sizeof msg);
                if (s1 == TB_OK) {
                    out->n++;
                } else if (s1 == TB_BAD_RECORD) {
                    res->rejected++;
                    note(res, msg);
                } else {
                    res->failed++;
                    if (res->failure == TB_OK)
                        res->failure = s1;
                    note(res, msg);
                }
            }
        }
    }
done:
    if (unpacked)
        tbotlp__export_trace_service_request__free_unpacked(unpacked, NULL);
    cJSON_Delete(root);
    tb__otlp_arena_free(&ar);
    return st;
}

void tb__otlp_decoded_free(tb__otlp_decoded *d)
{
    for (size_t i = 0; d->recs && i < d->n; i++)
        tb__record_clear(&d->recs[i]);
    for (size_t i = 0; d->bodies && i < d->n; i++)
        tb__free_mem(d->bodies[i]);
    tb__free_mem(d->recs);
    tb__free_mem(d->bodies);
    tb__free_mem(d->lens);
    memset(d, 0, sizeof *d);
}

tb_status tb_outbox_put_otlp(tb_outbox *ob, const void *data, size_t len, tb_otlp_format format,
                             tb_otlp_result *res)
{
    tb_otlp_result scratch;
    if (!res)
        res = &scratch;
    memset(res, 0, sizeof *res);
    if (!ob)
        return tb__set_error(TB_INVALID, "tb_outbox_put_otlp: outbox is NULL");
    tb__otlp_decoded d;
    tb_status st = tb__otlp_ingest_decode(data, len, format, tb__outbox_redacts(ob), &d, res);
    if (st != TB_OK || d.n == 0) {
        tb__otlp_decoded_free(&d); /* every span refused: the arrays only */
        return st;
    }
    tb_put_result *out = tb__calloc(d.n, sizeof *out);
    if (!out) {
        tb__otlp_decoded_free(&d);
        return tb__set_error(TB_NOMEM, "out of memory storing %zu OTLP spans", d.n);
    }
    /* the records and bodies are the writer's from here */
    tb_status s2 = tb__outbox_put_decoded(ob, d.recs, d.bodies, d.lens, d.n, out);
    for (size_t i = 0; i < d.n; i++) {
        tb_status s1 = s2 != TB_OK ? s2 : out[i].status;
        if (s1 == TB_OK) {
            res->stored++;
            continue;
        }
        res->failed++;
        if (res->failure == TB_OK)
            res->failure = s1;
        note(res, s2 != TB_OK ? tb_last_error() : out[i].error);
    }
    d.n = 0; /* nothing left to free but the arrays */
    tb__otlp_decoded_free(&d);
    tb__free_mem(out);
    return TB_OK;
}
