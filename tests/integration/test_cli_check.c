/*
 * test_cli_check.c — the operator's configuration, through the real CLI:
 *
 *   - `tracebox check` lists every error of a broken file, in order, and
 *     exits 78;
 *   - on a good file it lists each destination with secrets as their
 *     length, URLs with their credentials masked and headers as names, and
 *     the variables behind each key; no secret reaches stdout or stderr;
 *   - `check --connect` sends each destination one empty batch: 0 when a
 *     loopback server accepts it, 77 when it answers 401, 69 when nothing
 *     listens;
 *   - an unset ${VAR} in a destination's key does not stop the verbs that
 *     ship nothing (ingest, status, pending, export); `ship` and `check`
 *     say which variable is missing and exit 78;
 *   - a file that does not load stops every verb with 78 and never sends
 *     one to ./tracebox.db instead.
 */
#include "fixture.h"

static st_capture run(st_fx *f, const char *const *args)
{
    return st_cli_capture(f->dir, NULL, args);
}

static void assert_has(const char *hay, const char *needle)
{
    if (!strstr(hay, needle))
        fail_msg("expected to find\n  %s\nin\n%s", needle, hay);
}

static void test_check_lists_every_error(void **state)
{
    st_fx *f = *state;
    st_cli_or_skip();
    st_write_file(f->ini, "[outbox]\n"
                          "retension = 7d\n"
                          "[collector]\n"
                          "type = otlp\n"
                          "endpoint = http://127.0.0.1:99999\n"
                          "batch_sise = 10\n"
                          "nonsense\n");
    const char *args[] = {"--config", f->ini, "check", NULL};
    st_capture r = run(f, args);
    assert_int_equal(r.status, 78);
    const char *want[] = {
        ":2: [outbox] retension: unknown key (did you mean `retention`?",
        ":5: [collector] endpoint: not a usable URL: the port is not a number from 1 to 65535",
        ":6: [collector] batch_sise: unknown key for type otlp (did you mean `batch_size`?",
        ":7: malformed line",
    };
    const char *at = r.err;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const char *hit = strstr(at, want[i]);
        if (!hit)
            fail_msg("error %zu (%s) missing or out of order in\n%s", i, want[i], r.err);
        at = hit + strlen(want[i]);
    }
    assert_has(r.err, "4 error(s) in the configuration");
    st_capture_free(&r);
}

static void test_check_shows_without_secrets(void **state)
{
    st_fx *f = *state;
    st_cli_or_skip();
    setenv("TBC_ENDPOINT", "http://ops:pa55w0rd-XYZ@127.0.0.1:4318", 1);
    setenv("TBC_TOKEN", "tok-SECRET-9876", 1);
    st_write_file(f->ini, "[outbox]\n"
                          "path = app.db   # the app's outbox\n"
                          "[collector]\n"
                          "type = otlp\n"
                          "endpoint = ${TBC_ENDPOINT}\n"
                          "headers = Authorization=Bearer ${TBC_TOKEN},X-Team=core\n"
                          "[lf]\n"
                          "type = langfuse\n"
                          "public_key = pk-lf-SECRET-1111\n"
                          "secret_key = ${TBC_TOKEN}\n");
    const char *args[] = {"--config", f->ini, "check", NULL};
    st_capture r = run(f, args);
    assert_int_equal(r.status, 0);
    assert_has(r.out, "outbox: app.db");
    assert_has(r.out, "[collector] otlp");
    assert_has(r.out, "http://***@127.0.0.1:4318");
    assert_has(r.out, "(from ${TBC_ENDPOINT})");
    assert_has(r.out, "Authorization=…, X-Team=…");
    assert_has(r.out, "(from ${TBC_TOKEN})");
    assert_has(r.out, "(secret, 15 characters)");
    assert_has(r.err, "check: OK: 2 destination(s)");
    const char *secrets[] = {"pa55w0rd", "SECRET", "Bearer", "ops:"};
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++) {
        if (strstr(r.out, secrets[i]) || strstr(r.err, secrets[i]))
            fail_msg("check printed a secret (%s):\n%s\n%s", secrets[i], r.out, r.err);
    }
    st_capture_free(&r);
    unsetenv("TBC_ENDPOINT");
    unsetenv("TBC_TOKEN");
}

static void test_check_connect(void **state)
{
    st_fx *f = *state;
    st_cli_or_skip();
    st_fx_server(f);
    st_fx_write_ini(f, "[hook]\ntype = webhook\nurl = %s/hook\n", f->srv.url);
    const char *args[] = {"--config", f->ini, "check", "--connect", NULL};
    st_capture r = run(f, args);
    assert_int_equal(r.status, 0);
    assert_has(r.out, "connect [hook]: reachable, accepted (HTTP 200)");
    st_capture_free(&r);
    /* the probe was one request with an empty batch */
    char *log = tb_test_server_requests(&f->srv);
    assert_non_null(log);
    cJSON *reqs = cJSON_Parse(log);
    free(log);
    assert_int_equal(cJSON_GetArraySize(reqs), 1);
    assert_string_equal(st_req_str(cJSON_GetArrayItem(reqs, 0), "body"), "[]");
    cJSON_Delete(reqs);

    assert_int_equal(tb_test_server_control(&f->srv, "{\"mode\":\"status\",\"code\":401}"), 0);
    r = run(f, args);
    assert_int_equal(r.status, 77);
    assert_has(r.out, "connect [hook]: CREDENTIALS REFUSED (HTTP 401)");
    st_capture_free(&r);

    int port = tb_test_free_port();
    assert_true(port > 0);
    st_fx_write_ini(f, "[hook]\ntype = webhook\nurl = http://127.0.0.1:%d/hook\n", port);
    r = run(f, args);
    assert_int_equal(r.status, 69);
    assert_has(r.out, "connect [hook]: UNREACHABLE");
    st_capture_free(&r);
}

/* The OTLP family's probe is an empty ExportTraceServiceRequest (a
 * zero-length protobuf message) POSTed where spans go, with the
 * destination's content type and auth; a 403 is credentials refused. */
static void test_check_connect_otlp(void **state)
{
    st_fx *f = *state;
    st_cli_or_skip();
    st_fx_server(f);
    st_fx_write_ini(f,
                    "[col]\ntype = otlp\nendpoint = %s\n"
                    "[lf]\ntype = langfuse\nhost = %s\npublic_key = pk\nsecret_key = sk-x\n",
                    f->srv.url, f->srv.url);
    const char *args[] = {"--config", f->ini, "check", "--connect", NULL};
    st_capture r = run(f, args);
    assert_int_equal(r.status, 0);
    assert_has(r.out, "connect [col]: reachable, accepted (HTTP 200)");
    assert_has(r.out, "connect [lf]: reachable, accepted (HTTP 200)");
    st_capture_free(&r);
    char *log = tb_test_server_requests(&f->srv);
    assert_non_null(log);
    cJSON *reqs = cJSON_Parse(log);
    free(log);
    assert_int_equal(cJSON_GetArraySize(reqs), 2);
    const char *paths[] = {"/v1/traces", "/api/public/otel/v1/traces"};
    for (int i = 0; i < 2; i++) {
        const cJSON *q = cJSON_GetArrayItem(reqs, i);
        assert_string_equal(st_req_str(q, "method"), "POST");
        assert_string_equal(st_req_str(q, "path"), paths[i]);
        assert_string_equal(st_req_str(q, "body_b64"), "");
        st_assert_header(q, "content-type", "application/x-protobuf");
    }
    assert_non_null(st_req_header(cJSON_GetArrayItem(reqs, 1), "authorization"));
    cJSON_Delete(reqs);

    assert_int_equal(tb_test_server_control(&f->srv, "{\"mode\":\"status\",\"code\":403}"), 0);
    r = run(f, args);
    assert_int_equal(r.status, 77);
    assert_has(r.out, "connect [col]: CREDENTIALS REFUSED (HTTP 403)");
    assert_has(r.out, "connect [lf]: CREDENTIALS REFUSED (HTTP 403)");
    assert_null(strstr(r.out, "sk-x"));
    assert_null(strstr(r.err, "sk-x"));
    st_capture_free(&r);
}

static void test_verbs_without_the_shippers_secrets(void **state)
{
    st_fx *f = *state;
    st_cli_or_skip();
    unsetenv("TBC_UNSET_PK");
    st_write_file(f->ini, "[outbox]\n"
                          "path = app.db\n"
                          "[lf]\n"
                          "type = langfuse\n"
                          "public_key = ${TBC_UNSET_PK}\n"
                          "secret_key = ${TBC_UNSET_PK}\n");
    char in[400];
    snprintf(in, sizeof in, "%s/in.jsonl", f->dir);
    st_write_file(in, "{\"object\":\"trace\",\"id\":\"trace_nokeys\",\"workflow_name\":\"w\"}\n");
    /* the application side needs no secret */
    const char *ingest[] = {"--config", f->ini, "ingest", in, NULL};
    st_capture r = run(f, ingest);
    assert_int_equal(r.status, 0);
    st_capture_free(&r);
    char db[400];
    snprintf(db, sizeof db, "%s/app.db", f->dir);
    assert_true(st_seq_of(db, "trace_nokeys") > 0);
    const char *status[] = {"--config", f->ini, "status", NULL};
    r = run(f, status);
    assert_int_equal(r.status, 0);
    assert_has(r.out, "outbox app.db: 1 records");
    st_capture_free(&r);
    const char *exp[] = {"--config", f->ini, "export", NULL};
    r = run(f, exp);
    assert_int_equal(r.status, 0);
    assert_has(r.out, "trace_nokeys");
    st_capture_free(&r);
    /* shipping needs them, and says which */
    const char *ship[] = {"--config", f->ini, "ship", "--once", NULL};
    r = run(f, ship);
    assert_int_equal(r.status, 78);
    assert_has(r.err, ":5: [lf] public_key: ${TBC_UNSET_PK} is not set (export TBC_UNSET_PK");
    st_capture_free(&r);
    const char *check[] = {"--config", f->ini, "check", NULL};
    r = run(f, check);
    assert_int_equal(r.status, 78);
    assert_has(r.err, "${TBC_UNSET_PK} is not set");
    st_capture_free(&r);
}

static void test_broken_config_stops_every_verb(void **state)
{
    st_fx *f = *state;
    st_cli_or_skip();
    /* ./tracebox.db exists: a verb must not fall back to it */
    st_populate(f->db, &f->recs, 3, 0, TB_DURABILITY_FULL);
    st_write_file(f->ini, "[outbox]\npath = elsewhere.db\n[w]\ntype = webhok\n");
    const char *verbs[][4] = {{"status", NULL},
                              {"pending", NULL},
                              {"export", NULL},
                              {"ingest", "-", NULL},
                              {"purge", NULL}};
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++) {
        const char *args[8] = {"--config", f->ini};
        for (int k = 0; verbs[i][k]; k++)
            args[2 + k] = verbs[i][k];
        st_capture r = run(f, args);
        if (r.status != 78)
            fail_msg("%s exited %d with a broken config:\n%s%s", verbs[i][0], r.status, r.out,
                     r.err);
        assert_has(r.err, ":4: [w] type: unknown type `webhok`");
        if (strstr(r.out, "tracebox.db"))
            fail_msg("%s fell back to ./tracebox.db:\n%s", verbs[i][0], r.out);
        st_capture_free(&r);
    }
    /* monitoring gets UNKNOWN */
    const char *chk[] = {"--config", f->ini, "status", "--check", NULL};
    st_capture r = run(f, chk);
    assert_int_equal(r.status, 3);
    assert_has(r.out, "UNKNOWN: the configuration does not load");
    st_capture_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ST_FX_OFFLINE_TEST(test_check_lists_every_error),
        ST_FX_OFFLINE_TEST(test_check_shows_without_secrets),
        ST_FX_OFFLINE_TEST(test_check_connect),
        ST_FX_OFFLINE_TEST(test_check_connect_otlp),
        ST_FX_OFFLINE_TEST(test_verbs_without_the_shippers_secrets),
        ST_FX_OFFLINE_TEST(test_broken_config_stops_every_verb),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
