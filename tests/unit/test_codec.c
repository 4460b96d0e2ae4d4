/*
 * test_codec.c — the record codec and the tracing API that produces records.
 *
 * Every span_data type is made through the public typed helpers, filled in,
 * ended, exported with tb_span_export_json() and decoded again with
 * tb__record_decode(): ids, parents, type, the `name` column, timestamps and
 * the error JSON must come out as the SDK would have written them. Real SDK
 * lines (Python export(), JS toJSON()) decode too, and every kind of bad
 * input is refused with TB_BAD_RECORD and a message naming the field.
 * The misuse cases (ending twice, NULLs, tracing disabled) are here as well.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "json_print.h"
#include "record.h"

/* ---- helpers ---------------------------------------------------------- */

static bool is_hex_id(const char *s, const char *prefix, size_t nhex)
{
    size_t plen = strlen(prefix);
    if (!s || strncmp(s, prefix, plen) != 0 || strlen(s) != plen + nhex)
        return false;
    for (size_t i = plen; i < plen + nhex; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static void assert_str_eq_or_null(const char *got, const char *want)
{
    if (!want)
        assert_null(got);
    else {
        assert_non_null(got);
        assert_string_equal(got, want);
    }
}

/* Decode text that must be good. */
/* The text in a heap block of exactly its length, no NUL after it (as
 * tb_outbox_put_json_many hands records over, one after another in one
 * buffer): a read past the end is ASan's to see. */
static char *exact_copy(const char *json, size_t len)
{
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, json, len);
    return copy;
}

static void decode_ok(tb__record *rec, const char *json)
{
    char err[512];
    size_t len = strlen(json);
    char *copy = exact_copy(json, len);
    tb_status st = tb__record_decode(rec, copy, len, err, sizeof err);
    free(copy);
    if (st != TB_OK)
        fail_msg("decode failed (%s): %s\n  input: %s", tb_status_str(st), err, json);
}

/* Decode `len` bytes that must be refused; the message must start with
 * `field` (the field it names). */
static void expect_bad_len(const char *json, size_t len, const char *field)
{
    tb__record rec;
    char err[512];
    char *copy = exact_copy(json, len);
    tb_status st = tb__record_decode(&rec, copy, len, err, sizeof err);
    free(copy);
    if (st != TB_BAD_RECORD)
        fail_msg("expected TB_BAD_RECORD, got %s for: %.*s", tb_status_str(st), (int)len, json);
    if (strncmp(err, field, strlen(field)) != 0)
        fail_msg("error message \"%s\" does not name \"%s\"", err, field);
    /* a refused record leaves nothing behind */
    assert_null(rec.root);
    assert_null(rec.name);
    assert_null(rec.error_json);
}

static void expect_bad(const char *json, const char *field)
{
    expect_bad_len(json, strlen(json), field);
}

/* A counting processor for the disabled test. */
static int g_calls;
static tb_status count_trace(void *self, const tb_trace *t)
{
    (void)self;
    (void)t;
    g_calls++;
    return TB_OK;
}
static tb_status count_span(void *self, const tb_span *s)
{
    (void)self;
    (void)s;
    g_calls++;
    return TB_OK;
}

static int setup(void **state)
{
    (void)state;
    tb_set_tracing_disabled(0);
    assert_int_equal(tb_set_trace_processors(NULL, 0), TB_OK);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tb_set_tracing_disabled(0);
    tb_set_trace_processors(NULL, 0);
    return 0;
}

/* Export a finished span, decode it, and check everything the codec pulls
 * out. Returns the parsed export object (caller deletes). */
static cJSON *check_span(const tb_span *s, const tb_trace *t, const tb_span *parent,
                         const char *want_type, const char *want_name, const char *want_err_msg)
{
    char *json = NULL;
    assert_int_equal(tb_span_export_json(s, &json), TB_OK);
    assert_non_null(json);

    /* the export is written as text (span.c), not printed from a tree: it
     * must be the text cJSON prints of it, keys in the SDK's order */
    cJSON *tree = cJSON_Parse(json);
    assert_non_null(tree);
    char *canon = cJSON_PrintUnformatted(tree);
    assert_string_equal(json, canon);
    cJSON_free(canon);
    static const char *const order[] = {"object",    "id",         "trace_id",
                                        "parent_id", "started_at", "ended_at",
                                        "span_data", "error",      "metadata"};
    size_t k = 0;
    for (const cJSON *c = tree->child; c; c = c->next, k++) {
        assert_true(k < sizeof order / sizeof order[0]);
        assert_string_equal(c->string, order[k]);
    }
    assert_true(k >= 8);
    cJSON_Delete(tree);

    tb__record rec;
    decode_ok(&rec, json);
    assert_false(rec.is_trace);
    assert_true(is_hex_id(rec.id, "span_", 24));
    assert_true(is_hex_id(rec.span_id, "span_", 24));
    assert_string_equal(rec.id, tb_span_id(s));
    assert_true(is_hex_id(rec.trace_id, "trace_", 32));
    assert_string_equal(rec.trace_id, tb_trace_id(t));
    assert_string_equal(rec.trace_id, tb_span_trace_id(s));
    assert_str_eq_or_null(rec.parent_id, parent ? tb_span_id(parent) : NULL);
    assert_str_eq_or_null(tb_span_parent_id(s), parent ? tb_span_id(parent) : NULL);
    assert_string_equal(rec.type, want_type);
    assert_string_equal(tb_span_type(s), want_type);
    assert_non_null(rec.name);
    assert_string_equal(rec.name, want_name);

    /* timestamps: both present, parse, Python style (+00:00, µs), ordered */
    int64_t started = 0, ended = 0;
    assert_non_null(rec.started_at);
    assert_non_null(rec.ended_at);
    assert_true(tb__parse_iso8601(rec.started_at, &started));
    assert_true(tb__parse_iso8601(rec.ended_at, &ended));
    assert_true(ended >= started);
    assert_int_equal(strlen(rec.started_at), 32);
    assert_string_equal(rec.started_at + 26, "+00:00");
    int64_t now = tb__now_us();
    assert_true(started <= now && started > now - INT64_C(600) * 1000000);

    if (want_err_msg) {
        assert_non_null(rec.error_json);
        cJSON *e = cJSON_Parse(rec.error_json);
        assert_non_null(e);
        cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "message");
        assert_true(cJSON_IsString(m));
        assert_string_equal(m->valuestring, want_err_msg);
        assert_non_null(cJSON_GetObjectItemCaseSensitive(e, "data"));
        cJSON_Delete(e);
    } else {
        assert_null(rec.error_json);
    }
    tb__record_clear(&rec);

    cJSON *o = cJSON_Parse(json);
    assert_non_null(o);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "object")->valuestring, "trace.span");
    /* the SDK's keys are all there */
    static const char *keys[] = {"id",       "trace_id",  "parent_id", "started_at",
                                 "ended_at", "span_data", "error"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (!cJSON_HasObjectItem(o, keys[i]))
            fail_msg("export lacks \"%s\": %s", keys[i], json);
    tb_free(json);
    return o;
}

static const cJSON *sdata(const cJSON *o, const char *key)
{
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "span_data");
    assert_true(cJSON_IsObject(d));
    return cJSON_GetObjectItemCaseSensitive(d, key);
}

static void assert_sdata_string(const cJSON *o, const char *key, const char *want)
{
    const cJSON *v = sdata(o, key);
    if (!cJSON_IsString(v))
        fail_msg("span_data.%s is not a string", key);
    assert_string_equal(v->valuestring, want);
}

/* ---- every span type through the API --------------------------------- */

static void test_trace_export(void **state)
{
    (void)state;
    tb_trace *t = NULL;
    tb_trace_options o = TB_TRACE_OPTIONS_INIT;
    o.group_id = "thread-42";
    o.metadata_json = "{\"user\":\"u1\",\"n\":3}";
    assert_int_equal(tb_trace_start(&t, "Customer service", &o), TB_OK);
    assert_true(is_hex_id(tb_trace_id(t), "trace_", 32));
    char *json = NULL;
    assert_int_equal(tb_trace_export_json(t, &json), TB_OK);
    tb__record rec;
    decode_ok(&rec, json);
    assert_true(rec.is_trace);
    assert_string_equal(rec.id, tb_trace_id(t));
    assert_string_equal(rec.trace_id, tb_trace_id(t));
    assert_null(rec.span_id);
    assert_null(rec.parent_id);
    assert_string_equal(rec.type, "trace");
    assert_string_equal(rec.name, "Customer service");
    assert_null(rec.error_json);
    /* the codec keeps no tree: the stored text holds the rest */
    assert_null(rec.root);
    cJSON *doc = cJSON_Parse(json);
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(doc, "group_id");
    assert_true(cJSON_IsString(g));
    assert_string_equal(g->valuestring, "thread-42");
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(doc, "metadata");
    assert_true(cJSON_IsObject(md));
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(md, "user")->valuestring, "u1");
    cJSON_Delete(doc);
    tb__record_clear(&rec);
    tb_free(json);

    /* default workflow name, explicit trace id, no group: null */
    tb_trace *t2 = NULL;
    tb_trace_options o2 = TB_TRACE_OPTIONS_INIT;
    o2.trace_id = "trace_0123456789abcdef0123456789abcdef";
    assert_int_equal(tb_trace_start(&t2, NULL, &o2), TB_OK);
    assert_string_equal(tb_trace_id(t2), o2.trace_id);
    assert_int_equal(tb_trace_export_json(t2, &json), TB_OK);
    decode_ok(&rec, json);
    assert_string_equal(rec.name, "Agent workflow");
    doc = cJSON_Parse(json);
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(doc, "group_id")));
    cJSON_Delete(doc);
    tb__record_clear(&rec);
    tb_free(json);

    /* a caller's id of any shape is kept (the SDKs accept them) */
    tb_trace *t4 = NULL;
    tb_trace_options o4 = TB_TRACE_OPTIONS_INIT;
    o4.trace_id = "trace_my-app-1234";
    assert_int_equal(tb_trace_start(&t4, NULL, &o4), TB_OK);
    assert_string_equal(tb_trace_id(t4), "trace_my-app-1234");
    assert_int_equal(tb_trace_export_json(t4, &json), TB_OK);
    decode_ok(&rec, json);
    assert_string_equal(rec.trace_id, "trace_my-app-1234");
    tb__record_clear(&rec);
    tb_free(json);
    tb_trace_free(t4);

    /* an empty id and bad metadata are refused */
    tb_trace *t3 = (tb_trace *)&o2;
    o2.trace_id = "";
    assert_int_equal(tb_trace_start(&t3, "x", &o2), TB_INVALID);
    assert_null(t3);
    tb_trace_options o3 = TB_TRACE_OPTIONS_INIT;
    o3.metadata_json = "[1,2]";
    assert_int_equal(tb_trace_start(&t3, "x", &o3), TB_INVALID);
    assert_null(t3);

    assert_int_equal(tb_trace_end(t), TB_OK);
    assert_int_equal(tb_trace_end(t2), TB_OK);
    tb_trace_free(t);
    tb_trace_free(t2);
}

static void test_every_span_type(void **state)
{
    (void)state;
    tb_trace *t = NULL;
    assert_int_equal(tb_trace_start(&t, "every type", NULL), TB_OK);

    tb_span *agent = NULL;
    assert_int_equal(tb_span_start_agent(&agent, t, NULL, "Triage"), TB_OK);
    assert_int_equal(tb_span_set_data(agent, "tools", "[\"lookup\",\"refund\"]"), TB_OK);
    assert_int_equal(tb_span_set_data(agent, "handoffs", "[\"Billing\"]"), TB_OK);
    assert_int_equal(tb_span_set_metadata(agent, "{\"tenant\":\"acme\"}"), TB_OK);

    /* children of the agent */
    tb_span *gen = NULL;
    assert_int_equal(tb_span_start_generation(&gen, t, agent, "gpt-4o",
                                              "[{\"role\":\"user\",\"content\":\"hi \\u00e9\"}]"),
                     TB_OK);
    assert_int_equal(
        tb_span_set_data(gen, "output", "[{\"role\":\"assistant\",\"content\":\"hello\"}]"), TB_OK);
    assert_int_equal(tb_span_set_usage(gen, 12, 34), TB_OK);
    assert_int_equal(tb_span_end(gen), TB_OK);
    cJSON *o = check_span(gen, t, agent, "generation", "gpt-4o", NULL);
    const cJSON *usage = sdata(o, "usage");
    assert_true(cJSON_IsObject(usage));
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(usage, "input_tokens")->valueint, 12);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(usage, "output_tokens")->valueint, 34);
    assert_true(cJSON_IsArray(sdata(o, "input")));
    assert_string_equal(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(sdata(o, "input"), 0), "content")
            ->valuestring,
        "hi \xc3\xa9");
    cJSON_Delete(o);

    tb_span *resp = NULL;
    assert_int_equal(tb_span_start_response(&resp, t, agent, "resp_abc123"), TB_OK);
    assert_int_equal(tb_span_set_usage(resp, 100, 7), TB_OK);
    /* what the export drops, attached as the extension fields */
    assert_int_equal(tb_span_set_response(resp, "[1]", NULL), TB_INVALID);
    assert_int_equal(tb_span_set_response(resp, NULL, "{\"role\":\"user\"}"), TB_INVALID);
    assert_int_equal(tb_span_set_response(resp, "{\"id\":\"resp_x\",\"model\":\"gpt-4.1\"}",
                                          "[{\"role\":\"user\",\"content\":\"hi\"}]"),
                     TB_OK);
    assert_int_equal(tb_span_end(resp), TB_OK);
    o = check_span(resp, t, agent, "response", "resp_abc123", NULL);
    assert_sdata_string(o, "response_id", "resp_abc123"); /* already set: kept */
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(sdata(o, "usage"), "input_tokens")->valueint,
                     100);
    assert_string_equal(
        cJSON_GetObjectItemCaseSensitive(sdata(o, "response"), "model")->valuestring, "gpt-4.1");
    assert_int_equal(cJSON_GetArraySize(sdata(o, "input")), 1);
    cJSON_Delete(o);
    tb_span *resp2 = NULL;
    assert_int_equal(tb_span_start_response(&resp2, t, agent, NULL), TB_OK);
    assert_int_equal(tb_span_set_response(resp2, "{\"id\":\"resp_y\"}", "\"just text\""), TB_OK);
    char *rj = NULL;
    assert_int_equal(tb_span_export_json(resp2, &rj), TB_OK);
    assert_non_null(strstr(rj, "\"response_id\":\"resp_y\""));
    assert_non_null(strstr(rj, "\"input\":\"just text\""));
    tb_free(rj);
    tb_span_free(resp2);
    tb_span *notresp = NULL;
    assert_int_equal(tb_span_start_custom(&notresp, t, agent, "c", NULL), TB_OK);
    assert_int_equal(tb_span_set_response(notresp, "{}", NULL), TB_INVALID);
    assert_non_null(strstr(tb_last_error(), "not response"));
    tb_span_free(notresp);

    tb_span *fn = NULL;
    assert_int_equal(tb_span_start_function(&fn, t, agent, "lookup", "{\"id\":7}"), TB_OK);
    assert_int_equal(tb_span_set_string(fn, "output", "not found"), TB_OK);
    assert_int_equal(tb_span_set_error(fn, "Tool lookup failed", "{\"code\":404}"), TB_OK);
    /* replaced, not appended */
    assert_int_equal(tb_span_set_error(fn, "Error running tool", "{\"tool_name\":\"lookup\"}"),
                     TB_OK);
    assert_int_equal(tb_span_end(fn), TB_OK);
    o = check_span(fn, t, agent, "function", "lookup", "Error running tool");
    assert_sdata_string(o, "input", "{\"id\":7}");
    assert_sdata_string(o, "output", "not found");
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(o, "error");
    assert_string_equal(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(err, "data"), "tool_name")
            ->valuestring,
        "lookup");
    cJSON_Delete(o);

    tb_span *hand = NULL;
    assert_int_equal(tb_span_start_handoff(&hand, t, agent, "Triage", "Billing"), TB_OK);
    assert_int_equal(tb_span_end(hand), TB_OK);
    o = check_span(hand, t, agent, "handoff", "Triage -> Billing", NULL);
    assert_sdata_string(o, "from_agent", "Triage");
    assert_sdata_string(o, "to_agent", "Billing");
    cJSON_Delete(o);

    tb_span *guard = NULL;
    assert_int_equal(tb_span_start_guardrail(&guard, t, agent, "no_pii", 1), TB_OK);
    assert_int_equal(tb_span_end(guard), TB_OK);
    o = check_span(guard, t, agent, "guardrail", "no_pii", NULL);
    assert_true(cJSON_IsTrue(sdata(o, "triggered")));
    cJSON_Delete(o);

    tb_span *custom = NULL;
    assert_int_equal(tb_span_start_custom(&custom, t, agent, "cache", "{\"hit\":false}"), TB_OK);
    assert_int_equal(tb_span_set_error(custom, "cache miss", NULL), TB_OK);
    assert_int_equal(tb_span_end(custom), TB_OK);
    o = check_span(custom, t, agent, "custom", "cache", "cache miss");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(sdata(o, "data"), "hit")));
    cJSON_Delete(o);

    tb_span *mcp = NULL;
    assert_int_equal(tb_span_start_mcp_tools(&mcp, t, agent, "filesystem"), TB_OK);
    assert_int_equal(tb_span_set_data(mcp, "result", "[\"read_file\",\"write_file\"]"), TB_OK);
    assert_int_equal(tb_span_end(mcp), TB_OK);
    o = check_span(mcp, t, agent, "mcp_tools", "filesystem", NULL);
    assert_int_equal(cJSON_GetArraySize(sdata(o, "result")), 2);
    cJSON_Delete(o);

    assert_int_equal(tb_span_end(agent), TB_OK);
    o = check_span(agent, t, NULL, "agent", "Triage", NULL);
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(o, "metadata");
    assert_true(cJSON_IsObject(md));
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(md, "tenant")->valuestring, "acme");
    assert_int_equal(cJSON_GetArraySize(sdata(o, "tools")), 2);
    cJSON_Delete(o);

    /* voice: a speech group with transcription and speech children */
    tb_span *group = NULL, *tr = NULL, *sp = NULL;
    assert_int_equal(tb_span_start_speech_group(&group, t, NULL, "hello there"), TB_OK);
    assert_int_equal(tb_span_start_transcription(&tr, t, group, "gpt-4o-transcribe"), TB_OK);
    assert_int_equal(tb_span_set_string(tr, "output", "hello there"), TB_OK);
    assert_int_equal(tb_span_end(tr), TB_OK);
    o = check_span(tr, t, group, "transcription", "gpt-4o-transcribe", NULL);
    assert_sdata_string(o, "output", "hello there");
    assert_true(cJSON_IsObject(sdata(o, "input")));
    cJSON_Delete(o);
    assert_int_equal(tb_span_start_speech(&sp, t, group, "gpt-4o-mini-tts", "hi, how can I help?"),
                     TB_OK);
    assert_int_equal(tb_span_end(sp), TB_OK);
    o = check_span(sp, t, group, "speech", "gpt-4o-mini-tts", NULL);
    assert_sdata_string(o, "input", "hi, how can I help?");
    cJSON_Delete(o);
    assert_int_equal(tb_span_end(group), TB_OK);
    o = check_span(group, t, NULL, "speech_group", "speech_group", NULL);
    assert_sdata_string(o, "input", "hello there");
    cJSON_Delete(o);

    /* task and turn: custom spans carrying sdk_span_type */
    tb_span *task = NULL, *turn = NULL;
    assert_int_equal(tb_span_start_task(&task, t, NULL, "plan trip"), TB_OK);
    assert_int_equal(tb_span_start_turn(&turn, t, task, 3, "Planner"), TB_OK);
    assert_int_equal(tb_span_end(turn), TB_OK);
    o = check_span(turn, t, task, "custom", "turn", NULL);
    const cJSON *d = sdata(o, "data");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(d, "sdk_span_type")->valuestring, "turn");
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(d, "turn")->valueint, 3);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(d, "agent_name")->valuestring, "Planner");
    cJSON_Delete(o);
    assert_int_equal(tb_span_end(task), TB_OK);
    o = check_span(task, t, NULL, "custom", "task", NULL);
    d = sdata(o, "data");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(d, "sdk_span_type")->valuestring, "task");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(d, "name")->valuestring, "plan trip");
    cJSON_Delete(o);

    /* an unknown type through the generic call is kept */
    tb_span *odd = NULL;
    assert_int_equal(tb_span_start(&odd, t, NULL, "voice_pipeline", "{\"name\":\"vp\",\"x\":1}"),
                     TB_OK);
    assert_int_equal(tb_span_end(odd), TB_OK);
    o = check_span(odd, t, NULL, "voice_pipeline", "vp", NULL);
    cJSON_Delete(o);

    /* all span ids distinct */
    const tb_span *all[] = {agent, gen,   resp, fn, hand, guard, custom,
                            mcp,   group, tr,   sp, task, turn,  odd};
    size_t n = sizeof all / sizeof all[0];
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            assert_string_not_equal(tb_span_id(all[i]), tb_span_id(all[j]));

    assert_int_equal(tb_trace_end(t), TB_OK);
    /* a span keeps its trace alive: free the trace first */
    tb_trace_free(t);
    for (size_t i = 0; i < n; i++)
        tb_span_free((tb_span *)all[i]);
}

static void test_span_not_ended_exports_null_end(void **state)
{
    (void)state;
    tb_trace *t = NULL;
    tb_span *s = NULL;
    assert_int_equal(tb_trace_start(&t, "w", NULL), TB_OK);
    assert_int_equal(tb_span_start_agent(&s, t, NULL, "A"), TB_OK);
    char *json = NULL;
    assert_int_equal(tb_span_export_json(s, &json), TB_OK);
    tb__record rec;
    decode_ok(&rec, json);
    assert_non_null(rec.started_at);
    assert_null(rec.ended_at);
    tb__record_clear(&rec);
    tb_free(json);
    tb_span_end(s);
    tb_span_free(s);
    tb_trace_end(t);
    tb_trace_free(t);
}

/* ---- real SDK lines ---------------------------------------------------- */

#define TID "trace_0f8c3c1e9b6a4d2f8e7a1b2c3d4e5f60"
#define SID1 "span_5e1c6b2a9f3d4e8c7b6a5d4c"
#define SID2 "span_a1b2c3d4e5f6a7b8c9d0e1f2"

static void test_decode_python_style(void **state)
{
    (void)state;
    /* Python span.export(): json.dumps default separators, +00:00, µs */
    const char *line =
        "{\"object\": \"trace.span\", \"id\": \"" SID1 "\", \"trace_id\": \"" TID
        "\", \"parent_id\": null, \"started_at\": \"2025-06-01T12:34:56.789012+00:00\", "
        "\"ended_at\": \"2025-06-01T12:34:57.123456+00:00\", \"span_data\": {\"type\": "
        "\"agent\", \"name\": \"Assistant\", \"handoffs\": [], \"tools\": [\"get_weather\"], "
        "\"output_type\": \"str\"}, \"error\": null, \"metadata\": {\"env\": \"prod\"}}";
    tb__record rec;
    decode_ok(&rec, line);
    assert_false(rec.is_trace);
    assert_string_equal(rec.id, SID1);
    assert_string_equal(rec.trace_id, TID);
    assert_null(rec.parent_id);
    assert_string_equal(rec.type, "agent");
    assert_string_equal(rec.name, "Assistant");
    assert_null(rec.error_json);
    /* stored as written */
    assert_string_equal(rec.started_at, "2025-06-01T12:34:56.789012+00:00");
    int64_t us = 0;
    assert_true(tb__parse_iso8601(rec.started_at, &us));
    assert_int_equal(us, INT64_C(1748781296789012));
    assert_true(tb__parse_iso8601(rec.ended_at, &us));
    assert_int_equal(us, INT64_C(1748781297123456));
    tb__record_clear(&rec);

    /* a Python trace export */
    const char *trace = "{\"object\": \"trace\", \"id\": \"" TID
                        "\", \"workflow_name\": \"Weather agent\", \"group_id\": null, "
                        "\"metadata\": {\"user_id\": \"42\"}}";
    decode_ok(&rec, trace);
    assert_true(rec.is_trace);
    assert_string_equal(rec.type, "trace");
    assert_string_equal(rec.name, "Weather agent");
    assert_null(rec.started_at);
    tb__record_clear(&rec);

    /* a generation with an error, pretty-printed over several lines */
    const char *gen = "{\n  \"object\": \"trace.span\",\n  \"id\": \"" SID2
                      "\",\n  \"trace_id\": \"" TID "\",\n  \"parent_id\": \"" SID1
                      "\",\n  \"started_at\": \"2025-06-01T12:34:56.800000+00:00\",\n"
                      "  \"ended_at\": \"2025-06-01T12:34:57.000000+00:00\",\n"
                      "  \"span_data\": {\"type\": \"generation\", \"input\": [], \"output\": "
                      "[], \"model\": \"gpt-4o\", \"model_config\": {\"temperature\": 0.2}, "
                      "\"usage\": {\"input_tokens\": 5, \"output_tokens\": 9}},\n"
                      "  \"error\": {\"message\": \"Rate limited\", \"data\": {\"status\": "
                      "429}}\n}\n";
    decode_ok(&rec, gen);
    assert_string_equal(rec.parent_id, SID1);
    assert_string_equal(rec.type, "generation");
    assert_string_equal(rec.name, "gpt-4o");
    assert_non_null(rec.error_json);
    cJSON *e = cJSON_Parse(rec.error_json);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(e, "message")->valuestring,
                        "Rate limited");
    cJSON_Delete(e);
    tb__record_clear(&rec);
}

static void test_decode_js_style(void **state)
{
    (void)state;
    /* JS span.toJSON(): JSON.stringify, Z with milliseconds, no metadata */
    const char *line =
        "{\"object\":\"trace.span\",\"id\":\"" SID2 "\",\"trace_id\":\"" TID
        "\",\"parent_id\":\"" SID1 "\",\"started_at\":\"2025-06-01T12:34:56.789Z\",\"ended_at\":"
        "\"2025-06-01T12:34:57.001Z\",\"span_data\":{\"type\":\"function\","
        "\"name\":\"get_weather\",\"input\":\"{\\\"city\\\":\\\"Paris\\\"}\","
        "\"output\":\"sunny\",\"mcp_data\":null},\"error\":null}";
    tb__record rec;
    decode_ok(&rec, line);
    assert_string_equal(rec.id, SID2);
    assert_string_equal(rec.parent_id, SID1);
    assert_string_equal(rec.type, "function");
    assert_string_equal(rec.name, "get_weather");
    assert_string_equal(rec.started_at, "2025-06-01T12:34:56.789Z");
    int64_t a = 0, b = 0;
    assert_true(tb__parse_iso8601(rec.started_at, &a));
    assert_true(tb__parse_iso8601(rec.ended_at, &b));
    assert_int_equal(a, INT64_C(1748781296789000));
    assert_int_equal(b, INT64_C(1748781297001000));
    tb__record_clear(&rec);

    /* JS trace: toJSON() */
    const char *trace = "{\"object\":\"trace\",\"id\":\"" TID
                        "\",\"workflow_name\":\"Agent workflow\",\"group_id\":\"conv_1\","
                        "\"metadata\":null}";
    decode_ok(&rec, trace);
    assert_true(rec.is_trace);
    assert_string_equal(rec.name, "Agent workflow");
    tb__record_clear(&rec);

    /* the JS handoff with a null from_agent still gets a readable name */
    const char *hand = "{\"object\":\"trace.span\",\"id\":\"" SID1 "\",\"trace_id\":\"" TID
                       "\",\"parent_id\":null,\"started_at\":\"2025-06-01T12:34:56.789Z\","
                       "\"ended_at\":null,\"span_data\":{\"type\":\"handoff\",\"from_agent\":"
                       "null,\"to_agent\":\"Billing\"},\"error\":null}";
    decode_ok(&rec, hand);
    assert_string_equal(rec.name, "? -> Billing");
    assert_null(rec.ended_at);
    tb__record_clear(&rec);
}

static void test_decode_unknown_type_kept(void **state)
{
    (void)state;
    const char *line = "{\"object\":\"trace.span\",\"id\":\"" SID1 "\",\"trace_id\":\"" TID
                       "\",\"parent_id\":null,\"started_at\":\"2025-06-01T12:34:56.789Z\","
                       "\"ended_at\":\"2025-06-01T12:34:56.790Z\",\"span_data\":{\"type\":"
                       "\"realtime_session\",\"future_field\":{\"a\":[1,2,3]}},\"error\":null,"
                       "\"extra_top_level\":true}";
    tb__record rec;
    decode_ok(&rec, line);
    assert_string_equal(rec.type, "realtime_session");
    assert_string_equal(rec.name, "realtime_session");
    tb__record_clear(&rec);
}

/* ---- bad input ---------------------------------------------------------- */

#define SPAN_HEAD "{\"object\":\"trace.span\",\"id\":\"" SID1 "\",\"trace_id\":\"" TID "\","
#define SPAN_TAIL                                                                                  \
    "\"started_at\":\"2025-06-01T12:34:56.789Z\",\"ended_at\":\"2025-06-01T12:34:57.001Z\","       \
    "\"span_data\":{\"type\":\"agent\",\"name\":\"A\"},\"error\":null}"
#define GOOD_SPAN SPAN_HEAD "\"parent_id\":null," SPAN_TAIL

static void test_decode_bad_input(void **state)
{
    (void)state;
    /* the reference line is good */
    tb__record rec;
    decode_ok(&rec, GOOD_SPAN);
    tb__record_clear(&rec);

    expect_bad("this is not json", "record");
    expect_bad("{\"object\":\"trace\",", "record");
    expect_bad("", "record");
    expect_bad(GOOD_SPAN " trailing", "record");
    expect_bad(GOOD_SPAN "{}", "record");
    expect_bad("[" GOOD_SPAN "]", "record");
    expect_bad("\"a string\"", "record");
    expect_bad("42", "record");

    /* object */
    expect_bad("{\"object\":\"span\",\"id\":\"" SID1 "\"}", "object");
    expect_bad("{\"id\":\"" TID "\"}", "object");
    expect_bad("{\"object\":7,\"id\":\"" TID "\"}", "object");

    /* id */
    expect_bad("{\"object\":\"trace\"}", "id");
    expect_bad("{\"object\":\"trace\",\"id\":null}", "id");
    expect_bad("{\"object\":\"trace\",\"id\":12}", "id");
    expect_bad("{\"object\":\"trace\",\"id\":\"\"}", "id");
    expect_bad("{\"object\":\"trace.span\",\"id\":\"\",\"trace_id\":\"" TID
               "\",\"span_data\":{\"type\":\"agent\"}}",
               "id");

    /* an id cut short at \u0000 (cJSON strings end at NUL) is refused */
    expect_bad("{\"object\":\"trace\",\"id\":\"trace_ab\\u0000cd\"}", "id: contains a NUL");
    expect_bad("{\"object\":\"trace.span\",\"id\":\"" SID1 "\",\"trace_id\":\"" TID
               "\\u0000x\",\"span_data\":{\"type\":\"agent\"}}",
               "trace_id: contains a NUL");
    expect_bad(SPAN_HEAD "\"parent_id\":\"span_1\\u0000\"," SPAN_TAIL, "parent_id: contains a NUL");
    /* ... but a NUL in other text is fine */
    {
        tb__record ok;
        decode_ok(&ok,
                  "{\"object\":\"trace\",\"id\":\"trace_nul\",\"workflow_name\":\"a\\u0000b\"}");
        assert_string_equal(ok.id, "trace_nul");
        tb__record_clear(&ok);
    }
    /* a key twice: cJSON reads the first, Python and JavaScript the last */
    expect_bad("{\"object\":\"trace\",\"id\":\"trace_a\",\"id\":\"trace_b\"}",
               "id: the key appears twice");
    expect_bad(SPAN_HEAD "\"span_data\":{\"type\":\"agent\",\"type\":\"function\"}}",
               "type: the key appears twice");

    /* trace_id */
    expect_bad("{\"object\":\"trace.span\",\"id\":\"" SID1 "\","
               "\"span_data\":{\"type\":\"agent\"}}",
               "trace_id");
    expect_bad("{\"object\":\"trace.span\",\"id\":\"" SID1 "\",\"trace_id\":\"\","
               "\"span_data\":{\"type\":\"agent\"}}",
               "trace_id");

    /* parent_id */
    expect_bad(SPAN_HEAD "\"parent_id\":\"\"," SPAN_TAIL, "parent_id");
    expect_bad(SPAN_HEAD "\"parent_id\":5," SPAN_TAIL, "parent_id");

    /* span_data */
    expect_bad(SPAN_HEAD "\"span_data\":\"agent\"}", "span_data");
    expect_bad(SPAN_HEAD "\"span_data\":null}", "span_data");
    expect_bad(SPAN_HEAD "\"started_at\":null}", "span_data");
    expect_bad(SPAN_HEAD "\"span_data\":{\"name\":\"A\"}}", "span_data.type");
    expect_bad(SPAN_HEAD "\"span_data\":{\"type\":7}}", "span_data.type");
    expect_bad(SPAN_HEAD "\"span_data\":{\"type\":\"\"}}", "span_data.type");

    /* timestamps */
    expect_bad(SPAN_HEAD "\"started_at\":\"yesterday\",\"span_data\":{\"type\":\"agent\"}}",
               "started_at");
    expect_bad(SPAN_HEAD "\"started_at\":\"2025-13-01T00:00:00Z\",\"span_data\":{\"type\":"
                         "\"agent\"}}",
               "started_at");
    expect_bad(SPAN_HEAD "\"started_at\":1748781296,\"span_data\":{\"type\":\"agent\"}}",
               "started_at");
    expect_bad(SPAN_HEAD "\"ended_at\":\"2025-06-01T12:34:56.789Zjunk\",\"span_data\":{\"type\":"
                         "\"agent\"}}",
               "ended_at");
    expect_bad(SPAN_HEAD "\"ended_at\":\"2025-06-01 25:00:00\",\"span_data\":{\"type\":"
                         "\"agent\"}}",
               "ended_at");

    /* error */
    expect_bad(SPAN_HEAD "\"span_data\":{\"type\":\"agent\"},\"error\":{\"data\":{}}}", "error");
    expect_bad(SPAN_HEAD "\"span_data\":{\"type\":\"agent\"},\"error\":\"boom\"}", "error");
    expect_bad(SPAN_HEAD "\"span_data\":{\"type\":\"agent\"},\"error\":{\"message\":3}}", "error");

    /* metadata */
    expect_bad(SPAN_HEAD "\"span_data\":{\"type\":\"agent\"},\"metadata\":[1]}", "metadata");
    expect_bad("{\"object\":\"trace\",\"id\":\"" TID "\",\"metadata\":\"x\"}", "metadata");
    expect_bad("{\"object\":\"trace\",\"id\":\"" TID "\",\"workflow_name\":5}", "workflow_name");
    expect_bad("{\"object\":\"trace\",\"id\":\"" TID "\",\"group_id\":{}}", "group_id");

    /* bytes: invalid UTF-8, overlong encodings, surrogates, a NUL */
    expect_bad(SPAN_HEAD "\"span_data\":{\"type\":\"agent\",\"name\":\"\xff\"}}", "record");
    expect_bad(SPAN_HEAD "\"span_data\":{\"type\":\"agent\",\"name\":\"\xc3\"}}", "record");
    expect_bad(SPAN_HEAD "\"span_data\":{\"type\":\"agent\",\"name\":\"\xc0\xaf\"}}", "record");
    expect_bad(SPAN_HEAD "\"span_data\":{\"type\":\"agent\",\"name\":\"\xe0\x80\xaf\"}}", "record");
    expect_bad(SPAN_HEAD "\"span_data\":{\"type\":\"agent\",\"name\":\"\xed\xa0\x80\"}}", "record");
    expect_bad(SPAN_HEAD "\"span_data\":{\"type\":\"agent\",\"name\":\"\xf4\x90\x80\x80\"}}",
               "record");
    {
        tb__record r2;
        char err[256];
        const char *utf = SPAN_HEAD "\"span_data\":{\"type\":\"agent\",\"name\":\"\xff\"}}";
        assert_int_equal(tb__record_decode(&r2, utf, strlen(utf), err, sizeof err), TB_BAD_RECORD);
        assert_non_null(strstr(err, "UTF-8"));
    }
    {
        static const char nul[] = "{\"object\":\"trace\",\"id\":\"" TID "\",\"workflow_name\":"
                                  "\"a\0b\"}";
        expect_bad_len(nul, sizeof nul - 1, "record");
        tb__record r2;
        char err[256];
        assert_int_equal(tb__record_decode(&r2, nul, sizeof nul - 1, err, sizeof err),
                         TB_BAD_RECORD);
        assert_non_null(strstr(err, "NUL"));
        /* a NUL after the object is not "trailing whitespace" either */
        static const char nul2[] = "{\"object\":\"trace\",\"id\":\"" TID "\"}\0";
        expect_bad_len(nul2, sizeof nul2 - 1, "record");
    }
    /* valid 4-byte UTF-8 (emoji) and escaped non-ASCII are fine */
    decode_ok(&rec, SPAN_HEAD "\"span_data\":{\"type\":\"agent\",\"name\":\"\xf0\x9f\x98\x80 "
                              "\\u00e9\"}}");
    assert_string_equal(rec.name, "\xf0\x9f\x98\x80 \xc3\xa9");
    tb__record_clear(&rec);

    /* NULL input */
    char err[64];
    assert_int_equal(tb__record_decode(&rec, NULL, 0, err, sizeof err), TB_BAD_RECORD);
    /* a tiny error buffer truncates, never overflows */
    char small[8];
    assert_int_equal(tb__record_decode(&rec, "[]", 2, small, sizeof small), TB_BAD_RECORD);
    assert_true(strlen(small) < sizeof small);
}

/* The scanner (json_scan.c) against what a tree parser reads: every text it
 * accepts cJSON parses to the same id; escaped keys count as their decoded
 * selves; what JSON forbids is refused wherever it sits, not only in the
 * members the codec reads. */
static void test_scanner_edges(void **state)
{
    (void)state;
    static const char *const good[] = {
        /* escaped keys, escaped values, surrogate pairs, every escape */
        "{\"\\u006fbject\":\"trace\",\"i\\u0064\":\"trace_\\u00e9\\ud83d\\ude00\","
        "\"workflow_name\":\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"}",
        /* numbers as the RFC writes them, nested values, blanks everywhere */
        " {\r\n\t\"object\" : \"trace\" , \"id\" : \"trace_n\" , \"metadata\" : {\"a\":[0,-0,1.5,"
        "-2e10,3E+2,4e-3,true,false,null,{},[],[[{}]]],\"b\":{\"c\":\"\"}}} \n",
        /* the same key twice in an object the codec does not check is fine */
        "{\"object\":\"trace\",\"id\":\"trace_m\",\"metadata\":{\"k\":1,\"k\":2}}",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        tb__record rec;
        decode_ok(&rec, good[i]);
        cJSON *doc = cJSON_Parse(good[i]);
        assert_non_null(doc);
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(doc, "id")->valuestring, rec.id);
        cJSON_Delete(doc);
        tb__record_clear(&rec);
    }
    tb__record rec;
    decode_ok(&rec, good[0]);
    assert_string_equal(rec.id, "trace_\xc3\xa9\xf0\x9f\x98\x80");
    assert_string_equal(rec.name, "a\"b\\c/d\b\f\n\r\t");
    tb__record_clear(&rec);

    /* JSON's rules hold in members nobody reads, too */
#define T "{\"object\":\"trace\",\"id\":\"trace_x\",\"metadata\":{\"v\":"
    expect_bad(T "\"\\ud800\"}}", "record: not valid JSON");        /* lone high surrogate */
    expect_bad(T "\"\\udc00\"}}", "record: not valid JSON");        /* lone low surrogate */
    expect_bad(T "\"\\ud800\\u0041\"}}", "record: not valid JSON"); /* not a pair */
    expect_bad(T "\"\\x41\"}}", "record: not valid JSON");          /* unknown escape */
    expect_bad(T "\"\\u12\"}}", "record: not valid JSON");          /* short \u */
    expect_bad(T "\"a\tb\"}}", "record: not valid JSON");           /* raw control character */
    expect_bad(T "01}}", "record: not valid JSON");
    expect_bad(T "1.}}", "record: not valid JSON");
    expect_bad(T ".5}}", "record: not valid JSON");
    expect_bad(T "+1}}", "record: not valid JSON");
    expect_bad(T "-}}", "record: not valid JSON");
    expect_bad(T "1e}}", "record: not valid JSON");
    expect_bad(T "NaN}}", "record: not valid JSON");
    expect_bad(T "tru}}", "record: not valid JSON");
    expect_bad(T "[1,]}}", "record: not valid JSON");
    expect_bad(T "{\"a\":1,}}}", "record: not valid JSON");
    expect_bad(T "{\"a\" 1}}}", "record: not valid JSON");
    expect_bad(T "[1 2]}}", "record: not valid JSON");
    expect_bad(T "\"open}}", "record: not valid JSON");
#undef T
    /* what ends a run of plain bytes is found at every offset from the
     * start of the string (the scanner reads sixteen or eight bytes at a
     * time); the runs are of 'a', of DEL (0x7f: plain, however close to
     * the control characters) and of "é" (bytes above 0x7f are plain too);
     * decode_ok and expect_bad give the scanner a block of exactly the
     * text's length, so a read past its end fails under ASan */
    for (int k = 0; k < 3 * 40; k++) {
        char pad[64], text[256], want[96];
        int len = k % 40;
        if (k < 40) {
            memset(pad, 'a', (size_t)len);
        } else if (k < 80) {
            memset(pad, 0x7f, (size_t)len);
        } else {
            /* "é" pairs, after one 'a' when the run is odd */
            int j = 0;
            if (len & 1)
                pad[j++] = 'a';
            for (; j < len; j += 2)
                memcpy(pad + j, "\xc3\xa9", 2);
        }
        pad[len] = '\0';
        snprintf(
            text, sizeof text,
            "{\"object\":\"trace\",\"id\":\"trace_o\",\"workflow_name\":\"%s\\\"b\xc3\xa9\\\\\"}",
            pad);
        snprintf(want, sizeof want, "%s\"b\xc3\xa9\\", pad);
        decode_ok(&rec, text);
        assert_string_equal(rec.name, want);
        tb__record_clear(&rec);
        snprintf(text, sizeof text,
                 "{\"object\":\"trace\",\"id\":\"trace_o\",\"workflow_name\":\"%s\x01z\"}", pad);
        expect_bad(text, "record: not valid JSON");
        snprintf(text, sizeof text,
                 "{\"object\":\"trace\",\"id\":\"trace_o\",\"workflow_name\":\"%s\x1f\"}", pad);
        expect_bad(text, "record: not valid JSON");
        snprintf(text, sizeof text,
                 "{\"object\":\"trace\",\"id\":\"trace_o\",\"workflow_name\":\"%s \"}", pad);
        decode_ok(&rec, text);
        snprintf(want, sizeof want, "%s ", pad);
        assert_string_equal(rec.name, want);
        tb__record_clear(&rec);
        snprintf(text, sizeof text,
                 "{\"object\":\"trace\",\"id\":\"trace_o\",\"workflow_name\":\"%s", pad);
        expect_bad(text, "record: not valid JSON"); /* never closed */
    }
    /* a key with \u0000 in it is, to cJSON and every reader after us, the
     * key before the NUL: "id\u0000x" and "id" are the same key twice */
    expect_bad("{\"object\":\"trace.span\",\"id\\u0000x\":\"span_B\",\"id\":\"span_A\","
               "\"trace_id\":\"trace_A\",\"span_data\":{\"type\":\"function\"}}",
               "id: the key appears twice");
    expect_bad(SPAN_HEAD "\"span_data\":{\"type\\u0000\":\"evil\",\"type\":\"function\"}}",
               "type: the key appears twice");
    /* a key given twice under another spelling is still twice */
    expect_bad("{\"object\":\"trace\",\"id\":\"trace_a\",\"\\u0069d\":\"trace_b\"}",
               "id: the key appears twice");
    /* cJSON's nesting limit: 1000 levels are read, 1001 are not (the record
     * and metadata are two, arrays the rest) */
    for (int levels = 1000; levels <= 1001; levels++) {
        size_t n = 0;
        char *text = malloc(2 * (size_t)levels + 128);
        assert_non_null(text);
        n += (size_t)sprintf(text, "{\"object\":\"trace\",\"id\":\"trace_d\",\"metadata\":{\"a\":");
        for (int i = 0; i < levels - 2; i++)
            text[n++] = '[';
        for (int i = 0; i < levels - 2; i++)
            text[n++] = ']';
        text[n++] = '}';
        text[n++] = '}';
        text[n] = '\0';
        tb__record r2;
        char err[256];
        tb_status st = tb__record_decode(&r2, text, n, err, sizeof err);
        cJSON *doc = cJSON_ParseWithLength(text, n);
        if ((st == TB_OK) != (doc != NULL))
            fail_msg("%d levels: scanner %s, cJSON %s", levels, st == TB_OK ? "ok" : err,
                     doc ? "ok" : "refused");
        assert_int_equal(st, levels <= 1000 ? TB_OK : TB_BAD_RECORD);
        cJSON_Delete(doc);
        if (st == TB_OK)
            tb__record_clear(&r2);
        free(text);
    }
}

/* Deep nesting in members nobody reads costs about what cJSON's parse
 * costs in stack: 1000 levels decode on a thread with a 768 KiB stack
 * (the scanner kept a key list in every level's frame before: 1.2 KB a
 * level). */
static void *decode_deep(void *arg)
{
    const char *text = arg;
    tb__record rec;
    char err[256];
    tb_status st = tb__record_decode(&rec, text, strlen(text), err, sizeof err);
    if (st == TB_OK)
        tb__record_clear(&rec);
    return (void *)(intptr_t)st;
}

static void test_scanner_stack(void **state)
{
    (void)state;
    size_t levels = 1000, n = 0;
    char *text = malloc(8 * levels + 128);
    assert_non_null(text);
    n += (size_t)sprintf(text, "{\"object\":\"trace\",\"id\":\"trace_deep\",\"metadata\":");
    for (size_t i = 0; i < levels - 1; i++)
        n += (size_t)sprintf(text + n, "{\"a\":");
    n += (size_t)sprintf(text + n, "1");
    for (size_t i = 0; i < levels - 1; i++)
        text[n++] = '}';
    text[n++] = '}';
    text[n] = '\0';
    pthread_attr_t attr;
    pthread_attr_init(&attr);
#ifdef __SANITIZE_THREAD__
    /* ThreadSanitizer's frames are several times larger: the size is
     * checked under the other builds */
    pthread_attr_setstacksize(&attr, (size_t)8 << 20);
#else
    pthread_attr_setstacksize(&attr, 768 * 1024);
#endif
    pthread_t th;
    assert_int_equal(pthread_create(&th, &attr, decode_deep, text), 0);
    void *ret = NULL;
    pthread_join(th, &ret);
    pthread_attr_destroy(&attr);
    assert_int_equal((tb_status)(intptr_t)ret, TB_OK);
    free(text);
}

static void test_parse_iso8601(void **state)
{
    (void)state;
    int64_t us = 0;
    assert_true(tb__parse_iso8601("1970-01-01T00:00:00Z", &us));
    assert_int_equal(us, 0);
    assert_true(tb__parse_iso8601("1970-01-01T01:00:00+01:00", &us));
    assert_int_equal(us, 0);
    assert_true(tb__parse_iso8601("2025-06-01T12:34:56.789012+00:00", &us));
    assert_int_equal(us, INT64_C(1748781296789012));
    char buf[40];
    tb__iso8601(INT64_C(1748781296789012), buf);
    assert_string_equal(buf, "2025-06-01T12:34:56.789012+00:00");
    assert_false(tb__parse_iso8601("2025-06-01", &us));
    assert_false(tb__parse_iso8601("2025-06-01T12:34:56.", &us));
    assert_false(tb__parse_iso8601("2025-06-01T12:34:56+0", &us));
    assert_false(tb__parse_iso8601(NULL, &us));
}

/* tb__iso8601 formats by hand; gmtime_r + snprintf is the reference, over
 * edges (epoch, leap days, century years, negative times) and random times
 * from year 0 to 9999 */
static void iso8601_reference(int64_t us, char buf[40])
{
    time_t secs = (time_t)(us / 1000000);
    long frac = (long)(us % 1000000);
    if (frac < 0) {
        frac += 1000000;
        secs -= 1;
    }
    struct tm tm;
    assert_non_null(gmtime_r(&secs, &tm));
    snprintf(buf, 40, "%04u-%02u-%02uT%02u:%02u:%02u.%06u+00:00",
             (unsigned)(tm.tm_year + 1900) % 10000u, (unsigned)(tm.tm_mon + 1) % 100u,
             (unsigned)tm.tm_mday % 100u, (unsigned)tm.tm_hour % 100u, (unsigned)tm.tm_min % 100u,
             (unsigned)tm.tm_sec % 100u, (unsigned)frac % 1000000u);
}

static void test_iso8601_against_gmtime(void **state)
{
    (void)state;
    static const int64_t edges[] = {0,
                                    -1,
                                    1,
                                    -1000000,
                                    -86400000000,
                                    INT64_C(951782400000000),    /* 2000-02-29 */
                                    INT64_C(951868799999999),    /* its last µs */
                                    INT64_C(4107542400000000),   /* 2100-03-01 */
                                    INT64_C(253402300799999999), /* 9999-12-31 */
                                    INT64_C(-62167219200000000), /* 0000-01-01 */
                                    INT64_C(1748781296789012)};
    char got[40], want[40];
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        tb__iso8601(edges[i], got);
        iso8601_reference(edges[i], want);
        assert_string_equal(got, want);
    }
    uint64_t x = 0x9E3779B97F4A7C15u;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int64_t span = INT64_C(253402300800000000) + INT64_C(62167219200000000);
        int64_t us = (int64_t)(x % (uint64_t)span) - INT64_C(62167219200000000);
        tb__iso8601(us, got);
        iso8601_reference(us, want);
        assert_string_equal(got, want);
    }
}

/* The printer writes fractions, -0, NaN and 1e300 as cJSON does, and
 * allocates nothing for them: inside a JSON pool (the OTLP encoder's) an
 * allocation per number is never given back, and a batch of float arrays
 * once filled the pool (a review found it). */
static void test_json_print_numbers(void **state)
{
    (void)state;
    tb__json_init();
    cJSON *arr = cJSON_CreateArray();
    assert_non_null(arr);
    for (int i = 0; i < 1000; i++)
        assert_true(cJSON_AddItemToArray(arr, cJSON_CreateNumber((i - 500) * 0.37 + 0.001)));
    cJSON_AddItemToArray(arr, cJSON_CreateNumber(-0.0));
    cJSON_AddItemToArray(arr, cJSON_CreateNumber(1e300));
    cJSON_AddItemToArray(arr, cJSON_CreateNumber(0.30000000000000004));
    cJSON_AddItemToArray(arr, cJSON_CreateNumber(2147483647.0));
    cJSON_AddItemToArray(arr, cJSON_CreateNumber(-2147483648.0));
    char *want = cJSON_PrintUnformatted(arr);
    assert_non_null(want);
    tb__buf b = {0};
    assert_non_null(tb__buf_reserve(&b, strlen(want) + 1));
    tb__alloc_fail_after(-1); /* from here, count the allocations */
    tb__json_write(&b, arr);
    long allocs = tb__alloc_fail_after(-1);
    assert_false(b.failed);
    assert_string_equal(b.data, want);
    assert_int_equal(allocs, 0);
    tb__buf_free(&b);
    cJSON_free(want);
    cJSON_Delete(arr);
}

/* ---- misuse ------------------------------------------------------------- */

static void test_end_twice_and_after_trace_end(void **state)
{
    (void)state;
    tb_trace *t = NULL;
    tb_span *s = NULL, *late = (tb_span *)&t;
    assert_int_equal(tb_trace_start(&t, "w", NULL), TB_OK);
    assert_int_equal(tb_span_start_agent(&s, t, NULL, "A"), TB_OK);
    assert_int_equal(tb_span_end(s), TB_OK);
    assert_int_equal(tb_span_end(s), TB_MISUSE);
    assert_non_null(strstr(tb_last_error(), tb_span_id(s)));
    /* an ended span no longer changes */
    assert_int_equal(tb_span_set_string(s, "name", "B"), TB_MISUSE);
    assert_int_equal(tb_span_set_usage(s, 1, 2), TB_MISUSE);
    assert_int_equal(tb_span_set_error(s, "x", NULL), TB_MISUSE);
    assert_int_equal(tb_span_set_metadata(s, "{}"), TB_MISUSE);

    assert_int_equal(tb_trace_end(t), TB_OK);
    assert_int_equal(tb_trace_end(t), TB_MISUSE);
    assert_int_equal(tb_span_start_agent(&late, t, NULL, "late"), TB_MISUSE);
    assert_null(late);
    late = (tb_span *)&t;
    assert_int_equal(tb_span_start(&late, t, NULL, "custom", NULL), TB_MISUSE);
    assert_null(late);
    tb_span_free(s);
    tb_trace_free(t);
}

static void test_null_arguments(void **state)
{
    (void)state;
    tb_trace *t = NULL;
    tb_span *s = NULL;
    char *json = (char *)"x";

    assert_int_equal(tb_trace_start(NULL, "w", NULL), TB_INVALID);
    assert_int_equal(tb_trace_end(NULL), TB_INVALID);
    assert_int_equal(tb_trace_export_json(NULL, &json), TB_INVALID);
    assert_null(json);
    tb_trace_free(NULL);
    assert_null(tb_trace_id(NULL));

    assert_int_equal(tb_span_start(&s, NULL, NULL, "agent", NULL), TB_INVALID);
    assert_null(s);
    assert_int_equal(tb_span_start_agent(&s, NULL, NULL, "A"), TB_INVALID);
    assert_null(s);
    assert_int_equal(tb_span_start_function(&s, NULL, NULL, NULL, NULL), TB_INVALID);
    assert_int_equal(tb_span_start_generation(&s, NULL, NULL, NULL, NULL), TB_INVALID);
    assert_int_equal(tb_span_start_response(&s, NULL, NULL, NULL), TB_INVALID);
    assert_int_equal(tb_span_set_response(NULL, "{}", NULL), TB_INVALID);
    assert_int_equal(tb_span_start_handoff(&s, NULL, NULL, NULL, NULL), TB_INVALID);
    assert_int_equal(tb_span_start_guardrail(&s, NULL, NULL, NULL, 0), TB_INVALID);
    assert_int_equal(tb_span_start_custom(&s, NULL, NULL, NULL, NULL), TB_INVALID);
    assert_int_equal(tb_span_start_mcp_tools(&s, NULL, NULL, NULL), TB_INVALID);
    assert_int_equal(tb_span_start_transcription(&s, NULL, NULL, NULL), TB_INVALID);
    assert_int_equal(tb_span_start_speech(&s, NULL, NULL, NULL, NULL), TB_INVALID);
    assert_int_equal(tb_span_start_speech_group(&s, NULL, NULL, NULL), TB_INVALID);
    assert_int_equal(tb_span_start_task(&s, NULL, NULL, NULL), TB_INVALID);
    assert_int_equal(tb_span_start_turn(&s, NULL, NULL, 1, NULL), TB_INVALID);
    assert_null(s);
    assert_int_equal(tb_span_end(NULL), TB_INVALID);
    assert_int_equal(tb_span_export_json(NULL, &json), TB_INVALID);
    assert_int_equal(tb_span_set_data(NULL, "k", "1"), TB_INVALID);
    assert_int_equal(tb_span_set_string(NULL, "k", "v"), TB_INVALID);
    assert_int_equal(tb_span_set_usage(NULL, 1, 1), TB_INVALID);
    assert_int_equal(tb_span_set_metadata(NULL, "{}"), TB_INVALID);
    assert_int_equal(tb_span_set_error(NULL, "m", NULL), TB_INVALID);
    tb_span_free(NULL);
    assert_null(tb_span_id(NULL));
    assert_null(tb_span_trace_id(NULL));
    assert_null(tb_span_parent_id(NULL));
    assert_null(tb_span_type(NULL));
    assert_int_equal(tb_add_trace_processor(NULL), TB_INVALID);
    assert_int_equal(tb_set_trace_processors(NULL, 2), TB_INVALID);

    /* with real objects: NULL out-params, bad keys and JSON */
    assert_int_equal(tb_trace_start(&t, "w", NULL), TB_OK);
    assert_int_equal(tb_span_start(NULL, t, NULL, "agent", NULL), TB_INVALID);
    assert_int_equal(tb_span_start_agent(NULL, t, NULL, "A"), TB_INVALID);
    assert_int_equal(tb_span_start(&s, t, NULL, NULL, NULL), TB_INVALID);
    assert_int_equal(tb_span_start(&s, t, NULL, "", NULL), TB_INVALID);
    assert_int_equal(tb_span_start(&s, t, NULL, "agent", "not json"), TB_INVALID);
    assert_null(s);
    assert_int_equal(tb_span_start(&s, t, NULL, "agent", "[1]"), TB_INVALID);
    assert_int_equal(tb_span_start_generation(&s, t, NULL, "m", "{bad"), TB_INVALID);
    assert_null(s);
    assert_int_equal(tb_span_start_custom(&s, t, NULL, "c", "[1]"), TB_INVALID);
    assert_null(s);
    assert_int_equal(tb_trace_export_json(t, NULL), TB_INVALID);
    assert_int_equal(tb_span_start_agent(&s, t, NULL, "A"), TB_OK);
    assert_int_equal(tb_span_export_json(s, NULL), TB_INVALID);
    assert_int_equal(tb_span_set_data(s, NULL, "1"), TB_INVALID);
    assert_int_equal(tb_span_set_data(s, "type", "\"x\""), TB_INVALID);
    assert_int_equal(tb_span_set_string(s, "type", "x"), TB_INVALID);
    assert_int_equal(tb_span_set_data(s, "k", "{oops"), TB_INVALID);
    assert_int_equal(tb_span_set_string(s, "k", "\xff"), TB_INVALID);
    assert_int_equal(tb_span_set_error(s, NULL, NULL), TB_INVALID);
    assert_int_equal(tb_span_set_error(s, "m", "{oops"), TB_INVALID);
    assert_int_equal(tb_span_set_metadata(s, "[]"), TB_INVALID);
    assert_string_equal(tb_span_type(s), "agent");

    /* a parent from another trace */
    tb_trace *other = NULL;
    tb_span *child = (tb_span *)&t;
    assert_int_equal(tb_trace_start(&other, "other", NULL), TB_OK);
    assert_int_equal(tb_span_start_agent(&child, other, s, "x"), TB_INVALID);
    assert_null(child);

    /* the span still exports fine after all the refusals */
    assert_int_equal(tb_span_end(s), TB_OK);
    cJSON *o = check_span(s, t, NULL, "agent", "A", NULL);
    cJSON_Delete(o);
    tb_span_free(s);
    tb_trace_end(t);
    tb_trace_free(t);
    tb_trace_end(other);
    tb_trace_free(other);
}

static void test_tracing_disabled(void **state)
{
    (void)state;
    tb_processor p = {0};
    p.version = TB_PROCESSOR_VERSION;
    p.on_trace_start = count_trace;
    p.on_trace_end = count_trace;
    p.on_span_start = count_span;
    p.on_span_end = count_span;
    assert_int_equal(tb_set_trace_processors(&p, 1), TB_OK);
    g_calls = 0;

    tb_set_tracing_disabled(1);
    assert_true(tb_tracing_disabled());
    tb_trace *t = NULL;
    tb_span *s = NULL, *g = NULL;
    assert_int_equal(tb_trace_start(&t, "off", NULL), TB_OK);
    assert_non_null(t);
    assert_string_equal(tb_trace_id(t), "no-op");
    assert_int_equal(tb_span_start_agent(&s, t, NULL, "A"), TB_OK);
    assert_non_null(s);
    assert_string_equal(tb_span_id(s), "no-op");
    assert_int_equal(tb_span_start_generation(&g, t, s, "m", NULL), TB_OK);
    assert_string_equal(tb_span_id(g), "no-op");
    assert_int_equal(tb_span_set_usage(g, 1, 2), TB_OK);
    assert_int_equal(tb_span_end(g), TB_OK);
    assert_int_equal(tb_span_end(s), TB_OK);
    char *json = NULL;
    assert_int_not_equal(tb_span_export_json(s, &json), TB_OK);
    assert_null(json);
    assert_int_not_equal(tb_trace_export_json(t, &json), TB_OK);
    assert_null(json);
    assert_int_equal(tb_trace_end(t), TB_OK);
    assert_int_equal(g_calls, 0);
    tb_span_free(g);
    tb_span_free(s);
    tb_trace_free(t);

    /* a trace started while enabled, spans started after disabling: no-op too */
    tb_set_tracing_disabled(0);
    assert_false(tb_tracing_disabled());
    assert_int_equal(tb_trace_start(&t, "on", NULL), TB_OK);
    assert_int_equal(g_calls, 1);
    tb_set_tracing_disabled(1);
    assert_int_equal(tb_span_start_agent(&s, t, NULL, "A"), TB_OK);
    assert_string_equal(tb_span_id(s), "no-op");
    assert_int_equal(tb_span_end(s), TB_OK);
    assert_int_equal(g_calls, 1);
    tb_span_free(s);
    tb_set_tracing_disabled(0);

    /* back on: processors see everything again */
    assert_int_equal(tb_span_start_agent(&s, t, NULL, "B"), TB_OK);
    assert_true(is_hex_id(tb_span_id(s), "span_", 24));
    assert_int_equal(tb_span_end(s), TB_OK);
    assert_int_equal(tb_trace_end(t), TB_OK);
    assert_int_equal(g_calls, 4);
    tb_span_free(s);
    tb_trace_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_trace_export, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_span_type, setup, teardown),
        cmocka_unit_test_setup_teardown(test_span_not_ended_exports_null_end, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decode_python_style, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decode_js_style, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decode_unknown_type_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decode_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scanner_edges, setup, teardown),
        cmocka_unit_test(test_scanner_stack),
        cmocka_unit_test_setup_teardown(test_parse_iso8601, setup, teardown),
        cmocka_unit_test(test_iso8601_against_gmtime),
        cmocka_unit_test(test_json_print_numbers),
        cmocka_unit_test_setup_teardown(test_end_twice_and_after_trace_end, setup, teardown),
        cmocka_unit_test_setup_teardown(test_null_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tracing_disabled, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
