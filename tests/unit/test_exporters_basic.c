/*
 * test_exporters_basic.c — the `file` and `webhook` exporters through their
 * vtables, as the shipper drives them: create() from a destination section,
 * send() a batch, read the tb_export_result.
 *
 * Destination sections are built by filling struct tb_dest_config
 * (config_internal.h) directly, so these tests do not depend on the INI
 * parser's own rules. Each test gets a fresh temporary folder; the webhook
 * tests share one loopback server, reset before each test.
 */
#include "fixture.h"

#include "config_internal.h"

/* ---- a destination section built by hand ---------------------------- */

#define MAX_KV 16
typedef struct dest {
    struct tb_dest_config cfg;
    tb__kv kv[MAX_KV];
} dest;

/* pairs: key, value, key, value, …, NULL. */
static void dest_init(dest *d, const char *name, const char *type, const char *const *pairs)
{
    memset(d, 0, sizeof *d);
    d->cfg.name = strdup(name);
    d->cfg.type = strdup(type);
    d->cfg.file = strdup("test.ini");
    d->cfg.line = 1;
    d->cfg.batch_size = 512;
    d->cfg.max_batch_bytes = 4 << 20;
    d->cfg.timeout_ms = 30000;
    d->cfg.kv = d->kv;
    d->kv[0].key = strdup("type");
    d->kv[0].value = strdup(type);
    d->kv[0].line = 2;
    size_t n = 1;
    for (size_t i = 0; pairs && pairs[i]; i += 2) {
        assert_true(n < MAX_KV);
        d->kv[n].key = strdup(pairs[i]);
        d->kv[n].value = strdup(pairs[i + 1]);
        d->kv[n].line = (int)n + 2;
        if (strcmp(pairs[i], "timeout") == 0)
            d->cfg.timeout_ms = strtol(pairs[i + 1], NULL, 10) * 1000;
        n++;
    }
    d->cfg.n_kv = n;
}

static void dest_free(dest *d)
{
    free(d->cfg.name);
    free(d->cfg.type);
    free(d->cfg.file);
    for (size_t i = 0; i < d->cfg.n_kv; i++) {
        free(d->kv[i].key);
        free(d->kv[i].value);
    }
}

/* create() an instance of vt from pairs; expect `want`. */
static void *create(const tb_exporter_vtable *vt, const char *const *pairs, tb_status want,
                    char *err, size_t err_size)
{
    dest d;
    dest_init(&d, "dest1", vt->type, pairs);
    void *self = NULL;
    err[0] = '\0';
    tb_status st = vt->create(&self, &d.cfg, err, err_size);
    dest_free(&d);
    if (st != want)
        fail_msg("create: status %d, expected %d (%s)", (int)st, (int)want, err);
    if (want == TB_OK)
        assert_non_null(self);
    else
        assert_null(self);
    return self;
}

static tb_record rec(const char *body)
{
    tb_record r;
    memset(&r, 0, sizeof r);
    r.kind = "span";
    r.body = body;
    r.body_len = strlen(body);
    return r;
}

static void send_batch(const tb_exporter_vtable *vt, void *self, const tb_record *recs, size_t n,
                       tb_export_result *res)
{
    memset(res, 0, sizeof *res);
    res->retry_after_ms = -1;
    assert_int_equal(vt->send(self, recs, n, res), TB_OK);
}

static int setup_both(void **state)
{
    return st_tmp_setup(state) == 0 ? st_server_reset(state) : -1;
}

static void assert_file(const char *path, const char *content)
{
    char *got = st_read_file(path, NULL);
    if (!got)
        fail_msg("%s: missing", path);
    if (strcmp(got, content) != 0)
        fail_msg("%s: got [%s], expected [%s]", path, got, content);
    free(got);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
}

/* ---- file --------------------------------------------------------- */

static void test_file_writes_lines(void **state)
{
    (void)state;
    char path[300], err[512];
    snprintf(path, sizeof path, "%s/out.jsonl", st_tmp());
    const char *pairs[] = {"path", path, NULL};
    void *self = create(&tb__exporter_file, pairs, TB_OK, err, sizeof err);
    tb_record recs[] = {rec("{\"object\":\"trace\",\"id\":\"trace_1\"}"),
                        rec("{\"object\":\"trace.span\",\"id\":\"span_1\"}")};
    tb_export_result res;
    send_batch(&tb__exporter_file, self, recs, 2, &res);
    assert_int_equal(res.outcome, TB_EXPORT_DELIVERED);
    assert_file(path, "{\"object\":\"trace\",\"id\":\"trace_1\"}\n"
                      "{\"object\":\"trace.span\",\"id\":\"span_1\"}\n");
    /* a second batch appends */
    tb_record more = rec("{\"id\":\"span_2\"}");
    send_batch(&tb__exporter_file, self, &more, 1, &res);
    assert_int_equal(res.outcome, TB_EXPORT_DELIVERED);
    assert_file(path, "{\"object\":\"trace\",\"id\":\"trace_1\"}\n"
                      "{\"object\":\"trace.span\",\"id\":\"span_1\"}\n"
                      "{\"id\":\"span_2\"}\n");
    /* an empty batch is fine and writes nothing */
    send_batch(&tb__exporter_file, self, NULL, 0, &res);
    assert_int_equal(res.outcome, TB_EXPORT_DELIVERED);
    tb__exporter_file.destroy(self);
}

static void test_file_rotation(void **state)
{
    (void)state;
    char path[300], p1[310], p2[310], p3[310], err[512];
    snprintf(path, sizeof path, "%s/rot.jsonl", st_tmp());
    snprintf(p1, sizeof p1, "%s.1", path);
    snprintf(p2, sizeof p2, "%s.2", path);
    snprintf(p3, sizeof p3, "%s.3", path);
    const char *pairs[] = {"path", path, "max_bytes", "100", "max_files", "2", NULL};
    void *self = create(&tb__exporter_file, pairs, TB_OK, err, sizeof err);

    /* ten 30-byte lines ("{\"id\":\"span_NN\",\"pad\":\"xxxx\"}" + '\n'):
     * three fit in 100 bytes, the fourth starts a new file */
    char bodies[10][40];
    tb_record recs[10];
    for (int i = 0; i < 10; i++) {
        snprintf(bodies[i], sizeof bodies[i], "{\"id\":\"span_%02d\",\"pad\":\"xxxx\"}", i);
        assert_int_equal(strlen(bodies[i]), 29);
        recs[i] = rec(bodies[i]);
    }
    tb_export_result res;
    send_batch(&tb__exporter_file, self, recs, 6, &res); /* lines 0-2 | 3-5 */
    assert_int_equal(res.outcome, TB_EXPORT_DELIVERED);
    send_batch(&tb__exporter_file, self, recs + 6, 4, &res); /* 6-8 | 9 */
    assert_int_equal(res.outcome, TB_EXPORT_DELIVERED);

    char want[200];
    /* newest file: line 9 */
    snprintf(want, sizeof want, "%s\n", bodies[9]);
    assert_file(path, want);
    snprintf(want, sizeof want, "%s\n%s\n%s\n", bodies[6], bodies[7], bodies[8]);
    assert_file(p1, want);
    snprintf(want, sizeof want, "%s\n%s\n%s\n", bodies[3], bodies[4], bodies[5]);
    assert_file(p2, want);
    /* lines 0-2 were in the oldest file, beyond max_files: removed */
    assert_int_equal(access(p3, F_OK), -1);
    tb__exporter_file.destroy(self);
}

static void test_file_big_record(void **state)
{
    (void)state;
    char path[300], p1[310], err[512];
    snprintf(path, sizeof path, "%s/big.jsonl", st_tmp());
    snprintf(p1, sizeof p1, "%s.1", path);
    const char *pairs[] = {"path", path, "max_bytes", "10", NULL};
    void *self = create(&tb__exporter_file, pairs, TB_OK, err, sizeof err);
    tb_record r[] = {rec("{\"a\":\"0123456789\"}"), rec("{\"b\":1}")};
    tb_export_result res;
    send_batch(&tb__exporter_file, self, r, 2, &res);
    assert_int_equal(res.outcome, TB_EXPORT_DELIVERED);
    /* a line bigger than max_bytes still goes out, alone in its file */
    assert_file(p1, "{\"a\":\"0123456789\"}\n");
    assert_file(path, "{\"b\":1}\n");
    tb__exporter_file.destroy(self);
}

static void test_file_write_failure(void **state)
{
    (void)state;
    char err[512];
    if (access("/dev/full", W_OK) != 0)
        skip();
    const char *pairs[] = {"path", "/dev/full", NULL};
    void *self = create(&tb__exporter_file, pairs, TB_OK, err, sizeof err);
    tb_record r = rec("{\"id\":\"span_1\"}");
    tb_export_result res;
    send_batch(&tb__exporter_file, self, &r, 1, &res);
    assert_int_equal(res.outcome, TB_EXPORT_RETRY);
    assert_non_null(strstr(res.message, "/dev/full"));
    char enospc[128];
    snprintf(enospc, sizeof enospc, "%s", strerror(ENOSPC));
    assert_non_null(strstr(res.message, enospc));
    tb__exporter_file.destroy(self);

    /* a folder that does not exist: retry, naming the path */
    char path[300];
    snprintf(path, sizeof path, "%s/no/such/dir/out.jsonl", st_tmp());
    const char *pairs2[] = {"path", path, NULL};
    self = create(&tb__exporter_file, pairs2, TB_OK, err, sizeof err);
    send_batch(&tb__exporter_file, self, &r, 1, &res);
    assert_int_equal(res.outcome, TB_EXPORT_RETRY);
    assert_non_null(strstr(res.message, path));
    tb__exporter_file.destroy(self);
}

static void test_file_config_errors(void **state)
{
    (void)state;
    char err[512];
    create(&tb__exporter_file, NULL, TB_CONFIG, err, sizeof err);
    assert_non_null(strstr(err, "[dest1] path"));
    const char *bad_size[] = {"path", "x", "max_bytes", "lots", NULL};
    create(&tb__exporter_file, bad_size, TB_CONFIG, err, sizeof err);
    assert_non_null(strstr(err, "test.ini:"));
    assert_non_null(strstr(err, "max_bytes"));
    const char *bad_files[] = {"path", "x", "max_files", "0", NULL};
    create(&tb__exporter_file, bad_files, TB_CONFIG, err, sizeof err);
    assert_non_null(strstr(err, "max_files"));
    const char *ok[] = {"path", "x", "max_bytes", "1MiB", "max_files", "3", NULL};
    tb__exporter_file.destroy(create(&tb__exporter_file, ok, TB_OK, err, sizeof err));
}

static void test_webhook_posts_array(void **state)
{
    (void)state;
    char url[128], err[512];
    snprintf(url, sizeof url, "%s/hook", st_server()->url);
    const char *pairs[] = {"url", url, "headers", "x-team=blue, X-Token=a%2Cb%3Dc", NULL};
    void *self = create(&tb__exporter_webhook, pairs, TB_OK, err, sizeof err);
    tb_record recs[] = {rec("{\"object\":\"trace\",\"id\":\"trace_1\",\"metadata\":{}}"),
                        rec("{\"object\":\"trace.span\",\"id\":\"span_1\",\"x\":\"\\u00e9\"}")};
    tb_export_result res;
    send_batch(&tb__exporter_webhook, self, recs, 2, &res);
    assert_int_equal(res.outcome, TB_EXPORT_DELIVERED);
    assert_int_equal(res.http_status, 200);
    tb__exporter_webhook.destroy(self);

    cJSON *reqs = st_requests(st_server());
    assert_int_equal(cJSON_GetArraySize(reqs), 1);
    const cJSON *r0 = cJSON_GetArrayItem(reqs, 0);
    assert_string_equal(st_req_str(r0, "method"), "POST");
    assert_string_equal(st_req_str(r0, "path"), "/hook");
    assert_string_equal(st_req_str(r0, "body"),
                        "[{\"object\":\"trace\",\"id\":\"trace_1\",\"metadata\":{}},"
                        "{\"object\":\"trace.span\",\"id\":\"span_1\",\"x\":\"\\u00e9\"}]");
    assert_string_equal(st_req_header(r0, "content-type"), "application/json");
    assert_string_equal(st_req_header(r0, "x-team"), "blue");
    assert_string_equal(st_req_header(r0, "x-token"), "a,b=c");
    cJSON_Delete(reqs);
}

static void test_webhook_refused(void **state)
{
    (void)state;
    char err[512];
    const char *pairs[] = {"url", st_server()->url, NULL};
    void *self = create(&tb__exporter_webhook, pairs, TB_OK, err, sizeof err);
    assert_int_equal(
        tb_test_server_control(st_server(), "{\"mode\":\"reject_ids\",\"ids\":[\"span_bad\"]}"), 0);
    tb_record recs[] = {rec("{\"id\":\"span_good\"}"), rec("{\"id\":\"span_bad\"}")};
    tb_export_result res;
    send_batch(&tb__exporter_webhook, self, recs, 2, &res);
    assert_int_equal(res.outcome, TB_EXPORT_REFUSED);
    assert_int_equal(res.http_status, 400);
    assert_non_null(strstr(res.message, "rejected id span_bad"));
    /* the good half alone goes through (what the shipper's bisection does) */
    send_batch(&tb__exporter_webhook, self, recs, 1, &res);
    assert_int_equal(res.outcome, TB_EXPORT_DELIVERED);

    /* 503 + Retry-After: retry, with the delay */
    assert_int_equal(tb_test_server_control(
                         st_server(), "{\"mode\":\"status\",\"code\":503,\"retry_after\":\"2\"}"),
                     0);
    send_batch(&tb__exporter_webhook, self, recs, 1, &res);
    assert_int_equal(res.outcome, TB_EXPORT_RETRY);
    assert_int_equal(res.retry_after_ms, 2000);
    tb__exporter_webhook.destroy(self);
}

static void test_webhook_gzip(void **state)
{
    (void)state;
    char err[512];
    const char *pairs[] = {"url", st_server()->url, "compression", "gzip", NULL};
    void *self = create(&tb__exporter_webhook, pairs, TB_OK, err, sizeof err);
    tb_record r = rec("{\"id\":\"span_z\"}");
    tb_export_result res;
    send_batch(&tb__exporter_webhook, self, &r, 1, &res);
    assert_int_equal(res.outcome, TB_EXPORT_DELIVERED);
    tb__exporter_webhook.destroy(self);
    cJSON *reqs = st_requests(st_server());
    const cJSON *r0 = cJSON_GetArrayItem(reqs, 0);
    assert_string_equal(st_req_header(r0, "content-encoding"), "gzip");
    assert_string_equal(st_req_str(r0, "gunzipped"), "[{\"id\":\"span_z\"}]");
    cJSON_Delete(reqs);
}

static void test_webhook_config_errors(void **state)
{
    (void)state;
    char err[512];
    create(&tb__exporter_webhook, NULL, TB_CONFIG, err, sizeof err);
    assert_non_null(strstr(err, "[dest1] url"));
    const char *ftp[] = {"url", "ftp://user:hunter22@example.com/x", NULL};
    create(&tb__exporter_webhook, ftp, TB_CONFIG, err, sizeof err);
    assert_non_null(strstr(err, "url"));
    assert_null(strstr(err, "hunter22"));
    const char *comp[] = {"url", "http://127.0.0.1:9/", "compression", "zstd", NULL};
    create(&tb__exporter_webhook, comp, TB_CONFIG, err, sizeof err);
    assert_non_null(strstr(err, "compression"));
    const char *ins[] = {"url", "http://127.0.0.1:9/", "insecure", "maybe", NULL};
    create(&tb__exporter_webhook, ins, TB_CONFIG, err, sizeof err);
    assert_non_null(strstr(err, "insecure"));
    const char *hdr[] = {"url", "http://127.0.0.1:9/", "headers", "x-key=topsecret%0D%0Ax: y",
                         NULL};
    create(&tb__exporter_webhook, hdr, TB_CONFIG, err, sizeof err);
    assert_non_null(strstr(err, "headers"));
    assert_non_null(strstr(err, "test.ini:"));
    assert_null(strstr(err, "topsecret"));
    const char *ca[] = {"url", "https://127.0.0.1:9/", "ca_file", "/no/such/ca.pem", NULL};
    create(&tb__exporter_webhook, ca, TB_CONFIG, err, sizeof err);
    assert_non_null(strstr(err, "ca_file"));
}

static void test_vtables(void **state)
{
    (void)state;
    assert_int_equal(tb__exporter_file.version, TB_EXPORTER_VERSION);
    assert_string_equal(tb__exporter_file.type, "file");
    assert_int_equal(tb__exporter_webhook.version, TB_EXPORTER_VERSION);
    assert_string_equal(tb__exporter_webhook.type, "webhook");
    assert_string_equal(tb__exporter_webhook.keys[0], "url");
    tb__exporter_file.destroy(NULL);
    tb__exporter_webhook.destroy(NULL);
}

/* The same exporters from real INI text through tb_config_parse(). */
static void test_from_ini(void **state)
{
    (void)state;
    char ini[1024], path[300], err[512];
    snprintf(path, sizeof path, "%s/ini.jsonl", st_tmp());
    snprintf(ini, sizeof ini,
             "[hook]\ntype = webhook\nurl = %s/ini\nheaders = x-from=ini\ntimeout = 5s\n"
             "[local]\ntype = file\npath = %s\nmax_bytes = 1KiB\nmax_files = 2\n",
             st_server()->url, path);
    tb_config *cfg = NULL;
    tb_status st = tb_config_parse(&cfg, ini, "test.ini");
    if (st != TB_OK)
        fail_msg("tb_config_parse: %s", tb_last_error());
    tb_record r = rec("{\"id\":\"span_ini\"}");
    tb_export_result res;

    const tb_dest_config *hook = tb_config_find_destination(cfg, "hook");
    assert_non_null(hook);
    void *self = NULL;
    assert_int_equal(tb__exporter_webhook.create(&self, hook, err, sizeof err), TB_OK);
    send_batch(&tb__exporter_webhook, self, &r, 1, &res);
    assert_int_equal(res.outcome, TB_EXPORT_DELIVERED);
    tb__exporter_webhook.destroy(self);
    cJSON *reqs = st_requests(st_server());
    const cJSON *r0 = cJSON_GetArrayItem(reqs, 0);
    assert_string_equal(st_req_str(r0, "path"), "/ini");
    assert_string_equal(st_req_header(r0, "x-from"), "ini");
    assert_string_equal(st_req_str(r0, "body"), "[{\"id\":\"span_ini\"}]");
    cJSON_Delete(reqs);

    const tb_dest_config *local = tb_config_find_destination(cfg, "local");
    assert_non_null(local);
    assert_int_equal(tb__exporter_file.create(&self, local, err, sizeof err), TB_OK);
    send_batch(&tb__exporter_file, self, &r, 1, &res);
    assert_int_equal(res.outcome, TB_EXPORT_DELIVERED);
    assert_file(path, "{\"id\":\"span_ini\"}\n");
    tb__exporter_file.destroy(self);
    tb_config_free(cfg);
}

/* Fail each allocation in turn (the libcurl "torture" idea): create, send
 * and destroy must fail cleanly — a status, never a crash or a leak. */
static void torture(const tb_exporter_vtable *vt, const char *const *pairs)
{
    tb_record recs[] = {rec("{\"id\":\"span_1\"}"), rec("{\"id\":\"span_2\"}")};
    for (long n = 0;; n++) {
        dest d;
        dest_init(&d, "dest1", vt->type, pairs);
        char err[512];
        void *self = NULL;
        tb__alloc_fail_after(n);
        tb_status st = vt->create(&self, &d.cfg, err, sizeof err);
        bool clean = st == TB_OK;
        if (st == TB_OK) {
            tb_export_result res;
            memset(&res, 0, sizeof res);
            st = vt->send(self, recs, 2, &res);
            clean = st == TB_OK && res.outcome == TB_EXPORT_DELIVERED;
            vt->destroy(self);
        } else {
            assert_int_equal(st, TB_NOMEM);
            assert_null(self);
        }
        long attempted = tb__alloc_fail_after(-1);
        dest_free(&d);
        if (clean && attempted <= n)
            break; /* nothing failed: every allocation was exercised */
        assert_true(n < 10000);
    }
}

static void test_alloc_failures(void **state)
{
    (void)state;
    char path[300];
    snprintf(path, sizeof path, "%s/torture.jsonl", st_tmp());
    const char *file_pairs[] = {"path", path, "max_bytes", "20", NULL};
    torture(&tb__exporter_file, file_pairs);
    const char *hook_pairs[] = {"url",         st_server()->url, "headers", "a=1,b=2",
                                "compression", "gzip",           NULL};
    torture(&tb__exporter_webhook, hook_pairs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vtables),
        cmocka_unit_test_setup_teardown(test_file_writes_lines, st_tmp_setup, st_tmp_teardown),
        cmocka_unit_test_setup_teardown(test_file_rotation, st_tmp_setup, st_tmp_teardown),
        cmocka_unit_test_setup_teardown(test_file_big_record, st_tmp_setup, st_tmp_teardown),
        cmocka_unit_test_setup_teardown(test_file_write_failure, st_tmp_setup, st_tmp_teardown),
        cmocka_unit_test(test_file_config_errors),
        cmocka_unit_test_setup(test_webhook_posts_array, st_server_reset),
        cmocka_unit_test_setup(test_webhook_refused, st_server_reset),
        cmocka_unit_test_setup(test_webhook_gzip, st_server_reset),
        cmocka_unit_test(test_webhook_config_errors),
        cmocka_unit_test_setup_teardown(test_alloc_failures, st_tmp_setup, st_tmp_teardown),
        cmocka_unit_test_setup_teardown(test_from_ini, setup_both, st_tmp_teardown),
    };
    return cmocka_run_group_tests(tests, st_server_group_setup, st_server_group_teardown);
}
