/*
 * otlp/encode.c — SDK export records → OTLP ExportTraceServiceRequest.
 *
 * Design. One model, two writers. The request is built once as the
 * protobuf-c structs generated from trace.proto (Tbotlp__*), every struct
 * and string of it carved from one arena (arena.c) that is freed in one
 * go; then either pack.c packs it (binary) or json.c turns the same
 * structs into OTLP/JSON with cJSON (lowerCamelCase keys, hex ids, 64-bit
 * integers as decimal strings, enums as integers). The model's strings
 * are arena copies, or literals, or strings of a span's own body text when
 * that text is valid UTF-8 (parsed in place, it lives until this call
 * returns: attrs.h, borrow_lo), so the writers need nothing else.
 *
 * A batch becomes one ResourceSpans (service.name, telemetry.sdk.*, the
 * destination's extras) holding one ScopeSpans (scope "tracebox") holding
 * one OTLP span per SDK span, in batch order. An SDK trace record gives no
 * span of its own (it has no timestamps); its workflow name, group id and
 * metadata become attributes of every span of that trace (conventions.c
 * decides which, through the attribute builder of attrs.c). The trace
 * record is taken from the batch when present, else from the options'
 * lookup callback (the exporters pass a cache of the trace records they
 * saw in earlier batches, which asks the outbox for the others:
 * trace_cache.c). A span whose trace record is found nowhere — it was
 * never written, or is no longer in the outbox — is sent without those
 * attributes and counted in stats->traces_missing.
 *
 * Ids: see ids.h. Timestamps come from started_at / ended_at
 * (both SDK styles, tb__parse_iso8601); a missing one takes the other's
 * value, and both missing give 0. An SDK error becomes status ERROR with
 * its message plus an "exception" event (exception.message, and
 * exception.data holding the JSON of error.data) at the span's end.
 *
 * Agent spans (and root spans) also get what the rest of their trace says
 * about them (trace_context.c): read from the outbox behind the exporter
 * when the options can ask it, else from the batch.
 *
 * Strings go out as valid UTF-8 (invalid bytes become U+FFFD in an arena
 * copy; see arena.c and attrs.h): protobuf decoders (Go, upb) reject
 * invalid UTF-8 in string fields, and one bad byte would otherwise refuse
 * a whole batch. A body that is valid UTF-8 (checked once) gives its
 * strings as they are.
 *
 * Memory: an allocation failure anywhere marks the arena or the attribute
 * builder; tb__otlp_encode() checks once at the end and returns TB_NOMEM.
 */
#include "otlp/encode.h"

#include "otlp/arena.h"
#include "otlp/attrs.h"
#include "json_print.h"
#include "otlp/conventions.h"
#include "otlp/fields.h"
#include "otlp/ids.h"
#include "otlp/json.h"
#include "otlp/json_in.h"
#include "otlp/pack.h"
#include "otlp/trace_context.h"
#include "trace.pb-c.h"

#include <stdio.h>
#include <string.h>

#define SCOPE_NAME "tracebox"
#define DEFAULT_SERVICE "tracebox"
#define NAME_MAX_BYTES 256

/* ------------------------------------------------------------------------ */
/* Building the request                                                      */
/* ------------------------------------------------------------------------ */

typedef struct trace_ref {
    const char *id;          /* borrowed from a record, or owned (looked up) */
    const cJSON *root;       /* NULL: looked up and not found */
    cJSON *owned;            /* the parsed lookup result */
    tb__otlp_trace_ctx *ctx; /* for agent spans; loaded on the first one */
    uint64_t hash;           /* tb__otlp_id_hash(id): compared before the id */
    bool ctx_loaded;
    tb__otlp_trace_attrs attrs; /* its trace-level attributes, kept (conventions.h) */
} trace_ref;

typedef struct builder {
    tb__otlp_arena ar;
    tb__otlp_attrs attrs;
    const tb__otlp_options *opts;
    cJSON **roots;        /* parsed bodies, one per record (NULL: unparseable) */
    char **texts;         /* the copies they were parsed from, in place (point into) */
    unsigned char *valid; /* texts[i] is valid UTF-8: its strings need no copy */
    /* protobuf: the SDK spans' attributes, packed as they are added (attrs.h,
     * wire mode); span k's are wire.data[wire_at[2k] .. + wire_at[2k+1]) */
    bool packed;
    tb__buf wire;
    size_t *wire_at;
    const Tbotlp__ScopeSpans *sdk_ss; /* the ScopeSpans of those spans, if sent */
    size_t n_roots;
    const tb_record *records; /* the batch */
    int64_t next_seq;         /* one past the batch's highest seq */
    trace_ref *traces;
    size_t n_traces, cap_traces;
    /* the batch's span records by trace (agent_context): an open hash of
     * trace ids to the first such record, and each record's next one of
     * the same trace (SIZE_MAX ends a chain); made on first use */
    size_t *chain_head, *chain_next, n_heads;
    bool failed; /* outside the arena / builder (cJSON, the trace list) */
} builder;

static bool is_trace_record(const tb_record *r, const cJSON *root)
{
    const char *object = gets(root, "object");
    if (object)
        return strcmp(object, "trace") == 0;
    return r->kind && strcmp(r->kind, "trace") == 0;
}

static bool is_otlp_record(const tb_record *r)
{
    return r->kind && strcmp(r->kind, "otlp") == 0;
}

static trace_ref *trace_add(builder *b, const char *id, const cJSON *root, cJSON *owned)
{
    if (b->n_traces == b->cap_traces) {
        size_t cap = b->cap_traces ? b->cap_traces * 2 : 16;
        trace_ref *t = tb__realloc(b->traces, cap * sizeof *t);
        if (!t) {
            b->failed = true;
            cJSON_Delete(owned);
            return NULL;
        }
        b->traces = t;
        b->cap_traces = cap;
    }
    trace_ref *t = &b->traces[b->n_traces++];
    memset(t, 0, sizeof *t);
    t->id = id;
    t->hash = tb__otlp_id_hash(id);
    t->root = root;
    t->owned = owned;
    return t;
}

/* The trace of a span: its record from the batch first, then one lookup
 * per id (a negative answer is remembered too). NULL: out of memory. */
static trace_ref *trace_find(builder *b, const char *trace_id)
{
    uint64_t h = tb__otlp_id_hash(trace_id);
    for (size_t i = 0; i < b->n_traces; i++)
        if (b->traces[i].hash == h && strcmp(b->traces[i].id, trace_id) == 0)
            return &b->traces[i];
    char *text = b->opts->lookup ? b->opts->lookup(b->opts->lookup_ctx, trace_id) : NULL;
    cJSON *root = text ? tb__json_parse_str(text) : NULL;
    tb__free_mem(text);
    if (root && !is_object(root)) {
        cJSON_Delete(root);
        root = NULL;
    }
    const char *id = tb__otlp_arena_cstr(&b->ar, trace_id);
    if (!id) {
        cJSON_Delete(root);
        return NULL;
    }
    return trace_add(b, id, root, root);
}

static const char *record_trace_id(const builder *b, size_t i)
{
    return b->records[i].trace_id ? b->records[i].trace_id : gets(b->roots[i], "trace_id");
}

/* Chain the batch's SDK span records by trace id, once per batch. */
static bool chains_build(builder *b)
{
    if (b->chain_head)
        return true;
    b->n_heads = 16;
    while (b->n_heads < 2 * b->n_roots)
        b->n_heads *= 2;
    b->chain_head = tb__malloc(b->n_heads * sizeof *b->chain_head);
    b->chain_next = tb__malloc((b->n_roots ? b->n_roots : 1) * sizeof *b->chain_next);
    if (!b->chain_head || !b->chain_next)
        return false;
    for (size_t h = 0; h < b->n_heads; h++)
        b->chain_head[h] = SIZE_MAX;
    size_t *tail = tb__malloc(b->n_heads * sizeof *tail);
    if (!tail)
        return false;
    for (size_t i = 0; i < b->n_roots; i++) {
        b->chain_next[i] = SIZE_MAX;
        const char *tid =
            b->roots[i] && !is_otlp_record(&b->records[i]) ? record_trace_id(b, i) : NULL;
        if (!tid)
            continue;
        size_t h = (size_t)tb__otlp_id_hash(tid) & (b->n_heads - 1);
        while (b->chain_head[h] != SIZE_MAX && strcmp(record_trace_id(b, b->chain_head[h]), tid))
            h = (h + 1) & (b->n_heads - 1);
        if (b->chain_head[h] == SIZE_MAX)
            b->chain_head[h] = i;
        else
            b->chain_next[tail[h]] = i;
        tail[h] = i;
    }
    tb__free_mem(tail);
    return true;
}

/* The first record of the batch of trace `id` (then chain_next), or SIZE_MAX. */
static size_t chain_first(const builder *b, const char *id)
{
    size_t h = (size_t)tb__otlp_id_hash(id) & (b->n_heads - 1);
    while (b->chain_head[h] != SIZE_MAX) {
        if (strcmp(record_trace_id(b, b->chain_head[h]), id) == 0)
            return b->chain_head[h];
        h = (h + 1) & (b->n_heads - 1);
    }
    return SIZE_MAX;
}

/* A record's place in seq order; records without a seq (the encoder used
 * on its own) are in batch order. */
static int64_t record_order(const builder *b, const tb_record *r)
{
    return r->seq > 0 ? r->seq : (int64_t)(r - b->records) + 1;
}

/* A record of the batch by seq (the batch is in seq order), or -1. */
static ptrdiff_t batch_index(const builder *b, int64_t seq)
{
    size_t lo = 0, hi = b->n_roots;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (b->records[mid].seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < b->n_roots && b->records[lo].seq == seq ? (ptrdiff_t)lo : -1;
}

typedef struct visit_ctx {
    const builder *b;
    tb__otlp_trace_ctx *ctx;
} visit_ctx;

/* A stored span of the trace: one of the batch is already parsed */
static void ctx_visit(void *ctx, int64_t seq, const char *body, size_t len)
{
    const visit_ctx *vc = ctx;
    ptrdiff_t i = batch_index(vc->b, seq);
    if (i >= 0 && vc->b->roots[i]) {
        tb__otlp_trace_ctx_add(vc->ctx, seq, vc->b->roots[i]);
        return;
    }
    cJSON *root = tb__json_parse(body, len);
    tb__otlp_trace_ctx_add(vc->ctx, seq, root);
    cJSON_Delete(root);
}

/* An agent span's context from the rest of its trace (trace_context.c):
 * from the outbox behind the exporter, else from the batch. */
static void agent_context(builder *b, trace_ref *t, const tb_record *rec, tb__otlp_span_view *v)
{
    if (!t->ctx_loaded) {
        t->ctx_loaded = true;
        t->ctx = tb__otlp_trace_ctx_new();
        if (!t->ctx) {
            b->failed = true;
            return;
        }
        visit_ctx vc = {b, t->ctx};
        /* A batch whose seqs run without a gap holds every record from its
         * first seq on: the store is asked only for what precedes it, and
         * the batch's own spans (parsed already) are added after, in seq
         * order, so their bodies are not read again. Otherwise (a requeued
         * record, a hole) the store is asked for all and the batch's are
         * recognised by seq. */
        int64_t first = b->n_roots ? b->records[0].seq : 0;
        bool dense = first > 0 && b->records[b->n_roots - 1].seq - first == (int64_t)b->n_roots - 1;
        bool stored = b->opts->spans_lookup &&
                      b->opts->spans_lookup(b->opts->lookup_ctx, t->id, dense ? first : b->next_seq,
                                            ctx_visit, &vc);
        if (!stored || dense) {
            if (!chains_build(b)) {
                b->failed = true;
                return;
            }
            for (size_t i = chain_first(b, t->id); i != SIZE_MAX; i = b->chain_next[i])
                tb__otlp_trace_ctx_add(t->ctx, record_order(b, &b->records[i]), b->roots[i]);
        }
        if (!tb__otlp_trace_ctx_ok(t->ctx))
            b->failed = true;
    }
    tb__otlp_trace_ctx_apply(t->ctx, record_order(b, rec), v);
}

static uint64_t time_ns(const char *iso)
{
    int64_t us;
    if (!iso || !tb__parse_iso8601(iso, &us) || us < 0)
        return 0;
    return (uint64_t)us * 1000u;
}

static ProtobufCBinaryData id_bytes(builder *b, const uint8_t *bytes, size_t n)
{
    ProtobufCBinaryData d = {0, NULL};
    uint8_t *p = tb__otlp_arena_alloc(&b->ar, n);
    if (p) {
        memcpy(p, bytes, n);
        d.data = p;
        d.len = n;
    }
    return d;
}

static Tbotlp__Span *build_span(builder *b, const tb_record *rec, const cJSON *root, size_t k,
                                tb__otlp_stats *stats)
{
    Tbotlp__Span *s = tb__otlp_arena_alloc(&b->ar, sizeof *s);
    if (!s)
        return NULL;
    Tbotlp__Span s0 = TBOTLP__SPAN__INIT;
    *s = s0;

    const char *span_id = gets(root, "id");
    if (!span_id)
        span_id = rec->span_id ? rec->span_id : "";
    const char *trace_id = gets(root, "trace_id");
    if (!trace_id)
        trace_id = rec->trace_id ? rec->trace_id : "";
    const char *parent_id = gets(root, "parent_id");

    uint8_t tid[16], sid[8], pid[8];
    tb__otlp_trace_id(trace_id, tid);
    tb__otlp_span_id(span_id, sid);
    s->trace_id = id_bytes(b, tid, sizeof tid);
    s->span_id = id_bytes(b, sid, sizeof sid);
    if (parent_id && parent_id[0]) {
        tb__otlp_span_id(parent_id, pid);
        s->parent_span_id = id_bytes(b, pid, sizeof pid);
    }

    static const cJSON empty_object = {.type = cJSON_Object};
    tb__otlp_span_view v;
    memset(&v, 0, sizeof v);
    v.span = root;
    v.data = get(root, "span_data");
    if (!is_object(v.data))
        v.data = &empty_object;
    v.type = tb__otlp_effective_type(v.data);
    trace_ref *t = trace_find(b, trace_id);
    if (!t)
        return NULL;
    v.trace = t->root;
    v.trace_attrs = &t->attrs;
    if (!v.trace && stats)
        stats->traces_missing++;
    if (strcmp(v.type, "agent") == 0 || !parent_id || !parent_id[0])
        agent_context(b, t, rec, &v);
    const cJSON *err = get(root, "error");
    v.error = is_object(err) ? err : NULL;

    char name[NAME_MAX_BYTES];
    tb__otlp_span_name(&v, name, sizeof name);
    s->name = tb__otlp_arena_cstr(&b->ar, name);
    s->kind = tb__otlp_span_kind(&v) == 3 ? TBOTLP__SPAN__SPAN_KIND__SPAN_KIND_CLIENT
                                          : TBOTLP__SPAN__SPAN_KIND__SPAN_KIND_INTERNAL;

    uint64_t start = time_ns(gets(root, "started_at"));
    uint64_t end = time_ns(gets(root, "ended_at"));
    if (!start)
        start = end;
    if (!end)
        end = start;
    s->start_time_unix_nano = start;
    s->end_time_unix_nano = end;

    size_t from = b->wire.len;
    if (b->packed)
        b->attrs.wire = &b->wire;
    tb__otlp_conventions_apply(&v, b->opts->conventions, &b->attrs);
    for (size_t i = 0; i < b->opts->n_span_attrs; i++)
        tb__otlp_attr_str(&b->attrs, b->opts->span_attrs[i].key, b->opts->span_attrs[i].value);
    b->attrs.wire = NULL;
    if (b->packed) {
        b->wire_at[2 * k] = from;
        b->wire_at[2 * k + 1] = b->wire.len - from;
    } else {
        s->attributes = tb__otlp_attrs_take(&b->attrs, &s->n_attributes);
    }

    Tbotlp__Status *st = tb__otlp_arena_alloc(&b->ar, sizeof *st);
    if (!st)
        return NULL;
    Tbotlp__Status st0 = TBOTLP__STATUS__INIT;
    *st = st0;
    s->status = st;
    if (!v.error) {
        /* ended without error: OK, as the official processors report it */
        st->code = TBOTLP__STATUS__STATUS_CODE__STATUS_CODE_OK;
        return s;
    }
    const char *msg = gets(v.error, "message");
    const cJSON *data = get(v.error, "data");
    Tbotlp__Span__Event *ev = tb__otlp_arena_alloc(&b->ar, sizeof *ev);
    Tbotlp__Span__Event **evs = tb__otlp_arena_alloc(&b->ar, sizeof *evs);
    if (!ev || !evs)
        return NULL;
    st->code = TBOTLP__STATUS__STATUS_CODE__STATUS_CODE_ERROR;
    /* "message: data", as the official processors write it, so error.data
     * reaches platforms that read only the status (Langfuse's
     * statusMessage) */
    char *data_text = NULL;
    if (is_string(data))
        data_text = tb__strdup(data->valuestring);
    else if (data && !is_null(data))
        data_text = tb__json_print(data);
    if (data && !is_null(data) && !data_text)
        return NULL;
    tb__buf m = {0};
    tb__buf_puts(&m, msg ? msg : "error");
    if (data_text && data_text[0]) {
        tb__buf_puts(&m, ": ");
        tb__buf_puts(&m, data_text);
    }
    tb__buf_append(&m, "", 1);
    if (is_string(data))
        tb__free_mem(data_text);
    else
        cJSON_free(data_text);
    st->message = m.failed ? NULL : tb__otlp_arena_cstr(&b->ar, m.data);
    tb__buf_free(&m);
    if (!st->message)
        return NULL;
    Tbotlp__Span__Event ev0 = TBOTLP__SPAN__EVENT__INIT;
    *ev = ev0;
    ev->time_unix_nano = end;
    ev->name = tb__otlp_arena_cstr(&b->ar, "exception");
    tb__otlp_attr_str(&b->attrs, "exception.message", msg ? msg : "error");
    tb__otlp_attr_json(&b->attrs, "exception.data", data);
    ev->attributes = tb__otlp_attrs_take(&b->attrs, &ev->n_attributes);
    evs[0] = ev;
    s->events = evs;
    s->n_events = 1;
    return s;
}

static void resource_attr(builder *b, const char *key, const char *value)
{
    tb__otlp_attr_str(&b->attrs, key, value);
}

/* ---- spans received over OTLP (kind 'otlp') --------------------------------
 * Sent on as they came: their own ids, attributes, events, links, status,
 * resource and scope (json_in.c reads the stored body back into the
 * model); none of the conventions above applies. Spans with the same
 * resource (and schema URL) share one ResourceSpans, and within it those
 * with the same scope one ScopeSpans, as the SDK that sent them grouped
 * them. The destination's own resource attributes (a Phoenix project, an
 * OTEL_RESOURCE_ATTRIBUTES entry) are added where the resource does not
 * set the key itself. Appends the ResourceSpans to rsv[*n_rs…]. */
typedef struct otlp_group {
    const cJSON *resource, *scope; /* the stored JSON, to compare */
    const char *rschema, *sschema;
    size_t resource_group; /* index of the group that owns the ResourceSpans */
    size_t n_spans, n_scopes;
    Tbotlp__ResourceSpans *rs;
    Tbotlp__ScopeSpans *ss;
} otlp_group;

static const char *schema_of(const cJSON *root, const char *key)
{
    const char *v = gets(root, key);
    return v ? v : "";
}

static bool same_json(const cJSON *a, const cJSON *b)
{
    if (!a || !b)
        return a == b;
    return cJSON_Compare(a, b, true);
}

static bool build_otlp(builder *b, const tb_record *records, size_t n, unsigned char *bad,
                       tb__otlp_stats *stats, Tbotlp__ResourceSpans **rsv, size_t *n_rs)
{
    const tb__otlp_options *o = b->opts;
    size_t n_otlp = 0;
    for (size_t i = 0; i < n; i++)
        if (b->roots[i] && is_otlp_record(&records[i]))
            n_otlp++;
    if (!n_otlp)
        return true;
    tb__otlp_stored *st = tb__calloc(n_otlp, sizeof *st);
    size_t *gid = tb__calloc(n_otlp, sizeof *gid);
    otlp_group *g = tb__calloc(n_otlp, sizeof *g);
    bool ok = st && gid && g;
    size_t n_groups = 0, m = 0;
    /* which group each span joins */
    for (size_t i = 0; ok && i < n; i++) {
        const cJSON *root = b->roots[i];
        if (!root || !is_otlp_record(&records[i]))
            continue;
        char err[256];
        if (!tb__otlp_json_read_stored(&b->ar, root, &st[m], err, sizeof err)) {
            if (b->ar.failed) {
                ok = false;
                break;
            }
            if (bad)
                bad[i] = 1;
            if (stats)
                stats->bad++;
            continue;
        }
        const cJSON *res = get(root, "resource");
        const cJSON *scope = get(root, "scope");
        const char *rschema = schema_of(root, "resourceSchemaUrl");
        const char *sschema = schema_of(root, "scopeSchemaUrl");
        size_t k = 0, rgroup = SIZE_MAX;
        for (; k < n_groups; k++) {
            if (!same_json(g[k].resource, res) || strcmp(g[k].rschema, rschema) != 0)
                continue;
            rgroup = g[k].resource_group;
            if (same_json(g[k].scope, scope) && strcmp(g[k].sschema, sschema) == 0)
                break;
        }
        if (k == n_groups) {
            g[k] = (otlp_group){.resource = res,
                                .scope = scope,
                                .rschema = rschema,
                                .sschema = sschema,
                                .resource_group = rgroup == SIZE_MAX ? k : rgroup};
            g[g[k].resource_group].n_scopes++;
            n_groups++;
        }
        g[k].n_spans++;
        gid[m] = k;
        m++;
    }
    /* the envelopes, then the spans into them in batch order */
    for (size_t k = 0; ok && k < n_groups; k++) {
        otlp_group *gr = &g[k];
        Tbotlp__ScopeSpans *ss = tb__otlp_arena_alloc(&b->ar, sizeof *ss);
        Tbotlp__Span **spans = tb__otlp_arena_alloc(&b->ar, gr->n_spans * sizeof *spans);
        if (!ss || !spans) {
            ok = false;
            break;
        }
        tbotlp__scope_spans__init(ss);
        ss->spans = spans;
        gr->ss = ss;
        if (gr->resource_group == k) {
            Tbotlp__ResourceSpans *rs = tb__otlp_arena_alloc(&b->ar, sizeof *rs);
            Tbotlp__ScopeSpans **ssv = tb__otlp_arena_alloc(&b->ar, gr->n_scopes * sizeof *ssv);
            if (!rs || !ssv) {
                ok = false;
                break;
            }
            tbotlp__resource_spans__init(rs);
            rs->scope_spans = ssv;
            gr->rs = rs;
            rsv[(*n_rs)++] = rs;
        }
        Tbotlp__ResourceSpans *rs = g[gr->resource_group].rs;
        rs->scope_spans[rs->n_scope_spans++] = ss;
    }
    for (size_t j = 0; ok && j < m; j++) {
        otlp_group *gr = &g[gid[j]];
        Tbotlp__ResourceSpans *rs = g[gr->resource_group].rs;
        if (!rs->resource) {
            /* the first span of a resource group gives it its resource */
            Tbotlp__Resource *res = st[j].resource;
            size_t extra = 0;
            for (size_t a = 0; a < o->n_resource_attrs; a++) {
                bool has = false;
                for (size_t e = 0; e < res->n_attributes && !has; e++)
                    has = strcmp(res->attributes[e]->key, o->resource_attrs[a].key) == 0;
                if (!has) {
                    tb__otlp_attr_str(&b->attrs, o->resource_attrs[a].key,
                                      o->resource_attrs[a].value);
                    extra++;
                }
            }
            if (extra) {
                size_t n_extra = 0;
                Tbotlp__KeyValue **add = tb__otlp_attrs_take(&b->attrs, &n_extra);
                Tbotlp__KeyValue **all =
                    tb__otlp_arena_alloc(&b->ar, (res->n_attributes + n_extra) * sizeof *all);
                if (!all || (!add && n_extra)) {
                    ok = false;
                    break;
                }
                if (res->n_attributes)
                    memcpy(all, res->attributes, res->n_attributes * sizeof *all);
                if (n_extra)
                    memcpy(all + res->n_attributes, add, n_extra * sizeof *all);
                res->attributes = all;
                res->n_attributes += n_extra;
            }
            rs->resource = res;
            rs->schema_url = st[j].resource_schema_url;
        }
        if (!gr->ss->scope) {
            gr->ss->scope = st[j].scope;
            gr->ss->schema_url = st[j].scope_schema_url;
        }
        gr->ss->spans[gr->ss->n_spans++] = st[j].span;
        if (stats)
            stats->spans++;
    }
    tb__free_mem(st);
    tb__free_mem(gid);
    tb__free_mem(g);
    if (!ok)
        b->failed = true;
    return ok;
}

static Tbotlp__ExportTraceServiceRequest *build_request(builder *b, const tb_record *records,
                                                        size_t n, unsigned char *bad,
                                                        tb__otlp_stats *stats)
{
    const tb__otlp_options *o = b->opts;
    /* the trace records of the batch first: a span may precede its trace */
    size_t n_spans = 0;
    for (size_t i = 0; i < n; i++) {
        cJSON *root = b->roots[i];
        if (!root || is_otlp_record(&records[i]))
            continue;
        if (is_trace_record(&records[i], root)) {
            const char *id = gets(root, "id");
            if (!id)
                id = records[i].trace_id;
            if (id && !trace_add(b, id, root, NULL))
                return NULL;
        } else {
            n_spans++;
        }
    }

    Tbotlp__ExportTraceServiceRequest *req = tb__otlp_arena_alloc(&b->ar, sizeof *req);
    Tbotlp__ResourceSpans *rs = tb__otlp_arena_alloc(&b->ar, sizeof *rs);
    size_t n_otlp = 0;
    for (size_t i = 0; i < n; i++)
        n_otlp += is_otlp_record(&records[i]);
    Tbotlp__ResourceSpans **rsv = tb__otlp_arena_alloc(&b->ar, (1 + n_otlp) * sizeof *rsv);
    Tbotlp__Resource *res = tb__otlp_arena_alloc(&b->ar, sizeof *res);
    Tbotlp__ScopeSpans *ss = tb__otlp_arena_alloc(&b->ar, sizeof *ss);
    Tbotlp__ScopeSpans **ssv = tb__otlp_arena_alloc(&b->ar, sizeof *ssv);
    Tbotlp__InstrumentationScope *scope = tb__otlp_arena_alloc(&b->ar, sizeof *scope);
    Tbotlp__Span **spans = tb__otlp_arena_alloc(&b->ar, (n_spans ? n_spans : 1) * sizeof *spans);
    if (b->packed)
        b->wire_at = tb__otlp_arena_alloc(&b->ar, (n_spans ? n_spans : 1) * 2 * sizeof *b->wire_at);
    if (!req || !rs || !rsv || !res || !ss || !ssv || !scope || !spans ||
        (b->packed && !b->wire_at))
        return NULL;
    Tbotlp__ExportTraceServiceRequest req0 = TBOTLP__EXPORT_TRACE_SERVICE_REQUEST__INIT;
    Tbotlp__ResourceSpans rs0 = TBOTLP__RESOURCE_SPANS__INIT;
    Tbotlp__Resource res0 = TBOTLP__RESOURCE__INIT;
    Tbotlp__ScopeSpans ss0 = TBOTLP__SCOPE_SPANS__INIT;
    Tbotlp__InstrumentationScope scope0 = TBOTLP__INSTRUMENTATION_SCOPE__INIT;
    *req = req0;
    *rs = rs0;
    *res = res0;
    *ss = ss0;
    *scope = scope0;

    resource_attr(b, "service.name",
                  o->service_name && o->service_name[0] ? o->service_name : DEFAULT_SERVICE);
    resource_attr(b, "telemetry.sdk.name", "tracebox");
    resource_attr(b, "telemetry.sdk.language", "c");
    resource_attr(b, "telemetry.sdk.version", tb_version());
    for (size_t i = 0; i < o->n_resource_attrs; i++)
        resource_attr(b, o->resource_attrs[i].key, o->resource_attrs[i].value);
    res->attributes = tb__otlp_attrs_take(&b->attrs, &res->n_attributes);

    scope->name = tb__otlp_arena_cstr(&b->ar, SCOPE_NAME);
    scope->version = tb__otlp_arena_cstr(&b->ar, tb_version());

    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        cJSON *root = b->roots[i];
        if (!root) {
            if (bad)
                bad[i] = 1;
            if (stats)
                stats->bad++;
            continue;
        }
        if (is_otlp_record(&records[i]) || is_trace_record(&records[i], root))
            continue;
        if (b->valid[i]) {
            b->attrs.borrow_lo = b->texts[i];
            b->attrs.borrow_hi = b->texts[i] + records[i].body_len + 1;
        }
        Tbotlp__Span *s = build_span(b, &records[i], root, k, stats);
        b->attrs.borrow_lo = b->attrs.borrow_hi = NULL;
        if (!s || b->failed)
            return NULL;
        spans[k++] = s;
    }
    ss->scope = scope;
    ss->spans = spans;
    ss->n_spans = k;
    ssv[0] = ss;
    rs->resource = res;
    rs->scope_spans = ssv;
    rs->n_scope_spans = 1;
    size_t n_rs = 0;
    if (k) { /* no empty envelopes */
        rsv[n_rs++] = rs;
        b->sdk_ss = ss;
    }
    if (stats)
        stats->spans = k;
    if (!build_otlp(b, records, n, bad, stats, rsv, &n_rs))
        return NULL;
    req->resource_spans = rsv;
    req->n_resource_spans = n_rs;
    return req;
}

/* ------------------------------------------------------------------------ */
/* tb__otlp_encode                                                           */
/* ------------------------------------------------------------------------ */

tb_status tb__otlp_encode(tb__buf *out, const tb_record *records, size_t n, tb__otlp_format fmt,
                          const tb__otlp_options *opts, unsigned char *bad, tb__otlp_stats *stats,
                          char *err, size_t err_size)
{
    tb__json_init();
    /* every tree below lives until the end of this call: from the pool */
    tb__json_pool_begin();
    if (stats)
        memset(stats, 0, sizeof *stats);
    builder b;
    memset(&b, 0, sizeof b);
    b.attrs.ar = &b.ar;
    b.opts = opts;
    b.packed = fmt == TB__OTLP_PROTOBUF;
    tb_status st = TB_NOMEM;
    b.roots = tb__calloc(n ? n : 1, sizeof *b.roots);
    b.texts = tb__calloc(n ? n : 1, sizeof *b.texts);
    b.valid = tb__calloc(n ? n : 1, sizeof *b.valid);
    if (!b.roots || !b.texts || !b.valid)
        goto done;
    b.n_roots = n;
    b.records = records;
    for (size_t i = 0; i < n; i++) {
        const tb_record *r = &records[i];
        if (r->seq >= b.next_seq)
            b.next_seq = r->seq + 1;
        if (!r->body)
            continue;
        /* a copy of the body, from the pool, parsed in place: its strings
         * are not allocated and copied one by one (a tenth of the parse) */
        char *text = tb__json_alloc(r->body_len + 1);
        if (!text) {
            b.failed = true; /* out of memory: the batch is tried again, no record is refused */
            break;
        }
        memcpy(text, r->body, r->body_len);
        text[r->body_len] = '\0';
        b.texts[i] = text;
        size_t bad_at;
        b.valid[i] = tb__utf8_valid(r->body, r->body_len, &bad_at);
        cJSON *root = tb__json_parse_insitu(text, r->body_len);
        if (root && !is_object(root)) {
            cJSON_Delete(root);
            root = NULL;
        }
        b.roots[i] = root;
    }
    if (b.failed)
        goto done;
    Tbotlp__ExportTraceServiceRequest *req = build_request(&b, records, n, bad, stats);
    if (!req || b.failed || b.ar.failed || b.attrs.failed)
        goto done;
    if (fmt == TB__OTLP_PROTOBUF) {
        tb__otlp_packed_attrs pk = {b.sdk_ss, b.wire.data, b.wire_at};
        if (b.wire.failed || tb__otlp_pack_request(out, req, &pk) != TB_OK || out->failed)
            goto done;
    } else {
        if (tb__otlp_json_request(out, req) != TB_OK)
            goto done;
    }
    if (out->failed)
        goto done;
    st = TB_OK;
done:
    if (st != TB_OK)
        snprintf(err, err_size, "out of memory encoding %zu records as OTLP", n);
    /* the trees are the pool's (tb__json_pool_end frees them) unless it
     * overflowed into malloc */
    bool pooled = tb__json_pool_whole();
    for (size_t i = 0; !pooled && b.roots && i < b.n_roots; i++)
        cJSON_Delete(b.roots[i]);
    for (size_t i = 0; !pooled && b.texts && i < b.n_roots; i++)
        tb__free_mem(b.texts[i]); /* (after the trees that point into them) */
    tb__free_mem(b.roots);
    tb__free_mem(b.texts);
    tb__free_mem(b.valid);
    for (size_t i = 0; i < b.n_traces; i++) {
        if (!pooled)
            cJSON_Delete(b.traces[i].owned);
        tb__otlp_trace_ctx_free(b.traces[i].ctx);
    }
    tb__free_mem(b.traces);
    tb__free_mem(b.chain_head);
    tb__free_mem(b.chain_next);
    tb__free_mem(b.attrs.v);
    tb__buf_free(&b.attrs.scratch);
    tb__buf_free(&b.wire);
    tb__otlp_arena_free(&b.ar);
    tb__json_pool_end();
    return st;
}

/* ------------------------------------------------------------------------ */
/* Small helpers for the destinations                                        */
/* ------------------------------------------------------------------------ */

bool tb__otlp_parse_conventions(const char *s, unsigned *out)
{
    unsigned bits = 0;
    if (!s)
        return false;
    const char *p = s;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p)
            break;
        const char *start = p;
        while (*p && *p != ',' && *p != ' ' && *p != '\t')
            p++;
        size_t len = (size_t)(p - start);
        if (len == 5 && strncmp(start, "genai", 5) == 0)
            bits |= TB__OTLP_CONV_GENAI;
        else if (len == 13 && strncmp(start, "openinference", 13) == 0)
            bits |= TB__OTLP_CONV_OPENINFERENCE;
        else
            return false;
    }
    if (!bits)
        return false;
    *out = bits;
    return true;
}

static bool ends_with(const char *s, size_t len, const char *suffix)
{
    size_t n = strlen(suffix);
    return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

char *tb__otlp_traces_url(const char *endpoint)
{
    size_t len = strlen(endpoint);
    while (len > 0 && endpoint[len - 1] == '/')
        len--;
    const char *suffix = "/v1/traces";
    if (ends_with(endpoint, len, "/v1/traces"))
        suffix = "";
    else if (ends_with(endpoint, len, "/v1"))
        suffix = "/traces";
    size_t n = len + strlen(suffix) + 1;
    char *url = tb__malloc(n);
    if (url)
        snprintf(url, n, "%.*s%s", (int)len, endpoint, suffix);
    return url;
}
