/*
 * otlp/trace_cache.c — trace records remembered across batches (declared,
 * and its contract described, in otlp/encode.h).
 *
 * Design. A ring of `capacity` (id, body) copies, searched linearly (the
 * exporters keep a small one). A trace seen again gets its new body in
 * place; a new one overwrites the oldest slot. Bodies over 16 KiB are not
 * kept, so the memory held stays bounded. Being a cache, it may forget:
 * an allocation failure drops the record. A lookup it cannot answer goes
 * on to the outbox, through the send's host (exporters/otlp.c).
 */
#include "otlp/encode.h"
#include "otlp/ids.h"

#include <string.h>

#define CACHE_MAX_BODY ((size_t)16 * 1024)

typedef struct cache_entry {
    char *id;
    char *body;
    uint64_t hash; /* of id: compared before it */
} cache_entry;

struct tb__otlp_trace_cache {
    cache_entry *e;
    size_t cap, next; /* ring: next slot to overwrite */
};

tb__otlp_trace_cache *tb__otlp_trace_cache_new(size_t capacity)
{
    tb__otlp_trace_cache *c = tb__calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->cap = capacity ? capacity : 1;
    c->e = tb__calloc(c->cap, sizeof *c->e);
    if (!c->e) {
        tb__free_mem(c);
        return NULL;
    }
    return c;
}

void tb__otlp_trace_cache_free(tb__otlp_trace_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->cap; i++) {
        tb__free_mem(c->e[i].id);
        tb__free_mem(c->e[i].body);
    }
    tb__free_mem(c->e);
    tb__free_mem(c);
}

void tb__otlp_trace_cache_put(tb__otlp_trace_cache *c, const tb_record *records, size_t n)
{
    if (!c)
        return;
    for (size_t i = 0; i < n; i++) {
        const tb_record *r = &records[i];
        if (!r->kind || strcmp(r->kind, "trace") != 0 || !r->trace_id || !r->body ||
            r->body_len > CACHE_MAX_BODY)
            continue;
        uint64_t h = tb__otlp_id_hash(r->trace_id);
        cache_entry *slot = NULL;
        for (size_t k = 0; k < c->cap && !slot; k++)
            if (c->e[k].id && c->e[k].hash == h && strcmp(c->e[k].id, r->trace_id) == 0)
                slot = &c->e[k];
        char *body = tb__strndup(r->body, r->body_len);
        if (!body)
            continue; /* a cache: forgetting is allowed */
        if (slot) {
            tb__free_mem(slot->body);
            slot->body = body;
            continue;
        }
        char *id = tb__strdup(r->trace_id);
        if (!id) {
            tb__free_mem(body);
            continue;
        }
        slot = &c->e[c->next];
        c->next = (c->next + 1) % c->cap;
        tb__free_mem(slot->id);
        tb__free_mem(slot->body);
        slot->id = id;
        slot->body = body;
        slot->hash = h;
    }
}

char *tb__otlp_trace_cache_get(tb__otlp_trace_cache *c, const char *sdk_trace_id)
{
    if (!c || !sdk_trace_id)
        return NULL;
    uint64_t h = tb__otlp_id_hash(sdk_trace_id);
    for (size_t k = 0; k < c->cap; k++)
        if (c->e[k].id && c->e[k].hash == h && strcmp(c->e[k].id, sdk_trace_id) == 0)
            return tb__strdup(c->e[k].body);
    return NULL;
}
