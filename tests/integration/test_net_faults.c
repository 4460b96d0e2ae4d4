/*
 * test_net_faults.c — network faults test_ship_faults.c and test_http.c do
 * not reach, through the whole shipper (issue 7, item 3).
 *
 * The server is tests/helpers/faultserver.py (raw sockets, so it can send
 * half a response); the request path picks the fault:
 *   /close    status line + headers (Content-Length: 1000), then FIN: reset
 *             mid-response, after the body was received
 *   /trickle  a valid response, one byte per 200 ms, past `timeout = 1s`
 *   /hold     accepts, reads the request, never answers
 *   /big      a 64 MiB response body (the cap is 1 MiB)
 * plus a name that cannot resolve (http://does-not-exist.invalid/, RFC 6761).
 *
 * For each fault: tb_ship_once() a few times against it (each pass is one
 * injection; printed) — the records stay pending, nothing is dead-lettered,
 * last_error says what happened in one line, the process does not crash —
 * then the destination's url is switched to /ok on the same server (same
 * destination name, so the same cursor) and one pass delivers everything,
 * once per record on /ok, in order. Duplicates a fault may cause (the body
 * reached the server before the failure) are counted in destinations.resent
 * and printed.
 */
#define _GNU_SOURCE 1 /* pipe2 */
#include "shiptest.h"

#include <poll.h>

#define PASSES 3

typedef struct fx {
    char dir[256];
    char db[320];
    tb_test_server srv; /* the faultserver, driven by testserver.c's GETs */
    st_recs recs;
    tb_config *cfg;
} fx;

/* Start faultserver.py (testserver.c's start() is bound to testserver.py). */
static int start_faultserver(tb_test_server *s)
{
    memset(s, 0, sizeof *s);
    s->pid = -1;
    s->stdin_fd = s->stdout_fd = -1;
    const char *src = getenv("TB_SOURCE_DIR");
    if (!src || !*src) {
        fprintf(stderr, "TB_SOURCE_DIR is not set (run through ctest)\n");
        return -1;
    }
    char script[1024];
    snprintf(script, sizeof script, "%s/tests/helpers/faultserver.py", src);
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0)
        return -1;
    if (pipe2(out, O_CLOEXEC) != 0) {
        close(in[0]);
        close(in[1]);
        return -1;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0)
            _exit(127);
        execlp("python3", "python3", "-u", script, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    s->pid = pid;
    s->stdin_fd = in[1];
    s->stdout_fd = out[0];
    char line[64];
    size_t len = 0;
    while (len < sizeof line - 1) {
        struct pollfd p = {.fd = s->stdout_fd, .events = POLLIN};
        int r = poll(&p, 1, 15000);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        ssize_t n = read(s->stdout_fd, line + len, 1);
        if (n <= 0)
            break;
        len++;
        if (line[len - 1] == '\n')
            break;
    }
    line[len] = '\0';
    if (strncmp(line, "PORT ", 5) != 0) {
        fprintf(stderr, "faultserver: no PORT line (%s)\n", line);
        tb_test_server_stop(s);
        return -1;
    }
    s->port = (int)strtol(line + 5, NULL, 10);
    snprintf(s->url, sizeof s->url, "http://127.0.0.1:%d", s->port);
    return 0;
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    st_dir_make(f->dir, sizeof f->dir);
    snprintf(f->db, sizeof f->db, "%s/outbox.db", f->dir);
    if (start_faultserver(&f->srv) != 0) {
        st_dir_remove(f->dir);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    if (!f)
        return 0;
    tb_config_free(f->cfg);
    tb_test_server_stop(&f->srv);
    st_recs_free(&f->recs);
    st_dir_remove(f->dir);
    free(f);
    return 0;
}

static void fx_config_url(fx *f, const char *url)
{
    char text[1024];
    snprintf(text, sizeof text,
             "[shipper]\nbackoff_base = 10ms\nbackoff_cap = 50ms\n\n"
             "[hook]\ntype = webhook\nurl = %s\nbatch_size = 10\ntimeout = 1s\n",
             url);
    tb_config_free(f->cfg);
    f->cfg = NULL;
    if (tb_config_parse(&f->cfg, text, "test.ini") != TB_OK)
        fail_msg("tb_config_parse: %s", tb_last_error());
}

static void fx_config_path(fx *f, const char *path)
{
    char url[128];
    snprintf(url, sizeof url, "%s%s", f->srv.url, path);
    fx_config_url(f, url);
}

static int64_t hook_int(fx *f, const char *col)
{
    return st_db_int(f->db, "SELECT %s FROM destinations WHERE name = 'hook'", col);
}

/* `passes` passes against the fault: nothing delivered, nothing dead,
 * everything pending, a one-line last_error containing `expect` (any of
 * the '|'-separated words, case-insensitive). Returns the time of the
 * slowest pass in ms. */
static int64_t inject(fx *f, int passes, const char *expect, char *err_out, size_t err_size)
{
    int64_t slowest = 0;
    for (int i = 0; i < passes; i++) {
        st_db_exec(f->db, "UPDATE destinations SET next_attempt_at = NULL");
        int64_t t0 = st_mono_ms();
        tb_ship_report r;
        tb_status st = tb_ship_once(f->db, f->cfg, NULL, &r);
        int64_t took = st_mono_ms() - t0;
        if (took > slowest)
            slowest = took;
        if (st != TB_OK)
            fail_msg("tb_ship_once: %s: %s", tb_status_str(st), tb_last_error());
        assert_int_equal(r.delivered, 0);
        assert_int_equal(r.dead, 0);
        assert_int_equal(r.pending, (int64_t)f->recs.n);
        assert_true(r.failures >= 1);
    }
    assert_int_equal(hook_int(f, "cursor"), 0);
    assert_int_equal(st_db_int(f->db, "SELECT count(*) FROM dead_letters"), 0);
    assert_int_equal(st_db_int(f->db, "SELECT count(*) FROM pending"), (int64_t)f->recs.n);
    assert_true(hook_int(f, "attempts") >= passes);
    assert_true(st_db_text(f->db, err_out, err_size,
                           "SELECT last_error FROM destinations WHERE name = 'hook'"));
    if (strchr(err_out, '\n'))
        fail_msg("last_error is more than one line: %s", err_out);
    bool found = false;
    for (const char *w = expect; *w && !found;) {
        size_t l = strcspn(w, "|");
        char word[64];
        snprintf(word, sizeof word, "%.*s", (int)l, w);
        found = l > 0 && st_contains_ci(err_out, word);
        w += l + (w[l] == '|');
    }
    if (!found)
        fail_msg("last_error '%s' does not say '%s'", err_out, expect);
    return slowest;
}

/* The server behaves again: everything is delivered on /ok, in order. */
static void recover(fx *f, const char *fault)
{
    fx_config_path(f, "/ok");
    st_db_exec(f->db, "UPDATE destinations SET next_attempt_at = NULL");
    tb_ship_report r;
    assert_int_equal(tb_ship_once(f->db, f->cfg, NULL, &r), TB_OK);
    assert_int_equal(r.delivered, (int64_t)f->recs.n);
    assert_int_equal(r.pending, 0);
    st_filter flt = {.path = "/ok"};
    st_arrivals a;
    st_arrivals_get(&f->srv, &flt, &a);
    st_assert_exact(&a, &f->recs, NULL);
    st_arrivals_free(&a);
    assert_int_equal(hook_int(f, "cursor"), st_db_int(f->db, "SELECT max(seq) FROM records"));
    assert_int_equal(hook_int(f, "attempts"), 0);
    char buf[64];
    assert_false(st_db_text(f->db, buf, sizeof buf,
                            "SELECT last_error FROM destinations WHERE name = 'hook'"));
    print_message("%s: recovered, %zu records delivered once each on /ok; resent counter %lld\n",
                  fault, f->recs.n, (long long)hook_int(f, "resent"));
}

static void run_fault(fx *f, const char *fault, const char *path, const char *expect)
{
    fx_config_path(f, path);
    st_populate(f->db, &f->recs, 20, 60, TB_DURABILITY_NORMAL);
    char err[600];
    int64_t slowest = inject(f, PASSES, expect, err, sizeof err);
    st_filter flt = {.path = path};
    st_arrivals a;
    st_arrivals_get(&f->srv, &flt, &a);
    print_message("%s: injected %d times (%zu requests reached the server), records lost 0, "
                  "slowest pass %lld ms; last_error: %s\n",
                  fault, PASSES, a.requests, (long long)slowest, err);
    st_arrivals_free(&a);
    recover(f, fault);
}

static void test_headers_then_close(void **state)
{
    run_fault(*state, "reset mid-response", "/close",
              "partial|closed|transfer|receiv|connection|remaining");
}

static void test_slow_trickle(void **state)
{
    fx *f = *state;
    run_fault(f, "slow trickle", "/trickle", "time");
}

static void test_never_answers(void **state)
{
    run_fault(*state, "never answers", "/hold", "time");
}

/* A 2xx whose body is far over the response cap: the batch was accepted,
 * so it is delivered once (reading stops at the cap; nothing is resent). */
static void test_response_too_large(void **state)
{
    fx *f = *state;
    fx_config_path(f, "/big");
    st_populate(f->db, &f->recs, 20, 60, TB_DURABILITY_NORMAL);
    tb_ship_report r;
    assert_int_equal(tb_ship_once(f->db, f->cfg, NULL, &r), TB_OK);
    assert_int_equal(r.pending, 0);
    assert_int_equal(r.delivered, (int64_t)f->recs.n);
    st_filter flt = {.path = "/big"};
    st_arrivals a;
    st_arrivals_get(&f->srv, &flt, &a);
    st_assert_exact(&a, &f->recs, NULL);
    print_message("response over the cap: %zu requests, every record delivered once\n", a.requests);
    st_arrivals_free(&a);
}

static void test_dns_failure(void **state)
{
    fx *f = *state;
    fx_config_url(f, "http://does-not-exist.invalid/hook");
    st_populate(f->db, &f->recs, 20, 60, TB_DURABILITY_NORMAL);
    char err[600];
    int64_t slowest = inject(f, PASSES, "resolve|host|dns|name", err, sizeof err);
    print_message("DNS failure: injected %d times, records lost 0, slowest pass %lld ms; "
                  "last_error: %s\n",
                  PASSES, (long long)slowest, err);
    recover(f, "DNS failure");
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_headers_then_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slow_trickle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_never_answers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_response_too_large, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dns_failure, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
