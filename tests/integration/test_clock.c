/*
 * test_clock.c — wall-clock times in the file (next_attempt_at,
 * lease_until) against clock steps, and Retry-After against a server that
 * asks for a year.
 *
 *   - a backoff and a lease written while the clock was two hours ahead
 *     (then stepped back): the next ship delivers at once instead of being
 *     parked for two hours;
 *   - Retry-After: 31536000 (a year) waits an hour, the documented cap.
 */
#include "fixture.h"

typedef st_fx fx;

#define TWO_HOURS_AHEAD "strftime('%%Y-%%m-%%dT%%H:%%M:%%f000+00:00', 'now', '+2 hours')"

static void test_clock_stepped_back(void **state)
{
    fx *f = *state;
    st_fx_parse(f, "[shipper]\nbackoff_cap = 1m\n\n[hook]\ntype = webhook\nurl = %s/hook\n",
                f->srv.url);
    st_fx_put(f, 10, 20);
    assert_int_equal(st_fx_ship(f).delivered, 10);
    st_fx_put(f, 10, 20);
    /* a 1 s backoff and a lease, both written under a clock two hours
     * ahead by a shipper that was then killed */
    st_db_exec(f->db, "UPDATE destinations SET attempts = 1, next_attempt_at = " TWO_HOURS_AHEAD
                      ", lease_owner = 'gone:1:dead', lease_until = " TWO_HOURS_AHEAD);
    tb_ship_report r = st_fx_ship(f);
    assert_int_equal(r.delivered, 10);
    assert_int_equal(st_db_int(f->db, "SELECT count(*) FROM pending"), 0);
    assert_int_equal(
        st_db_int(f->db, "SELECT count(*) FROM destinations WHERE lease_owner IS NOT NULL"), 0);
}

static void test_retry_after_capped(void **state)
{
    fx *f = *state;
    st_fx_parse(f,
                "[shipper]\nbackoff_base = 10ms\nbackoff_cap = 1m\n\n"
                "[hook]\ntype = webhook\nurl = %s/hook\n",
                f->srv.url);
    st_fx_put(f, 5, 20);
    st_fx_control(f, "{\"mode\":\"status\",\"code\":503,\"retry_after\":\"31536000\"}");
    tb_ship_report r = st_fx_ship(f);
    assert_int_equal(r.delivered, 0);
    /* minutes until the next attempt: the hour of the cap, not a year */
    int64_t minutes = st_db_int(f->db, "SELECT CAST(round((julianday(next_attempt_at) - "
                                       "julianday('now')) * 1440) AS INTEGER) FROM destinations");
    print_message("Retry-After 31536000: next attempt in %lld minutes\n", (long long)minutes);
    assert_true(minutes >= 59 && minutes <= 60);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ST_FX_TEST(test_clock_stepped_back),
        ST_FX_TEST(test_retry_after_capped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
