/*
 * otlp/llm.h — what a model call reports besides its messages (internal;
 * for conventions.c). Each call writes its attributes under every
 * convention in `conv` (TB__OTLP_CONV_* bits) into a; an allocation
 * failure marks the builder. All JSON arguments may be NULL (absent).
 */
#ifndef TRACEBOX_OTLP_LLM_H
#define TRACEBOX_OTLP_LLM_H

#include "otlp/attrs.h"

#include <cjson/cJSON.h>

/* The model and its request parameters (model_config, or the invocation
 * parameters of a Responses object): gen_ai.request.*, llm.model_name /
 * llm.invocation_parameters (the model asked for, as the official
 * processors report it), langfuse.observation.model.* and
 * gen_ai.response.model (`answered`: the model the API says answered, e.g.
 * "gpt-4o-mini-2024-07-18"; NULL when unknown). */
void tb__otlp_model_attrs(const char *model, const char *answered, const cJSON *config,
                          unsigned conv, tb__otlp_attrs *a);

/* Token usage, from the first of: span_data.usage (`data`), the Responses
 * object's usage (`resp`), the sum of the usage of the ChatCompletions in
 * `output`. Nothing when none has input or output tokens. */
void tb__otlp_usage_attrs(const cJSON *data, const cJSON *resp, const cJSON *output, unsigned conv,
                          tb__otlp_attrs *a);

/* A Responses object minus what is not an invocation parameter and nulls
 * (cJSON_Delete); NULL when nothing is left (or out of memory: marks the
 * builder). */
cJSON *tb__otlp_invocation_params(const cJSON *resp, tb__otlp_attrs *a);

/* The finish reason: of the Responses object when there is one, else the
 * last non-empty finish_reason of the ChatCompletion choices in `output`;
 * NULL when none. A string borrowed from the JSON, or a literal. */
const char *tb__otlp_finish_reason(const cJSON *resp, const cJSON *output);

/* Function tools of a Responses object as OpenInference tool schemas,
 * llm.tools.<i>.tool.json_schema (i: the tool's place in the list). */
void tb__otlp_oi_tools(const cJSON *tools, tb__otlp_attrs *a);

#endif
