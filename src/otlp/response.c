/*
 * otlp/response.c — reading an ExportTraceServiceResponse (declared in
 * otlp/encode.h).
 *
 * Design. All a sender needs from a 2xx answer is partial_success: how
 * many spans were rejected and why. The body is decoded as binary
 * protobuf when that is what was sent, else (or when it does not decode:
 * some servers answer a protobuf request with JSON) as OTLP/JSON, where
 * both the lowerCamelCase and the proto field names are accepted and a
 * 64-bit count may be a number or a decimal string. The message is cut
 * to one line: it goes into logs and error strings.
 */
#include "otlp/encode.h"

#include "trace.pb-c.h"

#include <stdio.h>
#include <stdlib.h>

static void *pb_alloc(void *data, size_t size)
{
    (void)data;
    return tb__malloc(size);
}

static void pb_free(void *data, void *p)
{
    (void)data;
    tb__free_mem(p);
}

static void copy_line(char *dst, size_t size, const char *src)
{
    if (!size)
        return;
    snprintf(dst, size, "%s", src ? src : "");
    for (char *p = dst; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
}

static bool json_response(const char *body, size_t len, int64_t *rejected, char *msg,
                          size_t msg_size)
{
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return false;
    }
    const cJSON *ps = cJSON_GetObjectItemCaseSensitive(root, "partialSuccess");
    if (!ps)
        ps = cJSON_GetObjectItemCaseSensitive(root, "partial_success");
    if (cJSON_IsObject(ps)) {
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(ps, "rejectedSpans");
        if (!r)
            r = cJSON_GetObjectItemCaseSensitive(ps, "rejected_spans");
        if (cJSON_IsNumber(r) && r->valuedouble > 0)
            *rejected = r->valuedouble >= 9.2e18 ? INT64_MAX : (int64_t)r->valuedouble;
        else if (cJSON_IsString(r)) {
            char *end = NULL;
            long long v = strtoll(r->valuestring, &end, 10);
            if (end && end != r->valuestring && *end == '\0' && v > 0)
                *rejected = (int64_t)v;
        }
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(ps, "errorMessage");
        if (!m)
            m = cJSON_GetObjectItemCaseSensitive(ps, "error_message");
        if (cJSON_IsString(m))
            copy_line(msg, msg_size, m->valuestring);
    }
    cJSON_Delete(root);
    return true;
}

bool tb__otlp_parse_response(tb__otlp_format fmt, const char *body, size_t len, int64_t *rejected,
                             char *msg, size_t msg_size)
{
    tb__json_init();
    *rejected = 0;
    if (msg_size)
        msg[0] = '\0';
    if (!body || len == 0)
        return true;
    if (fmt == TB__OTLP_PROTOBUF) {
        ProtobufCAllocator alloc = {pb_alloc, pb_free, NULL};
        Tbotlp__ExportTraceServiceResponse *r =
            tbotlp__export_trace_service_response__unpack(&alloc, len, (const uint8_t *)body);
        if (r) {
            if (r->partial_success) {
                if (r->partial_success->rejected_spans > 0)
                    *rejected = r->partial_success->rejected_spans;
                if (r->partial_success->error_message) {
                    /* a string field is UTF-8 by contract; keep it one line */
                    copy_line(msg, msg_size, r->partial_success->error_message);
                }
            }
            tbotlp__export_trace_service_response__free_unpacked(r, &alloc);
            return true;
        }
    }
    return json_response(body, len, rejected, msg, msg_size);
}
