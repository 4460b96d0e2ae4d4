/*
 * redact.c — `redact = io`: what a trace carries that is sensitive is the
 * content that flowed through the agent: prompts and completions
 * (generation input/output), tool arguments and results (function
 * input/output), speech and transcription text and audio, and a response
 * span's captured input and the content of its captured Responses object
 * (output, output_text, instructions). Those fields are replaced with the
 * string "[redacted]"; everything else (ids, times, names, models, token
 * usage, invocation parameters, errors' messages) is kept so traces remain
 * useful. custom span data and error.data are the application's own and are
 * kept: do not put secrets there.
 */
#include "redact.h"
#include "json_print.h"

#include <cjson/cJSON.h>
#include <string.h>

typedef struct rule {
    const char *type;
    const char *fields[3];
    const char *response_fields[4]; /* inside span_data.response */
} rule;

static const rule rules[] = {
    {"generation", {"input", "output", NULL}, {NULL}},
    {"function", {"input", "output", NULL}, {NULL}},
    {"transcription", {"input", "output", NULL}, {NULL}},
    {"speech", {"input", "output", NULL}, {NULL}},
    {"speech_group", {"input", NULL, NULL}, {NULL}},
    {"mcp_tools", {"result", NULL, NULL}, {NULL}},
    {"response", {"input", NULL, NULL}, {"output", "output_text", "instructions", NULL}},
};

/* Replace obj[key] with the mark. 1 replaced, 0 nothing to do, -1 no memory. */
static int redact_field(cJSON *obj, const char *key)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v) || (cJSON_IsString(v) && strcmp(v->valuestring, TB__REDACTED) == 0))
        return 0;
    cJSON *mark = cJSON_CreateString(TB__REDACTED);
    if (!mark || !cJSON_ReplaceItemInObjectCaseSensitive(obj, key, mark)) {
        cJSON_Delete(mark);
        return -1;
    }
    return 1;
}

/* Does [s, s+len) contain `needle`? (memmem is a GNU extension.) */
static bool contains(const char *s, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= len; i++)
        if (s[i] == needle[0] && memcmp(s + i, needle, n) == 0)
            return true;
    return false;
}

static const rule *rule_for(const char *type)
{
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
        if (strcmp(rules[i].type, type) == 0)
            return &rules[i];
    return NULL;
}

int tb__redact_record(const char *json, size_t len, char **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    /* cheap: only span records of a listed type can need it */
    if (!contains(json, len, "\"span_data\""))
        return 0;
    tb__json_init();
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return -1;
    }
    int changed = 0;
    cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "span_data");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(data, "type");
    const rule *r = cJSON_IsString(type) ? rule_for(type->valuestring) : NULL;
    cJSON *resp = cJSON_GetObjectItemCaseSensitive(data, "response");
    for (size_t i = 0; r && i < 7 && changed >= 0; i++) {
        const char *f = i < 3 ? r->fields[i] : r->response_fields[i - 3];
        if (!f)
            continue;
        int rc = redact_field(i < 3 ? data : (cJSON_IsObject(resp) ? resp : NULL), f);
        if (rc != 0)
            changed = rc < 0 ? -1 : 1;
    }
    if (changed < 0) {
        cJSON_Delete(root);
        return -1;
    }
    if (changed) {
        *out = tb__json_print(root);
        if (!*out)
            changed = -1;
        else
            *out_len = strlen(*out);
    }
    cJSON_Delete(root);
    return changed;
}
