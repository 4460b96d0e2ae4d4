/*
 * exporters/openai_sanitize.c — what the `openai` destination changes in a
 * record before traces ingest sees it (openai_sanitize.h says what and
 * why).
 *
 * Design. The sanitizer works on a cJSON tree, in place. Sizes are what
 * cJSON_PrintUnformatted would write, computed without printing
 * (json_size()), so the budget is measured on the exact bytes that go out.
 * Truncating a container follows the SDK's loop — largest child first,
 * budget = limit − (container − child), remove it when it cannot shrink —
 * with the children's sizes cached and a max-heap to pick the largest, so
 * an array of 50 000 small numbers costs n log n, not n². A record that
 * fails the cheap checks is not parsed at all, and one that parsing shows
 * to be fine is not re-serialized: both go out byte for byte.
 *
 * Limitation inherited from cJSON: a record that is changed is re-printed
 * by cJSON, so integers beyond 2^53 lose precision and a string holding
 * \u0000 ends there. Records that need no change are unaffected.
 *
 * Pure functions of their input: no state, any thread.
 */
#include "openai_sanitize.h"
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

/* ================================================================== */
/* JSON sizes (what cJSON_PrintUnformatted writes)                    */

/* Bytes one string byte takes inside a JSON string, as cJSON escapes. */
static size_t escaped_len(unsigned char c)
{
    switch (c) {
    case '"':
    case '\\':
    case '\b':
    case '\f':
    case '\n':
    case '\r':
    case '\t':
        return 2;
    default:
        return c < 0x20 ? 6 : 1;
    }
}

static size_t string_size(const char *s)
{
    size_t n = 2;
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++)
        n += escaped_len(*p);
    return n;
}

static size_t number_size(cJSON *v)
{
    char buf[64];
    if (!cJSON_PrintPreallocated(v, buf, (int)sizeof buf, 0))
        return 24; /* cannot happen for a number; a safe over-estimate */
    return strlen(buf);
}

/* Bytes a member of an object/array adds before its value ("key":). */
static size_t member_overhead(const cJSON *parent, const cJSON *child)
{
    return cJSON_IsObject(parent) ? string_size(child->string) + 1 : 0;
}

static size_t json_size(cJSON *v)
{
    if (cJSON_IsString(v))
        return string_size(v->valuestring);
    if (cJSON_IsNumber(v))
        return number_size(v);
    if (cJSON_IsTrue(v) || cJSON_IsNull(v))
        return 4;
    if (cJSON_IsFalse(v))
        return 5;
    if (cJSON_IsRaw(v))
        return v->valuestring ? strlen(v->valuestring) : 0;
    if (cJSON_IsArray(v) || cJSON_IsObject(v)) {
        size_t n = 2, count = 0;
        for (cJSON *c = v->child; c; c = c->next, count++)
            n += member_overhead(v, c) + json_size(c);
        return n + (count ? count - 1 : 0);
    }
    return 0;
}

/* ================================================================== */
/* truncation                                                          */

/* Put `repl` where `old` is in `parent`, keeping the member's key. */
static void replace_node(cJSON *parent, cJSON *old, cJSON *repl)
{
    if (old->string) {
        repl->string = old->string;
        repl->type |= old->type & cJSON_StringIsConst;
        old->string = NULL;
        old->type &= ~cJSON_StringIsConst;
    }
    cJSON_ReplaceItemViaPointer(parent, old, repl);
}

/* Replace a string node's text (allocated through cJSON's hooks, which are
 * tb__malloc & co.). */
static int set_string(cJSON *v, const char *s, size_t n)
{
    char *copy = cJSON_malloc(n + 1);
    if (!copy)
        return TB__OPENAI_NOMEM;
    memcpy(copy, s, n);
    copy[n] = '\0';
    if (!(v->type & cJSON_IsReference))
        cJSON_free(v->valuestring);
    v->valuestring = copy;
    v->type &= ~cJSON_IsReference;
    return TB__OPENAI_CHANGED;
}

/* Length of the UTF-8 character starting at s (1 for a stray byte): never
 * more than the continuation bytes actually present. */
static size_t utf8_char_len(const unsigned char *s)
{
    size_t want = 1;
    if (s[0] >= 0xF0 && s[0] <= 0xF7)
        want = 4;
    else if (s[0] >= 0xE0)
        want = s[0] <= 0xEF ? 3 : 1;
    else if (s[0] >= 0xC0)
        want = 2;
    size_t n = 1;
    while (n < want && (s[n] & 0xC0) == 0x80)
        n++;
    return n == want ? n : 1;
}

/* A string that does not fit: its longest prefix that fits, cut between
 * characters, plus the suffix; "" when even the suffix does not fit. */
static int fit_string(cJSON *v, size_t max, size_t *size_out)
{
    static const char suffix[] = TB__OPENAI_TRUNCATION_SUFFIX;
    const size_t suffix_len = sizeof suffix - 1;
    const size_t suffix_size = suffix_len + 2; /* no escapes in it */
    const char *s = v->valuestring ? v->valuestring : "";
    if (suffix_size > max) {
        *size_out = 2;
        if (!s[0])
            return TB__OPENAI_UNCHANGED;
        return set_string(v, "", 0);
    }
    size_t budget = max - suffix_size, used = 0, cut = 0;
    const unsigned char *u = (const unsigned char *)s;
    while (u[cut]) {
        size_t clen = utf8_char_len(u + cut);
        size_t cost = clen == 1 ? escaped_len(u[cut]) : clen;
        if (used + cost > budget)
            break;
        used += cost;
        cut += clen;
    }
    char *text = tb__malloc(cut + suffix_len + 1);
    if (!text)
        return TB__OPENAI_NOMEM;
    memcpy(text, s, cut);
    memcpy(text + cut, suffix, suffix_len + 1);
    int rc = set_string(v, text, cut + suffix_len);
    tb__free_mem(text);
    *size_out = used + suffix_size;
    return rc;
}

static const char *scalar_type_name(const cJSON *v)
{
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        return isfinite(d) && d == floor(d) && fabs(d) < 9007199254740992.0 ? "int" : "float";
    }
    if (cJSON_IsBool(v))
        return "bool";
    if (cJSON_IsNull(v))
        return "NoneType";
    return "object";
}

/* Anything but a string or a container: the SDK's preview object, when it
 * fits. */
static int fit_scalar(cJSON *parent, cJSON **vp, size_t max, size_t *size_out)
{
    const char *type = scalar_type_name(*vp);
    /* {"truncated":true,"original_type":"T","preview":"<T truncated>"} */
    if (62 + 2 * strlen(type) > max)
        return TB__OPENAI_UNCHANGED; /* the usual case: do not build it */
    char preview[64];
    snprintf(preview, sizeof preview, "<%s truncated>", type);
    cJSON *p = cJSON_CreateObject();
    if (!p || !cJSON_AddTrueToObject(p, "truncated") ||
        !cJSON_AddStringToObject(p, "original_type", type) ||
        !cJSON_AddStringToObject(p, "preview", preview)) {
        cJSON_Delete(p);
        return TB__OPENAI_NOMEM;
    }
    size_t psize = json_size(p);
    if (psize > max) {
        cJSON_Delete(p);
        return TB__OPENAI_UNCHANGED;
    }
    replace_node(parent, *vp, p);
    *vp = p;
    *size_out = psize;
    return TB__OPENAI_CHANGED;
}

static int fit_value(cJSON *parent, cJSON **vp, size_t size, size_t max, size_t *size_out);

/* ---- a max-heap of child indices: larger size first, then lower index
 * (the SDK's max() keeps the first of equal children) ---- */
typedef struct heap {
    size_t *idx;
    size_t n;
    const size_t *sizes;
} heap;

static bool heap_before(const heap *h, size_t a, size_t b)
{
    return h->sizes[a] > h->sizes[b] || (h->sizes[a] == h->sizes[b] && a < b);
}

static void heap_push(heap *h, size_t i)
{
    size_t k = h->n++;
    h->idx[k] = i;
    while (k > 0) {
        size_t up = (k - 1) / 2;
        if (!heap_before(h, h->idx[k], h->idx[up]))
            break;
        size_t t = h->idx[k];
        h->idx[k] = h->idx[up];
        h->idx[up] = t;
        k = up;
    }
}

static size_t heap_pop(heap *h)
{
    size_t top = h->idx[0];
    h->idx[0] = h->idx[--h->n];
    size_t k = 0;
    for (;;) {
        size_t l = 2 * k + 1, r = l + 1, best = k;
        if (l < h->n && heap_before(h, h->idx[l], h->idx[best]))
            best = l;
        if (r < h->n && heap_before(h, h->idx[r], h->idx[best]))
            best = r;
        if (best == k)
            break;
        size_t t = h->idx[k];
        h->idx[k] = h->idx[best];
        h->idx[best] = t;
        k = best;
    }
    return top;
}

/* An object or array that does not fit: truncate its largest child to the
 * budget the others leave, or remove it when it cannot shrink; repeat. */
static int fit_container(cJSON *v, size_t max, size_t *size_out)
{
    size_t n = 0;
    for (cJSON *c = v->child; c; c = c->next)
        n++;
    if (n == 0) { /* {} or [] and still too big: cannot shrink */
        *size_out = 2;
        return TB__OPENAI_UNCHANGED;
    }
    int rc = TB__OPENAI_NOMEM;
    cJSON **nodes = tb__malloc(n * sizeof *nodes);
    size_t *sizes = tb__malloc(n * sizeof *sizes);
    size_t *over = tb__malloc(n * sizeof *over);
    heap h = {tb__malloc(n * sizeof(size_t)), 0, sizes};
    if (!nodes || !sizes || !over || !h.idx)
        goto cleanup;
    size_t sum = 0, i = 0;
    for (cJSON *c = v->child; c; c = c->next, i++) {
        nodes[i] = c;
        sizes[i] = json_size(c);
        over[i] = member_overhead(v, c);
        sum += over[i] + sizes[i];
    }
    for (i = 0; i < n; i++)
        heap_push(&h, i);
    size_t count = n;
#define CURRENT (2 + sum + (count ? count - 1 : 0))
    while (count > 0 && CURRENT > max) {
        size_t k = heap_pop(&h);
        size_t cur = CURRENT, child = sizes[k];
        size_t others = cur - child;
        size_t budget = max > others ? max - others : 0;
        size_t nsize = child;
        int r = fit_value(v, &nodes[k], child, budget, &nsize);
        if (r < 0)
            goto cleanup;
        if (r == TB__OPENAI_UNCHANGED) {
            sum -= over[k] + child;
            count--;
            cJSON_Delete(cJSON_DetachItemViaPointer(v, nodes[k]));
            nodes[k] = NULL;
        } else {
            sum = sum - child + nsize;
            sizes[k] = nsize;
            heap_push(&h, k);
        }
    }
    *size_out = CURRENT;
#undef CURRENT
    rc = TB__OPENAI_CHANGED; /* the loop ran at least once: n > 0, size > max */
cleanup:
    tb__free_mem(nodes);
    tb__free_mem(sizes);
    tb__free_mem(over);
    tb__free_mem(h.idx);
    return rc;
}

/* Make *vp (a child of parent, `size` bytes) fit in `max` bytes. Returns
 * TB__OPENAI_CHANGED (*vp may now be a replacement node; *size_out its
 * size), TB__OPENAI_UNCHANGED when it could not shrink, or NOMEM. */
static int fit_value(cJSON *parent, cJSON **vp, size_t size, size_t max, size_t *size_out)
{
    *size_out = size;
    if (size <= max)
        return TB__OPENAI_UNCHANGED;
    if (cJSON_IsString(*vp))
        return fit_string(*vp, max, size_out);
    if (cJSON_IsArray(*vp) || cJSON_IsObject(*vp))
        return fit_container(*vp, max, size_out);
    return fit_scalar(parent, vp, max, size_out);
}

/* ================================================================== */
/* usage and metadata                                                  */

static bool is_number(const cJSON *v)
{
    return cJSON_IsNumber(v) && isfinite(v->valuedouble);
}

/* Add `key: copy of v` to obj, replacing an earlier value of that key. */
static bool set_member(cJSON *obj, const char *key, const cJSON *v)
{
    cJSON *copy = cJSON_Duplicate(v, 1);
    if (!copy)
        return false;
    cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
    if (!cJSON_AddItemToObject(obj, key, copy)) {
        cJSON_Delete(copy);
        return false;
    }
    return true;
}

/* generation usage → {input_tokens, output_tokens, details:{…the rest}} */
static int fix_generation_usage(cJSON *span_data, bool *changed)
{
    cJSON *usage = cJSON_GetObjectItemCaseSensitive(span_data, "usage");
    if (!cJSON_IsObject(usage))
        return TB__OPENAI_UNCHANGED;
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(usage, "input_tokens");
    const cJSON *out = cJSON_GetObjectItemCaseSensitive(usage, "output_tokens");
    if (!is_number(in) || !is_number(out)) {
        cJSON_DeleteItemFromObjectCaseSensitive(span_data, "usage");
        *changed = true;
        return TB__OPENAI_CHANGED;
    }
    cJSON *nu = cJSON_CreateObject();
    cJSON *details = cJSON_CreateObject();
    if (!nu || !details || !set_member(nu, "input_tokens", in) ||
        !set_member(nu, "output_tokens", out))
        goto nomem;
    const cJSON *old = cJSON_GetObjectItemCaseSensitive(usage, "details");
    const cJSON *c;
    if (cJSON_IsObject(old)) {
        cJSON_ArrayForEach(c, old)
        {
            if (c->string && !set_member(details, c->string, c))
                goto nomem;
        }
    }
    cJSON_ArrayForEach(c, usage)
    {
        if (!c->string || cJSON_IsNull(c) || strcmp(c->string, "input_tokens") == 0 ||
            strcmp(c->string, "output_tokens") == 0 || strcmp(c->string, "details") == 0)
            continue;
        if (!set_member(details, c->string, c))
            goto nomem;
    }
    if (details->child) {
        if (!cJSON_AddItemToObject(nu, "details", details))
            goto nomem;
        details = NULL;
    }
    cJSON_Delete(details);
    if (cJSON_Compare(usage, nu, 1)) {
        cJSON_Delete(nu);
        return TB__OPENAI_UNCHANGED;
    }
    replace_node(span_data, usage, nu);
    *changed = true;
    return TB__OPENAI_CHANGED;
nomem:
    cJSON_Delete(nu);
    cJSON_Delete(details);
    return TB__OPENAI_NOMEM;
}

/* trace metadata: every value a string */
static int fix_trace_metadata(cJSON *root, bool *changed)
{
    cJSON *md = cJSON_GetObjectItemCaseSensitive(root, "metadata");
    if (!cJSON_IsObject(md))
        return TB__OPENAI_UNCHANGED;
    for (cJSON *c = md->child; c; c = c->next) {
        if (cJSON_IsString(c))
            continue;
        char *text = cJSON_PrintUnformatted(c);
        cJSON *s = text ? cJSON_CreateString(text) : NULL;
        cJSON_free(text);
        if (!s)
            return TB__OPENAI_NOMEM;
        replace_node(md, c, s);
        c = s;
        *changed = true;
    }
    return TB__OPENAI_UNCHANGED;
}

/* ================================================================== */
/* the record                                                          */

static bool contains(const char *hay, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    if (n == 0 || len < n)
        return n == 0;
    const char *end = hay + len - n;
    for (const char *p = hay; p <= end;) {
        const char *hit = memchr(p, needle[0], (size_t)(end - p) + 1);
        if (!hit)
            return false;
        if (memcmp(hit, needle, n) == 0)
            return true;
        p = hit + 1;
    }
    return false;
}

bool tb__openai_may_need_sanitize(const char *json, size_t len)
{
    if (!json)
        return false;
    return len > TB__OPENAI_MAX_FIELD_BYTES || contains(json, len, "\"usage\"") ||
           contains(json, len, "\"metadata\"") || contains(json, len, "\"response\"");
}

int tb__openai_sanitize_record(const char *json, size_t len, char **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (!tb__openai_may_need_sanitize(json, len))
        return TB__OPENAI_UNCHANGED;
    tb__json_init();
    cJSON *root = cJSON_ParseWithLength(json, len);
    /* Not JSON (the outbox validates records, so rare): send it as it is and
     * let ingest's refusal dead-letter it with the reason. */
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return TB__OPENAI_UNCHANGED;
    }
    bool changed = false;
    int rc = TB__OPENAI_NOMEM;
    cJSON *sd = cJSON_GetObjectItemCaseSensitive(root, "span_data");
    const cJSON *sd_type = cJSON_GetObjectItemCaseSensitive(sd, "type");
    if (cJSON_IsObject(sd) && cJSON_IsString(sd_type) &&
        strcmp(sd_type->valuestring, "response") == 0) {
        /* the extension fields the SDK's export drops (README "The C API"):
         * OpenAI gets exactly the SDK's own export */
        static const char *const ext[] = {"response", "input"};
        for (size_t i = 0; i < 2; i++) {
            if (cJSON_GetObjectItemCaseSensitive(sd, ext[i])) {
                cJSON_DeleteItemFromObjectCaseSensitive(sd, ext[i]);
                changed = true;
            }
        }
    }
    if (cJSON_IsObject(sd)) {
        static const char *const fields[] = {"input", "output"};
        for (size_t i = 0; i < 2; i++) {
            cJSON *v = cJSON_GetObjectItemCaseSensitive(sd, fields[i]);
            if (!v)
                continue;
            size_t size = json_size(v), nsize = size;
            if (size <= TB__OPENAI_MAX_FIELD_BYTES)
                continue;
            int r = fit_value(sd, &v, size, TB__OPENAI_MAX_FIELD_BYTES, &nsize);
            if (r < 0)
                goto cleanup;
            if (r == TB__OPENAI_CHANGED)
                changed = true;
        }
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(sd, "type");
        if (cJSON_IsString(type) && strcmp(type->valuestring, "generation") == 0) {
            if (fix_generation_usage(sd, &changed) < 0)
                goto cleanup;
        } else if (cJSON_GetObjectItemCaseSensitive(sd, "usage")) {
            cJSON_DeleteItemFromObjectCaseSensitive(sd, "usage");
            changed = true;
        }
    }
    const cJSON *object = cJSON_GetObjectItemCaseSensitive(root, "object");
    if (cJSON_IsString(object) && strcmp(object->valuestring, "trace") == 0 &&
        fix_trace_metadata(root, &changed) < 0)
        goto cleanup;
    if (!changed) {
        rc = TB__OPENAI_UNCHANGED;
        goto cleanup;
    }
    *out = cJSON_PrintUnformatted(root);
    if (!*out)
        goto cleanup;
    *out_len = strlen(*out);
    rc = TB__OPENAI_CHANGED;
cleanup:
    cJSON_Delete(root);
    return rc;
}
