/*
 * test_ship_faults.c — the delivery engine (src/shipper.c) against a real
 * loopback HTTP server (tests/helpers/testserver.py) that misbehaves on
 * command: 5xx, 429 + Retry-After, 401, 413 above a size, 400 naming bad
 * records, connection resets, stalls past the timeout, a closed port.
 *
 * Each test has its own temp dir, outbox and server. Records are written
 * with tb_outbox_put_json (a trace then four of its spans, repeating; ids
 * unique) and shipped with tb_ship_once() to a `webhook` destination
 * ("[hook]", url = server + "/hook", batch_size = 10) with
 * `[shipper] backoff_base = 10ms, backoff_cap = 50ms`. Between passes a
 * backing-off destination is made due with
 * `UPDATE destinations SET next_attempt_at = NULL` (no sleeps). The
 * assertions read what the server recorded (GET /_requests: each /hook
 * body is a JSON array of records) and the outbox tables.
 *
 * The last test runs the thread shape (tb_shipper_start / wake / stop);
 * it is the one to run under TSan.
 */
#include "fixture.h"

typedef st_fx fx;

/* The standard config: [shipper] fast backoff (+ extra lines), [hook] at
 * the server (+ extra lines). */
static void fx_config(fx *f, const char *shipper_extra, const char *hook_extra)
{
    st_fx_parse(f,
                "[shipper]\nbackoff_base = 10ms\nbackoff_cap = 50ms\n%s\n"
                "[hook]\ntype = webhook\nurl = %s/hook\nbatch_size = 10\n%s\n",
                shipper_extra ? shipper_extra : "", f->srv.url, hook_extra ? hook_extra : "");
}

static int64_t pending_of(fx *f, const char *dest)
{
    return st_db_int(f->db, "SELECT count(*) FROM pending WHERE destination = '%s'", dest);
}

static int64_t max_seq(fx *f)
{
    return st_db_int(f->db, "SELECT max(seq) FROM records");
}

/* The destination is caught up and healthy. */
static void assert_caught_up(fx *f, const char *dest, int64_t delivered)
{
    assert_int_equal(st_fx_dest_int(f, dest, "cursor"), max_seq(f));
    assert_int_equal(st_fx_dest_int(f, dest, "delivered"), delivered);
    assert_int_equal(st_fx_dest_int(f, dest, "attempts"), 0);
    assert_int_equal(st_fx_dest_int(f, dest, "auth_failed"), 0);
    assert_int_equal(pending_of(f, dest), 0);
    char buf[600];
    assert_false(st_db_text(f->db, buf, sizeof buf,
                            "SELECT last_error FROM destinations WHERE name = '%s'", dest));
    assert_false(st_db_text(f->db, buf, sizeof buf,
                            "SELECT next_attempt_at FROM destinations WHERE name = '%s'", dest));
    assert_false(st_db_text(f->db, buf, sizeof buf,
                            "SELECT lease_owner FROM destinations WHERE name = '%s'", dest));
}

/* ---- 200: everything, in seq order, once ---------------------------- */

static void test_all_delivered_in_order(void **state)
{
    fx *f = *state;
    fx_config(f, NULL, NULL);
    st_fx_put(f, 53, 40);
    tb_ship_report r = st_fx_ship(f);
    assert_int_equal(r.delivered, 53);
    assert_int_equal(r.pending, 0);
    assert_int_equal(r.dead, 0);
    assert_int_equal(r.failures, 0);
    assert_int_equal(r.batches, 6);

    st_arrivals a;
    st_arrivals_get(&f->srv, NULL, &a);
    st_assert_exact(&a, &f->recs, NULL);
    assert_int_equal(a.requests, 6);
    assert_int_equal(a.max_batch, 10);
    st_arrivals_free(&a);
    assert_caught_up(f, "hook", 53);
    assert_int_equal(st_db_int(f->db, "SELECT count(*) FROM dead_letters"), 0);

    /* a second pass has nothing to send */
    r = st_fx_ship(f);
    assert_int_equal(r.delivered, 0);
    assert_int_equal(tb_test_server_count(&f->srv), 6);
}

/* ---- 500, 502, 503, then 200 ------------------------------------------ */

static void test_5xx_then_ok(void **state)
{
    fx *f = *state;
    fx_config(f, NULL, NULL);
    st_fx_put(f, 25, 40);
    st_fx_control(f, "{\"mode\":\"sequence\",\"steps\":[{\"mode\":\"status\",\"code\":500},"
                     "{\"mode\":\"status\",\"code\":502},{\"mode\":\"status\",\"code\":503}]}");
    static const int codes[] = {500, 502, 503};
    for (int i = 0; i < 3; i++) {
        tb_ship_report r = st_fx_ship(f);
        assert_int_equal(r.delivered, 0);
        assert_int_equal(r.failures, 1);
        assert_int_equal(r.pending, 25);
        assert_int_equal(st_fx_dest_int(f, "hook", "attempts"), i + 1);
        assert_int_equal(st_fx_dest_int(f, "hook", "last_status"), codes[i]);
        assert_int_equal(st_fx_dest_int(f, "hook", "cursor"), 0);
        char err[600], want[16];
        assert_true(st_db_text(f->db, err, sizeof err,
                               "SELECT last_error FROM destinations WHERE name = 'hook'"));
        snprintf(want, sizeof want, "%d", codes[i]);
        if (!strstr(err, want))
            fail_msg("last_error '%s' does not name HTTP %d", err, codes[i]);
        assert_true(st_next_attempt_us(f->db, "hook") > 0);
        /* exactly one request per failed pass: the failure stops the pass */
        assert_int_equal(tb_test_server_count(&f->srv), i + 1);
        st_fx_due_now(f);
    }
    tb_ship_report r = st_fx_ship(f);
    assert_int_equal(r.delivered, 25);
    assert_int_equal(r.failures, 0);
    st_filter flt = {.skip = 3};
    st_arrivals a;
    st_arrivals_get(&f->srv, &flt, &a);
    st_assert_exact(&a, &f->recs, NULL);
    assert_int_equal(a.requests, 3 + 3);
    st_arrivals_free(&a);
    assert_caught_up(f, "hook", 25); /* attempts reset, last_error cleared */
}

/* ---- 429 with Retry-After: 120 ------------------------------------------ */

static void test_429_retry_after(void **state)
{
    fx *f = *state;
    fx_config(f, NULL, NULL);
    st_fx_put(f, 15, 40);
    st_fx_control(f, "{\"mode\":\"status\",\"code\":429,\"retry_after\":\"120\","
                     "\"body\":\"{\\\"error\\\":{\\\"message\\\":\\\"slow down\\\"}}\"}");
    int64_t before = tb__now_us();
    tb_ship_report r = st_fx_ship(f);
    int64_t after = tb__now_us();
    assert_int_equal(r.delivered, 0);
    assert_int_equal(r.pending, 15);
    assert_int_equal(r.backing_off, 1);
    assert_int_equal(tb_test_server_count(&f->srv), 1);
    int64_t next = st_next_attempt_us(f->db, "hook");
    if (next < before + 119 * 1000000LL || next > after + 121 * 1000000LL)
        fail_msg("next_attempt_at is %+.3f s from now, expected ~120 s (Retry-After)",
                 (double)(next - after) / 1e6);
    assert_int_equal(st_fx_dest_int(f, "hook", "last_status"), 429);
    char err[600];
    assert_true(st_db_text(f->db, err, sizeof err,
                           "SELECT last_error FROM destinations WHERE name = 'hook'"));
    assert_non_null(strstr(err, "429"));

    /* still backing off: another pass sends nothing */
    r = st_fx_ship(f);
    assert_int_equal(r.backing_off, 1);
    assert_int_equal(r.failures, 0);
    assert_int_equal(tb_test_server_count(&f->srv), 1);
    assert_int_equal(st_fx_dest_int(f, "hook", "attempts"), 1);
}

/* ---- exponential backoff: grows, capped, jittered ------------------------ */

static void test_backoff_grows_capped_jittered(void **state)
{
    fx *f = *state;
    fx_config(f, NULL, NULL); /* base 10 ms, cap 50 ms */
    st_fx_put(f, 5, 40);
    st_fx_control(f, "{\"mode\":\"status\",\"code\":503}");
    /* Force the attempt count, fail once, read next_attempt_at. The delay
     * the engine chose lies in [next - after, next - before]. */
    static const int64_t levels[] = {1, 2, 3, 4, 5, 8, 20, 62, 63, 64, 1000};
    const int samples = 10;
    int64_t max_lo_low = 0;  /* attempts 1: the largest certain delay */
    int64_t max_lo_high = 0; /* attempts >= 4 */
    int64_t min_hi_high = INT64_MAX;
    for (size_t l = 0; l < sizeof levels / sizeof levels[0]; l++) {
        int64_t k = levels[l];
        int64_t ceil_ms = 10;
        for (int64_t i = 1; i < k && ceil_ms < 50; i++)
            ceil_ms *= 2;
        if (ceil_ms > 50)
            ceil_ms = 50;
        for (int s = 0; s < samples; s++) {
            st_db_exec(f->db,
                       "UPDATE destinations SET attempts = %lld, next_attempt_at = NULL "
                       "WHERE name = 'hook'",
                       (long long)(k - 1));
            int64_t before = tb__now_us();
            tb_ship_report r = st_fx_ship(f);
            int64_t after = tb__now_us();
            assert_int_equal(r.failures, 1);
            assert_int_equal(st_fx_dest_int(f, "hook", "attempts"), k);
            int64_t next = st_next_attempt_us(f->db, "hook");
            int64_t lo = next - after, hi = next - before;
            if (hi < 0)
                fail_msg("attempts %lld: next_attempt_at is in the past (%lld us)", (long long)k,
                         (long long)hi);
            if (lo > ceil_ms * 1000)
                fail_msg("attempts %lld: delay >= %lld us exceeds min(cap, base*2^(n-1)) = "
                         "%lld ms",
                         (long long)k, (long long)lo, (long long)ceil_ms);
            if (k == 1 && lo > max_lo_low)
                max_lo_low = lo;
            if (k >= 4) {
                if (lo > max_lo_high)
                    max_lo_high = lo;
                if (hi < min_hi_high)
                    min_hi_high = hi;
            }
        }
    }
    print_message("backoff: attempts 1 max %.1f ms; attempts>=4 delays %.1f..%.1f ms\n",
                  (double)max_lo_low / 1000, (double)min_hi_high / 1000,
                  (double)max_lo_high / 1000);
    /* grows: beyond the ceiling of attempt 2 (20 ms) once attempts >= 4 */
    if (max_lo_high <= 20000)
        fail_msg("backoff never exceeded 20 ms at attempts >= 4 (max %lld us): no growth",
                 (long long)max_lo_high);
    /* jittered: some delay at the cap level is certainly below the cap, and
     * the spread is wide */
    if (min_hi_high >= 40000)
        fail_msg("every delay at attempts >= 4 was >= 40 ms (min %lld us): no jitter",
                 (long long)min_hi_high);
    assert_true(max_lo_high - min_hi_high > 5000);
}

/* ---- 401: keep the records, alert, back off long ------------------------- */

static void test_401_auth(void **state)
{
    fx *f = *state;
    fx_config(f, "auth_backoff = 10min", NULL);
    st_fx_put(f, 12, 40);
    st_fx_control(f, "{\"mode\":\"status\",\"code\":401,"
                     "\"body\":\"{\\\"error\\\":{\\\"message\\\":\\\"invalid api key\\\"}}\"}");
    int64_t before = tb__now_us();
    tb_ship_report r = st_fx_ship(f);
    int64_t after = tb__now_us();
    assert_int_equal(r.delivered, 0);
    assert_int_equal(r.dead, 0);
    assert_int_equal(r.pending, 12);
    assert_int_equal(tb_test_server_count(&f->srv), 1);
    assert_int_equal(st_fx_dest_int(f, "hook", "auth_failed"), 1);
    assert_int_equal(st_fx_dest_int(f, "hook", "cursor"), 0);
    assert_int_equal(st_fx_dest_int(f, "hook", "last_status"), 401);
    assert_int_equal(st_db_int(f->db, "SELECT count(*) FROM dead_letters"), 0);
    assert_int_equal(st_db_int(f->db, "SELECT count(*) FROM records"), 12);
    char buf[600];
    assert_true(st_db_text(f->db, buf, sizeof buf,
                           "SELECT alert FROM outbox_status WHERE destination = 'hook'"));
    assert_true(st_db_text(f->db, buf, sizeof buf,
                           "SELECT last_error FROM destinations WHERE name = 'hook'"));
    assert_non_null(strstr(buf, "401"));
    int64_t next = st_next_attempt_us(f->db, "hook");
    if (next < before + 600 * 1000000LL || next > after + 600 * 1000000LL)
        fail_msg("auth backoff is %+.3f s, expected auth_backoff = 600 s",
                 (double)(next - after) / 1e6);
    /* backing off: nothing more is sent */
    r = st_fx_ship(f);
    assert_int_equal(tb_test_server_count(&f->srv), 1);

    /* the key is fixed: everything ships, the alert clears */
    st_fx_control(f, "{\"mode\":\"ok\"}");
    st_fx_due_now(f);
    r = st_fx_ship(f);
    assert_int_equal(r.delivered, 12);
    st_filter flt = {.skip = 1};
    st_arrivals a;
    st_arrivals_get(&f->srv, &flt, &a);
    st_assert_exact(&a, &f->recs, NULL);
    st_arrivals_free(&a);
    assert_caught_up(f, "hook", 12);
    assert_false(st_db_text(f->db, buf, sizeof buf,
                            "SELECT alert FROM outbox_status WHERE destination = 'hook'"));
}

/* ---- 413: split; a single record too large is dead-lettered --------------- */

static void test_413_split(void **state)
{
    fx *f = *state;
    fx_config(f, NULL, NULL);
    st_fx_put(f, 13, 200);
    st_fx_put(f, 1, 3000); /* record 13: larger than the limit on its own */
    st_fx_put(f, 16, 200);
    const char *big = f->recs.ids[13];
    st_fx_control(f, "{\"mode\":\"max_bytes\",\"max\":1500}");
    tb_ship_report r = st_fx_ship(f);
    assert_int_equal(r.delivered, 29);
    assert_int_equal(r.dead, 1);
    assert_int_equal(r.pending, 0);

    st_filter flt = {.max_body = 1500};
    st_arrivals a;
    st_arrivals_get(&f->srv, &flt, &a);
    const char *except[] = {big, NULL};
    st_assert_exact(&a, &f->recs, except);
    assert_true(a.requests > a.kept); /* there were 413s */
    st_arrivals_free(&a);

    int64_t seq = st_seq_of(f->db, big);
    assert_int_equal(st_db_int(f->db, "SELECT count(*) FROM dead_letters"), 1);
    assert_int_equal(st_db_int(f->db, "SELECT seq FROM dead_letters WHERE destination = 'hook'"),
                     seq);
    assert_int_equal(st_db_int(f->db, "SELECT http_status FROM dead_letters"), 413);
    char reason[600];
    assert_true(st_db_text(f->db, reason, sizeof reason, "SELECT reason FROM dead_letters"));
    if (!st_contains_ci(reason, "too large"))
        fail_msg("dead letter reason '%s' does not say 'too large'", reason);
    assert_int_equal(st_fx_dest_int(f, "hook", "cursor"), max_seq(f));
    assert_int_equal(st_fx_dest_int(f, "hook", "delivered"), 29);
}

/* ---- 400 naming records: bisect, dead-letter exactly those ---------------- */

static void reject_two(fx *f, const char *ids[3])
{
    ids[0] = f->recs.ids[7];
    ids[1] = f->recs.ids[23];
    ids[2] = NULL;
    char ctl[256];
    snprintf(ctl, sizeof ctl, "{\"mode\":\"reject_ids\",\"ids\":[\"%s\",\"%s\"]}", ids[0], ids[1]);
    st_fx_control(f, ctl);
}

static void assert_two_dead(fx *f, const char *const ids[3])
{
    assert_int_equal(st_db_int(f->db, "SELECT count(*) FROM dead_letters"), 2);
    for (int i = 0; i < 2; i++) {
        int64_t seq = st_seq_of(f->db, ids[i]);
        assert_int_equal(st_db_int(f->db,
                                   "SELECT http_status FROM dead_letters WHERE destination = "
                                   "'hook' AND seq = %lld",
                                   (long long)seq),
                         400);
        char reason[600], want[100];
        assert_true(st_db_text(f->db, reason, sizeof reason,
                               "SELECT reason FROM dead_letters WHERE seq = %lld", (long long)seq));
        snprintf(want, sizeof want, "rejected id %s", ids[i]);
        if (!strstr(reason, want))
            fail_msg("dead letter reason '%s' lacks the server's message '%s'", reason, want);
    }
}

static void test_reject_ids(void **state)
{
    fx *f = *state;
    fx_config(f, NULL, NULL);
    st_fx_put(f, 40, 40);
    const char *ids[3];
    reject_two(f, ids);
    tb_ship_report r = st_fx_ship(f);
    assert_int_equal(r.delivered, 38);
    assert_int_equal(r.dead, 2);
    assert_int_equal(r.pending, 0);
    st_filter flt = {.reject = ids};
    st_arrivals a;
    st_arrivals_get(&f->srv, &flt, &a);
    st_assert_exact(&a, &f->recs, ids);
    st_arrivals_free(&a);
    assert_two_dead(f, ids);
    assert_int_equal(st_fx_dest_int(f, "hook", "cursor"), max_seq(f));
    assert_int_equal(st_fx_dest_int(f, "hook", "attempts"), 0);
}

/* ---- the connection is reset: retry, then delivered ----------------------- */

static void test_reset_then_delivered(void **state)
{
    fx *f = *state;
    fx_config(f, NULL, NULL);
    st_fx_put(f, 20, 40);
    st_fx_control(f, "{\"mode\":\"sequence\",\"steps\":[{\"mode\":\"reset\"}]}");
    tb_ship_report r = st_fx_ship(f);
    assert_int_equal(r.delivered, 0);
    assert_int_equal(r.failures, 1);
    assert_int_equal(r.pending, 20);
    assert_int_equal(st_fx_dest_int(f, "hook", "attempts"), 1);
    char err[600];
    assert_true(st_db_text(f->db, err, sizeof err,
                           "SELECT last_error FROM destinations WHERE name = 'hook'"));
    print_message("after a reset: last_error = %s\n", err);
    st_fx_due_now(f);
    r = st_fx_ship(f);
    assert_int_equal(r.delivered, 20);
    st_filter flt = {.skip = 1};
    st_arrivals a;
    st_arrivals_get(&f->srv, &flt, &a);
    st_assert_exact(&a, &f->recs, NULL);
    st_arrivals_free(&a);
    assert_caught_up(f, "hook", 20);
}

/* ---- a stall past the timeout: unknown outcome, bounded duplicates -------- */

static void test_stall_timeout(void **state)
{
    fx *f = *state;
    fx_config(f, NULL, "timeout = 1s");
    st_fx_put(f, 20, 40);
    st_fx_control(f, "{\"mode\":\"sequence\",\"steps\":[{\"mode\":\"stall\",\"seconds\":2.5}]}");
    int64_t t0 = st_mono_ms();
    tb_ship_report r = st_fx_ship(f);
    int64_t took = st_mono_ms() - t0;
    assert_int_equal(r.delivered, 0);
    assert_int_equal(r.failures, 1);
    if (took > 2400)
        fail_msg("the pass took %lld ms: timeout = 1s was not applied", (long long)took);
    assert_true(st_fx_dest_int(f, "hook", "resent") > 0);
    assert_true(st_fx_dest_int(f, "hook", "resent") <= 10);
    char err[600];
    assert_true(st_db_text(f->db, err, sizeof err,
                           "SELECT last_error FROM destinations WHERE name = 'hook'"));
    if (!st_contains_ci(err, "time"))
        fail_msg("last_error '%s' does not mention the timeout", err);
    st_fx_due_now(f);
    r = st_fx_ship(f);
    assert_int_equal(r.delivered, 20);
    st_arrivals a;
    st_arrivals_get(&f->srv, NULL, &a);
    size_t distinct, dups, max_per;
    st_count_arrivals(&a, &f->recs, &distinct, &dups, &max_per);
    assert_int_equal(distinct, 20);
    assert_true(dups <= 10); /* at most one batch */
    assert_true(max_per <= 2);
    print_message("stall: %zu arrivals, %zu duplicates (resent %lld)\n", a.n, dups,
                  (long long)st_fx_dest_int(f, "hook", "resent"));
    st_arrivals_free(&a);
    assert_caught_up(f, "hook", 20);
}

/* ---- server down, then up ------------------------------------------------- */

static void test_server_down_then_up(void **state)
{
    fx *f = *state;
    int port = tb_test_free_port();
    assert_true(port > 0);
    st_fx_parse(f,
                "[shipper]\nbackoff_base = 10ms\nbackoff_cap = 50ms\n"
                "[hook]\ntype = webhook\nurl = http://127.0.0.1:%d/hook\nbatch_size = 10\n",
                port);
    st_fx_put(f, 15, 40);
    tb_ship_report r = st_fx_ship(f);
    assert_int_equal(r.delivered, 0);
    assert_int_equal(r.pending, 15);
    assert_int_equal(pending_of(f, "hook"), 15);
    assert_int_equal(st_fx_dest_int(f, "hook", "cursor"), 0);
    char err[600];
    assert_true(st_db_text(f->db, err, sizeof err,
                           "SELECT last_error FROM destinations WHERE name = 'hook'"));
    if (!st_contains_ci(err, "connect"))
        fail_msg("last_error '%s' does not name a connection failure", err);
    assert_int_equal(tb_test_server_count(&f->srv), 0);
    /* a server comes up on another port: the config follows it */
    fx_config(f, NULL, NULL);
    st_fx_due_now(f);
    r = st_fx_ship(f);
    assert_int_equal(r.delivered, 15);
    st_arrivals a;
    st_arrivals_get(&f->srv, NULL, &a);
    st_assert_exact(&a, &f->recs, NULL);
    st_arrivals_free(&a);
    assert_caught_up(f, "hook", 15);
}

/* ---- max_age: expired records become dead letters, never sent ------------- */

static void test_max_age_expired(void **state)
{
    fx *f = *state;
    fx_config(f, NULL, "max_age = 1ms");
    st_fx_put(f, 12, 40);
    st_db_exec(f->db, "UPDATE records SET created_at = '2000-01-01T00:00:00.000000+00:00'");
    tb_ship_report r = st_fx_ship(f);
    assert_int_equal(r.dead, 12);
    assert_int_equal(r.delivered, 0);
    assert_int_equal(r.pending, 0);
    assert_int_equal(tb_test_server_count(&f->srv), 0);
    assert_int_equal(st_db_int(f->db, "SELECT count(*) FROM dead_letters WHERE destination = "
                                      "'hook' AND reason = 'expired'"),
                     12);
    assert_int_equal(st_db_int(f->db, "SELECT count(*) FROM dead_letters WHERE http_status IS "
                                      "NOT NULL"),
                     0);
    assert_int_equal(st_fx_dest_int(f, "hook", "cursor"), max_seq(f));

    /* fresh records under a realistic max_age still ship; the old stay dead */
    fx_config(f, NULL, "max_age = 1h");
    st_recs old = f->recs;
    memset(&f->recs, 0, sizeof f->recs);
    st_fx_put(f, 5, 40);
    r = st_fx_ship(f);
    assert_int_equal(r.delivered, 5);
    assert_int_equal(r.dead, 0);
    st_arrivals a;
    st_arrivals_get(&f->srv, NULL, &a);
    st_assert_exact(&a, &f->recs, NULL);
    st_arrivals_free(&a);
    st_recs_free(&old);
    assert_int_equal(st_db_int(f->db, "SELECT count(*) FROM dead_letters"), 12);
}

/* ---- start = latest -------------------------------------------------------- */

static void test_start_latest(void **state)
{
    fx *f = *state;
    st_fx_put(f, 20, 40);
    st_fx_parse(f,
                "[shipper]\nbackoff_base = 10ms\nbackoff_cap = 50ms\n"
                "[hook]\ntype = webhook\nurl = %s/hook\nbatch_size = 10\nstart = latest\n"
                "[backfill]\ntype = webhook\nurl = %s/backfill\nbatch_size = 10\n",
                f->srv.url, f->srv.url);
    tb_ship_report r = st_fx_ship(f);
    assert_int_equal(r.delivered, 20); /* all of them to [backfill] */
    st_arrivals a;
    st_arrivals_get(&f->srv, NULL, &a);
    assert_int_equal(a.requests, 0); /* nothing to [hook] */
    st_arrivals_free(&a);
    st_filter bf = {.path = "/backfill"};
    st_arrivals_get(&f->srv, &bf, &a);
    st_assert_exact(&a, &f->recs, NULL);
    st_arrivals_free(&a);
    assert_int_equal(st_fx_dest_int(f, "hook", "cursor"), max_seq(f));
    assert_int_equal(pending_of(f, "hook"), 0);

    st_recs old = f->recs;
    memset(&f->recs, 0, sizeof f->recs);
    st_fx_put(f, 7, 40);
    r = st_fx_ship(f);
    assert_int_equal(r.delivered, 14);
    st_arrivals_get(&f->srv, NULL, &a);
    st_assert_exact(&a, &f->recs, NULL);
    st_arrivals_free(&a);
    st_recs_free(&old);
    assert_caught_up(f, "hook", 7);
    assert_caught_up(f, "backfill", 27);
}

/* ---- `tracebox requeue --dead` after a refusal ----------------------------- */

static void test_requeue_dead_cli(void **state)
{
    fx *f = *state;
    fx_config(f, NULL, NULL);
    st_fx_put(f, 30, 40);
    const char *ids[3];
    reject_two(f, ids);
    tb_ship_report r = st_fx_ship(f);
    assert_int_equal(r.dead, 2);
    assert_two_dead(f, ids);
    size_t before = (size_t)tb_test_server_count(&f->srv);

    /* the destination is fixed; the operator requeues */
    st_fx_control(f, "{\"mode\":\"ok\"}");
    tb_outbox_close(f->ob);
    f->ob = NULL;
    char out[400], err[400];
    snprintf(out, sizeof out, "%s/requeue.out", f->dir);
    snprintf(err, sizeof err, "%s/requeue.err", f->dir);
    const char *args[] = {"--db", f->db, "requeue", "--dead", NULL};
    int code = st_run_cli(f->dir, out, err, 30000, args);
    char *text = st_read_file(out, NULL);
    if (code != 0)
        fail_msg("requeue --dead exited %d: %s", code, st_read_file(err, NULL));
    assert_non_null(text);
    assert_non_null(strstr(text, "requeued 2"));
    free(text);
    assert_int_equal(st_db_int(f->db, "SELECT count(*) FROM dead_letters"), 0);
    assert_int_equal(pending_of(f, "hook"), 2);

    r = st_fx_ship(f);
    assert_int_equal(r.delivered, 2);
    assert_int_equal(r.pending, 0);
    st_filter flt = {.skip = before};
    st_arrivals a;
    st_arrivals_get(&f->srv, &flt, &a);
    assert_int_equal(a.n, 2);
    /* in seq order */
    assert_string_equal(a.ids[0], ids[0]);
    assert_string_equal(a.ids[1], ids[1]);
    st_arrivals_free(&a);
    assert_int_equal(st_db_int(f->db, "SELECT count(*) FROM requeued"), 0);
    assert_int_equal(st_fx_dest_int(f, "hook", "delivered"), 30);
    assert_caught_up(f, "hook", 30);
}

/* ---- per-destination state: one dead, one healthy -------------------------- */

static void test_two_destinations_one_dead(void **state)
{
    fx *f = *state;
    int port = tb_test_free_port();
    assert_true(port > 0);
    st_fx_parse(f,
                "[shipper]\nbackoff_base = 10ms\nbackoff_cap = 50ms\n"
                "[down]\ntype = webhook\nurl = http://127.0.0.1:%d/hook\nbatch_size = 10\n"
                "[hook]\ntype = webhook\nurl = %s/hook\nbatch_size = 10\n",
                port, f->srv.url);
    st_fx_put(f, 30, 40);
    for (int pass = 0; pass < 3; pass++) {
        tb_ship_report r = st_fx_ship(f);
        assert_int_equal(r.pending, 30);
        assert_int_equal(r.delivered, pass == 0 ? 30 : 0);
        st_fx_due_now(f);
    }
    st_arrivals a;
    st_arrivals_get(&f->srv, NULL, &a);
    st_assert_exact(&a, &f->recs, NULL);
    st_arrivals_free(&a);
    assert_caught_up(f, "hook", 30);
    assert_int_equal(st_fx_dest_int(f, "down", "cursor"), 0);
    assert_int_equal(st_fx_dest_int(f, "down", "delivered"), 0);
    assert_int_equal(st_fx_dest_int(f, "down", "attempts"), 3);
    assert_int_equal(pending_of(f, "down"), 30);
    char err[600];
    assert_true(st_db_text(f->db, err, sizeof err,
                           "SELECT last_error FROM destinations WHERE name = 'down'"));
    /* the healthy destination never cleared the other's backlog */
    assert_int_equal(st_db_int(f->db, "SELECT count(*) FROM records"), 30);
}

/* ---- max_size: refusals are counted, nothing else is lost ------------------- */

static void test_max_size_refused_full(void **state)
{
    fx *f = *state;
    fx_config(f, NULL, NULL);
    tb_outbox_options o = TB_OUTBOX_OPTIONS_INIT;
    o.durability = TB_DURABILITY_NORMAL;
    o.max_size = 160 * 1024;
    assert_int_equal(tb_outbox_open(&f->ob, f->db, &o), TB_OK);
    int64_t refused = 0;
    for (int i = 0; i < 3000 && refused < 10; i++) {
        char id[64];
        char *json = st_next_record_json(&f->recs, 600, id);
        tb_status st = tb_outbox_put_json(f->ob, json, (size_t)-1, NULL);
        free(json);
        if (st == TB_OK)
            st_recs_push(&f->recs, id);
        else if (st == TB_FULL)
            refused++;
        else
            fail_msg("put: %s: %s", tb_status_str(st), tb_outbox_errmsg(f->ob));
    }
    assert_int_equal(refused, 10);
    assert_true(f->recs.n > 20);
    tb_outbox_close(f->ob);
    f->ob = NULL;
    assert_int_equal(st_db_int(f->db, "SELECT value FROM counters WHERE name = 'refused_full'"),
                     refused);
    assert_int_equal(st_db_int(f->db, "SELECT count(*) FROM records"), (int64_t)f->recs.n);
    tb_ship_report r = st_fx_ship(f);
    assert_int_equal(r.delivered, (int64_t)f->recs.n);
    st_arrivals a;
    st_arrivals_get(&f->srv, NULL, &a);
    st_assert_exact(&a, &f->recs, NULL);
    st_arrivals_free(&a);
    print_message("max_size 160 KiB: %zu records stored, %lld refused and counted\n", f->recs.n,
                  (long long)refused);
}

/* ---- the thread shape: start, wake, stop ------------------------------------ */

static void test_thread_shape(void **state)
{
    fx *f = *state;
    fx_config(f, "poll_interval = 200ms", NULL);
    st_fx_put(f, 1, 40); /* the file exists before the shipper opens it */
    tb_shipper *sh = NULL;
    assert_int_equal(tb_shipper_start(&sh, f->db, f->cfg, NULL), TB_OK);
    assert_non_null(sh);
    for (int round = 0; round < 4; round++) {
        st_fx_put(f, 20, 40);
        tb_shipper_wake(sh);
    }
    size_t total = f->recs.n, got = 0;
    for (int tries = 0; tries < 1500 && got < total; tries++) {
        got = st_arrived_ids(&f->srv);
        if (got < total)
            st_nap_ms(10);
    }
    assert_int_equal(got, total);
    assert_int_equal(tb_shipper_stop(sh, 5000), TB_OK);
    st_arrivals a;
    st_arrivals_get(&f->srv, NULL, &a);
    st_assert_exact(&a, &f->recs, NULL);
    st_arrivals_free(&a);
    assert_caught_up(f, "hook", (int64_t)total);
    assert_int_equal(tb_shipper_stop(NULL, 0), TB_OK);
}

/* ---- the lease during a long resolution ---------------------------------------
 *
 * A 4xx makes the engine bisect a batch: up to 2n-1 sends, each up to
 * `timeout`, all under the lease taken once before the batch was read
 * (lease >= 2 x timeout + 10 s covers ONE send). When the bisection outlives
 * the lease, another shipper (an overlapping cron run) takes the lease over
 * and ships the same batch while the first keeps sending it.
 *
 * This test uses an in-process exporter ("probe") so it can act between two
 * sends of one bisection: on the second send it lets the lease run out (sets
 * lease_until in the past, which is what the clock does when the bisection
 * is slow) and runs a second tb_ship_once, standing for the other cron run.
 * Each id a destination accepted is counted. The contract (DESIGN.md: "two
 * overlapping cron runs never ship the same batch twice") says each id is
 * accepted once: the first shipper must notice that it lost the lease
 * (renew it before each send, stop when it is gone). */
static struct probe {
    const char *db;
    const tb_config *cfg;
    const char *bad_id;
    int calls;
    int nested;
    char (*accepted)[64];
    size_t n_accepted, cap;
} g_probe;

static tb_status probe_create(void **self, const tb_dest_config *cfg, char *err, size_t size)
{
    (void)cfg;
    (void)err;
    (void)size;
    *self = &g_probe;
    return TB_OK;
}

static const char *probe_id(const tb_record *r)
{
    return strcmp(r->kind, "span") == 0 ? r->span_id : r->trace_id;
}

static tb_status probe_send(void *self, const tb_record *recs, size_t n, tb_export_result *res)
{
    struct probe *p = self;
    p->calls++;
    if (p->calls == 2 && !p->nested) {
        p->nested = 1;
        /* the bisection has taken longer than the lease */
        st_db_exec(p->db, "UPDATE destinations SET lease_until = "
                          "'2000-01-01T00:00:00.000000+00:00' WHERE lease_owner IS NOT NULL");
        tb_ship_report r2;
        tb_status st = tb_ship_once(p->db, p->cfg, NULL, &r2);
        if (st != TB_OK)
            fail_msg("the second shipper: %s", tb_last_error());
    }
    bool bad = false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(probe_id(&recs[i]), p->bad_id) == 0)
            bad = true;
    if (bad) {
        res->outcome = TB_EXPORT_REFUSED;
        res->http_status = 400;
        snprintf(res->message, sizeof res->message, "HTTP 400: bad record %s", p->bad_id);
        return TB_OK;
    }
    for (size_t i = 0; i < n; i++) {
        if (p->n_accepted == p->cap) {
            p->cap = p->cap ? p->cap * 2 : 64;
            p->accepted = realloc(p->accepted, p->cap * sizeof *p->accepted);
            assert_non_null(p->accepted);
        }
        snprintf(p->accepted[p->n_accepted++], 64, "%s", probe_id(&recs[i]));
    }
    res->outcome = TB_EXPORT_DELIVERED;
    res->http_status = 200;
    return TB_OK;
}

static void probe_destroy(void *self)
{
    (void)self;
}

static const tb_exporter_vtable probe_vtable = {
    .version = TB_EXPORTER_VERSION,
    .type = "probe",
    .keys = NULL,
    .create = probe_create,
    .send = probe_send,
    .flush = NULL,
    .destroy = probe_destroy,
};

static void test_lease_lost_during_bisection(void **state)
{
    fx *f = *state;
    assert_int_equal(tb_exporter_register(&probe_vtable), TB_OK);
    st_fx_parse(f, "[shipper]\nbackoff_base = 10ms\nbackoff_cap = 50ms\n"
                   "[hook]\ntype = probe\nbatch_size = 10\ntimeout = 1s\n");
    st_fx_put(f, 10, 40);
    memset(&g_probe, 0, sizeof g_probe);
    g_probe.db = f->db;
    g_probe.cfg = f->cfg;
    g_probe.bad_id = f->recs.ids[3];
    tb_ship_report r = st_fx_ship(f);
    (void)r;
    st_arrivals a;
    memset(&a, 0, sizeof a);
    a.ids = g_probe.accepted;
    a.n = g_probe.n_accepted;
    size_t distinct, dups, max_per;
    st_count_arrivals(&a, &f->recs, &distinct, &dups, &max_per);
    print_message("lease lost mid-bisection: %d sends, %zu ids accepted, %zu duplicates\n",
                  g_probe.calls, a.n, dups);
    free(g_probe.accepted);
    memset(&g_probe, 0, sizeof g_probe);
    assert_int_equal(distinct, 9);
    assert_int_equal(st_db_int(f->db, "SELECT count(*) FROM dead_letters"), 1);
    if (dups != 0)
        fail_msg("%zu records were accepted twice: the first shipper kept bisecting after its "
                 "lease was taken over (shipper.c resolve() never renews or checks the lease)",
                 dups);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ST_FX_TEST(test_all_delivered_in_order),
        ST_FX_TEST(test_5xx_then_ok),
        ST_FX_TEST(test_429_retry_after),
        ST_FX_TEST(test_backoff_grows_capped_jittered),
        ST_FX_TEST(test_401_auth),
        ST_FX_TEST(test_413_split),
        ST_FX_TEST(test_reject_ids),
        ST_FX_TEST(test_reset_then_delivered),
        ST_FX_TEST(test_stall_timeout),
        ST_FX_TEST(test_server_down_then_up),
        ST_FX_TEST(test_max_age_expired),
        ST_FX_TEST(test_start_latest),
        ST_FX_TEST(test_requeue_dead_cli),
        ST_FX_TEST(test_two_destinations_one_dead),
        ST_FX_TEST(test_max_size_refused_full),
        ST_FX_TEST(test_thread_shape),
        ST_FX_TEST(test_lease_lost_during_bisection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
