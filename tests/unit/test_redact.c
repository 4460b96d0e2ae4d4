/*
 * test_redact.c — `redact = io`, outbox-wide and per destination: prompts,
 * completions, tool arguments/results and audio never reach the file (or
 * the destination), while ids, names, models and usage are kept.
 */
#include "fixture.h"
#include "redact.h"

#define SECRET_PROMPT "my card is 4242-SECRET-PROMPT"
#define SECRET_ARGS "{\\\"ssn\\\":\\\"SECRET-ARGS\\\"}"

static const char *gen_json =
    "{\"object\":\"trace.span\",\"id\":\"span_aaaaaaaaaaaaaaaaaaaaaaa1\",\"trace_id\":"
    "\"trace_0123456789abcdef0123456789abcdef\",\"parent_id\":null,\"started_at\":"
    "\"2026-01-01T00:00:00.000001+00:00\",\"ended_at\":\"2026-01-01T00:00:01.000001+00:00\","
    "\"span_data\":{\"type\":\"generation\",\"input\":[{\"role\":\"user\",\"content\":"
    "\"" SECRET_PROMPT
    "\"}],\"output\":[{\"role\":\"assistant\",\"content\":\"SECRET-COMPLETION\"}],\"model\":"
    "\"gpt-4.1\",\"usage\":{\"input_tokens\":10,\"output_tokens\":5}},\"error\":null}";

static const char *fn_json =
    "{\"object\":\"trace.span\",\"id\":\"span_aaaaaaaaaaaaaaaaaaaaaaa2\",\"trace_id\":"
    "\"trace_0123456789abcdef0123456789abcdef\",\"parent_id\":\"span_aaaaaaaaaaaaaaaaaaaaaaa1\","
    "\"started_at\":\"2026-01-01T00:00:00.000001+00:00\",\"ended_at\":"
    "\"2026-01-01T00:00:01.000001+00:00\",\"span_data\":{\"type\":\"function\",\"name\":"
    "\"lookup\",\"input\":\"" SECRET_ARGS "\",\"output\":\"SECRET-RESULT\",\"mcp_data\":null},"
    "\"error\":null}";

static const char *agent_json =
    "{\"object\":\"trace.span\",\"id\":\"span_aaaaaaaaaaaaaaaaaaaaaaa3\",\"trace_id\":"
    "\"trace_0123456789abcdef0123456789abcdef\",\"parent_id\":null,\"started_at\":"
    "\"2026-01-01T00:00:00.000001+00:00\",\"ended_at\":\"2026-01-01T00:00:01.000001+00:00\","
    "\"span_data\":{\"type\":\"agent\",\"name\":\"Triage\",\"handoffs\":null,\"tools\":null,"
    "\"output_type\":null},\"error\":null}";

static void test_redact_record(void **state)
{
    (void)state;
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(tb__redact_record(gen_json, strlen(gen_json), &out, &len), 1);
    assert_null(strstr(out, "SECRET"));
    cJSON *o = cJSON_Parse(out);
    cJSON *d = cJSON_GetObjectItem(o, "span_data");
    assert_string_equal(cJSON_GetObjectItem(d, "input")->valuestring, TB__REDACTED);
    assert_string_equal(cJSON_GetObjectItem(d, "output")->valuestring, TB__REDACTED);
    assert_string_equal(cJSON_GetObjectItem(d, "model")->valuestring, "gpt-4.1");
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(d, "usage"), "input_tokens")->valueint,
                     10);
    assert_string_equal(cJSON_GetObjectItem(o, "id")->valuestring, "span_aaaaaaaaaaaaaaaaaaaaaaa1");
    cJSON_Delete(o);
    tb__free_mem(out);

    assert_int_equal(tb__redact_record(fn_json, strlen(fn_json), &out, &len), 1);
    assert_null(strstr(out, "SECRET"));
    assert_non_null(strstr(out, "\"name\":\"lookup\""));
    tb__free_mem(out);

    /* a response span: its captured input and the content of its captured
     * response go; model, usage and parameters stay */
    const char *resp =
        "{\"object\":\"trace.span\",\"id\":\"span_r\",\"trace_id\":\"trace_x\",\"span_data\":"
        "{\"type\":\"response\",\"response_id\":\"resp_1\",\"input\":[{\"role\":\"user\","
        "\"content\":\"SECRET-INPUT\"}],\"response\":{\"id\":\"resp_1\",\"model\":\"gpt-4.1\","
        "\"instructions\":\"SECRET-SYSTEM\",\"temperature\":0.5,\"output_text\":\"SECRET-OUT\","
        "\"output\":[{\"type\":\"message\",\"content\":[{\"type\":\"output_text\",\"text\":"
        "\"SECRET-OUT\"}]}],\"usage\":{\"input_tokens\":3,\"output_tokens\":4}}}}";
    assert_int_equal(tb__redact_record(resp, strlen(resp), &out, &len), 1);
    assert_null(strstr(out, "SECRET"));
    o = cJSON_Parse(out);
    cJSON *r = cJSON_GetObjectItem(cJSON_GetObjectItem(o, "span_data"), "response");
    assert_string_equal(cJSON_GetObjectItem(r, "model")->valuestring, "gpt-4.1");
    assert_int_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(r, "usage"), "output_tokens")->valueint, 4);
    assert_non_null(cJSON_GetObjectItem(r, "temperature"));
    assert_string_equal(cJSON_GetObjectItem(r, "output")->valuestring, TB__REDACTED);
    cJSON_Delete(o);
    tb__free_mem(out);

    /* nothing to redact: unchanged, no copy */
    assert_int_equal(tb__redact_record(agent_json, strlen(agent_json), &out, &len), 0);
    assert_null(out);
    const char *trace = "{\"object\":\"trace\",\"id\":\"trace_0123456789abcdef0123456789abcdef\","
                        "\"workflow_name\":\"w\",\"group_id\":null,\"metadata\":null}";
    assert_int_equal(tb__redact_record(trace, strlen(trace), &out, &len), 0);
    /* a generation whose input/output are null has nothing to hide */
    const char *empty = "{\"object\":\"trace.span\",\"span_data\":{\"type\":\"generation\","
                        "\"input\":null,\"output\":null}}";
    assert_int_equal(tb__redact_record(empty, strlen(empty), &out, &len), 0);
    assert_int_equal(tb__redact_record("{\"span_data\":", 13, &out, &len), -1);
}

static void test_outbox_redact(void **state)
{
    const char *db = ((st_fx *)*state)->db;
    tb_outbox_options o = TB_OUTBOX_OPTIONS_INIT;
    o.redact = 1;
    tb_outbox *ob = NULL;
    assert_int_equal(tb_outbox_open(&ob, db, &o), TB_OK);
    assert_int_equal(tb_outbox_put_json(ob, gen_json, (size_t)-1, NULL), TB_OK);
    assert_int_equal(tb_outbox_put_json(ob, fn_json, (size_t)-1, NULL), TB_OK);
    assert_int_equal(tb_outbox_put_json(ob, agent_json, (size_t)-1, NULL), TB_OK);
    /* through the tracing API too */
    tb_processor p;
    tb_outbox_processor(ob, &p);
    tb_set_trace_processors(&p, 1);
    tb_trace *t = NULL;
    tb_span *g = NULL;
    assert_int_equal(tb_trace_start(&t, "w", NULL), TB_OK);
    assert_int_equal(tb_span_start_generation(&g, t, NULL, "gpt-4.1",
                                              "[{\"role\":\"user\",\"content\":\"SECRET-API\"}]"),
                     TB_OK);
    assert_int_equal(tb_span_end(g), TB_OK);
    tb_span_free(g);
    tb_trace_end(t);
    tb_trace_free(t);
    tb_set_trace_processors(NULL, 0);
    tb_outbox_close(ob);

    assert_int_equal(st_db_int(db, "SELECT count(*) FROM records"), 5);
    assert_int_equal(st_db_int(db, "SELECT count(*) FROM records WHERE body LIKE '%%SECRET%%'"), 0);
    assert_int_equal(st_db_int(db, "SELECT count(*) FROM records WHERE body ->> "
                                   "'$.span_data.input' = '[redacted]'"),
                     3);
    char wal[700];
    snprintf(wal, sizeof wal, "%s-wal", db);
    assert_false(st_file_has(db, "SECRET"));
    assert_false(st_file_has(wal, "SECRET"));
}

static void test_destination_redact(void **state)
{
    const char *db = ((st_fx *)*state)->db, *dir = ((st_fx *)*state)->dir;
    char ini[2000], red[700], full[700];
    snprintf(red, sizeof red, "%s/redacted.jsonl", dir);
    snprintf(full, sizeof full, "%s/full.jsonl", dir);
    tb_outbox *ob = NULL;
    assert_int_equal(tb_outbox_open(&ob, db, NULL), TB_OK);
    assert_int_equal(tb_outbox_put_json(ob, gen_json, (size_t)-1, NULL), TB_OK);
    assert_int_equal(tb_outbox_put_json(ob, fn_json, (size_t)-1, NULL), TB_OK);
    tb_outbox_close(ob);
    snprintf(ini, sizeof ini,
             "[vendor]\ntype = file\npath = %s\nredact = io\n[archive]\ntype = file\npath = %s\n",
             red, full);
    tb_config *cfg = NULL;
    assert_int_equal(tb_config_parse(&cfg, ini, "test.ini"), TB_OK);
    tb_ship_report r;
    assert_int_equal(tb_ship_once(db, cfg, NULL, &r), TB_OK);
    assert_int_equal(r.pending, 0);
    assert_int_equal(r.delivered, 4);
    assert_false(st_file_has(red, "SECRET"));
    assert_true(st_file_has(red, "[redacted]"));
    assert_true(st_file_has(red, "gpt-4.1"));
    assert_true(st_file_has(full, SECRET_PROMPT)); /* the other destination gets it all */
    assert_true(st_file_has(db, SECRET_PROMPT) ||
                st_file_has(db, "SECRET")); /* outbox unredacted */
    tb_config_free(cfg);

    /* a bad value is a config error naming the line */
    assert_int_equal(tb_config_parse(&cfg, "[v]\ntype = file\npath = x\nredact = some\n", "t.ini"),
                     TB_CONFIG);
    assert_non_null(strstr(tb_last_error(), "t.ini:4"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redact_record),
        ST_FX_OFFLINE_TEST(test_outbox_redact),
        ST_FX_OFFLINE_TEST(test_destination_redact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
