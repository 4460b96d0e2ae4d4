/*
 * fuzz_json_print.c — libFuzzer target for the library's JSON printer
 * (src/base/json_print.c): whatever cJSON parses from arbitrary bytes,
 * tb__json_print must write byte for byte what cJSON_PrintUnformatted
 * writes (control characters, escapes, numbers, nesting, empty containers),
 * and fail exactly where it fails. And tb__json_parse must accept exactly
 * what cJSON_ParseWithLength accepts, making trees that print the same,
 * inside a JSON pool (as the OTLP encoder calls it) and outside; and so
 * must tb__json_parse_insitu, on a copy it decodes in place (the same tree
 * but for its strings' and keys' ownership flags).
 * Build and run: tests/fuzz/run.sh [SECONDS] json_print.
 */
#include "json_print.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* In-situ trees carry ownership flags cJSON's do not. */
static int g_flags_ignored;

/* The same tree, field for field: types, ints, the bits of every double,
 * keys and strings, and the prev links cJSON's append relies on. */
static void same(const cJSON *a, const cJSON *b)
{
    assert((a->type & ~g_flags_ignored) == (b->type & ~g_flags_ignored) &&
           a->valueint == b->valueint);
    assert(memcmp(&a->valuedouble, &b->valuedouble, sizeof a->valuedouble) == 0);
    assert((a->string == NULL) == (b->string == NULL));
    assert(!a->string || strcmp(a->string, b->string) == 0);
    assert((a->valuestring == NULL) == (b->valuestring == NULL));
    assert(!a->valuestring || strcmp(a->valuestring, b->valuestring) == 0);
    const cJSON *x = a->child, *y = b->child;
    assert((x == NULL) == (y == NULL));
    if (x) {
        const cJSON *lx = x, *ly = y;
        for (; x && y; x = x->next, y = y->next) {
            same(x, y);
            lx = x;
            ly = y;
        }
        assert(x == NULL && y == NULL);
        assert((a->child->prev == lx) == (b->child->prev == ly));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *doc = cJSON_ParseWithLength((const char *)data, size);
    char *copy = malloc(size ? size : 1);
    assert(copy);
    if (size)
        memcpy(copy, data, size);
    if (!doc) {
        cJSON *mine = tb__json_parse((const char *)data, size);
        assert(mine == NULL);
        assert(tb__json_parse_insitu(copy, size) == NULL);
        free(copy);
        return 0;
    }
    char *want = cJSON_PrintUnformatted(doc);
    char *got = tb__json_print(doc);
    assert((want == NULL) == (got == NULL));
    if (want)
        assert(strcmp(want, got) == 0);
    for (int pooled = 0; pooled < 2; pooled++) {
        if (pooled)
            tb__json_pool_begin();
        cJSON *mine = tb__json_parse((const char *)data, size);
        assert(mine != NULL);
        char *again = tb__json_print(mine);
        assert((want == NULL) == (again == NULL));
        if (want)
            assert(strcmp(want, again) == 0);
        same(doc, mine);
        tb__free_mem(again);
        cJSON_Delete(mine);
        if (pooled)
            tb__json_pool_end();
    }
    /* in place: the tree points into copy, freed after it */
    for (int pooled = 0; pooled < 2; pooled++) {
        if (pooled)
            tb__json_pool_begin();
        if (size)
            memcpy(copy, data, size);
        cJSON *mine = tb__json_parse_insitu(copy, size);
        assert(mine != NULL);
        char *again = tb__json_print(mine);
        assert((want == NULL) == (again == NULL));
        if (want)
            assert(strcmp(want, again) == 0);
        g_flags_ignored = cJSON_IsReference | cJSON_StringIsConst;
        same(doc, mine);
        g_flags_ignored = 0;
        tb__free_mem(again);
        cJSON_Delete(mine);
        if (pooled)
            tb__json_pool_end();
    }
    free(copy);
    cJSON_free(want);
    tb__free_mem(got);
    cJSON_Delete(doc);
    return 0;
}
