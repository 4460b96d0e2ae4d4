/*
 * test_lock_held.c — an operator's sqlite3 shell holds the outbox's write
 * lock (BEGIN IMMEDIATE) for much longer than busy_timeout while an
 * application writes in `async` mode. Records the library acknowledged are
 * never lost: the writer keeps them queued and tries again; flush reports
 * a timeout instead of success while the lock holds; once the shell
 * commits, every record is in the file and nothing was counted as dropped.
 *
 * The shell is the real `sqlite3` command. It holds the lock until the test
 * creates a file (no sleep decides anything): it touches `locked` once the
 * transaction is open and waits for `release`.
 */
#include "fixture.h"

#include <sys/wait.h>

static pid_t hold_lock(const char *dir, const char *db)
{
    char script[2048];
    snprintf(script, sizeof script,
             "printf 'BEGIN IMMEDIATE;\\nINSERT INTO counters (name, value) VALUES (%s, 0);\\n"
             ".shell touch %s/locked\\n"
             ".shell sh -c \"while [ ! -e %s/release ]; do sleep 0.02; done\"\\nCOMMIT;\\n' | "
             "sqlite3 %s",
             "'\\''shell'\\''", dir, dir, db);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", script, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static void test_async_survives_a_held_lock(void **state)
{
    (void)state;
    char dir[512], db[600], path[700];
    st_dir_make(dir, sizeof dir);
    snprintf(db, sizeof db, "%s/lock.db", dir);
    tb_outbox_options o = TB_OUTBOX_OPTIONS_INIT;
    o.durability = TB_DURABILITY_ASYNC;
    o.busy_timeout_ms = 100;
    tb_outbox *ob = NULL;
    assert_int_equal(tb_outbox_open(&ob, db, &o), TB_OK);

    pid_t shell = hold_lock(dir, db);
    snprintf(path, sizeof path, "%s/locked", dir);
    for (int i = 0; i < 2000 && !st_file_exists(path); i++)
        st_nap_ms(5);
    assert_true(st_file_exists(path));

    /* 50 records while the file is locked: each acknowledged */
    st_recs recs;
    memset(&recs, 0, sizeof recs);
    for (int i = 0; i < 50; i++) {
        char id[64];
        char *json = st_next_record_json(&recs, 20, id);
        assert_int_equal(tb_outbox_put_json(ob, json, (size_t)-1, NULL), TB_OK);
        free(json);
    }
    /* several busy timeouts pass: nothing may claim they are written */
    assert_int_equal(tb_outbox_flush(ob, 1000), TB_TIMEOUT);

    snprintf(path, sizeof path, "%s/release", dir);
    st_write_file(path, "");
    int ws = 0;
    assert_int_equal(waitpid(shell, &ws, 0), shell);
    assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);

    assert_int_equal(tb_outbox_flush(ob, 20000), TB_OK);
    tb_outbox_close(ob);
    assert_int_equal(st_db_int(db, "SELECT count(*) FROM records"), 50);
    assert_int_equal(st_db_int(db, "SELECT value FROM counters WHERE name = 'dropped_queue'"), 0);
    /* the shell's own transaction went through too */
    assert_int_equal(st_db_int(db, "SELECT count(*) FROM counters WHERE name = 'shell'"), 1);
    st_recs_free(&recs);
    st_dir_remove(dir);
}

/* A read transaction left open in the shell grows the WAL (no checkpoint
 * can pass it): status --check --max-wal says so (CRITICAL); once the
 * reader is gone, a shipper pass that has nothing to ship truncates the
 * WAL, and the check is OK again. */
static pid_t hold_snapshot(const char *dir, const char *db)
{
    char script[2048];
    snprintf(script, sizeof script,
             "printf 'BEGIN;\nSELECT count(*) FROM records;\n.shell touch %s/reading\n"
             ".shell sh -c \"while [ ! -e %s/done ]; do sleep 0.02; done\"\nCOMMIT;\n' | "
             "sqlite3 %s > /dev/null",
             dir, dir, db);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", script, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static int check_wal(const char *dir, const char *db, const char *ini, char *out, size_t size)
{
    char o[700], e[700];
    snprintf(o, sizeof o, "%s/check.out", dir);
    snprintf(e, sizeof e, "%s/check.err", dir);
    const char *args[] = {"--db",    db,          "--config", ini, "status",
                          "--check", "--max-wal", "1MiB",     NULL};
    int rc = st_run_cli(dir, o, e, 60000, args);
    char *text = st_read_file(o, NULL);
    snprintf(out, size, "%s", text ? text : "");
    free(text);
    return rc;
}

static void ship_once(const char *dir, const char *db, const char *ini)
{
    char o[700], e[700];
    snprintf(o, sizeof o, "%s/ship.out", dir);
    snprintf(e, sizeof e, "%s/ship.err", dir);
    const char *args[] = {"--db", db, "--config", ini, "ship", "--once", NULL};
    assert_int_equal(st_run_cli(dir, o, e, 60000, args), 0);
}

static void test_wal_under_a_long_reader(void **state)
{
    (void)state;
    char dir[512], db[600], ini[600], path[700], out[1024];
    st_dir_make(dir, sizeof dir);
    snprintf(db, sizeof db, "%s/wal.db", dir);
    snprintf(ini, sizeof ini, "%s/tracebox.ini", dir);
    snprintf(path, sizeof path, "[jsonl]\ntype = file\npath = %s/out.jsonl\n", dir);
    st_write_file(ini, path);
    tb_outbox *ob = NULL;
    tb_outbox_options o = TB_OUTBOX_OPTIONS_INIT;
    o.durability = TB_DURABILITY_NORMAL;
    assert_int_equal(tb_outbox_open(&ob, db, &o), TB_OK);
    st_recs recs;
    memset(&recs, 0, sizeof recs);
    st_recs_put(ob, &recs, 10, 100);

    pid_t reader = hold_snapshot(dir, db);
    snprintf(path, sizeof path, "%s/reading", dir);
    for (int i = 0; i < 2000 && !st_file_exists(path); i++)
        st_nap_ms(5);
    assert_true(st_file_exists(path));
    st_recs_put(ob, &recs, 3000, 2000); /* about 6 MiB the reader holds in the WAL */
    /* the application keeps its outbox open (so no process's close is the
     * last one, which would checkpoint and delete the WAL by itself) */
    assert_int_equal(check_wal(dir, db, ini, out, sizeof out), 2);
    assert_non_null(strstr(out, "CRITICAL: the WAL is"));

    snprintf(path, sizeof path, "%s/done", dir);
    st_write_file(path, "");
    int ws = 0;
    assert_int_equal(waitpid(reader, &ws, 0), reader);
    ship_once(dir, db, ini); /* delivers everything */
    ship_once(dir, db, ini); /* nothing to ship: gives the WAL back */
    assert_int_equal(check_wal(dir, db, ini, out, sizeof out), 0);
    assert_non_null(strstr(out, "OK: "));
    tb_outbox_close(ob);
    st_recs_free(&recs);
    st_dir_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_async_survives_a_held_lock),
        cmocka_unit_test(test_wal_under_a_long_reader),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
