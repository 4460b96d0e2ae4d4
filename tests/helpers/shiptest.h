/*
 * shiptest.h — header-only helpers shared by the shipper tests
 * (tests/integration/test_ship_faults.c, test_ship_cli.c,
 * tests/crash/test_ship_kill.c). Header-only on purpose: the .c files in tests/helpers are
 * linked into every test binary, this is not.
 *
 * What is here:
 *   - a flat temporary directory per test (st_dir_*);
 *   - a record set: trace + span records with unique ids written through
 *     tb_outbox_put_json, remembered in seq order (st_recs_*);
 *   - small sqlite3 helpers that open their own connection per call;
 *   - the server's arrivals: every request body of /hook parsed as a JSON
 *     array of records, reduced to the ids in arrival order, with filters
 *     that skip requests the server answered with a failure (st_arrivals);
 *   - running the CLI as a child with a deadline (st_spawn / st_wait).
 *
 * Every function is static inline so a test that does not use one gets no
 * unused-function warning. Every loop is bounded.
 */
#ifndef TB_SHIPTEST_H
#define TB_SHIPTEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "testserver.h"

/* ---- time ---------------------------------------------------------- */

static inline int64_t st_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A short pause inside a polling loop (never used as synchronisation:
 * every caller re-checks a condition and has a bounded number of tries). */
static inline void st_nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ---- temporary directory -------------------------------------------- */

static inline void st_dir_make(char *dir, size_t size)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, size, "%s/tb-ship-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(dir));
}

/* Our temp dirs are flat (db, -wal, -shm, ini, output files). */
static inline void st_dir_remove(const char *dir)
{
    if (!dir || !dir[0])
        return;
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char p[1024];
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

static inline void st_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

/* malloc'd contents (NUL-terminated), NULL when unreadable. */
static inline char *st_read_file(const char *path, size_t *len_out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    size_t n;
    while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len < 2) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
    }
    fclose(f);
    buf[len] = '\0';
    if (len_out)
        *len_out = len;
    return buf;
}

/* ---- records ------------------------------------------------------------ */

typedef struct st_recs {
    char (*ids)[64]; /* in put order = seq order (one writer) */
    size_t n, cap;
    char trace[64]; /* the current trace for new spans */
    int spans_in_trace;
} st_recs;

static inline void st_recs_free(st_recs *r)
{
    free(r->ids);
    memset(r, 0, sizeof *r);
}

static inline void st_recs_push(st_recs *r, const char *id)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 256;
        r->ids = realloc(r->ids, r->cap * sizeof *r->ids);
        assert_non_null(r->ids);
    }
    snprintf(r->ids[r->n++], 64, "%.63s", id);
}

static inline ssize_t st_recs_find(const st_recs *r, const char *id)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->ids[i], id) == 0)
            return (ssize_t)i;
    return -1;
}

/* The JSON of the next record: a trace every 5 records, spans of it in
 * between. `pad` bytes of filler go into span_data.data (spans only; a
 * trace gets them in metadata). The id is written to id_out. */
static inline char *st_next_record_json(st_recs *r, size_t pad, char id_out[64])
{
    char *filler = malloc(pad + 1);
    assert_non_null(filler);
    memset(filler, 'x', pad);
    filler[pad] = '\0';
    size_t size = pad + 1024;
    char *json = malloc(size);
    assert_non_null(json);
    char id[40];
    if (!r->trace[0] || r->spans_in_trace >= 4) {
        assert_int_equal(tb__new_trace_id(id), TB_OK);
        snprintf(r->trace, sizeof r->trace, "%s", id);
        r->spans_in_trace = 0;
        snprintf(json, size,
                 "{\"object\":\"trace\",\"id\":\"%s\",\"workflow_name\":\"ship test\","
                 "\"group_id\":null,\"metadata\":{\"pad\":\"%s\"}}",
                 id, filler);
    } else {
        assert_int_equal(tb__new_span_id(id), TB_OK);
        r->spans_in_trace++;
        snprintf(json, size,
                 "{\"object\":\"trace.span\",\"id\":\"%s\",\"trace_id\":\"%s\","
                 "\"parent_id\":null,\"started_at\":\"2025-06-01T12:00:00.000000+00:00\","
                 "\"ended_at\":\"2025-06-01T12:00:01.000000+00:00\",\"span_data\":"
                 "{\"type\":\"custom\",\"name\":\"step\",\"data\":{\"pad\":\"%s\"}},"
                 "\"error\":null}",
                 id, r->trace, filler);
    }
    free(filler);
    snprintf(id_out, 64, "%s", id);
    return json;
}

/* Put `n` records (each with `pad` filler bytes); every put must succeed. */
static inline void st_recs_put(tb_outbox *ob, st_recs *r, size_t n, size_t pad)
{
    for (size_t i = 0; i < n; i++) {
        char id[64];
        char *json = st_next_record_json(r, pad, id);
        tb_status st = tb_outbox_put_json(ob, json, (size_t)-1, NULL);
        if (st != TB_OK)
            fail_msg("tb_outbox_put_json: %s: %s", tb_status_str(st), tb_outbox_errmsg(ob));
        free(json);
        st_recs_push(r, id);
    }
}

/* Open the outbox at `path`, put n records, close it. */
static inline void st_populate(const char *path, st_recs *r, size_t n, size_t pad,
                               tb_durability durability)
{
    tb_outbox *ob = NULL;
    tb_outbox_options o = TB_OUTBOX_OPTIONS_INIT;
    o.durability = durability;
    assert_int_equal(tb_outbox_open(&ob, path, &o), TB_OK);
    st_recs_put(ob, r, n, pad);
    tb_outbox_close(ob);
}

/* ---- sqlite --------------------------------------------------------------- */

static inline sqlite3 *st_db_open(const char *path)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
    if (rc != SQLITE_OK)
        fail_msg("sqlite3_open_v2 %s: %s", path, db ? sqlite3_errmsg(db) : "?");
    sqlite3_busy_timeout(db, 10000);
    return db;
}

/* The first column of the first row as an integer (-1: no row / NULL). */
static inline int64_t st_db_int(const char *path, const char *fmt, ...)
{
    char sql[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    sqlite3 *db = st_db_open(path);
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
        fail_msg("prepare %s: %s", sql, sqlite3_errmsg(db));
    int64_t v = -1;
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
        v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v;
}

/* The first column of the first row as text into buf; returns false when
 * there is no row or the value is NULL (buf is then ""). */
static inline bool st_db_text(const char *path, char *buf, size_t size, const char *fmt, ...)
{
    char sql[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    sqlite3 *db = st_db_open(path);
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
        fail_msg("prepare %s: %s", sql, sqlite3_errmsg(db));
    bool ok = false;
    buf[0] = '\0';
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL) {
        snprintf(buf, size, "%s", (const char *)sqlite3_column_text(s, 0));
        ok = true;
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    return ok;
}

static inline void st_db_exec(const char *path, const char *fmt, ...)
{
    char sql[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    sqlite3 *db = st_db_open(path);
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
        fail_msg("exec %s: %s", sql, err ? err : "?");
    sqlite3_close(db);
}

/* next_attempt_at of a destination in µs since the epoch (0 when NULL). */
static inline int64_t st_next_attempt_us(const char *path, const char *dest)
{
    char buf[64];
    if (!st_db_text(path, buf, sizeof buf,
                    "SELECT next_attempt_at FROM destinations WHERE name = '%s'", dest))
        return 0;
    int64_t us = 0;
    if (!tb__parse_iso8601(buf, &us))
        fail_msg("next_attempt_at '%s' is not ISO-8601", buf);
    return us;
}

/* ---- the server's arrivals ------------------------------------------------ */

typedef struct st_filter {
    const char *path;          /* only requests to this path (NULL: "/hook") */
    size_t skip;               /* drop the first `skip` matching requests */
    long max_body;             /* > 0: drop requests with a larger body (413'd) */
    const char *const *reject; /* drop requests whose body names one of these */
} st_filter;

typedef struct st_arrivals {
    char (*ids)[64]; /* record ids in arrival order, over kept requests */
    size_t n, cap;
    size_t requests;  /* requests to the path (before filtering) */
    size_t kept;      /* requests kept */
    size_t max_batch; /* largest kept request, in records */
} st_arrivals;

static inline void st_arrivals_free(st_arrivals *a)
{
    free(a->ids);
    memset(a, 0, sizeof *a);
}

/* The arrivals in `text`, a GET /_requests answer (see st_arrivals_get). */
static inline void st_arrivals_parse(const char *text, const st_filter *f, st_arrivals *a)
{
    memset(a, 0, sizeof *a);
    cJSON *list = cJSON_Parse(text);
    assert_non_null(list);
    assert_true(cJSON_IsArray(list));
    const char *path = f && f->path ? f->path : "/hook";
    size_t matched = 0;
    const cJSON *req;
    cJSON_ArrayForEach(req, list)
    {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(req, "path");
        if (!cJSON_IsString(p) || strcmp(p->valuestring, path) != 0)
            continue;
        a->requests++;
        if (f && matched++ < f->skip)
            continue;
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(req, "body");
        assert_true(cJSON_IsString(b));
        if (f && f->max_body > 0 && (long)strlen(b->valuestring) > f->max_body)
            continue;
        bool rejected = false;
        for (size_t k = 0; f && f->reject && f->reject[k]; k++)
            if (strstr(b->valuestring, f->reject[k]))
                rejected = true;
        if (rejected)
            continue;
        cJSON *arr = cJSON_Parse(b->valuestring);
        if (!cJSON_IsArray(arr))
            fail_msg("a /hook body is not a JSON array: %.200s", b->valuestring);
        a->kept++;
        size_t in_batch = 0;
        const cJSON *rec;
        cJSON_ArrayForEach(rec, arr)
        {
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(rec, "id");
            assert_true(cJSON_IsString(id));
            if (a->n == a->cap) {
                a->cap = a->cap ? a->cap * 2 : 256;
                a->ids = realloc(a->ids, a->cap * sizeof *a->ids);
                assert_non_null(a->ids);
            }
            snprintf(a->ids[a->n++], 64, "%s", id->valuestring);
            in_batch++;
        }
        if (in_batch > a->max_batch)
            a->max_batch = in_batch;
        cJSON_Delete(arr);
    }
    cJSON_Delete(list);
}

static inline void st_arrivals_get(tb_test_server *srv, const st_filter *f, st_arrivals *a)
{
    char *text = tb_test_server_requests(srv);
    assert_non_null(text);
    st_arrivals_parse(text, f, a);
    free(text);
}

/* Assert that the arrivals are exactly `want` (ids in order, no duplicate),
 * skipping the records whose ids are in `except` (NULL-terminated). */
static inline void st_assert_exact(const st_arrivals *a, const st_recs *want,
                                   const char *const *except)
{
    size_t j = 0;
    for (size_t i = 0; i < want->n; i++) {
        bool skip = false;
        for (size_t k = 0; except && except[k]; k++)
            if (strcmp(want->ids[i], except[k]) == 0)
                skip = true;
        if (skip)
            continue;
        if (j >= a->n)
            fail_msg("record %zu (%s) never arrived (%zu arrivals)", i, want->ids[i], a->n);
        if (strcmp(a->ids[j], want->ids[i]) != 0)
            fail_msg("arrival %zu is %s, expected record %zu %s (order or duplicate)", j, a->ids[j],
                     i, want->ids[i]);
        j++;
    }
    if (j != a->n)
        fail_msg("%zu arrivals beyond the expected %zu (first extra: %s)", a->n - j, j, a->ids[j]);
}

static inline int st_cmp_id(const void *x, const void *y)
{
    return strcmp((const char *)x, (const char *)y);
}

/* Count how many distinct ids of `want` arrived, and the duplicates (arrivals
 * beyond the first of each id). Ids not in `want` fail the test. */
static inline void st_count_arrivals(const st_arrivals *a, const st_recs *want,
                                     size_t *distinct_out, size_t *dups_out, size_t *max_per_id_out)
{
    char(*sorted)[64] = malloc((a->n ? a->n : 1) * sizeof *sorted);
    char(*wsorted)[64] = malloc((want->n ? want->n : 1) * sizeof *wsorted);
    assert_non_null(sorted);
    assert_non_null(wsorted);
    memcpy(sorted, a->ids, a->n * sizeof *sorted);
    memcpy(wsorted, want->ids, want->n * sizeof *wsorted);
    qsort(sorted, a->n, sizeof *sorted, st_cmp_id);
    qsort(wsorted, want->n, sizeof *wsorted, st_cmp_id);
    size_t distinct = 0, dups = 0, max_per = 0;
    for (size_t i = 0; i < a->n;) {
        size_t k = i + 1;
        while (k < a->n && strcmp(sorted[k], sorted[i]) == 0)
            k++;
        if (!bsearch(sorted[i], wsorted, want->n, sizeof *wsorted, st_cmp_id))
            fail_msg("an id that was never written arrived: %s", sorted[i]);
        distinct++;
        dups += k - i - 1;
        if (k - i > max_per)
            max_per = k - i;
        i = k;
    }
    free(sorted);
    free(wsorted);
    *distinct_out = distinct;
    *dups_out = dups;
    if (max_per_id_out)
        *max_per_id_out = max_per;
}

/* Number of record ids the server has received on /hook (all requests). */
static inline size_t st_arrived_ids(tb_test_server *srv)
{
    st_arrivals a;
    st_arrivals_get(srv, NULL, &a);
    size_t n = a.n;
    st_arrivals_free(&a);
    return n;
}

/* Case-insensitive substring test. */
static inline bool st_contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *p = hay; p && *p; p++) {
        size_t i = 0;
        while (i < n && p[i] && tolower((unsigned char)p[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n)
            return true;
    }
    return n == 0;
}

/* seq of the record with this id (trace or span). */
static inline int64_t st_seq_of(const char *db, const char *id)
{
    return st_db_int(db,
                     "SELECT seq FROM records WHERE (kind = 'span' AND span_id = '%s') OR "
                     "(kind = 'trace' AND trace_id = '%s')",
                     id, id);
}

/* ---- the CLI as a child ------------------------------------------------ */

/* Start `$TB_CLI args…` (NULL-terminated) in `cwd` with stdout/stderr
 * redirected to the given files (NULL: /dev/null). Returns the pid. */
static inline pid_t st_spawn(const char *cwd, const char *out_path, const char *err_path,
                             const char *const *args)
{
    const char *cli = getenv("TB_CLI");
    if (!cli || !cli[0])
        fail_msg("TB_CLI is not set (run through ctest)");
    const char *argv[40];
    size_t n = 0;
    argv[n++] = cli;
    for (size_t i = 0; args[i] && n < 39; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (cwd && chdir(cwd) != 0)
            _exit(126);
        int o = open(out_path ? out_path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int e = open(err_path ? err_path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int in = open("/dev/null", O_RDONLY);
        if (o < 0 || e < 0 || in < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0 || dup2(in, 0) < 0)
            _exit(126);
        unsetenv("TRACEBOX_CONFIG");
        unsetenv("TRACEBOX_DB");
        execv(cli, (char *const *)argv);
        _exit(127);
    }
    return pid;
}

/* Wait for `pid` at most timeout_ms (polling waitpid WNOHANG). Returns the
 * wait status, or -1 after killing it when the deadline passed. */
static inline int st_wait(pid_t pid, int64_t timeout_ms)
{
    int64_t deadline = st_mono_ms() + timeout_ms;
    for (;;) {
        int status = 0;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return status;
        if (r < 0 && errno != EINTR)
            return -1;
        if (st_mono_ms() >= deadline) {
            kill(pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
            }
            return -1;
        }
        st_nap_ms(5);
    }
}

/* Run the CLI to completion; returns its exit code (fails the test when it
 * was killed by a signal or ran past timeout_ms). */
static inline int st_run_cli(const char *cwd, const char *out_path, const char *err_path,
                             int64_t timeout_ms, const char *const *args)
{
    pid_t pid = st_spawn(cwd, out_path, err_path, args);
    int status = st_wait(pid, timeout_ms);
    if (status == -1)
        fail_msg("tracebox %s did not finish within %lld ms", args[0], (long long)timeout_ms);
    if (!WIFEXITED(status))
        fail_msg("tracebox %s died with signal %d", args[0],
                 WIFSIGNALED(status) ? WTERMSIG(status) : -1);
    return WEXITSTATUS(status);
}

/* ---- a fixture: temp dir, outbox path, config path, CLI output files,
 * a running test server, the records written (cmocka setup/teardown) ---- */

typedef struct st_fx {
    char dir[256];
    char db[320];
    char ini[320];
    char out[320], err[320];
    tb_test_server srv;
    st_recs recs;
} st_fx;

static inline int st_fx_setup(void **state)
{
    st_fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    st_dir_make(f->dir, sizeof f->dir);
    snprintf(f->db, sizeof f->db, "%s/outbox.db", f->dir);
    snprintf(f->ini, sizeof f->ini, "%s/tracebox.ini", f->dir);
    snprintf(f->out, sizeof f->out, "%s/cli.out", f->dir);
    snprintf(f->err, sizeof f->err, "%s/cli.err", f->dir);
    if (tb_test_server_start(&f->srv) != 0) {
        st_dir_remove(f->dir);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static inline int st_fx_teardown(void **state)
{
    st_fx *f = *state;
    if (!f)
        return 0;
    tb_test_server_stop(&f->srv);
    st_recs_free(&f->recs);
    st_dir_remove(f->dir);
    free(f);
    return 0;
}

#endif
