/*
 * otlp/messages.h — a model call's input and output messages (internal;
 * for the conventions).
 *
 * A span's input or output is normalised once into a msg_list (the shapes
 * understood: otlp/messages.c), then written by any of the three writers
 * below. The list borrows from the parsed record, which must outlive it;
 * free l.m with tb__free_mem. Allocation failures mark the attribute
 * builder. One thread at a time per builder.
 */
#ifndef TRACEBOX_OTLP_MESSAGES_H
#define TRACEBOX_OTLP_MESSAGES_H

#include "otlp/attrs.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct tb__otlp_msg tb__otlp_msg; /* one message (messages.c) */

typedef struct tb__otlp_msg_list {
    tb__otlp_msg *m; /* tb__calloc'd; NULL when n == 0 */
    size_t n;
    bool complete; /* every element had a known shape */
} tb__otlp_msg_list;

/* Normalise a span's input or output. false when v is not a message list
 * (an array, or one bare ChatCompletion): there is nothing to emit. An
 * allocation failure marks the builder and gives false. *l is set either
 * way. */
bool tb__otlp_norm_messages(const cJSON *v, tb__otlp_msg_list *l, tb__otlp_attrs *a);
/* A Responses span's input: the instructions (a string, or NULL) become a
 * leading system message, a string input one user message; a list is read
 * as tb__otlp_norm_messages() reads it. */
bool tb__otlp_norm_messages_with(const cJSON *v, const cJSON *instructions, tb__otlp_msg_list *l,
                                 tb__otlp_attrs *a);

/* GenAI: key = the list as [{"role":…, "parts":[…], "finish_reason":…}]
 * (finish_reason when `output`). A list none of whose elements was
 * understood gives no attribute (an empty list gives "[]"). */
void tb__otlp_genai_messages(const tb__otlp_msg_list *l, const char *key, bool output,
                             tb__otlp_attrs *a);
/* OpenInference: <prefix>.<i>.message.role / .content / .contents.<j>… /
 * .tool_calls.<k>.tool_call…, indices as the official processors number
 * them: a list of items (`positional`: generation input and output, a
 * response's input) by the item's place in it, an item that gives no
 * message still taking its number, and an item of another type with
 * content shown without a role; the output of a Responses object and
 * ChatCompletion choices one after another (`!positional`), known items
 * only. */
void tb__otlp_oi_messages(const tb__otlp_msg_list *l, const char *prefix, bool positional,
                          tb__otlp_attrs *a);
/* Langfuse: the list as an OpenAI chat message list, JSON text
 * (cJSON_free); NULL when no element was understood (the raw value goes
 * instead). Elements of other shapes (reasoning items, hosted tool calls)
 * are left out of it. */
char *tb__otlp_chat_messages_text(const tb__otlp_msg_list *l, bool output, tb__otlp_attrs *a);

#endif
