/*
 * otlp/conventions.c — the attributes of one OTLP span made from one SDK
 * span, for the conventions a destination asks for.
 *
 * Design. One table (k_types) says, per SDK span type, everything that is
 * a constant: the OpenInference span kind, the GenAI operation name, the
 * Langfuse observation type, the OTLP span kind, whether the span is a
 * model call (provider attributes), and which function pulls out the
 * type's own data (model, usage, messages, tool, handoff …). The functions
 * below it are small and each reads one type's span_data; what they find
 * goes out under every enabled convention's names at once (see `out`).
 * Types the table does not know — the SDK adds some now and then — are
 * kept, as CHAIN / span with their span_data as output.
 *
 * Beside this file: fields.h reads span_data; llm.c reads what a model
 * call reports besides its messages (model, parameters, usage, finish
 * reason, tools); messages.c reads the messages and writes them in each
 * convention's shape. Everything goes out through the attribute builder
 * (attrs.h).
 *
 *   SDK type        OpenInference  GenAI op           Langfuse    kind
 *   agent           AGENT          invoke_agent       agent       INTERNAL
 *   generation      LLM            chat               generation  CLIENT
 *   response        LLM            chat               generation  CLIENT
 *   function        TOOL           execute_tool       tool        INTERNAL
 *   mcp_tools       TOOL           -                  span        INTERNAL
 *   handoff         TOOL           handoff (*)        tool        INTERNAL
 *   guardrail       GUARDRAIL      guardrail (*)      guardrail   INTERNAL
 *   custom          CHAIN          -                  span        INTERNAL
 *   task            CHAIN          invoke_workflow    chain       INTERNAL
 *   turn            CHAIN          -                  chain       INTERNAL
 *   speech_group    CHAIN          -                  chain       INTERNAL
 *   transcription   CHAIN (**)     transcription (*)  generation  INTERNAL
 *   speech          CHAIN (**)     speech_generation (*) generation INTERNAL
 *   (other)         CHAIN          -                  span        INTERNAL
 * (*) not a GenAI well-known value; the names W&B Weave and the
 * OpenTelemetry contrib OpenAI-Agents instrumentation use.
 * (**) as the official OpenInference processors; the model still goes out
 * as llm.model_name.
 *
 * Trace-level attributes (from the trace record, on every span of it):
 * group_id → gen_ai.conversation.id (genai), session.id (openinference,
 * langfuse); workflow_name → langfuse.trace.name; metadata → `metadata`
 * (openinference, JSON, merged with the span's own top-level metadata) and
 * langfuse.trace.metadata.<key>. Always, whatever the conventions:
 * tracebox.span_type, tracebox.sdk_span_id, tracebox.sdk_trace_id,
 * tracebox.sdk_parent_id, tracebox.trace.workflow_name / .group_id /
 * .metadata, so a genai-only destination loses nothing either. When
 * neither openinference nor langfuse is on, a span's input/output that
 * GenAI has no name for goes out as tracebox.input / tracebox.output.
 *
 * Audio (transcription input, speech output) is base64 PCM that can run to
 * megabytes; its `data` is replaced by a note of its size.
 */
#include "otlp/conventions.h"

#include "internal.h"
#include "json_print.h"
#include "otlp/attrs.h"
#include "otlp/fields.h"
#include "otlp/llm.h"
#include "otlp/messages.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define GENAI TB__OTLP_CONV_GENAI
#define OI TB__OTLP_CONV_OPENINFERENCE
#define LF TB__OTLP_CONV_LANGFUSE
#define WANDB TB__OTLP_CONV_WANDB

/* ------------------------------------------------------------------------ */
/* Input / output                                                            */
/* ------------------------------------------------------------------------ */

/* A span's input or output: text (borrowed or owned) and its mime type. */
typedef struct io_val {
    const char *text;
    char *owned; /* cJSON_Print'ed, freed with cJSON_free */
    bool json;
    bool unmapped; /* messages GenAI could not (all) name: see tb__otlp_norm_messages */
} io_val;

typedef struct io {
    io_val in, out;
    char *lf_in, *lf_out; /* Langfuse message lists (cJSON_free), or NULL */
} io;

static void io_free(io *x)
{
    cJSON_free(x->in.owned);
    cJSON_free(x->out.owned);
    cJSON_free(x->lf_in);
    cJSON_free(x->lf_out);
}

/* A JSON value: strings are kept as text (JSON when they parse as an
 * object or array), anything else is printed. */
static void io_set(tb__otlp_attrs *a, io_val *v, const cJSON *item)
{
    if (!has_value(item))
        return;
    if (is_string(item)) {
        v->text = item->valuestring;
        const char *p = item->valuestring;
        while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
            p++;
        if (*p == '{' || *p == '[') {
            cJSON *parsed = tb__json_parse_str(item->valuestring);
            v->json = parsed != NULL;
            cJSON_Delete(parsed);
        }
        return;
    }
    v->owned = tb__json_print(item);
    if (!v->owned) {
        tb__otlp_attr_fail(a);
        return;
    }
    v->text = v->owned;
    v->json = true;
}

static void io_text(io_val *v, const char *text)
{
    v->text = text;
    v->json = false;
}

/* ------------------------------------------------------------------------ */
/* The type-specific extractors                                              */
/* ------------------------------------------------------------------------ */

typedef struct type_map type_map;
typedef void (*extract_fn)(const tb__otlp_span_view *v, const type_map *t, unsigned conv,
                           tb__otlp_attrs *a, io *x);

struct type_map {
    const char *type;          /* effective SDK span type; NULL: the default */
    const char *oi_kind;       /* openinference.span.kind */
    const char *genai_op;      /* gen_ai.operation.name; NULL: none */
    const char *langfuse_type; /* langfuse.observation.type */
    int otlp_kind;             /* 1 INTERNAL, 3 CLIENT */
    bool model_call;           /* provider attributes (llm.provider, gen_ai.provider.name) */
    bool genai_io;             /* GenAI has names for its input/output */
    const char *default_name;  /* NULL: the type itself */
    extract_fn extract;
    int name_from; /* NAME_*: where tb__otlp_span_name finds the name */
};

enum {
    NAME_NAME = 0, /* span_data.name (agent, function, guardrail, custom, any other) */
    NAME_MODEL,    /* span_data.model */
    NAME_HANDOFF,  /* "handoff to <to_agent>" */
    NAME_MCP,      /* "mcp_tools <server>" */
    NAME_TASK,     /* span_data.data.name */
    NAME_TURN,     /* "turn <data.turn>" */
    NAME_DEFAULT,  /* none of its own: the default name, or the type */
};

static void agent_x(const tb__otlp_span_view *v, const type_map *t, unsigned conv,
                    tb__otlp_attrs *a, io *x)
{
    (void)t;
    const char *name = getsn(v->data, "name");
    if (conv & GENAI) {
        tb__otlp_attr_str(a, "gen_ai.agent.name", name);
        tb__otlp_attr_str(a, "gen_ai.provider.name", "openai");
    }
    if (conv & OI) {
        tb__otlp_attr_str(a, "agent.name", name);
        /* the agent graph: this agent, and the one that handed off to it */
        tb__otlp_attr_str(a, "graph.node.id", name);
        tb__otlp_attr_str(a, "graph.node.parent_id", v->graph_parent);
    }
    const cJSON *tools = get(v->data, "tools");
    const cJSON *handoffs = get(v->data, "handoffs");
    if (is_array(tools))
        tb__otlp_attr_json(a, "tracebox.agent.tools", tools);
    if (is_array(handoffs))
        tb__otlp_attr_json(a, "tracebox.agent.handoffs", handoffs);
    tb__otlp_attr_str(a, "tracebox.agent.output_type", getsn(v->data, "output_type"));
    if (v->lifted_in) {
        x->in.text = v->lifted_in;
        x->in.json = v->lifted_in_json;
    }
    if (v->lifted_out)
        io_text(&x->out, v->lifted_out);
}

/* generation and response: whatever of model, config, usage, messages and
 * response id the span has. A response span's data is mostly in the
 * extension fields the bindings capture (span_data.response: the Responses
 * API object; span_data.input: its input, a string or a list of items). */
static void llm_x(const tb__otlp_span_view *v, const type_map *t, unsigned conv, tb__otlp_attrs *a,
                  io *x)
{
    (void)t;
    const cJSON *d = v->data;
    const cJSON *resp = get(d, "response");
    if (!is_object(resp))
        resp = NULL;
    const char *model = getsn(d, "model");
    if (!model)
        model = getsn(resp, "model");
    /* the model that answered: the Responses object's, else the first
     * ChatCompletion's in the output (the JS SDK's Chat Completions model) */
    const char *answered = getsn(resp, "model");
    const cJSON *gout = get(d, "output");
    if (!answered)
        answered = getsn(is_array(gout) ? gout->child : gout, "model");
    cJSON *params = resp ? tb__otlp_invocation_params(resp, a) : NULL;
    tb__otlp_model_attrs(model, answered, resp ? params : get(d, "model_config"), conv, a);
    cJSON_Delete(params);
    const char *rid = getsn(d, "response_id");
    if (!rid)
        rid = getsn(resp, "id");
    if (conv & GENAI) {
        tb__otlp_attr_str(a, "gen_ai.response.id", rid);
    } else {
        tb__otlp_attr_str(a, "tracebox.response_id", rid);
    }
    const cJSON *in = get(d, "input");
    const cJSON *out = resp ? get(resp, "output") : get(d, "output");
    tb__otlp_usage_attrs(d, resp, out, conv, a);
    const char *fr = tb__otlp_finish_reason(resp, out);
    if (conv & OI) {
        tb__otlp_attr_str(a, "llm.finish_reason", fr);
        if (resp)
            tb__otlp_oi_tools(get(resp, "tools"), a);
    }
    io_set(a, &x->in, in);
    io_set(a, &x->out, resp ? resp : out);
    if (!(conv & (GENAI | OI | LF)))
        return;
    tb__otlp_msg_list lin, lout;
    bool in_ok = tb__otlp_norm_messages_with(in, get(resp, "instructions"), &lin, a);
    bool out_ok = tb__otlp_norm_messages(out, &lout, a);
    if (conv & GENAI) {
        if (in_ok)
            tb__otlp_genai_messages(&lin, "gen_ai.input.messages", false, a);
        if (out_ok)
            tb__otlp_genai_messages(&lout, "gen_ai.output.messages", true, a);
    }
    if (conv & OI) {
        bool choices = is_array(get(out, "choices")) ||
                       (is_array(out) && is_array(get(out->child, "choices")));
        tb__otlp_oi_messages(&lin, "llm.input_messages", true, a);
        tb__otlp_oi_messages(&lout, "llm.output_messages", !resp && !choices, a);
    }
    if (conv & LF) {
        /* Langfuse's chat view: message lists, never the raw API object */
        x->lf_in = in_ok ? tb__otlp_chat_messages_text(&lin, false, a) : NULL;
        x->lf_out = out_ok ? tb__otlp_chat_messages_text(&lout, true, a) : NULL;
    }
    x->in.unmapped = has_value(in) && !(in_ok && lin.complete);
    x->out.unmapped = has_value(out) && !(out_ok && lout.complete);
    tb__free_mem(lin.m);
    tb__free_mem(lout.m);
}

static void function_x(const tb__otlp_span_view *v, const type_map *t, unsigned conv,
                       tb__otlp_attrs *a, io *x)
{
    (void)t;
    const char *name = getsn(v->data, "name");
    const cJSON *in = get(v->data, "input"), *out = get(v->data, "output");
    io_set(a, &x->in, in);
    io_set(a, &x->out, out);
    if (conv & GENAI) {
        tb__otlp_attr_str(a, "gen_ai.tool.name", name);
        tb__otlp_attr_str(a, "gen_ai.tool.type", "function");
        tb__otlp_attr_str(a, "gen_ai.tool.call.arguments", x->in.text);
        tb__otlp_attr_str(a, "gen_ai.tool.call.result", x->out.text);
    }
    if (conv & OI)
        tb__otlp_attr_str(a, "tool.name", name);
    const cJSON *mcp = get(v->data, "mcp_data");
    if (has_value(mcp))
        tb__otlp_attr_json(a, "tracebox.mcp_data", mcp);
}

/* Listing an MCP server's tools is not a tool call: no tool name (Langfuse
 * would name the observation after the server), the server as input. */
static void mcp_tools_x(const tb__otlp_span_view *v, const type_map *t, unsigned conv,
                        tb__otlp_attrs *a, io *x)
{
    (void)t;
    (void)conv;
    io_text(&x->in, getsn(v->data, "server"));
    io_set(a, &x->out, get(v->data, "result"));
}

/* As the official processors: tool.name handoff_to_<agent>, input
 * {"from_agent":…}, output {"to_agent":…}. */
static void handoff_x(const tb__otlp_span_view *v, const type_map *t, unsigned conv,
                      tb__otlp_attrs *a, io *x)
{
    (void)t;
    const char *from = getsn(v->data, "from_agent"), *to = getsn(v->data, "to_agent");
    if (to && (conv & OI)) {
        char tool[512];
        snprintf(tool, sizeof tool, "handoff_to_%s", to);
        tb__otlp_attr_str(a, "tool.name", tool);
    }
    static const char *const keys[] = {"from_agent", "to_agent"};
    const char *vals[] = {from, to};
    io_val *dst[] = {&x->in, &x->out};
    for (int i = 0; i < 2; i++) {
        if (!vals[i])
            continue;
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddStringToObject(o, keys[i], vals[i])) {
            cJSON_Delete(o);
            tb__otlp_attr_fail(a);
            continue;
        }
        io_set(a, dst[i], o);
        cJSON_Delete(o);
    }
}

static void guardrail_x(const tb__otlp_span_view *v, const type_map *t, unsigned conv,
                        tb__otlp_attrs *a, io *x)
{
    (void)t;
    const cJSON *trig = get(v->data, "triggered");
    bool triggered = is_true(trig);
    const char *name = getsn(v->data, "name");
    tb__otlp_attr_bool(a, "guardrail.triggered", triggered);
    if (conv & OI)
        tb__otlp_attr_str(a, "tool.name", name);
    io_text(&x->in, name);
    io_text(&x->out, triggered ? "{\"triggered\":true}" : "{\"triggered\":false}");
    x->out.json = true;
}

/* custom, task, turn and unknown types: span_data.data (or the whole
 * span_data) is the output. */
static void custom_x(const tb__otlp_span_view *v, const type_map *t, unsigned conv,
                     tb__otlp_attrs *a, io *x)
{
    (void)t;
    const cJSON *data = get(v->data, "data");
    if (!is_object(data))
        data = v->data;
    if (cJSON_GetArraySize(data) > 0)
        io_set(a, &x->out, data);
    const char *agent = getsn(data, "agent_name"); /* turn */
    if (conv & GENAI)
        tb__otlp_attr_str(a, "gen_ai.agent.name", agent);
    if (conv & OI)
        tb__otlp_attr_str(a, "agent.name", agent);
}

static void speech_group_x(const tb__otlp_span_view *v, const type_map *t, unsigned conv,
                           tb__otlp_attrs *a, io *x)
{
    (void)t;
    (void)conv;
    (void)a;
    io_set(a, &x->in, get(v->data, "input"));
}

/* Audio {"data": base64, "format": …} → the same with data replaced. */
static void audio_io(tb__otlp_attrs *a, io_val *dst, const cJSON *audio)
{
    if (!is_object(audio)) {
        io_set(a, dst, audio);
        return;
    }
    cJSON *copy = cJSON_Duplicate(audio, 1);
    if (!copy) {
        tb__otlp_attr_fail(a);
        return;
    }
    const char *data = gets(audio, "data");
    if (data && data[0]) {
        char note[96];
        snprintf(note, sizeof note, "[%zu bytes of base64 audio not exported]", strlen(data));
        cJSON *s = cJSON_CreateString(note);
        if (!s || !cJSON_ReplaceItemInObjectCaseSensitive(copy, "data", s)) {
            cJSON_Delete(s);
            cJSON_Delete(copy);
            tb__otlp_attr_fail(a);
            return;
        }
    }
    io_set(a, dst, copy);
    cJSON_Delete(copy);
}

static void transcription_x(const tb__otlp_span_view *v, const type_map *t, unsigned conv,
                            tb__otlp_attrs *a, io *x)
{
    (void)t;
    tb__otlp_model_attrs(getsn(v->data, "model"), NULL, get(v->data, "model_config"), conv, a);
    audio_io(a, &x->in, get(v->data, "input"));
    io_set(a, &x->out, get(v->data, "output"));
}

static void speech_x(const tb__otlp_span_view *v, const type_map *t, unsigned conv,
                     tb__otlp_attrs *a, io *x)
{
    (void)t;
    tb__otlp_model_attrs(getsn(v->data, "model"), NULL, get(v->data, "model_config"), conv, a);
    io_set(a, &x->in, get(v->data, "input"));
    audio_io(a, &x->out, get(v->data, "output"));
    tb__otlp_attr_str(a, "tracebox.first_content_at", getsn(v->data, "first_content_at"));
}

#define INTERNAL 1
#define CLIENT 3

static const type_map k_types[] = {
    /* type, OI kind, GenAI op, Langfuse type, kind, model, genai_io, name, extract */
    /* type, OI kind, GenAI op, Langfuse type, kind, model, genai_io, name, extract, name from */
    {"agent", "AGENT", "invoke_agent", "agent", INTERNAL, false, false, NULL, agent_x, NAME_NAME},
    {"generation", "LLM", "chat", "generation", CLIENT, true, true, NULL, llm_x, NAME_MODEL},
    {"response", "LLM", "chat", "generation", CLIENT, true, false, NULL, llm_x, NAME_DEFAULT},
    {"function", "TOOL", "execute_tool", "tool", INTERNAL, false, true, NULL, function_x,
     NAME_NAME},
    {"mcp_tools", "TOOL", NULL, "span", INTERNAL, false, false, NULL, mcp_tools_x, NAME_MCP},
    {"handoff", "TOOL", "handoff", "tool", INTERNAL, false, false, NULL, handoff_x, NAME_HANDOFF},
    {"guardrail", "GUARDRAIL", "guardrail", "guardrail", INTERNAL, false, false, NULL, guardrail_x,
     NAME_NAME},
    {"custom", "CHAIN", NULL, "span", INTERNAL, false, false, NULL, custom_x, NAME_NAME},
    {"task", "CHAIN", "invoke_workflow", "chain", INTERNAL, false, false, NULL, custom_x,
     NAME_TASK},
    {"turn", "CHAIN", NULL, "chain", INTERNAL, false, false, NULL, custom_x, NAME_TURN},
    {"speech_group", "CHAIN", NULL, "chain", INTERNAL, false, false, NULL, speech_group_x,
     NAME_DEFAULT},
    {"transcription", "CHAIN", "transcription", "generation", INTERNAL, true, false, NULL,
     transcription_x, NAME_MODEL},
    {"speech", "CHAIN", "speech_generation", "generation", INTERNAL, true, false, NULL, speech_x,
     NAME_MODEL},
};
static const type_map k_default = {NULL,  "CHAIN", NULL, "span",   INTERNAL,
                                   false, false,   NULL, custom_x, NAME_NAME};

static const type_map *find_type(const char *type)
{
    /* the first byte tells most apart before strcmp (three calls a span) */
    for (size_t i = 0; i < sizeof k_types / sizeof k_types[0]; i++)
        if (k_types[i].type[0] == type[0] && strcmp(k_types[i].type, type) == 0)
            return &k_types[i];
    return &k_default;
}

/* ------------------------------------------------------------------------ */
/* Names and kinds                                                           */
/* ------------------------------------------------------------------------ */

const char *tb__otlp_effective_type(const cJSON *data)
{
    const char *type = getsn(data, "type");
    if (!type)
        return "unknown";
    if (strcmp(type, "custom") == 0) {
        const char *sdk = getsn(get(data, "data"), "sdk_span_type");
        if (sdk)
            return sdk;
    }
    return type;
}

int tb__otlp_span_kind(const tb__otlp_span_view *v)
{
    return find_type(v->type)->otlp_kind;
}

/* Copy at most size-1 bytes, never cutting a UTF-8 sequence. */
static void copy_utf8(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);
    if (n >= size) {
        n = size - 1;
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

void tb__otlp_span_name(const tb__otlp_span_view *v, char *buf, size_t size)
{
    if (!size)
        return;
    const cJSON *d = v->data;
    const char *type = v->type;
    const type_map *t = find_type(type);
    char tmp[512];
    const char *name = NULL;
    int64_t turn;
    switch (t->name_from) {
    case NAME_MODEL:
        name = getsn(d, "model");
        break;
    case NAME_HANDOFF: {
        const char *to = getsn(d, "to_agent");
        if (to) {
            snprintf(tmp, sizeof tmp, "handoff to %s", to);
            name = tmp;
        }
        break;
    }
    case NAME_MCP: {
        const char *server = getsn(d, "server");
        if (server) {
            snprintf(tmp, sizeof tmp, "mcp_tools %s", server);
            name = tmp;
        }
        break;
    }
    case NAME_TASK:
        name = getsn(get(d, "data"), "name");
        break;
    case NAME_TURN:
        if (geti(get(d, "data"), "turn", &turn)) {
            snprintf(tmp, sizeof tmp, "turn %" PRId64, turn);
            name = tmp;
        }
        break;
    case NAME_DEFAULT:
        break;
    default:
        name = getsn(d, "name"); /* agent, function, guardrail, custom, unknown */
        break;
    }
    if (!name)
        name = t->default_name ? t->default_name : type;
    copy_utf8(buf, size, name);
}

/* ------------------------------------------------------------------------ */
/* Trace-level and common attributes                                         */
/* ------------------------------------------------------------------------ */

/* ,"key":value (no comma after the opening brace) */
static void merge_member(tb__buf *b, const cJSON *kv)
{
    if (b->len > 1)
        tb__buf_puts(b, ",");
    tb__json_write_str(b, kv->string);
    tb__buf_puts(b, ":");
    tb__json_write(b, kv);
}

/* span_meta: the span's own metadata (a non-empty object), or NULL */
static void trace_attrs_build(const tb__otlp_span_view *v, const cJSON *span_meta, unsigned conv,
                              tb__otlp_attrs *a)
{
    const cJSON *tr = v->trace;
    const char *wf = getsn(tr, "workflow_name");
    const char *group = getsn(tr, "group_id");
    const cJSON *meta = get(tr, "metadata");
    if (!is_object(meta))
        meta = NULL;

    /* what the enabled conventions have no name for */
    if (!(conv & LF))
        tb__otlp_attr_str(a, "tracebox.trace.workflow_name", wf);
    if (!(conv & (OI | LF))) {
        if (meta && cJSON_GetArraySize(meta) > 0)
            tb__otlp_attr_json(a, "tracebox.trace.metadata", meta);
        if (span_meta)
            tb__otlp_attr_json(a, "tracebox.metadata", span_meta);
    }
    if (!(conv & (GENAI | OI | LF)))
        tb__otlp_attr_str(a, "tracebox.trace.group_id", group);

    if (conv & GENAI)
        tb__otlp_attr_str(a, "gen_ai.conversation.id", group);
    if (conv & (OI | LF))
        tb__otlp_attr_str(a, "session.id", group);
    if ((conv & WANDB) && group) {
        /* Weave's threads: every span names its thread, a root span is a
         * turn of it */
        tb__otlp_attr_str(a, "wandb.thread_id", group);
        if (!getsn(v->span, "parent_id"))
            tb__otlp_attr_bool(a, "wandb.is_turn", true);
    }
    if ((conv & OI) && span_meta) {
        /* the trace's metadata with the span's own keys added (a key once:
         * the trace's, or the span's first), written as the merged object
         * prints, without building it */
        tb__buf b = {0};
        tb__buf_puts(&b, "{");
        const cJSON *kv;
        cJSON_ArrayForEach(kv, meta)
        {
            merge_member(&b, kv);
        }
        cJSON_ArrayForEach(kv, span_meta)
        {
            bool seen = get(meta, kv->string) != NULL;
            for (const cJSON *e = span_meta->child; !seen && e != kv; e = e->next)
                seen = strcmp(e->string, kv->string) == 0;
            if (!seen)
                merge_member(&b, kv);
        }
        tb__buf_puts(&b, "}");
        if (b.failed)
            tb__otlp_attr_fail(a);
        else
            tb__otlp_attr_strn(a, "metadata", b.data, b.len);
        tb__buf_free(&b);
    } else if ((conv & OI) && meta && cJSON_GetArraySize(meta) > 0) {
        /* the trace's metadata as it is: printed, not copied first */
        tb__otlp_attr_json(a, "metadata", meta);
    }
    if (conv & LF) {
        tb__otlp_attr_str(a, "langfuse.trace.name", wf);
        char key[200];
        const cJSON *kv;
        cJSON_ArrayForEach(kv, meta)
        {
            snprintf(key, sizeof key, "langfuse.trace.metadata.%s", kv->string);
            if (is_string(kv))
                tb__otlp_attr_str(a, key, kv->valuestring);
            else
                tb__otlp_attr_json(a, key, kv);
        }
        cJSON_ArrayForEach(kv, span_meta)
        {
            snprintf(key, sizeof key, "langfuse.observation.metadata.%s", kv->string);
            if (is_string(kv))
                tb__otlp_attr_str(a, key, kv->valuestring);
            else
                tb__otlp_attr_json(a, key, kv);
        }
    }
}

/* The trace-level attributes: built for the first span of a trace, then
 * the same KeyValues for its other spans, unless a span's own metadata or
 * W&B's per-span flag makes them differ (see tb__otlp_trace_attrs). */
static void trace_attrs(const tb__otlp_span_view *v, unsigned conv, tb__otlp_attrs *a)
{
    tb__otlp_trace_attrs *kept = v->trace_attrs;
    const cJSON *span_meta = get(v->span, "metadata");
    if (!is_object(span_meta) || cJSON_GetArraySize(span_meta) == 0)
        span_meta = NULL;
    bool shared = kept && !(conv & WANDB) && !span_meta;
    if (shared && kept->built) {
        tb__otlp_attrs_add_kept(a, &kept->kept);
        return;
    }
    size_t from = tb__otlp_attrs_mark(a);
    trace_attrs_build(v, span_meta, conv, a);
    if (shared) {
        tb__otlp_attrs_keep(a, from, &kept->kept);
        kept->built = true;
    }
}

static const char *mime(const io_val *v)
{
    return v->json ? "application/json" : "text/plain";
}

void tb__otlp_conventions_apply(const tb__otlp_span_view *v, unsigned conv, tb__otlp_attrs *a)
{
    const type_map *t = find_type(v->type);

    /* what an operator needs to find the record in the outbox */
    tb__otlp_attr_str(a, "tracebox.span_type", v->type);
    tb__otlp_attr_str(a, "tracebox.sdk_span_id", gets(v->span, "id"));
    tb__otlp_attr_str(a, "tracebox.sdk_trace_id", gets(v->span, "trace_id"));

    if (conv & OI) {
        tb__otlp_attr_static(a, "openinference.span.kind", t->oi_kind);
        /* the official processors: the Agents SDK is the system, on every span */
        if (!t->model_call)
            tb__otlp_attr_str(a, "llm.system", "openai");
    }
    if ((conv & GENAI) && t->genai_op)
        tb__otlp_attr_static(a, "gen_ai.operation.name", t->genai_op);
    if (conv & LF)
        tb__otlp_attr_static(a, "langfuse.observation.type", t->langfuse_type);
    if (t->model_call) {
        if (conv & GENAI) {
            tb__otlp_attr_str(a, "gen_ai.provider.name", "openai");
            tb__otlp_attr_str(a, "gen_ai.system", "openai");
        }
        if (conv & OI) {
            tb__otlp_attr_str(a, "llm.provider", "openai");
            tb__otlp_attr_str(a, "llm.system", "openai");
        }
    }
    if (v->error && (conv & GENAI))
        tb__otlp_attr_str(a, "error.type", gets(v->error, "message"));

    trace_attrs(v, conv, a);

    io x;
    memset(&x, 0, sizeof x);
    t->extract(v, t, conv, a, &x);
    if (conv & OI) {
        if (x.in.text) {
            tb__otlp_attr_str(a, "input.value", x.in.text);
            tb__otlp_attr_static(a, "input.mime_type", mime(&x.in));
        }
        if (x.out.text) {
            tb__otlp_attr_str(a, "output.value", x.out.text);
            tb__otlp_attr_static(a, "output.mime_type", mime(&x.out));
        }
    }
    if (conv & LF) {
        tb__otlp_attr_str(a, "langfuse.observation.input", x.lf_in ? x.lf_in : x.in.text);
        tb__otlp_attr_str(a, "langfuse.observation.output", x.lf_out ? x.lf_out : x.out.text);
        /* the run's input and final answer, on root spans (Langfuse reads
         * trace input/output from roots; the latest root wins) */
        if (!getsn(v->span, "parent_id")) {
            tb__otlp_attr_str(a, "langfuse.trace.input", v->run_in);
            tb__otlp_attr_str(a, "langfuse.trace.output", v->run_out);
        }
    }
    if (!(conv & (OI | LF))) {
        /* what GenAI has no name for; unmapped: messages of an unknown shape */
        bool named = (conv & GENAI) && t->genai_io;
        if (!named || x.in.unmapped)
            tb__otlp_attr_str(a, "tracebox.input", x.in.text);
        if (!named || x.out.unmapped)
            tb__otlp_attr_str(a, "tracebox.output", x.out.text);
    }
    io_free(&x);
}
