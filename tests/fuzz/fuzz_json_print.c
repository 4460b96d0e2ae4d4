/*
 * fuzz_json_print.c — libFuzzer target for the library's JSON printer
 * (src/base/json_print.c): whatever cJSON parses from arbitrary bytes,
 * tb__json_print must write byte for byte what cJSON_PrintUnformatted
 * writes (control characters, escapes, numbers, nesting, empty containers),
 * and fail exactly where it fails.
 * Build and run: tests/fuzz/run.sh [SECONDS] json_print.
 */
#include "json_print.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *doc = cJSON_ParseWithLength((const char *)data, size);
    if (!doc)
        return 0;
    char *want = cJSON_PrintUnformatted(doc);
    char *got = tb__json_print(doc);
    assert((want == NULL) == (got == NULL));
    if (want)
        assert(strcmp(want, got) == 0);
    cJSON_free(want);
    tb__free_mem(got);
    cJSON_Delete(doc);
    return 0;
}
