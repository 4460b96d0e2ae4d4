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
#define _GNU_SOURCE 1
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#define DEFAULT_ITERATIONS 300
#define MAX_LINES_PER_ITER 40
#define MAX_ACKED 200000

static char g_dir[512];

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static int setup(void **state)
{
    (void)state;
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/tb-kill-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    nftw(g_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

/* ---- randomness (reproducible) ------------------------------------------ */

static uint64_t g_rng;

static uint64_t rnd(void)
{
    /* xorshift64* */
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return g_rng * UINT64_C(2685821657736338717);
}

/* uniform in [lo, hi] */
static unsigned rnd_between(unsigned lo, unsigned hi)
{
    return lo + (unsigned)(rnd() % (uint64_t)(hi - lo + 1));
}

/* ---- the child ----------------------------------------------------------- */

typedef struct child {
    pid_t pid;
    int in;  /* its stdin, our write end */
    int out; /* its stdout, our read end */
    char buf[4096];
    size_t len;
} child;

static void spawn(child *c, const char *cli, const char *db)
{
    int in[2], out[2];
    assert_int_equal(pipe2(in, O_CLOEXEC), 0);
    assert_int_equal(pipe2(out, O_CLOEXEC), 0);
    c->pid = fork();
    assert_true(c->pid >= 0);
    if (c->pid == 0) {
        dup2(in[0], STDIN_FILENO);
        dup2(out[1], STDOUT_FILENO);
        execl(cli, cli, "--db", db, "ingest", "--ack", "-", (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    c->in = in[1];
    c->out = out[0];
    c->len = 0;
}

/* Read one ack line into id (blocking). Returns false at EOF. */
static bool read_ack(child *c, char id[64])
{
    for (;;) {
        char *nl = memchr(c->buf, '\n', c->len);
        if (nl) {
            size_t l = (size_t)(nl - c->buf);
            assert_true(l < 64);
            memcpy(id, c->buf, l);
            id[l] = '\0';
            memmove(c->buf, nl + 1, c->len - l - 1);
            c->len -= l + 1;
            return true;
        }
        assert_true(c->len < sizeof c->buf);
        ssize_t n = read(c->out, c->buf + c->len, sizeof c->buf - c->len);
        if (n < 0 && errno == EINTR)
            continue;
        assert_true(n >= 0);
        if (n == 0) {
            /* a partial ack line at EOF is no ack */
            return false;
        }
        c->len += (size_t)n;
    }
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
    size_t pad = rnd_between(500, 4000);
    char *p = malloc(pad + 1);
    assert_non_null(p);
    for (size_t i = 0; i < pad; i++)
        p[i] = (char)('a' + rnd() % 26);
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

/* ---- checking the file --------------------------------------------------- */

static sqlite3 *open_db(const char *path)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
        fail_msg("cannot open %s: %s", path, db ? sqlite3_errmsg(db) : "?");
    sqlite3_busy_timeout(db, 10000);
    return db;
}

static void check_integrity(sqlite3 *db, int iteration)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    const char *r = (const char *)sqlite3_column_text(st, 0);
    if (strcmp(r, "ok") != 0)
        fail_msg("iteration %d: integrity_check: %s", iteration, r);
    sqlite3_finalize(st);
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

static int64_t count_rows(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM records", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

/* ---- the test ------------------------------------------------------------ */

static void test_sigkill_loses_no_ack(void **state)
{
    (void)state;
    const char *cli = getenv("TB_CLI");
    if (!cli || access(cli, X_OK) != 0) {
        print_message("TB_CLI not set; skipping\n");
        skip();
    }
    const char *seed_env = getenv("TB_SEED");
    uint64_t seed = seed_env ? (uint64_t)strtoull(seed_env, NULL, 10)
                             : ((uint64_t)time(NULL) * 2654435761u) ^ (uint64_t)getpid();
    if (seed == 0)
        seed = 1;
    g_rng = seed;
    int iterations = DEFAULT_ITERATIONS;
    const char *it_env = getenv("TB_KILL_ITERATIONS");
    if (it_env) {
        char *end = NULL;
        long v = strtol(it_env, &end, 10);
        if (end && *end == '\0' && v > 0 && v < 1000000)
            iterations = (int)v;
    }
    print_message("ingest kill: seed %llu (replay with TB_SEED)\n", (unsigned long long)seed);

    char db[PATH_MAX];
    snprintf(db, sizeof db, "%s/kill.db", g_dir);

    char(*acked)[64] = calloc(MAX_ACKED, 64);
    assert_non_null(acked);
    size_t n_acked = 0;
    long long lines_written = 0, killed_mid_line = 0, killed_before_first_ack = 0;
    size_t line_cap = 8192;
    char *line = malloc(line_cap);
    assert_non_null(line);

    for (int it = 0; it < iterations; it++) {
        child c;
        spawn(&c, cli, db);
        char trace_id[40];
        snprintf(trace_id, sizeof trace_id, "trace_%032x", (unsigned)it + 1);

        /* this iteration's plan: write K lines (the K-th maybe only in part),
         * having read A acks before the last ones; then kill */
        unsigned k = rnd_between(1, MAX_LINES_PER_ITER);
        unsigned wait_acks = rnd_between(0, k); /* acks to read before the kill */
        unsigned ack_at = rnd_between(0, k);    /* after how many lines to wait for them */
        bool partial = rnd() % 4 == 0;
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
                to_write = rnd_between(1, (unsigned)l - 1);
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
                    if (!read_ack(&c, a)) {
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
        while (read_ack(&c, a)) {
            assert_true(n_acked < MAX_ACKED);
            snprintf(acked[n_acked++], 64, "%s", a);
        }
        close(c.in);
        close(c.out);

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
        sqlite3 *h = open_db(db);
        check_integrity(h, it);
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
    spawn(&c, cli, db);
    char id[64];
    size_t l = make_line(line, line_cap, "trace_ffffffffffffffffffffffffffffffff", id, false);
    assert_true(write_all(c.in, line, l));
    close(c.in);
    char a[64];
    assert_true(read_ack(&c, a));
    assert_string_equal(a, id);
    assert_false(read_ack(&c, a));
    close(c.out);
    int status = 0;
    assert_int_equal(waitpid(c.pid, &status, 0), c.pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    /* final tally over all iterations */
    sqlite3 *h = open_db(db);
    check_integrity(h, iterations);
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(h, present_sql, -1, &q, NULL), SQLITE_OK);
    size_t found = 0;
    for (size_t j = 0; j < n_acked; j++)
        if (present(q, acked[j]))
            found++;
    sqlite3_finalize(q);
    int64_t rows = count_rows(h) - 1; /* minus the clean run's line */
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
        cmocka_unit_test_setup_teardown(test_sigkill_loses_no_ack, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
