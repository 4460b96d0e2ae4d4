/*
 * fuzz_record.c — libFuzzer target for the record decoder (src/record.c):
 * tb__record_decode() on arbitrary bytes. It must never crash, leak or read
 * out of bounds; on success the pulled-out columns must be consistent; on
 * failure the message must be a NUL-terminated line.
 * Build and run: tests/fuzz/run.sh [SECONDS].
 */
#include "record.h"

#include <assert.h>
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
        assert(rec.root && rec.id && rec.trace_id && rec.type);
        assert(tb__valid_id(rec.trace_id));
        assert(rec.is_trace ? rec.span_id == NULL : tb__valid_id(rec.span_id));
        assert(strcmp(rec.id, rec.is_trace ? rec.trace_id : rec.span_id) == 0);
        tb__record_clear(&rec);
    } else {
        assert(st == TB_BAD_RECORD || st == TB_NOMEM);
        assert(memchr(err, '\0', sizeof err) != NULL);
        assert(strchr(err, '\n') == NULL);
    }
    return 0;
}
