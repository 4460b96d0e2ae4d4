/*
 * test_ship_cli.c — `tracebox ship` and the verbs an operator uses around
 * it, run as real processes ($TB_CLI) against a loopback server.
 *
 *   - ship --once with a webhook and a file destination: exit 0, the server
 *     got every record in seq order once, the JSON-lines file holds the same
 *     records (count and ids) and has mode 0600;
 *   - the server answers 503: exit 75, `status --json` shows pending and
 *     last_error; `pending --json` lists the backlog; a 400 naming one
 *     record makes a dead letter that `dead --json` shows and
 *     `requeue --dead` puts back in line; the next ship delivers it;
 *   - a slow destination first in the config does not starve a file
 *     destination within --max-time;
 *   - a config with an unknown key: exit 78, stderr names FILE:LINE;
 *   - long-running `ship` (no --once): records written while it runs all
 *     arrive; SIGTERM stops it with exit 0 and no lease left held.
 *
 * Each test has its own temp dir, outbox, config and server.
 */
#include "fixture.h"

typedef st_fx fx;

/* `tracebox --db DB --config INI <verb args…>`; returns the exit code.
 * stdout/stderr are in f->out / f->err. */
static int cli5(fx *f, const char *a1, const char *a2, const char *a3, const char *a4,
                const char *a5)
{
    const char *args[12];
    size_t n = 0;
    args[n++] = "--db";
    args[n++] = f->db;
    args[n++] = "--config";
    args[n++] = f->ini;
    const char *extra[] = {a1, a2, a3, a4, a5};
    for (size_t i = 0; i < 5 && extra[i]; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    return st_run_cli(f->dir, f->out, f->err, 60000, args);
}

static int cli(fx *f, const char *a1, const char *a2, const char *a3, const char *a4)
{
    return cli5(f, a1, a2, a3, a4, NULL);
}

static char *cli_stdout(fx *f)
{
    char *t = st_read_file(f->out, NULL);
    assert_non_null(t);
    return t;
}

static char *cli_stderr(fx *f)
{
    char *t = st_read_file(f->err, NULL);
    assert_non_null(t);
    return t;
}

/* `status --json`, parsed; the caller frees it. */
static cJSON *status_json(fx *f)
{
    st_fx_expect_exit(f, cli(f, "status", "--json", NULL, NULL), 0, "status --json");
    char *text = cli_stdout(f);
    cJSON *root = cJSON_Parse(text);
    if (!root)
        fail_msg("status --json is not JSON: %s", text);
    free(text);
    return root;
}

static const cJSON *status_dest(const cJSON *root, const char *name)
{
    const cJSON *dests = cJSON_GetObjectItemCaseSensitive(root, "destinations");
    assert_true(cJSON_IsArray(dests));
    const cJSON *d;
    cJSON_ArrayForEach(d, dests)
    {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(d, "name");
        if (cJSON_IsString(n) && strcmp(n->valuestring, name) == 0)
            return d;
    }
    fail_msg("status --json has no destination '%s'", name);
    return NULL;
}

static double num(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsNumber(v))
        fail_msg("'%s' is not a number", key);
    return v->valuedouble;
}

/* Each non-empty line of `text` parsed as JSON; returns the count and
 * calls fn on each. */
static size_t json_lines(const char *text, void (*fn)(const cJSON *, size_t, void *), void *arg)
{
    size_t n = 0;
    const char *p = text;
    while (p && *p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len > 0) {
            cJSON *obj = cJSON_ParseWithLength(p, len);
            if (!obj)
                fail_msg("line %zu is not JSON: %.*s", n + 1, (int)(len > 200 ? 200 : len), p);
            if (fn)
                fn(obj, n, arg);
            cJSON_Delete(obj);
            n++;
        }
        p = nl ? nl + 1 : NULL;
    }
    return n;
}

/* ---- ship --once: webhook + file ------------------------------------------ */

static void check_file_line(const cJSON *obj, size_t i, void *arg)
{
    const st_recs *recs = arg;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(obj, "id");
    assert_true(cJSON_IsString(id));
    assert_true(i < recs->n);
    assert_string_equal(id->valuestring, recs->ids[i]);
}

static void test_ship_once_ok(void **state)
{
    fx *f = *state;
    st_fx_write_ini(f,
                    "[hook]\ntype = webhook\nurl = %s/hook\nbatch_size = 10\n\n"
                    "[jsonl]\ntype = file\npath = %s/out.jsonl\nbatch_size = 7\n",
                    f->srv.url, f->dir);
    st_populate(f->db, &f->recs, 37, 60, TB_DURABILITY_NORMAL);
    st_fx_expect_exit(f, cli(f, "ship", "--once", NULL, NULL), 0, "ship --once");
    char *err = cli_stderr(f);
    assert_non_null(strstr(err, "delivered 74")); /* 37 to each destination */
    free(err);

    st_arrivals a;
    st_arrivals_get(&f->srv, NULL, &a);
    st_assert_exact(&a, &f->recs, NULL);
    st_arrivals_free(&a);

    char path[400];
    snprintf(path, sizeof path, "%s/out.jsonl", f->dir);
    char *text = st_read_file(path, NULL);
    assert_non_null(text);
    assert_int_equal(json_lines(text, check_file_line, &f->recs), f->recs.n);
    free(text);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(stat(f->db, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);

    /* again: nothing pending, nothing sent */
    st_fx_expect_exit(f, cli(f, "ship", "--once", NULL, NULL), 0, "second ship --once");
    st_arrivals_get(&f->srv, NULL, &a);
    assert_int_equal(a.n, f->recs.n);
    st_arrivals_free(&a);
}

/* ---- 503 → 75; status, pending, dead, requeue ------------------------------- */

typedef struct pending_check {
    const st_recs *recs;
    long long last_seq;
} pending_check;

static void check_pending_line(const cJSON *obj, size_t i, void *arg)
{
    pending_check *pc = arg;
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(obj, "destination");
    assert_true(cJSON_IsString(d));
    assert_string_equal(d->valuestring, "hook");
    long long seq = (long long)num(obj, "seq");
    assert_true(seq > pc->last_seq);
    pc->last_seq = seq;
    const cJSON *span = cJSON_GetObjectItemCaseSensitive(obj, "span_id");
    const cJSON *trace = cJSON_GetObjectItemCaseSensitive(obj, "trace_id");
    const char *id = cJSON_IsString(span) ? span->valuestring
                                          : (cJSON_IsString(trace) ? trace->valuestring : "");
    assert_true(i < pc->recs->n);
    assert_string_equal(id, pc->recs->ids[i]);
}

static void test_503_then_operator_verbs(void **state)
{
    fx *f = *state;
    st_fx_write_ini(f,
                    "[shipper]\nbackoff_base = 10ms\nbackoff_cap = 50ms\n\n"
                    "[hook]\ntype = webhook\nurl = %s/hook\nbatch_size = 10\n",
                    f->srv.url);
    st_populate(f->db, &f->recs, 24, 40, TB_DURABILITY_NORMAL);
    assert_int_equal(tb_test_server_control(&f->srv, "{\"mode\":\"status\",\"code\":503}"), 0);
    st_fx_expect_exit(f, cli(f, "ship", "--once", NULL, NULL), 75, "ship --once against 503");

    cJSON *st = status_json(f);
    const cJSON *d = status_dest(st, "hook");
    assert_int_equal((long)num(d, "pending"), 24);
    assert_true(num(d, "attempts") >= 1);
    const cJSON *le = cJSON_GetObjectItemCaseSensitive(d, "last_error");
    assert_true(cJSON_IsString(le));
    if (!strstr(le->valuestring, "503"))
        fail_msg("status last_error '%s' does not name the 503", le->valuestring);
    assert_true(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(d, "next_attempt_at")));
    cJSON_Delete(st);

    st_fx_expect_exit(f, cli(f, "pending", "--json", "--limit", "1000"), 0, "pending --json");
    char *text = cli_stdout(f);
    pending_check pc = {&f->recs, 0};
    assert_int_equal(json_lines(text, check_pending_line, &pc), 24);
    free(text);

    /* the server is back but refuses one record */
    const char *bad = f->recs.ids[6];
    char ctl[200];
    snprintf(ctl, sizeof ctl, "{\"mode\":\"reject_ids\",\"ids\":[\"%s\"]}", bad);
    assert_int_equal(tb_test_server_control(&f->srv, ctl), 0);
    st_fx_due_now(f);
    st_fx_expect_exit(f, cli(f, "ship", "--once", NULL, NULL), 0, "ship --once with a refusal");

    st_fx_expect_exit(f, cli(f, "dead", "--json", NULL, NULL), 0, "dead --json");
    text = cli_stdout(f);
    cJSON *dl = cJSON_Parse(text);
    if (!dl)
        fail_msg("dead --json: %s", text);
    free(text);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(dl, "span_id")->valuestring, bad);
    assert_int_equal((long)num(dl, "http_status"), 400);
    const cJSON *reason = cJSON_GetObjectItemCaseSensitive(dl, "reason");
    assert_true(cJSON_IsString(reason));
    assert_non_null(strstr(reason->valuestring, bad));
    cJSON_Delete(dl);
    st_fx_expect_exit(f, cli(f, "dead", NULL, NULL, NULL), 0, "dead");
    text = cli_stdout(f);
    assert_non_null(strstr(text, bad));
    free(text);

    st = status_json(f);
    d = status_dest(st, "hook");
    assert_int_equal((long)num(d, "pending"), 0);
    assert_int_equal((long)num(d, "dead"), 1);
    assert_int_equal((long)num(d, "delivered"), 23);
    cJSON_Delete(st);

    /* fixed: requeue, it is pending again, the next ship delivers it */
    assert_int_equal(tb_test_server_control(&f->srv, "{\"mode\":\"ok\"}"), 0);
    size_t before = (size_t)tb_test_server_count(&f->srv);
    st_fx_expect_exit(f, cli(f, "requeue", "--dead", NULL, NULL), 0, "requeue --dead");
    st_fx_expect_exit(f, cli(f, "pending", "--json", NULL, NULL), 0,
                      "pending --json after requeue");
    text = cli_stdout(f);
    assert_int_equal(json_lines(text, NULL, NULL), 1);
    assert_non_null(strstr(text, bad));
    free(text);
    st_fx_expect_exit(f, cli(f, "ship", "--once", NULL, NULL), 0, "ship --once after requeue");
    st_filter flt = {.skip = before};
    st_arrivals a;
    st_arrivals_get(&f->srv, &flt, &a);
    assert_int_equal(a.n, 1);
    assert_string_equal(a.ids[0], bad);
    st_arrivals_free(&a);
    st = status_json(f);
    d = status_dest(st, "hook");
    assert_int_equal((long)num(d, "pending"), 0);
    assert_int_equal((long)num(d, "dead"), 0);
    assert_int_equal((long)num(d, "delivered"), 24);
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(d, "last_error")));
    cJSON_Delete(st);
}

/* ---- a bad config: 78 and FILE:LINE ------------------------------------------ */

/* A slow destination (every answer takes 1 s) first in the config must not
 * hold the next one back: within --max-time the file destination gets
 * everything while the slow one still makes progress. (Before the engine
 * shared its time, the slow one kept the whole --max-time: the file got
 * nothing.) The engine gives each batch to the destination that has had
 * the least time, so the file gets as much time as the slow one: its 20
 * batches fit unless each takes over 250 ms. */
static void test_slow_destination_does_not_starve(void **state)
{
    fx *f = *state;
    st_fx_write_ini(f,
                    "[slow]\ntype = webhook\nurl = %s/slow\nbatch_size = 20\n\n"
                    "[jsonl]\ntype = file\npath = %s/out.jsonl\nbatch_size = 20\n",
                    f->srv.url, f->dir);
    st_populate(f->db, &f->recs, 400, 60, TB_DURABILITY_NORMAL);
    st_fx_control(f, "{\"mode\":\"stall\",\"seconds\":1.0}");
    int code = cli(f, "ship", "--once", "--max-time", "10");
    st_fx_expect_exit(f, code, 75, "ship --once with a slow destination");
    assert_int_equal(st_fx_dest_int(f, "jsonl", "delivered"), 400);
    int64_t slow = st_fx_dest_int(f, "slow", "delivered");
    print_message("slow destination: %lld of 400 delivered in --max-time 10; file: 400\n",
                  (long long)slow);
    assert_true(slow > 0 && slow < 400);
}

static void test_unknown_key_exit_78(void **state)
{
    fx *f = *state;
    st_fx_write_ini(f,
                    "[shipper]\nbackoff_base = 10ms\n\n"
                    "[hook]\ntype = webhook\nurl = %s/hook\nbogus_key = 1\n",
                    f->srv.url);
    st_populate(f->db, &f->recs, 3, 10, TB_DURABILITY_NORMAL);
    st_fx_expect_exit(f, cli(f, "ship", "--once", NULL, NULL), 78, "ship --once with a bad key");
    char *err = cli_stderr(f);
    char want[400];
    snprintf(want, sizeof want, "%s:7", f->ini);
    if (!strstr(err, want) || !strstr(err, "bogus_key"))
        fail_msg("stderr does not name '%s' and the key: %s", want, err);
    free(err);
    assert_int_equal(tb_test_server_count(&f->srv), 0);
}

/* ---- long-running ship, SIGTERM ----------------------------------------------- */

static void test_long_running_sigterm(void **state)
{
    fx *f = *state;
    st_fx_write_ini(f,
                    "[shipper]\nbackoff_base = 10ms\nbackoff_cap = 50ms\npoll_interval = 50ms\n\n"
                    "[hook]\ntype = webhook\nurl = %s/hook\nbatch_size = 10\n",
                    f->srv.url);
    tb_outbox *ob = NULL;
    tb_outbox_options o = TB_OUTBOX_OPTIONS_INIT;
    assert_int_equal(tb_outbox_open(&ob, f->db, &o), TB_OK);
    st_recs_put(ob, &f->recs, 15, 40);
    const char *args[] = {"--db", f->db, "--config", f->ini, "ship", NULL};
    pid_t pid = st_spawn(f->dir, f->out, f->err, args);
    /* write while it runs */
    for (int round = 0; round < 5; round++)
        st_recs_put(ob, &f->recs, 9, 40);
    tb_outbox_close(ob);
    size_t total = f->recs.n, got = 0;
    for (int tries = 0; tries < 1500 && got < total; tries++) {
        got = st_arrived_ids(&f->srv);
        if (got < total)
            st_nap_ms(10);
    }
    int status = 0;
    if (got < total) {
        kill(pid, SIGKILL);
        st_wait(pid, 5000);
        fail_msg("only %zu of %zu records arrived while `tracebox ship` ran", got, total);
    }
    assert_int_equal(kill(pid, SIGTERM), 0);
    int64_t t0 = st_mono_ms();
    status = st_wait(pid, 20000);
    int64_t took = st_mono_ms() - t0;
    if (status == -1)
        fail_msg("tracebox ship did not stop within 20 s of SIGTERM");
    assert_true(WIFEXITED(status));
    st_fx_expect_exit(f, WEXITSTATUS(status), 0, "ship after SIGTERM");
    print_message("ship stopped %lld ms after SIGTERM\n", (long long)took);
    char *err = cli_stderr(f);
    assert_non_null(strstr(err, "stopped cleanly"));
    free(err);

    st_arrivals a;
    st_arrivals_get(&f->srv, NULL, &a);
    st_assert_exact(&a, &f->recs, NULL);
    st_arrivals_free(&a);
    assert_int_equal(st_db_int(f->db, "SELECT count(*) FROM destinations"), 1);
    assert_int_equal(st_db_int(f->db, "SELECT count(*) FROM destinations WHERE lease_owner IS "
                                      "NOT NULL OR lease_until IS NOT NULL"),
                     0);
    assert_int_equal(st_db_int(f->db, "SELECT count(*) FROM pending"), 0);
}

/* The daemon (no --once, no --verbose) says each state change in one line:
 * the first failure with its reason (not one line per retry), the
 * recovery; never the credential, even when the server echoes it. */
static void test_daemon_logs_state_changes(void **state)
{
    fx *f = *state;
    st_fx_write_ini(f,
                    "[shipper]\nbackoff_base = 10ms\nbackoff_cap = 50ms\npoll_interval = 50ms\n\n"
                    "[hook]\ntype = webhook\nurl = %s/hook\n"
                    "headers = Authorization=Bearer sk-daemon-secret-42\n",
                    f->srv.url);
    st_fx_put(f, 30, 10);
    assert_int_equal(tb_test_server_control(&f->srv,
                                            "{\"mode\":\"sequence\",\"steps\":["
                                            "{\"mode\":\"status\",\"code\":503,\"body\":"
                                            "\"overloaded; token Bearer sk-daemon-secret-42\"},"
                                            "{\"mode\":\"status\",\"code\":503},"
                                            "{\"mode\":\"status\",\"code\":503}]}"),
                     0);
    const char *args[] = {"--db", f->db, "--config", f->ini, "ship", NULL};
    pid_t pid = st_spawn(f->dir, f->out, f->err, args);
    size_t total = f->recs.n, got = 0;
    for (int tries = 0; tries < 1500 && got < total; tries++) {
        got = st_arrived_ids(&f->srv);
        if (got < total)
            st_nap_ms(10);
    }
    /* the recovery line is written after the delivering commit: wait for
     * it (or the deadline) before stopping the daemon */
    for (int tries = 0; tries < 1000 && !st_file_has(f->err, "recovered after"); tries++)
        st_nap_ms(10);
    assert_int_equal(kill(pid, SIGTERM), 0);
    int status = st_wait(pid, 20000);
    assert_true(status != -1 && WIFEXITED(status));
    st_fx_expect_exit(f, WEXITSTATUS(status), 0, "ship after SIGTERM");
    assert_int_equal(got, total);
    char *err = cli_stderr(f);
    assert_non_null(err);
    const char *first = strstr(err, "[hook] failing: HTTP 503");
    if (!first)
        fail_msg("no failing line in:\n%s", err);
    if (strstr(first + strlen("[hook] failing:"), "failing:"))
        fail_msg("more than one failing line in:\n%s", err);
    assert_non_null(strstr(err, "[hook] recovered after 3 failed attempt(s)"));
    assert_null(strstr(err, "sk-daemon-secret-42"));
    free(err);
}

/* ship --once with --max-time finishes its job: two 503s and then 200s
 * are waited through (before: exit 75 after the first failure); with -q a
 * successful run prints nothing (the failure and recovery lines it logged
 * are kept back); the duration takes units. */
static void test_once_waits_through_backoffs(void **state)
{
    fx *f = *state;
    st_fx_write_ini(f, "[shipper]\nbackoff_base = 200ms\n[hook]\ntype = webhook\nurl = %s/hook\n",
                    f->srv.url);
    st_fx_put(f, 20, 10);
    assert_int_equal(tb_test_server_control(&f->srv, "{\"mode\":\"sequence\",\"steps\":["
                                                     "{\"mode\":\"status\",\"code\":503},"
                                                     "{\"mode\":\"status\",\"code\":503}]}"),
                     0);
    int code = cli(f, "ship", "--once", "--max-time", "30s");
    st_fx_expect_exit(f, code, 0, "ship --once --max-time 30s");
    assert_int_equal(st_db_int(f->db, "SELECT count(*) FROM pending"), 0);
    /* a run that waited: the failure and the recovery were said */
    assert_true(st_file_has(f->err, "[hook] failing: HTTP 503"));
    assert_true(st_file_has(f->err, "[hook] recovered after 2 failed attempt(s)"));

    /* -q: nothing at all on success, even after failures */
    st_fx_put(f, 5, 10);
    assert_int_equal(tb_test_server_control(&f->srv, "{\"mode\":\"sequence\",\"steps\":["
                                                     "{\"mode\":\"status\",\"code\":503}]}"),
                     0);
    code = cli5(f, "ship", "--once", "--max-time", "30", "-q");
    st_fx_expect_exit(f, code, 0, "ship --once --max-time 30 -q");
    size_t n = 0;
    char *err = st_read_file(f->err, &n);
    assert_int_equal(n, 0);
    free(err);
    char *out = st_read_file(f->out, &n);
    assert_int_equal(n, 0);
    free(out);
    assert_int_equal(cli(f, "ship", "--once", "--max-time", "soon"), 2);
}

/* A destination that keeps failing: the run ends at the deadline (it tried
 * more than once meanwhile) with 75 and says so even with -q. */
static void test_once_ends_at_the_deadline(void **state)
{
    fx *f = *state;
    st_fx_write_ini(f,
                    "[shipper]\nbackoff_base = 200ms\nbackoff_cap = 500ms\n"
                    "[hook]\ntype = webhook\nurl = %s/hook\n",
                    f->srv.url);
    st_fx_put(f, 3, 10);
    assert_int_equal(tb_test_server_control(&f->srv, "{\"mode\":\"status\",\"code\":503}"), 0);
    int64_t t0 = st_mono_ms();
    int code = cli5(f, "ship", "--once", "--max-time", "3s", "-q");
    int64_t took = st_mono_ms() - t0;
    st_fx_expect_exit(f, code, 75, "ship --once --max-time 3s");
    assert_true(took >= 2500); /* it kept trying until its deadline */
    assert_true(tb_test_server_count(&f->srv) >= 2);
    assert_true(st_file_has(f->err, "still pending 3"));
}

/* 401: exit 77 and the destination is parked; after the key is fixed,
 * --retry-now ships at once (without it the parking holds). */
static void test_auth_77_and_retry_now(void **state)
{
    fx *f = *state;
    st_fx_write_ini(f, "[hook]\ntype = webhook\nurl = %s/hook\n", f->srv.url);
    st_fx_put(f, 4, 10);
    assert_int_equal(tb_test_server_control(&f->srv, "{\"mode\":\"status\",\"code\":401}"), 0);
    int code = cli(f, "ship", "--once", "--max-time", "5s");
    st_fx_expect_exit(f, code, 77, "ship --once against a 401");
    assert_true(st_file_has(f->err, "credentials refused"));
    assert_true(st_file_has(f->err, "--retry-now"));
    /* the key is fixed (the server accepts now): still parked for 15 min */
    assert_int_equal(tb_test_server_reset(&f->srv), 0);
    code = cli(f, "ship", "--once", NULL, NULL);
    st_fx_expect_exit(f, code, 77, "ship --once while parked");
    assert_int_equal(tb_test_server_count(&f->srv), 0);
    code = cli(f, "ship", "--once", "--retry-now", NULL);
    st_fx_expect_exit(f, code, 0, "ship --once --retry-now");
    assert_int_equal(st_db_int(f->db, "SELECT count(*) FROM pending"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ST_FX_TEST(test_ship_once_ok),
        ST_FX_TEST(test_once_waits_through_backoffs),
        ST_FX_TEST(test_once_ends_at_the_deadline),
        ST_FX_TEST(test_auth_77_and_retry_now),
        ST_FX_TEST(test_503_then_operator_verbs),
        ST_FX_TEST(test_slow_destination_does_not_starve),
        ST_FX_TEST(test_unknown_key_exit_78),
        ST_FX_TEST(test_long_running_sigterm),
        ST_FX_TEST(test_daemon_logs_state_changes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
