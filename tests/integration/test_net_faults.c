/*
 * test_net_faults.c — network faults test_ship_faults.c and test_http.c do
 * not reach, through the whole shipper (issue 7, item 3).
 *
 * The server is the loopback test server (tests/helpers/testserver.py) in
 * one of its fault modes, each on a path of its own so that the requests a
 * fault received can be told from the recovery's:
 *   /close    mode "truncate": status line + headers (Content-Length: 1000),
 *             then FIN: reset mid-response, after the body was received
 *   /trickle  mode "trickle": a valid response, one byte per 200 ms, past
 *             `timeout = 1s`
 *   /hold     mode "hold": reads the request, never answers
 *   /big      mode "big_response": a 64 MiB response body (the cap is 1 MiB)
 * plus a name that cannot resolve (http://does-not-exist.invalid/, RFC 6761).
 *
 * For each fault: tb_ship_once() a few times against it (each pass is one
 * injection; printed) — the records stay pending, nothing is dead-lettered,
 * last_error says what happened in one line, the process does not crash —
 * then the server is put back in mode "ok", the destination's url is
 * switched to /ok on it (same destination name, so the same cursor) and one
 * pass delivers everything, once per record on /ok, in order. Duplicates a
 * fault may cause (the body reached the server before the failure) are
 * counted in destinations.resent and printed.
 */
#include "fixture.h"

#define PASSES 3

typedef st_fx fx;

static void fx_config_url(fx *f, const char *url)
{
    st_fx_parse(f,
                "[shipper]\nbackoff_base = 10ms\nbackoff_cap = 50ms\n\n"
                "[hook]\ntype = webhook\nurl = %s\nbatch_size = 10\ntimeout = 1s\n",
                url);
}

static void fx_config_path(fx *f, const char *path)
{
    char url[128];
    snprintf(url, sizeof url, "%s%s", f->srv.url, path);
    fx_config_url(f, url);
}

/* `passes` passes against the fault: nothing delivered, nothing dead,
 * everything pending, a one-line last_error containing `expect` (any of
 * the '|'-separated words, case-insensitive). Returns the time of the
 * slowest pass in ms. */
static int64_t inject(fx *f, int passes, const char *expect, char *err_out, size_t err_size)
{
    int64_t slowest = 0;
    for (int i = 0; i < passes; i++) {
        st_fx_due_now(f);
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
    assert_int_equal(st_fx_dest_int(f, "hook", "cursor"), 0);
    assert_int_equal(st_db_int(f->db, "SELECT count(*) FROM dead_letters"), 0);
    assert_int_equal(st_db_int(f->db, "SELECT count(*) FROM pending"), (int64_t)f->recs.n);
    assert_true(st_fx_dest_int(f, "hook", "attempts") >= passes);
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
    st_fx_control(f, "{\"mode\":\"ok\"}");
    fx_config_path(f, "/ok");
    st_fx_due_now(f);
    tb_ship_report r;
    assert_int_equal(tb_ship_once(f->db, f->cfg, NULL, &r), TB_OK);
    assert_int_equal(r.delivered, (int64_t)f->recs.n);
    assert_int_equal(r.pending, 0);
    st_filter flt = {.path = "/ok"};
    st_arrivals a;
    st_arrivals_get(&f->srv, &flt, &a);
    st_assert_exact(&a, &f->recs, NULL);
    st_arrivals_free(&a);
    assert_int_equal(st_fx_dest_int(f, "hook", "cursor"),
                     st_db_int(f->db, "SELECT max(seq) FROM records"));
    assert_int_equal(st_fx_dest_int(f, "hook", "attempts"), 0);
    char buf[64];
    assert_false(st_db_text(f->db, buf, sizeof buf,
                            "SELECT last_error FROM destinations WHERE name = 'hook'"));
    print_message("%s: recovered, %zu records delivered once each on /ok; resent counter %lld\n",
                  fault, f->recs.n, (long long)st_fx_dest_int(f, "hook", "resent"));
}

static void run_fault(fx *f, const char *fault, const char *path, const char *mode,
                      const char *expect)
{
    st_fx_control(f, mode);
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
    run_fault(*state, "reset mid-response", "/close", "{\"mode\":\"truncate\"}",
              "partial|closed|transfer|receiv|connection|remaining");
}

static void test_slow_trickle(void **state)
{
    fx *f = *state;
    run_fault(f, "slow trickle", "/trickle", "{\"mode\":\"trickle\",\"interval\":0.2}", "time");
}

static void test_never_answers(void **state)
{
    run_fault(*state, "never answers", "/hold", "{\"mode\":\"hold\"}", "time");
}

/* A 2xx whose body is far over the response cap: the batch was accepted,
 * so it is delivered once (reading stops at the cap; nothing is resent). */
static void test_response_too_large(void **state)
{
    fx *f = *state;
    st_fx_control(f, "{\"mode\":\"big_response\",\"bytes\":67108864}");
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
        ST_FX_TEST(test_headers_then_close), ST_FX_TEST(test_slow_trickle),
        ST_FX_TEST(test_never_answers),      ST_FX_TEST(test_response_too_large),
        ST_FX_TEST(test_dns_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
