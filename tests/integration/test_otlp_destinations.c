/*
 * test_otlp_destinations.c — the OTLP destinations (otlp protobuf, otlp
 * json, otlp gzip, langfuse, arize, phoenix, wandb) end to end: records
 * written with tb_outbox_put_json, a configuration from tb_config_parse
 * (or, once, from the environment alone), tb_ship_once() against the
 * loopback test server (tests/helpers/testserver.py).
 *
 * For each destination the test reads what the server recorded (GET
 * /_requests) and checks the path, Content-Type, the auth and routing
 * headers exactly, and that the body — body_b64, gunzipped when
 * Content-Encoding says gzip — decodes (protobuf-c unpack, or cJSON for
 * http/json) to one span per SDK span record with the destination's
 * resource attributes. Then: an OTLP partial success naming rejected spans
 * is delivered and counted in counters.rejected_unnamed; a 401 and a
 * connection failure never put a secret into destinations.last_error,
 * tb_last_error() or stderr.
 */
#include "fixture.h"

#include "otlp/encode.h"
#include "trace.pb-c.h"

#include <zlib.h>

#define TRACE_ID "trace_11112222333344445555666677778888"
#define TRACE_HEX "11112222333344445555666677778888"

#define SPAN(sid, parent, data)                                                                    \
    "{\"object\":\"trace.span\",\"id\":\"span_" sid "\",\"trace_id\":\"" TRACE_ID                  \
    "\",\"parent_id\":" parent ",\"started_at\":\"2025-06-01T12:00:00.000001+00:00\","             \
    "\"ended_at\":\"2025-06-01T12:00:01.000000+00:00\",\"span_data\":" data ",\"error\":null}"

static const char *k_records[] = {
    "{\"object\":\"trace\",\"id\":\"" TRACE_ID "\",\"workflow_name\":\"Support\","
    "\"group_id\":\"thread_7\",\"metadata\":{\"customer\":\"acme\"}}",
    SPAN("d00000000000000100000000", "null",
         "{\"type\":\"agent\",\"name\":\"Triage\",\"handoffs\":[],\"tools\":[],"
         "\"output_type\":\"str\"}"),
    SPAN("d00000000000000200000000", "\"span_d00000000000000100000000\"",
         "{\"type\":\"generation\",\"model\":\"gpt-4o\",\"input\":[{\"role\":\"user\","
         "\"content\":\"hi\"}],\"output\":[{\"role\":\"assistant\",\"content\":\"hello\"}],"
         "\"model_config\":{\"temperature\":0.5},\"usage\":{\"input_tokens\":3,"
         "\"output_tokens\":2}}"),
    SPAN("d00000000000000300000000", "\"span_d00000000000000100000000\"",
         "{\"type\":\"function\",\"name\":\"lookup\",\"input\":\"{}\",\"output\":\"ok\"}"),
    SPAN("d00000000000000400000000", "\"span_d00000000000000100000000\"",
         "{\"type\":\"handoff\",\"from_agent\":\"Triage\",\"to_agent\":\"Billing\"}"),
    SPAN("d00000000000000500000000", "\"span_d00000000000000100000000\"",
         "{\"type\":\"guardrail\",\"name\":\"check\",\"triggered\":false}"),
};
#define N_RECORDS (sizeof k_records / sizeof k_records[0])
#define N_SPANS (N_RECORDS - 1)

#define SECRET1 "sk-SECRET-alpha-7781"
#define SECRET2 "sk-SECRET-beta-9932"

typedef st_fx fx;

static int setup(void **state)
{
    if (st_fx_setup(state) != 0)
        return -1;
    fx *f = *state;
    for (size_t i = 0; i < N_RECORDS; i++)
        st_fx_put_json(f, k_records[i]);
    tb_outbox_close(f->ob);
    f->ob = NULL;
    return 0;
}

/* ---- what the server got ------------------------------------------- */

typedef struct got {
    cJSON *list;        /* every request */
    const cJSON *req;   /* the one we look at */
    unsigned char *raw; /* its body, gunzipped when gzip */
    size_t raw_len;
} got;

static unsigned char *gunzip(const unsigned char *in, size_t len, size_t *out_len)
{
    size_t cap = len * 8 + 1024;
    unsigned char *out = malloc(cap);
    assert_non_null(out);
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
    z.next_in = (unsigned char *)in;
    z.avail_in = (uInt)len;
    int rc;
    do {
        if (z.total_out == cap) {
            cap *= 2;
            out = realloc(out, cap);
            assert_non_null(out);
        }
        z.next_out = out + z.total_out;
        z.avail_out = (uInt)(cap - z.total_out);
        rc = inflate(&z, Z_NO_FLUSH);
    } while (rc == Z_OK);
    assert_int_equal(rc, Z_STREAM_END);
    *out_len = z.total_out;
    inflateEnd(&z);
    return out;
}

/* The index-th request to `path` (fails when there is none). */
static void got_get(fx *f, const char *path, size_t index, got *g)
{
    memset(g, 0, sizeof *g);
    g->list = st_requests(&f->srv);
    size_t seen = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, g->list)
    {
        if (strcmp(st_req_str(r, "path"), path) == 0 && seen++ == index) {
            g->req = r;
            break;
        }
    }
    if (!g->req)
        fail_msg("no request %zu to %s", index, path);
    size_t len;
    unsigned char *raw = st_b64_decode(st_req_str(g->req, "body_b64"), &len);
    const char *ce = st_req_header(g->req, "content-encoding");
    if (ce && strcmp(ce, "gzip") == 0) {
        g->raw = gunzip(raw, len, &g->raw_len);
        free(raw);
    } else {
        g->raw = raw;
        g->raw_len = len;
    }
}

static void got_free(got *g)
{
    cJSON_Delete(g->list);
    free(g->raw);
}

static size_t requests_to(fx *f, const char *path)
{
    cJSON *list = st_requests(&f->srv);
    size_t n = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, list)
    {
        if (strcmp(st_req_str(r, "path"), path) == 0)
            n++;
    }
    cJSON_Delete(list);
    return n;
}

static const char *kv_str(Tbotlp__KeyValue **kv, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(kv[i]->key, key) == 0 &&
            kv[i]->value->value_case == TBOTLP__ANY_VALUE__VALUE_STRING_VALUE)
            return kv[i]->value->string_value;
    return NULL;
}

/* Decode a protobuf body; check the span count and trace ids, and that
 * every span has `span_key` (when given) and the resource `res_key` =
 * `res_value` (when given). */
static void check_protobuf(const got *g, const char *span_key, const char *res_key,
                           const char *res_value)
{
    Tbotlp__ExportTraceServiceRequest *req =
        tbotlp__export_trace_service_request__unpack(NULL, g->raw_len, g->raw);
    if (!req)
        fail_msg("the body (%zu bytes) is not an ExportTraceServiceRequest", g->raw_len);
    assert_int_equal(req->n_resource_spans, 1);
    const Tbotlp__ResourceSpans *rs = req->resource_spans[0];
    if (res_key) {
        const char *v = kv_str(rs->resource->attributes, rs->resource->n_attributes, res_key);
        if (!v || strcmp(v, res_value) != 0)
            fail_msg("resource %s = %s, want %s", res_key, v ? v : "(none)", res_value);
    }
    const Tbotlp__ScopeSpans *ss = rs->scope_spans[0];
    assert_int_equal(ss->n_spans, N_SPANS);
    for (size_t i = 0; i < ss->n_spans; i++) {
        const Tbotlp__Span *s = ss->spans[i];
        assert_int_equal(s->trace_id.len, 16);
        char hex[33];
        for (size_t k = 0; k < 16; k++)
            snprintf(hex + 2 * k, 3, "%02x", s->trace_id.data[k]);
        assert_string_equal(hex, TRACE_HEX);
        if (span_key && !kv_str(s->attributes, s->n_attributes, span_key))
            fail_msg("span %s has no %s", s->name, span_key);
        /* the trace record came in the same batch: its group id is on every
         * span, under the name its conventions give it */
        if (!kv_str(s->attributes, s->n_attributes, "gen_ai.conversation.id") &&
            !kv_str(s->attributes, s->n_attributes, "session.id"))
            fail_msg("span %s has no group id", s->name);
    }
    tbotlp__export_trace_service_request__free_unpacked(req, NULL);
}

static void assert_caught_up(fx *f, const char *dest)
{
    assert_int_equal(st_fx_dest_int(f, dest, "cursor"),
                     st_db_int(f->db, "SELECT max(seq) FROM records"));
    assert_int_equal(st_fx_dest_int(f, dest, "delivered"), (int64_t)N_RECORDS);
    assert_int_equal(st_fx_dest_int(f, dest, "attempts"), 0);
}

/* ---- tests ------------------------------------------------------------ */

static void test_otlp_protobuf(void **state)
{
    fx *f = *state;
    st_fx_parse(f,
                "[col]\ntype = otlp\nendpoint = %s/\nheaders = x-team=blue,x-env=t%%20st\n"
                "service_name = support-bot\n",
                f->srv.url);
    tb_ship_report r = st_fx_ship(f);
    assert_int_equal(r.delivered, (int64_t)N_RECORDS);
    assert_int_equal(r.pending, 0);
    assert_int_equal(requests_to(f, "/v1/traces"), 1);
    got g;
    got_get(f, "/v1/traces", 0, &g);
    assert_string_equal(cJSON_GetObjectItem(g.req, "method")->valuestring, "POST");
    st_assert_header(g.req, "content-type", "application/x-protobuf");
    st_assert_header(g.req, "x-team", "blue");
    st_assert_header(g.req, "x-env", "t st");
    assert_null(st_req_header(g.req, "content-encoding"));
    assert_null(st_req_header(g.req, "authorization"));
    check_protobuf(&g, "gen_ai.conversation.id", "service.name", "support-bot");
    check_protobuf(&g, "openinference.span.kind", "telemetry.sdk.name", "tracebox");
    got_free(&g);
    assert_caught_up(f, "col");
}

/* OTEL_RESOURCE_ATTRIBUTES (the resource_attributes key): each pair on the
 * resource, values percent-decoded, decoded by OpenTelemetry's own types;
 * its service.name is used when service_name is not set. */
static void test_otlp_resource_attributes(void **state)
{
    fx *f = *state;
    st_fx_parse(f,
                "[col]\ntype = otlp\nendpoint = %s/\n"
                "resource_attributes = deployment.environment=prod,team=agents%%20core,"
                "service.name=from-attrs\n",
                f->srv.url);
    tb_ship_report r = st_fx_ship(f);
    assert_int_equal(r.delivered, (int64_t)N_RECORDS);
    got g;
    got_get(f, "/v1/traces", 0, &g);
    check_protobuf(&g, NULL, "deployment.environment", "prod");
    check_protobuf(&g, NULL, "team", "agents core");
    check_protobuf(&g, NULL, "service.name", "from-attrs");
    got_free(&g);
}

static void test_otlp_json(void **state)
{
    fx *f = *state;
    st_fx_parse(f,
                "[col]\ntype = otlp\ntraces_endpoint = %s/custom/traces\nprotocol = http/json\n"
                "conventions = genai\n",
                f->srv.url);
    st_fx_ship(f);
    got g;
    got_get(f, "/custom/traces", 0, &g);
    st_assert_header(g.req, "content-type", "application/json");
    cJSON *root = cJSON_ParseWithLength((const char *)g.raw, g.raw_len);
    assert_non_null(root);
    const cJSON *rs = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "resourceSpans"), 0);
    const cJSON *ss = cJSON_GetArrayItem(cJSON_GetObjectItem(rs, "scopeSpans"), 0);
    const cJSON *spans = cJSON_GetObjectItem(ss, "spans");
    assert_int_equal(cJSON_GetArraySize(spans), (int)N_SPANS);
    const cJSON *s;
    cJSON_ArrayForEach(s, spans)
    {
        assert_string_equal(cJSON_GetObjectItem(s, "traceId")->valuestring, TRACE_HEX);
        assert_true(cJSON_IsString(cJSON_GetObjectItem(s, "startTimeUnixNano")));
        assert_true(cJSON_IsNumber(cJSON_GetObjectItem(s, "kind")));
        /* genai only */
        const cJSON *kv;
        cJSON_ArrayForEach(kv, cJSON_GetObjectItem(s, "attributes"))
        {
            assert_true(strncmp(cJSON_GetObjectItem(kv, "key")->valuestring, "llm.", 4) != 0);
        }
    }
    cJSON_Delete(root);
    got_free(&g);
    assert_caught_up(f, "col");
}

static void test_otlp_gzip(void **state)
{
    fx *f = *state;
    st_fx_parse(f, "[col]\ntype = otlp\nendpoint = %s\ncompression = gzip\n", f->srv.url);
    st_fx_ship(f);
    got g;
    got_get(f, "/v1/traces", 0, &g);
    st_assert_header(g.req, "content-type", "application/x-protobuf");
    st_assert_header(g.req, "content-encoding", "gzip");
    check_protobuf(&g, "tracebox.sdk_span_id", NULL, NULL);
    got_free(&g);
    assert_caught_up(f, "col");
}

static void test_langfuse(void **state)
{
    fx *f = *state;
    st_fx_parse(f,
                "[lf]\ntype = langfuse\nhost = %s/\npublic_key = pk-lf-1234\n"
                "secret_key = " SECRET1 "\nresource_attributes = service.name=lf-agents,team=a\n",
                f->srv.url);
    st_fx_ship(f);
    got g;
    got_get(f, "/api/public/otel/v1/traces", 0, &g);
    st_assert_header(g.req, "content-type", "application/x-protobuf");
    /* base64("pk-lf-1234:sk-SECRET-alpha-7781") */
    st_assert_header(g.req, "authorization", "Basic cGstbGYtMTIzNDpzay1TRUNSRVQtYWxwaGEtNzc4MQ==");
    st_assert_header(g.req, "x-langfuse-ingestion-version", "4");
    st_assert_header(g.req, "x-langfuse-sdk-name", "tracebox");
    st_assert_header(g.req, "x-langfuse-sdk-version", tb_version());
    /* OTEL_RESOURCE_ATTRIBUTES' service.name, OTEL_SERVICE_NAME unset */
    check_protobuf(&g, "langfuse.observation.type", "service.name", "lf-agents");
    check_protobuf(&g, NULL, "team", "a");
    check_protobuf(&g, "langfuse.trace.name", NULL, NULL);
    check_protobuf(&g, "session.id", NULL, NULL);
    got_free(&g);
    assert_caught_up(f, "lf");
}

static void test_arize(void **state)
{
    fx *f = *state;
    st_fx_parse(f,
                "[ax]\ntype = arize\nendpoint = %s\nspace_id = U3BhY2U6MTIz\napi_key = " SECRET1
                "\nproject = agents\n",
                f->srv.url);
    st_fx_ship(f);
    got g;
    got_get(f, "/v1/traces", 0, &g);
    st_assert_header(g.req, "content-type", "application/x-protobuf");
    /* what Arize's own exporter sends; not the deprecated space_id / api_key */
    st_assert_header(g.req, "arize-space-id", "U3BhY2U6MTIz");
    st_assert_header(g.req, "authorization", SECRET1);
    st_assert_header(g.req, "arize-interface", "otel");
    assert_null(st_req_header(g.req, "space_id"));
    assert_null(st_req_header(g.req, "api_key"));
    check_protobuf(&g, "openinference.span.kind", "openinference.project.name", "agents");
    check_protobuf(&g, "arize.project.name", "model_id", "agents");
    got_free(&g);
    assert_caught_up(f, "ax");
}

static void test_phoenix(void **state)
{
    fx *f = *state;
    st_fx_parse(
        f,
        "[px]\ntype = phoenix\nendpoint = %s\napi_key = " SECRET2 "\nservice_name = px-agents\n"
        "resource_attributes = deployment.environment=prod,openinference.project.name=other\n",
        f->srv.url);
    st_fx_ship(f);
    got g;
    got_get(f, "/v1/traces", 0, &g);
    /* service_name (OTEL_SERVICE_NAME) reaches every OTLP-family resource */
    check_protobuf(&g, NULL, "service.name", "px-agents");
    /* resource_attributes (OTEL_RESOURCE_ATTRIBUTES) reaches it too; the
     * destination's own project attribute wins over one given there */
    check_protobuf(&g, NULL, "deployment.environment", "prod");
    /* Phoenix compares the content type exactly */
    st_assert_header(g.req, "content-type", "application/x-protobuf");
    st_assert_header(g.req, "authorization", "Bearer " SECRET2);
    st_assert_header(g.req, "x-project-name", "default");
    check_protobuf(&g, "openinference.span.kind", "openinference.project.name", "default");
    got_free(&g);
    assert_caught_up(f, "px");
}

static void test_wandb(void **state)
{
    fx *f = *state;
    st_fx_parse(f,
                "[wb]\ntype = wandb\nendpoint = %s\napi_key = " SECRET2 "\nproject = acme/agents\n",
                f->srv.url);
    st_fx_ship(f);
    got g;
    got_get(f, "/otel/v1/traces", 0, &g);
    st_assert_header(g.req, "content-type", "application/x-protobuf");
    st_assert_header(g.req, "wandb-api-key", SECRET2);
    st_assert_header(g.req, "project_id", "acme/agents");
    check_protobuf(&g, "gen_ai.operation.name", "wandb.entity", "acme");
    check_protobuf(&g, "openinference.span.kind", "wandb.project", "agents");
    got_free(&g);
    assert_caught_up(f, "wb");
}

/* Configuration errors name the key and never echo a secret. */
static void test_config_errors(void **state)
{
    fx *f = *state;
    const char *bad[] = {
        "[wb]\ntype = wandb\napi_key = " SECRET2 "\nproject = agents\n",
        "[ax]\ntype = arize\napi_key = " SECRET1 "\n",
        "[wb]\ntype = wandb\nproject = a/b\n",
    };
    const char *want[] = {"project", "space_id", "api_key"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tb_config_free(f->cfg);
        f->cfg = NULL;
        if (tb_config_parse(&f->cfg, bad[i], "test.ini") != TB_OK)
            fail_msg("tb_config_parse: %s", tb_last_error());
        tb_ship_report r;
        tb_status st = tb_ship_once(f->db, f->cfg, NULL, &r);
        assert_int_equal(st, TB_CONFIG);
        const char *e = tb_last_error();
        if (!strstr(e, want[i]))
            fail_msg("error \"%s\" does not name %s", e, want[i]);
        assert_null(strstr(e, "SECRET"));
    }
}

/* OTLP partial success: delivered, the rejected count lands in
 * counters.rejected_unnamed (OTLP does not name the spans). */
static void test_partial_success(void **state)
{
    fx *f = *state;
    /* ExportTraceServiceResponse{partial_success{rejected_spans: 3,
     * error_message: "bad span"}} as the body of a 200 */
    assert_int_equal(tb_test_server_control(&f->srv, "{\"mode\":\"status\",\"code\":200,\"body\":"
                                                     "\"\\n\\f\\b\\u0003\\u0012\\bbad span\"}"),
                     0);
    st_fx_parse(f, "[col]\ntype = otlp\nendpoint = %s\n", f->srv.url);
    tb_ship_report r = st_fx_ship(f);
    assert_int_equal(r.delivered, (int64_t)N_RECORDS);
    assert_int_equal(r.dead, 0);
    assert_caught_up(f, "col");
    assert_int_equal(st_db_int(f->db, "SELECT value FROM counters WHERE name = 'rejected_unnamed'"),
                     3);
    assert_int_equal(st_db_int(f->db, "SELECT count(*) FROM dead_letters"), 0);

    /* the same in OTLP/JSON, to a second destination */
    assert_int_equal(tb_test_server_control(&f->srv,
                                            "{\"mode\":\"status\",\"code\":200,\"body\":"
                                            "\"{\\\"partialSuccess\\\":{\\\"rejectedSpans\\\":"
                                            "\\\"2\\\",\\\"errorMessage\\\":\\\"nope\\\"}}\"}"),
                     0);
    st_fx_parse(f, "[col2]\ntype = otlp\nendpoint = %s\nprotocol = http/json\n", f->srv.url);
    st_fx_ship(f);
    assert_caught_up(f, "col2");
    assert_int_equal(st_db_int(f->db, "SELECT value FROM counters WHERE name = 'rejected_unnamed'"),
                     5);
}

/* Run tb_ship_once verbosely with stderr going to a file; returns what was
 * written there (malloc'd). */
static char *ship_capturing_stderr(fx *f)
{
    char path[400];
    snprintf(path, sizeof path, "%s/stderr.txt", f->dir);
    fflush(stderr);
    int saved = dup(2);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(saved >= 0 && fd >= 0);
    dup2(fd, 2);
    close(fd);
    tb_ship_options o = TB_SHIP_OPTIONS_INIT;
    o.verbose = 1;
    tb_ship_report r;
    tb_status st = tb_ship_once(f->db, f->cfg, &o, &r);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    assert_int_equal(st, TB_OK);
    char *text = st_read_file(path, NULL);
    assert_non_null(text);
    return text;
}

static void assert_no_secret(const char *dest, const char *where, const char *text)
{
    if (text && (strstr(text, SECRET1) || strstr(text, SECRET2)))
        fail_msg("[%s] a secret in %s: %s", dest, where, text);
}

/* 401, then a port nothing listens on: the secrets of every destination
 * stay out of last_error, tb_last_error() and stderr. */
static void test_no_secret_in_errors(void **state)
{
    fx *f = *state;
    int dead_port = tb_test_free_port();
    assert_true(dead_port > 0);
    for (int pass = 0; pass < 2; pass++) {
        char base[128];
        if (pass == 0) {
            assert_int_equal(
                tb_test_server_control(&f->srv, "{\"mode\":\"status\",\"code\":401,\"body\":"
                                                "\"{\\\"message\\\":\\\"invalid api key\\\"}\"}"),
                0);
            snprintf(base, sizeof base, "%s", f->srv.url);
        } else {
            snprintf(base, sizeof base, "http://127.0.0.1:%d", dead_port);
        }
        st_fx_parse(
            f,
            "[shipper]\nauth_backoff = 10ms\nbackoff_base = 10ms\nbackoff_cap = 20ms\n"
            "[lf]\ntype = langfuse\nhost = %s\npublic_key = pk-1\nsecret_key = " SECRET1 "\n"
            "[ax]\ntype = arize\nendpoint = %s\nspace_id = s1\napi_key = " SECRET1 "\n"
            "[px]\ntype = phoenix\nendpoint = %s\napi_key = " SECRET2 "\n"
            "[wb]\ntype = wandb\nendpoint = %s\napi_key = " SECRET2 "\nproject = e/p\n"
            "[col]\ntype = otlp\nendpoint = %s\nheaders = authorization=Bearer%%20" SECRET1 "\n",
            base, base, base, base, base);
        st_fx_due_now(f);
        char *err = ship_capturing_stderr(f);
        assert_no_secret("all", "stderr", err);
        assert_no_secret("all", "tb_last_error", tb_last_error());
        const char *dests[] = {"lf", "ax", "px", "wb", "col"};
        for (size_t i = 0; i < 5; i++) {
            char last[1024];
            assert_true(st_db_text(f->db, last, sizeof last,
                                   "SELECT last_error FROM destinations WHERE name = '%s'",
                                   dests[i]));
            assert_no_secret(dests[i], "last_error", last);
            if (pass == 0 && !strstr(last, "401"))
                fail_msg("[%s] last_error \"%s\" does not say 401", dests[i], last);
            assert_int_equal(st_fx_dest_int(f, dests[i], "delivered"), 0);
        }
        free(err);
    }
    tb_test_server_reset(&f->srv);
}

/* No file: destinations from LANGFUSE_* and PHOENIX_COLLECTOR_ENDPOINT. */
static void test_env_only(void **state)
{
    fx *f = *state;
    static const char *const clear[] = {"TRACEBOX_CONFIG",
                                        "OTEL_EXPORTER_OTLP_ENDPOINT",
                                        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                                        "OTEL_EXPORTER_OTLP_HEADERS",
                                        "ARIZE_SPACE_ID",
                                        "ARIZE_API_KEY",
                                        "WANDB_API_KEY",
                                        "WANDB_PROJECT",
                                        "WANDB_ENTITY",
                                        "OPENAI_API_KEY",
                                        "LANGFUSE_BASE_URL",
                                        "PHOENIX_API_KEY",
                                        "PHOENIX_PROJECT_NAME",
                                        "TRACEBOX_OPENAI",
                                        NULL};
    for (size_t i = 0; clear[i]; i++)
        unsetenv(clear[i]);
    setenv("LANGFUSE_PUBLIC_KEY", "pk-env", 1);
    setenv("LANGFUSE_SECRET_KEY", SECRET1, 1);
    setenv("LANGFUSE_HOST", f->srv.url, 1);
    setenv("PHOENIX_COLLECTOR_ENDPOINT", f->srv.url, 1);
    char cwd[1024];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(f->dir), 0); /* no ./tracebox.ini here */
    tb_config_free(f->cfg);
    f->cfg = NULL;
    tb_status st = tb_config_load(&f->cfg, NULL);
    assert_int_equal(chdir(cwd), 0);
    unsetenv("LANGFUSE_PUBLIC_KEY");
    unsetenv("LANGFUSE_SECRET_KEY");
    unsetenv("LANGFUSE_HOST");
    unsetenv("PHOENIX_COLLECTOR_ENDPOINT");
    if (st != TB_OK)
        fail_msg("tb_config_load: %s", tb_last_error());
    st_fx_ship(f);
    got g;
    got_get(f, "/api/public/otel/v1/traces", 0, &g);
    st_assert_header(g.req, "authorization", "Basic cGstZW52OnNrLVNFQ1JFVC1hbHBoYS03Nzgx");
    check_protobuf(&g, "langfuse.observation.type", NULL, NULL);
    got_free(&g);
    got_get(f, "/v1/traces", 0, &g);
    assert_null(st_req_header(g.req, "authorization"));
    check_protobuf(&g, "openinference.span.kind", "openinference.project.name", "default");
    got_free(&g);
    assert_caught_up(f, "langfuse");
    assert_caught_up(f, "phoenix");
}

/* A second batch that holds only spans still carries the trace's
 * attributes (the exporter remembers trace records it has sent), and a
 * batch of trace records only sends nothing. */
static void test_trace_across_batches(void **state)
{
    fx *f = *state;
    st_fx_parse(f, "[col]\ntype = otlp\nendpoint = %s\nbatch_size = 1\n", f->srv.url);
    st_fx_ship(f);
    assert_caught_up(f, "col");
    /* one request per span; none for the trace record */
    assert_int_equal(requests_to(f, "/v1/traces"), N_SPANS);
    for (size_t i = 0; i < N_SPANS; i++) {
        got g;
        got_get(f, "/v1/traces", i, &g);
        Tbotlp__ExportTraceServiceRequest *req =
            tbotlp__export_trace_service_request__unpack(NULL, g.raw_len, g.raw);
        assert_non_null(req);
        const Tbotlp__Span *s = req->resource_spans[0]->scope_spans[0]->spans[0];
        const char *sid = kv_str(s->attributes, s->n_attributes, "session.id");
        assert_non_null(sid);
        assert_string_equal(sid, "thread_7");
        tbotlp__export_trace_service_request__free_unpacked(req, NULL);
        got_free(&g);
    }
}

/* A shipper that never saw the trace record (it was delivered by an
 * earlier run: the cursor is already past it) looks it up in the outbox,
 * so the spans still carry the trace-level attributes. */
static void test_trace_from_outbox(void **state)
{
    fx *f = *state;
    st_fx_parse(f, "[col]\ntype = otlp\nendpoint = %s\n", f->srv.url);
    int64_t trace_seq = st_db_int(f->db, "SELECT seq FROM records WHERE kind = 'trace'");
    assert_int_equal(
        st_db_int(f->db, "SELECT count(*) FROM records WHERE seq < %lld", (long long)trace_seq), 0);
    st_db_exec(f->db,
               "INSERT INTO destinations (name, type, cursor, created_at) VALUES ('col', "
               "'otlp', %lld, '2026-01-01T00:00:00Z')",
               (long long)trace_seq);
    st_fx_ship(f);
    assert_int_equal(requests_to(f, "/v1/traces"), 1);
    got g;
    got_get(f, "/v1/traces", 0, &g);
    Tbotlp__ExportTraceServiceRequest *req =
        tbotlp__export_trace_service_request__unpack(NULL, g.raw_len, g.raw);
    assert_non_null(req);
    const Tbotlp__ScopeSpans *ss = req->resource_spans[0]->scope_spans[0];
    assert_int_equal(ss->n_spans, N_SPANS);
    for (size_t i = 0; i < ss->n_spans; i++) {
        const char *sid =
            kv_str(ss->spans[i]->attributes, ss->spans[i]->n_attributes, "session.id");
        assert_non_null(sid);
        assert_string_equal(sid, "thread_7");
    }
    tbotlp__export_trace_service_request__free_unpacked(req, NULL);
    got_free(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_otlp_protobuf, setup, st_fx_teardown),
        cmocka_unit_test_setup_teardown(test_otlp_resource_attributes, setup, st_fx_teardown),
        cmocka_unit_test_setup_teardown(test_otlp_json, setup, st_fx_teardown),
        cmocka_unit_test_setup_teardown(test_otlp_gzip, setup, st_fx_teardown),
        cmocka_unit_test_setup_teardown(test_langfuse, setup, st_fx_teardown),
        cmocka_unit_test_setup_teardown(test_arize, setup, st_fx_teardown),
        cmocka_unit_test_setup_teardown(test_phoenix, setup, st_fx_teardown),
        cmocka_unit_test_setup_teardown(test_wandb, setup, st_fx_teardown),
        cmocka_unit_test_setup_teardown(test_config_errors, setup, st_fx_teardown),
        cmocka_unit_test_setup_teardown(test_partial_success, setup, st_fx_teardown),
        cmocka_unit_test_setup_teardown(test_no_secret_in_errors, setup, st_fx_teardown),
        cmocka_unit_test_setup_teardown(test_env_only, setup, st_fx_teardown),
        cmocka_unit_test_setup_teardown(test_trace_across_batches, setup, st_fx_teardown),
        cmocka_unit_test_setup_teardown(test_trace_from_outbox, setup, st_fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
