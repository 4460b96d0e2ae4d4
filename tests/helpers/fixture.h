/*
 * fixture.h — the support code the tests share ("st_": shared test).
 *
 * Header-only on purpose: the .c files in tests/helpers are linked into
 * every test binary (and testserver.c into the benchmark, which has no
 * cmocka); this is included by every test that needs a fixture. Every
 * function is static inline, so a test that does not use one gets no
 * unused-function warning. Every loop is bounded.
 *
 * What is here:
 *   - time and randomness: monotonic clocks, short pauses inside bounded
 *     polling loops (never a synchronisation), a seeded xorshift whose seed
 *     is printed (TB_SEED=<n> replays), TB_SOAK (st_soak);
 *   - temporary folders, removed recursively (st_dir_*), and the folder of
 *     a test that keeps its paths in one (st_tmp, st_tmp_setup /
 *     st_tmp_teardown, which also reset the tracing state);
 *   - files: write, read, copy, search (binary-safe);
 *   - sqlite: one connection per call (st_db_*), integrity_check, removing
 *     a database with its -wal and -shm;
 *   - a record set: trace + span records with unique ids written through
 *     tb_outbox_put_json, remembered in seq order (st_recs_*);
 *   - the loopback server (tests/helpers/testserver.py, driven through
 *     testserver.h): one server for a whole file (st_server_*), its request
 *     log parsed (st_requests, st_req_*), and the record ids of every
 *     request body in arrival order, with filters that skip requests the
 *     server answered with a failure (st_arrivals);
 *   - processes: the CLI as a child with a deadline (st_spawn / st_wait /
 *     st_run_cli / st_cli_capture), with pipes (st_spawn_piped), a forked
 *     child with a pipe back (st_fork_piped), SIGKILL and reap, a line
 *     reader for pipes (st_lines);
 *   - the fixture (st_fx): a temporary folder with the paths of an outbox,
 *     a config and the CLI's output, optionally a running server, the
 *     records written, a parsed config and an open outbox; cmocka
 *     setup/teardown functions and the calls most tests make on it.
 */
#ifndef TB_TEST_FIXTURE_H
#define TB_TEST_FIXTURE_H

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
#include <stdbool.h>
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

/* ---- time ------------------------------------------------------------- */

static inline int64_t st_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline int64_t st_mono_ms(void)
{
    return st_mono_us() / 1000;
}

/* A short pause: inside a polling loop (every caller re-checks a condition
 * and has a bounded number of tries), or a random kill point. */
static inline void st_nap_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static inline void st_nap_ms(long ms)
{
    st_nap_us(ms * 1000);
}

/* ---- randomness (reproducible) ---------------------------------------- */

static inline uint64_t *st_rng_state(void)
{
    static uint64_t state = 1;
    return &state;
}

static inline void st_rng_set(uint64_t seed)
{
    *st_rng_state() = seed ? seed : 1;
}

/* Seed from TB_SEED, else from the clock and the pid; print it so that a
 * failing run can be replayed. Returns the seed. */
static inline uint64_t st_rng_seed(const char *what)
{
    const char *s = getenv("TB_SEED");
    uint64_t seed =
        s && *s ? strtoull(s, NULL, 10) : (uint64_t)tb__now_us() ^ ((uint64_t)getpid() << 32);
    if (seed == 0)
        seed = 1;
    st_rng_set(seed);
    print_message("%s: seed %llu (replay with TB_SEED=%llu)\n", what, (unsigned long long)seed,
                  (unsigned long long)seed);
    return seed;
}

/* xorshift64* */
static inline uint64_t st_rnd(void)
{
    uint64_t *s = st_rng_state();
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

/* uniform in [0, n) (0 when n is 0) */
static inline unsigned st_rnd_below(unsigned n)
{
    return n ? (unsigned)(st_rnd() % n) : 0;
}

/* uniform in [lo, hi] */
static inline size_t st_rnd_between(size_t lo, size_t hi)
{
    return lo + (size_t)(st_rnd() % (uint64_t)(hi - lo + 1));
}

/* TB_SOAK set (and not "0"): the long runs. */
static inline bool st_soak(void)
{
    const char *s = getenv("TB_SOAK");
    return s && *s && strcmp(s, "0") != 0;
}

/* ---- temporary folder ------------------------------------------------ */

static inline void st_dir_make(char *dir, size_t size)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, size, "%s/tb-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(dir));
}

static inline void st_dir_remove_depth(const char *dir, int depth)
{
    DIR *d = depth < 16 ? opendir(dir) : NULL;
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char p[1024];
            if ((size_t)snprintf(p, sizeof p, "%s/%s", dir, e->d_name) >= sizeof p)
                continue;
            struct stat sb;
            if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
                st_dir_remove_depth(p, depth + 1);
            else
                unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

/* Remove a folder and everything in it (symlinks are not followed). */
static inline void st_dir_remove(const char *dir)
{
    if (dir && dir[0])
        st_dir_remove_depth(dir, 0);
}

/* Tracing on, no processor registered: the state every test starts from. */
static inline void st_tracing_reset(void)
{
    tb_set_tracing_disabled(0);
    tb_set_trace_processors(NULL, 0);
}

/* The temporary folder of a test that keeps its paths in it: made by
 * st_tmp_setup, removed by st_tmp_teardown (cmocka setup/teardown, which
 * reset the tracing state too). */
static inline char *st_tmp(void)
{
    static char dir[256];
    return dir;
}

static inline int st_tmp_setup(void **state)
{
    (void)state;
    st_dir_make(st_tmp(), 256);
    st_tracing_reset();
    return 0;
}

static inline int st_tmp_teardown(void **state)
{
    (void)state;
    st_tracing_reset();
    st_dir_remove(st_tmp());
    st_tmp()[0] = '\0';
    return 0;
}

/* ---- files ------------------------------------------------------------ */

static inline void st_write_data(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        fail_msg("cannot write %s: %s", path, strerror(errno));
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static inline void st_write_file(const char *path, const char *text)
{
    st_write_data(path, text, strlen(text));
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

/* Does [p, p+n) contain `needle`? (binary-safe) */
static inline bool st_mem_has(const char *p, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; p && k && i + k <= n; i++)
        if (memcmp(p + i, needle, k) == 0)
            return true;
    return false;
}

/* Does the file contain `needle`? (false when it cannot be read) */
static inline bool st_file_has(const char *path, const char *needle)
{
    size_t len = 0;
    char *data = st_read_file(path, &len);
    bool found = st_mem_has(data, len, needle);
    free(data);
    return found;
}

/* Copy a file byte for byte; the copy gets `mode`. */
static inline void st_copy_file(const char *from, const char *to, mode_t mode)
{
    size_t len = 0;
    char *data = st_read_file(from, &len);
    if (!data)
        fail_msg("cannot read %s", from);
    int fd = open(to, O_WRONLY | O_CREAT | O_TRUNC, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
    free(data);
}

static inline bool st_file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
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

/* ---- sqlite: a connection of its own per call ------------------------ */

static inline sqlite3 *st_db_open_flags(const char *path, int flags)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, flags, NULL);
    if (rc != SQLITE_OK)
        fail_msg("sqlite3_open_v2 %s: %s", path, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_busy_timeout(db, 10000);
    return db;
}

/* Read-write; the file must exist. */
static inline sqlite3 *st_db_open(const char *path)
{
    return st_db_open_flags(path, SQLITE_OPEN_READWRITE);
}

/* The statement `fmt…` prepared on a new connection (*db_out). */
static inline sqlite3_stmt *st_db_vprepare(const char *path, sqlite3 **db_out, const char *fmt,
                                           va_list ap)
{
    char sql[2048];
    vsnprintf(sql, sizeof sql, fmt, ap);
    sqlite3 *db = st_db_open(path);
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
        fail_msg("prepare %s: %s", sql, sqlite3_errmsg(db));
    *db_out = db;
    return s;
}

static inline void st_db_done(sqlite3 *db, sqlite3_stmt *s)
{
    sqlite3_finalize(s);
    sqlite3_close(db);
}

/* The first column of the first row as an integer (-1: no row / NULL). */
static inline int64_t st_db_int(const char *path, const char *fmt, ...) TB__PRINTF(2, 3);
static inline int64_t st_db_int(const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sqlite3 *db = NULL;
    sqlite3_stmt *s = st_db_vprepare(path, &db, fmt, ap);
    va_end(ap);
    int64_t v = -1;
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
        v = sqlite3_column_int64(s, 0);
    st_db_done(db, s);
    return v;
}

/* The first column of the first row as text into buf; returns false when
 * there is no row or the value is NULL (buf is then ""). */
static inline bool st_db_text(const char *path, char *buf, size_t size, const char *fmt, ...)
    TB__PRINTF(4, 5);
static inline bool st_db_text(const char *path, char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sqlite3 *db = NULL;
    sqlite3_stmt *s = st_db_vprepare(path, &db, fmt, ap);
    va_end(ap);
    bool ok = false;
    buf[0] = '\0';
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL) {
        snprintf(buf, size, "%s", (const char *)sqlite3_column_text(s, 0));
        ok = true;
    }
    st_db_done(db, s);
    return ok;
}

/* The same, whatever its length: malloc'd, NULL when no row / NULL. */
static inline char *st_db_dup(const char *path, const char *fmt, ...) TB__PRINTF(2, 3);
static inline char *st_db_dup(const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sqlite3 *db = NULL;
    sqlite3_stmt *s = st_db_vprepare(path, &db, fmt, ap);
    va_end(ap);
    char *r = NULL;
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL) {
        r = strdup((const char *)sqlite3_column_text(s, 0));
        assert_non_null(r);
    }
    st_db_done(db, s);
    return r;
}

/* Run SQL (creating the file when it does not exist). */
static inline void st_db_exec(const char *path, const char *fmt, ...) TB__PRINTF(2, 3);
static inline void st_db_exec(const char *path, const char *fmt, ...)
{
    char sql[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    sqlite3 *db = st_db_open_flags(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
        fail_msg("exec %s: %s", sql, err ? err : "?");
    sqlite3_close(db);
}

/* Delete a database file with its -wal, -shm and -journal (as
 * `rm outbox.db*` does). */
static inline void st_db_remove(const char *path)
{
    static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < 4; i++) {
        char p[1100];
        if ((size_t)snprintf(p, sizeof p, "%s%s", path, suffix[i]) < sizeof p)
            unlink(p);
    }
}

/* PRAGMA integrity_check says ok (`when` names the moment in the failure). */
static inline void st_db_integrity(const char *path, const char *when)
{
    char ok[256];
    assert_true(st_db_text(path, ok, sizeof ok, "PRAGMA integrity_check"));
    if (strcmp(ok, "ok") != 0)
        fail_msg("%s: integrity_check: %s", when, ok);
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

/* seq of the record with this id (trace or span). */
static inline int64_t st_seq_of(const char *db, const char *id)
{
    return st_db_int(db,
                     "SELECT seq FROM records WHERE (kind = 'span' AND span_id = '%s') OR "
                     "(kind = 'trace' AND trace_id = '%s')",
                     id, id);
}

/* ---- records ----------------------------------------------------------- */

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

/* Put one record; it must succeed. */
static inline void st_put_json(tb_outbox *ob, const char *json)
{
    tb_status st = tb_outbox_put_json(ob, json, (size_t)-1, NULL);
    if (st != TB_OK)
        fail_msg("tb_outbox_put_json: %s: %s", tb_status_str(st), tb_outbox_errmsg(ob));
}

/* Put `n` records (each with `pad` filler bytes); every put must succeed. */
static inline void st_recs_put(tb_outbox *ob, st_recs *r, size_t n, size_t pad)
{
    for (size_t i = 0; i < n; i++) {
        char id[64];
        char *json = st_next_record_json(r, pad, id);
        st_put_json(ob, json);
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

/* ---- the server's request log ------------------------------------------ */

/* Every request the server recorded (GET /_requests), parsed: a JSON array
 * the caller deletes. */
static inline cJSON *st_requests(tb_test_server *srv)
{
    char *text = tb_test_server_requests(srv);
    assert_non_null(text);
    cJSON *list = cJSON_Parse(text);
    free(text);
    assert_true(cJSON_IsArray(list));
    return list;
}

/* One server for a whole test file: cmocka group setup and teardown, and a
 * per-test setup that resets it (forgets the requests, back to mode ok). */
static inline tb_test_server *st_server(void)
{
    static tb_test_server server;
    return &server;
}

static inline int st_server_group_setup(void **state)
{
    (void)state;
    return tb_test_server_start(st_server());
}

static inline int st_server_group_teardown(void **state)
{
    (void)state;
    tb_test_server_stop(st_server());
    return 0;
}

static inline int st_server_reset(void **state)
{
    (void)state;
    return tb_test_server_reset(st_server());
}

/* A string field of a recorded request ("method", "path", "body", …), or
 * NULL. */
static inline const char *st_req_str(const cJSON *req, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A request header (lower-case name), or NULL. */
static inline const char *st_req_header(const cJSON *req, const char *name)
{
    const cJSON *hs = cJSON_GetObjectItemCaseSensitive(req, "headers");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(hs, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Fail unless the request has header `name` (lower-case) equal to want. */
static inline void st_assert_header(const cJSON *req, const char *name, const char *want)
{
    const char *got = st_req_header(req, name);
    if (!got || strcmp(got, want) != 0)
        fail_msg("header %s: got '%s', want '%s'", name, got ? got : "(absent)", want);
}

typedef struct st_filter {
    const char *path;          /* only requests to this path (NULL: "/hook") */
    size_t skip;               /* drop the first `skip` matching requests */
    long max_body;             /* > 0: drop requests with a larger body (413'd) */
    const char *const *reject; /* drop requests whose body names one of these */
    const char *array_key;     /* the records are body[array_key] (NULL: the body) */
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

/* The record ids of one request body: a JSON array of records, or an
 * object holding it under `key`. */
static inline size_t st_arrivals_add_body(st_arrivals *a, const char *body, const char *key)
{
    cJSON *root = cJSON_Parse(body);
    const cJSON *arr = key ? cJSON_GetObjectItemCaseSensitive(root, key) : root;
    if (!cJSON_IsArray(arr))
        fail_msg("a request body is not %s%s%s: %.200s", key ? "{\"" : "a JSON array",
                 key ? key : "", key ? "\":[…]}" : "", body);
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
    cJSON_Delete(root);
    return in_batch;
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
        const char *p = st_req_str(req, "path");
        if (!p || strcmp(p, path) != 0)
            continue;
        a->requests++;
        if (f && matched++ < f->skip)
            continue;
        const char *body = st_req_str(req, "body");
        assert_non_null(body);
        if (f && f->max_body > 0 && (long)strlen(body) > f->max_body)
            continue;
        bool rejected = false;
        for (size_t k = 0; f && f->reject && f->reject[k]; k++)
            if (strstr(body, f->reject[k]))
                rejected = true;
        if (rejected)
            continue;
        a->kept++;
        size_t in_batch = st_arrivals_add_body(a, body, f ? f->array_key : NULL);
        if (in_batch > a->max_batch)
            a->max_batch = in_batch;
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

/* Base64 (the test server's body_b64) into a malloc'd buffer. */
static inline unsigned char *st_b64_decode(const char *s, size_t *out_len)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(s);
    unsigned char *out = malloc(n / 4 * 3 + 3);
    assert_non_null(out);
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        const char *p = strchr(tbl, s[i]);
        if (s[i] == '=' || !p)
            continue;
        acc = acc << 6 | (uint32_t)(p - tbl);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    *out_len = o;
    return out;
}

/* ---- processes ------------------------------------------------------- */

/* $TB_CLI (fails the test when it is not set). */
static inline const char *st_cli_path(void)
{
    const char *cli = getenv("TB_CLI");
    if (!cli || !cli[0])
        fail_msg("TB_CLI is not set (run through ctest)");
    return cli;
}

/* Skip the test (with a note) unless $TB_CLI is an executable. */
static inline void st_cli_or_skip(void)
{
    const char *cli = getenv("TB_CLI");
    if (!cli || access(cli, X_OK) != 0) {
        print_message("TB_CLI not set; skipping\n");
        skip();
    }
}

/* In a forked child: exec `cli args…` (NULL-terminated), without the
 * TRACEBOX_* variables of the test's environment. */
static inline void st_exec_cli(const char *cli, const char *const *args)
{
    const char *argv[40];
    size_t n = 0;
    argv[n++] = cli;
    for (size_t i = 0; args[i] && n < 39; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    unsetenv("TRACEBOX_CONFIG");
    unsetenv("TRACEBOX_DB");
    execv(cli, (char *const *)argv);
    _exit(127);
}

/* Start `$TB_CLI args…` (NULL-terminated) in `cwd` with stdin from in_path
 * and stdout/stderr into the given files (NULL: /dev/null). Returns the
 * pid. */
static inline pid_t st_spawn_io(const char *cwd, const char *in_path, const char *out_path,
                                const char *err_path, const char *const *args)
{
    const char *cli = st_cli_path();
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (cwd && chdir(cwd) != 0)
            _exit(126);
        int o = open(out_path ? out_path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int e = open(err_path ? err_path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int in = open(in_path ? in_path : "/dev/null", O_RDONLY);
        if (o < 0 || e < 0 || in < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0 || dup2(in, 0) < 0)
            _exit(126);
        st_exec_cli(cli, args);
    }
    return pid;
}

/* Start `$TB_CLI args…` with its stdin a pipe from us (*in_fd: our write
 * end) and its stdout a pipe to us (*out_fd: our read end; out_fd NULL:
 * stdout to /dev/null). Returns the pid. */
static inline pid_t st_spawn_piped(const char *const *args, int *in_fd, int *out_fd)
{
    const char *cli = st_cli_path();
    int in[2], out[2] = {-1, -1};
    assert_int_equal(pipe(in), 0);
    assert_int_equal(out_fd ? pipe(out) : 0, 0);
    /* ours only: a sibling started later must not hold them open */
    fcntl(in[1], F_SETFD, FD_CLOEXEC);
    if (out_fd)
        fcntl(out[0], F_SETFD, FD_CLOEXEC);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int o = out_fd ? out[1] : open("/dev/null", O_WRONLY);
        if (o < 0 || dup2(in[0], 0) < 0 || dup2(o, 1) < 0)
            _exit(126);
        close(in[0]);
        close(o);
        st_exec_cli(cli, args);
    }
    close(in[0]);
    *in_fd = in[1];
    if (out_fd) {
        close(out[1]);
        *out_fd = out[0];
    }
    return pid;
}

static inline pid_t st_spawn(const char *cwd, const char *out_path, const char *err_path,
                             const char *const *args)
{
    return st_spawn_io(cwd, NULL, out_path, err_path, args);
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

/* fork() with a pipe from the child to the parent: in the child (0 is
 * returned) *fd is the write end, in the parent (the pid is returned) the
 * read end. */
static inline pid_t st_fork_piped(int *fd)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    close(pid == 0 ? p[0] : p[1]);
    *fd = pid == 0 ? p[1] : p[0];
    return pid;
}

/* SIGKILL and reap (its wait status into *status_out when not NULL); true
 * when the signal is what ended it. */
static inline bool st_kill_reap(pid_t pid, int *status_out)
{
    kill(pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (status_out)
        *status_out = status;
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
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

/* What a CLI run printed. */
typedef struct st_capture {
    int status; /* the exit code */
    char *out;  /* stdout (malloc'd, never NULL) */
    char *err;  /* stderr */
} st_capture;

/* Run `$TB_CLI args…` in `cwd` with stdin from in_path (NULL: /dev/null),
 * stdout and stderr captured (through two files in cwd, removed after). */
static inline st_capture st_cli_capture(const char *cwd, const char *in_path,
                                        const char *const *args)
{
    char outp[600], errp[600];
    snprintf(outp, sizeof outp, "%s/.stdout", cwd);
    snprintf(errp, sizeof errp, "%s/.stderr", cwd);
    pid_t pid = st_spawn_io(cwd, in_path, outp, errp, args);
    int status = st_wait(pid, 60000);
    if (status == -1 || !WIFEXITED(status))
        fail_msg("tracebox %s did not exit normally (status 0x%x)", args[0], status);
    st_capture r;
    r.status = WEXITSTATUS(status);
    r.out = st_read_file(outp, NULL);
    r.err = st_read_file(errp, NULL);
    assert_non_null(r.out);
    assert_non_null(r.err);
    unlink(outp);
    unlink(errp);
    return r;
}

static inline void st_capture_free(st_capture *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

/* Lines from a child's pipe. */
typedef struct st_lines {
    int fd;
    char buf[8192];
    size_t len;
} st_lines;

/* The next line (without '\n') into out; false at EOF (a partial line at
 * EOF was never finished, so it does not count). */
static inline bool st_read_line(st_lines *r, char *out, size_t size)
{
    for (;;) {
        char *nl = memchr(r->buf, '\n', r->len);
        if (nl) {
            size_t l = (size_t)(nl - r->buf);
            assert_true(l < size);
            memcpy(out, r->buf, l);
            out[l] = '\0';
            memmove(r->buf, nl + 1, r->len - l - 1);
            r->len -= l + 1;
            return true;
        }
        assert_true(r->len < sizeof r->buf);
        ssize_t n = read(r->fd, r->buf + r->len, sizeof r->buf - r->len);
        if (n < 0 && errno == EINTR)
            continue;
        assert_true(n >= 0);
        if (n == 0)
            return false;
        r->len += (size_t)n;
    }
}

/* ---- the fixture ------------------------------------------------------- */

typedef struct st_fx {
    char dir[256];
    char db[320];  /* dir/tracebox.db: also the CLI's default in dir */
    char ini[320]; /* dir/tracebox.ini */
    char out[320], err[320];
    tb_test_server srv;
    bool srv_up;
    st_recs recs;
    tb_config *cfg;
    tb_outbox *ob;
} st_fx;

static inline void st_fx_init(st_fx *f)
{
    memset(f, 0, sizeof *f);
    st_dir_make(f->dir, sizeof f->dir);
    snprintf(f->db, sizeof f->db, "%s/tracebox.db", f->dir);
    snprintf(f->ini, sizeof f->ini, "%s/tracebox.ini", f->dir);
    snprintf(f->out, sizeof f->out, "%s/cli.out", f->dir);
    snprintf(f->err, sizeof f->err, "%s/cli.err", f->dir);
    st_tracing_reset();
}

/* Start the fixture's server (once); false when it cannot start. */
static inline bool st_fx_server_up(st_fx *f)
{
    if (!f->srv_up && tb_test_server_start(&f->srv) == 0)
        f->srv_up = true;
    return f->srv_up;
}

static inline void st_fx_server(st_fx *f)
{
    assert_true(st_fx_server_up(f));
}

static inline void st_fx_fini(st_fx *f)
{
    st_tracing_reset();
    tb_outbox_close(f->ob);
    tb_config_free(f->cfg);
    if (f->srv_up)
        tb_test_server_stop(&f->srv);
    st_recs_free(&f->recs);
    st_dir_remove(f->dir);
    memset(f, 0, sizeof *f);
}

/* cmocka setup: a fixture with its server running. */
static inline int st_fx_setup(void **state)
{
    st_fx *f = malloc(sizeof *f);
    assert_non_null(f);
    st_fx_init(f);
    if (!st_fx_server_up(f)) {
        st_fx_fini(f);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

/* cmocka setup: a fixture without a server (st_fx_server starts one). */
static inline int st_fx_setup_offline(void **state)
{
    st_fx *f = malloc(sizeof *f);
    assert_non_null(f);
    st_fx_init(f);
    *state = f;
    return 0;
}

static inline int st_fx_teardown(void **state)
{
    st_fx *f = *state;
    if (!f)
        return 0;
    st_fx_fini(f);
    free(f);
    return 0;
}

/* A cmocka test with a fixture: with its server running, or without. */
#define ST_FX_TEST(test) cmocka_unit_test_setup_teardown(test, st_fx_setup, st_fx_teardown)
#define ST_FX_OFFLINE_TEST(test)                                                                   \
    cmocka_unit_test_setup_teardown(test, st_fx_setup_offline, st_fx_teardown)

/* An INI text (printf format): parsed into f->cfg, or written to f->ini. */
static inline void st_fx_vini(st_fx *f, bool to_file, const char *fmt, va_list ap)
{
    char text[4096];
    vsnprintf(text, sizeof text, fmt, ap);
    if (to_file) {
        st_write_file(f->ini, text);
        return;
    }
    tb_config_free(f->cfg);
    f->cfg = NULL;
    if (tb_config_parse(&f->cfg, text, "test.ini") != TB_OK)
        fail_msg("tb_config_parse: %s\n%s", tb_last_error(), text);
}

/* Replace the configuration with this INI text (printf format). */
static inline void st_fx_parse(st_fx *f, const char *fmt, ...) TB__PRINTF(2, 3);
static inline void st_fx_parse(st_fx *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    st_fx_vini(f, false, fmt, ap);
    va_end(ap);
}

/* Write the config file f->ini (printf format). */
static inline void st_fx_write_ini(st_fx *f, const char *fmt, ...) TB__PRINTF(2, 3);
static inline void st_fx_write_ini(st_fx *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    st_fx_vini(f, true, fmt, ap);
    va_end(ap);
}

/* Open f->ob (normal durability) unless it is open. */
static inline void st_fx_open(st_fx *f)
{
    if (f->ob)
        return;
    tb_outbox_options o = TB_OUTBOX_OPTIONS_INIT;
    o.durability = TB_DURABILITY_NORMAL;
    assert_int_equal(tb_outbox_open(&f->ob, f->db, &o), TB_OK);
}

/* Put n records of the record set (`pad` filler bytes each). */
static inline void st_fx_put(st_fx *f, size_t n, size_t pad)
{
    st_fx_open(f);
    st_recs_put(f->ob, &f->recs, n, pad);
}

static inline void st_fx_put_json(st_fx *f, const char *json)
{
    st_fx_open(f);
    st_put_json(f->ob, json);
}

/* One tb_ship_once() pass with f->cfg; it must return TB_OK. */
static inline tb_ship_report st_fx_ship(st_fx *f)
{
    tb_ship_report r;
    tb_status st = tb_ship_once(f->db, f->cfg, NULL, &r);
    if (st != TB_OK)
        fail_msg("tb_ship_once: %s: %s", tb_status_str(st), tb_last_error());
    return r;
}

static inline void st_fx_control(st_fx *f, const char *json)
{
    assert_int_equal(tb_test_server_control(&f->srv, json), 0);
}

/* Make every destination due now (instead of waiting out the backoff). */
static inline void st_fx_due_now(st_fx *f)
{
    st_db_exec(f->db, "UPDATE destinations SET next_attempt_at = NULL");
}

static inline int64_t st_fx_dest_int(st_fx *f, const char *dest, const char *col)
{
    return st_db_int(f->db, "SELECT %s FROM destinations WHERE name = '%s'", col, dest);
}

/* Fail unless the CLI run that wrote f->out / f->err exited `want`. */
static inline void st_fx_expect_exit(st_fx *f, int code, int want, const char *what)
{
    if (code != want) {
        char *e = st_read_file(f->err, NULL);
        char *o = st_read_file(f->out, NULL);
        fail_msg("%s exited %d, expected %d\nstderr: %s\nstdout: %s", what, code, want, e ? e : "",
                 o ? o : "");
    }
}

/* Run `$TB_CLI args…` in f->dir (stdout into f->out, stderr into f->err);
 * fail unless it exits `want`. Returns its stdout (malloc'd). */
static inline char *st_fx_run(st_fx *f, int want, const char *const *args)
{
    int code = st_run_cli(f->dir, f->out, f->err, 60000, args);
    st_fx_expect_exit(f, code, want, args[0]);
    char *out = st_read_file(f->out, NULL);
    assert_non_null(out);
    return out;
}

/* `tracebox --db DB --config INI ship --once` to completion; it must exit 0.
 * Then every /hook arrival is tallied against f->recs. */
static inline void st_fx_final_ship(st_fx *f, st_arrivals *a, size_t *distinct, size_t *dups,
                                    size_t *max_per)
{
    const char *args[] = {"--db", f->db, "--config", f->ini, "ship", "--once", NULL};
    int code = st_run_cli(f->dir, f->out, f->err, 120000, args);
    if (code != 0) {
        char *e = st_read_file(f->err, NULL);
        fail_msg("the final ship --once exited %d: %s", code, e ? e : "");
    }
    st_arrivals_get(&f->srv, NULL, a);
    st_count_arrivals(a, &f->recs, distinct, dups, max_per);
}

#endif
