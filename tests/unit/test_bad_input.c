/*
 * test_bad_input.c — bad strings at every door of the tracing API
 * (issue 7, item 4), beyond what test_codec.c covers (NULL handles, NULL
 * out-params, bad JSON, "\xff" to tb_span_set_string, ending twice).
 *
 * Each test runs with the outbox processor registered on a fresh outbox, so
 * "accepted" means "ends up as a row". For every string parameter of
 * tb_trace_start (workflow_name, trace_id, group_id, metadata_json) and of
 * every tb_span_* setter and typed start helper, the test passes an empty
 * string, a 10 MiB string and non-UTF-8 bytes (NULL where test_codec does
 * not already). Asserted: a refusal is TB_INVALID with a message naming
 * the parameter, leaves *out NULL and changes nothing; the span a refusal
 * was about still ends normally and its record is stored, valid JSON; an
 * accepted huge value is stored whole.
 *
 * test_span_outlives_its_trace: a span ended (and edited) after
 * tb_trace_end() and tb_trace_free() of its trace — the header says a span
 * keeps its trace alive; run it under the asan preset to prove no
 * use-after-free.
 *
 * Not tested: using a tb_outbox after tb_outbox_close() (or any handle after
 * its _free): that is undefined behaviour in C, as with sqlite3_close, and
 * cannot be detected without a handle registry.
 */
#include "fixture.h"

#include "record.h"

#define HUGE (10u * 1024u * 1024u)

typedef st_fx fx;

static char *g_huge_text; /* HUGE 'a's */
static char *g_huge_json; /* "\"aaaa…\"" */
static char *g_huge_obj;  /* {"k":"aaaa…"} */

static int setup(void **state)
{
    st_fx_setup_offline(state);
    fx *f = *state;
    st_fx_open(f);
    tb_processor p;
    assert_int_equal(tb_outbox_processor(f->ob, &p), TB_OK);
    assert_int_equal(tb_set_trace_processors(&p, 1), TB_OK);
    g_huge_text = malloc(HUGE + 1);
    g_huge_json = malloc(HUGE + 3);
    g_huge_obj = malloc(HUGE + 16);
    assert_non_null(g_huge_text);
    assert_non_null(g_huge_json);
    assert_non_null(g_huge_obj);
    memset(g_huge_text, 'a', HUGE);
    g_huge_text[HUGE] = '\0';
    snprintf(g_huge_json, HUGE + 3, "\"%s\"", g_huge_text);
    snprintf(g_huge_obj, HUGE + 16, "{\"k\":\"%s\"}", g_huge_text);
    return 0;
}

static int teardown(void **state)
{
    free(g_huge_text);
    free(g_huge_json);
    free(g_huge_obj);
    g_huge_text = g_huge_json = g_huge_obj = NULL;
    return st_fx_teardown(state);
}

static int64_t rows(fx *f)
{
    return st_db_int(f->db, "SELECT count(*) FROM records");
}

/* The stored body of record `id` decodes as a valid record; returns its
 * length (-1 when missing). */
static int64_t stored_len(fx *f, const char *id)
{
    int64_t len = st_db_int(f->db,
                            "SELECT length(CAST(body AS BLOB)) FROM records WHERE (kind = 'span' "
                            "AND span_id = '%s') OR (kind = 'trace' AND trace_id = '%s')",
                            id, id);
    if (len < 0)
        return -1;
    sqlite3 *db = st_db_open(f->db);
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT body FROM records WHERE (kind = 'span' AND "
                                        "span_id = ?1) OR (kind = 'trace' AND trace_id = ?1)",
                                        -1, &q, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    tb__record rec;
    char err[256];
    tb_status st = tb__record_decode(&rec, (const char *)sqlite3_column_text(q, 0),
                                     (size_t)sqlite3_column_bytes(q, 0), err, sizeof err);
    if (st != TB_OK)
        fail_msg("stored record %s does not decode: %s", id, err);
    tb__record_clear(&rec);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return len;
}

static int g_refusals, g_accepts;

/* A refusal: TB_INVALID, a message naming `what`, no new row. */
#define REFUSED(f, call, what)                                                                     \
    do {                                                                                           \
        int64_t before_ = rows(f);                                                                 \
        tb_status st_ = (call);                                                                    \
        if (st_ != TB_INVALID)                                                                     \
            fail_msg("%s: expected TB_INVALID, got %s", #call, tb_status_str(st_));                \
        if (!strstr(tb_last_error(), (what)))                                                      \
            fail_msg("%s: message '%.200s' does not name '%s'", #call, tb_last_error(), (what));   \
        assert_int_equal(rows(f), before_);                                                        \
        g_refusals++;                                                                              \
    } while (0)

#define ACCEPTED(call)                                                                             \
    do {                                                                                           \
        tb_status st_ = (call);                                                                    \
        if (st_ != TB_OK)                                                                          \
            fail_msg("%s: expected TB_OK, got %s: %s", #call, tb_status_str(st_),                  \
                     tb_last_error());                                                             \
        g_accepts++;                                                                               \
    } while (0)

/* ---- tb_trace_start --------------------------------------------------------- */

static void test_trace_start_strings(void **state)
{
    fx *f = *state;
    tb_trace *t = (tb_trace *)f;
    tb_trace_options o = TB_TRACE_OPTIONS_INIT;

    REFUSED(f, tb_trace_start(&t, "bad \xff name", NULL), "workflow_name");
    assert_null(t);
    REFUSED(f, tb_trace_start(&t, "\xc3", NULL), "workflow_name"); /* truncated sequence */
    assert_null(t);

    o.group_id = "grp \xfe";
    REFUSED(f, tb_trace_start(&t, "w", &o), "group_id");
    assert_null(t);
    o.group_id = NULL;

    /* ids of any shape are taken (see test_codec); empty, invalid UTF-8 and
     * over 255 bytes are not */
    const char *bad_ids[] = {"", "trace_\xff\xff"};
    for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
        o.trace_id = bad_ids[i];
        REFUSED(f, tb_trace_start(&t, "w", &o), "trace_id");
        assert_null(t);
    }
    o.trace_id = g_huge_text;
    REFUSED(f, tb_trace_start(&t, "w", &o), "trace_id");
    o.trace_id = NULL;

    const char *bad_meta[] = {"", "   ", "{\"k\":\"\xff\"}", "[1]", "\"s\"", "{\"k\":1", "null"};
    for (size_t i = 0; i < sizeof bad_meta / sizeof bad_meta[0]; i++) {
        o.metadata_json = bad_meta[i];
        REFUSED(f, tb_trace_start(&t, "w", &o), "metadata");
        assert_null(t);
    }

    /* accepted: empty and huge values are stored whole */
    o.metadata_json = NULL;
    o.group_id = "";
    ACCEPTED(tb_trace_start(&t, "", &o));
    char id[64];
    snprintf(id, sizeof id, "%s", tb_trace_id(t));
    assert_true(stored_len(f, id) > 0);
    tb_trace_end(t);
    tb_trace_free(t);

    o.group_id = g_huge_text;
    o.metadata_json = g_huge_obj;
    ACCEPTED(tb_trace_start(&t, g_huge_text, &o));
    snprintf(id, sizeof id, "%s", tb_trace_id(t));
    int64_t len = stored_len(f, id);
    print_message("a trace with a 10 MiB workflow name, group id and metadata: %lld bytes "
                  "stored\n",
                  (long long)len);
    assert_true(len > 3 * (int64_t)HUGE);
    tb_trace_end(t);
    tb_trace_free(t);
    print_message("tb_trace_start: %d refusals, %d acceptances\n", g_refusals, g_accepts);
}

/* ---- span setters ----------------------------------------------------------- */

static void test_span_setters(void **state)
{
    fx *f = *state;
    tb_trace *t = NULL;
    tb_span *s = NULL;
    g_refusals = g_accepts = 0;
    ACCEPTED(tb_trace_start(&t, "w", NULL));
    ACCEPTED(tb_span_start_custom(&s, t, NULL, "c", NULL));

    /* keys: empty, non-UTF-8 (a JSON key must be valid text too) */
    REFUSED(f, tb_span_set_data(s, "", "1"), "key");
    REFUSED(f, tb_span_set_string(s, "", "v"), "key");
    REFUSED(f, tb_span_set_string(s, NULL, "v"), "key");
    REFUSED(f, tb_span_set_data(s, "k\xff", "1"), "UTF-8");
    REFUSED(f, tb_span_set_string(s, "k\xff", "v"), "UTF-8");

    /* values */
    REFUSED(f, tb_span_set_data(s, "k", ""), "k");
    REFUSED(f, tb_span_set_data(s, "k", "\"\xff\""), "UTF-8");
    REFUSED(f, tb_span_set_data(s, "k", "\"a\xed\xa0\x80z\""), "UTF-8"); /* a surrogate */
    REFUSED(f, tb_span_set_metadata(s, ""), "metadata");
    REFUSED(f, tb_span_set_metadata(s, "{\"k\":\"\xff\"}"), "UTF-8");
    REFUSED(f, tb_span_set_error(s, "boom \xff", NULL), "UTF-8");
    REFUSED(f, tb_span_set_error(s, "boom", ""), "error");
    REFUSED(f, tb_span_set_error(s, "boom", "{\"d\":\"\xff\"}"), "UTF-8");

    /* accepted: NULL (JSON null), empty and huge values */
    ACCEPTED(tb_span_set_data(s, "nothing", NULL));
    ACCEPTED(tb_span_set_string(s, "nothing2", NULL));
    ACCEPTED(tb_span_set_string(s, "empty", ""));
    ACCEPTED(tb_span_set_metadata(s, NULL));
    ACCEPTED(tb_span_set_error(s, "", NULL));
    ACCEPTED(tb_span_set_usage(s, INT64_MAX, -1));
    ACCEPTED(tb_span_set_string(s, "big", g_huge_text));
    ACCEPTED(tb_span_set_data(s, "bigjson", g_huge_json));
    ACCEPTED(tb_span_set_metadata(s, g_huge_obj));
    ACCEPTED(tb_span_set_error(s, g_huge_text, g_huge_obj));
    ACCEPTED(tb_span_set_string(s, g_huge_text, "huge key"));

    /* nothing refused above reached the span: it ends and is stored */
    char id[64];
    snprintf(id, sizeof id, "%s", tb_span_id(s));
    ACCEPTED(tb_span_end(s));
    int64_t len = stored_len(f, id);
    print_message("span setters: %d refusals, %d acceptances; the span (5 values of 10 MiB) "
                  "stored as %lld bytes\n",
                  g_refusals, g_accepts, (long long)len);
    assert_true(len > 5 * (int64_t)HUGE);
    tb_span_free(s);
    tb_trace_end(t);
    tb_trace_free(t);
}

/* ---- typed start helpers ------------------------------------------------------ */

typedef tb_status (*start1)(tb_span **, tb_trace *, const tb_span *, const char *);

static void test_typed_starts(void **state)
{
    fx *f = *state;
    tb_trace *t = NULL;
    g_refusals = g_accepts = 0;
    ACCEPTED(tb_trace_start(&t, "w", NULL));
    const struct {
        const char *name;
        start1 fn;
    } one[] = {
        {"agent", tb_span_start_agent},
        {"response", tb_span_start_response},
        {"mcp_tools", tb_span_start_mcp_tools},
        {"transcription", tb_span_start_transcription},
        {"speech_group", tb_span_start_speech_group},
        {"task", tb_span_start_task},
    };
    const char *bad = "x\xc0\xaf"; /* an overlong '/' */
    int64_t base = rows(f);
    int ended = 0;
    for (size_t i = 0; i < sizeof one / sizeof one[0]; i++) {
        tb_span *s = (tb_span *)f;
        tb_status st = one[i].fn(&s, t, NULL, bad);
        if (st != TB_INVALID)
            fail_msg("%s with non-UTF-8: %s", one[i].name, tb_status_str(st));
        assert_null(s);
        g_refusals++;
        const char *ok[] = {"", g_huge_text};
        for (size_t k = 0; k < 2; k++) {
            ACCEPTED(one[i].fn(&s, t, NULL, ok[k]));
            char id[64];
            snprintf(id, sizeof id, "%s", tb_span_id(s));
            ACCEPTED(tb_span_end(s));
            ended++;
            if (stored_len(f, id) < (int64_t)strlen(ok[k]))
                fail_msg("%s: the %zu-byte value was not stored whole", one[i].name, strlen(ok[k]));
            tb_span_free(s);
        }
    }
    /* two-string helpers: either argument bad */
    tb_span *s = (tb_span *)f;
    REFUSED(f, tb_span_start_function(&s, t, NULL, bad, "in"), "UTF-8");
    REFUSED(f, tb_span_start_function(&s, t, NULL, "fn", bad), "UTF-8");
    REFUSED(f, tb_span_start_handoff(&s, t, NULL, bad, "b"), "UTF-8");
    REFUSED(f, tb_span_start_handoff(&s, t, NULL, "a", bad), "UTF-8");
    REFUSED(f, tb_span_start_speech(&s, t, NULL, bad, "in"), "UTF-8");
    REFUSED(f, tb_span_start_speech(&s, t, NULL, "m", bad), "UTF-8");
    REFUSED(f, tb_span_start_generation(&s, t, NULL, bad, NULL), "UTF-8");
    REFUSED(f, tb_span_start_generation(&s, t, NULL, "m", "[\"\xff\"]"), "UTF-8");
    REFUSED(f, tb_span_start_generation(&s, t, NULL, "m", ""), "input");
    REFUSED(f, tb_span_start_guardrail(&s, t, NULL, bad, 1), "UTF-8");
    REFUSED(f, tb_span_start_custom(&s, t, NULL, bad, NULL), "UTF-8");
    REFUSED(f, tb_span_start_custom(&s, t, NULL, "c", "{\"k\":\"\xff\"}"), "UTF-8");
    REFUSED(f, tb_span_start_turn(&s, t, NULL, 1, bad), "UTF-8");
    REFUSED(f, tb_span_start(&s, t, NULL, bad, NULL), "UTF-8");
    REFUSED(f, tb_span_start(&s, t, NULL, "custom", "{\"\xff\":1}"), "UTF-8");
    assert_null(s);
    /* huge where a huge value is plausible: a generation input, a function input */
    ACCEPTED(tb_span_start_generation(&s, t, NULL, "m", g_huge_json));
    ACCEPTED(tb_span_end(s));
    ended++;
    tb_span_free(s);
    ACCEPTED(tb_span_start_function(&s, t, NULL, "fn", g_huge_text));
    ACCEPTED(tb_span_end(s));
    ended++;
    tb_span_free(s);
    assert_int_equal(rows(f), base + ended);
    print_message("typed span starts: %d refusals, %d acceptances, %d spans stored\n", g_refusals,
                  g_accepts, ended);
    tb_trace_end(t);
    tb_trace_free(t);
}

/* ---- a span outlives its trace ----------------------------------------------- */

static void test_span_outlives_its_trace(void **state)
{
    fx *f = *state;
    tb_trace *t = NULL;
    tb_span *a = NULL, *b = NULL;
    assert_int_equal(tb_trace_start(&t, "w", NULL), TB_OK);
    char tid[64];
    snprintf(tid, sizeof tid, "%s", tb_trace_id(t));
    assert_int_equal(tb_span_start_agent(&a, t, NULL, "A"), TB_OK);
    assert_int_equal(tb_span_start_function(&b, t, a, "f", "x"), TB_OK);
    assert_int_equal(tb_trace_end(t), TB_OK);
    tb_trace_free(t); /* the caller's reference is gone; the spans keep theirs */
    t = NULL;
    assert_string_equal(tb_span_trace_id(b), tid);
    assert_int_equal(tb_span_set_string(b, "output", "late"), TB_OK);
    assert_int_equal(tb_span_end(b), TB_OK);
    assert_int_equal(tb_span_end(a), TB_OK);
    char ida[64], idb[64];
    snprintf(ida, sizeof ida, "%s", tb_span_id(a));
    snprintf(idb, sizeof idb, "%s", tb_span_id(b));
    tb_span_free(b);
    tb_span_free(a); /* the last reference: the trace is freed here */
    assert_true(stored_len(f, ida) > 0);
    assert_true(stored_len(f, idb) > 0);
    char got[64];
    assert_true(st_db_text(f->db, got, sizeof got,
                           "SELECT trace_id FROM records WHERE span_id = '%s'", idb));
    assert_string_equal(got, tid);
    assert_true(st_db_text(f->db, got, sizeof got,
                           "SELECT parent_id FROM records WHERE span_id = '%s'", idb));
    assert_string_equal(got, ida);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_trace_start_strings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_span_setters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_typed_starts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_span_outlives_its_trace, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
