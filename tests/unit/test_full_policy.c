/*
 * test_full_policy.c — max_size with full_policy = purge_delivered: at the
 * cap the oldest records every destination has delivered make room (and
 * are counted in counters.evicted_delivered); records still pending, and
 * records a dead letter points to, are never evicted, so once only they
 * remain, puts are refused with TB_FULL.
 */
#include "fixture.h"

static char *span_json(int i)
{
    char pad[1025];
    memset(pad, 'x', sizeof pad - 1);
    pad[sizeof pad - 1] = '\0';
    char *j = malloc(2048);
    snprintf(
        j, 2048,
        "{\"object\":\"trace.span\",\"id\":\"span_%024d\",\"trace_id\":"
        "\"trace_0123456789abcdef0123456789abcdef\",\"parent_id\":null,\"started_at\":"
        "\"2026-01-01T00:00:00.000001+00:00\",\"ended_at\":\"2026-01-01T00:00:01.000001+00:00\","
        "\"span_data\":{\"type\":\"custom\",\"name\":\"n\",\"data\":{\"pad\":\"%s\"}},"
        "\"error\":null}",
        i, pad);
    return j;
}

static void test_purge_delivered_makes_room(void **state)
{
    const char *db = ((st_fx *)*state)->db;
    tb_outbox_options o = TB_OUTBOX_OPTIONS_INIT;
    o.max_size = 256 * 1024;
    o.full_policy = TB_FULL_PURGE_DELIVERED;
    tb_outbox *ob = NULL;
    assert_int_equal(tb_outbox_open(&ob, db, &o), TB_OK);

    /* fill to the cap: nothing is delivered yet, so the cap refuses */
    int i = 0, refused = 0;
    for (; i < 2000 && refused == 0; i++) {
        char *j = span_json(i);
        tb_status st = tb_outbox_put_json(ob, j, (size_t)-1, NULL);
        free(j);
        if (st == TB_FULL)
            refused++;
        else
            assert_int_equal(st, TB_OK);
    }
    assert_int_equal(refused, 1);
    int64_t stored = st_db_int(db, "SELECT count(*) FROM records");
    assert_true(stored > 50);

    /* one destination has delivered everything: room is made from the
     * oldest — except the record a dead letter points to (the first one) */
    st_db_exec(db, "INSERT INTO destinations (name, type, cursor, created_at) VALUES ('d', "
                   "'file', (SELECT max(seq) FROM records), '2026-01-01T00:00:00Z')");
    st_db_exec(db, "INSERT INTO dead_letters (destination, seq, reason, http_status, time) "
                   "VALUES ('d', 1, 'HTTP 400', 400, '2026-01-01T00:00:00Z')");
    int64_t first_new_seq = st_db_int(db, "SELECT max(seq) FROM records") + 1;
    for (int k = 0; k < 40; k++, i++) {
        char *j = span_json(i);
        assert_int_equal(tb_outbox_put_json(ob, j, (size_t)-1, NULL), TB_OK);
        free(j);
    }
    int64_t evicted = st_db_int(db, "SELECT value FROM counters WHERE name = 'evicted_delivered'");
    assert_true(evicted > 0);
    /* what was evicted is the oldest, and all of it had been delivered;
     * the dead-lettered record stays */
    assert_int_equal(st_db_int(db, "SELECT count(*) FROM records WHERE seq = 1"), 1);
    assert_int_equal(st_db_int(db, "SELECT min(seq) FROM records WHERE seq > 1"), evicted + 2);
    assert_int_equal(
        st_db_int(db, "SELECT count(*) FROM records WHERE seq >= %lld", (long long)first_new_seq),
        40);

    /* now only pending records remain past the cursor: they are never evicted */
    int64_t pending_before = st_db_int(db, "SELECT count(*) FROM pending");
    refused = 0;
    for (int k = 0; k < 2000 && refused == 0; k++, i++) {
        char *j = span_json(i);
        tb_status st = tb_outbox_put_json(ob, j, (size_t)-1, NULL);
        free(j);
        if (st == TB_FULL)
            refused++;
    }
    assert_int_equal(refused, 1);
    assert_true(st_db_int(db, "SELECT count(*) FROM pending") >= pending_before);
    assert_int_equal(st_db_int(db, "SELECT count(*) FROM records WHERE seq > (SELECT cursor "
                                   "FROM destinations)"),
                     st_db_int(db, "SELECT count(*) FROM pending"));
    assert_true(st_db_int(db, "SELECT value FROM counters WHERE name = 'refused_full'") >= 2);
    tb_outbox_close(ob);
    st_db_integrity(db, "at the end");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ST_FX_OFFLINE_TEST(test_purge_delivered_makes_room),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
