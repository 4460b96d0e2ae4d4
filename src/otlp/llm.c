/*
 * otlp/llm.c — what a model call reports, beyond its messages: the model
 * and its request parameters, token usage, the finish reason and the
 * tools it was offered (for the generation and response extractor of
 * conventions.c; model and parameters for transcription and speech too).
 *
 * Design. Each helper reads one fact from wherever the SDK put it — the
 * span_data fields the SDK exports, or the Responses API object the
 * bindings capture in span_data.response — and writes it under every
 * enabled convention's names at once, so a fact is found in one place
 * and named in one place. Usage is the fact with the most shapes: Chat
 * Completions and Responses names, the OpenAI-sanitized "details" form,
 * and the JS SDK's per-ChatCompletion usage summed (see below).
 */
#include "otlp/llm.h"

#include "otlp/conv.h"
#include "otlp/fields.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define GENAI TB__OTLP_CONV_GENAI
#define OI TB__OTLP_CONV_OPENINFERENCE
#define LF TB__OTLP_CONV_LANGFUSE

/* ------------------------------------------------------------------------ */
/* Usage                                                                     */
/* ------------------------------------------------------------------------ */

typedef struct usage {
    bool has_in, has_out, has_total, has_cached, has_reasoning;
    int64_t in, out, total, cached, reasoning;
} usage;

static void read_usage(const cJSON *u, usage *x)
{
    memset(x, 0, sizeof *x);
    if (!is_object(u))
        return;
    x->has_in = geti(u, "input_tokens", &x->in) || geti(u, "prompt_tokens", &x->in);
    x->has_out = geti(u, "output_tokens", &x->out) || geti(u, "completion_tokens", &x->out);
    /* the OpenAI-sanitized form moves everything else under "details" */
    const cJSON *d = get(u, "details");
    x->has_total = geti(u, "total_tokens", &x->total) || geti(d, "total_tokens", &x->total);
    const cJSON *itd = get(u, "input_tokens_details");
    if (!itd)
        itd = get(d, "input_tokens_details");
    if (!itd)
        itd = get(u, "prompt_tokens_details");
    const cJSON *otd = get(u, "output_tokens_details");
    if (!otd)
        otd = get(d, "output_tokens_details");
    if (!otd)
        otd = get(u, "completion_tokens_details");
    x->has_cached = geti(itd, "cached_tokens", &x->cached) || geti(d, "cached_tokens", &x->cached);
    x->has_reasoning =
        geti(otd, "reasoning_tokens", &x->reasoning) || geti(d, "reasoning_tokens", &x->reasoning);
    if (!x->has_cached)
        x->cached = 0;
    if (!x->has_reasoning)
        x->reasoning = 0;
}

/* The JS SDK's Chat Completions model leaves span_data.usage out and keeps
 * each ChatCompletion's usage in output[i].usage: their sum. */
static void sum_output_usage(const cJSON *output, usage *x)
{
    memset(x, 0, sizeof *x);
    if (!is_array(output))
        return;
    const cJSON *e;
    cJSON_ArrayForEach(e, output)
    {
        const cJSON *u = get(e, "usage");
        if (!is_object(u))
            continue;
        usage one;
        read_usage(u, &one);
        x->has_in |= one.has_in;
        x->has_out |= one.has_out;
        x->has_total |= one.has_total || one.has_in || one.has_out;
        x->in += one.in;
        x->out += one.out;
        x->total += one.has_total ? one.total : one.in + one.out;
        x->has_cached |= one.has_cached;
        x->has_reasoning |= one.has_reasoning;
        x->cached += one.cached;
        x->reasoning += one.reasoning;
    }
}

static void emit_usage(const usage *x, unsigned conv, bool langfuse_usage, tb__otlp_attrs *a)
{
    if (!x->has_in && !x->has_out)
        return;
    int64_t total = x->has_total ? x->total : x->in + x->out;
    if (conv & GENAI) {
        if (x->has_in)
            tb__otlp_attr_int(a, "gen_ai.usage.input_tokens", x->in);
        if (x->has_out)
            tb__otlp_attr_int(a, "gen_ai.usage.output_tokens", x->out);
        if (x->cached > 0)
            tb__otlp_attr_int(a, "gen_ai.usage.cache_read.input_tokens", x->cached);
    }
    if (conv & OI) {
        if (x->has_in)
            tb__otlp_attr_int(a, "llm.token_count.prompt", x->in);
        if (x->has_out)
            tb__otlp_attr_int(a, "llm.token_count.completion", x->out);
        tb__otlp_attr_int(a, "llm.token_count.total", total);
        /* a reported zero is reported (the official processors do) */
        if (x->has_cached)
            tb__otlp_attr_int(a, "llm.token_count.prompt_details.cache_read", x->cached);
        if (x->has_reasoning)
            tb__otlp_attr_int(a, "llm.token_count.completion_details.reasoning", x->reasoning);
    }
    if ((conv & LF) && langfuse_usage) {
        /* taken literally by Langfuse: the buckets must not overlap */
        char buf[256];
        int n = snprintf(buf, sizeof buf,
                         "{\"input\":%" PRId64 ",\"output\":%" PRId64 ",\"total\":%" PRId64,
                         x->in - x->cached, x->out - x->reasoning, total);
        if (x->cached > 0 && n > 0 && (size_t)n < sizeof buf)
            n += snprintf(buf + n, sizeof buf - (size_t)n, ",\"input_cached_tokens\":%" PRId64,
                          x->cached);
        if (x->reasoning > 0 && n > 0 && (size_t)n < sizeof buf)
            n += snprintf(buf + n, sizeof buf - (size_t)n, ",\"output_reasoning_tokens\":%" PRId64,
                          x->reasoning);
        if (n > 0 && (size_t)n < sizeof buf - 1) {
            buf[n] = '}';
            buf[n + 1] = '\0';
            tb__otlp_attr_str(a, "langfuse.observation.usage_details", buf);
        }
    }
}

void tb__otlp_usage_attrs(const cJSON *data, const cJSON *resp, const cJSON *output, unsigned conv,
                          tb__otlp_attrs *a)
{
    usage u;
    read_usage(get(data, "usage"), &u);
    if (!u.has_in && !u.has_out && resp)
        read_usage(get(resp, "usage"), &u);
    if (!u.has_in && !u.has_out)
        sum_output_usage(output, &u);
    emit_usage(&u, conv, true, a);
}

/* ------------------------------------------------------------------------ */
/* Model request parameters (model_config)                                   */
/* ------------------------------------------------------------------------ */

static const struct {
    const char *config_key;
    const char *genai_key;
    bool integer;
} k_params[] = {
    {"temperature", "gen_ai.request.temperature", false},
    {"top_p", "gen_ai.request.top_p", false},
    {"frequency_penalty", "gen_ai.request.frequency_penalty", false},
    {"presence_penalty", "gen_ai.request.presence_penalty", false},
    {"max_tokens", "gen_ai.request.max_tokens", true},
    {"max_output_tokens", "gen_ai.request.max_tokens", true},
    {"seed", "gen_ai.request.seed", true},
};

void tb__otlp_model_attrs(const char *model, const char *answered, const cJSON *config,
                          unsigned conv, tb__otlp_attrs *a)
{
    if (conv & GENAI) {
        tb__otlp_attr_str(a, "gen_ai.request.model", model);
        tb__otlp_attr_str(a, "gen_ai.response.model", answered);
        bool have_max = false;
        for (size_t i = 0; i < sizeof k_params / sizeof k_params[0]; i++) {
            const cJSON *v = get(config, k_params[i].config_key);
            if (!is_number(v) || !isfinite(v->valuedouble))
                continue;
            if (k_params[i].integer) {
                if (strcmp(k_params[i].genai_key, "gen_ai.request.max_tokens") == 0) {
                    if (have_max)
                        continue; /* one key, two SDK spellings */
                    have_max = true;
                }
                tb__otlp_attr_int(a, k_params[i].genai_key, (int64_t)v->valuedouble);
            } else {
                tb__otlp_attr_double(a, k_params[i].genai_key, v->valuedouble);
            }
        }
    }
    if (conv & OI) {
        tb__otlp_attr_str(a, "llm.model_name", model);
        if (is_object(config))
            tb__otlp_attr_json(a, "llm.invocation_parameters", config);
    }
    if (conv & LF) {
        /* the exact model that answered, which Langfuse prices */
        tb__otlp_attr_str(a, "langfuse.observation.model.name", answered ? answered : model);
        if (is_object(config))
            tb__otlp_attr_json(a, "langfuse.observation.model.parameters", config);
    }
}

/* ------------------------------------------------------------------------ */
/* Invocation parameters, finish reason, tools                               */
/* ------------------------------------------------------------------------ */

/* Response object keys that are not invocation parameters (the official
 * OpenInference processors leave the same ones out). */
static bool invocation_key(const char *key)
{
    static const char *const k_not[] = {"instructions", "object", "output_text", "tools",
                                        "usage",        "output", "error",       "status"};
    for (size_t i = 0; i < sizeof k_not / sizeof k_not[0]; i++)
        if (strcmp(key, k_not[i]) == 0)
            return false;
    return true;
}

cJSON *tb__otlp_invocation_params(const cJSON *resp, tb__otlp_attrs *a)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) {
        tb__otlp_attr_fail(a);
        return NULL;
    }
    const cJSON *kv;
    cJSON_ArrayForEach(kv, resp)
    {
        if (!has_value(kv) || !invocation_key(kv->string))
            continue;
        cJSON *c = cJSON_Duplicate(kv, 1);
        if (!c || !cJSON_AddItemToObject(o, kv->string, c)) {
            cJSON_Delete(c);
            cJSON_Delete(o);
            tb__otlp_attr_fail(a);
            return NULL;
        }
    }
    if (cJSON_GetArraySize(o) == 0) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* OpenInference's finish reason of a Responses object: incomplete_details
 * .reason first (max_output_tokens → length), else the status (completed →
 * stop, failed → error). */
static const char *response_finish_reason(const cJSON *resp)
{
    const char *why = getsn(get(resp, "incomplete_details"), "reason");
    if (why)
        return strcmp(why, "max_output_tokens") == 0 ? "length" : why;
    const char *status = getsn(resp, "status");
    if (!status)
        return NULL;
    if (strcmp(status, "completed") == 0)
        return "stop";
    if (strcmp(status, "failed") == 0)
        return "error";
    return status;
}

/* The last non-empty finish_reason of the ChatCompletion choices in a
 * generation's output. */
static const char *choices_finish_reason(const cJSON *output)
{
    const char *fr = NULL;
    const cJSON *single = is_array(get(output, "choices")) ? output : NULL;
    if (!single && !is_array(output))
        return NULL;
    for (const cJSON *e = single ? single : output->child; e; e = single ? NULL : e->next) {
        const cJSON *choices = get(e, "choices");
        const cJSON *c;
        cJSON_ArrayForEach(c, (is_array(choices) ? choices : NULL))
        {
            if (getsn(c, "finish_reason"))
                fr = getsn(c, "finish_reason");
        }
    }
    return fr;
}

void tb__otlp_oi_tools(const cJSON *tools, tb__otlp_attrs *a)
{
    if (!is_array(tools))
        return;
    int i = -1;
    const cJSON *t;
    cJSON_ArrayForEach(t, tools)
    {
        i++;
        const char *type = gets(t, "type");
        if (!type || strcmp(type, "function") != 0)
            continue;
        cJSON *schema = cJSON_CreateObject();
        cJSON *fn = cJSON_CreateObject();
        bool ok = schema && fn && cJSON_AddStringToObject(schema, "type", "function") &&
                  cJSON_AddItemToObject(schema, "function", fn);
        if (!ok)
            cJSON_Delete(fn);
        static const char *const keys[] = {"name", "description", "parameters", "strict"};
        for (size_t k = 0; ok && k < 4; k++)
            if (has_value(get(t, keys[k])))
                ok = add_copy(fn, keys[k], get(t, keys[k]));
        char key[64];
        snprintf(key, sizeof key, "llm.tools.%d.tool.json_schema", i);
        if (ok)
            tb__otlp_attr_json(a, key, schema);
        else
            tb__otlp_attr_fail(a);
        cJSON_Delete(schema);
    }
}

const char *tb__otlp_finish_reason(const cJSON *resp, const cJSON *output)
{
    return resp ? response_finish_reason(resp) : choices_finish_reason(output);
}
