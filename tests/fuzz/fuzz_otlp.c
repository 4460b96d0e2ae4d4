/*
 * fuzz_otlp.c — libFuzzer target for the OTLP encoder (src/otlp/).
 *
 * The input is decoded as an SDK record (tb__record_decode: the encoder only
 * ever sees records that passed it); a valid span is encoded together with
 * a fixed trace record, in both formats and with every convention, and the
 * output must round-trip: the protobuf decodes with protobuf-c as an
 * ExportTraceServiceRequest holding exactly the spans the encoder counted,
 * packs back with protobuf-c to the very same bytes (the span is packed by
 * hand, otlp/pack.c), and the JSON parses. Bytes that are not a record are fed to
 * tb__otlp_parse_response() instead (a server's answer: must not crash,
 * message one line).
 * Build and run: tests/fuzz/run.sh [SECONDS].
 */
#include "otlp/encode.h"
#include "record.h"
#include "trace.pb-c.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char TRACE[] =
    "{\"object\":\"trace\",\"id\":\"trace_0123456789abcdef0123456789abcdef\","
    "\"workflow_name\":\"fuzz\",\"group_id\":\"g\",\"metadata\":{\"k\":\"v\"}}";

static tb_record view(const tb__record *r, int64_t seq, const char *body, size_t len)
{
    tb_record v;
    memset(&v, 0, sizeof v);
    v.seq = seq;
    v.kind = r->is_trace ? "trace" : "span";
    v.trace_id = r->trace_id;
    v.span_id = r->span_id;
    v.parent_id = r->parent_id;
    v.type = r->type;
    v.name = r->name;
    v.started_at = r->started_at;
    v.ended_at = r->ended_at;
    v.body = body;
    v.body_len = len;
    return v;
}

static size_t count_spans(const Tbotlp__ExportTraceServiceRequest *req)
{
    size_t n = 0;
    for (size_t i = 0; i < req->n_resource_spans; i++)
        for (size_t k = 0; k < req->resource_spans[i]->n_scope_spans; k++)
            n += req->resource_spans[i]->scope_spans[k]->n_spans;
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    tb__record rec, tr;
    if (tb__record_decode(&rec, (const char *)data, size, err, sizeof err) != TB_OK) {
        int64_t rejected = 0;
        char msg[300];
        (void)tb__otlp_parse_response(size && (data[0] & 1) ? TB__OTLP_JSON : TB__OTLP_PROTOBUF,
                                      (const char *)data, size, &rejected, msg, sizeof msg);
        assert(memchr(msg, '\0', sizeof msg) != NULL);
        return 0;
    }
    int ok = tb__record_decode(&tr, TRACE, sizeof TRACE - 1, err, sizeof err) == TB_OK;
    assert(ok);
    tb_record batch[2];
    batch[0] = view(&tr, 1, TRACE, sizeof TRACE - 1);
    batch[1] = view(&rec, 2, (const char *)data, size);
    static const tb__otlp_kv res[] = {{"service.namespace", "fuzz"}};
    for (int fmt = 0; fmt < 2; fmt++) {
        tb__otlp_options o;
        memset(&o, 0, sizeof o);
        o.conventions = TB__OTLP_CONV_GENAI | TB__OTLP_CONV_OPENINFERENCE | TB__OTLP_CONV_LANGFUSE;
        o.resource_attrs = res;
        o.n_resource_attrs = 1;
        tb__buf out = {0};
        unsigned char bad[2] = {0, 0};
        tb__otlp_stats stats;
        memset(&stats, 0, sizeof stats);
        tb_status st =
            tb__otlp_encode(&out, batch, 2, (tb__otlp_format)fmt, &o, bad, &stats, err, sizeof err);
        assert(st == TB_OK || st == TB_NOMEM);
        if (st == TB_OK && !out.failed) {
            assert(stats.spans == (rec.is_trace ? 0u : 1u) || bad[1]);
            if (fmt == TB__OTLP_PROTOBUF) {
                Tbotlp__ExportTraceServiceRequest *req =
                    tbotlp__export_trace_service_request__unpack(NULL, out.len,
                                                                 (const uint8_t *)out.data);
                assert(req != NULL);
                assert(count_spans(req) == stats.spans);
                /* the hand-packed bytes (pack.c) are protobuf-c's own */
                size_t n = tbotlp__export_trace_service_request__get_packed_size(req);
                uint8_t *again = malloc(n ? n : 1);
                assert(again != NULL);
                assert(tbotlp__export_trace_service_request__pack(req, again) == n);
                assert(n == out.len && memcmp(again, out.data, n) == 0);
                free(again);
                tbotlp__export_trace_service_request__free_unpacked(req, NULL);
            } else {
                cJSON *j = cJSON_ParseWithLength(out.data, out.len);
                assert(j != NULL);
                cJSON_Delete(j);
            }
        }
        tb__buf_free(&out);
    }
    tb__record_clear(&tr);
    tb__record_clear(&rec);
    return 0;
}
