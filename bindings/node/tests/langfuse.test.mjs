// What Langfuse receives from a real @openai/agents-core 0.20.0 Runner run.
//
// The workload of reference.test.mjs (workload.mjs: a triage agent on
// @openai/agents-openai's Responses model hands off to a billing agent on its
// Chat Completions model, a stub OpenAI client answering with tool calls,
// cached and reasoning tokens; an MCP server, a tool that fails, guardrails,
// a tripped guardrail, voice spans) goes through the tracebox binding into an
// outbox, and `tracebox ship --once` sends it to a `langfuse` destination and
// an `openai` destination on a loopback receiver. The Langfuse bodies are
// decoded with OpenTelemetry's generated OTLP types; every expected value
// comes from what the stub returned or was asked, or from the SDK's records:
// - model spans (Chat Completions `generation`, Responses `response`):
//   observation type, model name, usage_details, input / output as OpenAI
//   chat message lists with tool calls and tool results;
// - status ERROR with the SDK error's data in the message where the SDK
//   recorded an error (the failing tool), OK everywhere else;
// - trace attributes: name and session on every span, the run's input and
//   final answer on the run's root span (in agents-core 0.20.0 the root is
//   the run's task span; the agent spans sit under it);
// - MCP tool listings carry no tool name;
// - the `openai` destination gets, for every record, the bytes of
//   JSON.stringify(toJSON()) — the binding's extension fields stripped.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { isDeepStrictEqual } from 'node:util';

import { getGlobalTraceProvider, setTraceProcessors, setTracingDisabled } from '@openai/agents-core';

import { OutboxProcessor } from '../index.mjs';
import { TB_CLI, cliExport, cliShip, receivedSpans, startServer, tmpdir } from './helpers.mjs';
import { FINAL_ANSWER, GROUP_ID, USER_INPUT, WORKFLOW, runWorkload } from './workload.mjs';

setTracingDisabled(false); // agents-core turns tracing off when NODE_ENV=test

const noCli = TB_CLI ? false : 'TB_CLI (the tracebox CLI) is not set and no build was found';

const OK = 1;
const ERROR = 2;
const LF_PATH = '/lf/api/public/otel/v1/traces';
const OAI_PATH = '/oai/v1/traces/ingest';

/** Keeps, per record id, the JSON text of the SDK's own export (toJSON()),
 * taken when the SDK hands the record out, and the live Span objects. */
class ExportTextProcessor {
  texts = new Map(); // record id → JSON.stringify(toJSON())
  traces = new Map(); // trace id → trace toJSON()
  spans = new Map(); // span id → live Span
  twice = []; // ids handed out more than once (a hook must not throw: the SDK only logs it)
  #keep(j) {
    if (this.texts.has(j.id)) this.twice.push(j.id);
    this.texts.set(j.id, JSON.stringify(j));
  }
  start() {}
  async onTraceStart(trace) {
    const j = trace.toJSON();
    if (!j) return;
    this.#keep(j);
    this.traces.set(j.id, j);
  }
  async onTraceEnd() {}
  async onSpanStart() {}
  async onSpanEnd(span) {
    const j = span.toJSON();
    if (!j) return;
    this.#keep(j);
    this.spans.set(span.spanId, span);
  }
  async forceFlush() {}
  async shutdown() {}
}

// ---------------------------------------------------------------------------
// Findings: every wrong value is listed (where, key, expected, got), then
// the test fails once with the whole list.
// ---------------------------------------------------------------------------

const show = (v) => (v === undefined ? '(not set)' : JSON.stringify(v));

class Findings {
  list = [];
  /** got must deep-equal want. */
  eq(where, key, got, want) {
    if (!isDeepStrictEqual(got, want)) this.list.push(`${where}: ${key}: expected ${show(want)}, got ${show(got)}`);
  }
  ok(cond, where, what) {
    if (!cond) this.list.push(`${where}: ${what}`);
    return cond;
  }
  /** Runs checks that cannot go on after a failure (e.g. a value that is not JSON). */
  within(fn) {
    try {
      fn();
    } catch (e) {
      if (!(e instanceof Stop)) throw e;
    }
  }
  stop(where, what) {
    this.list.push(`${where}: ${what}`);
    throw new Stop();
  }
}
class Stop extends Error {}

/** A Langfuse JSON attribute, parsed (stops the span's checks when it is not). */
function jsonAttr(fx, f, key, w) {
  const v = f.attrs[key];
  if (typeof v !== 'string') fx.stop(w, `${key}: expected a JSON string, got ${show(v)}`);
  try {
    return JSON.parse(v);
  } catch {
    return fx.stop(w, `${key}: not JSON: ${show(v.slice(0, 300))}`);
  }
}

/** Langfuse's usage buckets from an OpenAI usage: input without the cached
 * tokens, output without the reasoning tokens. A zero cached / reasoning
 * bucket may be left out (Langfuse reads a missing bucket as 0). */
function expectedUsage({ input, output, total, cached, reasoning }) {
  const u = { input: input - cached, output: output - reasoning, total };
  if (cached) u.input_cached_tokens = cached;
  if (reasoning) u.output_reasoning_tokens = reasoning;
  return u;
}

function withoutZeroOptionalBuckets(u) {
  if (u === null || typeof u !== 'object') return u;
  const out = { ...u };
  for (const k of ['input_cached_tokens', 'output_reasoning_tokens']) if (out[k] === 0) delete out[k];
  return out;
}

const CHAT_ROLES = ['system', 'developer', 'user', 'assistant', 'tool'];

/** The value is a list of OpenAI chat messages (never a raw API object). */
function checkMessageList(fx, list, key, w) {
  const brief = (x) => JSON.stringify(x).slice(0, 300);
  if (!Array.isArray(list)) fx.stop(w, `${key}: expected a JSON array of chat messages, got ${brief(list)}`);
  if (list.length === 0) fx.stop(w, `${key}: expected a list of chat messages, got []`);
  let good = true;
  list.forEach((m, i) => {
    const at = `${key}[${i}]`;
    if (m === null || typeof m !== 'object' || Array.isArray(m)) {
      good = fx.ok(false, w, `${at}: expected a chat message object, got ${brief(m)}`) && good;
      return;
    }
    good = fx.ok(!('choices' in m), w, `${at}: expected a chat message, got a ChatCompletion (has choices): ${brief(m)}`) && good;
    good = fx.ok(m.object !== 'response', w, `${at}: expected a chat message, got a Responses object: ${brief(m)}`) && good;
    good = fx.ok(CHAT_ROLES.includes(m.role), w, `${at}.role: expected one of ${CHAT_ROLES.join('/')}, got ${show(m.role)} in ${brief(m)}`) && good;
  });
  if (!good) throw new Stop();
}

/** Text of a chat message's content: a string, or the text parts of a list. */
function textOf(content) {
  if (content === undefined || content === null) return '';
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.filter((p) => p && p.type === 'text').map((p) => p.text).join('');
  return JSON.stringify(content);
}

/**
 * One model call as Langfuse receives it: `expect` holds what the stub
 * returned (model, usage, text, tool calls) and what it was asked (the ids of
 * the tool results in its input).
 */
function checkModelSpan(fx, f, expect, w) {
  const a = f.attrs;
  fx.eq(w, 'langfuse.observation.type', a['langfuse.observation.type'], 'generation');
  fx.eq(w, 'langfuse.observation.model.name (the model the API returned)', a['langfuse.observation.model.name'], expect.model);
  fx.within(() => {
    fx.eq(w, 'langfuse.observation.usage_details', withoutZeroOptionalBuckets(jsonAttr(fx, f, 'langfuse.observation.usage_details', w)),
      expectedUsage(expect.usage));
  });

  fx.within(() => {
    const key = 'langfuse.observation.input';
    const input = jsonAttr(fx, f, key, w);
    checkMessageList(fx, input, key, w);
    fx.ok(input.some((m) => m.role === 'user' && textOf(m.content).includes(USER_INPUT)), w,
      `${key}: expected a user message with ${show(USER_INPUT)}, got roles ${input.map((m) => m.role).join(', ')}`);
    const toolResults = input.filter((m) => m.role === 'tool');
    fx.eq(w, `${key}: tool_call_id of the role "tool" messages (the tool results the model was given)`,
      toolResults.map((m) => m.tool_call_id), expect.toolResultIds);
  });

  fx.within(() => {
    const key = 'langfuse.observation.output';
    const output = jsonAttr(fx, f, key, w);
    checkMessageList(fx, output, key, w);
    fx.eq(w, `${key}: roles`, output.map((m) => m.role), output.map(() => 'assistant'));
    fx.eq(w, `${key}: text content`, output.map((m) => textOf(m.content)).join(''), expect.text);
    const withCalls = output.filter((m) => Array.isArray(m.tool_calls) && m.tool_calls.length > 0);
    if (expect.toolCalls.length === 0) {
      fx.eq(w, `${key}: tool_calls (the model called none)`, withCalls.flatMap((m) => m.tool_calls), []);
      return;
    }
    if (withCalls.length === 0) {
      fx.stop(w, `${key}: expected a message with tool_calls (${expect.toolCalls.map((c) => c.name).join(', ')}), got none: ${JSON.stringify(output).slice(0, 300)}`);
    }
    const first = withCalls[0].tool_calls[0];
    fx.eq(w, `${key}: tool_calls[0].function.name`, first?.function?.name, expect.toolCalls[0].name);
    fx.eq(w, `${key}: tool_calls[0].type`, first?.type, 'function');
    fx.eq(w, `${key}: every tool call {id, type, function: {name, arguments}}`, withCalls.flatMap((m) => m.tool_calls),
      expect.toolCalls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } })));
  });
}

test('Langfuse gets generations, usage, chat messages, status and trace I/O of a real Runner run; openai gets toJSON() verbatim', { skip: noCli }, async (t) => {
  const dir = tmpdir(t);
  const db = path.join(dir, 'traces.db');
  const outbox = new OutboxProcessor(db);
  const sdk = new ExportTextProcessor();
  setTraceProcessors([outbox, sdk]);
  t.after(() => setTraceProcessors([]));

  const { triageAI, billingAI } = await runWorkload();
  await getGlobalTraceProvider().forceFlush();
  await outbox.shutdown();
  setTraceProcessors([]);
  assert.equal(outbox.stats.failed, 0, 'records the binding could not store');
  assert.deepEqual(sdk.twice, [], 'records the SDK handed out twice');

  // ---- ship to langfuse and openai on a loopback receiver ----
  const { server, requests, port } = await startServer();
  t.after(() => server.close());
  const base = `http://127.0.0.1:${port}`;
  const ini = path.join(dir, 'tracebox.ini');
  fs.writeFileSync(ini, `
[langfuse]
type = langfuse
host = ${base}/lf
public_key = pk-lf-test
secret_key = sk-lf-test

[openai]
type = openai
base_url = ${base}/oai
api_key = sk-test-openai
`);
  const r = await cliShip(db, ini);
  assert.equal(r.status, 0, r.stderr);
  for (const q of requests) assert.ok([LF_PATH, OAI_PATH].includes(q.url), `a request to an unexpected path ${q.url}`);

  const fx = new Findings();

  // ---- Langfuse: every SDK span exactly once ----
  const flat = receivedSpans(requests, LF_PATH);
  const bySdkId = new Map();
  for (const f of flat) {
    const id = f.attrs['tracebox.sdk_span_id'];
    assert.ok(id, `langfuse: span ${f.span.name} has no tracebox.sdk_span_id`);
    assert.ok(!bySdkId.has(id), `langfuse: SDK span ${id} sent twice`);
    bySdkId.set(id, f);
  }
  assert.equal(flat.length, sdk.spans.size, `langfuse: ${flat.length} spans for ${sdk.spans.size} SDK spans`);
  const lf = (span) => {
    const f = bySdkId.get(span.spanId);
    assert.ok(f, `langfuse: no span for ${span.spanData.type} ${span.spanId}`);
    return f;
  };
  const spans = [...sdk.spans.values()];
  const spansOf = (type) => spans.filter((s) => s.spanData.type === type);

  // ---- model spans: Chat Completions generations and Responses spans ----
  const chatSpans = spansOf('generation').filter((s) => s.spanData.output?.[0]?.object === 'chat.completion');
  assert.equal(chatSpans.length, billingAI.answers.completions.length, 'a generation span per Chat Completions call');
  chatSpans.forEach((s) => {
    const i = billingAI.answers.completions.findIndex((c) => c.id === s.spanData.output[0].id);
    assert.ok(i >= 0, `generation ${s.spanId}: not one of the stub's completions`);
    const answer = billingAI.answers.completions[i];
    const req = billingAI.requests.completions[i];
    const msg = answer.choices[0].message;
    const u = answer.usage;
    checkModelSpan(fx, lf(s), {
      model: answer.model,
      usage: {
        input: u.prompt_tokens, output: u.completion_tokens, total: u.total_tokens,
        cached: u.prompt_tokens_details.cached_tokens, reasoning: u.completion_tokens_details.reasoning_tokens,
      },
      text: msg.content ?? '',
      toolCalls: (msg.tool_calls ?? []).map((c) => ({ id: c.id, name: c.function.name, arguments: c.function.arguments })),
      toolResultIds: req.messages.filter((m) => m.role === 'tool').map((m) => m.tool_call_id),
    }, `langfuse: Chat Completions generation #${i + 1} (${s.spanId})`);
  });

  const responseSpans = spansOf('response').filter((s) => triageAI.answers.responses.some((a) => a.id === s.spanData._response?.id));
  assert.equal(responseSpans.length, triageAI.answers.responses.length, 'a response span per Responses call of the refund run');
  assert.equal(responseSpans.length, spansOf('response').length, 'every response span is one of the stub\'s answers');
  responseSpans.forEach((s) => {
    const i = triageAI.answers.responses.findIndex((a) => a.id === s.spanData._response.id);
    const answer = triageAI.answers.responses[i];
    const req = triageAI.requests.responses[i];
    const u = answer.usage;
    checkModelSpan(fx, lf(s), {
      model: answer.model,
      usage: {
        input: u.input_tokens, output: u.output_tokens, total: u.total_tokens,
        cached: u.input_tokens_details.cached_tokens, reasoning: u.output_tokens_details.reasoning_tokens,
      },
      text: answer.output_text,
      toolCalls: answer.output.filter((o) => o.type === 'function_call').map((o) => ({ id: o.call_id, name: o.name, arguments: o.arguments })),
      toolResultIds: (Array.isArray(req.input) ? req.input : []).filter((it) => it.type === 'function_call_output').map((it) => it.call_id),
    }, `langfuse: Responses response #${i + 1} (${s.spanId})`);
  });
  // not vacuous: tool calls out, tool results in, cached and reasoning tokens, in both APIs
  const stubbed = [...billingAI.answers.completions.map((a) => a.usage.completion_tokens_details.reasoning_tokens),
    ...triageAI.answers.responses.map((a) => a.usage.output_tokens_details.reasoning_tokens)];
  assert.ok(stubbed.some((x) => x > 0) && stubbed.some((x) => x === 0), 'the stub answers with and without reasoning tokens');
  assert.ok(billingAI.requests.completions.some((q) => q.messages.some((m) => m.role === 'tool')), 'a Chat Completions call given tool results');
  assert.ok(triageAI.requests.responses.some((q) => Array.isArray(q.input) && q.input.some((it) => it.type === 'function_call_output')),
    'a Responses call given tool results');

  // ---- status: ERROR with the SDK error's data where the SDK recorded an error, else OK ----
  const failingTool = spansOf('function').filter((s) => s.error);
  assert.equal(failingTool.length, 1, 'one failing tool');
  assert.equal(failingTool[0].spanData.name, 'check_fraud');
  assert.ok(failingTool[0].error.data, 'the failing tool span has error.data');
  for (const s of spans) {
    const f = lf(s);
    const w = `langfuse: ${s.spanData.type} span ${f.span.name} (${s.spanId})`;
    if (s.error) {
      fx.eq(w, `status.code (the SDK recorded an error: ${JSON.stringify(s.error)})`, f.span.status?.code, ERROR);
      const data = JSON.stringify(s.error.data);
      fx.ok(typeof f.span.status?.message === 'string' && f.span.status.message.includes(data), w,
        `status.message: expected to contain the error data ${data}, got ${show(f.span.status?.message)}`);
    } else {
      fx.eq(w, 'status.code (no SDK error)', f.span.status?.code, OK);
    }
  }

  // ---- trace attributes: name and session on every span; the run's I/O on its root ----
  for (const s of spans) {
    const f = lf(s);
    const trace = sdk.traces.get(s.traceId);
    assert.ok(trace, `no trace record for ${s.traceId}`);
    const w = `langfuse: ${s.spanData.type} span ${f.span.name} (${s.spanId})`;
    fx.eq(w, 'langfuse.trace.name', f.attrs['langfuse.trace.name'], trace.workflow_name);
    fx.eq(w, 'session.id', f.attrs['session.id'], trace.group_id ?? undefined);
  }
  const refund = [...sdk.traces.values()].find((tr) => tr.workflow_name === WORKFLOW);
  assert.equal(refund.group_id, GROUP_ID, 'the refund run sets a group id');
  const roots = spans.filter((s) => s.traceId === refund.id && !s.parentId);
  assert.ok(roots.length >= 1, 'the refund run has a root span');
  // In agents-core 0.20.0 the run's root is its task span; agent spans sit under it.
  // (the live spanData.type; toJSON() exports a task span as a custom span)
  assert.ok(roots.some((s) => ['task', 'agent'].includes(s.spanData.type)),
    `the root is the run (task) or an agent: ${roots.map((s) => s.spanData.type)}`);
  for (const s of roots) {
    const f = lf(s);
    const w = `langfuse: root span ${f.span.name} (${s.spanId})`;
    fx.eq(w, 'parent span id', f.parentSpanId, '');
    const input = f.attrs['langfuse.trace.input'];
    fx.ok(typeof input === 'string' && input.includes(USER_INPUT), w,
      `langfuse.trace.input: expected to contain the user's message ${show(USER_INPUT)}, got ${show(input)}`);
    fx.eq(w, 'langfuse.trace.output (the final answer)', f.attrs['langfuse.trace.output'], FINAL_ANSWER);
    fx.eq(w, 'langfuse.trace.name', f.attrs['langfuse.trace.name'], WORKFLOW);
    fx.eq(w, 'session.id', f.attrs['session.id'], GROUP_ID);
  }

  // ---- MCP tool listings call no tool ----
  const mcp = spansOf('mcp_tools');
  assert.ok(mcp.length >= 1, 'an MCP list-tools span');
  for (const s of mcp) fx.eq(`langfuse: mcp_tools span ${s.spanId}`, 'gen_ai.tool.name (it lists tools, calls none)', lf(s).attrs['gen_ai.tool.name'], undefined);

  // ---- openai: each record is the bytes of JSON.stringify(toJSON()) ----
  const oai = requests.filter((q) => q.url === OAI_PATH);
  assert.ok(oai.length >= 1, 'openai: no request');
  const shipped = new Set();
  for (const q of oai) {
    const body = q.body.toString('utf8');
    const sent = JSON.parse(body).data;
    for (const x of sent) {
      assert.ok(sdk.texts.has(x.id), `openai: record ${x.id} is not one the SDK handed out`);
      assert.ok(!shipped.has(x.id), `openai: record ${x.id} sent twice`);
      shipped.add(x.id);
    }
    // The body must be exactly {"data":[<JSON.stringify(toJSON()) of each record>,…]}.
    const texts = sent.map((x) => sdk.texts.get(x.id));
    const want = `{"data":[${texts.join(',')}]}`;
    if (body === want) continue;
    // Which records differ in content (e.g. an extension field left in) …
    let listed = 0;
    sent.forEach((x, i) => {
      const sdkRecord = JSON.parse(texts[i]);
      if (isDeepStrictEqual(x, sdkRecord)) return;
      listed++;
      const extra = Object.keys(x.span_data ?? {}).filter((k) => !(k in (sdkRecord.span_data ?? {})));
      fx.eq(`openai: record ${x.id}`, 'the record (as JSON.parse reads it) against toJSON()' +
        (extra.length ? `; span_data fields toJSON() does not have: ${extra.join(', ')}` : ''), x, sdkRecord);
    });
    // … and where the bytes first differ (also catches spacing, escaping, number formatting).
    let d = 0;
    while (d < want.length && body[d] === want[d]) d++;
    let at = '{"data":['.length;
    const rec = texts.findIndex((tx) => (at += tx.length + 1) > d);
    fx.ok(false, `openai: request body${rec >= 0 ? ` (record ${sent[rec].id})` : ''}`,
      `expected the bytes of {"data":[JSON.stringify(toJSON()),…]}; first difference at byte ${d} of ${body.length}` +
      `${listed ? '' : ' (the same values, other bytes)'}: expected …${JSON.stringify(want.slice(Math.max(0, d - 40), d + 60))}, ` +
      `got …${JSON.stringify(body.slice(Math.max(0, d - 40), d + 60))}`);
  }
  assert.deepEqual([...sdk.texts.keys()].filter((id) => !shipped.has(id)), [], 'openai: records not sent');
  // not vacuous: the outbox holds the response spans with the extension fields the openai copy must not carry
  const stored = new Map(cliExport(db).map((x) => [x.id, x]));
  for (const s of spansOf('response')) {
    assert.ok(stored.get(s.spanId)?.span_data.response && stored.get(s.spanId)?.span_data.input,
      `response span ${s.spanId} stored without span_data.response / span_data.input`);
  }

  assert.equal(fx.list.length, 0, `${fx.list.length} wrong value(s) sent:\n${fx.list.join('\n')}`);

  t.diagnostic(`langfuse: ${flat.length} spans (${chatSpans.length} Chat Completions generations, ${responseSpans.length} Responses spans, ` +
    `${roots.length} root(s) of ${WORKFLOW}); openai: ${shipped.size} records in ${oai.length} request(s)`);
});
