/*
 * test_concurrency.c — many writers on one outbox.
 *
 * Threads: 4 threads × 500 spans through the outbox processor on one
 * tb_outbox in full durability (group commit): every call succeeds and
 * exactly 2000 span rows and 4 trace rows land.
 * Processes: 4 `tracebox ingest` processes, then 4 forked children using
 * the library with their own tb_outbox_open, all writing the same file at
 * once: no lost rows, no duplicates, PRAGMA integrity_check = ok.
 */
#include "fixture.h"

#include <limits.h>
#include <pthread.h>

#include "db.h"

/* ---- threads ------------------------------------------------------------ */

enum { THREADS = 4, SPANS_PER_THREAD = 500 };

typedef struct worker {
    pthread_t th;
    int failures;
    char first_error[256];
} worker;

static void note(worker *w, tb_status st, const char *what)
{
    if (st == TB_OK)
        return;
    if (w->failures++ == 0)
        snprintf(w->first_error, sizeof w->first_error, "%s: %s (%s)", what, tb_status_str(st),
                 tb_last_error());
}

static void *work(void *arg)
{
    worker *w = arg;
    tb_trace *t = NULL;
    note(w, tb_trace_start(&t, "concurrent", NULL), "trace_start");
    if (!t)
        return NULL;
    tb_span *agent = NULL;
    note(w, tb_span_start_agent(&agent, t, NULL, "worker"), "agent");
    for (int i = 0; i < SPANS_PER_THREAD - 1; i++) {
        tb_span *s = NULL;
        note(w, tb_span_start_function(&s, t, agent, "tool", "{\"i\":1}"), "span_start");
        if (!s)
            continue;
        note(w, tb_span_set_string(s, "output", "done"), "set");
        note(w, tb_span_end(s), "span_end");
        tb_span_free(s);
    }
    note(w, tb_span_end(agent), "agent end");
    note(w, tb_trace_end(t), "trace_end");
    tb_span_free(agent);
    tb_trace_free(t);
    return NULL;
}

static void test_threads_one_outbox(void **state)
{
    (void)state;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/threads.db", st_tmp());
    tb_outbox *ob = NULL;
    assert_int_equal(tb_outbox_open(&ob, path, NULL), TB_OK);
    tb_processor p;
    assert_int_equal(tb_outbox_processor(ob, &p), TB_OK);
    assert_int_equal(tb_set_trace_processors(&p, 1), TB_OK);

    worker w[THREADS];
    memset(w, 0, sizeof w);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&w[i].th, NULL, work, &w[i]), 0);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(w[i].th, NULL), 0);
    for (int i = 0; i < THREADS; i++)
        if (w[i].failures)
            fail_msg("thread %d: %d failures, first: %s", i, w[i].failures, w[i].first_error);

    assert_int_equal(tb_shutdown(10000), TB_OK);
    tb_outbox_close(ob);
    assert_int_equal(st_db_int(path, "SELECT count(*) FROM records WHERE kind='span'"),
                     THREADS * SPANS_PER_THREAD);
    assert_int_equal(
        st_db_int(path, "SELECT count(DISTINCT span_id) FROM records WHERE kind='span'"),
        THREADS * SPANS_PER_THREAD);
    assert_int_equal(st_db_int(path, "SELECT count(*) FROM records WHERE kind='trace'"), THREADS);
    /* each span's trace is one of the stored traces */
    assert_int_equal(st_db_int(path, "SELECT count(*) FROM records s WHERE kind='span' AND NOT "
                                     "EXISTS (SELECT 1 FROM records t WHERE t.kind='trace' AND "
                                     "t.trace_id = s.trace_id)"),
                     0);
    assert_int_equal(st_db_int(path, "SELECT count(DISTINCT seq) FROM records"),
                     THREADS * SPANS_PER_THREAD + THREADS);
    st_db_integrity(path, "after the writers");
}

/* ---- processes ---------------------------------------------------------- */

enum { PROCS = 4, LINES_PER_PROC = 500, PUTS_PER_CHILD = 250 };

static void make_span(char *buf, size_t n, unsigned proc, unsigned i)
{
    snprintf(buf, n,
             "{\"object\":\"trace.span\",\"id\":\"span_%08x%016x\",\"trace_id\":\"trace_%032x\","
             "\"parent_id\":null,\"started_at\":\"2025-06-01T12:00:00.000Z\",\"ended_at\":"
             "\"2025-06-01T12:00:00.250Z\",\"span_data\":{\"type\":\"custom\",\"name\":\"p%u\","
             "\"data\":{\"i\":%u,\"pad\":\"%0200u\"}},\"error\":null}",
             proc, i, proc + 1, proc, i, i);
}

static void make_trace(char *buf, size_t n, unsigned proc)
{
    snprintf(buf, n,
             "{\"object\":\"trace\",\"id\":\"trace_%032x\",\"workflow_name\":\"proc %u\","
             "\"group_id\":null,\"metadata\":null}",
             proc + 1, proc);
}

static void test_processes_ingest_same_file(void **state)
{
    (void)state;
    st_cli_or_skip();
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/procs.db", st_tmp());
    /* the file exists before the race, as in production */
    tb_outbox *ob = NULL;
    assert_int_equal(tb_outbox_open(&ob, path, NULL), TB_OK);
    tb_outbox_close(ob);

    /* one pipe per child: they all start, then the parent feeds them in turn */
    pid_t pid[PROCS];
    int in[PROCS];
    const char *args[] = {"--db", path, "ingest", "-", NULL};
    for (unsigned p = 0; p < PROCS; p++)
        pid[p] = st_spawn_piped(args, &in[p], NULL);
    char line[1024];
    for (unsigned i = 0; i < LINES_PER_PROC; i++) {
        for (unsigned p = 0; p < PROCS; p++) {
            if (i == 0) {
                make_trace(line, sizeof line, p);
                size_t l = strlen(line);
                line[l++] = '\n';
                assert_int_equal(write(in[p], line, l), (ssize_t)l);
            }
            make_span(line, sizeof line, p, i);
            size_t l = strlen(line);
            line[l++] = '\n';
            assert_int_equal(write(in[p], line, l), (ssize_t)l);
        }
    }
    for (unsigned p = 0; p < PROCS; p++)
        close(in[p]);
    for (unsigned p = 0; p < PROCS; p++) {
        int status = 0;
        assert_int_equal(waitpid(pid[p], &status, 0), pid[p]);
        assert_true(WIFEXITED(status));
        if (WEXITSTATUS(status) != 0)
            fail_msg("ingest process %u exited %d", p, WEXITSTATUS(status));
    }
    assert_int_equal(st_db_int(path, "SELECT count(*) FROM records WHERE kind='span'"),
                     PROCS * LINES_PER_PROC);
    assert_int_equal(st_db_int(path, "SELECT count(DISTINCT span_id) FROM records"),
                     PROCS * LINES_PER_PROC);
    assert_int_equal(st_db_int(path, "SELECT count(*) FROM records WHERE kind='trace'"), PROCS);
    for (unsigned p = 0; p < PROCS; p++)
        assert_int_equal(st_db_int(path, "SELECT count(*) FROM records WHERE name='p%u'", p),
                         LINES_PER_PROC);
    st_db_integrity(path, "after the writers");
}

/* A forked child: its own outbox handle, one put per record (full
 * durability: each one its own commit). Exit 0 only if all succeeded. */
static void child_puts(const char *path, unsigned proc, int go_fd)
{
    char c;
    /* wait for the start signal so the children really overlap */
    if (read(go_fd, &c, 1) != 1)
        _exit(3);
    tb_outbox *ob = NULL;
    if (tb_outbox_open(&ob, path, NULL) != TB_OK) {
        fprintf(stderr, "child %u open: %s\n", proc, tb_last_error());
        _exit(2);
    }
    char line[1024];
    int bad = 0;
    make_trace(line, sizeof line, proc);
    if (tb_outbox_put_json(ob, line, (size_t)-1, NULL) != TB_OK)
        bad++;
    for (unsigned i = 0; i < PUTS_PER_CHILD; i++) {
        make_span(line, sizeof line, proc, i);
        tb_status st = tb_outbox_put_json(ob, line, (size_t)-1, NULL);
        if (st != TB_OK) {
            if (bad++ == 0)
                fprintf(stderr, "child %u put %u: %s\n", proc, i, tb_last_error());
        }
    }
    tb_outbox_close(ob);
    _exit(bad ? 1 : 0);
}

static void test_processes_library_same_file(void **state)
{
    (void)state;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/forked.db", st_tmp());
    /* no file yet: the children race to create and migrate it */
    int go[2];
    assert_int_equal(pipe(go), 0);
    pid_t pid[PROCS];
    for (unsigned p = 0; p < PROCS; p++) {
        pid[p] = fork();
        assert_true(pid[p] >= 0);
        if (pid[p] == 0) {
            close(go[1]);
            child_puts(path, p + 10, go[0]);
        }
    }
    close(go[0]);
    char starts[PROCS];
    memset(starts, 'g', sizeof starts);
    assert_int_equal(write(go[1], starts, sizeof starts), (ssize_t)sizeof starts);
    close(go[1]);
    for (unsigned p = 0; p < PROCS; p++) {
        int status = 0;
        assert_int_equal(waitpid(pid[p], &status, 0), pid[p]);
        assert_true(WIFEXITED(status));
        if (WEXITSTATUS(status) != 0)
            fail_msg("child %u exited %d", p, WEXITSTATUS(status));
    }
    assert_int_equal(st_db_int(path, "SELECT count(*) FROM records WHERE kind='span'"),
                     PROCS * PUTS_PER_CHILD);
    assert_int_equal(st_db_int(path, "SELECT count(*) FROM records WHERE kind='trace'"), PROCS);
    assert_int_equal(st_db_int(path, "PRAGMA user_version"), tb__schema_version());
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    st_db_integrity(path, "after the writers");
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* a dead child shows as EPIPE, not a killed test */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_threads_one_outbox, st_tmp_setup, st_tmp_teardown),
        cmocka_unit_test_setup_teardown(test_processes_ingest_same_file, st_tmp_setup,
                                        st_tmp_teardown),
        cmocka_unit_test_setup_teardown(test_processes_library_same_file, st_tmp_setup,
                                        st_tmp_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
