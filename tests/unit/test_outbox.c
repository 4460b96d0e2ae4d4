/*
 * test_outbox.c — the outbox file (db.c, outbox.c).
 *
 * Every test works in its own mkdtemp folder, removed afterwards. The file
 * is inspected with a separate sqlite3 connection, as an operator would with
 * the sqlite3 shell: mode, WAL, schema version, tables and views; files that
 * are not ours are refused byte-for-byte untouched; a corrupt outbox is
 * renamed aside with its bytes intact and a fresh one opened; puts are
 * idempotent; the outbox processor writes the trace at start and the span at
 * end (visible to another connection when tb_span_end returns); max_size
 * refuses and counts; async mode commits on flush and counts its drops.
 */
#include "fixture.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>

#include "db.h"
#include "record.h"

/* ---- temp folder ------------------------------------------------------- */

/* Buffers the helpers hand out are remembered, so a failed assertion
 * (which longjmps out of the test) leaks nothing the sanitizers would blame
 * on the library: teardown frees what the test did not release. */
static void *g_keep[1024];

static void *keep(void *p)
{
    for (size_t i = 0; p && i < sizeof g_keep / sizeof g_keep[0]; i++)
        if (!g_keep[i]) {
            g_keep[i] = p;
            break;
        }
    return p;
}

static void release(void *p)
{
    for (size_t i = 0; p && i < sizeof g_keep / sizeof g_keep[0]; i++)
        if (g_keep[i] == p)
            g_keep[i] = NULL;
    free(p);
}

static void release_all(void)
{
    for (size_t i = 0; i < sizeof g_keep / sizeof g_keep[0]; i++) {
        free(g_keep[i]);
        g_keep[i] = NULL;
    }
}

static int teardown(void **state)
{
    release_all();
    return st_tmp_teardown(state);
}

static const char *in_dir(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", st_tmp(), name);
    return buf;
}

/* ---- file and sqlite helpers ------------------------------------------ */

static unsigned char *read_all(const char *path, size_t *len)
{
    char *buf = st_read_file(path, len);
    assert_non_null(buf);
    return keep(buf);
}

static int64_t q_int(const char *path, const char *sql)
{
    return st_db_int(path, "%s", sql);
}

/* The text of the first column of the first row, malloc'd, or NULL. */
static char *q_text(const char *path, const char *sql)
{
    return keep(st_db_dup(path, "%s", sql));
}

/* ---- records ----------------------------------------------------------- */

static unsigned g_seq = 1;

static void trace_id(char out[40], unsigned n)
{
    snprintf(out, 40, "trace_%032x", n);
}

static void span_id(char out[40], unsigned n)
{
    snprintf(out, 40, "span_%024x", n);
}

/* A span JSON line; `pad` bytes of payload in span_data.input. */
static char *span_json(const char *tid, const char *sid, const char *parent, size_t pad)
{
    char *payload = malloc(pad + 1);
    assert_non_null(payload);
    for (size_t i = 0; i < pad; i++)
        payload[i] = (char)('a' + (i * 7 + g_seq) % 26);
    payload[pad] = '\0';
    size_t cap = pad + 1024;
    char *buf = malloc(cap);
    assert_non_null(buf);
    char par[64];
    if (parent)
        snprintf(par, sizeof par, "\"%s\"", parent);
    else
        snprintf(par, sizeof par, "null");
    snprintf(buf, cap,
             "{\"object\":\"trace.span\",\"id\":\"%s\",\"trace_id\":\"%s\",\"parent_id\":%s,"
             "\"started_at\":\"2025-06-01T12:00:00.000001+00:00\",\"ended_at\":"
             "\"2025-06-01T12:00:01.500000+00:00\",\"span_data\":{\"type\":\"function\","
             "\"name\":\"tool_%u\",\"input\":\"%s\",\"output\":null,\"mcp_data\":null},"
             "\"error\":null}",
             sid, tid, par, g_seq++, payload);
    free(payload);
    return keep(buf);
}

static char *trace_json(const char *tid, const char *wf, const char *group_json,
                        const char *metadata_json)
{
    char *buf = malloc(1024);
    assert_non_null(buf);
    snprintf(buf, 1024,
             "{\"object\":\"trace\",\"id\":\"%s\",\"workflow_name\":\"%s\",\"group_id\":%s,"
             "\"metadata\":%s}",
             tid, wf, group_json, metadata_json);
    return keep(buf);
}

static int64_t count_rows(const char *path)
{
    return q_int(path, "SELECT count(*) FROM records");
}

/* ---- tests: the file --------------------------------------------------- */

static int highest_schema_file(void)
{
    const char *src = getenv("TB_SOURCE_DIR");
    if (!src)
        return tb__schema_version();
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/schema", src);
    DIR *d = opendir(dir);
    assert_non_null(d);
    int best = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strlen(e->d_name) > 4 && e->d_name[3] == '_' &&
            strcmp(e->d_name + strlen(e->d_name) - 4, ".sql") == 0) {
            int v = (e->d_name[0] - '0') * 100 + (e->d_name[1] - '0') * 10 + (e->d_name[2] - '0');
            if (v > best)
                best = v;
        }
    }
    closedir(d);
    return best;
}

static void test_create(void **state)
{
    (void)state;
    char path[PATH_MAX];
    in_dir(path, sizeof path, "new.db");
    tb_outbox *ob = NULL;
    assert_int_equal(tb_outbox_open(&ob, path, NULL), TB_OK);
    assert_non_null(ob);
    assert_string_equal(tb_outbox_path(ob), path);

    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);

    char *jm = q_text(path, "PRAGMA journal_mode");
    assert_non_null(jm);
    assert_string_equal(jm, "wal");
    release(jm);
    assert_int_equal(q_int(path, "PRAGMA user_version"), tb__schema_version());
    assert_int_equal(tb__schema_version(), highest_schema_file());
    assert_true(tb__schema_version() >= 1);
    assert_int_equal(q_int(path, "PRAGMA application_id"), TB__APP_ID);

    static const char *const tables[] = {"records", "destinations", "dead_letters"};
    for (size_t i = 0; i < 3; i++) {
        char sql[200];
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='%s'", tables[i]);
        if (q_int(path, sql) != 1)
            fail_msg("table %s missing", tables[i]);
    }
    static const char *const views[] = {"pending", "outbox_status"};
    for (size_t i = 0; i < 2; i++) {
        char sql[200];
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM sqlite_master WHERE type='view' AND name='%s'", views[i]);
        if (q_int(path, sql) != 1)
            fail_msg("view %s missing", views[i]);
    }
    /* the contract's columns are there and the views run */
    assert_int_equal(q_int(path, "SELECT count(*) FROM pragma_table_info('records') WHERE name IN "
                                 "('seq','kind','trace_id','span_id','parent_id','type','name',"
                                 "'started_at','ended_at','error','body','created_at')"),
                     12);
    assert_int_equal(q_int(path, "SELECT count(*) FROM pending"), 0);
    assert_int_equal(q_int(path, "SELECT count(*) FROM outbox_status"), 0);
    assert_int_equal(count_rows(path), 0);
    tb_outbox_close(ob);
    tb_outbox_close(NULL);

    /* mode 0600 even with a permissive umask */
    mode_t old = umask(0);
    in_dir(path, sizeof path, "umask.db");
    assert_int_equal(tb_outbox_open(&ob, path, NULL), TB_OK);
    tb_outbox_close(ob);
    umask(old);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
}

static void test_reopen_is_noop(void **state)
{
    (void)state;
    char path[PATH_MAX];
    in_dir(path, sizeof path, "re.db");
    tb_outbox *ob = NULL;
    assert_int_equal(tb_outbox_open(&ob, path, NULL), TB_OK);
    char tid[40];
    trace_id(tid, 1);
    char *t = trace_json(tid, "wf", "null", "null");
    assert_int_equal(tb_outbox_put_json(ob, t, (size_t)-1, NULL), TB_OK);
    release(t);
    tb_outbox_close(ob);

    char *schema1 = q_text(path, "SELECT group_concat(type || name || coalesce(sql,''), '|') FROM "
                                 "(SELECT * FROM sqlite_master ORDER BY name)");
    int64_t cookie1 = q_int(path, "PRAGMA schema_version");
    assert_int_equal(tb_outbox_open(&ob, path, NULL), TB_OK);
    /* a second handle on the same file at the same time is fine too */
    tb_outbox *ob2 = NULL;
    assert_int_equal(tb_outbox_open(&ob2, path, NULL), TB_OK);
    tb_outbox_close(ob2);
    tb_outbox_close(ob);
    char *schema2 = q_text(path, "SELECT group_concat(type || name || coalesce(sql,''), '|') FROM "
                                 "(SELECT * FROM sqlite_master ORDER BY name)");
    assert_string_equal(schema1, schema2);
    /* no DDL ran: the schema cookie did not move */
    assert_int_equal(q_int(path, "PRAGMA schema_version"), cookie1);
    assert_int_equal(q_int(path, "PRAGMA user_version"), tb__schema_version());
    assert_int_equal(count_rows(path), 1);
    assert_int_equal(q_int(path, "SELECT count(*) FROM counters WHERE name='refused_full'"), 1);
    release(schema1);
    release(schema2);
}

static void assert_unchanged(const char *path, const unsigned char *before, size_t len)
{
    size_t n2;
    unsigned char *after = read_all(path, &n2);
    assert_int_equal(n2, len);
    assert_memory_equal(after, before, len);
    release(after);
}

static void test_too_new_refused_untouched(void **state)
{
    (void)state;
    char path[PATH_MAX];
    in_dir(path, sizeof path, "future.db");
    tb_outbox *ob = NULL;
    assert_int_equal(tb_outbox_open(&ob, path, NULL), TB_OK);
    tb_outbox_close(ob);
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", tb__schema_version() + 7);
    st_db_exec(path, "%s", sql);
    size_t len;
    unsigned char *before = read_all(path, &len);

    ob = (tb_outbox *)&len;
    assert_int_equal(tb_outbox_open(&ob, path, NULL), TB_TOO_NEW);
    assert_null(ob);
    char want[32];
    snprintf(want, sizeof want, "%d", tb__schema_version() + 7);
    const char *msg = tb_last_error();
    assert_non_null(strstr(msg, path));
    assert_non_null(strstr(msg, want));
    assert_non_null(strstr(msg, "newer"));
    assert_unchanged(path, before, len);

    /* read-only opens refuse it too */
    tb_outbox_options o = TB_OUTBOX_OPTIONS_INIT;
    o.readonly = 1;
    assert_int_equal(tb_outbox_open(&ob, path, &o), TB_TOO_NEW);
    assert_null(ob);
    assert_unchanged(path, before, len);
    release(before);
}

static void test_text_file_refused_untouched(void **state)
{
    (void)state;
    char path[PATH_MAX], wal[PATH_MAX + 8];
    in_dir(path, sizeof path, "notes.txt");
    const char *text = "these are my notes\nnot a database\n";
    st_write_data(path, text, strlen(text));
    tb_outbox *ob = NULL;
    assert_int_equal(tb_outbox_open(&ob, path, NULL), TB_NOT_OUTBOX);
    assert_null(ob);
    assert_non_null(strstr(tb_last_error(), path));
    assert_unchanged(path, (const unsigned char *)text, strlen(text));
    snprintf(wal, sizeof wal, "%s-wal", path);
    assert_false(st_file_exists(wal));

    /* a short binary file that is not SQLite either */
    in_dir(path, sizeof path, "blob.bin");
    const unsigned char blob[] = {0x7f, 'E', 'L', 'F', 2, 1, 1, 0};
    st_write_data(path, blob, sizeof blob);
    assert_int_equal(tb_outbox_open(&ob, path, NULL), TB_NOT_OUTBOX);
    assert_unchanged(path, blob, sizeof blob);
}

static void test_other_sqlite_db_refused_untouched(void **state)
{
    (void)state;
    char path[PATH_MAX];
    in_dir(path, sizeof path, "app.db");
    /* another application's database, in its own (default) journal mode */
    st_db_exec(path, "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);"
                     "INSERT INTO users (name) VALUES ('ada'), ('grace');");
    size_t len;
    unsigned char *before = read_all(path, &len);
    tb_outbox *ob = NULL;
    assert_int_equal(tb_outbox_open(&ob, path, NULL), TB_NOT_OUTBOX);
    assert_null(ob);
    assert_non_null(strstr(tb_last_error(), path));
    assert_unchanged(path, before, len);
    char *jm = q_text(path, "PRAGMA journal_mode");
    assert_string_equal(jm, "delete");
    release(jm);
    release(before);

    /* the same with a WAL-mode application database */
    in_dir(path, sizeof path, "walapp.db");
    st_db_exec(path, "PRAGMA journal_mode=WAL; CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT);"
                     "INSERT INTO kv VALUES ('a','b');");
    before = read_all(path, &len);
    assert_int_equal(tb_outbox_open(&ob, path, NULL), TB_NOT_OUTBOX);
    assert_null(ob);
    assert_unchanged(path, before, len);
    assert_int_equal(q_int(path, "SELECT count(*) FROM sqlite_master WHERE name='records'"), 0);
    release(before);
}

/* The one "<path>.corrupt-*" file next to path, or fail. */
static void find_aside(const char *path, char *out, size_t n)
{
    const char *base = strrchr(path, '/') + 1;
    char prefix[256];
    snprintf(prefix, sizeof prefix, "%s.corrupt-", base);
    DIR *d = opendir(st_tmp());
    assert_non_null(d);
    int found = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t el = strlen(e->d_name);
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0 &&
            !(el > 4 && (strcmp(e->d_name + el - 4, "-wal") == 0 ||
                         strcmp(e->d_name + el - 4, "-shm") == 0))) {
            snprintf(out, n, "%s/%s", st_tmp(), e->d_name);
            found++;
        }
    }
    closedir(d);
    if (found != 1)
        fail_msg("expected one %s* file in %s, found %d", prefix, st_tmp(), found);
}

static void check_fresh_outbox_works(tb_outbox *ob, const char *path)
{
    char tid[40], sid[40];
    trace_id(tid, 77);
    span_id(sid, 77);
    char *s = span_json(tid, sid, NULL, 10);
    assert_int_equal(tb_outbox_put_json(ob, s, (size_t)-1, NULL), TB_OK);
    release(s);
    assert_int_equal(count_rows(path), 1);
    assert_int_equal(q_int(path, "PRAGMA user_version"), tb__schema_version());
}

/* What the library reports on its own goes to the application's log
 * function, not to stderr. */
typedef struct logged {
    int n;
    tb_log_level level;
    char last[1024];
} logged;

static void capture_log(void *ctx, tb_log_level level, const char *message)
{
    logged *l = ctx;
    l->n++;
    l->level = level;
    snprintf(l->last, sizeof l->last, "%s", message);
}

static void test_corrupt_garbage_pages_renamed_aside(void **state)
{
    (void)state;
    char path[PATH_MAX], aside[PATH_MAX];
    in_dir(path, sizeof path, "bad.db");
    size_t len = 4096 * 4;
    unsigned char *bytes = keep(malloc(len));
    assert_non_null(bytes);
    memcpy(bytes, "SQLite format 3", 16);
    unsigned x = 12345;
    for (size_t i = 16; i < len; i++) {
        x = x * 1103515245u + 12345u;
        bytes[i] = (unsigned char)(x >> 16);
    }
    st_write_data(path, bytes, len);

    logged l;
    memset(&l, 0, sizeof l);
    tb_set_log_callback(capture_log, &l);
    tb_outbox *ob = NULL;
    assert_int_equal(tb_outbox_open(&ob, path, NULL), TB_OK);
    tb_set_log_callback(NULL, NULL);
    assert_non_null(ob);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.level, TB_LOG_WARN);
    assert_non_null(strstr(l.last, "is corrupt; it was renamed to"));
    assert_null(strstr(l.last, "tracebox ")); /* no CLI words from the library */
    find_aside(path, aside, sizeof aside);
    assert_unchanged(aside, bytes, len);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    check_fresh_outbox_works(ob, path);
    tb_outbox_close(ob);
    release(bytes);
}

static void test_corrupt_truncated_outbox_renamed_aside(void **state)
{
    (void)state;
    char path[PATH_MAX], aside[PATH_MAX];
    in_dir(path, sizeof path, "trunc.db");
    tb_outbox *ob = NULL;
    assert_int_equal(tb_outbox_open(&ob, path, NULL), TB_OK);
    char tid[40];
    trace_id(tid, 5);
    for (unsigned i = 0; i < 300; i++) {
        char sid[40];
        span_id(sid, 1000 + i);
        char *s = span_json(tid, sid, NULL, 600);
        assert_int_equal(tb_outbox_put_json(ob, s, (size_t)-1, NULL), TB_OK);
        release(s);
    }
    tb_outbox_close(ob);
    st_db_exec(path, "PRAGMA wal_checkpoint(TRUNCATE)");
    size_t len;
    unsigned char *bytes = read_all(path, &len);
    assert_true(len > 40 * 4096);
    /* keep page 1 (schema) and a bit, lose the rest of the pages */
    size_t keep = 4096 * 3 + 100;
    st_write_data(path, bytes, keep);

    assert_int_equal(tb_outbox_open(&ob, path, NULL), TB_OK);
    assert_non_null(ob);
    find_aside(path, aside, sizeof aside);
    assert_unchanged(aside, bytes, keep);
    check_fresh_outbox_works(ob, path);
    tb_outbox_close(ob);
    release(bytes);
}

/* ---- tests: put -------------------------------------------------------- */

static void test_put_columns(void **state)
{
    (void)state;
    char path[PATH_MAX];
    in_dir(path, sizeof path, "put.db");
    tb_outbox *ob = NULL;
    assert_int_equal(tb_outbox_open(&ob, path, NULL), TB_OK);
    char tid[40], root[40], child[40], id[64];
    trace_id(tid, 0xabc);
    span_id(root, 1);
    span_id(child, 2);

    char *t = trace_json(tid, "Support bot", "\"conv-9\"", "{\"tier\":\"gold\"}");
    assert_int_equal(tb_outbox_put_json(ob, t, (size_t)-1, id), TB_OK);
    assert_string_equal(id, tid);

    char *s1 = span_json(tid, root, NULL, 5);
    /* a trailing newline (a line from a file) is fine and not stored */
    size_t l1 = strlen(s1);
    char *s1nl = keep(malloc(l1 + 3));
    assert_non_null(s1nl);
    memcpy(s1nl, s1, l1);
    memcpy(s1nl + l1, "\r\n", 3);
    assert_int_equal(tb_outbox_put_json(ob, s1nl, l1 + 2, id), TB_OK);
    assert_string_equal(id, root);

    char s2[1024];
    snprintf(
        s2, sizeof s2,
        "{\"object\":\"trace.span\",\"id\":\"%s\",\"trace_id\":\"%s\",\"parent_id\":\"%s\","
        "\"started_at\":\"2025-06-01T12:00:00.100Z\",\"ended_at\":\"2025-06-01T12:00:00.900Z\","
        "\"span_data\":{\"type\":\"generation\",\"model\":\"gpt-4o\",\"usage\":null},"
        "\"error\":{\"message\":\"boom\",\"data\":{\"x\":1}}}",
        child, tid, root);
    /* len counts only the first bytes: the rest of the buffer is ignored */
    char s2x[1100];
    snprintf(s2x, sizeof s2x, "%sGARBAGE", s2);
    assert_int_equal(tb_outbox_put_json(ob, s2x, strlen(s2), id), TB_OK);
    assert_string_equal(id, child);
    tb_outbox_close(ob);

    assert_int_equal(count_rows(path), 3);
    sqlite3 *db = st_db_open(path);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT kind, trace_id, span_id, parent_id, type, name, "
                                        "started_at, ended_at, error, body, created_at "
                                        "FROM records ORDER BY seq",
                                        -1, &st, NULL),
                     SQLITE_OK);
#define COL(i) ((const char *)sqlite3_column_text(st, i))
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal(COL(0), "trace");
    assert_string_equal(COL(1), tid);
    assert_null(COL(2));
    assert_null(COL(3));
    assert_string_equal(COL(4), "trace");
    assert_string_equal(COL(5), "Support bot");
    assert_null(COL(8));
    assert_string_equal(COL(9), t);
    int64_t us;
    assert_true(tb__parse_iso8601(COL(10), &us));
    assert_true(us <= tb__now_us() && us > tb__now_us() - INT64_C(600) * 1000000);

    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal(COL(0), "span");
    assert_string_equal(COL(1), tid);
    assert_string_equal(COL(2), root);
    assert_null(COL(3));
    assert_string_equal(COL(4), "function");
    assert_non_null(strstr(COL(5), "tool_"));
    assert_string_equal(COL(6), "2025-06-01T12:00:00.000001+00:00");
    assert_string_equal(COL(7), "2025-06-01T12:00:01.500000+00:00");
    assert_null(COL(8));
    assert_string_equal(COL(9), s1); /* verbatim, without the newline */

    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal(COL(2), child);
    assert_string_equal(COL(3), root);
    assert_string_equal(COL(4), "generation");
    assert_string_equal(COL(5), "gpt-4o");
    assert_string_equal(COL(6), "2025-06-01T12:00:00.100Z");
    cJSON *e = cJSON_Parse(COL(8));
    assert_non_null(e);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(e, "message")->valuestring, "boom");
    cJSON_Delete(e);
    assert_string_equal(COL(9), s2);
#undef COL
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(db);
    release(t);
    release(s1);
    release(s1nl);
}

static void test_put_bad_and_null(void **state)
{
    (void)state;
    char path[PATH_MAX];
    in_dir(path, sizeof path, "bad.db");
    tb_outbox *ob = NULL;
    assert_int_equal(tb_outbox_open(NULL, path, NULL), TB_INVALID);
    assert_int_equal(tb_outbox_open(&ob, NULL, NULL), TB_INVALID);
    assert_null(ob);
    assert_int_equal(tb_outbox_open(&ob, "", NULL), TB_INVALID);
    tb_outbox_options o = TB_OUTBOX_OPTIONS_INIT;
    o.version = 999;
    assert_int_equal(tb_outbox_open(&ob, path, &o), TB_INVALID);
    assert_false(st_file_exists(path));
    /* a folder that does not exist */
    char nodir[PATH_MAX];
    in_dir(nodir, sizeof nodir, "no/such/dir/x.db");
    assert_int_not_equal(tb_outbox_open(&ob, nodir, NULL), TB_OK);
    assert_null(ob);

    assert_int_equal(tb_outbox_open(&ob, path, NULL), TB_OK);
    assert_int_equal(tb_outbox_put_json(NULL, "{}", 2, NULL), TB_INVALID);
    assert_int_equal(tb_outbox_put_json(ob, NULL, 0, NULL), TB_INVALID);
    char id[64] = "unchanged";
    assert_int_equal(tb_outbox_put_json(ob, "{\"object\":\"trace\"}", (size_t)-1, id),
                     TB_BAD_RECORD);
    assert_non_null(strstr(tb_last_error(), "id"));
    assert_int_equal(tb_outbox_put_json(ob, "", 0, NULL), TB_BAD_RECORD);
    assert_int_equal(tb_outbox_put_json(ob, "\xff", 1, NULL), TB_BAD_RECORD);
    assert_int_equal(tb_outbox_flush(NULL, 0), TB_INVALID);
    assert_int_equal(tb_outbox_flush(ob, 0), TB_OK);
    tb_processor p;
    assert_int_equal(tb_outbox_processor(NULL, &p), TB_INVALID);
    assert_int_equal(tb_outbox_processor(ob, NULL), TB_INVALID);
    assert_null(tb_outbox_path(NULL));
    tb_outbox_close(ob);
    assert_int_equal(count_rows(path), 0);

    /* read-only: reads fine, refuses puts; a missing file is not created */
    o = (tb_outbox_options)TB_OUTBOX_OPTIONS_INIT;
    o.readonly = 1;
    assert_int_equal(tb_outbox_open(&ob, path, &o), TB_OK);
    char tid[40];
    trace_id(tid, 3);
    char *t = trace_json(tid, "w", "null", "null");
    assert_int_equal(tb_outbox_put_json(ob, t, (size_t)-1, NULL), TB_READONLY);
    tb_outbox_close(ob);
    release(t);
    char missing[PATH_MAX];
    in_dir(missing, sizeof missing, "missing.db");
    assert_int_equal(tb_outbox_open(&ob, missing, &o), TB_NOT_FOUND);
    assert_false(st_file_exists(missing));
}

static void test_put_span_twice_one_row(void **state)
{
    (void)state;
    char path[PATH_MAX];
    in_dir(path, sizeof path, "idem.db");
    tb_outbox *ob = NULL;
    assert_int_equal(tb_outbox_open(&ob, path, NULL), TB_OK);
    char tid[40], sid[40];
    trace_id(tid, 9);
    span_id(sid, 9);
    char *s = span_json(tid, sid, NULL, 50);
    char *s_again = span_json(tid, sid, NULL, 80); /* same id, other body */
    assert_int_equal(tb_outbox_put_json(ob, s, (size_t)-1, NULL), TB_OK);
    assert_int_equal(tb_outbox_put_json(ob, s, (size_t)-1, NULL), TB_OK);
    assert_int_equal(tb_outbox_put_json(ob, s_again, (size_t)-1, NULL), TB_OK);
    tb_outbox_close(ob);
    assert_int_equal(count_rows(path), 1);
    char *body = q_text(path, "SELECT body FROM records");
    assert_string_equal(body, s); /* the first one stays */
    release(body);
    /* and across handles / reopen */
    assert_int_equal(tb_outbox_open(&ob, path, NULL), TB_OK);
    assert_int_equal(tb_outbox_put_json(ob, s, (size_t)-1, NULL), TB_OK);
    tb_outbox_close(ob);
    assert_int_equal(count_rows(path), 1);
    release(s);
    release(s_again);
}

static void test_put_trace_twice_fills_fields(void **state)
{
    (void)state;
    char path[PATH_MAX];
    in_dir(path, sizeof path, "merge.db");
    tb_outbox *ob = NULL;
    assert_int_equal(tb_outbox_open(&ob, path, NULL), TB_OK);
    char tid[40];
    trace_id(tid, 0x42);
    char *t1 = trace_json(tid, "wf", "null", "null");
    char *t2 = trace_json(tid, "wf", "\"group-1\"", "{\"k\":\"v\"}");
    char *t3 = trace_json(tid, "other wf", "\"group-2\"", "{\"k\":\"w\",\"extra\":1}");
    assert_int_equal(tb_outbox_put_json(ob, t1, (size_t)-1, NULL), TB_OK);
    char *g = q_text(path, "SELECT json_extract(body, '$.group_id') FROM records");
    assert_null(g);
    assert_int_equal(tb_outbox_put_json(ob, t2, (size_t)-1, NULL), TB_OK);
    assert_int_equal(count_rows(path), 1);
    g = q_text(path, "SELECT json_extract(body, '$.group_id') FROM records");
    assert_non_null(g);
    assert_string_equal(g, "group-1");
    release(g);
    g = q_text(path, "SELECT json_extract(body, '$.metadata.k') FROM records");
    assert_string_equal(g, "v");
    release(g);
    /* fields already set are kept, not overwritten */
    assert_int_equal(tb_outbox_put_json(ob, t3, (size_t)-1, NULL), TB_OK);
    tb_outbox_close(ob);
    assert_int_equal(count_rows(path), 1);
    g = q_text(path, "SELECT json_extract(body, '$.group_id') || '/' || "
                     "json_extract(body, '$.workflow_name') || '/' || name FROM records");
    assert_string_equal(g, "group-1/wf/wf");
    release(g);
    assert_int_equal(q_int(path, "SELECT json_valid(body) FROM records"), 1);
    release(t1);
    release(t2);
    release(t3);
}

/* ---- tests: the processor ---------------------------------------------- */

static void test_processor_writes_trace_at_start_span_at_end(void **state)
{
    (void)state;
    char path[PATH_MAX];
    in_dir(path, sizeof path, "proc.db");
    tb_outbox *ob = NULL;
    assert_int_equal(tb_outbox_open(&ob, path, NULL), TB_OK);
    tb_processor p;
    assert_int_equal(tb_outbox_processor(ob, &p), TB_OK);
    assert_int_equal(tb_set_trace_processors(&p, 1), TB_OK);

    tb_trace *t = NULL;
    tb_trace_options to = TB_TRACE_OPTIONS_INIT;
    to.group_id = "g7";
    to.metadata_json = "{\"user\":\"u\"}";
    assert_int_equal(tb_trace_start(&t, "Proc wf", &to), TB_OK);
    /* the trace row is there as soon as the trace started */
    assert_int_equal(q_int(path, "SELECT count(*) FROM records WHERE kind='trace'"), 1);
    char *g = q_text(path, "SELECT json_extract(body,'$.group_id') || json_extract(body,"
                           "'$.metadata.user') || name FROM records");
    assert_string_equal(g, "g7uProc wf");
    release(g);

    tb_span *a = NULL, *f = NULL;
    assert_int_equal(tb_span_start_agent(&a, t, NULL, "Agent"), TB_OK);
    assert_int_equal(tb_span_start_function(&f, t, a, "tool", "{}"), TB_OK);
    /* started spans are not written */
    assert_int_equal(count_rows(path), 1);
    assert_int_equal(tb_span_end(f), TB_OK);
    /* durable when tb_span_end returns: a separate connection sees it */
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM records WHERE kind='span' AND span_id='%s' AND parent_id='%s'"
             " AND trace_id='%s' AND ended_at IS NOT NULL",
             tb_span_id(f), tb_span_id(a), tb_trace_id(t));
    assert_int_equal(q_int(path, sql), 1);
    assert_int_equal(count_rows(path), 2);
    assert_int_equal(tb_span_end(a), TB_OK);
    assert_int_equal(count_rows(path), 3);
    assert_int_equal(tb_trace_end(t), TB_OK);
    assert_int_equal(count_rows(path), 3);
    /* the trace precedes its spans in seq order */
    snprintf(sql, sizeof sql, "SELECT kind FROM records ORDER BY seq LIMIT 1");
    char *k = q_text(path, sql);
    assert_string_equal(k, "trace");
    release(k);
    /* the stored body is the span's export */
    char *exp = NULL;
    assert_int_equal(tb_span_export_json(a, &exp), TB_OK);
    snprintf(sql, sizeof sql, "SELECT body FROM records WHERE span_id='%s'", tb_span_id(a));
    char *body = q_text(path, sql);
    assert_string_equal(body, exp);
    release(body);
    tb_free(exp);

    assert_int_equal(tb_force_flush(), TB_OK);
    tb_span_free(f);
    tb_span_free(a);
    tb_trace_free(t);
    assert_int_equal(tb_shutdown(1000), TB_OK);
    tb_outbox_close(ob);
}

/* ---- tests: size cap ---------------------------------------------------- */

static void test_max_size_refuses_and_counts(void **state)
{
    (void)state;
    char path[PATH_MAX];
    in_dir(path, sizeof path, "cap.db");
    /* the empty outbox's own size, then a cap 64 KiB above it */
    tb_outbox *ob = NULL;
    assert_int_equal(tb_outbox_open(&ob, path, NULL), TB_OK);
    tb_outbox_close(ob);
    int64_t base = q_int(path, "SELECT (SELECT page_count FROM pragma_page_count()) * "
                               "(SELECT page_size FROM pragma_page_size())");
    tb_outbox_options o = TB_OUTBOX_OPTIONS_INIT;
    o.max_size = base + 64 * 1024;
    assert_int_equal(tb_outbox_open(&ob, path, &o), TB_OK);

    enum { MAX_TRIES = 400, AFTER_FULL = 25 };
    char acked[MAX_TRIES][40];
    int n_acked = 0, refused = 0, first_full = -1;
    char tid[40];
    trace_id(tid, 0xcafe);
    for (int i = 0; i < MAX_TRIES; i++) {
        char sid[40];
        span_id(sid, 50000 + (unsigned)i);
        char *s = span_json(tid, sid, NULL, 2000);
        tb_status st = tb_outbox_put_json(ob, s, (size_t)-1, NULL);
        release(s);
        if (st == TB_OK) {
            snprintf(acked[n_acked++], 40, "%s", sid);
        } else {
            assert_int_equal(st, TB_FULL);
            assert_non_null(strstr(tb_last_error(), "max_size"));
            refused++;
            if (first_full < 0)
                first_full = i;
            if (i - first_full >= AFTER_FULL)
                break;
        }
    }
    tb_outbox_close(ob);
    assert_true(first_full > 5);       /* it did store for a while */
    assert_true(refused > AFTER_FULL); /* then refused for good */
    assert_int_equal(q_int(path, "SELECT value FROM counters WHERE name='refused_full'"), refused);
    assert_int_equal(count_rows(path), n_acked);
    for (int i = 0; i < n_acked; i++) {
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM records WHERE span_id='%.60s'", acked[i]);
        if (q_int(path, sql) != 1)
            fail_msg("acknowledged %s is missing", acked[i]);
    }
    /* the file stays near the cap (one batch of slack at most) */
    int64_t used = q_int(path, "SELECT (SELECT page_count FROM pragma_page_count()) * "
                               "(SELECT page_size FROM pragma_page_size())");
    assert_true(used <= o.max_size + 64 * 1024);
}

/* ---- tests: async ------------------------------------------------------- */

static void test_async_flush_commits_all(void **state)
{
    (void)state;
    char path[PATH_MAX];
    in_dir(path, sizeof path, "async.db");
    tb_outbox_options o = TB_OUTBOX_OPTIONS_INIT;
    o.durability = TB_DURABILITY_ASYNC;
    o.flush_interval_ms = 20;
    tb_outbox *ob = NULL;
    assert_int_equal(tb_outbox_open(&ob, path, &o), TB_OK);
    enum { N = 600 };
    char tid[40];
    trace_id(tid, 0xa5);
    char *t = trace_json(tid, "async", "null", "null");
    assert_int_equal(tb_outbox_put_json(ob, t, (size_t)-1, NULL), TB_OK);
    release(t);
    for (unsigned i = 0; i < N; i++) {
        char sid[40];
        span_id(sid, 70000 + i);
        char *s = span_json(tid, sid, NULL, 100);
        assert_int_equal(tb_outbox_put_json(ob, s, (size_t)-1, NULL), TB_OK);
        /* the caller's buffer may be reused at once */
        memset(s, 'x', strlen(s));
        release(s);
    }
    assert_int_equal(tb_outbox_flush(ob, 30000), TB_OK);
    assert_int_equal(count_rows(path), N + 1);
    assert_int_equal(q_int(path, "SELECT count(*) FROM records WHERE json_valid(body)"), N + 1);
    /* a bad record is refused at once, even in async mode */
    assert_int_equal(tb_outbox_put_json(ob, "{}", 2, NULL), TB_BAD_RECORD);
    tb_outbox_close(ob);
    assert_int_equal(count_rows(path), N + 1);
    assert_int_equal(q_int(path, "SELECT value FROM counters WHERE name='dropped_queue'"), 0);
}

/* tb_outbox_flush waits for what was put before it, not for an empty
 * queue: with another thread putting all the time (which keeps the queue
 * from ever being empty) it still returns, and what it waited for is in
 * the file. */
typedef struct steady {
    tb_outbox *ob;
    atomic_int stop;
    int64_t puts;
} steady;

static void *steady_main(void *arg)
{
    steady *st = arg;
    char j[512];
    for (unsigned k = 1; !atomic_load(&st->stop); k++) {
        /* its own text: span_json() is the main thread's */
        snprintf(j, sizeof j,
                 "{\"object\":\"trace.span\",\"id\":\"span_steady_%u\",\"trace_id\":"
                 "\"trace_steady\",\"span_data\":{\"type\":\"custom\"}}",
                 k);
        if (tb_outbox_put_json(st->ob, j, (size_t)-1, NULL) == TB_OK)
            st->puts++;
    }
    return NULL;
}

static void test_async_flush_under_steady_puts(void **state)
{
    (void)state;
    char path[PATH_MAX];
    in_dir(path, sizeof path, "steady.db");
    tb_outbox *ob = NULL;
    tb_outbox_options o = TB_OUTBOX_OPTIONS_INIT;
    o.durability = TB_DURABILITY_ASYNC;
    assert_int_equal(tb_outbox_open(&ob, path, &o), TB_OK);
    steady st = {.ob = ob};
    atomic_init(&st.stop, 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, steady_main, &st), 0);
    char tid[40], sid[40];
    trace_id(tid, 0xf1);
    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < 10; i++) {
            span_id(sid, (unsigned)(round * 100 + i + 1));
            char *j = span_json(tid, sid, NULL, 3);
            assert_int_equal(tb_outbox_put_json(ob, j, (size_t)-1, NULL), TB_OK);
            release(j);
        }
        tb_status fs = tb_outbox_flush(ob, 20000);
        if (fs != TB_OK)
            fail_msg("round %d: flush: %s: %s", round, tb_status_str(fs), tb_last_error());
        /* what it waited for is committed (read from another connection) */
        char sql[200];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM records WHERE trace_id = '%s'", tid);
        assert_int_equal(q_int(path, sql), (round + 1) * 10);
    }
    atomic_store(&st.stop, 1);
    pthread_join(th, NULL);
    assert_true(st.puts > 0);
    tb_outbox_close(ob);
}

/* Records a binding dropped from its own queue reach the file's
 * dropped_queue counter: with the next batch, or at close when none comes. */
static void test_count_dropped(void **state)
{
    (void)state;
    for (int mode = 0; mode < 2; mode++) {
        char path[PATH_MAX];
        in_dir(path, sizeof path, mode ? "cd_async.db" : "cd_full.db");
        tb_outbox *ob = NULL;
        tb_outbox_options o = TB_OUTBOX_OPTIONS_INIT;
        o.durability = mode ? TB_DURABILITY_ASYNC : TB_DURABILITY_FULL;
        assert_int_equal(tb_outbox_open(&ob, path, &o), TB_OK);
        assert_int_equal(tb_outbox_count_dropped(ob, 2), TB_OK);
        char tid[40], sid[40];
        trace_id(tid, 0xd1);
        span_id(sid, 1);
        char *j = span_json(tid, sid, NULL, 3);
        assert_int_equal(tb_outbox_put_json(ob, j, (size_t)-1, NULL), TB_OK);
        release(j);
        assert_int_equal(tb_outbox_flush(ob, 10000), TB_OK);
        assert_int_equal(q_int(path, "SELECT value FROM counters WHERE name = 'dropped_queue'"), 2);
        /* no batch after this one: close writes it */
        assert_int_equal(tb_outbox_count_dropped(ob, 3), TB_OK);
        assert_int_equal(tb_outbox_count_dropped(ob, -1), TB_INVALID);
        tb_outbox_close(ob);
        assert_int_equal(q_int(path, "SELECT value FROM counters WHERE name = 'dropped_queue'"), 5);
    }
}

static void test_async_block_policy_loses_nothing(void **state)
{
    (void)state;
    char path[PATH_MAX];
    in_dir(path, sizeof path, "block.db");
    tb_outbox_options o = TB_OUTBOX_OPTIONS_INIT;
    o.durability = TB_DURABILITY_ASYNC;
    o.queue_capacity = 1;
    o.queue_policy = TB_QUEUE_BLOCK;
    tb_outbox *ob = NULL;
    assert_int_equal(tb_outbox_open(&ob, path, &o), TB_OK);
    enum { N = 300 };
    char tid[40];
    trace_id(tid, 0xb1);
    for (unsigned i = 0; i < N; i++) {
        char sid[40];
        span_id(sid, 80000 + i);
        char *s = span_json(tid, sid, NULL, 50);
        assert_int_equal(tb_outbox_put_json(ob, s, (size_t)-1, NULL), TB_OK);
        release(s);
    }
    /* close flushes */
    tb_outbox_close(ob);
    assert_int_equal(count_rows(path), N);
}

static void test_async_drop_policy_counts_drops(void **state)
{
    (void)state;
    char path[PATH_MAX];
    in_dir(path, sizeof path, "drop.db");
    tb_outbox_options o = TB_OUTBOX_OPTIONS_INIT;
    o.durability = TB_DURABILITY_ASYNC;
    o.queue_capacity = 1;
    o.queue_policy = TB_QUEUE_DROP;
    o.flush_interval_ms = 50;
    tb_outbox *ob = NULL;
    assert_int_equal(tb_outbox_open(&ob, path, &o), TB_OK);
    enum { N = 2000 };
    int ok = 0, dropped = 0;
    char tid[40];
    trace_id(tid, 0xd0);
    for (unsigned i = 0; i < N; i++) {
        char sid[40];
        span_id(sid, 90000 + i);
        char *s = span_json(tid, sid, NULL, 200);
        tb_status st = tb_outbox_put_json(ob, s, (size_t)-1, NULL);
        release(s);
        if (st == TB_OK) {
            ok++;
        } else {
            assert_int_equal(st, TB_FULL);
            assert_non_null(strstr(tb_last_error(), "dropped"));
            dropped++;
        }
    }
    assert_true(dropped > 0); /* a queue of one under a burst must drop */
    assert_int_equal(tb_outbox_flush(ob, 30000), TB_OK);
    int64_t rows = count_rows(path);
    int64_t counted_after_flush =
        q_int(path, "SELECT value FROM counters WHERE name='dropped_queue'");
    tb_outbox_close(ob);
    int64_t counted = q_int(path, "SELECT value FROM counters WHERE name='dropped_queue'");
    print_message("async drop: %d attempts, %d accepted, %d dropped; rows %lld, counted %lld "
                  "after flush, %lld after close\n",
                  N, ok, dropped, (long long)rows, (long long)counted_after_flush,
                  (long long)counted);
    assert_int_equal(rows, ok);
    assert_int_equal(count_rows(path), ok);
    /* every drop is counted in the file once the outbox is flushed/closed */
    assert_int_equal(counted, dropped);
    assert_int_equal(counted + count_rows(path), N);
}

/* What the SDKs write but JSON forbids, and caller ids of any shape: the
 * span is stored (NaN/Infinity as null, a lone surrogate as U+FFFD), never
 * lost; a real surrogate pair and "NaN" inside a string are left alone. */
static void test_put_tolerates_sdk_json(void **state)
{
    (void)state;
    char path[PATH_MAX];
    in_dir(path, sizeof path, "tolerate.db");
    tb_outbox *ob = NULL;
    assert_int_equal(tb_outbox_open(&ob, path, NULL), TB_OK);
    const char *trace = "{\"object\":\"trace\",\"id\":\"trace_my-app-1234\","
                        "\"workflow_name\":\"w\",\"group_id\":null,\"metadata\":null}";
    const char *span =
        "{\"object\":\"trace.span\",\"id\":\"span_req-42\",\"trace_id\":\"trace_my-app-1234\","
        "\"parent_id\":null,\"started_at\":null,\"ended_at\":null,\"error\":null,"
        "\"span_data\":{\"type\":\"custom\",\"name\":\"c\",\"data\":{\"score\":NaN,"
        "\"hi\":Infinity,\"lo\":-Infinity,\"text\":\"NaN \\ud800 x \\udc00 \\ud83d\\ude00\"}}}";
    char id[64];
    assert_int_equal(tb_outbox_put_json(ob, trace, (size_t)-1, id), TB_OK);
    assert_string_equal(id, "trace_my-app-1234");
    assert_int_equal(tb_outbox_put_json(ob, span, (size_t)-1, id), TB_OK);
    assert_string_equal(id, "span_req-42");
    /* still refused: text that is not JSON for another reason */
    assert_int_equal(tb_outbox_put_json(ob, "{\"object\":\"trace\",\"id\":NaN}", (size_t)-1, NULL),
                     TB_BAD_RECORD);
    tb_outbox_close(ob);

    assert_int_equal(q_int(path, "SELECT count(*) FROM records WHERE trace_id = "
                                 "'trace_my-app-1234'"),
                     2);
    char *body = q_text(path, "SELECT body FROM records WHERE span_id = 'span_req-42'");
    assert_non_null(strstr(body, "\"score\":null,\"hi\":null,\"lo\":null"));
    assert_non_null(strstr(body, "\"NaN \\ufffd x \\ufffd \\ud83d\\ude00\""));
}

/* tb__db_stmt keeps a statement on the connection: the same one comes back
 * for the same text, a running one is never handed out twice, a file
 * migrated by another connection in between does not break it, and
 * tb__db_finalize_all lets the connection close. */
static void test_statement_kept_on_the_connection(void **state)
{
    (void)state;
    char path[PATH_MAX];
    in_dir(path, sizeof path, "stmts.db");
    sqlite3 *db = NULL;
    assert_int_equal(tb__db_open(&db, path, 1000, 0, 0), TB_OK);
    static const char q[] = "SELECT count(*) FROM records WHERE seq > ?1";
    int rc = -1;
    sqlite3_stmt *a = tb__db_stmt(db, q, &rc);
    assert_non_null(a);
    assert_int_equal(rc, SQLITE_OK);
    sqlite3_bind_int(a, 1, 5);
    assert_int_equal(sqlite3_step(a), SQLITE_ROW);
    /* a is running: the same text gives another statement */
    sqlite3_stmt *b = tb__db_stmt(db, q, &rc);
    assert_non_null(b);
    assert_ptr_not_equal(a, b);
    sqlite3_reset(a);
    sqlite3_reset(b);
    /* reset: one of them comes back */
    sqlite3_stmt *again = tb__db_stmt(db, q, &rc);
    assert_true(again == a || again == b);
    assert_int_equal(sqlite3_step(again), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(again, 0), 0);
    sqlite3_reset(again);
    /* another text, another statement */
    sqlite3_stmt *c = tb__db_stmt(db, "SELECT 1", &rc);
    assert_non_null(c);
    assert_ptr_not_equal(c, a);
    assert_ptr_not_equal(c, b);
    /* bad SQL: NULL and the code */
    assert_null(tb__db_stmt(db, "SELEKT 1", &rc));
    assert_int_equal(rc, SQLITE_ERROR);
    /* the schema changes under it (another connection): it still runs */
    sqlite3 *other = NULL;
    assert_int_equal(sqlite3_open(path, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "CREATE TABLE operator_notes (x)", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(other);
    sqlite3_stmt *d = tb__db_stmt(db, q, &rc);
    assert_true(d == a || d == b);
    assert_int_equal(sqlite3_step(d), SQLITE_ROW);
    sqlite3_reset(d);
    tb__db_finalize_all(db);
    assert_null(sqlite3_next_stmt(db, NULL));
    assert_int_equal(sqlite3_close(db), SQLITE_OK); /* SQLITE_BUSY if one were left */
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, st_tmp_setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_create),
        T(test_reopen_is_noop),
        T(test_too_new_refused_untouched),
        T(test_text_file_refused_untouched),
        T(test_other_sqlite_db_refused_untouched),
        T(test_corrupt_garbage_pages_renamed_aside),
        T(test_corrupt_truncated_outbox_renamed_aside),
        T(test_put_columns),
        T(test_put_bad_and_null),
        T(test_put_tolerates_sdk_json),
        T(test_put_span_twice_one_row),
        T(test_put_trace_twice_fills_fields),
        T(test_processor_writes_trace_at_start_span_at_end),
        T(test_max_size_refuses_and_counts),
        T(test_async_flush_commits_all),
        T(test_async_flush_under_steady_puts),
        T(test_count_dropped),
        T(test_async_block_policy_loses_nothing),
        T(test_async_drop_policy_counts_drops),
        T(test_statement_kept_on_the_connection),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
