/*
 * fuzz_otlp_in.c — libFuzzer target for what `tracebox serve` receives:
 * an OTLP request body decoded into outbox records (otlp/ingest.c, with
 * json_in.c for OTLP/JSON), and those records sent on (otlp/encode.c).
 *
 * The first byte picks the wire format (even: protobuf, odd: OTLP/JSON)
 * and whether inputs and outputs are redacted; the rest is the body.
 * Whatever the bytes, decoding must not crash, leak or recurse without
 * bound, and a refusal must be one line. For every record it makes: the
 * stored body parses as JSON, reads back into a span, and the records
 * re-encode (protobuf) into a request that protobuf-c decodes, holding one
 * span per record with the record's trace and span id and times.
 * Build and run: tests/fuzz/run.sh [SECONDS] otlp_in.
 */
#include "otlp/encode.h"
#include "otlp/ingest.h"
#include "trace.pb-c.h"

#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void hex(ProtobufCBinaryData d, char *out)
{
    for (size_t i = 0; i < d.len; i++)
        sprintf(out + 2 * i, "%02x", d.data[i]);
    out[2 * d.len] = '\0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    tb_otlp_format fmt = data[0] & 1 ? TB_OTLP_JSON : TB_OTLP_PROTOBUF;
    bool redact = (data[0] & 2) != 0;
    tb__otlp_decoded d;
    tb_otlp_result res;
    tb_status st = tb__otlp_ingest_decode(data + 1, size - 1, fmt, redact, &d, &res);
    if (st != TB_OK) {
        assert(st == TB_BAD_RECORD || st == TB_NOMEM);
        assert(strchr(tb_last_error(), '\n') == NULL);
        assert(d.n == 0);
        return 0;
    }
    assert(res.message[0] == '\0' || strchr(res.message, '\n') == NULL);
    assert((int64_t)d.n + res.rejected + res.failed == res.spans);
    if (d.n == 0) {
        tb__otlp_decoded_free(&d);
        return 0;
    }
    tb_record *views = calloc(d.n, sizeof *views);
    assert(views);
    for (size_t i = 0; i < d.n; i++) {
        const tb__record *r = &d.recs[i];
        assert(r->is_otlp && strlen(r->trace_id) == 32 && strlen(r->span_id) == 16);
        cJSON *body = cJSON_ParseWithLength(d.bodies[i], d.lens[i]);
        assert(body && cJSON_IsObject(body));
        cJSON_Delete(body);
        views[i] = (tb_record){.seq = (int64_t)i + 1,
                               .kind = "otlp",
                               .trace_id = r->trace_id,
                               .span_id = r->span_id,
                               .parent_id = r->parent_id,
                               .type = r->type,
                               .name = r->name,
                               .started_at = r->started_at,
                               .ended_at = r->ended_at,
                               .body = d.bodies[i],
                               .body_len = d.lens[i]};
    }
    tb__buf out = {0};
    tb__otlp_options o = {0};
    tb__otlp_stats stats;
    unsigned char *bad = calloc(d.n, 1);
    char err[256];
    assert(bad);
    st = tb__otlp_encode(&out, views, d.n, TB__OTLP_PROTOBUF, &o, bad, &stats, err, sizeof err);
    assert(st == TB_OK);
    for (size_t i = 0; i < d.n; i++)
        assert(!bad[i]); /* every stored body reads back */
    assert(stats.spans == d.n);
    Tbotlp__ExportTraceServiceRequest *req =
        tbotlp__export_trace_service_request__unpack(NULL, out.len, (const uint8_t *)out.data);
    assert(req);
    size_t seen = 0;
    for (size_t i = 0; i < req->n_resource_spans; i++)
        for (size_t j = 0; j < req->resource_spans[i]->n_scope_spans; j++)
            for (size_t k = 0; k < req->resource_spans[i]->scope_spans[j]->n_spans; k++) {
                const Tbotlp__Span *s = req->resource_spans[i]->scope_spans[j]->spans[k];
                char t[40], sp[20];
                hex(s->trace_id, t);
                hex(s->span_id, sp);
                bool found = false;
                for (size_t q = 0; q < d.n && !found; q++)
                    found =
                        strcmp(d.recs[q].trace_id, t) == 0 && strcmp(d.recs[q].span_id, sp) == 0;
                assert(found);
                seen++;
            }
    assert(seen == d.n);
    tbotlp__export_trace_service_request__free_unpacked(req, NULL);
    tb__buf_free(&out);
    free(bad);
    free(views);
    tb__otlp_decoded_free(&d);
    return 0;
}
