/*
 * fuzz_record.c — libFuzzer target for the record decoder (src/record.c):
 * tb__record_decode() on arbitrary bytes. It must never crash, leak or read
 * out of bounds; on success the pulled-out columns must be consistent and
 * cJSON (the parser the codec used before its scanner, json_scan.c) must
 * parse the same text and read the same id and trace_id: the scanner never
 * accepts what a tree parser refuses; on failure the message must be a
 * NUL-terminated line.
 * Build and run: tests/fuzz/run.sh [SECONDS].
 */
#include "record.h"

#include <assert.h>
#include <cjson/cJSON.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tb__record rec;
    char err[512];
    memset(err, 'x', sizeof err);
    tb_status st = tb__record_decode(&rec, (const char *)data, size, err, sizeof err);
    if (st == TB_OK) {
        assert(rec.id && rec.trace_id && rec.type && rec.name);
        assert(tb__valid_id(rec.trace_id));
        assert(rec.is_trace ? rec.span_id == NULL : tb__valid_id(rec.span_id));
        assert(strcmp(rec.id, rec.is_trace ? rec.trace_id : rec.span_id) == 0);
        cJSON *doc = cJSON_ParseWithLength((const char *)data, size);
        assert(doc && cJSON_IsObject(doc));
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(doc, "id");
        assert(cJSON_IsString(id) && strcmp(id->valuestring, rec.id) == 0);
        if (!rec.is_trace) {
            const cJSON *tid = cJSON_GetObjectItemCaseSensitive(doc, "trace_id");
            assert(cJSON_IsString(tid) && strcmp(tid->valuestring, rec.trace_id) == 0);
        }
        cJSON_Delete(doc);
        tb__record_clear(&rec);
    } else {
        assert(st == TB_BAD_RECORD || st == TB_NOMEM);
        assert(memchr(err, '\0', sizeof err) != NULL);
        assert(strchr(err, '\n') == NULL);
    }
    return 0;
}
