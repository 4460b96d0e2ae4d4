/*
 * test_status_figures.c — outbox_status computes pending and the oldest
 * pending age with arithmetic over seq (schema/003_status.sql) instead of
 * counting the pending view. Its figures must stay the ones the pending
 * view gives, whatever happened to the file:
 *
 *   - random rounds of: new records, the same records put again (a
 *     duplicate is stored once and takes no seq), destinations registered at the oldest
 *     record or at the latest, cursors advanced, dead letters above and
 *     below cursors, requeues, purges of what every destination delivered,
 *     and deletes made by hand in the middle of the backlog (what an
 *     operator can do in the sqlite3 shell); after each round every
 *     destination's pending and oldest_pending_age equal the count and the
 *     max(age) of its rows in the pending view, and the number of records
 *     tb_admin_figures_get() gives is count(*);
 *   - a file made before the migration (with holes in it) gets a floor
 *     that keeps the figures right.
 */
#include "fixture.h"

static void compare(const char *db, int round)
{
    sqlite3 *h = st_db_open(db);
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(
        h,
        "SELECT o.destination, o.pending, coalesce(o.oldest_pending_age, -1), "
        "(SELECT count(*) FROM pending p WHERE p.destination = o.destination), "
        "coalesce((SELECT max(p.age) FROM pending p WHERE p.destination = o.destination), -1) "
        "FROM outbox_status o",
        -1, &s, NULL);
    if (rc != SQLITE_OK)
        fail_msg("prepare: %s", sqlite3_errmsg(h));
    int rows = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        rows++;
        const char *name = (const char *)sqlite3_column_text(s, 0);
        int64_t fast = sqlite3_column_int64(s, 1), slow = sqlite3_column_int64(s, 3);
        int64_t fast_age = sqlite3_column_int64(s, 2), slow_age = sqlite3_column_int64(s, 4);
        if (fast != slow)
            fail_msg("round %d, [%s]: outbox_status says %lld pending, the pending view %lld",
                     round, name, (long long)fast, (long long)slow);
        /* the same second or the next one (now is read twice) */
        if (fast_age < slow_age - 1 || fast_age > slow_age + 1 || (fast_age < 0) != (slow_age < 0))
            fail_msg("round %d, [%s]: oldest age %lld, the pending view %lld", round, name,
                     (long long)fast_age, (long long)slow_age);
    }
    assert_int_equal(rc, SQLITE_DONE);
    sqlite3_finalize(s);
    sqlite3_close(h);
    (void)rows;
    tb_admin *a = NULL;
    assert_int_equal(tb_admin_open(&a, db, TB_ADMIN_READONLY), TB_OK);
    tb_admin_figures f;
    assert_int_equal(tb_admin_figures_get(a, &f), TB_OK);
    tb_admin_close(a);
    int64_t count = st_db_int(db, "SELECT count(*) FROM records");
    if (f.records != count)
        fail_msg("round %d: %lld records said, %lld in the table", round, (long long)f.records,
                 (long long)count);
}

static int64_t max_seq(const char *db)
{
    return st_db_int(db, "SELECT coalesce(max(seq), 0) FROM records");
}

static void test_random_history(void **state)
{
    (void)state;
    st_rng_seed("status figures");
    char dir[256], db[300];
    st_dir_make(dir, sizeof dir);
    snprintf(db, sizeof db, "%s/o.db", dir);
    tb_outbox *ob = NULL;
    tb_outbox_options o = TB_OUTBOX_OPTIONS_INIT;
    o.durability = TB_DURABILITY_NORMAL;
    assert_int_equal(tb_outbox_open(&ob, db, &o), TB_OK);
    st_recs recs = {0};
    int n_dest = 0;
    for (int round = 0; round < 120; round++) {
        unsigned op = st_rnd_below(10);
        int64_t top = max_seq(db);
        char name[32];
        snprintf(name, sizeof name, "d%u", st_rnd_below((unsigned)n_dest + 1));
        switch (op) {
        case 0:
        case 1: /* new records */
            st_recs_put(ob, &recs, st_rnd_between(1, 40), 10);
            break;
        case 2: /* a destination: from the oldest record, or the latest */
            if (n_dest < 6) {
                snprintf(name, sizeof name, "d%d", n_dest++);
                st_db_exec(db,
                           "INSERT INTO destinations (name, type, cursor, created_at) "
                           "VALUES ('%s', 'webhook', %s, '2026-01-01T00:00:00Z')",
                           name,
                           st_rnd_below(2) ? "0" : "(SELECT coalesce(max(seq), 0) FROM records)");
            }
            break;
        case 3: /* a cursor moves forward */
            st_db_exec(db,
                       "UPDATE destinations SET cursor = min(%lld, cursor + %zu) WHERE name = '%s'",
                       (long long)top, st_rnd_between(1, 60), name);
            break;
        case 4: /* dead letters, above or below the cursor */
            for (int i = 0; i < 5; i++)
                st_db_exec(db,
                           "INSERT OR IGNORE INTO dead_letters (destination, seq, reason, time) "
                           "SELECT '%s', seq, 'test', 't' FROM records ORDER BY random() LIMIT 1",
                           name);
            break;
        case 5: /* a requeue: dead letters below the cursor back in line */
            st_db_exec(db,
                       "INSERT OR IGNORE INTO requeued (destination, seq) SELECT x.destination, "
                       "x.seq FROM dead_letters x JOIN destinations d ON d.name = x.destination "
                       "WHERE x.seq <= d.cursor AND x.destination = '%s';"
                       "DELETE FROM dead_letters WHERE destination = '%s' AND seq IN "
                       "(SELECT seq FROM requeued WHERE destination = '%s')",
                       name, name, name);
            break;
        case 6: { /* purge what every destination delivered */
            tb_admin *a = NULL;
            assert_int_equal(tb_admin_open(&a, db, 0), TB_OK);
            int64_t deleted = 0;
            assert_int_equal(tb_admin_purge(a, NULL, 0, &deleted), TB_OK);
            tb_admin_close(a);
            break;
        }
        case 7: /* a delete by hand, anywhere */
            st_db_exec(
                db,
                "DELETE FROM records WHERE seq IN (SELECT seq FROM records "
                "WHERE seq NOT IN (SELECT seq FROM dead_letters) ORDER BY random() LIMIT %zu)",
                st_rnd_between(1, 3));
            break;
        case 9: { /* records put again: stored once, no seq taken */
            int64_t before = st_db_int(db, "SELECT count(*) FROM records");
            for (size_t i = st_rnd_between(1, 4); i > 0 && before > 0; i--) {
                char *body = st_db_dup(db, "SELECT body FROM records ORDER BY random() LIMIT 1");
                st_put_json(ob, body);
                free(body);
            }
            assert_int_equal(st_db_int(db, "SELECT count(*) FROM records"), before);
            break;
        }
        case 8: /* a delivered requeue leaves the line */
            st_db_exec(db,
                       "DELETE FROM requeued WHERE destination = '%s' AND seq IN (SELECT seq "
                       "FROM requeued WHERE destination = '%s' ORDER BY random() LIMIT 2)",
                       name, name);
            break;
        }
        compare(db, round);
    }
    tb_outbox_close(ob);
    st_recs_free(&recs);
    st_dir_remove(dir);
}

/* A file of schema version 2 with holes (records deleted by hand before
 * the migration) is migrated; its floor keeps every figure right. */
static void test_migrated_file_with_holes(void **state)
{
    (void)state;
    char dir[256], db[300];
    st_dir_make(dir, sizeof dir);
    snprintf(db, sizeof db, "%s/o.db", dir);
    st_recs recs = {0};
    st_populate(db, &recs, 50, 10, TB_DURABILITY_NORMAL);
    st_db_exec(db, "INSERT INTO destinations (name, type, cursor, created_at) VALUES "
                   "('a', 'webhook', 0, 't'), ('b', 'webhook', 30, 't')");
    /* back to version 2: no floor, no trigger; then holes at 10..12 and 40 */
    st_db_exec(db, "DROP TRIGGER records_deleted_count; DROP TABLE records_deleted; "
                   "DROP VIEW outbox_status; PRAGMA user_version = 2");
    st_db_exec(db, "DELETE FROM records WHERE seq IN (10, 11, 12, 40)");
    /* and two seqs handed out to no record after the last one (ignored
     * duplicates were the last writes, as the writer before 003 left them) */
    st_db_exec(db, "UPDATE sqlite_sequence SET seq = seq + 2 WHERE name = 'records'");
    tb_outbox *ob = NULL;
    assert_int_equal(tb_outbox_open(&ob, db, NULL), TB_OK);
    assert_int_equal(st_db_int(db, "SELECT max_seq FROM records_deleted"), 52);
    compare(db, 0);
    assert_int_equal(st_db_int(db, "SELECT pending FROM outbox_status WHERE destination = 'a'"),
                     46);
    assert_int_equal(st_db_int(db, "SELECT pending FROM outbox_status WHERE destination = 'b'"),
                     19);
    st_recs_put(ob, &recs, 5, 10);
    compare(db, 1);
    tb_outbox_close(ob);
    st_recs_free(&recs);
    st_dir_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_history),
        cmocka_unit_test(test_migrated_file_with_holes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
