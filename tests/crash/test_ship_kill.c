/*
 * test_ship_kill.c — the shipper killed with SIGKILL at random points, and
 * two shippers racing for one destination.
 *
 * test_sigkill_at_random_points: a populated outbox (2000 records), a
 * loopback server in mode "ok" that records every arrival, and a loop that
 * spawns `$TB_CLI ship --once` (batch_size 50) and SIGKILLs it either after
 * a random number of server-side arrivals (polling /_count) or after a
 * random short delay drawn from the RNG (a kill point, not a
 * synchronisation). After the loop one `ship --once` runs to completion.
 * Asserted: every record arrived at least once; duplicates <=
 * batch_size x kills; PRAGMA integrity_check = ok; nothing pending.
 *
 * The lease of a killed shipper: `[shipper] lease = 1s` and `timeout = 1s`
 * are set, but the engine raises every lease to at least 2 x timeout + 10 s
 * (12 s here) so that a slow export never outlives its lease. Waiting 12 s
 * per kill is too slow for this test, so after each kill the test expires
 * the lease itself (`UPDATE destinations SET lease_until = <the past>`),
 * exactly what the clock would do 12 s later.
 *
 * The seed is printed; TB_SEED=<n> replays a run.
 *
 * test_concurrent_ship_once: two `ship --once` processes on one file and a
 * server that stalls 200 ms per request: the lease keeps them from shipping
 * the same batch, so every record id arrives exactly once.
 */
#include "fixture.h"

typedef st_fx fx;

static void write_ini(fx *f, int batch_size)
{
    st_fx_write_ini(f,
                    "[shipper]\nlease = 1s\nbackoff_base = 10ms\nbackoff_cap = 50ms\n\n"
                    "[hook]\ntype = webhook\nurl = %s/hook\nbatch_size = %d\ntimeout = 1s\n",
                    f->srv.url, batch_size);
}

/* A killed shipper's lease runs out (see the top comment). */
static void expire_lease(fx *f)
{
    st_db_exec(f->db, "UPDATE destinations SET lease_until = '2000-01-01T00:00:00.000000+00:00' "
                      "WHERE lease_owner IS NOT NULL");
}

static pid_t spawn_ship(fx *f, const char *out, const char *err)
{
    const char *args[] = {"--db", f->db, "--config", f->ini, "ship", "--once", NULL};
    return st_spawn(f->dir, out, err, args);
}

#define BATCH 50

static void test_sigkill_at_random_points(void **state)
{
    fx *f = *state;
    st_rng_seed("ship kill");
    write_ini(f, BATCH);
    st_populate(f->db, &f->recs, 2000, 40, TB_DURABILITY_NORMAL);

    const int want_kills = 120;
    const int64_t budget_ms = 45000;
    int64_t t0 = st_mono_ms();
    int kills = 0, by_arrival = 0, by_delay = 0, natural = 0, iterations = 0;
    while (kills < want_kills && iterations < 200 && st_mono_ms() - t0 < budget_ms) {
        iterations++;
        long base = tb_test_server_count(&f->srv);
        assert_true(base >= 0);
        pid_t pid = spawn_ship(f, f->out, f->err);
        bool exited = false;
        int status = 0;
        if (st_rnd_below(3) == 0) {
            /* a random instant: startup, mid-request, mid-commit, … */
            st_nap_ms((long)st_rnd_below(30));
            by_delay++;
        } else {
            /* after 1..3 more requests reached the server */
            long target = base + 1 + (long)st_rnd_below(3);
            for (int tries = 0; tries < 5000; tries++) {
                if (tb_test_server_count(&f->srv) >= target)
                    break;
                if (waitpid(pid, &status, WNOHANG) == pid) {
                    exited = true;
                    break;
                }
                st_nap_ms(1);
            }
            by_arrival++;
        }
        if (!exited && waitpid(pid, &status, WNOHANG) == pid)
            exited = true;
        if (!exited) {
            if (st_kill_reap(pid, &status))
                kills++;
            else
                exited = true; /* it finished just before the signal */
        }
        if (exited) {
            natural++;
            if (!WIFEXITED(status) || (WEXITSTATUS(status) != 0 && WEXITSTATUS(status) != 75))
                fail_msg("ship --once ended with status 0x%x: %s", status,
                         st_read_file(f->err, NULL));
            /* drained: give the next shippers something to do */
            if (st_db_int(f->db, "SELECT count(*) FROM pending") == 0)
                st_populate(f->db, &f->recs, 400, 40, TB_DURABILITY_NORMAL);
        }
        expire_lease(f);
    }
    int64_t loop_ms = st_mono_ms() - t0;

    /* the last shipper runs to completion */
    st_arrivals a;
    size_t distinct, dups, max_per;
    st_fx_final_ship(f, &a, &distinct, &dups, &max_per);
    print_message("%d iterations in %lld ms: %d SIGKILLs (%d after arrivals, %d at random "
                  "delays; %d runs ended on their own); %zu records, %zu arrivals in %zu "
                  "requests, %zu duplicates (bound %d), at most %zu arrivals of one id\n",
                  iterations, (long long)loop_ms, kills, by_arrival, by_delay, natural, f->recs.n,
                  a.n, a.requests, dups, BATCH * kills, max_per);
    st_arrivals_free(&a);
    assert_true(kills >= 30);
    assert_int_equal(distinct, f->recs.n); /* every record arrived */
    assert_true(dups <= (size_t)BATCH * (size_t)kills);

    st_db_integrity(f->db, "after the kills");
    assert_int_equal(st_db_int(f->db, "SELECT count(*) FROM pending"), 0);
    assert_int_equal(st_db_int(f->db, "SELECT count(*) FROM dead_letters"), 0);
    assert_int_equal(st_db_int(f->db, "SELECT cursor FROM destinations WHERE name = 'hook'"),
                     st_db_int(f->db, "SELECT max(seq) FROM records"));
    assert_int_equal(st_db_int(f->db, "SELECT count(*) FROM records"), (int64_t)f->recs.n);
}

static void test_concurrent_ship_once(void **state)
{
    fx *f = *state;
    st_rng_set((uint64_t)tb__now_us() | 1);
    write_ini(f, 20);
    assert_int_equal(tb_test_server_control(&f->srv, "{\"mode\":\"stall\",\"seconds\":0.2}"), 0);
    char out2[400], err2[400];
    snprintf(out2, sizeof out2, "%s/ship2.out", f->dir);
    snprintf(err2, sizeof err2, "%s/ship2.err", f->dir);
    for (int round = 0; round < 3; round++) {
        st_populate(f->db, &f->recs, 100, 40, TB_DURABILITY_NORMAL);
        pid_t a = spawn_ship(f, f->out, f->err);
        if (round > 0) /* staggered starts: the second arrives mid-run */
            st_nap_ms((long)st_rnd_below(150));
        pid_t b = spawn_ship(f, out2, err2);
        int sa = st_wait(a, 60000), sb = st_wait(b, 60000);
        assert_true(sa != -1 && sb != -1);
        assert_true(WIFEXITED(sa) && WIFEXITED(sb));
        int ca = WEXITSTATUS(sa), cb = WEXITSTATUS(sb);
        if ((ca != 0 && ca != 75) || (cb != 0 && cb != 75) || (ca != 0 && cb != 0))
            fail_msg("round %d: exit codes %d and %d (one must drain everything)", round, ca, cb);
        assert_int_equal(st_db_int(f->db, "SELECT count(*) FROM pending"), 0);
    }
    st_arrivals arr;
    st_arrivals_get(&f->srv, NULL, &arr);
    size_t distinct, dups, max_per;
    st_count_arrivals(&arr, &f->recs, &distinct, &dups, &max_per);
    print_message("concurrent: %zu records, %zu arrivals in %zu requests, %zu duplicates\n",
                  f->recs.n, arr.n, arr.requests, dups);
    st_assert_exact(&arr, &f->recs, NULL); /* every id exactly once, in order */
    st_arrivals_free(&arr);
    st_db_integrity(f->db, "after the concurrent runs");
    assert_int_equal(st_db_int(f->db, "SELECT count(*) FROM destinations WHERE lease_owner IS "
                                      "NOT NULL"),
                     0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ST_FX_TEST(test_sigkill_at_random_points),
        ST_FX_TEST(test_concurrent_ship_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
