/*
 * test_ingest_kill.c — SIGKILL durability of `tracebox ingest --ack`.
 *
 * Each iteration spawns `$TB_CLI --db FILE ingest --ack -` with pipes,
 * writes JSON lines (unique ids, bodies 0.5–4 KB) to its stdin, reads the
 * acknowledged ids from its stdout, and at a random point — after a random
 * number of lines written and a random number of acks read, sometimes in the
 * middle of a line — kills it with SIGKILL. The acks still in the pipe after
 * the kill count too: they were printed, so they were promised. After each
 * kill the file is opened with sqlite3: every acknowledged id must be there
 * and PRAGMA integrity_check must say ok. The same file is kept across
 * iterations, so every start recovers a WAL left by a killed writer.
 *
 * The seed is printed; TB_SEED=<n> replays a run. TB_KILL_ITERATIONS
 * overrides the iteration count.
 */
#define _GNU_SOURCE 1 /* pipe2 */
#include "fixture.h"

#include <limits.h>

#define DEFAULT_ITERATIONS 300
#define MAX_LINES_PER_ITER 40
#define MAX_ACKED 200000

/* ---- the child ----------------------------------------------------------- */

typedef struct child {
    pid_t pid;
    int in;       /* its stdin, our write end */
    st_lines out; /* its stdout, our read end */
} child;

static void spawn(child *c, const char *db)
{
    const char *args[] = {"--db", db, "ingest", "--ack", "-", NULL};
    c->pid = st_spawn_piped(args, &c->in, &c->out.fd);
    c->out.len = 0;
}

static bool write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false; /* EPIPE: the child is gone */
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* ---- lines --------------------------------------------------------------- */

static unsigned g_next_id = 1;

static size_t make_line(char *buf, size_t cap, const char *trace_id, char id_out[64], bool trace)
{
    size_t pad = st_rnd_between(500, 4000);
    char *p = malloc(pad + 1);
    assert_non_null(p);
    for (size_t i = 0; i < pad; i++)
        p[i] = (char)('a' + st_rnd() % 26);
    p[pad] = '\0';
    int n;
    if (trace) {
        snprintf(id_out, 64, "%s", trace_id);
        n = snprintf(buf, cap,
                     "{\"object\":\"trace\",\"id\":\"%s\",\"workflow_name\":\"kill test\","
                     "\"group_id\":null,\"metadata\":{\"pad\":\"%s\"}}\n",
                     trace_id, p);
    } else {
        snprintf(id_out, 64, "span_%024x", g_next_id++);
        n = snprintf(buf, cap,
                     "{\"object\":\"trace.span\",\"id\":\"%s\",\"trace_id\":\"%s\",\"parent_id\":"
                     "null,\"started_at\":\"2025-06-01T12:00:00.000Z\",\"ended_at\":"
                     "\"2025-06-01T12:00:00.500Z\",\"span_data\":{\"type\":\"function\",\"name\":"
                     "\"t\",\"input\":\"%s\",\"output\":null,\"mcp_data\":null},\"error\":null}\n",
                     id_out, trace_id, p);
    }
    free(p);
    assert_true(n > 0 && (size_t)n < cap);
    return (size_t)n;
}

static bool present(sqlite3_stmt *q, const char *id)
{
    sqlite3_reset(q);
    sqlite3_bind_text(q, 1, id, -1, SQLITE_TRANSIENT);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    return sqlite3_column_int(q, 0) == 1;
}

static const char *present_sql = "SELECT count(*) FROM records WHERE (kind='span' AND span_id=?1) "
                                 "OR (kind='trace' AND trace_id=?1)";

/* ---- the test ------------------------------------------------------------ */

static void test_sigkill_loses_no_ack(void **state)
{
    (void)state;
    st_cli_or_skip();
    uint64_t seed = st_rng_seed("ingest kill");
    int iterations = DEFAULT_ITERATIONS;
    const char *it_env = getenv("TB_KILL_ITERATIONS");
    if (it_env) {
        char *end = NULL;
        long v = strtol(it_env, &end, 10);
        if (end && *end == '\0' && v > 0 && v < 1000000)
            iterations = (int)v;
    }

    char db[PATH_MAX];
    snprintf(db, sizeof db, "%s/kill.db", st_tmp());

    char(*acked)[64] = calloc(MAX_ACKED, 64);
    assert_non_null(acked);
    size_t n_acked = 0;
    long long lines_written = 0, killed_mid_line = 0, killed_before_first_ack = 0;
    size_t line_cap = 8192;
    char *line = malloc(line_cap);
    assert_non_null(line);

    for (int it = 0; it < iterations; it++) {
        child c;
        spawn(&c, db);
        char trace_id[40];
        snprintf(trace_id, sizeof trace_id, "trace_%032x", (unsigned)it + 1);

        /* this iteration's plan: write K lines (the K-th maybe only in part),
         * having read A acks before the last ones; then kill */
        unsigned k = (unsigned)st_rnd_between(1, MAX_LINES_PER_ITER);
        unsigned wait_acks = (unsigned)st_rnd_between(0, k); /* acks to read before the kill */
        unsigned ack_at =
            (unsigned)st_rnd_between(0, k); /* after how many lines to wait for them */
        bool partial = st_rnd() % 4 == 0;
        char written[MAX_LINES_PER_ITER][64];
        unsigned n_written = 0, got = 0;
        size_t first_ack_of_iter = n_acked;
        bool alive = true;

        for (unsigned i = 0; i < k && alive; i++) {
            char id[64];
            size_t l = make_line(line, line_cap, trace_id, id, i == 0 && it % 3 == 0);
            bool last = i + 1 == k;
            size_t to_write = l;
            if (last && partial) {
                to_write = st_rnd_between(1, l - 1);
                killed_mid_line++;
            }
            if (!write_all(c.in, line, to_write)) {
                alive = false;
                break;
            }
            if (to_write == l) {
                snprintf(written[n_written++], 64, "%s", id);
                lines_written++;
            }
            if (i + 1 == ack_at) {
                while (got < wait_acks && got < n_written) {
                    char a[64];
                    if (!st_read_line(&c.out, a, sizeof a)) {
                        alive = false;
                        break;
                    }
                    assert_true(n_acked < MAX_ACKED);
                    snprintf(acked[n_acked++], 64, "%s", a);
                    got++;
                }
            }
        }
        if (got == 0)
            killed_before_first_ack++;
        if (!alive)
            fail_msg("iteration %d: ingest died before it was killed", it);
        assert_int_equal(kill(c.pid, SIGKILL), 0);
        int status = 0;
        assert_int_equal(waitpid(c.pid, &status, 0), c.pid);
        if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL))
            fail_msg("iteration %d: ingest exited on its own (status %d) before the kill", it,
                     status);
        /* acks already in the pipe were printed before death: promised too */
        char a[64];
        while (st_read_line(&c.out, a, sizeof a)) {
            assert_true(n_acked < MAX_ACKED);
            snprintf(acked[n_acked++], 64, "%s", a);
        }
        close(c.in);
        close(c.out.fd);

        /* every ack of this iteration names a line we wrote, once, in order */
        for (size_t j = first_ack_of_iter; j < n_acked; j++) {
            size_t pos = j - first_ack_of_iter;
            if (pos >= n_written || strcmp(acked[j], written[pos]) != 0)
                fail_msg("iteration %d: ack %zu is %s, expected %s", it, pos, acked[j],
                         pos < n_written ? written[pos] : "(none)");
        }

        /* the file: sound, and holding every ack so far (if it exists yet) */
        struct stat sb;
        if (stat(db, &sb) != 0) {
            assert_int_equal(n_acked, 0);
            continue;
        }
        char when[64];
        snprintf(when, sizeof when, "iteration %d", it);
        st_db_integrity(db, when);
        sqlite3 *h = st_db_open(db);
        sqlite3_stmt *q = NULL;
        assert_int_equal(sqlite3_prepare_v2(h, present_sql, -1, &q, NULL), SQLITE_OK);
        for (size_t j = first_ack_of_iter; j < n_acked; j++)
            if (!present(q, acked[j]))
                fail_msg("iteration %d: acknowledged %s is missing", it, acked[j]);
        sqlite3_finalize(q);
        sqlite3_close(h);
    }

    /* the file still works for a clean run afterwards */
    child c;
    spawn(&c, db);
    char id[64];
    size_t l = make_line(line, line_cap, "trace_ffffffffffffffffffffffffffffffff", id, false);
    assert_true(write_all(c.in, line, l));
    close(c.in);
    char a[64];
    assert_true(st_read_line(&c.out, a, sizeof a));
    assert_string_equal(a, id);
    assert_false(st_read_line(&c.out, a, sizeof a));
    close(c.out.fd);
    int status = 0;
    assert_int_equal(waitpid(c.pid, &status, 0), c.pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    /* final tally over all iterations */
    st_db_integrity(db, "after the clean run");
    sqlite3 *h = st_db_open(db);
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(h, present_sql, -1, &q, NULL), SQLITE_OK);
    size_t found = 0;
    for (size_t j = 0; j < n_acked; j++)
        if (present(q, acked[j]))
            found++;
    sqlite3_finalize(q);
    int64_t rows = st_db_int(db, "SELECT count(*) FROM records") - 1; /* minus the clean run's */
    sqlite3_close(h);
    long long lost = (long long)n_acked - (long long)found;
    long long extra = (long long)rows - (long long)found;
    printf("ingest kill: iterations=%d written=%lld acked=%zu present=%zu lost=%lld extra=%lld "
           "(mid-line kills %lld, kills before any ack %lld, seed %llu)\n",
           iterations, lines_written, n_acked, found, lost, extra, killed_mid_line,
           killed_before_first_ack, (unsigned long long)seed);
    fflush(stdout);
    assert_int_equal(lost, 0);
    assert_true(extra >= 0);
    assert_true(rows <= lines_written);
    assert_true(n_acked > 0);
    free(line);
    free(acked);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sigkill_loses_no_ack, st_tmp_setup, st_tmp_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
