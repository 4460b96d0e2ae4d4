/*
 * test_http.c — the shared HTTP transport (src/net/) and the response classes
 * (src/ship/classify.c) against the loopback test server
 * (tests/helpers/testserver.py): response classes, Retry-After,
 * gzip, the response cap, header validation, connect failures, timeouts
 * after the body was sent, redirects, and that no credential ever reaches a
 * message. One server for the whole file; each test resets it.
 */
#include "fixture.h"

#include "http.h"

/* A connection to the test server's `path` with the defaults. */
static tb__http *open_path(const char *path, tb__http_config *extra)
{
    tb__http_config c;
    tb__http_config_init(&c);
    char url[256], err[256];
    snprintf(url, sizeof url, "%s%s", st_server()->url, path);
    if (extra)
        c = *extra; /* take over its allocations */
    assert_int_equal(tb__http_config_set_url(&c, url, err, sizeof err), TB_OK);
    tb__http *h = NULL;
    assert_int_equal(tb__http_open(&h, &c, err, sizeof err), TB_OK);
    tb__http_config_free(&c);
    return h;
}

/* POST body and classify. */
static void post(tb__http *h, const char *body, tb__http_response *resp, tb_export_result *res)
{
    assert_int_equal(tb__http_post(h, body, strlen(body), resp), TB_OK);
    memset(res, 0, sizeof *res);
    tb__http_classify(resp, res);
}

/* ---- classification without a network ---------------------------- */

static void test_classify_table(void **state)
{
    (void)state;
    static const struct {
        long status;
        tb_export_outcome outcome;
    } table[] = {
        {200, TB_EXPORT_DELIVERED}, {201, TB_EXPORT_DELIVERED}, {202, TB_EXPORT_DELIVERED},
        {204, TB_EXPORT_DELIVERED}, {408, TB_EXPORT_RETRY},     {429, TB_EXPORT_RETRY},
        {500, TB_EXPORT_RETRY},     {502, TB_EXPORT_RETRY},     {503, TB_EXPORT_RETRY},
        {504, TB_EXPORT_RETRY},     {401, TB_EXPORT_AUTH},      {403, TB_EXPORT_AUTH},
        {413, TB_EXPORT_TOO_LARGE}, {400, TB_EXPORT_REFUSED},   {404, TB_EXPORT_REFUSED},
        {409, TB_EXPORT_REFUSED},   {415, TB_EXPORT_REFUSED},   {422, TB_EXPORT_REFUSED},
        {301, TB_EXPORT_RETRY},     {302, TB_EXPORT_RETRY},     {307, TB_EXPORT_RETRY},
        {501, TB_EXPORT_RETRY},     {505, TB_EXPORT_RETRY},     {599, TB_EXPORT_RETRY},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        tb__http_response r;
        memset(&r, 0, sizeof r);
        r.status = table[i].status;
        r.body = "";
        r.retry_after_ms = -1;
        tb_export_result res;
        memset(&res, 0, sizeof res);
        tb__http_classify(&r, &res);
        if (res.outcome != table[i].outcome)
            fail_msg("status %ld: outcome %d, expected %d", table[i].status, (int)res.outcome,
                     (int)table[i].outcome);
        assert_int_equal(res.http_status, table[i].status);
        assert_int_equal(res.unknown_outcome, 0);
        assert_int_equal(res.retry_after_ms, -1);
        if (res.outcome != TB_EXPORT_DELIVERED)
            assert_non_null(strstr(res.message, "HTTP"));
    }

    /* transport errors: retry; unknown outcome only when the body went out */
    tb__http_response r;
    memset(&r, 0, sizeof r);
    r.body = "";
    r.retry_after_ms = -1;
    r.transport_error = true;
    snprintf(r.error, sizeof r.error, "POST http://x/: Timeout");
    tb_export_result res;
    memset(&res, 0, sizeof res);
    tb__http_classify(&r, &res);
    assert_int_equal(res.outcome, TB_EXPORT_RETRY);
    assert_int_equal(res.http_status, 0);
    assert_int_equal(res.unknown_outcome, 0);
    assert_string_equal(res.message, "POST http://x/: Timeout");
    r.body_sent = true;
    tb__http_classify(&r, &res);
    assert_int_equal(res.outcome, TB_EXPORT_RETRY);
    assert_int_equal(res.unknown_outcome, 1);
}

static void test_body_message(void **state)
{
    (void)state;
    char m[512];
    const char *b1 = "{\"error\":{\"message\":\"bad span\",\"type\":\"x\"}}";
    assert_string_equal(tb__http_body_message(m, sizeof m, b1, strlen(b1)), "bad span");
    const char *b2 = " {\"message\":\"no good\"}";
    assert_string_equal(tb__http_body_message(m, sizeof m, b2, strlen(b2)), "no good");
    const char *b3 = "{\"error\":\"plain error\"}";
    assert_string_equal(tb__http_body_message(m, sizeof m, b3, strlen(b3)), "plain error");
    const char *b4 = "line one\nline\ttwo\r\n";
    assert_string_equal(tb__http_body_message(m, sizeof m, b4, strlen(b4)), "line one line two");
    char big[1000];
    memset(big, 'a', sizeof big);
    tb__http_body_message(m, sizeof m, big, sizeof big);
    assert_int_equal(strlen(m), 200);
    const char *b5 = "{\"error\":{\"message\":\"multi\\nline\"}}";
    assert_string_equal(tb__http_body_message(m, sizeof m, b5, strlen(b5)), "multi line");
    assert_string_equal(tb__http_body_message(m, sizeof m, "", 0), "");
    /* never more than the buffer, never a split UTF-8 sequence */
    char small[6];
    tb__http_body_message(small, sizeof small, "abcd\xc3\xa9xyz", 9);
    assert_string_equal(small, "abcd");
}

static void test_retry_after_parse(void **state)
{
    (void)state;
    assert_int_equal(tb__http_parse_retry_after("120", 0), 120000);
    assert_int_equal(tb__http_parse_retry_after(" 0 ", 0), 0);
    assert_int_equal(tb__http_parse_retry_after("garbage", 0), -1);
    assert_int_equal(tb__http_parse_retry_after("", 0), -1);
    /* Wed, 21 Oct 2015 07:28:00 GMT == 1445412480 */
    assert_int_equal(tb__http_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412450),
                     30000);
    /* a date in the past: retry now */
    assert_int_equal(tb__http_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412490), 0);
}

static void test_header_validation(void **state)
{
    (void)state;
    tb__http_config c;
    tb__http_config_init(&c);
    char err[256];
    assert_int_equal(tb__http_config_parse_headers(&c, "x-a=b%3Dc, x-b = d e ,,", err, sizeof err),
                     TB_OK);
    assert_int_equal(c.n_headers, 2);
    assert_string_equal(c.headers[0], "x-a: b=c");
    assert_string_equal(c.headers[1], "x-b: d e");

    /* CR/LF smuggled in by percent-encoding: refused, value not echoed */
    assert_int_equal(tb__http_config_parse_headers(&c, "x-ok=1,x-evil=sekrit%0D%0AInjected: yes",
                                                   err, sizeof err),
                     TB_CONFIG);
    assert_non_null(strstr(err, "header 2"));
    assert_non_null(strstr(err, "CR, LF or NUL"));
    assert_null(strstr(err, "sekrit"));
    assert_null(strchr(err, '\n'));
    assert_int_equal(tb__http_config_parse_headers(&c, "x-nul=a%00b", err, sizeof err), TB_CONFIG);
    assert_int_equal(tb__http_config_parse_headers(&c, "x%0Aname=v", err, sizeof err), TB_CONFIG);
    assert_int_equal(tb__http_config_parse_headers(&c, "bad name=v", err, sizeof err), TB_CONFIG);
    assert_int_equal(tb__http_config_parse_headers(&c, "novalue", err, sizeof err), TB_CONFIG);
    assert_int_equal(tb__http_config_parse_headers(&c, "=v", err, sizeof err), TB_CONFIG);
    assert_int_equal(tb__http_config_add_header(&c, "X-Line", "a\nb", err, sizeof err), TB_CONFIG);
    assert_int_equal(tb__http_config_add_header(&c, "X-Line", "a\rb", err, sizeof err), TB_CONFIG);
    assert_int_equal(tb__http_config_add_header(&c, "X:Colon", "v", err, sizeof err), TB_CONFIG);
    assert_int_equal(tb__http_config_add_header(&c, "X-Empty", "", err, sizeof err), TB_OK);

    /* only http and https */
    assert_int_equal(tb__http_config_set_url(&c, "ftp://127.0.0.1/x", err, sizeof err), TB_CONFIG);
    assert_int_equal(tb__http_config_set_url(&c, "file:///etc/passwd", err, sizeof err), TB_CONFIG);
    assert_int_equal(tb__http_config_set_url(&c, "HTTPS://example.com/", err, sizeof err), TB_OK);
    tb__http_config_free(&c);
}

static void test_redact_url(void **state)
{
    (void)state;
    char b[256];
    assert_string_equal(
        tb__http_redact_url(b, sizeof b, "https://user:pa@ss@host.example:8443/v1/x?key=s#f"),
        "https://host.example:8443/v1/x");
    assert_string_equal(tb__http_redact_url(b, sizeof b, "http://h/p"), "http://h/p");
    assert_string_equal(tb__http_redact_url(b, sizeof b, "http://h?token=abc"), "http://h");
}

/* ---- against the server ------------------------------------------- */

static void test_ok_and_headers(void **state)
{
    (void)state;
    tb__http_config c;
    tb__http_config_init(&c);
    char err[256];
    assert_int_equal(tb__http_config_parse_headers(&c, "x-team=blue,x-list=a%2Cb", err, sizeof err),
                     TB_OK);
    assert_int_equal(tb__http_config_set_bearer(&c, "tok-123"), TB_OK);
    assert_int_equal(tb__http_config_set_content_type(&c, "application/x-protobuf"), TB_OK);
    /* a custom Content-Type replaces the configured one */
    assert_int_equal(
        tb__http_config_parse_headers(&c, "content-type=text/x-custom", err, sizeof err), TB_OK);
    tb__http *h = open_path("/v1/traces", &c);
    tb__http_response resp;
    tb_export_result res;
    post(h, "{\"a\":1}", &resp, &res);
    assert_int_equal(res.outcome, TB_EXPORT_DELIVERED);
    assert_int_equal(res.http_status, 200);
    assert_string_equal(resp.body, "{}");
    /* second request on the same (kept-alive) handle */
    post(h, "{\"a\":2}", &resp, &res);
    assert_int_equal(res.outcome, TB_EXPORT_DELIVERED);
    tb__http_close(h);

    cJSON *reqs = st_requests(st_server());
    assert_int_equal(cJSON_GetArraySize(reqs), 2);
    const cJSON *r0 = cJSON_GetArrayItem(reqs, 0);
    assert_string_equal(st_req_str(r0, "method"), "POST");
    assert_string_equal(st_req_str(r0, "path"), "/v1/traces");
    assert_string_equal(st_req_str(r0, "body"), "{\"a\":1}");
    assert_string_equal(st_req_header(r0, "x-team"), "blue");
    assert_string_equal(st_req_header(r0, "x-list"), "a,b");
    assert_string_equal(st_req_header(r0, "authorization"), "Bearer tok-123");
    assert_string_equal(st_req_header(r0, "content-type"), "text/x-custom");
    assert_null(st_req_header(r0, "expect"));
    assert_string_equal(st_req_str(cJSON_GetArrayItem(reqs, 1), "body"), "{\"a\":2}");
    cJSON_Delete(reqs);
}

static void test_basic_auth(void **state)
{
    (void)state;
    tb__http_config c;
    tb__http_config_init(&c);
    assert_int_equal(tb__http_config_set_basic(&c, "pk-lf-1", "sk-lf-2"), TB_OK);
    tb__http *h = open_path("/otel", &c);
    tb__http_response resp;
    tb_export_result res;
    post(h, "x", &resp, &res);
    assert_int_equal(res.outcome, TB_EXPORT_DELIVERED);
    tb__http_close(h);
    cJSON *reqs = st_requests(st_server());
    /* base64("pk-lf-1:sk-lf-2") */
    assert_string_equal(st_req_header(cJSON_GetArrayItem(reqs, 0), "authorization"),
                        "Basic cGstbGYtMTpzay1sZi0y");
    cJSON_Delete(reqs);
}

static void expect_status(tb__http *h, const char *control, int status, tb_export_outcome outcome,
                          const char *message_part)
{
    assert_int_equal(tb_test_server_control(st_server(), control), 0);
    tb__http_response resp;
    tb_export_result res;
    post(h, "{}", &resp, &res);
    if (res.outcome != outcome)
        fail_msg("%s: outcome %d, expected %d (%s)", control, (int)res.outcome, (int)outcome,
                 res.message);
    assert_int_equal(res.http_status, status);
    assert_int_equal(res.unknown_outcome, 0);
    if (message_part && !strstr(res.message, message_part))
        fail_msg("message '%s' lacks '%s'", res.message, message_part);
}

static void test_status_classes_live(void **state)
{
    (void)state;
    tb__http *h = open_path("/", NULL);
    expect_status(h, "{\"mode\":\"status\",\"code\":202}", 202, TB_EXPORT_DELIVERED, NULL);
    expect_status(h, "{\"mode\":\"status\",\"code\":503}", 503, TB_EXPORT_RETRY, "503");
    expect_status(h, "{\"mode\":\"status\",\"code\":408}", 408, TB_EXPORT_RETRY, NULL);
    expect_status(
        h, "{\"mode\":\"status\",\"code\":401,\"body\":\"{\\\"message\\\":\\\"bad key\\\"}\"}", 401,
        TB_EXPORT_AUTH, "bad key");
    expect_status(h, "{\"mode\":\"status\",\"code\":403}", 403, TB_EXPORT_AUTH, NULL);
    expect_status(h, "{\"mode\":\"max_bytes\",\"max\":1}", 413, TB_EXPORT_TOO_LARGE, NULL);
    expect_status(h,
                  "{\"mode\":\"status\",\"code\":400,"
                  "\"body\":\"{\\\"error\\\":{\\\"message\\\":\\\"span_data.type missing\\\"}}\"}",
                  400, TB_EXPORT_REFUSED, "span_data.type missing");
    expect_status(h, "{\"mode\":\"status\",\"code\":422,\"body\":\"plain\\ntext\"}", 422,
                  TB_EXPORT_REFUSED, "plain text");
    expect_status(h, "{\"mode\":\"status\",\"code\":501}", 501, TB_EXPORT_RETRY, NULL);
    /* a sequence: 500 then 200 */
    assert_int_equal(tb_test_server_control(st_server(), "{\"mode\":\"ok\"}"), 0);
    assert_int_equal(tb_test_server_control(
                         st_server(), "{\"mode\":\"sequence\",\"steps\":[{\"mode\":\"status\","
                                      "\"code\":500}]}"),
                     0);
    tb__http_response resp;
    tb_export_result res;
    post(h, "{}", &resp, &res);
    assert_int_equal(res.outcome, TB_EXPORT_RETRY);
    assert_int_equal(res.http_status, 500);
    post(h, "{}", &resp, &res);
    assert_int_equal(res.outcome, TB_EXPORT_DELIVERED);
    tb__http_close(h);
}

static void test_retry_after_live(void **state)
{
    (void)state;
    tb__http *h = open_path("/", NULL);
    tb__http_response resp;
    tb_export_result res;
    assert_int_equal(tb_test_server_control(
                         st_server(), "{\"mode\":\"status\",\"code\":429,\"retry_after\":\"7\"}"),
                     0);
    post(h, "{}", &resp, &res);
    assert_int_equal(res.outcome, TB_EXPORT_RETRY);
    assert_int_equal(res.http_status, 429);
    assert_int_equal(res.retry_after_ms, 7000);

    /* HTTP-date form, far in the future: positive and large */
    assert_int_equal(tb_test_server_control(st_server(),
                                            "{\"mode\":\"status\",\"code\":503,\"retry_after\":"
                                            "\"Fri, 01 Jan 2100 00:00:00 GMT\"}"),
                     0);
    post(h, "{}", &resp, &res);
    assert_int_equal(res.outcome, TB_EXPORT_RETRY);
    assert_true(res.retry_after_ms > (int64_t)365 * 24 * 3600 * 1000);

    /* absent on the next response: not carried over from the last */
    assert_int_equal(tb_test_server_control(st_server(), "{\"mode\":\"status\",\"code\":503}"), 0);
    post(h, "{}", &resp, &res);
    assert_int_equal(res.retry_after_ms, -1);
    tb__http_close(h);
}

static void test_gzip(void **state)
{
    (void)state;
    tb__http_config c;
    tb__http_config_init(&c);
    c.gzip = true;
    tb__http *h = open_path("/gz", &c);
    char body[4096];
    size_t n = 0;
    n += (size_t)snprintf(body, sizeof body, "[");
    for (int i = 0; i < 50; i++)
        n += (size_t)snprintf(body + n, sizeof body - n, "%s{\"id\":\"span_%d\"}", i ? "," : "", i);
    snprintf(body + n, sizeof body - n, "]");
    tb__http_response resp;
    tb_export_result res;
    post(h, body, &resp, &res);
    assert_int_equal(res.outcome, TB_EXPORT_DELIVERED);
    tb__http_close(h);
    cJSON *reqs = st_requests(st_server());
    const cJSON *r0 = cJSON_GetArrayItem(reqs, 0);
    assert_string_equal(st_req_header(r0, "content-encoding"), "gzip");
    assert_non_null(st_req_str(r0, "gunzipped"));
    assert_string_equal(st_req_str(r0, "gunzipped"), body);
    /* it was actually compressed */
    assert_true(strtol(st_req_header(r0, "content-length"), NULL, 10) < (long)strlen(body));
    cJSON_Delete(reqs);
}

static void test_response_cap(void **state)
{
    (void)state;
    tb__http_config c;
    tb__http_config_init(&c);
    c.max_response = 1000;
    tb__http *h = open_path("/", &c);
    tb__http_response resp;
    tb_export_result res;
    assert_int_equal(
        tb_test_server_control(st_server(), "{\"mode\":\"big_response\",\"bytes\":1000}"), 0);
    post(h, "{}", &resp, &res);
    assert_int_equal(res.outcome, TB_EXPORT_DELIVERED);
    assert_int_equal(resp.body_len, 1000);

    assert_int_equal(
        tb_test_server_control(st_server(), "{\"mode\":\"big_response\",\"bytes\":5000}"), 0);
    post(h, "{}", &resp, &res);
    assert_true(resp.too_large);
    assert_non_null(strstr(resp.error, "larger than 1000 bytes"));
    assert_true(resp.body_len <= 1000);
    /* a 2xx was accepted: its oversized reply is not read, and not a reason
     * to send the batch again (that would repeat forever) */
    assert_int_equal(res.outcome, TB_EXPORT_DELIVERED);
    assert_non_null(strstr(res.message, "over the size cap"));

    /* the handle still works afterwards */
    assert_int_equal(tb_test_server_control(st_server(), "{\"mode\":\"ok\"}"), 0);
    post(h, "{}", &resp, &res);
    assert_int_equal(res.outcome, TB_EXPORT_DELIVERED);
    tb__http_close(h);

    /* default cap: 1 MiB */
    h = open_path("/", NULL);
    assert_int_equal(
        tb_test_server_control(st_server(), "{\"mode\":\"big_response\",\"bytes\":2097152}"), 0);
    post(h, "{}", &resp, &res);
    assert_true(resp.too_large);
    assert_non_null(strstr(resp.error, "larger than 1048576 bytes"));
    assert_int_equal(res.outcome, TB_EXPORT_DELIVERED);
    /* a refusal with an oversized body is still a refusal, read up to the cap */
    assert_int_equal(tb_test_server_control(st_server(), "{\"mode\":\"status\",\"code\":503}"), 0);
    post(h, "{}", &resp, &res);
    assert_int_equal(res.outcome, TB_EXPORT_RETRY);
    tb__http_close(h);
}

static void test_refused_port(void **state)
{
    (void)state;
    int port = tb_test_free_port();
    assert_true(port > 0);
    tb__http_config c;
    tb__http_config_init(&c);
    char url[128], err[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/traces", port);
    assert_int_equal(tb__http_config_set_url(&c, url, err, sizeof err), TB_OK);
    tb__http *h = NULL;
    assert_int_equal(tb__http_open(&h, &c, err, sizeof err), TB_OK);
    tb__http_config_free(&c);
    tb__http_response resp;
    tb_export_result res;
    post(h, "{}", &resp, &res);
    assert_true(resp.transport_error);
    assert_false(resp.body_sent);
    assert_int_equal(res.outcome, TB_EXPORT_RETRY);
    assert_int_equal(res.http_status, 0);
    assert_int_equal(res.unknown_outcome, 0);
    assert_non_null(strstr(res.message, url));
    assert_null(strchr(res.message, '\n'));
    tb__http_close(h);
}

static void test_timeout_after_body_sent(void **state)
{
    (void)state;
    tb__http_config c;
    tb__http_config_init(&c);
    c.timeout_ms = 1000;
    tb__http *h = open_path("/", &c);
    assert_int_equal(tb_test_server_control(st_server(), "{\"mode\":\"stall\",\"seconds\":3}"), 0);
    tb__http_response resp;
    tb_export_result res;
    post(h, "{\"id\":\"span_1\"}", &resp, &res);
    assert_true(resp.transport_error);
    assert_true(resp.body_sent);
    assert_int_equal(res.outcome, TB_EXPORT_RETRY);
    assert_int_equal(res.http_status, 0);
    assert_int_equal(res.unknown_outcome, 1);
    /* the server did get it: a resend would be a duplicate */
    assert_true(tb_test_server_count(st_server()) >= 1);
    tb__http_close(h);
}

static void test_reset_after_body(void **state)
{
    (void)state;
    tb__http *h = open_path("/", NULL);
    assert_int_equal(tb_test_server_control(st_server(), "{\"mode\":\"reset\"}"), 0);
    tb__http_response resp;
    tb_export_result res;
    post(h, "{\"id\":\"span_1\"}", &resp, &res);
    assert_int_equal(res.outcome, TB_EXPORT_RETRY);
    assert_int_equal(res.http_status, 0);
    assert_int_equal(res.unknown_outcome, 1);
    tb__http_close(h);
}

static void test_redirect_not_followed(void **state)
{
    (void)state;
    tb__http *h = open_path("/", NULL);
    char control[256];
    snprintf(control, sizeof control,
             "{\"mode\":\"status\",\"code\":302,\"headers\":{\"Location\":\"%s/elsewhere\"}}",
             st_server()->url);
    assert_int_equal(tb_test_server_control(st_server(), control), 0);
    tb__http_response resp;
    tb_export_result res;
    post(h, "{}", &resp, &res);
    assert_int_equal(res.http_status, 302);
    assert_int_equal(res.outcome, TB_EXPORT_RETRY);
    assert_int_equal(tb_test_server_count(st_server()), 1); /* /elsewhere never hit */
    tb__http_close(h);
}

/* Every secret the config carries, then a forced failure: none may show. */
static void check_no_secret(const char *msg)
{
    static const char *const secrets[] = {"hdr-secret-value-1", "bearer-secret-2", "basic-user-3",
                                          "basic-pass-4",       "url-user-5",      "url-pass-6",
                                          "query-secret-7"};
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
        if (strstr(msg, secrets[i]))
            fail_msg("secret %s leaked into: %s", secrets[i], msg);
}

static void test_no_credentials_in_messages(void **state)
{
    (void)state;
    char url[256], err[256];
    for (int round = 0; round < 3; round++) {
        tb__http_config c;
        tb__http_config_init(&c);
        assert_int_equal(
            tb__http_config_parse_headers(&c, "x-api-key=hdr-secret-value-1", err, sizeof err),
            TB_OK);
        assert_int_equal(tb__http_config_set_bearer(&c, "bearer-secret-2"), TB_OK);
        assert_int_equal(tb__http_config_set_basic(&c, "basic-user-3", "basic-pass-4"), TB_OK);
        int port = round == 0 ? tb_test_free_port() : st_server()->port;
        snprintf(url, sizeof url,
                 "http://url-user-5:url-pass-6@127.0.0.1:%d/p?api_key=query-secret-7", port);
        if (round == 2)
            c.timeout_ms = 500;
        assert_int_equal(tb__http_config_set_url(&c, url, err, sizeof err), TB_OK);
        tb__http *h = NULL;
        assert_int_equal(tb__http_open(&h, &c, err, sizeof err), TB_OK);
        tb__http_config_free(&c);
        if (round == 1)
            assert_int_equal(tb_test_server_control(
                                 st_server(), "{\"mode\":\"status\",\"code\":401,\"body\":\"no\"}"),
                             0);
        if (round == 2)
            assert_int_equal(
                tb_test_server_control(st_server(), "{\"mode\":\"stall\",\"seconds\":2}"), 0);
        tb__http_response resp;
        tb_export_result res;
        post(h, "{}", &resp, &res);
        assert_int_not_equal(res.outcome, TB_EXPORT_DELIVERED);
        assert_true(res.message[0] != '\0');
        check_no_secret(res.message);
        check_no_secret(resp.error);
        tb__http_close(h);
    }
    /* a bad header value is reported without its value */
    tb__http_config c;
    tb__http_config_init(&c);
    assert_int_equal(
        tb__http_config_parse_headers(&c, "x-api-key=hdr-secret-value-1%0A", err, sizeof err),
        TB_CONFIG);
    check_no_secret(err);
    /* a bad URL is reported without userinfo or query */
    assert_int_equal(tb__http_config_set_url(&c, "ftp://url-user-5:url-pass-6@h/?q=query-secret-7",
                                             err, sizeof err),
                     TB_CONFIG);
    check_no_secret(err);
    tb__http_config_free(&c);
}

/* Open c (freed here), POST {} and check the outcome: refused by TLS (a
 * transport error, retried) or delivered. */
static void post_tls(tb__http_config *c, bool refused, int mode)
{
    char err[256];
    tb__http *h = NULL;
    assert_int_equal(tb__http_open(&h, c, err, sizeof err), TB_OK);
    tb__http_config_free(c);
    tb__http_response resp;
    tb_export_result res;
    post(h, "{}", &resp, &res);
    if (refused) {
        assert_int_equal(res.outcome, TB_EXPORT_RETRY);
        assert_int_equal(res.http_status, 0);
        assert_true(resp.transport_error);
    } else if (res.outcome != TB_EXPORT_DELIVERED) {
        fail_msg("mode %d: %s", mode, res.message);
    }
    tb__http_close(h);
}

/* HTTPS: verification is on by default, ca_file trusts a private CA,
 * insecure turns verification off. Needs the openssl command to make a
 * throw-away certificate; skipped without it. */
static void test_tls(void **state)
{
    (void)state;
    if (system("openssl version > /dev/null 2>&1") != 0)
        skip();
    char dir[256], cmd[1024], cert[300], key[300];
    st_dir_make(dir, sizeof dir);
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
             "-keyout %s -out %s -days 2 -subj /CN=127.0.0.1 "
             "-addext subjectAltName=IP:127.0.0.1 > /dev/null 2>&1",
             key, cert);
    assert_int_equal(system(cmd), 0);
    tb_test_server tls;
    assert_int_equal(tb_test_server_start_tls(&tls, cert, key), 0);

    for (int mode = 0; mode < 3; mode++) {
        tb__http_config c;
        tb__http_config_init(&c);
        char err[256];
        assert_int_equal(tb__http_config_set_url(&c, tls.url, err, sizeof err), TB_OK);
        if (mode == 1)
            c.ca_file = tb__strdup(cert);
        if (mode == 2)
            c.insecure = true;
        post_tls(&c, mode == 0, mode);
    }
    tb_test_server_stop(&tls);
    st_dir_remove(dir);
}

/* Mutual TLS: a server that requires a client certificate refuses a
 * client without one (a transport error, retried) and takes the request
 * with client_cert + client_key, and with a PEM holding both. */
static void test_mtls(void **state)
{
    (void)state;
    if (system("openssl version > /dev/null 2>&1") != 0)
        skip();
    char dir[256], cmd[4096], cert[300], key[300], ccert[300], ckey[300], both[300];
    st_dir_make(dir, sizeof dir);
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    snprintf(ccert, sizeof ccert, "%s/client.pem", dir);
    snprintf(ckey, sizeof ckey, "%s/client.key", dir);
    snprintf(both, sizeof both, "%s/both.pem", dir);
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
             "-keyout %s -out %s -days 2 -subj /CN=127.0.0.1 "
             "-addext subjectAltName=IP:127.0.0.1 > /dev/null 2>&1 && "
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
             "-keyout %s -out %s -days 2 -subj /CN=tracebox-client > /dev/null 2>&1 && "
             "cat %s %s > %s",
             key, cert, ckey, ccert, ccert, ckey, both);
    assert_int_equal(system(cmd), 0);
    tb_test_server tls;
    assert_int_equal(tb_test_server_start_mtls(&tls, cert, key, ccert), 0);

    for (int mode = 0; mode < 3; mode++) {
        tb__http_config c;
        tb__http_config_init(&c);
        char err[256];
        assert_int_equal(tb__http_config_set_url(&c, tls.url, err, sizeof err), TB_OK);
        c.ca_file = tb__strdup(cert);
        if (mode == 1) {
            c.client_cert = tb__strdup(ccert);
            c.client_key = tb__strdup(ckey);
        }
        if (mode == 2)
            c.client_cert = tb__strdup(both);
        post_tls(&c, mode == 0, mode);
    }
    tb_test_server_stop(&tls);
    st_dir_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify_table),
        cmocka_unit_test(test_body_message),
        cmocka_unit_test(test_retry_after_parse),
        cmocka_unit_test(test_header_validation),
        cmocka_unit_test(test_redact_url),
        cmocka_unit_test_setup(test_ok_and_headers, st_server_reset),
        cmocka_unit_test_setup(test_basic_auth, st_server_reset),
        cmocka_unit_test_setup(test_status_classes_live, st_server_reset),
        cmocka_unit_test_setup(test_retry_after_live, st_server_reset),
        cmocka_unit_test_setup(test_gzip, st_server_reset),
        cmocka_unit_test_setup(test_response_cap, st_server_reset),
        cmocka_unit_test_setup(test_refused_port, st_server_reset),
        cmocka_unit_test_setup(test_timeout_after_body_sent, st_server_reset),
        cmocka_unit_test_setup(test_reset_after_body, st_server_reset),
        cmocka_unit_test_setup(test_redirect_not_followed, st_server_reset),
        cmocka_unit_test_setup(test_no_credentials_in_messages, st_server_reset),
        cmocka_unit_test(test_tls),
        cmocka_unit_test(test_mtls),
    };
    return cmocka_run_group_tests(tests, st_server_group_setup, st_server_group_teardown);
}
