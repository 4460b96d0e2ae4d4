/*
 * test_serve.c — `tracebox serve`, a real process on 127.0.0.1, driven
 * over HTTP with libcurl.
 *
 * test_otlp_protobuf_roundtrip: an ExportTraceServiceRequest built with
 *   the protobuf-c types of the OTLP protos (two resources, one with two
 *   scopes; every attribute value kind, events, links with trace state and
 *   flags, status, dropped counts, schema URLs) is POSTed as protobuf:
 *   200 with an empty ExportTraceServiceResponse, one 'otlp' row per span
 *   with the columns an operator queries. Posted again: 200, no new row.
 *   `tracebox ship --once` to an otlp destination on the loopback test
 *   server: every span arrives packed byte for byte as it was sent, in the
 *   envelope (resource, scope, schema URLs) it was sent in.
 * test_otlp_json_gzip: the same request as OTLP/JSON, gzipped, into a
 *   second outbox: the stored bodies equal the protobuf path's.
 * test_bad_requests: garbage protobuf, values nested 200 deep, bad JSON,
 *   a bad traceId, broken gzip, a gzip bomb, a body over --max-body, a
 *   wrong Content-Type: 400/413/415 with a one-line reason (a
 *   google.rpc.Status for OTLP), and nothing stored.
 * test_partial_success: a span with an all-zero trace id is reported in
 *   partial_success; the others are stored.
 * test_full_and_busy: at max_size the answer is 503 with Retry-After and
 *   /healthz says 503; a write lock held on the file makes /healthz 503
 *   until it is released.
 * test_token_and_listen: a non-loopback address without a token exits 78;
 *   with [serve] token every request needs the Bearer token (401 without,
 *   and the token is in no answer and no log line).
 * test_ingest_endpoint: POST /v1/traces/ingest stores each element's
 *   bytes as sent (204); a bad element is refused with 400 and the rest
 *   stored.
 * test_ships_in_process_and_stops: with a destination configured, serve
 *   ships what it receives without `ship`; /metrics and /healthz answer;
 *   SIGTERM stops it cleanly (exit 0). An `openai` destination leaves the
 *   OTLP spans out and counts them in counters.skipped.
 * test_redact: with redact = io, an OTLP span's input/output attributes
 *   and gen_ai event contents are stored as "[redacted]".
 * test_slow_client: half a request and then silence is cut off after
 *   [serve] timeout while other clients are served.
 * test_fleet_under_faults: four serve processes (four "hosts") ship to one
 *   receiver that answers 503 and then resets every connection until each
 *   host has failed twice; then every span arrives in an accepted request
 *   (figures printed: failed posts, duplicates, drain time).
 */
#include "fixture.h"

#include "otlp/arena.h"
#include "otlp/json.h"
#include "trace.pb-c.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <zlib.h>

typedef struct fx {
    st_fx base;
    pid_t serve;
    char url[96];
    char serve_err[400];
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    st_fx_init(&f->base);
    if (!st_fx_server_up(&f->base)) {
        st_fx_fini(&f->base);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static void serve_stop(fx *f)
{
    if (f->serve > 0)
        st_kill_reap(f->serve, NULL);
    f->serve = 0;
}

/* SIGTERM, and it must stop cleanly (exit 0) within 30 s. */
static void serve_term(fx *f)
{
    assert_int_equal(kill(f->serve, SIGTERM), 0);
    int status = st_wait(f->serve, 30000);
    f->serve = 0;
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0))
        fail_msg("serve did not stop cleanly on SIGTERM (status 0x%x)", status);
}

static int teardown(void **state)
{
    fx *f = *state;
    serve_stop(f);
    st_fx_fini(&f->base);
    free(f);
    return 0;
}

/* Start `tracebox serve` with args (NULL-terminated, after the verb) in the
 * fixture's dir and wait for its "listening on" line. Returns false (and
 * leaves f->serve 0) when it exits first; *exit_code then holds its code. */
static bool serve_start(fx *f, const char *const *extra, int *exit_code)
{
    const char *args[24];
    size_t n = 0;
    args[n++] = "--db";
    args[n++] = f->base.db;
    args[n++] = "--config";
    args[n++] = f->base.ini;
    args[n++] = "serve";
    bool listen = false;
    for (size_t i = 0; extra && extra[i]; i++) {
        listen = listen || strcmp(extra[i], "--listen") == 0;
        args[n++] = extra[i];
    }
    if (!listen) { /* never the default port: another serve may hold it */
        args[n++] = "--listen";
        args[n++] = "127.0.0.1:0";
    }
    args[n] = NULL;
    snprintf(f->serve_err, sizeof f->serve_err, "%s/serve.err", f->base.dir);
    unlink(f->serve_err); /* not the last run's line */
    f->serve = st_spawn(f->base.dir, NULL, f->serve_err, args);
    int64_t deadline = st_mono_ms() + 20000;
    while (st_mono_ms() < deadline) {
        char *log = st_read_file(f->serve_err, NULL);
        const char *at = log ? strstr(log, "listening on http://") : NULL;
        if (at) {
            const char *host = at + strlen("listening on http://");
            const char *sp = strchr(host, ' ');
            snprintf(f->url, sizeof f->url, "http://%.*s", (int)(sp ? sp - host : 40), host);
            free(log);
            return true;
        }
        free(log);
        int status = 0;
        if (waitpid(f->serve, &status, WNOHANG) == f->serve) {
            f->serve = 0;
            char *said = st_read_file(f->serve_err, NULL);
            print_message("serve exited: %s", said ? said : "(nothing on stderr)\n");
            free(said);
            if (exit_code)
                *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
            return false;
        }
        st_nap_ms(5);
    }
    fail_msg("serve did not start within 20 s");
    return false;
}

/* ---- HTTP ----------------------------------------------------------------- */

typedef struct reply {
    long status;
    char *body;
    size_t len;
    char retry_after[32];
    char content_type[96];
} reply;

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
    reply *r = ctx;
    char *g = realloc(r->body, r->len + size * n + 1);
    assert_non_null(g);
    r->body = g;
    memcpy(r->body + r->len, p, size * n);
    r->len += size * n;
    r->body[r->len] = '\0';
    return size * n;
}

static void header_value(const char *p, size_t len, size_t name_len, char *out, size_t size)
{
    size_t a = name_len, b = len;
    while (a < b && p[a] == ' ')
        a++;
    while (b > a && (p[b - 1] == '\r' || p[b - 1] == '\n' || p[b - 1] == ' '))
        b--;
    snprintf(out, size, "%.*s", (int)(b - a), p + a);
}

static size_t on_header(char *p, size_t size, size_t n, void *ctx)
{
    reply *r = ctx;
    size_t len = size * n;
    if (len > 12 && strncasecmp(p, "Retry-After:", 12) == 0)
        header_value(p, len, 12, r->retry_after, sizeof r->retry_after);
    if (len > 13 && strncasecmp(p, "Content-Type:", 13) == 0)
        header_value(p, len, 13, r->content_type, sizeof r->content_type);
    return len;
}

/* POST (body != NULL) or GET url+path. headers: NULL-terminated. */
static reply http(const fx *f, const char *path, const char *const *headers, const void *body,
                  size_t len)
{
    reply r;
    memset(&r, 0, sizeof r);
    r.body = calloc(1, 1);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    char url[256];
    snprintf(url, sizeof url, "%s%s", f->url, path);
    struct curl_slist *hl = NULL;
    hl = curl_slist_append(hl, "Expect:");
    for (size_t i = 0; headers && headers[i]; i++)
        hl = curl_slist_append(hl, headers[i]);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK)
        fail_msg("%s: %s", url, curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    return r;
}

static const char *const k_protobuf[] = {"Content-Type: application/x-protobuf", NULL};
static const char *const k_json[] = {"Content-Type: application/json", NULL};

static int64_t rows(const fx *f)
{
    return st_db_int(f->base.db, "SELECT count(*) FROM records");
}

/* ---- the request ---------------------------------------------------------- */

typedef struct built {
    tb__otlp_arena ar;
    Tbotlp__ExportTraceServiceRequest *req;
    uint8_t *bin;
    size_t bin_len;
} built;

static Tbotlp__KeyValue *kv(tb__otlp_arena *ar, const char *key, Tbotlp__AnyValue *v)
{
    Tbotlp__KeyValue *k = tb__otlp_arena_alloc(ar, sizeof *k);
    tbotlp__key_value__init(k);
    k->key = tb__otlp_arena_cstr(ar, key);
    k->value = v;
    return k;
}

static Tbotlp__AnyValue *val(tb__otlp_arena *ar)
{
    Tbotlp__AnyValue *v = tb__otlp_arena_alloc(ar, sizeof *v);
    tbotlp__any_value__init(v);
    return v;
}

static Tbotlp__AnyValue *sval(tb__otlp_arena *ar, const char *s)
{
    Tbotlp__AnyValue *v = val(ar);
    v->value_case = TBOTLP__ANY_VALUE__VALUE_STRING_VALUE;
    v->string_value = tb__otlp_arena_cstr(ar, s);
    return v;
}

static ProtobufCBinaryData id(tb__otlp_arena *ar, size_t n, unsigned seed)
{
    ProtobufCBinaryData d;
    d.len = n;
    d.data = tb__otlp_arena_alloc(ar, n);
    for (size_t i = 0; i < n; i++)
        d.data[i] = (uint8_t)(seed * 31 + i * 7 + 1);
    return d;
}

/* Every attribute value kind. */
static Tbotlp__KeyValue **attrs(tb__otlp_arena *ar, size_t *n, unsigned seed)
{
    Tbotlp__KeyValue **kvs = tb__otlp_arena_alloc(ar, 8 * sizeof *kvs);
    size_t k = 0;
    char s[64];
    snprintf(s, sizeof s, "value %u ünïcode", seed);
    kvs[k++] = kv(ar, "gen_ai.request.model", sval(ar, "gpt-4o"));
    kvs[k++] = kv(ar, "str", sval(ar, s));
    Tbotlp__AnyValue *b = val(ar);
    b->value_case = TBOTLP__ANY_VALUE__VALUE_BOOL_VALUE;
    b->bool_value = 1;
    kvs[k++] = kv(ar, "bool", b);
    Tbotlp__AnyValue *i = val(ar);
    i->value_case = TBOTLP__ANY_VALUE__VALUE_INT_VALUE;
    i->int_value = -9007199254740993LL - seed; /* beyond a double's precision */
    kvs[k++] = kv(ar, "int", i);
    Tbotlp__AnyValue *d = val(ar);
    d->value_case = TBOTLP__ANY_VALUE__VALUE_DOUBLE_VALUE;
    d->double_value = 0.1 * seed + 0.2; /* 0.30000000000000004 for seed 1: 17 digits */
    kvs[k++] = kv(ar, "double", d);
    Tbotlp__AnyValue *by = val(ar);
    by->value_case = TBOTLP__ANY_VALUE__VALUE_BYTES_VALUE;
    by->bytes_value = id(ar, 5, seed);
    kvs[k++] = kv(ar, "bytes", by);
    Tbotlp__AnyValue *arr = val(ar);
    arr->value_case = TBOTLP__ANY_VALUE__VALUE_ARRAY_VALUE;
    arr->array_value = tb__otlp_arena_alloc(ar, sizeof *arr->array_value);
    tbotlp__array_value__init(arr->array_value);
    arr->array_value->values = tb__otlp_arena_alloc(ar, 2 * sizeof(Tbotlp__AnyValue *));
    arr->array_value->values[0] = sval(ar, "a");
    arr->array_value->values[1] = i;
    arr->array_value->n_values = 2;
    kvs[k++] = kv(ar, "array", arr);
    Tbotlp__AnyValue *kl = val(ar);
    kl->value_case = TBOTLP__ANY_VALUE__VALUE_KVLIST_VALUE;
    kl->kvlist_value = tb__otlp_arena_alloc(ar, sizeof *kl->kvlist_value);
    tbotlp__key_value_list__init(kl->kvlist_value);
    kl->kvlist_value->values = tb__otlp_arena_alloc(ar, sizeof(Tbotlp__KeyValue *));
    kl->kvlist_value->values[0] = kv(ar, "inner", d);
    kl->kvlist_value->n_values = 1;
    kvs[k++] = kv(ar, "kvlist", kl);
    *n = k;
    return kvs;
}

static Tbotlp__Span *span(tb__otlp_arena *ar, unsigned trace, unsigned seed, bool root)
{
    Tbotlp__Span *s = tb__otlp_arena_alloc(ar, sizeof *s);
    tbotlp__span__init(s);
    s->trace_id = id(ar, 16, trace);
    s->span_id = id(ar, 8, seed);
    if (!root)
        s->parent_span_id = id(ar, 8, seed - 1);
    s->trace_state = tb__otlp_arena_cstr(ar, "vendor=x");
    s->flags = 0x101;
    char name[32];
    snprintf(name, sizeof name, "op %u", seed);
    s->name = tb__otlp_arena_cstr(ar, name);
    s->kind = root ? TBOTLP__SPAN__SPAN_KIND__SPAN_KIND_SERVER
                   : TBOTLP__SPAN__SPAN_KIND__SPAN_KIND_CLIENT;
    s->start_time_unix_nano = 1748779200000000000ULL + seed * 1000003ULL;
    s->end_time_unix_nano = s->start_time_unix_nano + 250000000ULL;
    s->attributes = attrs(ar, &s->n_attributes, seed);
    s->dropped_attributes_count = seed % 3;
    s->events = tb__otlp_arena_alloc(ar, sizeof *s->events);
    s->events[0] = tb__otlp_arena_alloc(ar, sizeof *s->events[0]);
    tbotlp__span__event__init(s->events[0]);
    s->events[0]->time_unix_nano = s->start_time_unix_nano + 5;
    s->events[0]->name = tb__otlp_arena_cstr(ar, "gen_ai.choice");
    s->events[0]->attributes = attrs(ar, &s->events[0]->n_attributes, seed + 100);
    s->events[0]->dropped_attributes_count = 1;
    s->n_events = 1;
    s->dropped_events_count = 2;
    s->links = tb__otlp_arena_alloc(ar, sizeof *s->links);
    s->links[0] = tb__otlp_arena_alloc(ar, sizeof *s->links[0]);
    tbotlp__span__link__init(s->links[0]);
    s->links[0]->trace_id = id(ar, 16, trace + 50);
    s->links[0]->span_id = id(ar, 8, seed + 50);
    s->links[0]->trace_state = tb__otlp_arena_cstr(ar, "l=1");
    s->links[0]->attributes = attrs(ar, &s->links[0]->n_attributes, seed + 200);
    s->links[0]->flags = 1;
    s->links[0]->dropped_attributes_count = 3;
    s->n_links = 1;
    s->dropped_links_count = 4;
    s->status = tb__otlp_arena_alloc(ar, sizeof *s->status);
    tbotlp__status__init(s->status);
    if (seed % 2) {
        s->status->code = TBOTLP__STATUS__STATUS_CODE__STATUS_CODE_ERROR;
        s->status->message = tb__otlp_arena_cstr(ar, "it failed");
    } else {
        s->status->code = TBOTLP__STATUS__STATUS_CODE__STATUS_CODE_OK;
    }
    return s;
}

static Tbotlp__ScopeSpans *scope_spans(tb__otlp_arena *ar, const char *name, unsigned trace,
                                       unsigned first, size_t n)
{
    Tbotlp__ScopeSpans *ss = tb__otlp_arena_alloc(ar, sizeof *ss);
    tbotlp__scope_spans__init(ss);
    ss->scope = tb__otlp_arena_alloc(ar, sizeof *ss->scope);
    tbotlp__instrumentation_scope__init(ss->scope);
    ss->scope->name = tb__otlp_arena_cstr(ar, name);
    ss->scope->version = tb__otlp_arena_cstr(ar, "1.2.3");
    ss->scope->attributes = tb__otlp_arena_alloc(ar, sizeof(Tbotlp__KeyValue *));
    ss->scope->attributes[0] = kv(ar, "scope.attr", sval(ar, name));
    ss->scope->n_attributes = 1;
    ss->schema_url = tb__otlp_arena_cstr(ar, "https://opentelemetry.io/schemas/1.26.0");
    ss->spans = tb__otlp_arena_alloc(ar, n * sizeof *ss->spans);
    for (size_t i = 0; i < n; i++)
        ss->spans[i] = span(ar, trace, first + (unsigned)i, i == 0);
    ss->n_spans = n;
    return ss;
}

static Tbotlp__ResourceSpans *resource_spans(tb__otlp_arena *ar, const char *service, size_t scopes,
                                             unsigned trace)
{
    Tbotlp__ResourceSpans *rs = tb__otlp_arena_alloc(ar, sizeof *rs);
    tbotlp__resource_spans__init(rs);
    rs->resource = tb__otlp_arena_alloc(ar, sizeof *rs->resource);
    tbotlp__resource__init(rs->resource);
    rs->resource->attributes = tb__otlp_arena_alloc(ar, 2 * sizeof(Tbotlp__KeyValue *));
    rs->resource->attributes[0] = kv(ar, "service.name", sval(ar, service));
    rs->resource->attributes[1] = kv(ar, "deployment.environment", sval(ar, "test"));
    rs->resource->n_attributes = 2;
    rs->resource->dropped_attributes_count = 1;
    rs->schema_url = tb__otlp_arena_cstr(ar, "https://opentelemetry.io/schemas/1.25.0");
    rs->scope_spans = tb__otlp_arena_alloc(ar, scopes * sizeof *rs->scope_spans);
    for (size_t i = 0; i < scopes; i++)
        rs->scope_spans[i] =
            scope_spans(ar, i ? "lib.b" : "lib.a", trace, trace * 100 + (unsigned)i * 10 + 1, 3);
    rs->n_scope_spans = scopes;
    return rs;
}

/* Two resources (the first with two scopes), 9 spans. */
static void build(built *b)
{
    memset(b, 0, sizeof *b);
    b->req = tb__otlp_arena_alloc(&b->ar, sizeof *b->req);
    tbotlp__export_trace_service_request__init(b->req);
    b->req->resource_spans = tb__otlp_arena_alloc(&b->ar, 2 * sizeof *b->req->resource_spans);
    b->req->resource_spans[0] = resource_spans(&b->ar, "checkout", 2, 1);
    b->req->resource_spans[1] = resource_spans(&b->ar, "search", 1, 2);
    b->req->n_resource_spans = 2;
    assert_false(b->ar.failed);
    b->bin_len = tbotlp__export_trace_service_request__get_packed_size(b->req);
    b->bin = malloc(b->bin_len);
    assert_non_null(b->bin);
    tbotlp__export_trace_service_request__pack(b->req, b->bin);
}

static void built_free(built *b)
{
    free(b->bin);
    tb__otlp_arena_free(&b->ar);
}

static uint8_t *packed(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *p = malloc(*len ? *len : 1);
    assert_non_null(p);
    protobuf_c_message_pack(m, p);
    return p;
}

static bool same_msg(const ProtobufCMessage *a, const ProtobufCMessage *b)
{
    size_t la, lb;
    uint8_t *pa = packed(a, &la), *pb = packed(b, &lb);
    bool same = la == lb && memcmp(pa, pb, la) == 0;
    free(pa);
    free(pb);
    return same;
}

/* Every span of `sent` must be in one of the requests the test server got
 * at `path`, packed the same, in an envelope packed the same. */
static void assert_arrived_as_sent(fx *f, const built *sent, const char *path)
{
    cJSON *list = st_requests(&f->base.srv);
    size_t found = 0, total = 0;
    for (size_t i = 0; i < sent->req->n_resource_spans; i++)
        for (size_t j = 0; j < sent->req->resource_spans[i]->n_scope_spans; j++)
            total += sent->req->resource_spans[i]->scope_spans[j]->n_spans;
    const cJSON *r;
    cJSON_ArrayForEach(r, list)
    {
        if (strcmp(st_req_str(r, "path"), path) != 0)
            continue;
        size_t len = 0;
        unsigned char *raw = st_b64_decode(st_req_str(r, "body_b64"), &len);
        Tbotlp__ExportTraceServiceRequest *got =
            tbotlp__export_trace_service_request__unpack(NULL, len, raw);
        assert_non_null(got);
        for (size_t i = 0; i < got->n_resource_spans; i++) {
            const Tbotlp__ResourceSpans *grs = got->resource_spans[i];
            for (size_t j = 0; j < grs->n_scope_spans; j++) {
                const Tbotlp__ScopeSpans *gss = grs->scope_spans[j];
                for (size_t k = 0; k < gss->n_spans; k++) {
                    const Tbotlp__Span *gs = gss->spans[k];
                    bool matched = false;
                    for (size_t a = 0; a < sent->req->n_resource_spans && !matched; a++) {
                        const Tbotlp__ResourceSpans *srs = sent->req->resource_spans[a];
                        for (size_t b = 0; b < srs->n_scope_spans && !matched; b++) {
                            const Tbotlp__ScopeSpans *sss = srs->scope_spans[b];
                            for (size_t c = 0; c < sss->n_spans && !matched; c++) {
                                if (memcmp(sss->spans[c]->span_id.data, gs->span_id.data, 8))
                                    continue;
                                matched = true;
                                if (!same_msg(&sss->spans[c]->base, &gs->base))
                                    fail_msg("span %s arrived changed", gs->name);
                                if (!same_msg(&srs->resource->base, &grs->resource->base))
                                    fail_msg("span %s arrived with another resource", gs->name);
                                if (!same_msg(&sss->scope->base, &gss->scope->base))
                                    fail_msg("span %s arrived with another scope", gs->name);
                                assert_string_equal(srs->schema_url, grs->schema_url);
                                assert_string_equal(sss->schema_url, gss->schema_url);
                            }
                        }
                    }
                    if (!matched)
                        fail_msg("span %s arrived but was never sent", gs->name);
                    found++;
                }
            }
        }
        tbotlp__export_trace_service_request__free_unpacked(got, NULL);
        free(raw);
    }
    cJSON_Delete(list);
    print_message("%zu of %zu spans arrived as sent\n", found, total);
    assert_int_equal(found, total);
}

/* ---- tests ---------------------------------------------------------------- */

static void write_ini(fx *f, const char *extra)
{
    char ini[2048];
    snprintf(ini, sizeof ini, "[collector]\ntype = otlp\nendpoint = %s\n%s", f->base.srv.url,
             extra ? extra : "");
    st_write_file(f->base.ini, ini);
}

static void test_otlp_protobuf_roundtrip(void **state)
{
    fx *f = *state;
    st_cli_or_skip();
    /* no destination while receiving: what arrives is shipped by `ship` */
    st_write_file(f->base.ini, "[outbox]\ndurability = full\n");
    assert_true(serve_start(f, NULL, NULL));
    built b;
    build(&b);
    reply r = http(f, "/v1/traces", k_protobuf, b.bin, b.bin_len);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, 0); /* an empty ExportTraceServiceResponse: no partial success */
    assert_non_null(strstr(r.content_type, "application/x-protobuf"));
    free(r.body);
    /* committed before the answer */
    assert_int_equal(rows(f), 9);
    assert_int_equal(st_db_int(f->base.db, "SELECT count(*) FROM records WHERE kind = 'otlp'"), 9);
    char hex[40];
    assert_true(st_db_text(f->base.db, hex, sizeof hex,
                           "SELECT trace_id FROM records WHERE name = 'op 101'"));
    assert_int_equal(strlen(hex), 32);
    assert_int_equal(st_db_int(f->base.db, "SELECT count(*) FROM records WHERE parent_id IS NULL"),
                     3);
    assert_int_equal(st_db_int(f->base.db, "SELECT count(*) FROM records WHERE type = 'server'"),
                     3);
    assert_int_equal(st_db_int(f->base.db,
                               "SELECT count(*) FROM records WHERE error IS NOT NULL AND "
                               "error ->> '$.message' = 'it failed'"),
                     6);
    assert_int_equal(st_db_int(f->base.db, "SELECT count(*) FROM records WHERE started_at LIKE "
                                           "'2025-06-01T12:00:00.%%' AND ended_at > started_at"),
                     9);
    assert_int_equal(st_db_int(f->base.db, "SELECT count(*) FROM span_durations WHERE "
                                           "duration_ms = 250.0"),
                     9);
    /* an SDK's retry of the same request stores nothing twice */
    r = http(f, "/v1/traces", k_protobuf, b.bin, b.bin_len);
    assert_int_equal(r.status, 200);
    free(r.body);
    assert_int_equal(rows(f), 9);
    serve_stop(f);

    /* shipped on: every span as it was sent */
    write_ini(f, NULL);
    const char *ship[] = {"--db", f->base.db, "--config", f->base.ini, "ship", "--once", NULL};
    assert_int_equal(st_run_cli(f->base.dir, NULL, f->base.err, 60000, ship), 0);
    assert_arrived_as_sent(f, &b, "/v1/traces");
    built_free(&b);
}

static unsigned char *gzip(const void *in, size_t len, size_t *out_len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&z, (uLong)len) + 64;
    unsigned char *out = malloc(cap);
    assert_non_null(out);
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    *out_len = z.total_out;
    deflateEnd(&z);
    return out;
}

static void test_otlp_json_gzip(void **state)
{
    fx *f = *state;
    st_cli_or_skip();
    st_write_file(f->base.ini, "");
    built b;
    build(&b);
    /* the protobuf path's bodies, for reference */
    assert_true(serve_start(f, NULL, NULL));
    reply r = http(f, "/v1/traces", k_protobuf, b.bin, b.bin_len);
    assert_int_equal(r.status, 200);
    free(r.body);
    serve_stop(f);
    char *want = st_db_dup(f->base.db, "SELECT group_concat(body, char(10)) FROM (SELECT body "
                                       "FROM records ORDER BY seq)");
    st_db_remove(f->base.db);

    tb__buf json = {0};
    assert_int_equal(tb__otlp_json_request(&json, b.req), TB_OK);
    size_t zlen = 0;
    unsigned char *z = gzip(json.data, json.len, &zlen);
    assert_true(serve_start(f, NULL, NULL));
    const char *hdr[] = {"Content-Type: application/json; charset=utf-8", "Content-Encoding: gzip",
                         NULL};
    r = http(f, "/v1/traces", hdr, z, zlen);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{}");
    free(r.body);
    char *got = st_db_dup(f->base.db, "SELECT group_concat(body, char(10)) FROM (SELECT body FROM "
                                      "records ORDER BY seq)");
    assert_string_equal(got, want);
    free(got);
    /* two gzip members one after the other (RFC 1952): both are read */
    const char *one = "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":"
                      "\"0102030405060708090a0b0c0d0e0f10\",\"spanId\":\"0102030405060708\","
                      "\"name\":\"member one";
    const char *two = "\"}]}]}]}";
    size_t l1 = 0, l2 = 0;
    unsigned char *z1 = gzip(one, strlen(one), &l1), *z2 = gzip(two, strlen(two), &l2);
    unsigned char *both = malloc(l1 + l2);
    memcpy(both, z1, l1);
    memcpy(both + l1, z2, l2);
    r = http(f, "/v1/traces", hdr, both, l1 + l2);
    assert_int_equal(r.status, 200);
    free(r.body);
    assert_int_equal(
        st_db_int(f->base.db, "SELECT count(*) FROM records WHERE name = 'member one'"), 1);
    free(both);
    free(z1);
    free(z2);
    free(want);
    free(z);
    tb__buf_free(&json);
    built_free(&b);
}

/* A body that must get `status` and store nothing; the answer names why. */
static void refused(fx *f, const char *const *hdr, const void *body, size_t len, long status,
                    const char *says)
{
    int64_t before = rows(f);
    reply r = http(f, "/v1/traces", hdr, body, len);
    if (r.status != status)
        fail_msg("got %ld, want %ld (%s)", r.status, status, r.body);
    if (says && !st_mem_has(r.body, r.len, says))
        fail_msg("the answer does not say '%s': %.*s", says, (int)r.len, r.body);
    assert_null(memchr(r.body, '\n', r.len > 0 ? r.len - 1 : 0)); /* one line */
    free(r.body);
    assert_int_equal(rows(f), before);
}

static void test_bad_requests(void **state)
{
    fx *f = *state;
    st_cli_or_skip();
    st_write_file(f->base.ini, "");
    const char *args[] = {"--max-body", "64KiB", NULL};
    assert_true(serve_start(f, args, NULL));
    refused(f, k_protobuf, "\x0a\xff\xff\xff\xff\x0f garbage", 12, 400, "protobuf: truncated");
    /* values nested 200 deep (arrays in arrays) */
    size_t depth = 200;
    char *json = malloc(depth * 40 + 400);
    size_t o = 0;
    o +=
        (size_t)sprintf(json + o, "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":"
                                  "\"0102030405060708090a0b0c0d0e0f10\",\"spanId\":"
                                  "\"0102030405060708\",\"attributes\":[{\"key\":\"k\",\"value\":");
    for (size_t i = 0; i < depth; i++)
        o += (size_t)sprintf(json + o, "{\"arrayValue\":{\"values\":[");
    o += (size_t)sprintf(json + o, "{\"stringValue\":\"x\"}");
    for (size_t i = 0; i < depth; i++)
        o += (size_t)sprintf(json + o, "]}}");
    o += (size_t)sprintf(json + o, "}]}]}]}]}");
    /* JSON this deep is fine (cJSON's limit is 1000); protobuf of it is refused */
    reply r = http(f, "/v1/traces", k_json, json, o);
    assert_int_equal(r.status, 200);
    free(r.body);
    assert_int_equal(rows(f), 1);
    free(json);
    {
        /* the same depth in protobuf, built bottom up */
        size_t cap = depth * 16 + 256;
        unsigned char *buf = malloc(cap);
        size_t len = 0;
        unsigned char tmp[16];
        /* innermost AnyValue: string "x" */
        buf[len++] = 0x0A;
        buf[len++] = 1;
        buf[len++] = 'x';
        for (size_t i = 0; i < depth; i++) {
            /* ArrayValue{1: buf} then AnyValue{5: that} */
            for (int wrap = 0; wrap < 2; wrap++) {
                size_t hl = 0;
                tmp[hl++] = wrap == 0 ? 0x0A : 0x2A;
                size_t v = len;
                do {
                    tmp[hl++] = (unsigned char)((v & 0x7F) | (v > 0x7F ? 0x80 : 0));
                    v >>= 7;
                } while (v);
                memmove(buf + hl, buf, len);
                memcpy(buf, tmp, hl);
                len += hl;
            }
        }
        /* KeyValue{1:"k", 2: AnyValue}, Span{1: tid, 2: sid, 9: KeyValue},
         * ScopeSpans{2: Span}, ResourceSpans{2: ScopeSpans}, Request{1: …} */
        const unsigned char wraps[] = {0x12, 0x4A, 0x12, 0x12, 0x0A};
        for (size_t w = 0; w < sizeof wraps; w++) {
            unsigned char pre[64];
            size_t pl = 0;
            if (w == 0) {
                pre[pl++] = 0x0A;
                pre[pl++] = 1;
                pre[pl++] = 'k';
            }
            if (w == 1) {
                pre[pl++] = 0x0A;
                pre[pl++] = 16;
                for (int i = 0; i < 16; i++)
                    pre[pl++] = (unsigned char)(i + 1);
                pre[pl++] = 0x12;
                pre[pl++] = 8;
                for (int i = 0; i < 8; i++)
                    pre[pl++] = (unsigned char)(i + 1);
            }
            size_t hl = 0;
            tmp[hl++] = wraps[w];
            size_t v = len;
            do {
                tmp[hl++] = (unsigned char)((v & 0x7F) | (v > 0x7F ? 0x80 : 0));
                v >>= 7;
            } while (v);
            memmove(buf + pl + hl, buf, len);
            memcpy(buf, pre, pl);
            memcpy(buf + pl, tmp, hl);
            len += pl + hl;
            if (w == 0) {
                /* the KeyValue itself becomes the payload of Span.attributes below */
            }
        }
        refused(f, k_protobuf, buf, len, 400, "nested deeper");
        free(buf);
    }
    refused(f, k_json, "{\"resourceSpans\":[", 18, 400, "json: not valid JSON");
    const char *bad_id =
        "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":\"xyz\"}]}]}]}";
    refused(f, k_json, bad_id, strlen(bad_id), 400, "spans[0].traceId");
    const char *gz[] = {"Content-Type: application/x-protobuf", "Content-Encoding: gzip", NULL};
    refused(f, gz, "\x1f\x8b\x08\x00broken", 10, 400, "gzip");
    /* a gzip bomb: 1 MiB of zeros, over --max-body once inflated */
    size_t big = 1 << 20, zlen = 0;
    char *zeros = calloc(1, big);
    unsigned char *bomb = gzip(zeros, big, &zlen);
    refused(f, gz, bomb, zlen, 413, "larger than");
    free(bomb);
    /* too big as sent */
    refused(f, k_protobuf, zeros, 100000, 413, "larger than");
    free(zeros);
    const char *text[] = {"Content-Type: text/plain", NULL};
    refused(f, text, "hello", 5, 415, "Content-Type");
    /* what cJSON alone would let pass, or read its own way */
    const char *good =
        "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":"
        "\"0102030405060708090a0b0c0d0e0f10\",\"spanId\":\"0102030405060708\"}]}]}]}";
    char buf[1024];
    int bn = snprintf(buf, sizeof buf, "%s garbage", good);
    refused(f, k_json, buf, (size_t)bn, 400, "text after the request");
    bn = snprintf(buf, sizeof buf, "%s%s", good, good);
    refused(f, k_json, buf, (size_t)bn, 400, "text after the request");
    bn = snprintf(buf, sizeof buf, "{\"resourceSpans\":[],%s", good + 1);
    refused(f, k_json, buf, (size_t)bn, 400, "appears twice");
    const char *nul = "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":"
                      "\"0102030405060708090a0b0c0d0e0f10\",\"spanId\":\"0102030405060708\","
                      "\"name\":\"a\\u0000<b>\"}]}]}]}";
    refused(f, k_json, nul, strlen(nul), 400, "u0000");
    const char *b64 = "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":"
                      "\"0102030405060708090a0b0c0d0e0f10\",\"spanId\":\"0102030405060708\","
                      "\"attributes\":[{\"key\":\"b\",\"value\":{\"bytesValue\":\"a\"}}]}]}]}]}";
    refused(f, k_json, b64, strlen(b64), 400, "bytesValue: not base64");
    /* a gzip member followed by bytes that are not one */
    size_t glen = 0;
    unsigned char *gz1 = gzip(good, strlen(good), &glen);
    unsigned char *tail = malloc(glen + 8);
    memcpy(tail, gz1, glen);
    memcpy(tail + glen, "garbage!", 8);
    const char *gzj[] = {"Content-Type: application/json", "Content-Encoding: gzip", NULL};
    refused(f, gzj, tail, glen + 8, 400, "gzip");
    free(tail);
    free(gz1);
    /* the OTLP error bodies are google.rpc.Status in the request's format */
    r = http(f, "/v1/traces", gzj, "\x1f\x8b\x08\x00broken", 10);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.content_type, "application/json"));
    cJSON *st = cJSON_Parse(r.body);
    assert_non_null(st);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(st, "code")->valueint, 3);
    cJSON_Delete(st);
    free(r.body);
    /* the OTLP error body is a google.rpc.Status: code 3, then the message */
    r = http(f, "/v1/traces", k_protobuf, "\x0a\x05", 2);
    assert_int_equal(r.status, 400);
    assert_true(r.len > 4);
    assert_int_equal((unsigned char)r.body[0], 0x08);
    assert_int_equal((unsigned char)r.body[1], 3);
    assert_int_equal((unsigned char)r.body[2], 0x12);
    assert_int_equal((unsigned char)r.body[3], r.len - 4);
    assert_true(st_mem_has(r.body, r.len, "protobuf: truncated field at byte 0"));
    free(r.body);
}

static void test_partial_success(void **state)
{
    fx *f = *state;
    st_cli_or_skip();
    st_write_file(f->base.ini, "");
    assert_true(serve_start(f, NULL, NULL));
    const char *body =
        "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":["
        "{\"traceId\":\"0102030405060708090a0b0c0d0e0f10\",\"spanId\":\"0102030405060708\","
        "\"name\":\"good\"},"
        "{\"traceId\":\"00000000000000000000000000000000\",\"spanId\":\"0102030405060709\","
        "\"name\":\"zero trace\"},"
        "{\"traceId\":\"0102030405060708090a0b0c0d0e0f10\",\"spanId\":\"\",\"name\":\"no "
        "id\"}]}]}]}";
    reply r = http(f, "/v1/traces", k_json, body, strlen(body));
    assert_int_equal(r.status, 200);
    cJSON *j = cJSON_Parse(r.body);
    const cJSON *ps = cJSON_GetObjectItemCaseSensitive(j, "partialSuccess");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(ps, "rejectedSpans")->valuestring, "2");
    assert_non_null(
        strstr(cJSON_GetObjectItemCaseSensitive(ps, "errorMessage")->valuestring, "traceId"));
    cJSON_Delete(j);
    free(r.body);
    assert_int_equal(rows(f), 1);
}

static void test_full_and_busy(void **state)
{
    fx *f = *state;
    st_cli_or_skip();
    st_write_file(f->base.ini, "[outbox]\nmax_size = 200KiB\n");
    assert_true(serve_start(f, NULL, NULL));
    reply r = http(f, "/healthz", NULL, NULL, 0);
    assert_int_equal(r.status, 200);
    free(r.body);
    /* fill it: ~20 KB a request */
    char *pad = malloc(20000);
    memset(pad, 'a', 19999);
    pad[19999] = '\0';
    char *body = malloc(21000);
    long last = 0;
    int ok = 0;
    for (int i = 0; i < 100 && last != 503; i++) {
        int n = snprintf(body, 21000,
                         "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":"
                         "\"0102030405060708090a0b0c0d0e0f10\",\"spanId\":\"%016x\",\"name\":"
                         "\"s\",\"attributes\":[{\"key\":\"pad\",\"value\":{\"stringValue\":\"%s\""
                         "}}]}]}]}]}",
                         i + 1, pad);
        r = http(f, "/v1/traces", k_json, body, (size_t)n);
        last = r.status;
        if (last == 200)
            ok++;
        else
            assert_string_equal(r.retry_after, "5");
        free(r.body);
    }
    print_message("%d requests stored before 503\n", ok);
    assert_int_equal(last, 503);
    assert_true(ok > 0);
    /* every 200 is a row; nothing else is */
    assert_int_equal(rows(f), ok);
    r = http(f, "/healthz", NULL, NULL, 0);
    assert_int_equal(r.status, 503);
    assert_non_null(strstr(r.body, "max_size"));
    free(r.body);
    serve_stop(f);
    free(pad);
    free(body);

    /* a write lock held on the file */
    st_db_remove(f->base.db);
    st_write_file(f->base.ini, "");
    assert_true(serve_start(f, NULL, NULL));
    sqlite3 *db = st_db_open(f->base.db);
    assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    r = http(f, "/healthz", NULL, NULL, 0);
    assert_int_equal(r.status, 503);
    assert_non_null(strstr(r.body, "cannot be written now"));
    free(r.body);
    assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    r = http(f, "/healthz", NULL, NULL, 0);
    assert_int_equal(r.status, 200);
    free(r.body);
}

static void test_token_and_listen(void **state)
{
    fx *f = *state;
    st_cli_or_skip();
    st_write_file(f->base.ini, "");
    int code = 0;
    const char *open_args[] = {"--listen", "0.0.0.0:0", NULL};
    assert_false(serve_start(f, open_args, &code));
    assert_int_equal(code, 78);
    assert_true(st_file_has(f->serve_err, "[serve] token"));
    const char *insecure[] = {"--listen", "0.0.0.0:0", "--insecure-listen", NULL};
    assert_true(serve_start(f, insecure, NULL));
    serve_stop(f);

    /* the token's variable unset: serve refuses to start (78, naming it);
     * the verbs that do not serve still load the file */
    unsetenv("TB_TEST_SERVE_TOKEN");
    st_write_file(f->base.ini, "[serve]\ntoken = ${TB_TEST_SERVE_TOKEN}\n");
    assert_false(serve_start(f, NULL, &code));
    assert_int_equal(code, 78);
    assert_true(st_file_has(f->serve_err, "${TB_TEST_SERVE_TOKEN} is not set"));
    const char *init[] = {"--db", f->base.db, "--config", f->base.ini, "init", NULL};
    assert_int_equal(st_run_cli(f->base.dir, NULL, NULL, 30000, init), 0);
    const char *status[] = {"--db", f->base.db, "--config", f->base.ini, "status", NULL};
    assert_int_equal(st_run_cli(f->base.dir, NULL, NULL, 30000, status), 0);
    const char *check[] = {"--config", f->base.ini, "check", NULL};
    assert_int_equal(st_run_cli(f->base.dir, NULL, NULL, 30000, check), 78);

    setenv("TB_TEST_SERVE_TOKEN", "s3cr3t-t0ken-value", 1);
    st_write_file(f->base.ini, "[serve]\ntoken = ${TB_TEST_SERVE_TOKEN}\n");
    const char *lan[] = {"--listen", "0.0.0.0:0", NULL};
    assert_true(serve_start(f, lan, NULL));
    /* talk to it on loopback */
    const char *port = strrchr(f->url, ':');
    char url[96];
    snprintf(url, sizeof url, "http://127.0.0.1%s", port);
    snprintf(f->url, sizeof f->url, "%s", url);
    const char *body =
        "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":"
        "\"0102030405060708090a0b0c0d0e0f10\",\"spanId\":\"0102030405060708\"}]}]}]}";
    reply r = http(f, "/v1/traces", k_json, body, strlen(body));
    assert_int_equal(r.status, 401);
    assert_null(strstr(r.body, "s3cr3t"));
    free(r.body);
    const char *wrong[] = {"Content-Type: application/json", "Authorization: Bearer s3cr3t", NULL};
    r = http(f, "/v1/traces", wrong, body, strlen(body));
    assert_int_equal(r.status, 401);
    free(r.body);
    r = http(f, "/metrics", NULL, NULL, 0);
    assert_int_equal(r.status, 401);
    free(r.body);
    assert_int_equal(rows(f), 0);
    const char *right[] = {"Content-Type: application/json",
                           "Authorization: Bearer s3cr3t-t0ken-value", NULL};
    r = http(f, "/v1/traces", right, body, strlen(body));
    assert_int_equal(r.status, 200);
    free(r.body);
    assert_int_equal(rows(f), 1);
    serve_term(f);
    assert_false(st_file_has(f->serve_err, "s3cr3t"));
    unsetenv("TB_TEST_SERVE_TOKEN");
}

static void test_ingest_endpoint(void **state)
{
    fx *f = *state;
    st_cli_or_skip();
    st_write_file(f->base.ini, "");
    assert_true(serve_start(f, NULL, NULL));
    const char *trace =
        "{\"object\": \"trace\", \"id\": \"trace_0123456789abcdef0123456789abcdef\", "
        "\"workflow_name\": \"Agent workflow\", \"group_id\": null, \"metadata\": "
        "{\"k\": 1.50}}";
    const char *span = "{\"object\":\"trace.span\",\"id\":\"span_0123456789abcdef01234567\","
                       "\"trace_id\":\"trace_0123456789abcdef0123456789abcdef\",\"parent_id\":null,"
                       "\"started_at\":\"2025-06-01T12:00:00.000Z\",\"ended_at\":\"2025-06-01T12:"
                       "00:01.000Z\",\"span_data\":{\"type\":\"function\",\"name\":\"lookup\","
                       "\"input\":\"{\\\"q\\\": 1}\",\"output\":\"ok\"},\"error\":null}";
    char body[2048];
    int n = snprintf(body, sizeof body, "{ \"data\" : [ %s ,\n%s ] }", trace, span);
    const char *hdr[] = {"Content-Type: application/json", "Authorization: Bearer sk-test",
                         "OpenAI-Beta: traces=v1", NULL};
    reply r = http(f, "/v1/traces/ingest", hdr, body, (size_t)n);
    assert_int_equal(r.status, 204);
    free(r.body);
    /* each element's bytes, as sent */
    char *got = st_db_dup(f->base.db, "SELECT body FROM records WHERE kind = 'trace'");
    assert_string_equal(got, trace);
    free(got);
    got = st_db_dup(f->base.db, "SELECT body FROM records WHERE kind = 'span'");
    assert_string_equal(got, span);
    free(got);
    /* one bad element: 400 naming it, the others stored */
    n = snprintf(body, sizeof body,
                 "{\"data\":[{\"object\":\"trace.span\",\"id\":\"span_x\"},{\"object\":\"trace\","
                 "\"id\":\"trace_second\"}]}");
    r = http(f, "/v1/traces/ingest", hdr, body, (size_t)n);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "data[0]"));
    free(r.body);
    assert_int_equal(st_db_int(f->base.db, "SELECT count(*) FROM records"), 3);
    r = http(f, "/v1/traces/ingest", hdr, "[1,2]", 5);
    assert_int_equal(r.status, 400);
    free(r.body);
    r = http(f, "/v1/traces/ingest", hdr, "{\"data\":[{]}", 12);
    assert_int_equal(r.status, 400);
    free(r.body);
    /* not stored, with where: text after the object, a cut body, "data" twice */
    static const char *const broken[] = {
        "{\"data\":[{\"object\":\"trace\",\"id\":\"trace_x1\"}]} GARBAGE",
        "{\"data\":[{\"object\":\"trace\",\"id\":\"trace_x2\"}]",
        "{\"data\":[{\"object\":\"trace\",\"id\":\"trace_x3\"}],\"data\":[]}"};
    for (size_t i = 0; i < 3; i++) {
        r = http(f, "/v1/traces/ingest", hdr, broken[i], strlen(broken[i]));
        if (r.status != 400)
            fail_msg("%s: %ld", broken[i], r.status);
        free(r.body);
    }
    assert_int_equal(st_db_int(f->base.db, "SELECT count(*) FROM records"), 3);
}

static void test_ships_in_process_and_stops(void **state)
{
    fx *f = *state;
    st_cli_or_skip();
    char extra[512];
    snprintf(extra, sizeof extra,
             "\n[dashboard]\ntype = openai\nbase_url = %s\napi_key = sk-test\n\n[shipper]\n"
             "poll_interval = 50ms\n",
             f->base.srv.url);
    write_ini(f, extra);
    assert_true(serve_start(f, NULL, NULL));
    built b;
    build(&b);
    reply r = http(f, "/v1/traces", k_protobuf, b.bin, b.bin_len);
    assert_int_equal(r.status, 200);
    free(r.body);
    const char *sdk = "{\"data\":[{\"object\":\"trace\",\"id\":\"trace_0123456789abcdef0123456789"
                      "abcdef\",\"workflow_name\":\"wf\"}]}";
    r = http(f, "/v1/traces/ingest", k_json, sdk, strlen(sdk));
    assert_int_equal(r.status, 204);
    free(r.body);
    /* shipped without `ship`: wait (with a deadline) for both cursors */
    int64_t deadline = st_mono_ms() + 30000;
    while (st_mono_ms() < deadline &&
           st_db_int(f->base.db, "SELECT count(*) FROM destinations WHERE cursor = 10") < 2)
        st_nap_ms(20);
    assert_int_equal(st_db_int(f->base.db, "SELECT count(*) FROM destinations WHERE cursor = 10"),
                     2);
    assert_arrived_as_sent(f, &b, "/v1/traces");
    /* the openai destination got the SDK record only; the OTLP spans are counted */
    cJSON *list = st_requests(&f->base.srv);
    const cJSON *q;
    size_t ingest = 0;
    cJSON_ArrayForEach(q, list)
    {
        if (strcmp(st_req_str(q, "path"), "/v1/traces/ingest") != 0)
            continue;
        ingest++;
        const char *bd = st_req_str(q, "body");
        assert_non_null(bd);
        assert_null(strstr(bd, "traceId"));
        assert_non_null(strstr(bd, "trace_0123456789abcdef0123456789abcdef"));
    }
    cJSON_Delete(list);
    assert_int_equal(ingest, 1);
    assert_int_equal(st_db_int(f->base.db, "SELECT value FROM counters WHERE name = 'skipped'"), 9);
    r = http(f, "/metrics", NULL, NULL, 0);
    if (r.status != 200)
        fail_msg("/metrics: %ld %s", r.status, r.body);
    assert_non_null(strstr(r.body, "tracebox_records 10"));
    assert_non_null(strstr(r.body, "tracebox_skipped_total 9"));
    assert_non_null(strstr(r.body, "tracebox_serve_spans_total 9"));
    free(r.body);
    r = http(f, "/healthz", NULL, NULL, 0);
    assert_int_equal(r.status, 200);
    free(r.body);
    r = http(f, "/nope", NULL, NULL, 0);
    assert_int_equal(r.status, 404);
    free(r.body);
    r = http(f, "/v1/traces", NULL, NULL, 0);
    assert_int_equal(r.status, 405);
    free(r.body);
    serve_term(f);
    assert_true(st_file_has(f->serve_err, "stopped cleanly"));
    built_free(&b);
}

/* [outbox] redact = io: the input/output attributes of an OTLP span and
 * the message attributes of its gen_ai events are stored as "[redacted]";
 * the model, the token counts and the event's role stay. */
static void test_redact(void **state)
{
    fx *f = *state;
    st_cli_or_skip();
    st_write_file(f->base.ini, "[outbox]\nredact = io\n");
    assert_true(serve_start(f, NULL, NULL));
    const char *body =
        "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":"
        "\"0102030405060708090a0b0c0d0e0f10\",\"spanId\":\"0102030405060708\",\"name\":\"chat\","
        "\"attributes\":[{\"key\":\"input.value\",\"value\":{\"stringValue\":\"my card is 4111\"}},"
        "{\"key\":\"gen_ai.request.model\",\"value\":{\"stringValue\":\"gpt-4o\"}},"
        "{\"key\":\"llm.input_messages.0.message.content\",\"value\":{\"stringValue\":\"secret "
        "prompt\"}},{\"key\":\"gen_ai.usage.input_tokens\",\"value\":{\"intValue\":\"12\"}}],"
        "\"events\":[{\"name\":\"gen_ai.user.message\",\"attributes\":[{\"key\":\"role\",\"value\":"
        "{\"stringValue\":\"user\"}},{\"key\":\"content\",\"value\":{\"stringValue\":\"hidden "
        "words\"}}]}]}]}]}]}";
    reply r = http(f, "/v1/traces", k_json, body, strlen(body));
    assert_int_equal(r.status, 200);
    free(r.body);
    char *stored = st_db_dup(f->base.db, "SELECT body FROM records");
    assert_null(strstr(stored, "4111"));
    assert_null(strstr(stored, "secret prompt"));
    assert_null(strstr(stored, "hidden words"));
    assert_non_null(strstr(stored, "gpt-4o"));
    assert_non_null(strstr(stored, "\"intValue\":\"12\""));
    assert_non_null(strstr(stored, "\"user\""));
    assert_non_null(strstr(stored, "[redacted]"));
    free(stored);
}

/* A client that sends half a request and then nothing is cut off after
 * [serve] timeout; the server keeps answering others meanwhile. */
static void test_slow_client(void **state)
{
    fx *f = *state;
    st_cli_or_skip();
    st_write_file(f->base.ini, "[serve]\ntimeout = 1s\n");
    assert_true(serve_start(f, NULL, NULL));
    const char *colon = strrchr(f->url, ':');
    int port = atoi(colon + 1);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    const char *half = "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n";
    assert_true(write(fd, half, strlen(half)) > 0);
    reply r = http(f, "/healthz", NULL, NULL, 0); /* others are served meanwhile */
    assert_int_equal(r.status, 200);
    free(r.body);
    /* the server closes the idle connection: read() returns 0 (or a reset) */
    struct timeval tv = {.tv_sec = 20};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int64_t t0 = st_mono_ms();
    char buf[256];
    ssize_t n = read(fd, buf, sizeof buf);
    int64_t took = st_mono_ms() - t0;
    print_message("a half-sent request was closed after %lld ms (timeout 1 s)\n", (long long)took);
    assert_true(n <= 0);
    assert_true(took < 15000);
    close(fd);
}

/* ---- a fleet: N hosts, one receiver, faults ---------------------------------
 * FLEET `serve` processes (one per "host", each its own outbox) ship to one
 * loopback receiver (the test server standing in for a collector gateway).
 * Each gets SPANS spans in requests of 100 from a client while the receiver
 * fails: 503s, then connection resets. The receiver turns healthy only once
 * every host has failed at least twice (read from each outbox's
 * destinations row: no clock decides it). Then every span must arrive in a
 * request the receiver answered 200, and the figures are printed: spans,
 * failed attempts, duplicates, drain time after recovery. */
#define FLEET 4
#define FLEET_SPANS 1000

static char *fleet_request(unsigned host, unsigned first, unsigned n, size_t *len)
{
    char *b = malloc(200 + (size_t)n * 200);
    assert_non_null(b);
    size_t o = (size_t)sprintf(b,
                               "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":"
                               "\"host.name\",\"value\":{\"stringValue\":\"host-%u\"}}]},"
                               "\"scopeSpans\":[{\"scope\":{\"name\":\"fleet\"},\"spans\":[",
                               host);
    for (unsigned i = 0; i < n; i++)
        o += (size_t)sprintf(b + o,
                             "%s{\"traceId\":\"%08x%024x\",\"spanId\":\"%08x%08x\",\"name\":"
                             "\"step %u\",\"startTimeUnixNano\":\"1764500000000000000\","
                             "\"endTimeUnixNano\":\"1764500000100000000\"}",
                             i ? "," : "", host + 1, (first + i) / 10, host + 1, first + i,
                             first + i);
    o += (size_t)sprintf(b + o, "]}]}]}");
    *len = o;
    return b;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_fleet_under_faults(void **state)
{
    fx *f = *state;
    st_cli_or_skip();
    tb_test_server *srv = &f->base.srv;
    /* the receiver fails from the start: 503 with Retry-After 0, then resets */
    assert_int_equal(tb_test_server_control(srv, "{\"mode\":\"sequence\",\"steps\":["
                                                 "{\"mode\":\"status\",\"code\":503},"
                                                 "{\"mode\":\"status\",\"code\":503},"
                                                 "{\"mode\":\"status\",\"code\":503},"
                                                 "{\"mode\":\"status\",\"code\":503}]}"),
                     0);
    assert_int_equal(tb_test_server_control(srv, "{\"mode\":\"reset\"}"), 0);
    /* the sequence was replaced by the default: set both again, in order */
    assert_int_equal(tb_test_server_control(srv, "{\"mode\":\"sequence\",\"steps\":["
                                                 "{\"mode\":\"status\",\"code\":503},"
                                                 "{\"mode\":\"status\",\"code\":503},"
                                                 "{\"mode\":\"status\",\"code\":503},"
                                                 "{\"mode\":\"status\",\"code\":503}]}"),
                     0);
    fx hosts[FLEET];
    char ini[1024];
    snprintf(ini, sizeof ini,
             "[gateway]\ntype = otlp\nendpoint = %s\nprotocol = http/protobuf\nbatch_size = 250\n"
             "timeout = 5s\n\n[shipper]\nbackoff_base = 20ms\nbackoff_cap = 200ms\n"
             "poll_interval = 20ms\n",
             srv->url);
    for (int h = 0; h < FLEET; h++) {
        memset(&hosts[h], 0, sizeof hosts[h]);
        char dir[600];
        snprintf(dir, sizeof dir, "%.200s/host%d", f->base.dir, h);
        snprintf(hosts[h].base.dir, sizeof hosts[h].base.dir, "%.250s", dir);
        assert_int_equal(mkdir(dir, 0700), 0);
        snprintf(hosts[h].base.db, sizeof hosts[h].base.db, "%.250s/tracebox.db", dir);
        snprintf(hosts[h].base.ini, sizeof hosts[h].base.ini, "%.250s/tracebox.ini", dir);
        st_write_file(hosts[h].base.ini, ini);
        assert_true(serve_start(&hosts[h], NULL, NULL));
    }
    /* every host receives its spans (each answered 200: on its disk) */
    for (unsigned first = 0; first < FLEET_SPANS; first += 100)
        for (int h = 0; h < FLEET; h++) {
            size_t len = 0;
            char *body = fleet_request((unsigned)h, first, 100, &len);
            reply r = http(&hosts[h], "/v1/traces", k_json, body, len);
            assert_int_equal(r.status, 200);
            free(r.body);
            free(body);
        }
    /* faults until every host has failed at least twice */
    int64_t deadline = st_mono_ms() + 60000;
    for (int h = 0; h < FLEET; h++)
        while (st_db_int(hosts[h].base.db, "SELECT coalesce(max(attempts), 0) FROM destinations") <
                   2 &&
               st_mono_ms() < deadline)
            st_nap_ms(10);
    for (int h = 0; h < FLEET; h++)
        assert_true(st_db_int(hosts[h].base.db,
                              "SELECT coalesce(max(attempts), 0) FROM destinations") >= 2);
    int64_t healed = st_mono_ms();
    assert_int_equal(tb_test_server_control(srv, "{\"mode\":\"ok\"}"), 0);
    /* every outbox drains */
    int64_t want = FLEET_SPANS;
    for (int h = 0; h < FLEET; h++)
        while (st_db_int(hosts[h].base.db, "SELECT coalesce(max(cursor), 0) FROM destinations") <
                   want &&
               st_mono_ms() < deadline)
            st_nap_ms(10);
    int64_t drained_ms = st_mono_ms() - healed;
    for (int h = 0; h < FLEET; h++)
        assert_int_equal(
            st_db_int(hosts[h].base.db, "SELECT coalesce(max(cursor), 0) FROM destinations"), want);
    /* what the receiver accepted: every span, by (host, span) */
    cJSON *list = st_requests(srv);
    size_t cap = 64, n = 0, failed_posts = 0, ok_posts = 0;
    uint64_t *ids = malloc(cap * sizeof *ids);
    const cJSON *r;
    cJSON_ArrayForEach(r, list)
    {
        if (strcmp(st_req_str(r, "path"), "/v1/traces") != 0)
            continue;
        if (strcmp(st_req_str(r, "answer"), "ok") != 0) {
            failed_posts++;
            continue;
        }
        ok_posts++;
        size_t len = 0;
        unsigned char *raw = st_b64_decode(st_req_str(r, "body_b64"), &len);
        Tbotlp__ExportTraceServiceRequest *req =
            tbotlp__export_trace_service_request__unpack(NULL, len, raw);
        assert_non_null(req);
        for (size_t i = 0; i < req->n_resource_spans; i++)
            for (size_t j = 0; j < req->resource_spans[i]->n_scope_spans; j++)
                for (size_t k = 0; k < req->resource_spans[i]->scope_spans[j]->n_spans; k++) {
                    const Tbotlp__Span *sp = req->resource_spans[i]->scope_spans[j]->spans[k];
                    assert_int_equal(sp->span_id.len, 8);
                    uint64_t v = 0;
                    for (int b = 0; b < 8; b++)
                        v = v << 8 | sp->span_id.data[b];
                    if (n == cap)
                        ids = realloc(ids, (cap *= 2) * sizeof *ids);
                    ids[n++] = v;
                }
        tbotlp__export_trace_service_request__free_unpacked(req, NULL);
        free(raw);
    }
    cJSON_Delete(list);
    qsort(ids, n, sizeof *ids, cmp_u64);
    size_t distinct = 0;
    for (size_t i = 0; i < n; i++)
        distinct += i == 0 || ids[i] != ids[i - 1];
    int64_t attempts = 0;
    for (int h = 0; h < FLEET; h++)
        attempts +=
            st_db_int(hosts[h].base.db, "SELECT coalesce(sum(resent), 0) FROM destinations");
    print_message("fleet: %d serve processes x %d spans; %zu failed posts during the faults, "
                  "%zu accepted; %zu of %d spans arrived (%zu duplicates); drained %lld ms "
                  "after the receiver healed\n",
                  FLEET, FLEET_SPANS, failed_posts, ok_posts, distinct, FLEET * FLEET_SPANS,
                  n - distinct, (long long)drained_ms);
    (void)attempts;
    assert_int_equal(distinct, FLEET * FLEET_SPANS);
    assert_true(failed_posts >= 2 * FLEET);
    free(ids);
    for (int h = 0; h < FLEET; h++) {
        serve_term(&hosts[h]);
    }
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_otlp_protobuf_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_otlp_json_gzip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partial_success, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_and_busy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_and_listen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ingest_endpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ships_in_process_and_stops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slow_client, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fleet_under_faults, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
