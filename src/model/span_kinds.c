/*
 * span_kinds.c — one constructor per span type the Agents SDK exports
 * (agent, function, generation, response, handoff, guardrail, custom,
 * mcp_tools, transcription, speech, speech_group, and the task and turn
 * customs).
 *
 * Each builds the span_data fields its type has in the SDK, null where the
 * SDK starts them null, and starts the span through the public
 * tb_span_start: this file never sees a span's insides. Allocation failures
 * travel as NULL items through tb__json_add and surface as one TB_NOMEM.
 */
#include "tracing_internal.h"
#include "json_print.h"

/* Build a data object from key/value pairs and start the span. Values are
 * cJSON items (consumed); NULL items mean the call failed to allocate. */
static tb_status start_typed(tb_span **out, tb_trace *trace, const tb_span *parent,
                             const char *type, cJSON *data)
{
    if (out)
        *out = NULL; /* on every failure path, as tb_span_start promises */
    if (!data)
        return tb__set_error(TB_NOMEM, "out of memory starting a span");
    char *json = tb__json_print(data);
    cJSON_Delete(data);
    if (!json)
        return tb__set_error(TB_NOMEM, "out of memory starting a span");
    tb_status st = tb_span_start(out, trace, parent, type, json);
    tb__free_mem(json);
    return st;
}

tb_status tb_span_start_agent(tb_span **out, tb_trace *trace, const tb_span *parent,
                              const char *name)
{
    tb__json_init();
    cJSON *o = tb__json_add(cJSON_CreateObject(), "name", tb__json_str_or_null(name));
    o = tb__json_add(o, "handoffs", cJSON_CreateNull());
    o = tb__json_add(o, "tools", cJSON_CreateNull());
    o = tb__json_add(o, "output_type", cJSON_CreateNull());
    return start_typed(out, trace, parent, "agent", o);
}

tb_status tb_span_start_function(tb_span **out, tb_trace *trace, const tb_span *parent,
                                 const char *name, const char *input)
{
    tb__json_init();
    cJSON *o = tb__json_add(cJSON_CreateObject(), "name", tb__json_str_or_null(name));
    o = tb__json_add(o, "input", tb__json_str_or_null(input));
    o = tb__json_add(o, "output", cJSON_CreateNull());
    o = tb__json_add(o, "mcp_data", cJSON_CreateNull());
    return start_typed(out, trace, parent, "function", o);
}

tb_status tb_span_start_generation(tb_span **out, tb_trace *trace, const tb_span *parent,
                                   const char *model, const char *input_json)
{
    tb__json_init();
    bool bad = false;
    cJSON *o = tb__json_add(cJSON_CreateObject(), "input", tb__json_raw_or_null(input_json, &bad));
    if (bad) {
        if (out)
            *out = NULL;
        return tb__set_error(TB_INVALID, "generation input: not valid JSON");
    }
    o = tb__json_add(o, "output", cJSON_CreateNull());
    o = tb__json_add(o, "model", tb__json_str_or_null(model));
    o = tb__json_add(o, "model_config", cJSON_CreateNull());
    o = tb__json_add(o, "usage", cJSON_CreateNull());
    return start_typed(out, trace, parent, "generation", o);
}

tb_status tb_span_start_response(tb_span **out, tb_trace *trace, const tb_span *parent,
                                 const char *response_id)
{
    tb__json_init();
    cJSON *o = tb__json_add(cJSON_CreateObject(), "response_id", tb__json_str_or_null(response_id));
    o = tb__json_add(o, "usage", cJSON_CreateNull());
    return start_typed(out, trace, parent, "response", o);
}

tb_status tb_span_start_handoff(tb_span **out, tb_trace *trace, const tb_span *parent,
                                const char *from_agent, const char *to_agent)
{
    tb__json_init();
    cJSON *o = tb__json_add(cJSON_CreateObject(), "from_agent", tb__json_str_or_null(from_agent));
    o = tb__json_add(o, "to_agent", tb__json_str_or_null(to_agent));
    return start_typed(out, trace, parent, "handoff", o);
}

tb_status tb_span_start_guardrail(tb_span **out, tb_trace *trace, const tb_span *parent,
                                  const char *name, int triggered)
{
    tb__json_init();
    cJSON *o = tb__json_add(cJSON_CreateObject(), "name", tb__json_str_or_null(name));
    o = tb__json_add(o, "triggered", cJSON_CreateBool(triggered != 0));
    return start_typed(out, trace, parent, "guardrail", o);
}

tb_status tb_span_start_custom(tb_span **out, tb_trace *trace, const tb_span *parent,
                               const char *name, const char *data_json)
{
    tb__json_init();
    bool bad = false;
    cJSON *d = data_json ? tb__json_raw_or_null(data_json, &bad) : cJSON_CreateObject();
    if (bad || (d && !cJSON_IsObject(d))) {
        cJSON_Delete(d);
        if (out)
            *out = NULL;
        return tb__set_error(TB_INVALID, "custom span data: expected a JSON object");
    }
    cJSON *o = tb__json_add(cJSON_CreateObject(), "name", tb__json_str_or_null(name));
    o = tb__json_add(o, "data", d);
    return start_typed(out, trace, parent, "custom", o);
}

tb_status tb_span_start_mcp_tools(tb_span **out, tb_trace *trace, const tb_span *parent,
                                  const char *server)
{
    tb__json_init();
    cJSON *o = tb__json_add(cJSON_CreateObject(), "server", tb__json_str_or_null(server));
    o = tb__json_add(o, "result", cJSON_CreateNull());
    return start_typed(out, trace, parent, "mcp_tools", o);
}

tb_status tb_span_start_transcription(tb_span **out, tb_trace *trace, const tb_span *parent,
                                      const char *model)
{
    tb__json_init();
    cJSON *in = tb__json_add(cJSON_CreateObject(), "data", cJSON_CreateString(""));
    in = tb__json_add(in, "format", cJSON_CreateString("pcm"));
    cJSON *o = tb__json_add(cJSON_CreateObject(), "input", in);
    o = tb__json_add(o, "output", cJSON_CreateNull());
    o = tb__json_add(o, "model", tb__json_str_or_null(model));
    o = tb__json_add(o, "model_config", cJSON_CreateNull());
    return start_typed(out, trace, parent, "transcription", o);
}

tb_status tb_span_start_speech(tb_span **out, tb_trace *trace, const tb_span *parent,
                               const char *model, const char *input)
{
    tb__json_init();
    cJSON *o = tb__json_add(cJSON_CreateObject(), "input", tb__json_str_or_null(input));
    cJSON *outp = tb__json_add(cJSON_CreateObject(), "data", cJSON_CreateString(""));
    outp = tb__json_add(outp, "format", cJSON_CreateString("pcm"));
    o = tb__json_add(o, "output", outp);
    o = tb__json_add(o, "model", tb__json_str_or_null(model));
    o = tb__json_add(o, "model_config", cJSON_CreateNull());
    o = tb__json_add(o, "first_content_at", cJSON_CreateNull());
    return start_typed(out, trace, parent, "speech", o);
}

tb_status tb_span_start_speech_group(tb_span **out, tb_trace *trace, const tb_span *parent,
                                     const char *input)
{
    tb__json_init();
    return start_typed(out, trace, parent, "speech_group",
                       tb__json_add(cJSON_CreateObject(), "input", tb__json_str_or_null(input)));
}

tb_status tb_span_start_task(tb_span **out, tb_trace *trace, const tb_span *parent,
                             const char *name)
{
    tb__json_init();
    cJSON *d = tb__json_add(cJSON_CreateObject(), "sdk_span_type", cJSON_CreateString("task"));
    d = tb__json_add(d, "name", tb__json_str_or_null(name));
    cJSON *o = tb__json_add(cJSON_CreateObject(), "name", cJSON_CreateString("task"));
    o = tb__json_add(o, "data", d);
    return start_typed(out, trace, parent, "custom", o);
}

tb_status tb_span_start_turn(tb_span **out, tb_trace *trace, const tb_span *parent, int turn,
                             const char *agent_name)
{
    tb__json_init();
    cJSON *d = tb__json_add(cJSON_CreateObject(), "sdk_span_type", cJSON_CreateString("turn"));
    d = tb__json_add(d, "turn", cJSON_CreateNumber(turn));
    d = tb__json_add(d, "agent_name", tb__json_str_or_null(agent_name));
    cJSON *o = tb__json_add(cJSON_CreateObject(), "name", cJSON_CreateString("turn"));
    o = tb__json_add(o, "data", d);
    return start_typed(out, trace, parent, "custom", o);
}
