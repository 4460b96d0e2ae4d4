/*
 * test_alloc.c — allocation-failure torture (the libcurl habit).
 *
 * For n = 0, 1, 2, … tb__alloc_fail_after(n) lets n allocations succeed and
 * fails every later one; a scenario then runs and must either succeed or
 * return an error status — never crash, never leak (the asan build checks
 * leaks at exit), never report success for something that did not happen.
 * The loop stops at the first n where the scenario succeeds without any
 * injected failure. Only tracebox's own allocations (and cJSON's, routed
 * through them) fail; SQLite and libcurl use their own malloc.
 */
#include "fixture.h"

#include <limits.h>

#include "db.h"

#define MAX_ITERATIONS 20000

static int teardown(void **state)
{
    tb__alloc_fail_after(-1);
    return st_tmp_teardown(state);
}

static int64_t count_where(const char *path, const char *id)
{
    return st_db_int(path,
                     "SELECT count(*) FROM records WHERE span_id = '%s' OR "
                     "(kind = 'trace' AND trace_id = '%s')",
                     id, id);
}

/* 1 when the stored trace has group_id "g" and metadata.k, else 0. */
static int group_of(const char *path)
{
    return (int)st_db_int(path, "SELECT json_extract(body, '$.group_id') = 'g' AND "
                                "json_type(body, '$.metadata.k') = 'array' FROM records "
                                "WHERE kind = 'trace'");
}

static bool is_error_status(tb_status st)
{
    /* an injected failure must surface as a failure, with a known code */
    return st != TB_OK && strcmp(tb_status_str(st), "unknown status") != 0;
}

#define TRACE_LINE                                                                                 \
    "{\"object\":\"trace\",\"id\":\"trace_00000000000000000000000000000abc\",\"workflow_name\":"   \
    "\"alloc\",\"group_id\":\"g\",\"metadata\":{\"k\":[1,2,3]}}"
#define SPAN_LINE                                                                                  \
    "{\"object\":\"trace.span\",\"id\":\"span_000000000000000000000abc\",\"trace_id\":"            \
    "\"trace_00000000000000000000000000000abc\",\"parent_id\":null,\"started_at\":"                \
    "\"2025-06-01T12:00:00.000Z\",\"ended_at\":\"2025-06-01T12:00:01.000Z\",\"span_data\":"        \
    "{\"type\":\"generation\",\"model\":\"gpt-4o\",\"input\":[{\"role\":\"user\"}]},"              \
    "\"error\":{\"message\":\"x\",\"data\":null}}"
#define TRACE_ID "trace_00000000000000000000000000000abc"
/* the same trace first seen without group and metadata: the second put merges */
#define TRACE_SPARSE                                                                               \
    "{\"object\":\"trace\",\"id\":\"" TRACE_ID "\",\"workflow_name\":\"alloc\","                   \
    "\"group_id\":null,\"metadata\":null}"
#define SPAN_ID "span_000000000000000000000abc"

/* Runs the scenario with failure after n allocations; returns true when it
 * fully succeeded. *injected says whether a failure was injected. */
typedef bool (*scenario)(long n, bool *injected);

static void torture(const char *name, scenario fn)
{
    long n = 0;
    int failures_seen = 0;
    for (; n < MAX_ITERATIONS; n++) {
        bool injected = false;
        bool ok = fn(n, &injected);
        if (!ok)
            failures_seen++;
        if (ok && !injected)
            break;
    }
    tb__alloc_fail_after(-1);
    if (n == MAX_ITERATIONS)
        fail_msg("%s: never succeeded without an injected failure", name);
    print_message("%s: %ld allocation points, %d iterations failed cleanly\n", name, n,
                  failures_seen);
    /* there were allocations to fail, and failing them did fail the call */
    assert_true(n > 0);
    assert_true(failures_seen > 0);
}

/* ---- scenario: open, put a trace and a span, close --------------------- */

static tb_durability g_durability;

static bool outbox_scenario(long n, bool *injected)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/alloc.db", st_tmp());
    st_db_remove(path);
    tb_outbox_options o = TB_OUTBOX_OPTIONS_INIT;
    o.durability = g_durability;
    tb__alloc_fail_after(n);
    tb_outbox *ob = (tb_outbox *)&o;
    tb_status st_open = tb_outbox_open(&ob, path, &o);
    tb_status st_trace = TB_ERROR, st_span = TB_ERROR, st_flush = TB_OK, st_sparse = TB_ERROR;
    if (st_open == TB_OK) {
        assert_non_null(ob);
        char id[64];
        st_sparse = tb_outbox_put_json(ob, TRACE_SPARSE, (size_t)-1, NULL);
        if (st_sparse != TB_OK)
            assert_true(is_error_status(st_sparse));
        st_trace = tb_outbox_put_json(ob, TRACE_LINE, (size_t)-1, id);
        if (st_trace == TB_OK)
            assert_string_equal(id, TRACE_ID);
        else
            assert_true(is_error_status(st_trace));
        st_span = tb_outbox_put_json(ob, SPAN_LINE, (size_t)-1, NULL);
        if (st_span != TB_OK)
            assert_true(is_error_status(st_span));
        st_flush = tb_outbox_flush(ob, 10000);
        tb_outbox_close(ob);
    } else {
        if (!is_error_status(st_open))
            fail_msg("n=%ld: open returned %d", n, st_open);
        if (ob != NULL)
            fail_msg("n=%ld: open failed (%s) but *out is not NULL", n, tb_status_str(st_open));
    }
    long attempts = tb__alloc_fail_after(-1);
    *injected = attempts > n;
    /* what was acknowledged is in the file (sync modes) */
    if (g_durability != TB_DURABILITY_ASYNC) {
        if (st_trace == TB_OK && count_where(path, TRACE_ID) != 1)
            fail_msg("n=%ld: trace acknowledged but not stored", n);
        if (st_span == TB_OK && count_where(path, SPAN_ID) != 1)
            fail_msg("n=%ld: span acknowledged but not stored", n);
        /* a merge acknowledged is a merge done: the group and metadata are in */
        if (st_trace == TB_OK && group_of(path) != 1)
            fail_msg("n=%ld: trace put acknowledged but its group_id/metadata not stored", n);
    }
    return st_sparse == TB_OK && st_open == TB_OK && st_trace == TB_OK && st_span == TB_OK &&
           st_flush == TB_OK;
}

static void test_outbox_full(void **state)
{
    (void)state;
    g_durability = TB_DURABILITY_FULL;
    torture("outbox (full)", outbox_scenario);
}

static void test_outbox_async(void **state)
{
    (void)state;
    g_durability = TB_DURABILITY_ASYNC;
    torture("outbox (async)", outbox_scenario);
}

/* ---- scenario: the ingest path (many at once) -------------------------- */

static bool put_many_scenario(long n, bool *injected)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/many.db", st_tmp());
    st_db_remove(path);
    tb_outbox *ob = NULL;
    if (tb_outbox_open(&ob, path, NULL) != TB_OK)
        fail_msg("open without failures: %s", tb_last_error());
    const char *lines[3] = {TRACE_LINE, SPAN_LINE, "{\"bad\":1}"};
    size_t lens[3] = {strlen(lines[0]), strlen(lines[1]), strlen(lines[2])};
    tb_put_result res[3];
    for (int i = 0; i < 3; i++)
        res[i].status = TB_ERROR;
    tb__alloc_fail_after(n);
    tb_status all = tb_outbox_put_json_many(ob, lines, lens, 3, res);
    long attempts = tb__alloc_fail_after(-1);
    *injected = attempts > n;
    tb_outbox_close(ob);
    bool ok = all == TB_OK && res[0].status == TB_OK && res[1].status == TB_OK;
    if (all == TB_OK) {
        /* the bad line is bad whatever the allocator does */
        assert_int_not_equal(res[2].status, TB_OK);
        if (res[0].status == TB_OK && count_where(path, TRACE_ID) != 1)
            fail_msg("n=%ld: trace acknowledged but not stored", n);
        if (res[1].status == TB_OK && count_where(path, SPAN_ID) != 1)
            fail_msg("n=%ld: span acknowledged but not stored", n);
        for (int i = 0; i < 2; i++)
            if (res[i].status != TB_OK && !res[i].error[0])
                fail_msg("n=%ld: record %d failed without a message", n, i);
    } else {
        assert_int_equal(all, TB_NOMEM);
    }
    return ok;
}

static void test_put_many(void **state)
{
    (void)state;
    torture("put_many", put_many_scenario);
}

/* ---- scenario: the tracing API ------------------------------------------ */

static bool g_with_outbox;
static tb_outbox *g_ob;

/* What an export that returned TB_OK must contain: nothing set
 * successfully may be silently missing from it. */
static void check_exports(long n, const char *span_json, bool usage_ok, bool error_ok,
                          bool output_ok, bool metadata_ok, const char *trace_json)
{
    if (span_json) {
        cJSON *o = cJSON_Parse(span_json);
        if (!o)
            fail_msg("n=%ld: span export is not JSON: %s", n, span_json);
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "span_data");
        if (usage_ok && !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(d, "usage")))
            fail_msg("n=%ld: usage set but missing from the export: %s", n, span_json);
        if (output_ok && !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(d, "output")))
            fail_msg("n=%ld: output set but missing from the export: %s", n, span_json);
        if (error_ok && !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(o, "error")))
            fail_msg("n=%ld: error set but missing from the export: %s", n, span_json);
        if (metadata_ok && !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(o, "metadata")))
            fail_msg("n=%ld: metadata set but missing from the export: %s", n, span_json);
        cJSON_Delete(o);
    }
    if (trace_json) {
        cJSON *o = cJSON_Parse(trace_json);
        if (!o)
            fail_msg("n=%ld: trace export is not JSON: %s", n, trace_json);
        const cJSON *md = cJSON_GetObjectItemCaseSensitive(o, "metadata");
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(md, "user");
        if (!cJSON_IsString(u) || strcmp(u->valuestring, "u") != 0)
            fail_msg("n=%ld: trace export lost its metadata: %s", n, trace_json);
        const cJSON *g = cJSON_GetObjectItemCaseSensitive(o, "group_id");
        if (!cJSON_IsString(g))
            fail_msg("n=%ld: trace export lost its group_id: %s", n, trace_json);
        cJSON_Delete(o);
    }
}

static bool tracing_scenario(long n, bool *injected)
{
    bool ok = true;
    /* copies checked afterwards, with the allocator working again */
    static char span_buf[8192], trace_buf[4096];
    const char *span_copy = NULL, *trace_copy = NULL;
    bool usage_ok = false, error_ok = false, output_ok = false, metadata_ok = false;
    tb__alloc_fail_after(n);
    tb_trace *t = NULL;
    tb_trace_options to = TB_TRACE_OPTIONS_INIT;
    to.group_id = "grp";
    to.metadata_json = "{\"user\":\"u\"}";
    tb_status st = tb_trace_start(&t, "alloc wf", &to);
    if (st != TB_OK) {
        ok = false;
        assert_true(is_error_status(st));
    }
    if (t) {
        tb_span *a = (tb_span *)&to, *g = (tb_span *)&to;
        st = tb_span_start_agent(&a, t, NULL, "Agent");
        if (st != TB_OK) {
            ok = false;
            assert_true(is_error_status(st));
            /* without processors a failure means no span */
            if (!g_with_outbox && a != NULL)
                fail_msg("n=%ld: agent span failed (%s) but *out is not NULL", n,
                         tb_status_str(st));
        }
        if (a == (tb_span *)&to)
            fail_msg("n=%ld: tb_span_start_agent left *out unset", n);
        if (a) {
            st = tb_span_start_generation(&g, t, a, "gpt-4o", "[{\"role\":\"user\"}]");
            if (st != TB_OK) {
                ok = false;
                assert_true(is_error_status(st));
            }
            if (g == (tb_span *)&to)
                fail_msg("n=%ld: tb_span_start_generation (%s) left *out unset", n,
                         tb_status_str(st));
            if (g) {
                usage_ok = tb_span_set_usage(g, 10, 20) == TB_OK;
                error_ok = tb_span_set_error(g, "oops", "{\"k\":1}") == TB_OK;
                output_ok = tb_span_set_data(g, "output", "[1,2]") == TB_OK;
                metadata_ok = tb_span_set_metadata(g, "{\"m\":true}") == TB_OK;
                if (!usage_ok || !error_ok || !output_ok || !metadata_ok)
                    ok = false;
                if ((st = tb_span_end(g)) != TB_OK)
                    ok = false;
                char *json = (char *)"sentinel";
                st = tb_span_export_json(g, &json);
                if (st == TB_OK) {
                    assert_non_null(json);
                    assert_true(strlen(json) < sizeof span_buf);
                    span_copy = memcpy(span_buf, json, strlen(json) + 1);
                    tb_free(json);
                } else {
                    ok = false;
                    assert_true(is_error_status(st));
                    assert_null(json);
                }
                tb_span_free(g);
            }
            if (tb_span_end(a) != TB_OK)
                ok = false;
            tb_span_free(a);
        }
        char *tj = NULL;
        if (tb_trace_export_json(t, &tj) != TB_OK) {
            ok = false;
            assert_null(tj);
        } else {
            assert_true(strlen(tj) < sizeof trace_buf);
            trace_copy = memcpy(trace_buf, tj, strlen(tj) + 1);
        }
        tb_free(tj);
        if (tb_trace_end(t) != TB_OK)
            ok = false;
        tb_trace_free(t);
    }
    long attempts = tb__alloc_fail_after(-1);
    *injected = attempts > n;
    check_exports(n, span_copy, usage_ok, error_ok, output_ok, metadata_ok, trace_copy);
    return ok;
}

static void test_tracing_api(void **state)
{
    (void)state;
    g_with_outbox = false;
    torture("tracing", tracing_scenario);
}

static void test_tracing_through_outbox_processor(void **state)
{
    (void)state;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/proc.db", st_tmp());
    assert_int_equal(tb_outbox_open(&g_ob, path, NULL), TB_OK);
    tb_processor p;
    assert_int_equal(tb_outbox_processor(g_ob, &p), TB_OK);
    assert_int_equal(tb_set_trace_processors(&p, 1), TB_OK);
    g_with_outbox = true;
    torture("tracing + outbox processor", tracing_scenario);
    assert_int_equal(tb_set_trace_processors(NULL, 0), TB_OK);
    tb_outbox_close(g_ob);
    g_ob = NULL;
    /* the last, uninjected iteration stored its trace and two spans; the
     * file is sound after all the failed ones */
    st_db_integrity(path, "after the tracing torture");
    assert_true(st_db_int(path, "SELECT count(*) FROM records WHERE json_valid(body)") >= 3);
}

/* ---- scenario: processor registration ----------------------------------- */

static void nop_release(void *self)
{
    (*(int *)self)++;
}

static void test_processor_registration(void **state)
{
    (void)state;
    int released = 0;
    tb_processor p = {0};
    p.version = TB_PROCESSOR_VERSION;
    p.self = &released;
    p.release = nop_release;
    long n = 0;
    for (; n < 100; n++) {
        released = 0;
        tb__alloc_fail_after(n);
        tb_status a = tb_add_trace_processor(&p);
        tb_status b = tb_add_trace_processor(&p);
        tb_processor two[2] = {p, p};
        tb_status c = tb_set_trace_processors(two, 2);
        long attempts = tb__alloc_fail_after(-1);
        int added = (a == TB_OK) + (b == TB_OK);
        /* a failed set keeps the old list: releasing now shows who is in */
        assert_int_equal(tb_set_trace_processors(NULL, 0), TB_OK);
        if (c == TB_OK)
            assert_int_equal(released, added + 2);
        else
            assert_int_equal(released, added);
        if (attempts <= n) {
            assert_int_equal(a, TB_OK);
            assert_int_equal(c, TB_OK);
            break;
        }
    }
    assert_true(n > 0 && n < 100);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, st_tmp_setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_outbox_full),
        T(test_outbox_async),
        T(test_put_many),
        T(test_tracing_api),
        T(test_tracing_through_outbox_processor),
        T(test_processor_registration),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
