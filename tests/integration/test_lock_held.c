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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_async_survives_a_held_lock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
