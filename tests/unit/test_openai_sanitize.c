/*
 * test_openai_sanitize.c — what the `openai` destination changes in a
 * record for traces ingest (src/exporters/openai_sanitize.h), and what it
 * leaves alone.
 *
 * Each test builds a record as the SDK exports it, runs
 * tb__openai_sanitize_record() and reads the result back with cJSON. Sizes
 * are checked the way ingest counts them: the UTF-8 byte length of the
 * field's compact JSON (cJSON_PrintUnformatted, which is also what goes on
 * the wire). The last test fails each allocation in turn.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exporters/openai_sanitize.h"
#include "internal.h"

#define LIMIT TB__OPENAI_MAX_FIELD_BYTES
#define SUFFIX TB__OPENAI_TRUNCATION_SUFFIX

/* ---- helpers --------------------------------------------------------- */

/* A string of `n` bytes made of `unit` repeated (the last copy may be cut
 * short only when unit is one byte). malloc'd. */
static char *repeat(const char *unit, size_t n)
{
    size_t u = strlen(unit);
    char *s = malloc(n + 1);
    assert_non_null(s);
    size_t i = 0;
    while (i + u <= n) {
        memcpy(s + i, unit, u);
        i += u;
    }
    s[i] = '\0';
    return s;
}

/* printf into a malloc'd string of any size. */
static char *fmt(const char *f, ...) TB__PRINTF(1, 2);
static char *fmt(const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    int n = vsnprintf(NULL, 0, f, ap);
    va_end(ap);
    assert_true(n >= 0);
    char *s = malloc((size_t)n + 1);
    assert_non_null(s);
    va_start(ap, f);
    vsnprintf(s, (size_t)n + 1, f, ap);
    va_end(ap);
    return s;
}

/* A generation span whose span_data carries `extra` (",\"input\":…"). */
static char *generation(const char *extra)
{
    return fmt("{\"object\":\"trace.span\",\"id\":\"span_0123456789abcdef01234567\","
               "\"trace_id\":\"trace_0123456789abcdef0123456789abcdef\",\"parent_id\":null,"
               "\"started_at\":\"2025-06-01T12:00:00.000001+00:00\","
               "\"ended_at\":\"2025-06-01T12:00:03.500000+00:00\","
               "\"span_data\":{\"type\":\"generation\"%s,\"model\":\"gpt-4o\"},\"error\":null}",
               extra);
}

static char *span_of_type(const char *type, const char *extra)
{
    return fmt("{\"object\":\"trace.span\",\"id\":\"span_0123456789abcdef01234567\","
               "\"trace_id\":\"trace_0123456789abcdef0123456789abcdef\",\"parent_id\":null,"
               "\"started_at\":\"2025-06-01T12:00:00.000001+00:00\","
               "\"ended_at\":\"2025-06-01T12:00:03.500000+00:00\","
               "\"span_data\":{\"type\":\"%s\"%s},\"error\":null}",
               type, extra);
}

/* Sanitize `json`, expect `want` (1 changed / 0 unchanged), return the
 * parsed result (of the output when changed, of the input otherwise). */
static cJSON *run(const char *json, int want)
{
    char *out = NULL;
    size_t out_len = 0;
    int rc = tb__openai_sanitize_record(json, strlen(json), &out, &out_len);
    assert_int_equal(rc, want);
    if (rc == TB__OPENAI_UNCHANGED) {
        assert_null(out);
        cJSON *root = cJSON_Parse(json);
        assert_non_null(root);
        return root;
    }
    assert_non_null(out);
    assert_int_equal(out_len, strlen(out));
    size_t bad = 0;
    if (!tb__utf8_valid(out, out_len, &bad))
        fail_msg("output is not valid UTF-8 at byte %zu", bad);
    cJSON *root = cJSON_Parse(out);
    if (!root)
        fail_msg("output is not valid JSON: %.200s", out);
    tb__free_mem(out);
    return root;
}

static cJSON *span_data(cJSON *root)
{
    cJSON *sd = cJSON_GetObjectItemCaseSensitive(root, "span_data");
    assert_true(cJSON_IsObject(sd));
    return sd;
}

/* Compact JSON size of a value, as ingest counts it. */
static size_t json_size(const cJSON *v)
{
    char *s = cJSON_PrintUnformatted(v);
    assert_non_null(s);
    size_t n = strlen(s);
    cJSON_free(s);
    return n;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

static void assert_json_equal(const cJSON *got, const char *want_text)
{
    cJSON *want = cJSON_Parse(want_text);
    assert_non_null(want);
    if (!cJSON_Compare(got, want, 1)) {
        char *g = cJSON_PrintUnformatted(got);
        fail_msg("got  %s\nwant %s", g, want_text);
    }
    cJSON_Delete(want);
}

/* ---- strings ---------------------------------------------------------- */

static void test_big_string_input(void **state)
{
    (void)state;
    char *big = repeat("abcdefghij", 250000);
    char *extra = fmt(",\"input\":\"%s\",\"output\":\"short\"", big);
    char *rec = generation(extra);
    cJSON *root = run(rec, TB__OPENAI_CHANGED);
    cJSON *in = cJSON_GetObjectItemCaseSensitive(span_data(root), "input");
    assert_true(cJSON_IsString(in));
    size_t size = json_size(in);
    assert_true(size <= LIMIT);
    assert_true(size >= LIMIT - 16); /* the longest prefix that fits, not a guess */
    assert_true(ends_with(in->valuestring, SUFFIX));
    assert_memory_equal(in->valuestring, big, strlen(in->valuestring) - strlen(SUFFIX));
    cJSON *out = cJSON_GetObjectItemCaseSensitive(span_data(root), "output");
    assert_string_equal(out->valuestring, "short");
    /* everything else is kept */
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(root, "id")->valuestring,
                        "span_0123456789abcdef01234567");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(span_data(root), "model")->valuestring,
                        "gpt-4o");
    cJSON_Delete(root);
    free(rec);
    free(extra);
    free(big);
}

/* Escaped bytes count as ingest counts them: a newline is 2 bytes. */
static void test_escapes_counted(void **state)
{
    (void)state;
    char *big = repeat("\\n\\\"x\\u0001", 150000); /* JSON text of "\n\"x\x01" */
    char *extra = fmt(",\"output\":\"%s\"", big);
    char *rec = span_of_type("function", extra);
    cJSON *root = run(rec, TB__OPENAI_CHANGED);
    cJSON *out = cJSON_GetObjectItemCaseSensitive(span_data(root), "output");
    size_t size = json_size(out);
    assert_true(size <= LIMIT);
    assert_true(size >= LIMIT - 20);
    assert_true(ends_with(out->valuestring, SUFFIX));
    cJSON_Delete(root);
    free(rec);
    free(extra);
    free(big);
}

/* é (2 bytes), 中 (3), 😀 (4): a cut never splits a character, at any
 * alignment of the limit against the characters. */
static void test_utf8_never_split(void **state)
{
    (void)state;
    const char *units[] = {"\xc3\xa9", "\xe4\xb8\xad", "\xf0\x9f\x98\x80",
                           "a\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80"};
    for (size_t u = 0; u < sizeof units / sizeof units[0]; u++) {
        for (size_t shift = 0; shift < 4; shift++) {
            char *pad = repeat("x", shift);
            char *body = repeat(units[u], 200000);
            char *extra = fmt(",\"input\":\"%s%s\"", pad, body);
            char *rec = generation(extra);
            cJSON *root = run(rec, TB__OPENAI_CHANGED);
            cJSON *in = cJSON_GetObjectItemCaseSensitive(span_data(root), "input");
            assert_true(cJSON_IsString(in));
            assert_true(json_size(in) <= LIMIT);
            assert_true(json_size(in) > LIMIT - 20);
            assert_true(ends_with(in->valuestring, SUFFIX));
            size_t bad = 0;
            size_t n = strlen(in->valuestring) - strlen(SUFFIX);
            if (!tb__utf8_valid(in->valuestring, n, &bad))
                fail_msg("unit %zu shift %zu: prefix split a character at byte %zu", u, shift, bad);
            /* the prefix is a prefix of the original */
            assert_memory_equal(in->valuestring, pad, shift);
            assert_memory_equal(in->valuestring + shift, body, n - shift);
            cJSON_Delete(root);
            free(rec);
            free(extra);
            free(body);
            free(pad);
        }
    }
}

/* ---- containers --------------------------------------------------------- */

/* The largest message is truncated first; the others stay whole. */
static void test_messages_largest_first(void **state)
{
    (void)state;
    char *a = repeat("a", 1000);
    char *b = repeat("b", 150000);
    char *c = repeat("c", 30000);
    char *extra = fmt(",\"input\":[{\"role\":\"system\",\"content\":\"%s\"},"
                      "{\"role\":\"user\",\"content\":\"%s\"},"
                      "{\"role\":\"assistant\",\"content\":\"%s\"}]",
                      a, b, c);
    char *rec = generation(extra);
    cJSON *root = run(rec, TB__OPENAI_CHANGED);
    cJSON *in = cJSON_GetObjectItemCaseSensitive(span_data(root), "input");
    assert_true(cJSON_IsArray(in));
    assert_int_equal(cJSON_GetArraySize(in), 3);
    assert_true(json_size(in) <= LIMIT);
    assert_true(json_size(in) >= LIMIT - 20);
    const char *want_role[] = {"system", "user", "assistant"};
    for (int i = 0; i < 3; i++) {
        cJSON *m = cJSON_GetArrayItem(in, i);
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(m, "role")->valuestring, want_role[i]);
    }
    assert_string_equal(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(in, 0), "content")->valuestring, a);
    assert_string_equal(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(in, 2), "content")->valuestring, c);
    const char *mid =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(in, 1), "content")->valuestring;
    assert_true(ends_with(mid, SUFFIX));
    assert_true(strlen(mid) < 150000);
    cJSON_Delete(root);
    free(rec);
    free(extra);
    free(a);
    free(b);
    free(c);
}

/* Two large messages: only the larger one gives up bytes, exactly what
 * the budget leaves for it. */
static void test_two_large_messages(void **state)
{
    (void)state;
    char *a = repeat("a", 60000);
    char *b = repeat("b", 70000);
    char *extra = fmt(",\"output\":[\"%s\",\"%s\"]", a, b);
    char *rec = generation(extra);
    cJSON *root = run(rec, TB__OPENAI_CHANGED);
    cJSON *out = cJSON_GetObjectItemCaseSensitive(span_data(root), "output");
    assert_int_equal(cJSON_GetArraySize(out), 2);
    assert_string_equal(cJSON_GetArrayItem(out, 0)->valuestring, a);
    const char *t = cJSON_GetArrayItem(out, 1)->valuestring;
    assert_true(ends_with(t, SUFFIX));
    assert_int_equal(json_size(out), LIMIT); /* [ "a…" , "b…… [truncated]" ] fills it */
    cJSON_Delete(root);
    free(rec);
    free(extra);
    free(a);
    free(b);
}

/* Deep in nested objects: the big leaf is cut, its siblings stay. */
static void test_nested_objects(void **state)
{
    (void)state;
    char *big = repeat("z", 200000);
    char *mid = repeat("m", 10000);
    char *extra = fmt(",\"input\":{\"a\":{\"b\":{\"c\":\"%s\",\"n\":42,\"t\":true},\"keep\":\"x\"},"
                      "\"other\":\"%s\",\"list\":[1,2,3]}",
                      big, mid);
    char *rec = generation(extra);
    cJSON *root = run(rec, TB__OPENAI_CHANGED);
    cJSON *in = cJSON_GetObjectItemCaseSensitive(span_data(root), "input");
    assert_true(json_size(in) <= LIMIT);
    cJSON *a = cJSON_GetObjectItemCaseSensitive(in, "a");
    cJSON *b = cJSON_GetObjectItemCaseSensitive(a, "b");
    assert_true(ends_with(cJSON_GetObjectItemCaseSensitive(b, "c")->valuestring, SUFFIX));
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(b, "n")->valueint, 42);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "t")));
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(a, "keep")->valuestring, "x");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(in, "other")->valuestring, mid);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(in, "list")), 3);
    /* key order is kept */
    assert_string_equal(in->child->string, "a");
    assert_string_equal(in->child->next->string, "other");
    cJSON_Delete(root);
    free(rec);
    free(extra);
    free(big);
    free(mid);
}

/* Many small values that cannot shrink: removed, largest first, until the
 * rest fits (and fast: n log n). */
static void test_many_small_values(void **state)
{
    (void)state;
    tb__buf b = {0};
    tb__buf_puts(&b, ",\"input\":[");
    for (int i = 0; i < 60000; i++)
        tb__buf_printf(&b, "%s%d", i ? "," : "", i % 1000);
    tb__buf_puts(&b, "]");
    tb__buf_append(&b, "", 1);
    assert_false(b.failed);
    char *rec = generation(b.data);
    cJSON *root = run(rec, TB__OPENAI_CHANGED);
    cJSON *in = cJSON_GetObjectItemCaseSensitive(span_data(root), "input");
    assert_true(cJSON_IsArray(in));
    assert_true(json_size(in) <= LIMIT);
    assert_true(json_size(in) > LIMIT - 10);
    /* the three-digit numbers went first: the one-digit ones all stayed */
    int ones = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, in)
    {
        assert_true(cJSON_IsNumber(c));
        if (c->valueint < 10)
            ones++;
    }
    assert_int_equal(ones, 600);
    cJSON_Delete(root);
    free(rec);
    tb__buf_free(&b);
}

/* output is limited like input; a field that fits is left as is. */
static void test_output_and_untouched_field(void **state)
{
    (void)state;
    char *big = repeat("o", 120000);
    char *extra = fmt(",\"input\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                      "\"output\":[{\"role\":\"assistant\",\"content\":\"%s\"}]",
                      big);
    char *rec = generation(extra);
    cJSON *root = run(rec, TB__OPENAI_CHANGED);
    cJSON *sd = span_data(root);
    assert_json_equal(cJSON_GetObjectItemCaseSensitive(sd, "input"),
                      "[{\"role\":\"user\",\"content\":\"hi\"}]");
    cJSON *out = cJSON_GetObjectItemCaseSensitive(sd, "output");
    assert_true(json_size(out) <= LIMIT);
    assert_true(ends_with(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(out, 0), "content")->valuestring,
        SUFFIX));
    cJSON_Delete(root);
    free(rec);
    free(extra);
    free(big);
}

/* ---- usage ---------------------------------------------------------------- */

static void test_generation_usage_details(void **state)
{
    (void)state;
    char *rec = generation(",\"usage\":{\"requests\":1,\"input_tokens\":10,\"output_tokens\":5,"
                           "\"total_tokens\":15,\"input_tokens_details\":{\"cached_tokens\":2}}");
    cJSON *root = run(rec, TB__OPENAI_CHANGED);
    cJSON *usage = cJSON_GetObjectItemCaseSensitive(span_data(root), "usage");
    assert_json_equal(usage, "{\"input_tokens\":10,\"output_tokens\":5,\"details\":{"
                             "\"requests\":1,\"total_tokens\":15,"
                             "\"input_tokens_details\":{\"cached_tokens\":2}}}");
    /* the two counts stay first */
    assert_string_equal(usage->child->string, "input_tokens");
    assert_string_equal(usage->child->next->string, "output_tokens");
    cJSON_Delete(root);
    free(rec);
}

/* An existing details object is merged; null values are dropped. */
static void test_usage_details_merged(void **state)
{
    (void)state;
    char *rec = generation(",\"usage\":{\"input_tokens\":3,\"output_tokens\":4.5,"
                           "\"details\":{\"a\":1,\"requests\":9},\"requests\":2,"
                           "\"cached\":null,\"reasoning\":{\"x\":[1,2]}}");
    cJSON *root = run(rec, TB__OPENAI_CHANGED);
    assert_json_equal(cJSON_GetObjectItemCaseSensitive(span_data(root), "usage"),
                      "{\"input_tokens\":3,\"output_tokens\":4.5,\"details\":{\"a\":1,"
                      "\"requests\":2,\"reasoning\":{\"x\":[1,2]}}}");
    cJSON_Delete(root);
    free(rec);
}

static void test_usage_bad_tokens_removed(void **state)
{
    (void)state;
    const char *bad[] = {
        ",\"usage\":{\"input_tokens\":\"10\",\"output_tokens\":5,\"requests\":1}",
        ",\"usage\":{\"input_tokens\":10,\"output_tokens\":null}",
        ",\"usage\":{\"input_tokens\":true,\"output_tokens\":5}",
        ",\"usage\":{\"output_tokens\":5,\"total_tokens\":5}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *rec = generation(bad[i]);
        cJSON *root = run(rec, TB__OPENAI_CHANGED);
        assert_null(cJSON_GetObjectItemCaseSensitive(span_data(root), "usage"));
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(span_data(root), "model")->valuestring,
                            "gpt-4o");
        cJSON_Delete(root);
        free(rec);
    }
}

/* Already in ingest's shape (or no usage object at all): unchanged. */
static void test_usage_already_fine(void **state)
{
    (void)state;
    const char *fine[] = {
        ",\"usage\":{\"input_tokens\":10,\"output_tokens\":5}",
        ",\"usage\":{\"input_tokens\":10,\"output_tokens\":5,\"details\":{\"requests\":1}}",
        ",\"usage\":{\"details\":{\"requests\":1},\"output_tokens\":5,\"input_tokens\":10}",
        ",\"usage\":null",
    };
    for (size_t i = 0; i < sizeof fine / sizeof fine[0]; i++) {
        char *rec = generation(fine[i]);
        cJSON *root = run(rec, TB__OPENAI_UNCHANGED);
        cJSON_Delete(root);
        free(rec);
    }
}

static void test_usage_removed_from_other_types(void **state)
{
    (void)state;
    const char *types[] = {"response", "function", "agent", "some_future_type"};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        char *rec =
            span_of_type(types[i], ",\"response_id\":\"resp_1\",\"usage\":{\"input_tokens\":1,"
                                   "\"output_tokens\":2,\"total_tokens\":3,\"requests\":1}");
        cJSON *root = run(rec, TB__OPENAI_CHANGED);
        cJSON *sd = span_data(root);
        assert_null(cJSON_GetObjectItemCaseSensitive(sd, "usage"));
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(sd, "response_id")->valuestring,
                            "resp_1");
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(sd, "type")->valuestring, types[i]);
        cJSON_Delete(root);
        free(rec);
    }
    /* task/turn usage lives under custom data.usage: not touched */
    char *rec = span_of_type("custom", ",\"name\":\"turn\",\"data\":{\"sdk_span_type\":\"turn\","
                                       "\"usage\":{\"input_tokens\":1,\"requests\":1}}");
    cJSON *root = run(rec, TB__OPENAI_UNCHANGED);
    cJSON_Delete(root);
    free(rec);
}

/* ---- trace metadata --------------------------------------------------------- */

static void test_trace_metadata_strings(void **state)
{
    (void)state;
    const char *rec = "{\"object\":\"trace\",\"id\":\"trace_0123456789abcdef0123456789abcdef\","
                      "\"workflow_name\":\"wf\",\"group_id\":null,\"metadata\":{\"user\":\"42\","
                      "\"n\":5,\"nested\":{\"a\":[1,\"x\"]},\"flag\":true,\"nil\":null,"
                      "\"list\":[1,2]}}";
    cJSON *root = run(rec, TB__OPENAI_CHANGED);
    assert_json_equal(cJSON_GetObjectItemCaseSensitive(root, "metadata"),
                      "{\"user\":\"42\",\"n\":\"5\",\"nested\":\"{\\\"a\\\":[1,\\\"x\\\"]}\","
                      "\"flag\":\"true\",\"nil\":\"null\",\"list\":\"[1,2]\"}");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(root, "workflow_name")->valuestring, "wf");
    cJSON_Delete(root);
}

/* ---- extension fields -------------------------------------------------------- */

/* A response span's captured response and input never reach ingest: the
 * body equals the SDK's own export, byte for byte. */
static void test_response_extensions_removed(void **state)
{
    (void)state;
    const char *exported = "{\"object\":\"trace.span\",\"id\":\"span_req-42\","
                           "\"trace_id\":\"trace_my-app-1234\",\"parent_id\":null,"
                           "\"started_at\":null,\"ended_at\":null,\"span_data\":"
                           "{\"type\":\"response\",\"response_id\":\"resp_1\"},\"error\":null}";
    const char *stored = "{\"object\":\"trace.span\",\"id\":\"span_req-42\","
                         "\"trace_id\":\"trace_my-app-1234\",\"parent_id\":null,"
                         "\"started_at\":null,\"ended_at\":null,\"span_data\":"
                         "{\"type\":\"response\",\"response_id\":\"resp_1\",\"response\":"
                         "{\"id\":\"resp_1\",\"model\":\"gpt-4.1\",\"output\":[]},\"input\":"
                         "[{\"role\":\"user\",\"content\":\"hi\"}]},\"error\":null}";
    char *out = NULL;
    size_t out_len = 0;
    assert_int_equal(tb__openai_sanitize_record(stored, strlen(stored), &out, &out_len),
                     TB__OPENAI_CHANGED);
    assert_string_equal(out, exported);
    tb__free_mem(out);
    /* the SDK's own export of a response span goes out as it is */
    assert_int_equal(tb__openai_sanitize_record(exported, strlen(exported), &out, &out_len),
                     TB__OPENAI_UNCHANGED);
    assert_null(out);
    /* a generation's input is its own field, not an extension */
    char *gen = span_of_type("generation", ",\"input\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                                           "\"response\":\"kept\"");
    assert_int_equal(tb__openai_sanitize_record(gen, strlen(gen), &out, &out_len),
                     TB__OPENAI_UNCHANGED);
    free(gen);
}

/* ---- left alone ---------------------------------------------------------------- */

static void test_untouched_records(void **state)
{
    (void)state;
    const char *same[] = {
        /* a plain span: not even parsed */
        "{\"object\":\"trace.span\",\"id\":\"span_1\",\"trace_id\":\"trace_1\",\"parent_id\":"
        "null,\"span_data\":{\"type\":\"function\",\"name\":\"f\",\"input\":\"{}\","
        "\"output\":\"ok\"},\"error\":null}",
        /* a trace whose metadata is already string → string */
        "{\"object\":\"trace\",\"id\":\"trace_1\",\"workflow_name\":\"wf\",\"group_id\":null,"
        "\"metadata\":{\"user\":\"42\",\"plan\":\"pro\"}}",
        /* a trace with no metadata */
        "{\"object\":\"trace\",\"id\":\"trace_1\",\"workflow_name\":\"wf\",\"metadata\":null}",
        /* span metadata (Python's agent usage) is not trace metadata */
        "{\"object\":\"trace.span\",\"id\":\"span_2\",\"span_data\":{\"type\":\"agent\","
        "\"name\":\"A\"},\"metadata\":{\"usage\":{\"requests\":1,\"input_tokens\":3}}}",
        /* not JSON: goes as it is, ingest refuses it on its own */
        "{\"object\":\"trace\",\"metadata\":{",
        "[\"usage\"]",
    };
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        char *out = (char *)1;
        size_t out_len = 7;
        int rc = tb__openai_sanitize_record(same[i], strlen(same[i]), &out, &out_len);
        if (rc != TB__OPENAI_UNCHANGED)
            fail_msg("record %zu changed: %s", i, same[i]);
        assert_null(out);
        assert_int_equal(out_len, 0);
    }
    assert_false(tb__openai_may_need_sanitize(same[0], strlen(same[0])));

    /* large, but the bulk is outside input/output: parsed, not changed */
    char *big = repeat("d", 150000);
    char *extra = fmt(",\"name\":\"blob\",\"data\":{\"blob\":\"%s\"}", big);
    char *rec = span_of_type("custom", extra);
    assert_true(tb__openai_may_need_sanitize(rec, strlen(rec)));
    char *out = NULL;
    size_t out_len = 0;
    assert_int_equal(tb__openai_sanitize_record(rec, strlen(rec), &out, &out_len),
                     TB__OPENAI_UNCHANGED);
    assert_null(out);
    free(rec);
    free(extra);
    free(big);

    /* not NUL-terminated: only len bytes are read */
    const char *two = "{\"object\":\"trace\",\"metadata\":{\"n\":1}}GARBAGE";
    size_t len = strlen(two) - strlen("GARBAGE");
    assert_int_equal(tb__openai_sanitize_record(two, len, &out, &out_len), TB__OPENAI_CHANGED);
    assert_string_equal(out, "{\"object\":\"trace\",\"metadata\":{\"n\":\"1\"}}");
    tb__free_mem(out);
}

/* ---- allocation failures: each one in turn; no crash, no leak (ASan) -------- */

/* Fail the n-th allocation for n = 0, 1, … until a run completes; every
 * run either reports NOMEM (or, when the parse itself failed, UNCHANGED)
 * or produces exactly the output of an unhindered run. */
static void torture(const char *rec)
{
    char *want = NULL;
    size_t want_len = 0;
    assert_int_equal(tb__openai_sanitize_record(rec, strlen(rec), &want, &want_len),
                     TB__OPENAI_CHANGED);
    int failed = 0, ok = 0;
    for (long n = 0; n < 100000; n++) {
        tb__alloc_fail_after(n);
        char *out = NULL;
        size_t out_len = 0;
        int rc = tb__openai_sanitize_record(rec, strlen(rec), &out, &out_len);
        tb__alloc_fail_after(-1);
        if (rc == TB__OPENAI_NOMEM) {
            assert_null(out);
            failed++;
            continue;
        }
        /* a parse that ran out of memory looks like "not JSON": unchanged */
        if (rc == TB__OPENAI_UNCHANGED) {
            assert_null(out);
            continue;
        }
        assert_int_equal(rc, TB__OPENAI_CHANGED);
        assert_int_equal(out_len, want_len);
        assert_memory_equal(out, want, want_len);
        tb__free_mem(out);
        ok = 1;
        break;
    }
    assert_true(ok);
    assert_true(failed > 0);
    tb__free_mem(want);
}

static void test_alloc_failures(void **state)
{
    (void)state;
    char *big = repeat("\xe4\xb8\xad", 40000);
    char *extra = fmt(",\"input\":[{\"content\":\"%s\"},{\"content\":\"%s\"},7,null],"
                      "\"usage\":{\"input_tokens\":1,\"output_tokens\":2,\"requests\":1,"
                      "\"details\":{\"a\":[1]}}",
                      big, big);
    char *rec = generation(extra);
    torture(rec);
    free(rec);
    free(extra);
    free(big);
    torture("{\"object\":\"trace\",\"id\":\"trace_1\",\"metadata\":{\"a\":1,\"b\":{\"c\":[1,2]},"
            "\"d\":\"s\",\"e\":null}}");
    rec = span_of_type("response", ",\"usage\":{\"input_tokens\":1}");
    torture(rec);
    free(rec);
    rec = generation(",\"usage\":{\"input_tokens\":\"x\",\"output_tokens\":2}");
    torture(rec);
    free(rec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_big_string_input),
        cmocka_unit_test(test_escapes_counted),
        cmocka_unit_test(test_utf8_never_split),
        cmocka_unit_test(test_messages_largest_first),
        cmocka_unit_test(test_two_large_messages),
        cmocka_unit_test(test_nested_objects),
        cmocka_unit_test(test_many_small_values),
        cmocka_unit_test(test_output_and_untouched_field),
        cmocka_unit_test(test_generation_usage_details),
        cmocka_unit_test(test_usage_details_merged),
        cmocka_unit_test(test_usage_bad_tokens_removed),
        cmocka_unit_test(test_usage_already_fine),
        cmocka_unit_test(test_usage_removed_from_other_types),
        cmocka_unit_test(test_trace_metadata_strings),
        cmocka_unit_test(test_response_extensions_removed),
        cmocka_unit_test(test_untouched_records),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
