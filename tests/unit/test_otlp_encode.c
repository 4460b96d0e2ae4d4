/*
 * test_otlp_encode.c — src/otlp (encode.c + conventions.c): SDK records →
 * OTLP ExportTraceServiceRequest.
 *
 * One fixed batch covers every SDK span type (task and turn as the SDK
 * exports them, as custom spans), an error span, unicode, a span whose
 * trace record is not in the batch, non-hex ids and a 200 KB generation.
 * It is encoded as protobuf and decoded back with the protobuf-c code
 * generated from src/otlp/trace.proto, and encoded as OTLP/JSON and read
 * back with cJSON; both are checked for the same shape: one OTLP span per
 * SDK span, trace ids, parent links, times, kinds, status and the exception
 * event, and the attributes each convention gives each type. Then: the
 * conventions switched on and off, invalid UTF-8, undecodable records, the
 * trace cache, the response parser, and every allocation failing in turn.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "otlp/encode.h"
#include "otlp/pack.h"
#include "trace.pb-c.h"

#define T1 "trace_0123456789abcdef0123456789abcdef"
#define T2 "trace_fedcba9876543210fedcba9876543210"
#define T1_HEX "0123456789abcdef0123456789abcdef"
#define T2_HEX "fedcba9876543210fedcba9876543210"
#define START "2025-06-01T12:00:00.000001+00:00"
#define END "2025-06-01T12:00:02.500000+00:00"
#define START_NS "1748779200000001000"
#define END_NS "1748779202500000000"
#define START_NS_U UINT64_C(1748779200000001000)
#define END_NS_U UINT64_C(1748779202500000000)

/* sid: 24 hex digits of the SDK span id */
#define SPAN(sid, trace, parent, data)                                                             \
    "{\"object\":\"trace.span\",\"id\":\"span_" sid "\",\"trace_id\":\"" trace                     \
    "\",\"parent_id\":" parent ",\"started_at\":\"" START "\",\"ended_at\":\"" END                 \
    "\",\"span_data\":" data ",\"error\":null}"

#define ID_TASK "a00000000000000100000000"
#define ID_AGENT "a00000000000000200000000"
#define ID_TURN "a00000000000000300000000"
#define ID_GEN "a00000000000000400000000"
#define ID_RESP "a00000000000000500000000"
#define ID_FUNC "a00000000000000600000000"
#define ID_HANDOFF "a00000000000000700000000"
#define ID_GUARD "a00000000000000800000000"
#define ID_CUSTOM "a00000000000000900000000"
#define ID_MCP "a00000000000000a00000000"
#define ID_TRANS "a00000000000000b00000000"
#define ID_SPEECH "a00000000000000c00000000"
#define ID_SGROUP "a00000000000000d00000000"
#define ID_UNKNOWN "a00000000000000e00000000"
#define ID_BIG "b00000000000000100000000"
#define P(id) "\"span_" id "\""

static const char *k_trace1 =
    "{\"object\":\"trace\",\"id\":\"" T1 "\",\"workflow_name\":\"Support flow\","
    "\"group_id\":\"thread_42\",\"metadata\":{\"customer\":\"acme\",\"tier\":\"gold\"}}";

static const char *k_spans[] = {
    SPAN(ID_TASK, T1, "null",
         "{\"type\":\"custom\",\"name\":\"task\",\"data\":{\"sdk_span_type\":\"task\","
         "\"name\":\"Runner.run\"}}"),
    /* the agent span carries the Python SDK's top-level metadata */
    "{\"object\":\"trace.span\",\"id\":\"span_" ID_AGENT "\",\"trace_id\":\"" T1
    "\",\"parent_id\":" P(
        ID_TASK) ",\"started_at\":\"" START "\",\"ended_at\":\"" END
                 "\",\"span_data\":{\"type\":\"agent\",\"name\":\"Triage "
                 "agent\",\"handoffs\":[\"Billing "
                 "agent\"],\"tools\":[\"lookup\"],\"output_type\":\"str\"},\"error\":null,"
                 "\"metadata\":{\"usage\":{\"requests\":1}}}",
    SPAN(ID_TURN, T1, P(ID_AGENT),
         "{\"type\":\"custom\",\"name\":\"turn\",\"data\":{\"sdk_span_type\":\"turn\",\"turn\":1,"
         "\"agent_name\":\"Triage agent\"}}"),
    SPAN(ID_GEN, T1, P(ID_TURN),
         "{\"type\":\"generation\",\"model\":\"gpt-4o\",\"model_config\":{\"temperature\":0.2,"
         "\"max_tokens\":256,\"base_url\":\"https://api.openai.com/v1/\"},"
         "\"input\":[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\","
         "\"content\":\"h\\u00e9llo \\u2603 \\u65e5\\u672c \\ud83d\\ude00\"}],"
         "\"output\":[{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":"
         "\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"lookup\","
         "\"arguments\":\"{\\\"q\\\":1}\"}}]}],"
         "\"usage\":{\"input_tokens\":120,\"output_tokens\":30,\"total_tokens\":150,"
         "\"input_tokens_details\":{\"cached_tokens\":20},"
         "\"output_tokens_details\":{\"reasoning_tokens\":5}}}"),
    SPAN(ID_RESP, T1, P(ID_TURN),
         "{\"type\":\"response\",\"response_id\":\"resp_1\",\"usage\":{\"input_tokens\":10,"
         "\"output_tokens\":5}}"),
    /* a failing tool */
    "{\"object\":\"trace.span\",\"id\":\"span_" ID_FUNC "\",\"trace_id\":\"" T1
    "\",\"parent_id\":" P(ID_TURN) ",\"started_at\":\"" START "\",\"ended_at\":\"" END
                                   "\",\"span_data\":{\"type\":\"function\",\"name\":\"lookup\","
                                   "\"input\":\"{\\\"q\\\":1}\","
                                   "\"output\":\"found\",\"mcp_data\":null},\"error\":{\"message\":"
                                   "\"Error running tool\","
                                   "\"data\":{\"tool_name\":\"lookup\",\"error\":\"timeout\"}}}",
    SPAN(ID_HANDOFF, T1, P(ID_TURN),
         "{\"type\":\"handoff\",\"from_agent\":\"Triage agent\",\"to_agent\":\"Billing agent\"}"),
    SPAN(ID_GUARD, T1, P(ID_TURN),
         "{\"type\":\"guardrail\",\"name\":\"injection_check\",\"triggered\":true}"),
    SPAN(ID_CUSTOM, T1, P(ID_TURN),
         "{\"type\":\"custom\",\"name\":\"my_step\",\"data\":{\"k\":\"v\"}}"),
    SPAN(ID_MCP, T1, P(ID_AGENT),
         "{\"type\":\"mcp_tools\",\"server\":\"fs\",\"result\":[\"read\",\"write\"]}"),
    SPAN(ID_TRANS, T1, P(ID_AGENT),
         "{\"type\":\"transcription\",\"input\":{\"data\":\"QUFBQQ==\",\"format\":\"pcm\"},"
         "\"output\":\"hello\",\"model\":\"whisper-1\",\"model_config\":null}"),
    SPAN(ID_SPEECH, T1, P(ID_SGROUP),
         "{\"type\":\"speech\",\"input\":\"hi\",\"output\":{\"data\":\"QkJCQg==\",\"format\":"
         "\"pcm\"},\"model\":\"tts-1\",\"model_config\":null,\"first_content_at\":null}"),
    SPAN(ID_SGROUP, T1, P(ID_AGENT), "{\"type\":\"speech_group\",\"input\":\"hi\"}"),
    SPAN(ID_UNKNOWN, T1, P(ID_AGENT), "{\"type\":\"retrieval_x\",\"name\":\"search\"}"),
    /* a span of a trace whose record is not in the batch, JS-style times */
    "{\"object\":\"trace.span\",\"id\":\"span_c00000000000000100000000\",\"trace_id\":\"" T2
    "\",\"parent_id\":null,\"started_at\":\"2025-06-01T12:34:56.789Z\","
    "\"ended_at\":\"2025-06-01T12:34:57.001Z\",\"span_data\":{\"type\":\"agent\",\"name\":"
    "\"Other\"},\"error\":null}",
    /* ids that are not SDK-shaped: hashed */
    "{\"object\":\"trace.span\",\"id\":\"my-span\",\"trace_id\":\"my-trace\",\"parent_id\":"
    "\"my-parent\",\"started_at\":\"" START "\",\"ended_at\":\"" END "\",\"span_data\":"
    "{\"type\":\"custom\",\"name\":\"odd ids\",\"data\":{}},\"error\":null}",
};
#define N_SPANS (sizeof k_spans / sizeof k_spans[0])

/* ---- records ---------------------------------------------------------- */

typedef struct batch {
    tb_record rec[64];
    char *owned[64];
    size_t n;
} batch;

static void batch_add(batch *b, const char *json)
{
    assert_true(b->n < 64);
    char *copy = strdup(json);
    assert_non_null(copy);
    tb_record *r = &b->rec[b->n];
    memset(r, 0, sizeof *r);
    r->seq = (int64_t)b->n + 1;
    r->body = copy;
    r->body_len = strlen(copy);
    r->kind = strstr(json, "\"object\":\"trace\"") ? "trace" : "span";
    /* the columns the shipper fills: trace_id (the trace cache reads it) */
    cJSON *root = cJSON_Parse(json);
    const cJSON *tid =
        cJSON_GetObjectItemCaseSensitive(root, strcmp(r->kind, "trace") == 0 ? "id" : "trace_id");
    static char ids[64][64];
    if (cJSON_IsString(tid)) {
        snprintf(ids[b->n], sizeof ids[b->n], "%s", tid->valuestring);
        r->trace_id = ids[b->n];
    }
    cJSON_Delete(root);
    b->owned[b->n++] = copy;
}

static void batch_free(batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        free(b->owned[i]);
    b->n = 0;
}

static char *big_generation(size_t bytes)
{
    char *filler = malloc(bytes + 1);
    assert_non_null(filler);
    for (size_t i = 0; i < bytes; i++)
        filler[i] = (char)('a' + i % 26);
    filler[bytes] = '\0';
    size_t size = bytes + 1024;
    char *json = malloc(size);
    assert_non_null(json);
    snprintf(json, size,
             SPAN(ID_BIG, T1, P(ID_TURN),
                  "{\"type\":\"generation\",\"model\":\"gpt-4o-mini\",\"input\":[{\"role\":"
                  "\"user\",\"content\":\"%s\"}],\"output\":[],\"usage\":null}"),
             filler);
    free(filler);
    return json;
}

/* The fixture: trace 1, its spans (the trace record in the middle, to show
 * that a span may precede its trace in a batch), the 200 KB generation. */
static void full_batch(batch *b, bool big)
{
    memset(b, 0, sizeof *b);
    for (size_t i = 0; i < N_SPANS; i++) {
        if (i == 2)
            batch_add(b, k_trace1);
        batch_add(b, k_spans[i]);
    }
    if (big) {
        char *g = big_generation(200 * 1024);
        batch_add(b, g);
        free(g);
    }
}

static tb__otlp_options opts_for(unsigned conventions)
{
    tb__otlp_options o;
    memset(&o, 0, sizeof o);
    o.conventions = conventions;
    return o;
}

static void encode(const batch *b, tb__otlp_format fmt, const tb__otlp_options *o, tb__buf *out,
                   tb__otlp_stats *stats)
{
    memset(out, 0, sizeof *out);
    char err[256] = "";
    tb_status st = tb__otlp_encode(out, b->rec, b->n, fmt, o, NULL, stats, err, sizeof err);
    if (st != TB_OK)
        fail_msg("tb__otlp_encode: %d %s", (int)st, err);
    assert_non_null(out->data);
}

/* ---- the decoded protobuf --------------------------------------------- */

static Tbotlp__ExportTraceServiceRequest *decode(const tb__buf *b)
{
    Tbotlp__ExportTraceServiceRequest *req =
        tbotlp__export_trace_service_request__unpack(NULL, b->len, (const uint8_t *)b->data);
    assert_non_null(req);
    return req;
}

static const Tbotlp__AnyValue *attr_in(Tbotlp__KeyValue **kv, size_t n, const char *key)
{
    const Tbotlp__AnyValue *found = NULL;
    for (size_t i = 0; i < n; i++)
        if (strcmp(kv[i]->key, key) == 0) {
            if (found)
                fail_msg("attribute %s is there twice", key);
            found = kv[i]->value;
        }
    return found;
}

static const Tbotlp__AnyValue *attr(const Tbotlp__Span *s, const char *key)
{
    return attr_in(s->attributes, s->n_attributes, key);
}

static const char *attr_s(const Tbotlp__Span *s, const char *key)
{
    const Tbotlp__AnyValue *v = attr(s, key);
    if (!v)
        return NULL;
    if (v->value_case != TBOTLP__ANY_VALUE__VALUE_STRING_VALUE)
        fail_msg("attribute %s of %s is not a string", key, s->name);
    return v->string_value;
}

static void expect_s(const Tbotlp__Span *s, const char *key, const char *want)
{
    const char *got = attr_s(s, key);
    if (!got)
        fail_msg("span %s: no attribute %s (want \"%s\")", s->name, key, want);
    if (strcmp(got, want) != 0)
        fail_msg("span %s: %s = \"%.200s\", want \"%s\"", s->name, key, got, want);
}

static void expect_none(const Tbotlp__Span *s, const char *key)
{
    if (attr(s, key))
        fail_msg("span %s: unexpected attribute %s", s->name, key);
}

static void expect_i(const Tbotlp__Span *s, const char *key, int64_t want)
{
    const Tbotlp__AnyValue *v = attr(s, key);
    if (!v || v->value_case != TBOTLP__ANY_VALUE__VALUE_INT_VALUE)
        fail_msg("span %s: no int attribute %s", s->name, key);
    if (v->int_value != want)
        fail_msg("span %s: %s = %lld, want %lld", s->name, key, (long long)v->int_value,
                 (long long)want);
}

static const Tbotlp__Span *span_by_sdk_id(const Tbotlp__ExportTraceServiceRequest *req,
                                          const char *sdk_id)
{
    const Tbotlp__ScopeSpans *ss = req->resource_spans[0]->scope_spans[0];
    for (size_t i = 0; i < ss->n_spans; i++) {
        const char *id = attr_s(ss->spans[i], "tracebox.sdk_span_id");
        if (id && strcmp(id, sdk_id) == 0)
            return ss->spans[i];
    }
    fail_msg("no OTLP span for %s", sdk_id);
    return NULL;
}

static const Tbotlp__Span *span_of(const Tbotlp__ExportTraceServiceRequest *req, const char *sid)
{
    char id[64];
    snprintf(id, sizeof id, "span_%s", sid);
    return span_by_sdk_id(req, id);
}

static void hex_of(const ProtobufCBinaryData *d, char *out)
{
    for (size_t i = 0; i < d->len; i++)
        snprintf(out + 2 * i, 3, "%02x", d->data[i]);
    out[2 * d->len] = '\0';
}

static void expect_id(const ProtobufCBinaryData *d, size_t len, const char *hex)
{
    char got[64];
    assert_int_equal(d->len, len);
    hex_of(d, got);
    assert_string_equal(got, hex);
}

/* a JSON string attribute, parsed */
static cJSON *attr_json(const Tbotlp__Span *s, const char *key)
{
    const char *text = attr_s(s, key);
    if (!text)
        fail_msg("span %s: no attribute %s", s->name, key);
    cJSON *j = cJSON_Parse(text);
    if (!j)
        fail_msg("span %s: %s is not JSON: %.200s", s->name, key, text);
    return j;
}

/* ---- tests ------------------------------------------------------------ */

static void test_ids(void **state)
{
    (void)state;
    uint8_t t[16], t2[16], s[8], s2[8];
    char hex[40];
    ProtobufCBinaryData d;
    tb__otlp_trace_id(T1, t);
    d.len = 16;
    d.data = t;
    hex_of(&d, hex);
    assert_string_equal(hex, T1_HEX);
    tb__otlp_trace_id("trace_0123456789ABCDEF0123456789ABCDEF", t); /* case-insensitive */
    hex_of(&d, hex);
    assert_string_equal(hex, T1_HEX);
    tb__otlp_span_id("span_a1b2c3d4e5f60718293a4b5c", s);
    d.len = 8;
    d.data = s;
    hex_of(&d, hex);
    assert_string_equal(hex, "a1b2c3d4e5f60718");
    /* hashed: deterministic, non-zero, different inputs differ */
    tb__otlp_trace_id("no-op", t);
    tb__otlp_trace_id("no-op", t2);
    assert_memory_equal(t, t2, 16);
    static const uint8_t zero[16];
    assert_memory_not_equal(t, zero, 16);
    tb__otlp_trace_id("no-op2", t2);
    assert_memory_not_equal(t, t2, 16);
    tb__otlp_trace_id("trace_00000000000000000000000000000000", t); /* all zero: hashed */
    assert_memory_not_equal(t, zero, 16);
    tb__otlp_span_id("span_custom", s);
    tb__otlp_span_id("span_custom", s2);
    assert_memory_equal(s, s2, 8);
    assert_memory_not_equal(s, zero, 8);
    tb__otlp_span_id("span_0000000000000000ffffffff", s);
    assert_memory_not_equal(s, zero, 8);
}

/* The hand-packed Span (pack.c) against protobuf-c on a span with every
 * field and every kind of value the model can hold: oneof members at their
 * defaults (written), negative ints (ten bytes), empty strings and ids
 * (left out), events with attributes, a link, a status, flags. */
static void test_hand_packed_span_matches_protobuf_c(void **state)
{
    (void)state;
    Tbotlp__AnyValue v[9];
    for (int i = 0; i < 9; i++) {
        Tbotlp__AnyValue v0 = TBOTLP__ANY_VALUE__INIT;
        v[i] = v0;
    }
    v[0].value_case = TBOTLP__ANY_VALUE__VALUE_STRING_VALUE;
    v[0].string_value = "gpt-4o \xc3\xa9";
    v[1].value_case = TBOTLP__ANY_VALUE__VALUE_STRING_VALUE;
    v[1].string_value = "";
    v[2].value_case = TBOTLP__ANY_VALUE__VALUE_INT_VALUE;
    v[2].int_value = -42;
    v[3].value_case = TBOTLP__ANY_VALUE__VALUE_INT_VALUE;
    v[3].int_value = 0;
    v[4].value_case = TBOTLP__ANY_VALUE__VALUE_DOUBLE_VALUE;
    v[4].double_value = 0.25;
    v[5].value_case = TBOTLP__ANY_VALUE__VALUE_BOOL_VALUE;
    v[5].bool_value = 0;
    static uint8_t raw[] = {1, 2, 3};
    v[6].value_case = TBOTLP__ANY_VALUE__VALUE_BYTES_VALUE;
    v[6].bytes_value.data = raw;
    v[6].bytes_value.len = sizeof raw;
    Tbotlp__AnyValue *items[] = {&v[0], &v[2]};
    Tbotlp__ArrayValue arr = TBOTLP__ARRAY_VALUE__INIT;
    arr.values = items;
    arr.n_values = 2;
    v[7].value_case = TBOTLP__ANY_VALUE__VALUE_ARRAY_VALUE;
    v[7].array_value = &arr;
    /* v[8]: not set */
    Tbotlp__KeyValue kv[10];
    Tbotlp__KeyValue *kvs[10];
    static const char *const keys[] = {"a", "b", "c", "d", "e", "f", "g", "h", "i", ""};
    for (int i = 0; i < 10; i++) {
        Tbotlp__KeyValue k0 = TBOTLP__KEY_VALUE__INIT;
        kv[i] = k0;
        kv[i].key = (char *)keys[i];
        kv[i].value = i < 9 ? &v[i] : NULL;
        kvs[i] = &kv[i];
    }
    Tbotlp__Span__Event ev = TBOTLP__SPAN__EVENT__INIT;
    ev.time_unix_nano = 1748781296789000000ULL;
    ev.name = "exception";
    ev.attributes = kvs;
    ev.n_attributes = 3;
    ev.dropped_attributes_count = 2;
    Tbotlp__Span__Event ev2 = TBOTLP__SPAN__EVENT__INIT;
    Tbotlp__Span__Event *evs[] = {&ev, &ev2};
    static uint8_t tid[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    static uint8_t sid[8] = {8, 7, 6, 5, 4, 3, 2, 1};
    Tbotlp__Span__Link link = TBOTLP__SPAN__LINK__INIT;
    link.trace_id.data = tid;
    link.trace_id.len = 16;
    link.span_id.data = sid;
    link.span_id.len = 8;
    link.flags = 0x100;
    Tbotlp__Span__Link *links[] = {&link};
    Tbotlp__Status status = TBOTLP__STATUS__INIT;
    status.message = "boom: it broke";
    status.code = TBOTLP__STATUS__STATUS_CODE__STATUS_CODE_ERROR;
    Tbotlp__Span span = TBOTLP__SPAN__INIT;
    span.trace_id.data = tid;
    span.trace_id.len = 16;
    span.span_id.data = sid;
    span.span_id.len = 8;
    span.trace_state = "k=v";
    span.name = "generation gpt-4o";
    span.kind = TBOTLP__SPAN__SPAN_KIND__SPAN_KIND_CLIENT;
    span.start_time_unix_nano = 1748781296789000000ULL;
    span.end_time_unix_nano = 1748781297789000000ULL;
    span.attributes = kvs;
    span.n_attributes = 10;
    span.dropped_attributes_count = 1;
    span.events = evs;
    span.n_events = 2;
    span.dropped_events_count = 3;
    span.links = links;
    span.n_links = 1;
    span.dropped_links_count = 4;
    span.status = &status;
    span.flags = 0x301;
    Tbotlp__Span bare = TBOTLP__SPAN__INIT; /* every field at its default */
    Tbotlp__Span *spans[] = {&span, &bare};
    Tbotlp__ScopeSpans ss = TBOTLP__SCOPE_SPANS__INIT;
    ss.spans = spans;
    ss.n_spans = 2;
    Tbotlp__ScopeSpans *sss[] = {&ss};
    Tbotlp__ResourceSpans rs = TBOTLP__RESOURCE_SPANS__INIT;
    rs.scope_spans = sss;
    rs.n_scope_spans = 1;
    Tbotlp__ResourceSpans *rss[] = {&rs};
    Tbotlp__ExportTraceServiceRequest req = TBOTLP__EXPORT_TRACE_SERVICE_REQUEST__INIT;
    req.resource_spans = rss;
    req.n_resource_spans = 1;

    tb__buf out;
    memset(&out, 0, sizeof out);
    assert_int_equal(tb__otlp_pack_request(&out, &req, NULL), TB_OK);
    size_t n = tbotlp__export_trace_service_request__get_packed_size(&req);
    uint8_t *want = malloc(n);
    assert_non_null(want);
    assert_int_equal(tbotlp__export_trace_service_request__pack(&req, want), n);
    assert_int_equal(out.len, n);
    assert_memory_equal(out.data, want, n);
    free(want);
    tb__buf_free(&out);
}

/* The hand-framed envelope is byte for byte what protobuf-c packs. */
static void test_protobuf_bytes_match_protobuf_c(void **state)
{
    (void)state;
    batch b;
    full_batch(&b, true);
    for (unsigned conv = 1; conv <= 15; conv++) { /* every set: GenAI, OI, Langfuse, W&B */
        tb__otlp_options o = opts_for(conv);
        tb__buf out;
        tb__otlp_stats stats;
        encode(&b, TB__OTLP_PROTOBUF, &o, &out, &stats);
        Tbotlp__ExportTraceServiceRequest *req = decode(&out);
        size_t n = tbotlp__export_trace_service_request__get_packed_size(req);
        assert_int_equal(n, out.len);
        uint8_t *again = malloc(n);
        assert_non_null(again);
        assert_int_equal(tbotlp__export_trace_service_request__pack(req, again), n);
        assert_memory_equal(again, out.data, n);
        free(again);
        tbotlp__export_trace_service_request__free_unpacked(req, NULL);
        tb__buf_free(&out);
    }
    batch_free(&b);
}

static void test_protobuf_shape(void **state)
{
    (void)state;
    batch b;
    full_batch(&b, true);
    tb__otlp_options o = opts_for(TB__OTLP_CONV_GENAI | TB__OTLP_CONV_OPENINFERENCE);
    o.service_name = "support-bot";
    const tb__otlp_kv extra[] = {{"openinference.project.name", "proj"}};
    o.resource_attrs = extra;
    o.n_resource_attrs = 1;
    tb__buf out;
    tb__otlp_stats stats;
    encode(&b, TB__OTLP_PROTOBUF, &o, &out, &stats);
    assert_int_equal(stats.spans, N_SPANS + 1);
    assert_int_equal(stats.traces_missing, 2); /* T2's span and my-trace's */
    assert_int_equal(stats.bad, 0);

    Tbotlp__ExportTraceServiceRequest *req = decode(&out);
    assert_int_equal(req->n_resource_spans, 1);
    const Tbotlp__ResourceSpans *rs = req->resource_spans[0];
    const Tbotlp__Resource *res = rs->resource;
    const Tbotlp__AnyValue *v = attr_in(res->attributes, res->n_attributes, "service.name");
    assert_string_equal(v->string_value, "support-bot");
    v = attr_in(res->attributes, res->n_attributes, "telemetry.sdk.name");
    assert_string_equal(v->string_value, "tracebox");
    v = attr_in(res->attributes, res->n_attributes, "telemetry.sdk.language");
    assert_string_equal(v->string_value, "c");
    v = attr_in(res->attributes, res->n_attributes, "telemetry.sdk.version");
    assert_string_equal(v->string_value, tb_version());
    v = attr_in(res->attributes, res->n_attributes, "openinference.project.name");
    assert_string_equal(v->string_value, "proj");
    assert_int_equal(rs->n_scope_spans, 1);
    const Tbotlp__ScopeSpans *ss = rs->scope_spans[0];
    assert_string_equal(ss->scope->name, "tracebox");
    assert_int_equal(ss->n_spans, N_SPANS + 1);

    /* ids, parents, times, kinds, for every span of trace 1 */
    const char *ids[] = {ID_TASK,  ID_AGENT,   ID_TURN,   ID_GEN,     ID_RESP,
                         ID_FUNC,  ID_HANDOFF, ID_GUARD,  ID_CUSTOM,  ID_MCP,
                         ID_TRANS, ID_SPEECH,  ID_SGROUP, ID_UNKNOWN, ID_BIG};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        const Tbotlp__Span *s = span_of(req, ids[i]);
        char want[17];
        snprintf(want, sizeof want, "%.16s", ids[i]);
        expect_id(&s->trace_id, 16, T1_HEX);
        expect_id(&s->span_id, 8, want);
        assert_int_equal(s->start_time_unix_nano, START_NS_U);
        assert_int_equal(s->end_time_unix_nano, END_NS_U);
        bool client = strcmp(ids[i], ID_GEN) == 0 || strcmp(ids[i], ID_RESP) == 0 ||
                      strcmp(ids[i], ID_BIG) == 0;
        assert_int_equal(s->kind, client ? 3 : 1);
        expect_s(s, "tracebox.sdk_trace_id", T1);
        /* trace-level attributes on every span of trace 1 */
        expect_s(s, "session.id", "thread_42");
        expect_s(s, "gen_ai.conversation.id", "thread_42");
        /* OpenInference has no name for the workflow; the group id it has */
        expect_s(s, "tracebox.trace.workflow_name", "Support flow");
        expect_none(s, "tracebox.trace.group_id");
        expect_none(s, "tracebox.sdk_parent_id");
        assert_non_null(attr_s(s, "openinference.span.kind"));
        expect_s(s, "llm.system", "openai");
        if (strcmp(ids[i], ID_FUNC) != 0) {
            /* ended without error: OK, as the official processors say */
            assert_non_null(s->status);
            assert_int_equal(s->status->code, TBOTLP__STATUS__STATUS_CODE__STATUS_CODE_OK);
            assert_int_equal(s->n_events, 0);
        }
    }
    const Tbotlp__Span *task = span_of(req, ID_TASK);
    assert_int_equal(task->parent_span_id.len, 0); /* the root */
    assert_string_equal(task->name, "Runner.run");
    expect_id(&span_of(req, ID_AGENT)->parent_span_id, 8, "a000000000000001");
    expect_id(&span_of(req, ID_GEN)->parent_span_id, 8, "a000000000000003");

    /* T2: the trace record is not in the batch; JS-style times */
    const Tbotlp__Span *other = span_by_sdk_id(req, "span_c00000000000000100000000");
    expect_id(&other->trace_id, 16, T2_HEX);
    assert_int_equal(other->start_time_unix_nano, UINT64_C(1748781296789000000));
    assert_int_equal(other->end_time_unix_nano, UINT64_C(1748781297001000000));
    expect_none(other, "session.id");
    expect_none(other, "tracebox.trace.workflow_name");
    expect_s(other, "gen_ai.agent.name", "Other");

    /* hashed ids, with the parent hashed the same way */
    const Tbotlp__Span *odd = span_by_sdk_id(req, "my-span");
    uint8_t tid[16], sid[8], pid[8];
    tb__otlp_trace_id("my-trace", tid);
    tb__otlp_span_id("my-span", sid);
    tb__otlp_span_id("my-parent", pid);
    assert_int_equal(odd->trace_id.len, 16);
    assert_memory_equal(odd->trace_id.data, tid, 16);
    assert_memory_equal(odd->span_id.data, sid, 8);
    assert_int_equal(odd->parent_span_id.len, 8);
    assert_memory_equal(odd->parent_span_id.data, pid, 8);

    /* the error span: status, exception event */
    const Tbotlp__Span *fn = span_of(req, ID_FUNC);
    assert_non_null(fn->status);
    assert_int_equal(fn->status->code, TBOTLP__STATUS__STATUS_CODE__STATUS_CODE_ERROR);
    assert_string_equal(fn->status->message,
                        "Error running tool: {\"tool_name\":\"lookup\",\"error\":\"timeout\"}");
    assert_int_equal(fn->n_events, 1);
    const Tbotlp__Span__Event *ev = fn->events[0];
    assert_string_equal(ev->name, "exception");
    assert_int_equal(ev->time_unix_nano, END_NS_U);
    v = attr_in(ev->attributes, ev->n_attributes, "exception.message");
    assert_string_equal(v->string_value, "Error running tool");
    v = attr_in(ev->attributes, ev->n_attributes, "exception.data");
    cJSON *data = cJSON_Parse(v->string_value);
    assert_non_null(data);
    assert_string_equal(cJSON_GetObjectItem(data, "error")->valuestring, "timeout");
    cJSON_Delete(data);
    expect_s(fn, "error.type", "Error running tool");

    /* the 200 KB generation arrives whole */
    const Tbotlp__Span *big = span_of(req, ID_BIG);
    const char *content = attr_s(big, "llm.input_messages.0.message.content");
    assert_non_null(content);
    assert_int_equal(strlen(content), 200 * 1024);
    assert_int_equal(content[200 * 1024 - 1], 'a' + (200 * 1024 - 1) % 26);
    assert_string_equal(big->name, "gpt-4o-mini");

    tbotlp__export_trace_service_request__free_unpacked(req, NULL);
    tb__buf_free(&out);
    batch_free(&b);
}

/* The attributes each convention gives each type (genai + openinference +
 * langfuse all on). */
static void test_conventions_per_type(void **state)
{
    (void)state;
    batch b;
    full_batch(&b, false);
    tb__otlp_options o =
        opts_for(TB__OTLP_CONV_GENAI | TB__OTLP_CONV_OPENINFERENCE | TB__OTLP_CONV_LANGFUSE);
    tb__buf out;
    tb__otlp_stats stats;
    encode(&b, TB__OTLP_PROTOBUF, &o, &out, &stats);
    Tbotlp__ExportTraceServiceRequest *req = decode(&out);
    const Tbotlp__Span *s;

    /* task, turn: CHAIN */
    s = span_of(req, ID_TASK);
    expect_s(s, "tracebox.span_type", "task");
    expect_s(s, "openinference.span.kind", "CHAIN");
    expect_s(s, "gen_ai.operation.name", "invoke_workflow");
    expect_s(s, "langfuse.observation.type", "chain");
    expect_s(s, "langfuse.trace.name", "Support flow");
    expect_s(s, "langfuse.trace.metadata.customer", "acme");
    expect_s(s, "output.mime_type", "application/json");
    s = span_of(req, ID_TURN);
    assert_string_equal(s->name, "turn 1");
    expect_s(s, "tracebox.span_type", "turn");
    expect_s(s, "openinference.span.kind", "CHAIN");
    expect_s(s, "langfuse.observation.type", "chain");
    expect_s(s, "gen_ai.agent.name", "Triage agent");
    expect_none(s, "gen_ai.operation.name");

    /* agent */
    s = span_of(req, ID_AGENT);
    assert_string_equal(s->name, "Triage agent");
    expect_s(s, "openinference.span.kind", "AGENT");
    expect_s(s, "gen_ai.operation.name", "invoke_agent");
    expect_s(s, "langfuse.observation.type", "agent");
    expect_s(s, "gen_ai.agent.name", "Triage agent");
    expect_s(s, "agent.name", "Triage agent");
    expect_s(s, "gen_ai.provider.name", "openai");
    expect_s(s, "tracebox.agent.tools", "[\"lookup\"]");
    expect_s(s, "graph.node.id", "Triage agent");
    expect_none(s, "graph.node.parent_id"); /* nobody handed off to it */
    cJSON *meta = attr_json(s, "metadata"); /* trace metadata + the span's own */
    assert_string_equal(cJSON_GetObjectItem(meta, "customer")->valuestring, "acme");
    assert_non_null(cJSON_GetObjectItem(meta, "usage"));
    cJSON_Delete(meta);
    expect_none(s, "langfuse.observation.usage_details"); /* usage on generations only */

    /* generation */
    s = span_of(req, ID_GEN);
    assert_string_equal(s->name, "gpt-4o");
    expect_s(s, "openinference.span.kind", "LLM");
    expect_s(s, "gen_ai.operation.name", "chat");
    expect_s(s, "langfuse.observation.type", "generation");
    expect_s(s, "gen_ai.provider.name", "openai");
    expect_s(s, "gen_ai.system", "openai");
    expect_s(s, "llm.provider", "openai");
    expect_s(s, "llm.system", "openai");
    expect_s(s, "gen_ai.request.model", "gpt-4o");
    expect_s(s, "llm.model_name", "gpt-4o");
    expect_s(s, "langfuse.observation.model.name", "gpt-4o");
    const Tbotlp__AnyValue *v = attr(s, "gen_ai.request.temperature");
    assert_non_null(v);
    assert_int_equal(v->value_case, TBOTLP__ANY_VALUE__VALUE_DOUBLE_VALUE);
    assert_true(fabs(v->double_value - 0.2) < 1e-12);
    expect_i(s, "gen_ai.request.max_tokens", 256);
    cJSON *params = attr_json(s, "llm.invocation_parameters");
    assert_true(cJSON_GetObjectItem(params, "temperature")->valuedouble == 0.2);
    cJSON_Delete(params);
    expect_i(s, "gen_ai.usage.input_tokens", 120);
    expect_i(s, "gen_ai.usage.output_tokens", 30);
    expect_i(s, "gen_ai.usage.cache_read.input_tokens", 20);
    expect_i(s, "llm.token_count.prompt", 120);
    expect_i(s, "llm.token_count.completion", 30);
    expect_i(s, "llm.token_count.total", 150);
    expect_i(s, "llm.token_count.prompt_details.cache_read", 20);
    expect_i(s, "llm.token_count.completion_details.reasoning", 5);
    cJSON *ud = attr_json(s, "langfuse.observation.usage_details");
    assert_int_equal(cJSON_GetObjectItem(ud, "input")->valueint, 100);
    assert_int_equal(cJSON_GetObjectItem(ud, "input_cached_tokens")->valueint, 20);
    assert_int_equal(cJSON_GetObjectItem(ud, "output")->valueint, 25);
    assert_int_equal(cJSON_GetObjectItem(ud, "output_reasoning_tokens")->valueint, 5);
    assert_int_equal(cJSON_GetObjectItem(ud, "total")->valueint, 150);
    cJSON_Delete(ud);
    expect_s(s, "llm.input_messages.0.message.role", "system");
    expect_s(s, "llm.input_messages.0.message.content", "Be brief.");
    expect_s(s, "llm.input_messages.1.message.role", "user");
    expect_s(s, "llm.input_messages.1.message.content",
             "h\xc3\xa9llo \xe2\x98\x83 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80");
    expect_s(s, "llm.output_messages.0.message.role", "assistant");
    expect_s(s, "llm.output_messages.0.message.tool_calls.0.tool_call.id", "call_1");
    expect_s(s, "llm.output_messages.0.message.tool_calls.0.tool_call.function.name", "lookup");
    expect_s(s, "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments",
             "{\"q\":1}");
    cJSON *in = attr_json(s, "gen_ai.input.messages");
    assert_int_equal(cJSON_GetArraySize(in), 2);
    cJSON *m1 = cJSON_GetArrayItem(in, 1);
    assert_string_equal(cJSON_GetObjectItem(m1, "role")->valuestring, "user");
    cJSON *p0 = cJSON_GetArrayItem(cJSON_GetObjectItem(m1, "parts"), 0);
    assert_string_equal(cJSON_GetObjectItem(p0, "type")->valuestring, "text");
    assert_string_equal(cJSON_GetObjectItem(p0, "content")->valuestring,
                        "h\xc3\xa9llo \xe2\x98\x83 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80");
    cJSON_Delete(in);
    cJSON *outm = attr_json(s, "gen_ai.output.messages");
    cJSON *o0 = cJSON_GetArrayItem(outm, 0);
    assert_string_equal(cJSON_GetObjectItem(o0, "finish_reason")->valuestring, "tool_call");
    cJSON *tc = cJSON_GetArrayItem(cJSON_GetObjectItem(o0, "parts"), 0);
    assert_string_equal(cJSON_GetObjectItem(tc, "type")->valuestring, "tool_call");
    assert_string_equal(cJSON_GetObjectItem(tc, "name")->valuestring, "lookup");
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(tc, "arguments"), "q")->valueint, 1);
    cJSON_Delete(outm);
    expect_s(s, "input.mime_type", "application/json");
    cJSON *iv = attr_json(s, "input.value");
    assert_int_equal(cJSON_GetArraySize(iv), 2);
    cJSON_Delete(iv);
    cJSON *li = attr_json(s, "langfuse.observation.input");
    assert_int_equal(cJSON_GetArraySize(li), 2);
    cJSON_Delete(li);
    assert_non_null(attr_s(s, "langfuse.observation.output"));

    /* response */
    s = span_of(req, ID_RESP);
    assert_string_equal(s->name, "response");
    expect_s(s, "openinference.span.kind", "LLM");
    expect_s(s, "gen_ai.operation.name", "chat");
    expect_s(s, "langfuse.observation.type", "generation");
    expect_s(s, "gen_ai.response.id", "resp_1");
    expect_i(s, "llm.token_count.total", 15);
    expect_i(s, "gen_ai.usage.output_tokens", 5);
    assert_non_null(attr_s(s, "langfuse.observation.usage_details"));

    /* function */
    s = span_of(req, ID_FUNC);
    assert_string_equal(s->name, "lookup");
    expect_s(s, "openinference.span.kind", "TOOL");
    expect_s(s, "gen_ai.operation.name", "execute_tool");
    expect_s(s, "langfuse.observation.type", "tool");
    expect_s(s, "gen_ai.tool.name", "lookup");
    expect_s(s, "tool.name", "lookup");
    expect_s(s, "gen_ai.tool.call.arguments", "{\"q\":1}");
    expect_s(s, "gen_ai.tool.call.result", "found");
    expect_s(s, "input.value", "{\"q\":1}");
    expect_s(s, "input.mime_type", "application/json");
    expect_s(s, "output.value", "found");
    expect_s(s, "output.mime_type", "text/plain");
    expect_s(s, "langfuse.observation.input", "{\"q\":1}");
    expect_none(s, "gen_ai.provider.name");

    /* handoff */
    s = span_of(req, ID_HANDOFF);
    assert_string_equal(s->name, "handoff to Billing agent");
    expect_s(s, "openinference.span.kind", "TOOL");
    expect_s(s, "langfuse.observation.type", "tool");
    expect_s(s, "tool.name", "handoff_to_Billing agent");
    expect_s(s, "input.value", "{\"from_agent\":\"Triage agent\"}");
    expect_s(s, "output.value", "{\"to_agent\":\"Billing agent\"}");

    /* guardrail */
    s = span_of(req, ID_GUARD);
    assert_string_equal(s->name, "injection_check");
    expect_s(s, "openinference.span.kind", "GUARDRAIL");
    expect_s(s, "langfuse.observation.type", "guardrail");
    expect_s(s, "tool.name", "injection_check");
    v = attr(s, "guardrail.triggered");
    assert_non_null(v);
    assert_int_equal(v->value_case, TBOTLP__ANY_VALUE__VALUE_BOOL_VALUE);
    assert_true(v->bool_value);

    /* custom */
    s = span_of(req, ID_CUSTOM);
    assert_string_equal(s->name, "my_step");
    expect_s(s, "openinference.span.kind", "CHAIN");
    expect_s(s, "langfuse.observation.type", "span");
    expect_s(s, "output.value", "{\"k\":\"v\"}");
    expect_none(s, "gen_ai.operation.name");

    /* mcp_tools */
    s = span_of(req, ID_MCP);
    assert_string_equal(s->name, "mcp_tools fs");
    expect_s(s, "openinference.span.kind", "TOOL");
    /* listing tools is not a tool call: no tool name, no execute_tool */
    expect_none(s, "gen_ai.operation.name");
    expect_none(s, "tool.name");
    expect_none(s, "gen_ai.tool.name");
    expect_s(s, "langfuse.observation.type", "span");
    expect_s(s, "input.value", "fs");
    expect_s(s, "output.value", "[\"read\",\"write\"]");

    /* transcription, speech: LLM with their model; audio left out */
    s = span_of(req, ID_TRANS);
    assert_string_equal(s->name, "whisper-1");
    expect_s(s, "openinference.span.kind", "CHAIN"); /* as the official processors */
    expect_s(s, "langfuse.observation.type", "generation");
    expect_s(s, "llm.model_name", "whisper-1");
    expect_s(s, "gen_ai.request.model", "whisper-1");
    expect_s(s, "output.value", "hello");
    cJSON *ti = attr_json(s, "input.value");
    assert_string_equal(cJSON_GetObjectItem(ti, "format")->valuestring, "pcm");
    assert_non_null(strstr(cJSON_GetObjectItem(ti, "data")->valuestring, "not exported"));
    cJSON_Delete(ti);
    assert_int_equal(s->kind, 1);
    s = span_of(req, ID_SPEECH);
    assert_string_equal(s->name, "tts-1");
    expect_s(s, "openinference.span.kind", "CHAIN");
    expect_s(s, "input.value", "hi");
    expect_none(s, "langfuse.observation.usage_details");

    /* speech_group, unknown */
    s = span_of(req, ID_SGROUP);
    assert_string_equal(s->name, "speech_group");
    expect_s(s, "openinference.span.kind", "CHAIN");
    expect_s(s, "langfuse.observation.type", "chain");
    expect_s(s, "input.value", "hi");
    s = span_of(req, ID_UNKNOWN);
    assert_string_equal(s->name, "search");
    expect_s(s, "tracebox.span_type", "retrieval_x");
    expect_s(s, "openinference.span.kind", "CHAIN");
    expect_s(s, "langfuse.observation.type", "span");

    tbotlp__export_trace_service_request__free_unpacked(req, NULL);
    tb__buf_free(&out);
    batch_free(&b);
}

/* Each convention alone emits its own names only; tracebox.* always. */
static void test_conventions_selected(void **state)
{
    (void)state;
    batch b;
    full_batch(&b, false);
    const unsigned sets[] = {TB__OTLP_CONV_GENAI, TB__OTLP_CONV_OPENINFERENCE};
    for (size_t k = 0; k < 2; k++) {
        tb__otlp_options o = opts_for(sets[k]);
        tb__buf out;
        encode(&b, TB__OTLP_PROTOBUF, &o, &out, NULL);
        Tbotlp__ExportTraceServiceRequest *req = decode(&out);
        const Tbotlp__ScopeSpans *ss = req->resource_spans[0]->scope_spans[0];
        for (size_t i = 0; i < ss->n_spans; i++) {
            const Tbotlp__Span *s = ss->spans[i];
            assert_non_null(attr_s(s, "tracebox.span_type"));
            assert_non_null(attr_s(s, "tracebox.sdk_span_id"));
            for (size_t j = 0; j < s->n_attributes; j++) {
                const char *key = s->attributes[j]->key;
                if (strncmp(key, "langfuse.", 9) == 0)
                    fail_msg("%s in a non-langfuse encoding", key);
                if (sets[k] == TB__OTLP_CONV_GENAI &&
                    (strncmp(key, "llm.", 4) == 0 || strncmp(key, "openinference.", 14) == 0 ||
                     strncmp(key, "input.", 6) == 0 || strcmp(key, "session.id") == 0))
                    fail_msg("%s with genai only", key);
                if (sets[k] == TB__OTLP_CONV_OPENINFERENCE && strncmp(key, "gen_ai.", 7) == 0)
                    fail_msg("%s with openinference only", key);
            }
        }
        const Tbotlp__Span *gen = span_of(req, ID_GEN);
        if (sets[k] == TB__OTLP_CONV_GENAI) {
            expect_s(gen, "gen_ai.operation.name", "chat");
            expect_none(gen, "tracebox.input"); /* gen_ai.input.messages has it */
            /* a custom span's data has no GenAI name: kept as tracebox.output */
            expect_s(span_of(req, ID_CUSTOM), "tracebox.output", "{\"k\":\"v\"}");
        } else {
            expect_s(gen, "openinference.span.kind", "LLM");
            expect_none(span_of(req, ID_CUSTOM), "tracebox.output");
        }
        tbotlp__export_trace_service_request__free_unpacked(req, NULL);
        tb__buf_free(&out);
    }
    unsigned bits = 0;
    assert_true(tb__otlp_parse_conventions("genai", &bits));
    assert_int_equal(bits, TB__OTLP_CONV_GENAI);
    assert_true(tb__otlp_parse_conventions(" genai , openinference", &bits));
    assert_int_equal(bits, TB__OTLP_CONV_GENAI | TB__OTLP_CONV_OPENINFERENCE);
    assert_false(tb__otlp_parse_conventions("genai,langfuse", &bits));
    assert_false(tb__otlp_parse_conventions("", &bits));
    batch_free(&b);
}

/* OTLP/JSON: the same shape with hex ids, string nanos, integer enums. */
static const cJSON *jspan(const cJSON *spans, const char *sdk_id)
{
    const cJSON *s;
    cJSON_ArrayForEach(s, spans)
    {
        const cJSON *kv;
        cJSON_ArrayForEach(kv, cJSON_GetObjectItem(s, "attributes"))
        {
            if (strcmp(cJSON_GetObjectItem(kv, "key")->valuestring, "tracebox.sdk_span_id") == 0 &&
                strcmp(cJSON_GetObjectItem(cJSON_GetObjectItem(kv, "value"), "stringValue")
                           ->valuestring,
                       sdk_id) == 0)
                return s;
        }
    }
    fail_msg("no JSON span for %s", sdk_id);
    return NULL;
}

static const cJSON *jattr(const cJSON *span, const char *key)
{
    const cJSON *kv;
    cJSON_ArrayForEach(kv, cJSON_GetObjectItem(span, "attributes"))
    {
        if (strcmp(cJSON_GetObjectItem(kv, "key")->valuestring, key) == 0)
            return cJSON_GetObjectItem(kv, "value");
    }
    return NULL;
}

static void test_json_shape(void **state)
{
    (void)state;
    batch b;
    full_batch(&b, true);
    tb__otlp_options o = opts_for(TB__OTLP_CONV_GENAI | TB__OTLP_CONV_OPENINFERENCE);
    tb__buf out;
    tb__otlp_stats stats;
    encode(&b, TB__OTLP_JSON, &o, &out, &stats);
    cJSON *root = cJSON_ParseWithLength(out.data, out.len);
    assert_non_null(root);
    const cJSON *rs = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "resourceSpans"), 0);
    assert_non_null(rs);
    assert_non_null(cJSON_GetObjectItem(cJSON_GetObjectItem(rs, "resource"), "attributes"));
    const cJSON *ss = cJSON_GetArrayItem(cJSON_GetObjectItem(rs, "scopeSpans"), 0);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(ss, "scope"), "name")->valuestring,
                        "tracebox");
    const cJSON *spans = cJSON_GetObjectItem(ss, "spans");
    assert_int_equal(cJSON_GetArraySize(spans), N_SPANS + 1);

    const cJSON *gen = jspan(spans, "span_" ID_GEN);
    assert_string_equal(cJSON_GetObjectItem(gen, "traceId")->valuestring, T1_HEX);
    assert_string_equal(cJSON_GetObjectItem(gen, "spanId")->valuestring, "a000000000000004");
    assert_string_equal(cJSON_GetObjectItem(gen, "parentSpanId")->valuestring, "a000000000000003");
    assert_string_equal(cJSON_GetObjectItem(gen, "startTimeUnixNano")->valuestring, START_NS);
    assert_string_equal(cJSON_GetObjectItem(gen, "endTimeUnixNano")->valuestring, END_NS);
    const cJSON *kind = cJSON_GetObjectItem(gen, "kind");
    assert_true(cJSON_IsNumber(kind));
    assert_int_equal(kind->valueint, 3);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(gen, "status"), "code")->valueint, 1);
    const cJSON *pt = jattr(gen, "llm.token_count.prompt");
    assert_non_null(pt);
    assert_true(cJSON_IsString(cJSON_GetObjectItem(pt, "intValue")));
    assert_string_equal(cJSON_GetObjectItem(pt, "intValue")->valuestring, "120");
    const cJSON *temp = jattr(gen, "gen_ai.request.temperature");
    assert_true(cJSON_IsNumber(cJSON_GetObjectItem(temp, "doubleValue")));
    assert_string_equal(
        cJSON_GetObjectItem(jattr(gen, "llm.input_messages.1.message.content"), "stringValue")
            ->valuestring,
        "h\xc3\xa9llo \xe2\x98\x83 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80");

    const cJSON *task = jspan(spans, "span_" ID_TASK);
    assert_null(cJSON_GetObjectItem(task, "parentSpanId"));
    assert_int_equal(cJSON_GetObjectItem(task, "kind")->valueint, 1);

    const cJSON *fn = jspan(spans, "span_" ID_FUNC);
    const cJSON *st = cJSON_GetObjectItem(fn, "status");
    assert_true(cJSON_IsNumber(cJSON_GetObjectItem(st, "code")));
    assert_int_equal(cJSON_GetObjectItem(st, "code")->valueint, 2);
    /* the message carries error.data, as the official processors write it */
    assert_string_equal(cJSON_GetObjectItem(st, "message")->valuestring,
                        "Error running tool: {\"tool_name\":\"lookup\",\"error\":\"timeout\"}");
    const cJSON *ev = cJSON_GetArrayItem(cJSON_GetObjectItem(fn, "events"), 0);
    assert_string_equal(cJSON_GetObjectItem(ev, "name")->valuestring, "exception");
    assert_string_equal(cJSON_GetObjectItem(ev, "timeUnixNano")->valuestring, END_NS);

    const cJSON *guard = jspan(spans, "span_" ID_GUARD);
    assert_true(
        cJSON_IsTrue(cJSON_GetObjectItem(jattr(guard, "guardrail.triggered"), "boolValue")));

    const cJSON *big = jspan(spans, "span_" ID_BIG);
    assert_int_equal(strlen(cJSON_GetObjectItem(jattr(big, "llm.input_messages.0.message.content"),
                                                "stringValue")
                                ->valuestring),
                     200 * 1024);

    /* lowercase hex everywhere */
    const cJSON *s;
    cJSON_ArrayForEach(s, spans)
    {
        const char *tid = cJSON_GetObjectItem(s, "traceId")->valuestring;
        const char *sid = cJSON_GetObjectItem(s, "spanId")->valuestring;
        assert_int_equal(strlen(tid), 32);
        assert_int_equal(strlen(sid), 16);
        assert_int_equal(strspn(tid, "0123456789abcdef"), 32);
        assert_int_equal(strspn(sid, "0123456789abcdef"), 16);
    }
    cJSON_Delete(root);
    tb__buf_free(&out);
    batch_free(&b);
}

/* Invalid UTF-8 in a record comes out as U+FFFD, never as invalid bytes.
 * The strings of a valid record in the same batch are used where its text
 * was parsed in place (attrs.h, borrow_lo): they come out decoded, and
 * whole, beside the repaired ones. */
static void test_invalid_utf8(void **state)
{
    (void)state;
    batch b;
    memset(&b, 0, sizeof b);
    batch_add(&b, SPAN(ID_FUNC, T1, "null",
                       "{\"type\":\"function\",\"name\":\"caf\\u00e9 \\ud83d\\ude00\","
                       "\"input\":\"a\\tb\\\"c\",\"output\":\"x\\u0000y\"}"));
    batch_add(&b, SPAN(ID_CUSTOM, T1, "null",
                       "{\"type\":\"function\",\"name\":\"bad\xff\xfe name\",\"input\":\"x\xc3\","
                       "\"output\":\"ok\"}"));
    tb__otlp_options o = opts_for(TB__OTLP_CONV_GENAI | TB__OTLP_CONV_OPENINFERENCE);
    tb__buf out;
    encode(&b, TB__OTLP_PROTOBUF, &o, &out, NULL);
    Tbotlp__ExportTraceServiceRequest *req = decode(&out); /* protobuf-c checks UTF-8 */
    const Tbotlp__Span *s = span_of(req, ID_CUSTOM);
    assert_string_equal(s->name, "bad\xef\xbf\xbd\xef\xbf\xbd name");
    expect_s(s, "tool.name", "bad\xef\xbf\xbd\xef\xbf\xbd name");
    expect_s(s, "input.value", "x\xef\xbf\xbd");
    const Tbotlp__Span *f = span_of(req, ID_FUNC);
    assert_string_equal(f->name, "caf\xc3\xa9 \xf0\x9f\x98\x80");
    expect_s(f, "tool.name", "caf\xc3\xa9 \xf0\x9f\x98\x80");
    expect_s(f, "input.value", "a\tb\"c");
    expect_s(f, "output.value", "x"); /* \u0000 ends a string, as in cJSON */
    tbotlp__export_trace_service_request__free_unpacked(req, NULL);
    tb__buf_free(&out);
    out.data = NULL;
    encode(&b, TB__OTLP_JSON, &o, &out, NULL);
    assert_true(tb__utf8_valid(out.data, out.len, NULL));
    tb__buf_free(&out);
    batch_free(&b);
}

/* A record that is not a JSON object is flagged and skipped; a batch of
 * trace records only has no span and no envelope. */
static void test_bad_and_empty(void **state)
{
    (void)state;
    batch b;
    memset(&b, 0, sizeof b);
    batch_add(&b, k_trace1);
    batch_add(&b, "not json at all");
    batch_add(&b, k_spans[0]);
    unsigned char bad[3] = {0, 0, 0};
    tb__otlp_options o = opts_for(TB__OTLP_CONV_GENAI);
    tb__buf out;
    memset(&out, 0, sizeof out);
    tb__otlp_stats stats;
    char err[128];
    assert_int_equal(
        tb__otlp_encode(&out, b.rec, b.n, TB__OTLP_PROTOBUF, &o, bad, &stats, err, sizeof err),
        TB_OK);
    assert_int_equal(bad[0], 0);
    assert_int_equal(bad[1], 1);
    assert_int_equal(bad[2], 0);
    assert_int_equal(stats.bad, 1);
    assert_int_equal(stats.spans, 1);
    tb__buf_free(&out);

    batch t;
    memset(&t, 0, sizeof t);
    batch_add(&t, k_trace1);
    memset(&out, 0, sizeof out);
    assert_int_equal(
        tb__otlp_encode(&out, t.rec, t.n, TB__OTLP_PROTOBUF, &o, NULL, &stats, err, sizeof err),
        TB_OK);
    assert_int_equal(stats.spans, 0);
    Tbotlp__ExportTraceServiceRequest *req = decode(&out);
    assert_int_equal(req->n_resource_spans, 0);
    tbotlp__export_trace_service_request__free_unpacked(req, NULL);
    tb__buf_free(&out);
    batch_free(&t);
    batch_free(&b);
}

/* A trace record seen in an earlier batch still gives its attributes. */
static char *cache_lookup(void *ctx, const char *sdk_trace_id)
{
    return tb__otlp_trace_cache_get(ctx, sdk_trace_id);
}

static void test_trace_cache(void **state)
{
    (void)state;
    tb__otlp_trace_cache *c = tb__otlp_trace_cache_new(2);
    assert_non_null(c);
    batch first;
    memset(&first, 0, sizeof first);
    batch_add(&first, k_trace1);
    tb__otlp_trace_cache_put(c, first.rec, first.n);
    char *body = tb__otlp_trace_cache_get(c, T1);
    assert_non_null(body);
    assert_string_equal(body, k_trace1);
    tb__free_mem(body);
    assert_null(tb__otlp_trace_cache_get(c, T2));

    batch second;
    memset(&second, 0, sizeof second);
    batch_add(&second, k_spans[0]);
    tb__otlp_options o = opts_for(TB__OTLP_CONV_OPENINFERENCE);
    o.lookup = cache_lookup;
    o.lookup_ctx = c;
    tb__buf out;
    tb__otlp_stats stats;
    encode(&second, TB__OTLP_PROTOBUF, &o, &out, &stats);
    assert_int_equal(stats.traces_missing, 0);
    Tbotlp__ExportTraceServiceRequest *req = decode(&out);
    expect_s(span_of(req, ID_TASK), "session.id", "thread_42");
    tbotlp__export_trace_service_request__free_unpacked(req, NULL);
    tb__buf_free(&out);

    /* the ring forgets the oldest */
    batch more;
    memset(&more, 0, sizeof more);
    batch_add(&more, "{\"object\":\"trace\",\"id\":\"trace_a\",\"workflow_name\":\"a\"}");
    batch_add(&more, "{\"object\":\"trace\",\"id\":\"trace_b\",\"workflow_name\":\"b\"}");
    tb__otlp_trace_cache_put(c, more.rec, more.n);
    assert_null(tb__otlp_trace_cache_get(c, T1));
    body = tb__otlp_trace_cache_get(c, "trace_b");
    assert_non_null(body);
    tb__free_mem(body);
    tb__otlp_trace_cache_free(c);
    tb__otlp_trace_cache_free(NULL);
    batch_free(&first);
    batch_free(&second);
    batch_free(&more);
}

static void test_response(void **state)
{
    (void)state;
    int64_t rejected = -1;
    char msg[128];
    /* ExportTraceServiceResponse{partial_success{rejected_spans: 3,
     * error_message: "bad span"}} */
    static const char pb[] = "\x0a\x0c\x08\x03\x12\x08"
                             "bad span";
    assert_true(
        tb__otlp_parse_response(TB__OTLP_PROTOBUF, pb, sizeof pb - 1, &rejected, msg, sizeof msg));
    assert_int_equal(rejected, 3);
    assert_string_equal(msg, "bad span");
    assert_true(tb__otlp_parse_response(TB__OTLP_PROTOBUF, "", 0, &rejected, msg, sizeof msg));
    assert_int_equal(rejected, 0);
    /* a JSON answer to a protobuf request (Langfuse does that) */
    assert_true(tb__otlp_parse_response(TB__OTLP_PROTOBUF, "{}", 2, &rejected, msg, sizeof msg));
    assert_int_equal(rejected, 0);
    const char *js = "{\"partialSuccess\":{\"rejectedSpans\":\"2\",\"errorMessage\":\"x\\ny\"}}";
    assert_true(tb__otlp_parse_response(TB__OTLP_JSON, js, strlen(js), &rejected, msg, sizeof msg));
    assert_int_equal(rejected, 2);
    assert_string_equal(msg, "x y");
    js = "{\"partialSuccess\":{\"rejectedSpans\":5}}";
    assert_true(tb__otlp_parse_response(TB__OTLP_JSON, js, strlen(js), &rejected, msg, sizeof msg));
    assert_int_equal(rejected, 5);
    assert_false(tb__otlp_parse_response(TB__OTLP_JSON, "<html>", 6, &rejected, msg, sizeof msg));
    assert_int_equal(rejected, 0);
}

static void test_traces_url(void **state)
{
    (void)state;
    const char *cases[][2] = {
        {"http://localhost:6006", "http://localhost:6006/v1/traces"},
        {"http://localhost:6006/", "http://localhost:6006/v1/traces"},
        {"https://otlp.arize.com/v1", "https://otlp.arize.com/v1/traces"},
        {"https://otlp.arize.com/v1/traces", "https://otlp.arize.com/v1/traces"},
        {"https://x.wandb.io/traces/otel", "https://x.wandb.io/traces/otel/v1/traces"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *u = tb__otlp_traces_url(cases[i][0]);
        assert_string_equal(u, cases[i][1]);
        tb__free_mem(u);
    }
}

/* ---- message shapes ----------------------------------------------------
 * Generation spans carry messages in several shapes (conventions.c,
 * "Messages"): Chat Completions messages, a whole ChatCompletion response
 * (the JS SDK's chat-completions model), Responses API items. Each case
 * gives the exact llm.input_messages.* / llm.output_messages.* attributes
 * (all of them: no other key under those prefixes) and the GenAI JSON.
 * JSON is written with ' for " and turned back by dq(). */

/* s with every ' turned into ", malloc'd */
static char *dq(const char *s)
{
    char *out = strdup(s);
    assert_non_null(out);
    for (char *p = out; *p; p++)
        if (*p == '\'')
            *p = '"';
    return out;
}

typedef struct shape_case {
    const char *what;
    const char *sid;       /* 24 hex digits */
    const char *data;      /* span_data, ' for " */
    const char *oi[64];    /* key, value, …, NULL: every llm.*_messages.* attribute */
    const char *genai_in;  /* gen_ai.input.messages, ' for "; NULL: none */
    const char *genai_out; /* gen_ai.output.messages; NULL: none */
    bool raw_in, raw_out;  /* GenAI alone: tracebox.input / tracebox.output */
} shape_case;

static const shape_case k_shapes[] = {
    {"ChatCompletion response, a tool call",
     "d00000000000000100000000",
     "{'type':'generation','model':'gpt-4o',"
     "'input':[{'role':'system','content':'Be brief.'},{'role':'user','content':'Weather?'}],"
     "'output':[{'id':'chatcmpl-1','object':'chat.completion','created':1,'model':'gpt-4o',"
     "'choices':[{'index':0,'message':{'role':'assistant','content':null,'refusal':null,"
     "'tool_calls':[{'id':'call_w','type':'function','function':{'name':'get_weather',"
     "'arguments':'{\\'city\\':\\'Paris\\'}'}}]},'finish_reason':'tool_calls','logprobs':null}],"
     "'usage':{'prompt_tokens':10,'completion_tokens':5,'total_tokens':15}}]}",
     {"llm.input_messages.0.message.role", "system", "llm.input_messages.0.message.content",
      "Be brief.", "llm.input_messages.1.message.role", "user",
      "llm.input_messages.1.message.content", "Weather?", "llm.output_messages.0.message.role",
      "assistant", "llm.output_messages.0.message.tool_calls.0.tool_call.id", "call_w",
      "llm.output_messages.0.message.tool_calls.0.tool_call.function.name", "get_weather",
      "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments",
      "{\"city\":\"Paris\"}", NULL},
     "[{'role':'system','parts':[{'type':'text','content':'Be brief.'}]},"
     "{'role':'user','parts':[{'type':'text','content':'Weather?'}]}]",
     "[{'role':'assistant','finish_reason':'tool_call','parts':[{'type':'tool_call',"
     "'id':'call_w','name':'get_weather','arguments':{'city':'Paris'}}]}]",
     false,
     false},
    {"ChatCompletion response, text, two choices; chat input with a tool result",
     "d00000000000000200000000",
     "{'type':'generation','model':'gpt-4o',"
     "'input':[{'role':'user','content':'Weather?'},{'role':'assistant','content':null,"
     "'tool_calls':[{'id':'call_w','type':'function','function':{'name':'get_weather',"
     "'arguments':'{}'}}]},{'role':'tool','tool_call_id':'call_w','content':'sunny'}],"
     "'output':[{'object':'chat.completion','choices':["
     "{'index':0,'message':{'role':'assistant','content':'It is sunny.'},'finish_reason':'stop'},"
     "{'index':1,'message':{'content':'It is'},'finish_reason':'length'}]}]}",
     {"llm.input_messages.0.message.role",
      "user",
      "llm.input_messages.0.message.content",
      "Weather?",
      "llm.input_messages.1.message.role",
      "assistant",
      "llm.input_messages.1.message.tool_calls.0.tool_call.id",
      "call_w",
      "llm.input_messages.1.message.tool_calls.0.tool_call.function.name",
      "get_weather",
      "llm.input_messages.1.message.tool_calls.0.tool_call.function.arguments",
      "{}",
      "llm.input_messages.2.message.role",
      "tool",
      "llm.input_messages.2.message.content",
      "sunny",
      "llm.input_messages.2.message.tool_call_id",
      "call_w",
      "llm.output_messages.0.message.role",
      "assistant",
      "llm.output_messages.0.message.content",
      "It is sunny.",
      "llm.output_messages.1.message.role",
      "assistant",
      "llm.output_messages.1.message.content",
      "It is",
      NULL},
     "[{'role':'user','parts':[{'type':'text','content':'Weather?'}]},"
     "{'role':'assistant','parts':[{'type':'tool_call','id':'call_w','name':'get_weather',"
     "'arguments':{}}]},"
     "{'role':'tool','parts':[{'type':'tool_call_response','id':'call_w','response':'sunny'}]}]",
     "[{'role':'assistant','finish_reason':'stop','parts':[{'type':'text',"
     "'content':'It is sunny.'}]},"
     "{'role':'assistant','finish_reason':'length','parts':[{'type':'text','content':'It is'}]}]",
     false,
     false},
    {"Responses: message with output_text parts; user string content, input_text parts",
     "d00000000000000300000000",
     "{'type':'generation','model':'gpt-4.1',"
     "'input':[{'role':'user','content':'hi'},{'type':'message','role':'user','content':["
     "{'type':'input_text','text':'part one'},{'type':'input_image','image_url':"
     "'https://x.test/y.png','detail':'auto'}]}],"
     "'output':[{'type':'message','id':'msg_1','role':'assistant','status':'completed',"
     "'content':[{'type':'output_text','text':'Hello','annotations':[]},"
     "{'type':'output_text','text':' world','annotations':[]}]}]}",
     {"llm.input_messages.0.message.role",
      "user",
      "llm.input_messages.0.message.content",
      "hi",
      "llm.input_messages.1.message.role",
      "user",
      "llm.input_messages.1.message.contents.0.message_content.type",
      "text",
      "llm.input_messages.1.message.contents.0.message_content.text",
      "part one",
      "llm.input_messages.1.message.contents.1.message_content.type",
      "image",
      "llm.input_messages.1.message.contents.1.message_content.image.image.url",
      "https://x.test/y.png",
      "llm.output_messages.0.message.role",
      "assistant",
      "llm.output_messages.0.message.contents.0.message_content.type",
      "text",
      "llm.output_messages.0.message.contents.0.message_content.text",
      "Hello",
      "llm.output_messages.0.message.contents.1.message_content.type",
      "text",
      "llm.output_messages.0.message.contents.1.message_content.text",
      " world",
      NULL},
     "[{'role':'user','parts':[{'type':'text','content':'hi'}]},"
     "{'role':'user','parts':[{'type':'text','content':'part one'}]}]",
     "[{'role':'assistant','finish_reason':'stop','parts':[{'type':'text','content':'Hello'},"
     "{'type':'text','content':' world'}]}]",
     false,
     false},
    {"Responses: function_call items (call_id, JS callId, arguments not JSON)",
     "d00000000000000400000000",
     "{'type':'generation',"
     "'input':[{'role':'user','content':'go'}],"
     "'output':[{'type':'function_call','id':'fc_1','call_id':'call_a','name':'lookup',"
     "'arguments':'{\\'q\\':\\'x\\'}','status':'completed'},"
     "{'type':'function_call','callId':'call_b','name':'noop','arguments':'not json',"
     "'status':'completed'}]}",
     {"llm.input_messages.0.message.role",
      "user",
      "llm.input_messages.0.message.content",
      "go",
      "llm.output_messages.0.message.role",
      "assistant",
      "llm.output_messages.0.message.tool_calls.0.tool_call.id",
      "call_a",
      "llm.output_messages.0.message.tool_calls.0.tool_call.function.name",
      "lookup",
      "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments",
      "{\"q\":\"x\"}",
      "llm.output_messages.1.message.role",
      "assistant",
      "llm.output_messages.1.message.tool_calls.0.tool_call.id",
      "call_b",
      "llm.output_messages.1.message.tool_calls.0.tool_call.function.name",
      "noop",
      "llm.output_messages.1.message.tool_calls.0.tool_call.function.arguments",
      "not json",
      NULL},
     "[{'role':'user','parts':[{'type':'text','content':'go'}]}]",
     "[{'role':'assistant','finish_reason':'tool_call','parts':[{'type':'tool_call',"
     "'id':'call_a','name':'lookup','arguments':{'q':'x'}}]},"
     "{'role':'assistant','finish_reason':'tool_call','parts':[{'type':'tool_call',"
     "'id':'call_b','name':'noop','arguments':'not json'}]}]",
     false,
     false},
    {"Responses: function_call_output (call_id), JS function_call_result (callId)",
     "d00000000000000500000000",
     "{'type':'generation',"
     "'input':[{'type':'function_call','call_id':'call_0','name':'lookup','arguments':'{}'},"
     "{'type':'function_call_output','call_id':'call_0','output':'found it'},"
     "{'type':'function_call_result','callId':'call_1','name':'lookup','status':'completed',"
     "'output':{'type':'text','text':'JS result'}}],"
     "'output':[{'type':'message','role':'assistant','content':[{'type':'output_text',"
     "'text':'Done.'}]}]}",
     {"llm.input_messages.0.message.role",
      "assistant",
      "llm.input_messages.0.message.tool_calls.0.tool_call.id",
      "call_0",
      "llm.input_messages.0.message.tool_calls.0.tool_call.function.name",
      "lookup",
      "llm.input_messages.0.message.tool_calls.0.tool_call.function.arguments",
      "{}",
      "llm.input_messages.1.message.role",
      "tool",
      "llm.input_messages.1.message.content",
      "found it",
      "llm.input_messages.1.message.tool_call_id",
      "call_0",
      "llm.input_messages.2.message.role",
      "tool",
      "llm.input_messages.2.message.content",
      "JS result",
      "llm.input_messages.2.message.tool_call_id",
      "call_1",
      "llm.output_messages.0.message.role",
      "assistant",
      "llm.output_messages.0.message.contents.0.message_content.type",
      "text",
      "llm.output_messages.0.message.contents.0.message_content.text",
      "Done.",
      NULL},
     "[{'role':'assistant','parts':[{'type':'tool_call','id':'call_0','name':'lookup',"
     "'arguments':{}}]},"
     "{'role':'tool','parts':[{'type':'tool_call_response','id':'call_0','response':"
     "'found it'}]},"
     "{'role':'tool','parts':[{'type':'tool_call_response','id':'call_1','response':"
     "{'type':'text','text':'JS result'}}]}]",
     "[{'role':'assistant','finish_reason':'stop','parts':[{'type':'text','content':'Done.'}]}]",
     false,
     false},
    {"a string input (one user message), only a reasoning item out",
     "d00000000000000600000000",
     "{'type':'generation','input':'just text','output':[{'type':'reasoning','id':'rs_1',"
     "'summary':[]}]}",
     {"llm.input_messages.0.message.role", "user", "llm.input_messages.0.message.content",
      "just text", NULL},
     "[{'role':'user','parts':[{'type':'text','content':'just text'}]}]",
     NULL,
     false,
     true},
    {"partly known: a reasoning item, then a message",
     "d00000000000000700000000",
     "{'type':'generation','input':[{'role':'user','content':'q'},7],"
     "'output':[{'type':'reasoning','summary':[]},{'type':'message','role':'assistant',"
     "'content':[{'type':'output_text','text':'a'}]}]}",
     /* numbered by place in the list, as the official processors do */
     {"llm.input_messages.0.message.role", "user", "llm.input_messages.0.message.content", "q",
      "llm.output_messages.1.message.role", "assistant",
      "llm.output_messages.1.message.contents.0.message_content.type", "text",
      "llm.output_messages.1.message.contents.0.message_content.text", "a", NULL},
     "[{'role':'user','parts':[{'type':'text','content':'q'}]}]",
     "[{'role':'assistant','finish_reason':'stop','parts':[{'type':'text','content':'a'}]}]",
     true,
     true},
};
#define N_SHAPES (sizeof k_shapes / sizeof k_shapes[0])

static void shapes_batch(batch *b)
{
    memset(b, 0, sizeof *b);
    for (size_t i = 0; i < N_SHAPES; i++) {
        char *data = dq(k_shapes[i].data);
        char rec[4096];
        int n = snprintf(rec, sizeof rec,
                         "{\"object\":\"trace.span\",\"id\":\"span_%s\",\"trace_id\":\"" T1
                         "\",\"parent_id\":null,\"started_at\":\"" START "\",\"ended_at\":\"" END
                         "\",\"span_data\":%s,\"error\":null}",
                         k_shapes[i].sid, data);
        assert_true(n > 0 && (size_t)n < sizeof rec);
        free(data);
        batch_add(b, rec);
    }
}

static bool is_message_key(const char *key)
{
    return strncmp(key, "llm.input_messages.", 19) == 0 ||
           strncmp(key, "llm.output_messages.", 20) == 0;
}

/* key (JSON text) equals want (' for "); want NULL: no such attribute */
static void expect_json_eq(const Tbotlp__Span *s, const char *what, const char *key,
                           const char *want)
{
    if (!want) {
        if (attr(s, key))
            fail_msg("%s: unexpected %s = %s", what, key, attr_s(s, key));
        return;
    }
    char *w = dq(want);
    cJSON *wj = cJSON_Parse(w);
    if (!wj)
        fail_msg("%s: the expected %s is not JSON: %s", what, key, w);
    cJSON *got = attr_json(s, key);
    if (!cJSON_Compare(got, wj, true)) {
        char *g = cJSON_PrintUnformatted(got);
        fail_msg("%s: %s =\n  %s\nwant\n  %s", what, key, g, w);
    }
    cJSON_Delete(got);
    cJSON_Delete(wj);
    free(w);
}

static void test_message_shapes(void **state)
{
    (void)state;
    batch b;
    shapes_batch(&b);
    tb__otlp_options o =
        opts_for(TB__OTLP_CONV_GENAI | TB__OTLP_CONV_OPENINFERENCE | TB__OTLP_CONV_LANGFUSE);
    tb__buf out;
    encode(&b, TB__OTLP_PROTOBUF, &o, &out, NULL);
    Tbotlp__ExportTraceServiceRequest *req = decode(&out);
    for (size_t i = 0; i < N_SHAPES; i++) {
        const shape_case *c = &k_shapes[i];
        const Tbotlp__Span *s = span_of(req, c->sid);
        /* every expected OpenInference attribute, and no other */
        size_t want = 0;
        for (; c->oi[want]; want += 2) {
            const char *got = attr_s(s, c->oi[want]);
            if (!got)
                fail_msg("%s: no %s (want \"%s\")", c->what, c->oi[want], c->oi[want + 1]);
            if (strcmp(got, c->oi[want + 1]) != 0)
                fail_msg("%s: %s = \"%s\", want \"%s\"", c->what, c->oi[want], got,
                         c->oi[want + 1]);
        }
        size_t have = 0;
        for (size_t j = 0; j < s->n_attributes; j++) {
            if (!is_message_key(s->attributes[j]->key))
                continue;
            bool listed = false;
            for (size_t k = 0; c->oi[k] && !listed; k += 2)
                listed = strcmp(c->oi[k], s->attributes[j]->key) == 0;
            if (!listed)
                fail_msg("%s: unexpected %s", c->what, s->attributes[j]->key);
            have += 2;
        }
        assert_int_equal(have, want);
        expect_json_eq(s, c->what, "gen_ai.input.messages", c->genai_in);
        expect_json_eq(s, c->what, "gen_ai.output.messages", c->genai_out);
        /* the raw values are always there for OpenInference and Langfuse */
        assert_non_null(attr_s(s, "input.value"));
        assert_non_null(attr_s(s, "output.value"));
        assert_non_null(attr_s(s, "langfuse.observation.output"));
        expect_none(s, "tracebox.input");
        expect_none(s, "tracebox.output");
    }
    const Tbotlp__Span *s = span_of(req, "d00000000000000600000000");
    expect_s(s, "input.value", "just text");
    expect_s(s, "input.mime_type", "text/plain");
    expect_s(s, "output.value", "[{\"type\":\"reasoning\",\"id\":\"rs_1\",\"summary\":[]}]");
    tbotlp__export_trace_service_request__free_unpacked(req, NULL);
    tb__buf_free(&out);

    /* GenAI alone: what it cannot name goes out raw */
    o = opts_for(TB__OTLP_CONV_GENAI);
    encode(&b, TB__OTLP_PROTOBUF, &o, &out, NULL);
    req = decode(&out);
    for (size_t i = 0; i < N_SHAPES; i++) {
        const shape_case *c = &k_shapes[i];
        s = span_of(req, c->sid);
        for (size_t j = 0; j < s->n_attributes; j++)
            if (is_message_key(s->attributes[j]->key))
                fail_msg("%s: %s with genai only", c->what, s->attributes[j]->key);
        expect_json_eq(s, c->what, "gen_ai.input.messages", c->genai_in);
        expect_json_eq(s, c->what, "gen_ai.output.messages", c->genai_out);
        if (c->raw_in)
            assert_non_null(attr_s(s, "tracebox.input"));
        else
            expect_none(s, "tracebox.input");
        if (c->raw_out)
            assert_non_null(attr_s(s, "tracebox.output"));
        else
            expect_none(s, "tracebox.output");
    }
    s = span_of(req, "d00000000000000600000000");
    expect_none(s, "tracebox.input");
    expect_s(s, "tracebox.output", "[{\"type\":\"reasoning\",\"id\":\"rs_1\",\"summary\":[]}]");
    tbotlp__export_trace_service_request__free_unpacked(req, NULL);
    tb__buf_free(&out);
    batch_free(&b);
}

/* ---- fidelity: one realistic run, in the order the SDK ends spans ------
 * Triage agent (Chat Completions: usage only in output[0].usage) hands off
 * to Billing agent (Responses API: the response and its input captured as
 * extension fields); a failed tool; an MCP listing. Records are in seq
 * order, as the outbox holds them: children end before their parents. */
#define F_TRACE "trace_my-app-1234"
#define F_TRIAGE "span_triage"
#define F_BILLING "span_billing"
static const char *k_run[] = {
    "{'object':'trace','id':'" F_TRACE "','workflow_name':'Support','group_id':'conv_7',"
    "'metadata':null}",
    "{'object':'trace.span','id':'span_gen-1','trace_id':'" F_TRACE "','parent_id':'" F_TRIAGE
    "','started_at':null,'ended_at':null,'error':null,'span_data':{'type':'generation',"
    "'model':'gpt-4o-mini','model_config':{'temperature':0.3},"
    "'input':[{'role':'system','content':'Route.'},{'role':'user','content':'Refund please'}],"
    "'output':[{'id':'chatcmpl-9','object':'chat.completion','model':'gpt-4o-mini-2024-07-18',"
    "'choices':[{'index':0,'message':{'role':'assistant','content':null,'tool_calls':[{'id':"
    "'call_h','type':'function','function':{'name':'transfer_to_billing','arguments':'{}'}}]},"
    "'finish_reason':'tool_calls'}],'usage':{'prompt_tokens':121,'completion_tokens':31,"
    "'total_tokens':152,'prompt_tokens_details':{'cached_tokens':64},"
    "'completion_tokens_details':{'reasoning_tokens':8}}}]}}",
    "{'object':'trace.span','id':'span_mcp','trace_id':'" F_TRACE "','parent_id':'" F_TRIAGE
    "','started_at':null,'ended_at':null,'error':null,'span_data':{'type':'mcp_tools',"
    "'server':'files','result':['read']}}",
    "{'object':'trace.span','id':'span_ho','trace_id':'" F_TRACE "','parent_id':'" F_TRIAGE
    "','started_at':null,'ended_at':null,'error':null,'span_data':{'type':'handoff',"
    "'from_agent':'Triage','to_agent':'Billing'}}",
    "{'object':'trace.span','id':'" F_TRIAGE "','trace_id':'" F_TRACE "','parent_id':null,"
    "'started_at':null,'ended_at':null,'error':null,'span_data':{'type':'agent','name':"
    "'Triage','handoffs':['Billing'],'tools':[],'output_type':'str'}}",
    "{'object':'trace.span','id':'span_fn','trace_id':'" F_TRACE "','parent_id':'" F_BILLING
    "','started_at':null,'ended_at':null,'error':{'message':'Error running tool','data':"
    "{'tool':'refund','error':'declined'}},'span_data':{'type':'function','name':'refund',"
    "'input':'{}','output':null}}",
    "{'object':'trace.span','id':'span_resp','trace_id':'" F_TRACE "','parent_id':'" F_BILLING
    "','started_at':null,'ended_at':null,'error':null,'span_data':{'type':'response',"
    "'response_id':'resp_5','input':[{'role':'user','content':'Refund please'},"
    "{'type':'function_call','call_id':'call_r','name':'refund','arguments':'{}'},"
    "{'type':'function_call_output','call_id':'call_r','output':'declined'}],"
    "'response':{'id':'resp_5','object':'response','model':'gpt-4.1-2025-04-14','status':"
    "'completed','instructions':'You do billing.','temperature':0.5,'top_p':null,"
    "'tools':[{'type':'web_search'},{'type':'function','name':'refund','description':'Refund',"
    "'parameters':{'type':'object'},'strict':true}],'output':[{'type':'reasoning','id':'rs'},"
    "{'type':'message','id':'m1','role':'assistant','content':[{'type':'output_text','text':"
    "'Sorry, it was declined.','annotations':[]}]}],'usage':{'input_tokens':200,"
    "'output_tokens':20,'total_tokens':220,'input_tokens_details':{'cached_tokens':100},"
    "'output_tokens_details':{'reasoning_tokens':12}}}}}",
    "{'object':'trace.span','id':'" F_BILLING "','trace_id':'" F_TRACE "','parent_id':null,"
    "'started_at':null,'ended_at':null,'error':null,'span_data':{'type':'agent','name':"
    "'Billing','handoffs':[],'tools':['refund'],'output_type':'str'}}",
};

static void run_batch(batch *b)
{
    memset(b, 0, sizeof *b);
    for (size_t i = 0; i < sizeof k_run / sizeof k_run[0]; i++) {
        char *j = dq(k_run[i]);
        batch_add(b, j);
        free(j);
    }
}

static void test_fidelity_run(void **state)
{
    (void)state;
    batch b;
    run_batch(&b);
    tb__otlp_options o = opts_for(TB__OTLP_CONV_GENAI | TB__OTLP_CONV_OPENINFERENCE |
                                  TB__OTLP_CONV_LANGFUSE | TB__OTLP_CONV_WANDB);
    tb__buf out;
    tb__otlp_stats stats;
    encode(&b, TB__OTLP_PROTOBUF, &o, &out, &stats);
    Tbotlp__ExportTraceServiceRequest *req = decode(&out);

    /* Chat Completions: tokens from output[0].usage, finish reason, and a
     * message list (with the tool call) for Langfuse, not the raw object */
    const Tbotlp__Span *s = span_by_sdk_id(req, "span_gen-1");
    expect_i(s, "llm.token_count.prompt", 121);
    expect_i(s, "llm.token_count.completion", 31);
    expect_i(s, "llm.token_count.total", 152);
    expect_i(s, "llm.token_count.prompt_details.cache_read", 64);
    expect_i(s, "llm.token_count.completion_details.reasoning", 8);
    expect_i(s, "gen_ai.usage.input_tokens", 121);
    expect_s(s, "llm.finish_reason", "tool_calls");
    /* asked for gpt-4o-mini (as the reference reports it); Langfuse prices
     * the model that answered */
    expect_s(s, "llm.model_name", "gpt-4o-mini");
    expect_s(s, "gen_ai.response.model", "gpt-4o-mini-2024-07-18");
    expect_s(s, "langfuse.observation.model.name", "gpt-4o-mini-2024-07-18");
    cJSON *ud = attr_json(s, "langfuse.observation.usage_details");
    assert_int_equal(cJSON_GetObjectItem(ud, "input")->valueint, 121 - 64);
    assert_int_equal(cJSON_GetObjectItem(ud, "input_cached_tokens")->valueint, 64);
    assert_int_equal(cJSON_GetObjectItem(ud, "output")->valueint, 31 - 8);
    cJSON_Delete(ud);
    cJSON *lo = attr_json(s, "langfuse.observation.output");
    cJSON *m0 = cJSON_GetArrayItem(lo, 0);
    assert_string_equal(cJSON_GetObjectItem(m0, "role")->valuestring, "assistant");
    cJSON *fn0 = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(m0, "tool_calls"), 0),
                                     "function");
    assert_string_equal(cJSON_GetObjectItem(fn0, "name")->valuestring, "transfer_to_billing");
    assert_null(cJSON_GetObjectItem(m0, "choices"));
    cJSON_Delete(lo);

    /* Responses: everything from the captured response and input */
    s = span_by_sdk_id(req, "span_resp");
    expect_s(s, "llm.model_name", "gpt-4.1-2025-04-14");
    expect_s(s, "langfuse.observation.model.name", "gpt-4.1-2025-04-14");
    expect_s(s, "gen_ai.response.model", "gpt-4.1-2025-04-14");
    expect_i(s, "llm.token_count.prompt", 200);
    expect_i(s, "llm.token_count.completion", 20);
    expect_i(s, "llm.token_count.total", 220);
    expect_i(s, "llm.token_count.prompt_details.cache_read", 100);
    expect_i(s, "llm.token_count.completion_details.reasoning", 12);
    expect_s(s, "llm.finish_reason", "stop");
    cJSON *ip = attr_json(s, "llm.invocation_parameters");
    assert_non_null(cJSON_GetObjectItem(ip, "temperature"));
    assert_null(cJSON_GetObjectItem(ip, "top_p"));  /* null: left out */
    assert_null(cJSON_GetObjectItem(ip, "output")); /* not a parameter */
    assert_null(cJSON_GetObjectItem(ip, "usage"));
    cJSON_Delete(ip);
    expect_none(s, "llm.tools.0.tool.json_schema"); /* a hosted tool keeps its place */
    cJSON *tool = attr_json(s, "llm.tools.1.tool.json_schema");
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(tool, "function"), "name")->valuestring, "refund");
    cJSON_Delete(tool);
    expect_s(s, "llm.input_messages.0.message.role", "system");
    expect_s(s, "llm.input_messages.0.message.content", "You do billing.");
    expect_s(s, "llm.input_messages.1.message.content", "Refund please");
    expect_s(s, "llm.input_messages.2.message.tool_calls.0.tool_call.function.name", "refund");
    expect_s(s, "llm.input_messages.3.message.role", "tool");
    expect_s(s, "llm.input_messages.3.message.tool_call_id", "call_r");
    expect_s(s, "llm.output_messages.0.message.role", "assistant");
    expect_s(s, "llm.output_messages.0.message.contents.0.message_content.text",
             "Sorry, it was declined.");
    cJSON *ov = attr_json(s, "output.value"); /* the response object, as the reference */
    assert_string_equal(cJSON_GetObjectItem(ov, "id")->valuestring, "resp_5");
    cJSON_Delete(ov);
    lo = attr_json(s, "langfuse.observation.output");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(lo, 0), "content")->valuestring,
                        "Sorry, it was declined.");
    cJSON_Delete(lo);
    cJSON *li = attr_json(s, "langfuse.observation.input");
    assert_int_equal(cJSON_GetArraySize(li), 4);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(li, 3), "tool_call_id")->valuestring,
                        "call_r");
    cJSON_Delete(li);

    /* agents: the graph, and I/O lifted from their model calls */
    s = span_by_sdk_id(req, F_TRIAGE);
    expect_s(s, "graph.node.id", "Triage");
    expect_none(s, "graph.node.parent_id");
    assert_non_null(strstr(attr_s(s, "input.value"), "Refund please"));
    s = span_by_sdk_id(req, F_BILLING);
    expect_s(s, "graph.node.id", "Billing");
    expect_s(s, "graph.node.parent_id", "Triage");
    expect_s(s, "output.value", "Sorry, it was declined.");
    /* the run's input and final answer, for Langfuse's trace */
    assert_non_null(strstr(attr_s(s, "langfuse.trace.input"), "Route."));
    expect_s(s, "langfuse.trace.output", "Sorry, it was declined.");
    /* Weave threads: every span names the thread, a root is a turn */
    expect_s(s, "wandb.thread_id", "conv_7");
    const Tbotlp__AnyValue *turn = attr(s, "wandb.is_turn");
    assert_non_null(turn);
    assert_true(turn->bool_value);
    expect_s(span_by_sdk_id(req, "span_resp"), "wandb.thread_id", "conv_7");
    expect_none(span_by_sdk_id(req, "span_resp"), "wandb.is_turn");

    /* error data in the status (Langfuse's statusMessage), OK otherwise */
    s = span_by_sdk_id(req, "span_fn");
    assert_string_equal(s->status->message,
                        "Error running tool: {\"tool\":\"refund\",\"error\":\"declined\"}");
    assert_int_equal(span_by_sdk_id(req, "span_gen-1")->status->code,
                     TBOTLP__STATUS__STATUS_CODE__STATUS_CODE_OK);

    /* an MCP listing is not a call to a tool named after the server */
    s = span_by_sdk_id(req, "span_mcp");
    expect_none(s, "gen_ai.tool.name");
    expect_none(s, "tool.name");

    /* caller ids: the trace id is hashed deterministically */
    uint8_t tid[16];
    tb__otlp_trace_id(F_TRACE, tid);
    assert_memory_equal(s->trace_id.data, tid, 16);

    tbotlp__export_trace_service_request__free_unpacked(req, NULL);
    tb__buf_free(&out);
    batch_free(&b);
}

/* Every allocation of an encode fails in turn: TB_NOMEM, no crash, no
 * leak (run under ASan). The fixture, then the message shapes. */
static void alloc_failures(const batch *b)
{
    tb__otlp_options o =
        opts_for(TB__OTLP_CONV_GENAI | TB__OTLP_CONV_OPENINFERENCE | TB__OTLP_CONV_LANGFUSE);
    for (int fmt = 0; fmt < 2; fmt++) {
        bool done = false;
        for (long k = 0; k < 100000 && !done; k++) {
            tb__buf out;
            memset(&out, 0, sizeof out);
            char err[128];
            tb__alloc_fail_after(k);
            tb_status st = tb__otlp_encode(&out, b->rec, b->n, (tb__otlp_format)fmt, &o, NULL, NULL,
                                           err, sizeof err);
            tb__alloc_fail_after(-1);
            if (st == TB_OK)
                done = true;
            else
                assert_int_equal(st, TB_NOMEM);
            tb__buf_free(&out);
        }
        assert_true(done);
    }
}

static void test_alloc_failures(void **state)
{
    (void)state;
    batch b;
    full_batch(&b, false);
    alloc_failures(&b);
    batch_free(&b);
    shapes_batch(&b);
    alloc_failures(&b);
    batch_free(&b);
    run_batch(&b);
    alloc_failures(&b);
    batch_free(&b);
}

/* OpenInference `metadata`: the trace's metadata with the span's own keys
 * added, a key once (the trace's value wins; of a key the span has twice,
 * the first), as cJSON prints the merged object: the exact text. Without
 * span metadata, the trace's as it is; with neither, none. */
static void test_metadata_merge(void **state)
{
    (void)state;
    static const char *trace =
        "{\"object\":\"trace\",\"id\":\"" T1 "\",\"workflow_name\":\"w\","
        "\"group_id\":null,\"metadata\":{\"a\":1,\"b\":\"x\\u00e9\",\"a\":2}}";
    static const char *with_own =
        "{\"object\":\"trace.span\",\"id\":\"span_" ID_TASK "\",\"trace_id\":\"" T1
        "\",\"parent_id\":null,\"started_at\":\"" START "\",\"ended_at\":\"" END
        "\",\"span_data\":{\"type\":\"custom\",\"name\":\"t\",\"data\":{}},\"error\":null,"
        "\"metadata\":{\"b\":2,\"c\":[1,{\"k\":true}],\"c\":3,\"d\":null,\"e\":1.5}}";
    static const char *without =
        SPAN(ID_AGENT, T1, P(ID_TASK), "{\"type\":\"agent\",\"name\":\"A\"}");
    /* a second span without metadata of its own: the trace-level attributes
     * kept from the first one (conventions.h tb__otlp_trace_attrs) */
    static const char *without_too =
        SPAN(ID_TURN, T1, P(ID_AGENT), "{\"type\":\"custom\",\"name\":\"u\",\"data\":{}}");
    /* another trace, other metadata: nothing of the first trace's */
    static const char *trace2 = "{\"object\":\"trace\",\"id\":\"" T2 "\",\"workflow_name\":\"w2\","
                                "\"group_id\":\"g2\",\"metadata\":{\"z\":0}}";
    static const char *other = SPAN(ID_GEN, T2, "null", "{\"type\":\"agent\",\"name\":\"B\"}");
    static const char *other_too =
        SPAN(ID_FUNC, T2, P(ID_GEN), "{\"type\":\"custom\",\"name\":\"v\",\"data\":{}}");
    batch b;
    memset(&b, 0, sizeof b);
    batch_add(&b, trace);
    batch_add(&b, with_own);
    batch_add(&b, without);
    batch_add(&b, trace2);
    batch_add(&b, other);
    batch_add(&b, without_too);
    batch_add(&b, other_too);
    tb__otlp_options o = opts_for(TB__OTLP_CONV_OPENINFERENCE | TB__OTLP_CONV_GENAI);
    tb__buf out;
    encode(&b, TB__OTLP_PROTOBUF, &o, &out, NULL);
    Tbotlp__ExportTraceServiceRequest *req = decode(&out);
    expect_s(span_of(req, ID_TASK), "metadata",
             "{\"a\":1,\"b\":\"x\u00e9\",\"a\":2,\"c\":[1,{\"k\":true}],\"d\":null,\"e\":1.5}");
    expect_s(span_of(req, ID_AGENT), "metadata", "{\"a\":1,\"b\":\"x\u00e9\",\"a\":2}");
    expect_s(span_of(req, ID_TURN), "metadata", "{\"a\":1,\"b\":\"x\u00e9\",\"a\":2}");
    expect_s(span_of(req, ID_TURN), "tracebox.trace.workflow_name", "w");
    expect_none(span_of(req, ID_TURN), "session.id"); /* group_id null */
    for (int k = 0; k < 2; k++) {
        const Tbotlp__Span *s2 = span_of(req, k ? ID_FUNC : ID_GEN);
        expect_s(s2, "metadata", "{\"z\":0}");
        expect_s(s2, "tracebox.trace.workflow_name", "w2");
        expect_s(s2, "session.id", "g2");
        expect_s(s2, "gen_ai.conversation.id", "g2");
    }
    tbotlp__export_trace_service_request__free_unpacked(req, NULL);
    tb__buf_free(&out);
    batch_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_protobuf_shape),
        cmocka_unit_test(test_protobuf_bytes_match_protobuf_c),
        cmocka_unit_test(test_hand_packed_span_matches_protobuf_c),
        cmocka_unit_test(test_conventions_per_type),
        cmocka_unit_test(test_conventions_selected),
        cmocka_unit_test(test_json_shape),
        cmocka_unit_test(test_message_shapes),
        cmocka_unit_test(test_fidelity_run),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_bad_and_empty),
        cmocka_unit_test(test_trace_cache),
        cmocka_unit_test(test_response),
        cmocka_unit_test(test_traces_url),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_metadata_merge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
