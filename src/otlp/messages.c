/*
 * otlp/messages.c — a model call's messages, read once from whatever
 * shape the SDK exported them in and written in each convention's own.
 *
 * Design. A generation's input and output come in several shapes.
 * tb__otlp_norm_messages() turns any of them, once, into a list of `msg`
 * that every convention reads:
 *
 *   Chat Completions message  {role, content, tool_calls:[{id, function:
 *                             {name, arguments}}], tool_call_id, name}
 *                             (content null + `refusal`: the refusal).
 *   ChatCompletion response   {choices:[{message, finish_reason}]}: one
 *                             message per choice, with the choice's
 *                             finish_reason. The JS SDK's chat-completions
 *                             model exports output = [<the response>].
 *   Responses API items       {type:"message", role, content} and the bare
 *                             {role, content}; {type:"function_call", name,
 *                             call_id|callId, arguments}: an assistant
 *                             message with that one tool call;
 *                             {type:"function_call_output" (JS protocol:
 *                             "function_call_result"), call_id|callId,
 *                             output}: a "tool" message answering it.
 *
 * Content is a string or a list of parts: {text} (type text, input_text,
 * output_text), {refusal}, image_url {url} / input_image "url"; a tool
 * output may also be an object ({type:"text", text} in the JS protocol).
 * An element of any other shape (reasoning items, hosted tool calls,
 * non-objects) gives no message and makes the list incomplete: with GenAI
 * alone the raw value then goes out as tracebox.input / tracebox.output,
 * so nothing is lost (input.value / output.value carry it otherwise).
 *
 * A msg borrows everything from the parsed record; only the array is
 * allocated. Three writers read the list: Langfuse's OpenAI chat list,
 * OpenInference's flattened llm.*_messages.<i>.message.* attributes and
 * GenAI's gen_ai.*.messages JSON (each section below says its shape).
 */
#include "otlp/messages.h"

#include "internal.h"
#include "json_print.h"
#include "otlp/fields.h"

#include <string.h>

struct tb__otlp_msg {
    const char *role;          /* NULL: not given */
    const cJSON *content;      /* a string, a list of parts, other JSON, NULL */
    const cJSON *tool_calls;   /* Chat Completions tool_calls (an array), or NULL */
    const cJSON *call;         /* a Responses function_call item, or NULL */
    const cJSON *tool_call_id; /* the call a tool message answers, or NULL */
    const char *name;          /* a chat message's name, or NULL */
    const char *finish_reason; /* NULL: not given */
    size_t pos;                /* the element's place in its list (see tb__otlp_oi_messages) */
    bool tool_result;          /* from a function_call_output/_result item */
    bool unknown;              /* an item of another type that has content (a
                                  reasoning item): OpenInference only */
};
typedef struct tb__otlp_msg msg;
typedef tb__otlp_msg_list msg_list;

/* Messages of a known shape (GenAI and Langfuse leave the others out). */
static size_t known_messages(const msg_list *l)
{
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++)
        n += !l->m[i].unknown;
    return n;
}

/* One tool call, from either shape. */
typedef struct tool_call {
    const cJSON *id, *name, *arguments;
} tool_call;

static bool push(cJSON *arr, cJSON *item)
{
    if (!item)
        return false;
    if (!cJSON_AddItemToArray(arr, item)) {
        cJSON_Delete(item);
        return false;
    }
    return true;
}

static const cJSON *first_call(const msg *m)
{
    return m->call ? m->call : (m->tool_calls ? m->tool_calls->child : NULL);
}

static const cJSON *next_call(const msg *m, const cJSON *tc)
{
    return m->call ? NULL : tc->next;
}

static const cJSON *call_id(const cJSON *item)
{
    const cJSON *id = get(item, "call_id");
    return is_string(id) ? id : get(item, "callId");
}

static void read_call(const msg *m, const cJSON *tc, tool_call *c)
{
    if (m->call) {
        c->id = call_id(tc);
        c->name = get(tc, "name");
        c->arguments = get(tc, "arguments");
    } else {
        const cJSON *fn = get(tc, "function");
        c->id = get(tc, "id");
        c->name = get(fn, "name");
        c->arguments = get(fn, "arguments");
    }
}

static bool has_calls(const msg *m)
{
    return m->call || cJSON_GetArraySize(m->tool_calls) > 0;
}

/* The text of a content part: text, input_text, output_text, refusal. */
static const char *part_text(const cJSON *part)
{
    const char *text = gets(part, "text");
    return text ? text : gets(part, "refusal");
}

static void chat_message(const cJSON *m, msg *out)
{
    memset(out, 0, sizeof *out);
    out->role = gets(m, "role");
    out->content = get(m, "content");
    if (!is_string(out->content) && !is_array(out->content) && getsn(m, "refusal"))
        out->content = get(m, "refusal");
    const cJSON *calls = get(m, "tool_calls");
    out->tool_calls = is_array(calls) ? calls : NULL;
    out->tool_call_id = get(m, "tool_call_id");
    out->name = getsn(m, "name");
    out->finish_reason = getsn(m, "finish_reason");
}

/* The messages element e gives (into dst[0..) when dst is not NULL); clears
 * *complete when e, or a choice of it, has no known shape. */
static size_t norm_element(const cJSON *e, msg *dst, bool *complete)
{
    if (!is_object(e)) {
        *complete = false;
        return 0;
    }
    const cJSON *choices = get(e, "choices");
    if (is_array(choices)) {
        size_t n = 0;
        const cJSON *c;
        cJSON_ArrayForEach(c, choices)
        {
            const cJSON *m = get(c, "message");
            if (!is_object(m)) {
                *complete = false;
                continue;
            }
            if (dst) {
                chat_message(m, &dst[n]);
                if (!dst[n].role)
                    dst[n].role = "assistant";
                if (getsn(c, "finish_reason"))
                    dst[n].finish_reason = getsn(c, "finish_reason");
            }
            n++;
        }
        return n;
    }
    const char *type = gets(e, "type");
    msg m;
    memset(&m, 0, sizeof m);
    if (!type || strcmp(type, "message") == 0) {
        if (!type && !get(e, "role") && !get(e, "content") && !get(e, "tool_calls")) {
            *complete = false;
            return 0;
        }
        chat_message(e, &m);
    } else if (strcmp(type, "function_call") == 0) {
        m.role = "assistant";
        m.call = e;
    } else if (strcmp(type, "function_call_output") == 0 ||
               strcmp(type, "function_call_result") == 0) {
        m.role = "tool";
        m.tool_call_id = call_id(e);
        m.content = get(e, "output");
        m.tool_result = true;
    } else {
        *complete = false;
        if (!get(e, "content"))
            return 0;
        /* the official processors still show its content, without a role */
        m.role = gets(e, "role");
        m.content = get(e, "content");
        m.unknown = true;
    }
    if (dst)
        *dst = m;
    return 1;
}

bool tb__otlp_norm_messages(const cJSON *v, msg_list *l, tb__otlp_attrs *a)
{
    memset(l, 0, sizeof *l);
    l->complete = true;
    const cJSON *first;
    bool single = false;
    if (is_array(v)) {
        first = v->child;
    } else if (is_array(get(v, "choices"))) {
        first = v;
        single = true;
    } else {
        return false;
    }
    size_t n = 0;
    for (const cJSON *e = first; e; e = single ? NULL : e->next)
        n += norm_element(e, NULL, &l->complete);
    if (n == 0)
        return true;
    l->m = tb__calloc(n, sizeof *l->m);
    if (!l->m) {
        tb__otlp_attr_fail(a);
        return false;
    }
    bool again = true;
    size_t pos = 0;
    for (const cJSON *e = first; e; e = single ? NULL : e->next, pos++) {
        size_t k = norm_element(e, l->m + l->n, &again);
        for (size_t j = 0; j < k; j++)
            l->m[l->n + j].pos = pos;
        l->n += k;
    }
    return true;
}

bool tb__otlp_norm_messages_with(const cJSON *v, const cJSON *instructions, msg_list *l,
                                 tb__otlp_attrs *a)
{
    memset(l, 0, sizeof *l);
    bool sys = is_string(instructions) && instructions->valuestring[0];
    if (!sys && !is_string(v))
        return tb__otlp_norm_messages(v, l, a);
    msg_list rest;
    memset(&rest, 0, sizeof rest);
    rest.complete = true;
    if (!is_string(v) && has_value(v) && !tb__otlp_norm_messages(v, &rest, a))
        return false;
    size_t n = rest.n + (sys ? 1 : 0) + (is_string(v) ? 1 : 0);
    memset(l, 0, sizeof *l);
    l->complete = rest.complete;
    l->m = tb__calloc(n ? n : 1, sizeof *l->m);
    if (!l->m) {
        tb__free_mem(rest.m);
        tb__otlp_attr_fail(a);
        return false;
    }
    if (sys) {
        l->m[l->n].role = "system";
        l->m[l->n++].content = instructions;
    }
    size_t lead = l->n;
    if (is_string(v)) {
        l->m[l->n].role = "user";
        l->m[l->n].pos = lead;
        l->m[l->n++].content = v;
    }
    for (size_t i = 0; i < rest.n; i++) {
        l->m[l->n] = rest.m[i];
        l->m[l->n++].pos += lead;
    }
    tb__free_mem(rest.m);
    return true;
}

/* ---- Langfuse: an OpenAI chat message list ------------------------------
 * Langfuse's chat view reads OpenAI chat messages: {role, content (a
 * string), tool_calls:[{id, type:"function", function:{name, arguments}}],
 * tool_call_id, name}. Text parts are joined into the content string; a
 * message with other parts (images) keeps them as {type:"text"} /
 * {type:"image_url"} parts. */
static bool chat_content(cJSON *obj, const cJSON *content)
{
    if (!has_value(content))
        return true;
    if (is_string(content))
        return cJSON_AddStringToObject(obj, "content", content->valuestring) != NULL;
    if (!is_array(content)) {
        const char *text = gets(content, "text");
        if (text)
            return cJSON_AddStringToObject(obj, "content", text) != NULL;
        char *json = tb__json_print(content);
        bool ok = json && cJSON_AddStringToObject(obj, "content", json);
        cJSON_free(json);
        return ok;
    }
    bool only_text = true;
    const cJSON *part;
    tb__buf b = {0};
    cJSON_ArrayForEach(part, content)
    {
        const char *text = part_text(part);
        if (text)
            tb__buf_puts(&b, text);
        else if (gets(part, "type"))
            only_text = false;
    }
    bool ok = !b.failed;
    if (ok && only_text) {
        tb__buf_append(&b, "", 1);
        ok = !b.failed && cJSON_AddStringToObject(obj, "content", b.data ? b.data : "");
        tb__buf_free(&b);
        return ok;
    }
    tb__buf_free(&b);
    cJSON *parts = cJSON_AddArrayToObject(obj, "content");
    if (!ok || !parts)
        return false;
    cJSON_ArrayForEach(part, content)
    {
        const char *text = part_text(part);
        const char *type = gets(part, "type");
        const char *url = NULL;
        if (type && strcmp(type, "image_url") == 0)
            url = gets(get(part, "image_url"), "url");
        else if (type && strcmp(type, "input_image") == 0)
            url = gets(part, "image_url");
        cJSON *p = cJSON_CreateObject();
        if (!push(parts, p))
            return false;
        if (text) {
            ok = cJSON_AddStringToObject(p, "type", "text") &&
                 cJSON_AddStringToObject(p, "text", text);
        } else if (url) {
            cJSON *iu = cJSON_AddObjectToObject(p, "image_url");
            ok = cJSON_AddStringToObject(p, "type", "image_url") && iu &&
                 cJSON_AddStringToObject(iu, "url", url);
        }
        if (!ok)
            return false;
    }
    return ok;
}

static bool chat_message_json(cJSON *out, const msg *m, bool output)
{
    cJSON *obj = cJSON_CreateObject();
    if (!push(out, obj))
        return false;
    bool ok =
        cJSON_AddStringToObject(obj, "role", m->role ? m->role : (output ? "assistant" : "user")) &&
        chat_content(obj, m->content);
    if (ok && m->name)
        ok = cJSON_AddStringToObject(obj, "name", m->name) != NULL;
    if (ok && is_string(m->tool_call_id))
        ok = cJSON_AddStringToObject(obj, "tool_call_id", m->tool_call_id->valuestring) != NULL;
    cJSON *calls = ok && has_calls(m) ? cJSON_AddArrayToObject(obj, "tool_calls") : NULL;
    for (const cJSON *tc = calls ? first_call(m) : NULL; tc && ok; tc = next_call(m, tc)) {
        tool_call c;
        read_call(m, tc, &c);
        cJSON *call = cJSON_CreateObject();
        cJSON *fn = cJSON_CreateObject();
        ok = push(calls, call) && fn && cJSON_AddItemToObject(call, "function", fn);
        if (!ok) {
            cJSON_Delete(fn);
            break;
        }
        ok = add_copy(call, "id", c.id) && cJSON_AddStringToObject(call, "type", "function") &&
             add_copy(fn, "name", c.name);
        if (ok && is_string(c.arguments)) {
            ok = cJSON_AddStringToObject(fn, "arguments", c.arguments->valuestring) != NULL;
        } else if (ok && has_value(c.arguments)) {
            char *json = tb__json_print(c.arguments);
            ok = json && cJSON_AddStringToObject(fn, "arguments", json);
            cJSON_free(json);
        }
    }
    return ok;
}

char *tb__otlp_chat_messages_text(const msg_list *l, bool output, tb__otlp_attrs *a)
{
    if (known_messages(l) == 0)
        return NULL;
    cJSON *out = cJSON_CreateArray();
    bool ok = out != NULL;
    for (size_t i = 0; ok && i < l->n; i++)
        ok = l->m[i].unknown || chat_message_json(out, &l->m[i], output);
    char *text = ok ? tb__json_print(out) : NULL;
    if (!text)
        tb__otlp_attr_fail(a);
    cJSON_Delete(out);
    return text;
}

/* ---- OpenInference: llm.input_messages.<i>.message.role … --------------- */

/* keys: <prefix>.<i>.message (BASE), + .tool_calls.<k>.tool_call (SUB), + a leaf */
#define BASE_MAX 64
#define SUB_MAX 128
#define KEY_MAX 192

/* Keys are joined by hand, as snprintf("%s%s%zu%s") would (cut at cap - 1
 * bytes): they are most of a generation's attributes, and snprintf was a
 * third of the time spent writing them. */
static size_t key_put(char *out, size_t cap, size_t at, const char *s)
{
    size_t n = strlen(s);
    if (n > cap - 1 - at)
        n = cap - 1 - at;
    memcpy(out + at, s, n);
    out[at + n] = '\0';
    return at + n;
}

/* out = head + mid + n (decimal) + tail */
static void key_num(char *out, size_t cap, const char *head, const char *mid, size_t n,
                    const char *tail)
{
    char digits[24], *d = digits + sizeof digits;
    *--d = '\0';
    do
        *--d = (char)('0' + n % 10);
    while ((n /= 10) != 0);
    size_t at = key_put(out, cap, 0, head);
    at = key_put(out, cap, at, mid);
    at = key_put(out, cap, at, d);
    key_put(out, cap, at, tail);
}

static void key_join(char *out, size_t cap, const char *head, const char *tail)
{
    key_put(out, cap, key_put(out, cap, 0, head), tail);
}

/* base + suffix = value, when value is not NULL. */
static void oi_str(tb__otlp_attrs *a, const char *base, const char *suffix, const char *value)
{
    if (!value)
        return;
    char key[KEY_MAX];
    key_join(key, sizeof key, base, suffix);
    tb__otlp_attr_str(a, key, value);
}

static void oi_content(const cJSON *content, const char *base, tb__otlp_attrs *a)
{
    if (is_string(content)) {
        oi_str(a, base, ".content", content->valuestring);
    } else if (is_array(content)) {
        size_t j = 0;
        const cJSON *part;
        cJSON_ArrayForEach(part, content)
        {
            char pb[SUB_MAX];
            key_num(pb, sizeof pb, base, ".contents.", j++, ".message_content");
            const char *text = part_text(part);
            const char *type = gets(part, "type");
            if (text) {
                oi_str(a, pb, ".type", "text");
                oi_str(a, pb, ".text", text);
            } else if (type && strcmp(type, "image_url") == 0) {
                oi_str(a, pb, ".type", "image");
                oi_str(a, pb, ".image.image.url", gets(get(part, "image_url"), "url"));
            } else if (type && strcmp(type, "input_image") == 0) {
                oi_str(a, pb, ".type", "image");
                oi_str(a, pb, ".image.image.url", gets(part, "image_url"));
            }
        }
    } else if (has_value(content)) {
        /* a tool's output object: its text, else its JSON */
        char key[KEY_MAX];
        key_join(key, sizeof key, base, ".content");
        const char *text = gets(content, "text");
        if (text)
            tb__otlp_attr_str(a, key, text);
        else
            tb__otlp_attr_json(a, key, content);
    }
}

void tb__otlp_oi_messages(const msg_list *l, const char *prefix, bool positional, tb__otlp_attrs *a)
{
    size_t next = 0;
    for (size_t i = 0; i < l->n; i++) {
        const msg *m = &l->m[i];
        if (m->unknown && !positional)
            continue;
        char base[BASE_MAX];
        key_num(base, sizeof base, prefix, ".", positional ? m->pos : next++, ".message");
        oi_str(a, base, ".role", m->role);
        if (m->tool_result && !is_string(m->content) && !gets(m->content, "text")) {
            /* a tool's output of another shape: its JSON */
            char key[KEY_MAX];
            key_join(key, sizeof key, base, ".content");
            tb__otlp_attr_json(a, key, m->content);
        } else {
            oi_content(m->content, base, a);
        }
        oi_str(a, base, ".name", m->name);
        const char *tcid = is_string(m->tool_call_id) ? m->tool_call_id->valuestring : NULL;
        oi_str(a, base, ".tool_call_id", tcid && tcid[0] ? tcid : NULL);
        size_t k = 0;
        for (const cJSON *tc = first_call(m); tc; tc = next_call(m, tc)) {
            tool_call c;
            read_call(m, tc, &c);
            char cb[SUB_MAX];
            key_num(cb, sizeof cb, base, ".tool_calls.", k++, ".tool_call");
            oi_str(a, cb, ".id", is_string(c.id) ? c.id->valuestring : NULL);
            oi_str(a, cb, ".function.name", is_string(c.name) ? c.name->valuestring : NULL);
            if (is_string(c.arguments)) {
                oi_str(a, cb, ".function.arguments", c.arguments->valuestring);
            } else if (is_object(c.arguments) || is_array(c.arguments)) {
                char key[KEY_MAX];
                key_join(key, sizeof key, cb, ".function.arguments");
                tb__otlp_attr_json(a, key, c.arguments);
            }
        }
    }
}

/* ---- GenAI: [{"role":…, "parts":[…], "finish_reason":…}] -----------------
 * Parts: {"type":"text","content"}, {"type":"tool_call","id","name",
 * "arguments"}, {"type":"tool_call_response","id","response"};
 * finish_reason on output messages only. Written straight as text (the
 * bytes cJSON printed of the same objects, built as trees before). */

/* ,"key":value — value as JSON, or null when it has none */
static void put_member(tb__buf *b, const char *key, const cJSON *v)
{
    tb__buf_puts(b, ",\"");
    tb__buf_puts(b, key);
    tb__buf_puts(b, "\":");
    if (has_value(v))
        tb__json_write(b, v);
    else
        tb__buf_puts(b, "null");
}

static void text_part(tb__buf *b, bool *first, const char *text)
{
    tb__buf_puts(b,
                 *first ? "{\"type\":\"text\",\"content\":" : ",{\"type\":\"text\",\"content\":");
    tb__json_write_str(b, text);
    tb__buf_puts(b, "}");
    *first = false;
}

/* GenAI's values: stop, length, content_filter, tool_call, error. */
static const char *finish_reason(const msg *m)
{
    const char *fr = m->finish_reason;
    if (!fr)
        return has_calls(m) ? "tool_call" : "stop";
    if (strcmp(fr, "tool_calls") == 0 || strcmp(fr, "function_call") == 0)
        return "tool_call";
    return fr;
}

static void genai_message(tb__buf *b, const msg *m, bool output)
{
    const char *role = m->role;
    const cJSON *content = m->content;
    tb__buf_puts(b, "{\"role\":");
    tb__json_write_str(b, role ? role : (output ? "assistant" : "user"));
    if (output) {
        tb__buf_puts(b, ",\"finish_reason\":");
        tb__json_write_str(b, finish_reason(m));
    }
    tb__buf_puts(b, ",\"parts\":[");
    bool first = true;
    if (role && strcmp(role, "tool") == 0) {
        tb__buf_puts(b, "{\"type\":\"tool_call_response\"");
        put_member(b, "id", m->tool_call_id);
        put_member(b, "response", content);
        tb__buf_puts(b, "}");
        first = false;
    } else if (is_string(content)) {
        text_part(b, &first, content->valuestring);
    } else if (is_array(content)) {
        const cJSON *part;
        cJSON_ArrayForEach(part, content)
        {
            const char *text = part_text(part);
            if (text)
                text_part(b, &first, text);
        }
    } else if (gets(content, "text")) {
        text_part(b, &first, gets(content, "text"));
    }
    for (const cJSON *tc = first_call(m); tc && !b->failed; tc = next_call(m, tc)) {
        tool_call c;
        read_call(m, tc, &c);
        tb__buf_puts(b, first ? "{\"type\":\"tool_call\"" : ",{\"type\":\"tool_call\"");
        first = false;
        put_member(b, "id", c.id);
        put_member(b, "name", c.name);
        /* arguments: the parsed object when the string is JSON */
        cJSON *parsed =
            is_string(c.arguments) ? tb__json_parse_str(c.arguments->valuestring) : NULL;
        put_member(b, "arguments", parsed ? parsed : c.arguments);
        cJSON_Delete(parsed);
        tb__buf_puts(b, "}");
    }
    tb__buf_puts(b, "]}");
}

void tb__otlp_genai_messages(const msg_list *l, const char *key, bool output, tb__otlp_attrs *a)
{
    if (known_messages(l) == 0 && !l->complete)
        return;
    tb__buf *b = &a->scratch;
    b->len = 0;
    tb__buf_puts(b, "[");
    bool first = true;
    for (size_t i = 0; i < l->n; i++) {
        if (l->m[i].unknown)
            continue;
        if (!first)
            tb__buf_puts(b, ",");
        genai_message(b, &l->m[i], output);
        first = false;
    }
    tb__buf_puts(b, "]");
    if (b->failed)
        tb__otlp_attr_fail(a);
    else
        tb__otlp_attr_strn(a, key, b->data, b->len);
}
