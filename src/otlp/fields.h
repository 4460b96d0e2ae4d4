/*
 * otlp/fields.h — reading the fields of SDK export JSON (internal; for
 * encode.c, conventions.c, llm.c, messages.c and trace_context.c).
 *
 * Every reader takes any cJSON (NULL, or not an object, reads as "absent")
 * so an extractor can chain them over span_data of any shape without a
 * check at each step. They are static inline with short names, an
 * exception to the tb__ prefix for shared internals: they are called a few
 * hundred times in these five files, read like the field access they are,
 * and are visible nowhere else.
 */
#ifndef TRACEBOX_OTLP_FIELDS_H
#define TRACEBOX_OTLP_FIELDS_H

#include <cjson/cJSON.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* cJSON's type tests, inline: the library's are calls through the PLT,
 * made a few dozen times a span. The same answers (NULL is none of them). */
static inline bool is_type(const cJSON *v, int type)
{
    return v && (v->type & 0xFF) == type;
}
static inline bool is_object(const cJSON *v)
{
    return is_type(v, cJSON_Object);
}
static inline bool is_array(const cJSON *v)
{
    return is_type(v, cJSON_Array);
}
static inline bool is_string(const cJSON *v)
{
    return is_type(v, cJSON_String);
}
static inline bool is_number(const cJSON *v)
{
    return is_type(v, cJSON_Number);
}
static inline bool is_null(const cJSON *v)
{
    return is_type(v, cJSON_NULL);
}
static inline bool is_true(const cJSON *v)
{
    return is_type(v, cJSON_True);
}
static inline bool is_invalid(const cJSON *v)
{
    return is_type(v, cJSON_Invalid);
}

/* cJSON_GetObjectItemCaseSensitive (the first member of that name), with
 * the first byte compared before strcmp is called: the readers look up
 * hundreds of keys a batch, and the call per member was most of the time. */
static inline const cJSON *get(const cJSON *o, const char *key)
{
    if (!is_object(o))
        return NULL;
    for (const cJSON *c = o->child; c && c->string; c = c->next) /* cJSON stops at a nameless one */
        if (c->string[0] == key[0] && strcmp(c->string, key) == 0)
            return c;
    return NULL;
}

static inline const char *gets(const cJSON *o, const char *key)
{
    const cJSON *v = get(o, key);
    return is_string(v) ? v->valuestring : NULL;
}

/* A non-empty string, else NULL. */
static inline const char *getsn(const cJSON *o, const char *key)
{
    const char *s = gets(o, key);
    return s && s[0] ? s : NULL;
}

/* An integral number (or a decimal string) as int64. */
static inline bool geti(const cJSON *o, const char *key, int64_t *out)
{
    const cJSON *v = get(o, key);
    if (is_number(v) && isfinite(v->valuedouble) && v->valuedouble >= -9.2e18 &&
        v->valuedouble <= 9.2e18) {
        *out = (int64_t)v->valuedouble;
        return true;
    }
    if (is_string(v) && v->valuestring[0]) {
        char *end = NULL;
        long long n = strtoll(v->valuestring, &end, 10);
        if (end && *end == '\0') {
            *out = (int64_t)n;
            return true;
        }
    }
    return false;
}

/* Present, and not JSON null. */
static inline bool has_value(const cJSON *v)
{
    return v && !is_null(v) && !is_invalid(v);
}

/* obj[key] = a copy of v (JSON null when v has no value); false when out
 * of memory. */
static inline bool add_copy(cJSON *obj, const char *key, const cJSON *v)
{
    cJSON *c = has_value(v) ? cJSON_Duplicate(v, 1) : cJSON_CreateNull();
    if (!c)
        return false;
    if (!cJSON_AddItemToObject(obj, key, c)) {
        cJSON_Delete(c);
        return false;
    }
    return true;
}

#endif
