/*
 * redact.c — `redact = io`: what a trace carries that is sensitive is the
 * content that flowed through the agent: prompts and completions
 * (generation input/output), tool arguments and results (function
 * input/output), speech and transcription text and audio. Those fields are
 * replaced with the string "[redacted]"; everything else (ids, times,
 * names, models, token usage, errors' messages) is kept so traces remain
 * useful. custom span data and error.data are the application's own and are
 * kept: do not put secrets there.
 */
#include "redact.h"

#include <cjson/cJSON.h>
#include <string.h>

typedef struct rule {
    const char *type;
    const char *fields[3];
} rule;

static const rule rules[] = {
    {"generation", {"input", "output", NULL}},    {"function", {"input", "output", NULL}},
    {"transcription", {"input", "output", NULL}}, {"speech", {"input", "output", NULL}},
    {"speech_group", {"input", NULL, NULL}},      {"mcp_tools", {"result", NULL, NULL}},
};

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
    for (size_t i = 0; r && i < 3 && r->fields[i]; i++) {
        cJSON *v = cJSON_GetObjectItemCaseSensitive(data, r->fields[i]);
        if (!v || cJSON_IsNull(v) ||
            (cJSON_IsString(v) && strcmp(v->valuestring, TB__REDACTED) == 0))
            continue;
        cJSON *mark = cJSON_CreateString(TB__REDACTED);
        if (!mark || !cJSON_ReplaceItemInObjectCaseSensitive(data, r->fields[i], mark)) {
            cJSON_Delete(mark);
            cJSON_Delete(root);
            return -1;
        }
        changed = 1;
    }
    if (changed) {
        *out = cJSON_PrintUnformatted(root);
        if (!*out)
            changed = -1;
        else
            *out_len = strlen(*out);
    }
    cJSON_Delete(root);
    return changed;
}
