/*
 * test_openai_destination.c — the `openai` destination (src/exporters/openai.c)
 * shipped by tb_ship_once() to the loopback test server
 * (tests/helpers/testserver.py) standing in for traces ingest.
 *
 * The configuration is what a user writes, parsed with tb_config_parse:
 *
 *     [oai]
 *     type = openai
 *     base_url = http://127.0.0.1:PORT
 *     api_key = ${TEST_OPENAI_KEY}
 *
 * with the key in the environment (setenv). The assertions read what the
 * server recorded (GET /_requests: path, lower-cased headers, body) and the
 * outbox tables: the path and headers ingest expects, {"data":[…]} holding
 * the stored records byte for byte in seq order, a 200 KB generation that
 * arrives truncated while another destination still gets it whole, a 401
 * that keeps the records and never shows the key (not in last_error, not in
 * `tracebox status`/`pending`/`dead`, not in the file), and a 400 for one
 * record that dead-letters exactly it.
 */
#include "fixture.h"

#include "exporters/openai_sanitize.h"

#define KEY "sk-test-tracebox-0123456789abcdefSECRET"
#define INGEST "/v1/traces/ingest"

typedef st_fx fx;

static int setup(void **state)
{
    setenv("TEST_OPENAI_KEY", KEY, 1);
    return st_fx_setup(state);
}

static int teardown(void **state)
{
    unsetenv("TEST_OPENAI_KEY");
    return st_fx_teardown(state);
}

/* [shipper] with fast backoff, [oai] at the server (+ oai_extra lines),
 * then `more` (other sections). */
static void fx_config(fx *f, const char *base_url, const char *oai_extra, const char *more)
{
    st_fx_parse(f,
                "[shipper]\nbackoff_base = 10ms\nbackoff_cap = 50ms\n\n"
                "[oai]\ntype = openai\nbase_url = %s\napi_key = ${TEST_OPENAI_KEY}\n%s\n%s",
                base_url ? base_url : f->srv.url, oai_extra ? oai_extra : "", more ? more : "");
}

static int64_t dest_int(fx *f, const char *col)
{
    return st_fx_dest_int(f, "oai", col);
}

static const char *req_str(const cJSON *req, const char *key)
{
    const char *v = st_req_str(req, key);
    assert_non_null(v);
    return v;
}

/* The record ids inside the accepted ingest requests, in arrival order:
 * requests whose body names one of `reject` (refused by the server) are
 * skipped. */
static void ingest_arrivals(fx *f, const char *const *reject, st_arrivals *a)
{
    st_filter flt = {.path = INGEST, .reject = reject, .array_key = "data"};
    st_arrivals_get(&f->srv, &flt, a);
}

/* The stored bodies in seq order; *n_out of them. Free with free_bodies. */
static char **stored_bodies(fx *f, size_t *n_out)
{
    sqlite3 *db = st_db_open(f->db);
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT body FROM records ORDER BY seq", -1, &s, NULL),
                     SQLITE_OK);
    size_t n = 0, cap = 16;
    char **v = malloc(cap * sizeof *v);
    assert_non_null(v);
    while (sqlite3_step(s) == SQLITE_ROW) {
        if (n == cap) {
            cap *= 2;
            v = realloc(v, cap * sizeof *v);
            assert_non_null(v);
        }
        v[n] = strdup((const char *)sqlite3_column_text(s, 0));
        assert_non_null(v[n]);
        n++;
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    *n_out = n;
    return v;
}

static void free_bodies(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* ---- path, headers, body verbatim in seq order ------------------------------ */

static void test_headers_and_body(void **state)
{
    fx *f = *state;
    fx_config(f, NULL, "organization = org-tracebox\nproject = proj_tracebox\nbatch_size = 4",
              NULL);
    st_fx_put(f, 10, 40);
    tb_ship_report r = st_fx_ship(f);
    assert_int_equal(r.delivered, 10);
    assert_int_equal(r.dead, 0);
    assert_int_equal(r.pending, 0);

    size_t nb = 0;
    char **bodies = stored_bodies(f, &nb);
    assert_int_equal(nb, 10);
    cJSON *list = st_requests(&f->srv);
    assert_int_equal(cJSON_GetArraySize(list), 3); /* 4 + 4 + 2 */
    size_t next = 0;
    const cJSON *req;
    cJSON_ArrayForEach(req, list)
    {
        assert_string_equal(req_str(req, "method"), "POST");
        assert_string_equal(req_str(req, "path"), INGEST);
        st_assert_header(req, "authorization", "Bearer " KEY);
        st_assert_header(req, "content-type", "application/json");
        st_assert_header(req, "openai-beta", "traces=v1");
        st_assert_header(req, "openai-organization", "org-tracebox");
        st_assert_header(req, "openai-project", "proj_tracebox");
        const char *ua = st_req_header(req, "user-agent");
        assert_non_null(ua);
        assert_int_equal(strncmp(ua, "tracebox/", 9), 0);
        /* {"data":[<stored body>,<stored body>,…]} byte for byte */
        const char *p = req_str(req, "body");
        assert_int_equal(strncmp(p, "{\"data\":[", 9), 0);
        p += 9;
        for (bool first = true; *p != ']'; first = false) {
            if (!first) {
                assert_int_equal(*p, ',');
                p++;
            }
            assert_true(next < nb);
            size_t len = strlen(bodies[next]);
            if (strncmp(p, bodies[next], len) != 0)
                fail_msg("record %zu is not sent verbatim:\n got %.200s\nwant %.200s", next, p,
                         bodies[next]);
            p += len;
            next++;
        }
        assert_string_equal(p, "]}");
    }
    assert_int_equal(next, 10);
    cJSON_Delete(list);
    free_bodies(bodies, nb);
    assert_int_equal(dest_int(f, "cursor"), 10);
    assert_int_equal(dest_int(f, "delivered"), 10);
}

/* No organization/project: no such headers. A base_url in the
 * OPENAI_BASE_URL form (…/v1/) still reaches /v1/traces/ingest. */
static void test_base_url_forms(void **state)
{
    fx *f = *state;
    char base[128];
    snprintf(base, sizeof base, "%s/v1/", f->srv.url);
    fx_config(f, base, NULL, NULL);
    st_fx_put(f, 3, 10);
    assert_int_equal(st_fx_ship(f).delivered, 3);
    cJSON *list = st_requests(&f->srv);
    assert_int_equal(cJSON_GetArraySize(list), 1);
    const cJSON *req = cJSON_GetArrayItem(list, 0);
    assert_string_equal(req_str(req, "path"), INGEST);
    st_assert_header(req, "openai-beta", "traces=v1");
    assert_null(st_req_header(req, "openai-organization"));
    assert_null(st_req_header(req, "openai-project"));
    cJSON_Delete(list);

    /* a trailing slash on the plain base */
    assert_int_equal(tb_test_server_reset(&f->srv), 0);
    snprintf(base, sizeof base, "%s/", f->srv.url);
    fx_config(f, base, NULL, NULL);
    st_recs_put(f->ob, &f->recs, 2, 10);
    assert_int_equal(st_fx_ship(f).delivered, 2);
    list = st_requests(&f->srv);
    assert_int_equal(cJSON_GetArraySize(list), 1);
    assert_string_equal(req_str(cJSON_GetArrayItem(list, 0), "path"), INGEST);
    cJSON_Delete(list);
}

/* ---- a 200 KB generation arrives truncated; the file destination gets it whole */

static void test_big_generation_truncated(void **state)
{
    fx *f = *state;
    char more[512];
    snprintf(more, sizeof more, "[archive]\ntype = file\npath = %s/full.jsonl\n", f->dir);
    fx_config(f, NULL, NULL, more);
    /* ingest would refuse it: anything over 150 000 bytes gets 413 here */
    st_fx_control(f, "{\"mode\":\"max_bytes\",\"max\":150000}");

    const char *trace_id = "trace_0f8c3c1e9b6a4d2f8e7a1b2c3d4e5f60";
    char trace[512];
    snprintf(trace, sizeof trace,
             "{\"object\":\"trace\",\"id\":\"%s\",\"workflow_name\":\"Agent workflow\","
             "\"group_id\":\"thread_1\",\"metadata\":{\"user\":\"42\",\"tries\":3,"
             "\"tags\":[\"a\",\"b\"]}}",
             trace_id);
    st_fx_put_json(f, trace);
    size_t big = 200 * 1000;
    char *content = malloc(big + 1);
    assert_non_null(content);
    for (size_t i = 0; i < big; i++)
        content[i] = (char)('a' + i % 26);
    content[big] = '\0';
    tb__buf b = {0};
    tb__buf_printf(&b,
                   "{\"object\":\"trace.span\",\"id\":\"span_a1b2c3d4e5f60718293a4b5c\","
                   "\"trace_id\":\"%s\",\"parent_id\":null,"
                   "\"started_at\":\"2025-06-01T12:00:00.000001+00:00\","
                   "\"ended_at\":\"2025-06-01T12:00:03.500000+00:00\","
                   "\"span_data\":{\"type\":\"generation\",\"input\":[{\"role\":\"system\","
                   "\"content\":\"be brief\"},{\"role\":\"user\",\"content\":\"",
                   trace_id);
    tb__buf_puts(&b, content);
    tb__buf_puts(&b, "\"}],\"output\":[{\"role\":\"assistant\",\"content\":\"ok\"}],"
                     "\"model\":\"gpt-4o\",\"usage\":{\"requests\":1,\"input_tokens\":10,"
                     "\"output_tokens\":5,\"total_tokens\":15}},\"error\":null}");
    tb__buf_append(&b, "", 1);
    assert_false(b.failed);
    st_fx_put_json(f, b.data);

    tb_ship_report r = st_fx_ship(f);
    assert_int_equal(r.dead, 0);
    assert_int_equal(r.pending, 0);
    assert_int_equal(dest_int(f, "delivered"), 2);
    assert_int_equal(st_db_int(f->db, "SELECT count(*) FROM dead_letters"), 0);

    /* one request, no 413: it was small enough the first time */
    cJSON *list = st_requests(&f->srv);
    assert_int_equal(cJSON_GetArraySize(list), 1);
    const char *body = req_str(cJSON_GetArrayItem(list, 0), "body");
    assert_true(strlen(body) < 150000);
    cJSON *root = cJSON_Parse(body);
    assert_non_null(root);
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
    assert_int_equal(cJSON_GetArraySize(data), 2);
    /* the trace: metadata values are strings */
    const cJSON *t = cJSON_GetArrayItem(data, 0);
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(t, "metadata");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(md, "user")->valuestring, "42");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(md, "tries")->valuestring, "3");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(md, "tags")->valuestring, "[\"a\",\"b\"]");
    /* the span: input cut to the limit, the big message cut, usage reshaped */
    const cJSON *sd = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(data, 1), "span_data");
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(sd, "input");
    char *in_text = cJSON_PrintUnformatted(in);
    assert_true(strlen(in_text) <= TB__OPENAI_MAX_FIELD_BYTES);
    cJSON_free(in_text);
    assert_int_equal(cJSON_GetArraySize(in), 2);
    assert_string_equal(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(in, 0), "content")->valuestring,
        "be brief");
    const char *cut =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(in, 1), "content")->valuestring;
    size_t cl = strlen(cut), sl = strlen(TB__OPENAI_TRUNCATION_SUFFIX);
    assert_true(cl > sl && cl < big);
    assert_string_equal(cut + cl - sl, TB__OPENAI_TRUNCATION_SUFFIX);
    assert_memory_equal(cut, content, cl - sl);
    char *usage = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(sd, "usage"));
    assert_string_equal(usage, "{\"input_tokens\":10,\"output_tokens\":5,\"details\":"
                               "{\"requests\":1,\"total_tokens\":15}}");
    cJSON_free(usage);
    cJSON_Delete(root);
    cJSON_Delete(list);

    /* the outbox and the other destination keep the full record */
    size_t nb = 0;
    char **bodies = stored_bodies(f, &nb);
    assert_int_equal(nb, 2);
    assert_string_equal(bodies[1], b.data);
    char path[400];
    snprintf(path, sizeof path, "%s/full.jsonl", f->dir);
    char *file = st_read_file(path, NULL);
    assert_non_null(file);
    assert_non_null(strstr(file, bodies[1]));
    assert_non_null(strstr(file, "\"tries\":3"));
    free(file);
    free_bodies(bodies, nb);
    tb__buf_free(&b);
    free(content);
}

/* ---- 401: keep everything, back off, never show the key --------------------- */

static void assert_no_key_in_file(const char *path)
{
    if (st_file_has(path, KEY))
        fail_msg("the API key appears in %s", path);
}

static void test_401_key_never_shown(void **state)
{
    fx *f = *state;
    fx_config(f, NULL, NULL, NULL);
    st_fx_put(f, 6, 20);
    /* the refusal echoes the key, as a careless server might */
    st_fx_control(f, "{\"mode\":\"status\",\"code\":401,\"body\":\"{\\\"error\\\":{\\\"message\\\":"
                     "\\\"Incorrect API key provided: " KEY "\\\",\\\"code\\\":"
                     "\\\"invalid_api_key\\\"}}\"}");
    tb_ship_report r = st_fx_ship(f);
    assert_int_equal(r.delivered, 0);
    assert_int_equal(r.dead, 0);
    assert_int_equal(r.pending, 6);
    assert_int_equal(tb_test_server_count(&f->srv), 1);
    assert_int_equal(dest_int(f, "auth_failed"), 1);
    assert_int_equal(dest_int(f, "last_status"), 401);
    assert_int_equal(dest_int(f, "cursor"), 0);
    assert_int_equal(st_db_int(f->db, "SELECT count(*) FROM dead_letters"), 0);
    char err[1024];
    assert_true(st_db_text(f->db, err, sizeof err,
                           "SELECT last_error FROM destinations WHERE name = 'oai'"));
    assert_non_null(strstr(err, "401"));
    assert_non_null(strstr(err, "Incorrect API key provided"));
    if (strstr(err, KEY))
        fail_msg("last_error shows the key: %s", err);
    assert_null(strstr(tb_last_error(), KEY));

    /* what an operator sees */
    tb_outbox_close(f->ob);
    f->ob = NULL;
    const char *verbs[][3] = {{"status", NULL, NULL},
                              {"status", "--json", NULL},
                              {"pending", NULL, NULL},
                              {"dead", NULL, NULL}};
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++) {
        const char *args[] = {"--db", f->db, verbs[i][0], verbs[i][1], NULL};
        int code = st_run_cli(f->dir, f->out, f->err, 60000, args);
        char *o = st_read_file(f->out, NULL);
        char *e = st_read_file(f->err, NULL);
        assert_non_null(o);
        assert_non_null(e);
        if (strstr(o, KEY) || strstr(e, KEY))
            fail_msg("tracebox %s %s shows the key", verbs[i][0], verbs[i][1] ? verbs[i][1] : "");
        if (i == 0 && !strstr(o, "401") && !strstr(e, "401"))
            fail_msg("tracebox status (exit %d) does not show the 401:\n%s%s", code, o, e);
        free(o);
        free(e);
    }
    /* nor the outbox file */
    char path[400];
    assert_no_key_in_file(f->db);
    snprintf(path, sizeof path, "%s-wal", f->db);
    assert_no_key_in_file(path);

    /* the key is fixed: everything ships */
    st_fx_control(f, "{\"mode\":\"ok\"}");
    st_fx_due_now(f);
    r = st_fx_ship(f);
    assert_int_equal(r.delivered, 6);
    assert_int_equal(dest_int(f, "auth_failed"), 0);
    st_arrivals a;
    ingest_arrivals(f, NULL, &a);
    assert_int_equal(a.requests, 2);
    /* the first (refused) request carried the same records */
    assert_int_equal(a.n, 12);
    st_arrivals_free(&a);
}

/* ---- 400 for one record: that one is dead-lettered, the rest delivered ------ */

static void test_400_one_record(void **state)
{
    fx *f = *state;
    fx_config(f, NULL, "batch_size = 10", NULL);
    st_fx_put(f, 25, 30);
    const char *bad = f->recs.ids[7];
    char ctl[256];
    snprintf(ctl, sizeof ctl, "{\"mode\":\"reject_ids\",\"ids\":[\"%s\"]}", bad);
    st_fx_control(f, ctl);
    tb_ship_report r = st_fx_ship(f);
    assert_int_equal(r.delivered, 24);
    assert_int_equal(r.dead, 1);
    assert_int_equal(r.pending, 0);
    int64_t seq = st_seq_of(f->db, bad);
    assert_int_equal(st_db_int(f->db, "SELECT count(*) FROM dead_letters"), 1);
    assert_int_equal(st_db_int(f->db, "SELECT seq FROM dead_letters WHERE destination = 'oai'"),
                     seq);
    assert_int_equal(st_db_int(f->db, "SELECT http_status FROM dead_letters"), 400);
    char reason[600], want[100];
    assert_true(st_db_text(f->db, reason, sizeof reason, "SELECT reason FROM dead_letters"));
    snprintf(want, sizeof want, "rejected id %s", bad);
    if (!strstr(reason, want))
        fail_msg("dead letter reason '%s' lacks the server's message", reason);
    const char *except[] = {bad, NULL};
    st_arrivals a;
    ingest_arrivals(f, except, &a);
    st_assert_exact(&a, &f->recs, except);
    assert_true(a.requests > a.kept); /* there were refusals */
    st_arrivals_free(&a);
    assert_int_equal(dest_int(f, "cursor"), st_db_int(f->db, "SELECT max(seq) FROM records"));
}

/* ---- the env-only form and a missing key ------------------------------------ */

static void test_env_only_and_missing_key(void **state)
{
    fx *f = *state;
    char cwd[1024];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(f->dir), 0); /* no ./tracebox.ini here */
    const char *platform_vars[] = {"TRACEBOX_CONFIG",
                                   "OTEL_EXPORTER_OTLP_ENDPOINT",
                                   "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                                   "LANGFUSE_PUBLIC_KEY",
                                   "LANGFUSE_SECRET_KEY",
                                   "ARIZE_SPACE_ID",
                                   "ARIZE_API_KEY",
                                   "PHOENIX_COLLECTOR_ENDPOINT",
                                   "WANDB_API_KEY",
                                   NULL};
    for (size_t i = 0; platform_vars[i]; i++)
        unsetenv(platform_vars[i]);
    setenv("OPENAI_API_KEY", KEY, 1);
    setenv("TRACEBOX_OPENAI", "1", 1);
    tb_config *cfg = NULL;
    tb_status st = tb_config_load(&cfg, NULL);
    assert_int_equal(chdir(cwd), 0);
    unsetenv("OPENAI_API_KEY");
    unsetenv("TRACEBOX_OPENAI");
    if (st != TB_OK)
        fail_msg("tb_config_load: %s", tb_last_error());
    const tb_dest_config *dc = tb_config_find_destination(cfg, "openai");
    assert_non_null(dc);
    assert_string_equal(tb_dest_config_type(dc), "openai");
    assert_string_equal(tb_dest_config_get(dc, "api_key"), KEY);
    /* the exporter accepts it (nothing is pending, so nothing is sent) */
    tb_ship_report r;
    st = tb_ship_once(f->db, cfg, NULL, &r);
    if (st != TB_OK)
        fail_msg("tb_ship_once: %s: %s", tb_status_str(st), tb_last_error());
    assert_int_equal(r.pending, 0);
    tb_config_free(cfg);

    /* an empty key is a configuration error that names the key, not a 401 */
    cfg = NULL;
    setenv("TEST_OPENAI_EMPTY", "", 1);
    st = tb_config_parse(&cfg,
                         "[oai]\ntype = openai\nbase_url = http://127.0.0.1:9\n"
                         "api_key = ${TEST_OPENAI_EMPTY:-}\n",
                         "test.ini");
    if (st == TB_OK) {
        st = tb_ship_once(f->db, cfg, NULL, &r);
        assert_int_equal(st, TB_CONFIG);
    }
    assert_non_null(strstr(tb_last_error(), "api_key"));
    tb_config_free(cfg);
    unsetenv("TEST_OPENAI_EMPTY");
    assert_int_equal(tb_test_server_count(&f->srv), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_headers_and_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_base_url_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_big_generation_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_401_key_never_shown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_400_one_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_only_and_missing_key, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
