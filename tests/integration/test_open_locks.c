/*
 * test_open_locks.c — opening the outbox file a second time in the same
 * process (an admin handle beside the application's outbox, the shipper,
 * `tracebox serve` answering /metrics) must not take the first
 * connection's locks away.
 *
 * POSIX fcntl locks belong to the process: closing any descriptor of a
 * file drops all of them. tracebox once read the file's header with its
 * own open() + close() before every open, so after an admin handle came
 * and went the outbox's connection held no lock; another process (an
 * operator's sqlite3 shell) then saw itself as the last connection,
 * checkpointed and deleted the WAL the outbox kept writing to, and what
 * was committed after that was lost at a SIGKILL although every put had
 * returned TB_OK (found by a hostile test pass on `tracebox serve`).
 *
 * The test plays that: a child process opens the outbox (full), puts A,
 * opens and closes an admin handle (read-only) and an admin handle for
 * writing, then tells the parent; the parent opens the file with SQLite,
 * reads, and closes (a second process's connection, as the shell's); the
 * child puts B and C (each returns after its commit) and says so; the
 * parent SIGKILLs it and opens the file: A, B and C must be there.
 */
#include "fixture.h"

static void say(int fd, char c)
{
    assert_int_equal(write(fd, &c, 1), 1);
}

static char hear(int fd)
{
    char c = 0;
    ssize_t n;
    while ((n = read(fd, &c, 1)) < 0 && errno == EINTR) {
    }
    return n == 1 ? c : 0;
}

static void child(const char *db, int up, int down)
{
    tb_outbox *ob = NULL;
    if (tb_outbox_open(&ob, db, NULL) != TB_OK)
        _exit(10);
    if (tb_outbox_put_json(ob, "{\"object\":\"trace\",\"id\":\"trace_a\"}", (size_t)-1, NULL))
        _exit(11);
    for (int i = 0; i < 2; i++) {
        tb_admin *a = NULL;
        if (tb_admin_open(&a, db, i ? 0 : TB_ADMIN_READONLY) != TB_OK)
            _exit(12);
        tb_admin_figures f;
        if (tb_admin_figures_get(a, &f) != TB_OK)
            _exit(13);
        tb_admin_close(a);
    }
    say(up, 'r');
    if (hear(down) != 'g')
        _exit(14);
    if (tb_outbox_put_json(ob, "{\"object\":\"trace\",\"id\":\"trace_b\"}", (size_t)-1, NULL) ||
        tb_outbox_put_json(ob, "{\"object\":\"trace\",\"id\":\"trace_c\"}", (size_t)-1, NULL))
        _exit(15);
    say(up, 'd');
    for (;;)
        pause(); /* killed here, the outbox still open */
}

static void test_second_open_keeps_locks(void **state)
{
    st_fx *f = *state;
    int up[2], down[2];
    assert_int_equal(pipe(up), 0);
    assert_int_equal(pipe(down), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(up[0]);
        close(down[1]);
        child(f->db, up[1], down[0]);
    }
    close(up[1]);
    close(down[0]);
    assert_int_equal(hear(up[0]), 'r');
    /* another process's connection comes and goes, as a shell's would */
    assert_int_equal(st_db_int(f->db, "SELECT count(*) FROM records"), 1);
    say(down[1], 'g');
    char c = hear(up[0]);
    if (c != 'd') {
        int status = 0;
        waitpid(pid, &status, 0);
        fail_msg("the child stopped early (exit %d)", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
    assert_true(st_kill_reap(pid, NULL));
    close(up[0]);
    close(down[1]);
    st_db_integrity(f->db, "after the kill");
    assert_int_equal(st_db_int(f->db, "SELECT count(*) FROM records WHERE trace_id IN "
                                      "('trace_a', 'trace_b', 'trace_c')"),
                     3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_second_open_keeps_locks, st_fx_setup_offline,
                                        st_fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
