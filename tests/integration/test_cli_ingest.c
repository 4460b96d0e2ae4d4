/*
 * test_cli_ingest.c — the `tracebox` command as a user runs it.
 *
 * `ingest FILE` with real-shaped SDK lines (Python export() and JS toJSON(),
 * traces and spans of several types, task/turn as custom spans) mixed with
 * bad lines: exit status 1, each bad line named "FILE:LINE:" on stderr,
 * empty lines skipped silently, every good line stored and reproduced by
 * `tracebox export` (compared as parsed JSON). Plus --version, help, an
 * unknown verb (exit 2), init (a 0600 file), pending on a fresh outbox.
 * Every run happens in a fresh folder, which is also the child's cwd.
 */
#include "fixture.h"

#include <limits.h>

static int setup(void **state)
{
    const char *cli = getenv("TB_CLI");
    if (!cli || access(cli, X_OK) != 0)
        return -1;
    return st_tmp_setup(state);
}

/* ---- running the CLI ----------------------------------------------------- */

/* Run `$TB_CLI args…` (NULL-terminated) in the temp folder with stdin from `in_path`
 * (or /dev/null); stdout and stderr captured. */
static st_capture run(const char *in_path, ...)
{
    const char *argv[32];
    int argc = 0;
    va_list ap;
    va_start(ap, in_path);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL) {
        assert_true(argc < 31);
        argv[argc++] = a;
    }
    va_end(ap);
    argv[argc] = NULL;
    return st_cli_capture(st_tmp(), in_path, argv);
}

/* ---- the input ------------------------------------------------------------ */

#define T1 "trace_0f8c3c1e9b6a4d2f8e7a1b2c3d4e5f60"
#define T2 "trace_a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4"
#define S(n) "span_5e1c6b2a9f3d4e8c7b6a5d" n

typedef struct line {
    const char *text; /* without the newline */
    bool good;
} line;

static const line k_lines[] = {
    /* 1: Python trace */
    {"{\"object\": \"trace\", \"id\": \"" T1 "\", \"workflow_name\": \"Weather agent\", "
     "\"group_id\": null, \"metadata\": {\"user_id\": \"42\"}}",
     true},
    /* 2: Python agent span with metadata */
    {"{\"object\": \"trace.span\", \"id\": \"" S(
         "01") "\", \"trace_id\": \"" T1 "\", "
               "\"parent_id\": null, \"started_at\": \"2025-06-01T12:34:56.789012+00:00\", "
               "\"ended_at\": \"2025-06-01T12:34:58.000001+00:00\", \"span_data\": {\"type\": "
               "\"agent\", "
               "\"name\": \"Assistant\", \"handoffs\": [\"Billing\"], \"tools\": "
               "[\"get_weather\"], "
               "\"output_type\": \"str\"}, \"error\": null, \"metadata\": {\"env\": \"prod\"}}",
     true},
    /* 3: Python generation with an error and unicode */
    {"{\"object\": \"trace.span\", \"id\": \"" S(
         "02") "\", \"trace_id\": \"" T1 "\", "
               "\"parent_id\": \"" S(
                   "01") "\", \"started_at\": \"2025-06-01T12:34:56.800000+00:00\", "
                         "\"ended_at\": \"2025-06-01T12:34:57.100000+00:00\", \"span_data\": "
                         "{\"type\": "
                         "\"generation\", \"input\": [{\"role\": \"user\", \"content\": "
                         "\"M\\u00fcnchen? "
                         "\xe2\x98\x80\"}], \"output\": [], \"model\": \"gpt-4o\", "
                         "\"model_config\": "
                         "{\"temperature\": 0.2}, \"usage\": {\"input_tokens\": 12, "
                         "\"output_tokens\": 0}}, "
                         "\"error\": {\"message\": \"Rate limited\", \"data\": {\"status\": 429}}}",
     true},
    /* 4: JS trace */
    {"{\"object\":\"trace\",\"id\":\"" T2 "\",\"workflow_name\":\"Agent workflow\","
     "\"group_id\":\"conv_7\",\"metadata\":null}",
     true},
    /* 5: JS function span */
    {"{\"object\":\"trace.span\",\"id\":\"" S(
         "03") "\",\"trace_id\":\"" T2 "\",\"parent_id\":"
               "null,\"started_at\":\"2025-06-01T12:34:56.789Z\",\"ended_at\":\"2025-06-01T12:34:"
               "57.001Z\","
               "\"span_data\":{\"type\":\"function\",\"name\":\"get_weather\",\"input\":"
               "\"{\\\"city\\\":\\\"Paris\\\"}\",\"output\":\"sunny\",\"mcp_data\":null},\"error\":"
               "null}",
     true},
    /* 6: JS handoff */
    {"{\"object\":\"trace.span\",\"id\":\"" S("04") "\",\"trace_id\":\"" T2 "\",\"parent_id\":\"" S(
         "03") "\",\"started_at\":\"2025-06-01T12:34:57.010Z\",\"ended_at\":"
               "\"2025-06-01T12:34:57.011Z\",\"span_data\":{\"type\":\"handoff\",\"from_agent\":"
               "\"Triage\",\"to_agent\":\"Billing\"},\"error\":null}",
     true},
    /* 7: not JSON */
    {"this is not json", false},
    /* 8: empty: skipped silently */
    {"", false},
    /* 9: task as custom (Python) */
    {"{\"object\": \"trace.span\", \"id\": \"" S(
         "05") "\", \"trace_id\": \"" T1 "\", "
               "\"parent_id\": null, \"started_at\": \"2025-06-01T12:35:00.000000+00:00\", "
               "\"ended_at\": "
               "\"2025-06-01T12:35:01.000000+00:00\", \"span_data\": {\"type\": \"custom\", "
               "\"name\": "
               "\"task\", \"data\": {\"sdk_span_type\": \"task\", \"name\": \"plan\"}}, \"error\": "
               "null}",
     true},
    /* 10: turn as custom (JS) */
    {"{\"object\":\"trace.span\",\"id\":\"" S(
         "06") "\",\"trace_id\":\"" T2 "\",\"parent_id\":"
               "null,\"started_at\":\"2025-06-01T12:35:00.000Z\",\"ended_at\":\"2025-06-01T12:35:"
               "00.500Z\","
               "\"span_data\":{\"type\":\"custom\",\"name\":\"turn\",\"data\":{\"sdk_span_type\":"
               "\"turn\","
               "\"turn\":2,\"agent_name\":\"Planner\"}},\"error\":null}",
     true},
    /* 11: wrong object */
    {"{\"object\":\"span\",\"id\":\"" S("07") "\",\"trace_id\":\"" T2 "\"}", false},
    /* 12: invalid UTF-8 */
    {"{\"object\":\"trace.span\",\"id\":\"" S("08") "\",\"trace_id\":\"" T2 "\",\"span_data\":"
                                                    "{\"type\":\"custom\",\"name\":\"\xff\xfe\"}}",
     false},
    /* 13: whitespace only: skipped silently */
    {"   \t ", false},
    /* 14: mcp_tools (JS) */
    {"{\"object\":\"trace.span\",\"id\":\"" S(
         "09") "\",\"trace_id\":\"" T2 "\",\"parent_id\":"
               "null,\"started_at\":\"2025-06-01T12:35:02.000Z\",\"ended_at\":\"2025-06-01T12:35:"
               "02.100Z\","
               "\"span_data\":{\"type\":\"mcp_tools\",\"server\":\"filesystem\",\"result\":[\"read_"
               "file\"]},"
               "\"error\":null}",
     true},
    /* 15: speech_group (Python) */
    {"{\"object\": \"trace.span\", \"id\": \"" S(
         "10") "\", \"trace_id\": \"" T1 "\", "
               "\"parent_id\": null, \"started_at\": \"2025-06-01T12:36:00.000000+00:00\", "
               "\"ended_at\": "
               "\"2025-06-01T12:36:03.000000+00:00\", \"span_data\": {\"type\": \"speech_group\", "
               "\"input\": \"hello\"}, \"error\": null}",
     true},
    /* 16: an empty id (an id of any other shape is taken) */
    {"{\"object\":\"trace\",\"id\":\"\"}", false},
    /* 17: an unknown type, kept */
    {"{\"object\":\"trace.span\",\"id\":\"" S(
         "11") "\",\"trace_id\":\"" T2 "\",\"parent_id\":"
               "null,\"started_at\":\"2025-06-01T12:37:00.000Z\",\"ended_at\":null,\"span_data\":"
               "{\"type\":\"realtime_session\",\"x\":{\"y\":[1,2]}},\"error\":null}",
     true},
    /* 18: guardrail (JS), written with a CRLF ending below */
    {"{\"object\":\"trace.span\",\"id\":\"" S(
         "12") "\",\"trace_id\":\"" T2 "\",\"parent_id\":"
               "null,\"started_at\":\"2025-06-01T12:38:00.000Z\",\"ended_at\":\"2025-06-01T12:38:"
               "00.001Z\","
               "\"span_data\":{\"type\":\"guardrail\",\"name\":\"no_pii\",\"triggered\":false},"
               "\"error\":null}",
     true},
    /* 19: the last line, without a newline at the end of the file */
    {"{\"object\":\"trace.span\",\"id\":\"" S(
         "13") "\",\"trace_id\":\"" T1 "\",\"parent_id\":"
               "null,\"started_at\":\"2025-06-01T12:39:00.000Z\",\"ended_at\":\"2025-06-01T12:39:"
               "00.002Z\","
               "\"span_data\":{\"type\":\"response\",\"response_id\":\"resp_1\"},\"error\":null}",
     true},
};
#define N_LINES (sizeof k_lines / sizeof k_lines[0])

static void write_input(const char *path)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (size_t i = 0; i < N_LINES; i++) {
        fputs(k_lines[i].text, f);
        if (i == 17)
            fputs("\r\n", f);
        else if (i + 1 < N_LINES)
            fputc('\n', f);
    }
    assert_int_equal(fclose(f), 0);
}

/* ---- tests ------------------------------------------------------------- */

static void test_ingest_file_with_bad_lines(void **state)
{
    (void)state;
    char in[PATH_MAX], db[PATH_MAX];
    snprintf(in, sizeof in, "%s/input.jsonl", st_tmp());
    snprintf(db, sizeof db, "%s/out.db", st_tmp());
    write_input(in);

    st_capture r = run(NULL, "--db", db, "ingest", in, NULL);
    if (r.status != 1)
        fail_msg("ingest exited %d (want 1); stderr:\n%s", r.status, r.err);
    /* each bad line is named FILE:LINE:, the skipped blank ones are not */
    size_t good = 0, bad = 0;
    for (size_t i = 0; i < N_LINES; i++) {
        char tag[PATH_MAX + 32];
        snprintf(tag, sizeof tag, "%s:%zu:", in, i + 1);
        bool blank = strspn(k_lines[i].text, " \t") == strlen(k_lines[i].text);
        if (k_lines[i].good) {
            good++;
            if (strstr(r.err, tag))
                fail_msg("good line %zu reported as bad:\n%s", i + 1, r.err);
        } else if (blank) {
            if (strstr(r.err, tag))
                fail_msg("blank line %zu reported:\n%s", i + 1, r.err);
        } else {
            bad++;
            if (!strstr(r.err, tag))
                fail_msg("bad line %zu not reported as %s:\n%s", i + 1, tag, r.err);
        }
    }
    /* the messages name what is wrong */
    assert_non_null(strstr(r.err, "object"));
    assert_non_null(strstr(r.err, "UTF-8"));
    /* the ack stream (stdout) is empty without --ack */
    assert_string_equal(r.out, "");
    st_capture_free(&r);

    assert_int_equal(st_db_int(db, "SELECT count(*) FROM records"), (int64_t)good);
    assert_int_equal(st_db_int(db, "SELECT count(*) FROM records WHERE kind='trace'"), 2);
    assert_int_equal(st_db_int(db, "SELECT count(*) FROM records WHERE type='custom'"), 2);
    assert_int_equal(st_db_int(db, "SELECT count(*) FROM records WHERE type='realtime_session'"),
                     1);
    assert_int_equal(bad, 4);

    /* export reproduces the good lines' objects, in order */
    r = run(NULL, "--db", db, "export", NULL);
    assert_int_equal(r.status, 0);
    char *save = NULL;
    char *ln = strtok_r(r.out, "\n", &save);
    for (size_t i = 0; i < N_LINES; i++) {
        if (!k_lines[i].good)
            continue;
        if (!ln)
            fail_msg("export ended before line %zu", i + 1);
        cJSON *want = cJSON_Parse(k_lines[i].text);
        cJSON *got = cJSON_Parse(ln);
        assert_non_null(want);
        if (!got)
            fail_msg("export line is not JSON: %s", ln);
        if (!cJSON_Compare(want, got, true))
            fail_msg("export differs for input line %zu:\n want %s\n got  %s", i + 1,
                     k_lines[i].text, ln);
        cJSON_Delete(want);
        cJSON_Delete(got);
        ln = strtok_r(NULL, "\n", &save);
    }
    assert_null(ln);
    st_capture_free(&r);

    /* export --trace narrows to one trace */
    r = run(NULL, "--db", db, "export", "--trace", T2, NULL);
    assert_int_equal(r.status, 0);
    size_t n = 0;
    for (char *p = strtok_r(r.out, "\n", &save); p; p = strtok_r(NULL, "\n", &save)) {
        assert_non_null(strstr(p, T2));
        n++;
    }
    assert_int_equal(n, 7);
    st_capture_free(&r);

    /* ingesting the same file again adds nothing (ids are idempotent) */
    r = run(NULL, "--db", db, "ingest", in, NULL);
    assert_int_equal(r.status, 1);
    st_capture_free(&r);
    assert_int_equal(st_db_int(db, "SELECT count(*) FROM records"), (int64_t)good);
}

static void test_ingest_stdin_ack(void **state)
{
    (void)state;
    char in[PATH_MAX], db[PATH_MAX];
    snprintf(in, sizeof in, "%s/stdin.jsonl", st_tmp());
    snprintf(db, sizeof db, "%s/ack.db", st_tmp());
    FILE *f = fopen(in, "wb");
    assert_non_null(f);
    fprintf(f, "%s\n{bad\n%s\n", k_lines[0].text, k_lines[4].text);
    fclose(f);
    st_capture r = run(in, "--db", db, "ingest", "--ack", "-", NULL);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "stdin:2:"));
    assert_string_equal(r.out, T1 "\n" S("03") "\n");
    st_capture_free(&r);

    /* all good: exit 0 */
    f = fopen(in, "wb");
    assert_non_null(f);
    fprintf(f, "%s\n\n%s\n", k_lines[1].text, k_lines[2].text);
    fclose(f);
    r = run(in, "--db", db, "ingest", "--ack", NULL);
    if (r.status != 0)
        fail_msg("ingest exited %d: %s", r.status, r.err);
    assert_string_equal(r.out, S("01") "\n" S("02") "\n");
    st_capture_free(&r);
    assert_int_equal(st_db_int(db, "SELECT count(*) FROM records"), 4);
}

static void test_ingest_errors(void **state)
{
    (void)state;
    char db[PATH_MAX], missing[PATH_MAX], txt[PATH_MAX];
    snprintf(db, sizeof db, "%s/e.db", st_tmp());
    snprintf(missing, sizeof missing, "%s/nope.jsonl", st_tmp());
    snprintf(txt, sizeof txt, "%s/notes.txt", st_tmp());

    st_capture r = run(NULL, "--db", db, "ingest", "--bogus", NULL);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "--bogus"));
    st_capture_free(&r);

    r = run(NULL, "--db", db, "ingest", missing, NULL);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "nope.jsonl"));
    st_capture_free(&r);

    /* a --db that is not an outbox: refused, left as it was */
    FILE *f = fopen(txt, "wb");
    fputs("my notes\n", f);
    fclose(f);
    char in[PATH_MAX];
    snprintf(in, sizeof in, "%s/one.jsonl", st_tmp());
    f = fopen(in, "wb");
    fprintf(f, "%s\n", k_lines[0].text);
    fclose(f);
    r = run(NULL, "--db", txt, "ingest", in, NULL);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "not a tracebox outbox"));
    st_capture_free(&r);
    char *content = st_read_file(txt, NULL);
    assert_non_null(content);
    assert_string_equal(content, "my notes\n");
    free(content);
}

static void test_ingest_huge_line_skipped(void **state)
{
    (void)state;
    char in[PATH_MAX], db[PATH_MAX];
    snprintf(in, sizeof in, "%s/huge.jsonl", st_tmp());
    snprintf(db, sizeof db, "%s/huge.db", st_tmp());
    /* line 1: a record over the 64 MiB limit; line 2: a good one */
    FILE *f = fopen(in, "wb");
    assert_non_null(f);
    fputs("{\"object\":\"trace\",\"id\":\"" T1 "\",\"workflow_name\":\"", f);
    static char chunk[1 << 16];
    memset(chunk, 'x', sizeof chunk);
    for (int i = 0; i < 66 * 16; i++) /* 66 MiB */
        assert_int_equal(fwrite(chunk, 1, sizeof chunk, f), sizeof chunk);
    fputs("\"}\n", f);
    fprintf(f, "%s\n", k_lines[3].text);
    assert_int_equal(fclose(f), 0);
    st_capture r = run(NULL, "--db", db, "ingest", "--ack", in, NULL);
    assert_int_equal(r.status, 1);
    char tag[PATH_MAX + 16];
    snprintf(tag, sizeof tag, "%s:1:", in);
    if (!strstr(r.err, tag))
        fail_msg("huge line not reported as %s:\n%s", tag, r.err);
    assert_string_equal(r.out, T2 "\n");
    st_capture_free(&r);
    assert_int_equal(st_db_int(db, "SELECT count(*) FROM records"), 1);
    unlink(in);
}

static void test_version_and_help(void **state)
{
    (void)state;
    st_capture r = run(NULL, "--version", NULL);
    assert_int_equal(r.status, 0);
    assert_int_equal(strncmp(r.out, "tracebox " TB_VERSION_STRING,
                             strlen("tracebox ") + strlen(TB_VERSION_STRING)),
                     0);
    st_capture_free(&r);

    r = run(NULL, "help", NULL);
    assert_int_equal(r.status, 0);
    static const char *const verbs[] = {"init", "ingest",  "ship",  "status", "pending", "show",
                                        "dead", "requeue", "purge", "export", "demo"};
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++) {
        char needle[64];
        snprintf(needle, sizeof needle, "tracebox %s", verbs[i]);
        if (!strstr(r.out, needle))
            fail_msg("`tracebox help` does not list %s:\n%s", verbs[i], r.out);
    }
    st_capture_free(&r);

    r = run(NULL, "help", "ingest", NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "tracebox ingest [--ack] [FILE|-]"));
    assert_non_null(strstr(r.out, "--ack"));
    st_capture_free(&r);

    r = run(NULL, "ingest", "--help", NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "tracebox ingest"));
    st_capture_free(&r);

    r = run(NULL, "frobnicate", NULL);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "frobnicate"));
    assert_string_equal(r.out, "");
    st_capture_free(&r);

    r = run(NULL, "help", "frobnicate", NULL);
    assert_int_equal(r.status, 2);
    st_capture_free(&r);

    r = run(NULL, NULL);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "usage"));
    st_capture_free(&r);

    r = run(NULL, "--no-such-flag", "init", NULL);
    assert_int_equal(r.status, 2);
    st_capture_free(&r);
}

static void test_init_and_pending(void **state)
{
    (void)state;
    char db[PATH_MAX];
    snprintf(db, sizeof db, "%s/fresh.db", st_tmp());
    st_capture r = run(NULL, "--db", db, "init", NULL);
    if (r.status != 0)
        fail_msg("init exited %d: %s", r.status, r.err);
    st_capture_free(&r);
    struct stat sb;
    assert_int_equal(stat(db, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_true(st_db_int(db, "PRAGMA user_version") >= 1);
    assert_int_equal(st_db_int(db, "SELECT count(*) FROM sqlite_master WHERE name='records'"), 1);

    /* init again: a no-op, still fine */
    r = run(NULL, "--db", db, "init", NULL);
    assert_int_equal(r.status, 0);
    st_capture_free(&r);
    r = run(NULL, "--db", db, "init", "extra", NULL);
    assert_int_equal(r.status, 2);
    st_capture_free(&r);

    r = run(NULL, "--db", db, "pending", NULL);
    if (r.status != 0)
        fail_msg("pending exited %d: %s", r.status, r.err);
    st_capture_free(&r);

    /* --db after the verb and $TRACEBOX_DB-less cwd default both work */
    r = run(NULL, "pending", "--db", db, NULL);
    assert_int_equal(r.status, 0);
    st_capture_free(&r);
    r = run(NULL, "init", NULL);
    assert_int_equal(r.status, 0);
    st_capture_free(&r);
    char dflt[PATH_MAX];
    snprintf(dflt, sizeof dflt, "%s/tracebox.db", st_tmp());
    assert_int_equal(stat(dflt, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, st_tmp_teardown)
    const struct CMUnitTest tests[] = {
        T(test_ingest_file_with_bad_lines), T(test_ingest_stdin_ack), T(test_ingest_errors),
        T(test_ingest_huge_line_skipped),   T(test_version_and_help), T(test_init_and_pending),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
