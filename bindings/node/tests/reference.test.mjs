// tracebox's OpenInference attributes against the official OpenInference
// processor for the OpenAI Agents SDK (JS), on the very same spans.
//
// Real @openai/agents-core 0.20.0 runs, with the real @openai/agents-openai
// models (OpenAIResponsesModel and OpenAIChatCompletionsModel) on a stub
// OpenAI client (no network; realistic Responses / ChatCompletion objects
// with tool calls, usage with cached and reasoning tokens, instructions,
// tools), a fake MCP server, tools, a handoff and guardrails, plus voice
// spans made with the SDK's own span functions (all in workload.mjs, shared
// with langfuse.test.mjs). Two processors are
// registered on the SDK's trace provider and see the same Span objects:
//   (a) the reference, OpenInferenceTracingProcessor from
//       @arizeai/openinference-instrumentation-openai-agents, writing into an
//       in-memory OpenTelemetry SDK (@opentelemetry/sdk-trace-base);
//   (b) tracebox: OutboxProcessor → outbox file → `tracebox ship --once` to
//       `phoenix`, `otlp` with `conventions = openinference`, and `arize`
//       destinations on a loopback receiver; the bodies are decoded with the
//       OpenTelemetry project's generated OTLP types.
// Per SDK span, every compared attribute the reference sets must be set by
// tracebox with the same value, except the KNOWN table below. A summary table
// (same / differ / only the reference / only tracebox) goes to stdout.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import { getGlobalTraceProvider, setTraceProcessors, setTracingDisabled } from '@openai/agents-core';
import { OpenInferenceTracingProcessor } from '@arizeai/openinference-instrumentation-openai-agents';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';

import { OutboxProcessor } from '../index.mjs';
import { TB_CLI, cliExport, cliShip, receivedSpans, startServer, tmpdir } from './helpers.mjs';
import { runWorkload } from './workload.mjs';

setTracingDisabled(false); // agents-core turns tracing off when NODE_ENV=test

const noCli = TB_CLI ? false : 'TB_CLI (the tracebox CLI) is not set and no build was found';

// ---------------------------------------------------------------------------
// What is compared, and the known differences
// ---------------------------------------------------------------------------

const EXACT_KEYS = [
  'openinference.span.kind',
  'llm.model_name',
  'llm.token_count.prompt',
  'llm.token_count.completion',
  'llm.token_count.total',
  'llm.token_count.prompt_details.cache_read',
  'llm.token_count.completion_details.reasoning',
  'tool.name',
  'graph.node.id',
  'graph.node.parent_id',
  'llm.finish_reason',
  'guardrail.triggered',
];
const KEY_PREFIXES = ['llm.input_messages.', 'llm.output_messages.'];
const compared = (key) => EXACT_KEYS.includes(key) || KEY_PREFIXES.some((p) => key.startsWith(p));
// Not attributes: the span's name, its parent (as an SDK span id) and status code.
const NAME = '(span name)';
const PARENT = '(parent)';
const STATUS = '(status code)';

const NO_PARENT = '(none)';
const STATUS_NAMES = { 0: 'UNSET', 1: 'OK', 2: 'ERROR' };

/**
 * Known, justified differences: a reference value and a tracebox value that
 * may stand for each other, each with a one-line reason. type '*' matches
 * every span type. Anything not listed here that the reference sets must be
 * identical in tracebox. Example entry:
 *   { type: 'turn', key: NAME, ref: 'turn', tb: 'turn 1', why: '…' }
 * (Structural, handled in the views and not listed: the reference makes a
 * span for each SDK trace, tracebox none, so the reference's children of
 * that span are compared as roots.)
 */
// Each entry: span type, key, the reference's value, tracebox's value (a
// string, or a RegExp it must match), and why the difference stays. Only span
// names differ: tracebox names spans for a reader of a flat span list, the
// reference names most of them after their SDK type.
const KNOWN = [
  { type: 'generation', key: '(span name)', ref: 'generation', tb: /^gpt-/,
    why: 'named after the model called (the type says it is a generation)' },
  { type: 'transcription', key: '(span name)', ref: 'transcription', tb: /^gpt-/,
    why: 'named after the model called' },
  { type: 'speech', key: '(span name)', ref: 'speech', tb: /^gpt-/,
    why: 'named after the model called' },
  { type: 'mcp_tools', key: '(span name)', ref: 'mcp_tools', tb: /^mcp_tools \S/,
    why: 'names the MCP server whose tools were listed' },
  { type: 'turn', key: '(span name)', ref: 'turn', tb: /^turn \d+$/,
    why: 'numbered, so the turns of a run can be told apart' },
];

function knownDifference(type, key, ref, tb) {
  return KNOWN.find((k) => (k.type === '*' || k.type === type) && k.key === key && k.ref === ref &&
    (k.tb instanceof RegExp ? typeof tb === 'string' && k.tb.test(tb) : k.tb === tb));
}

// ---------------------------------------------------------------------------
// The reference: OpenInferenceTracingProcessor on an in-memory OTel SDK
// ---------------------------------------------------------------------------

/** Remembers the last span its tracers started, so that the OTel span the
 * reference made for an SDK span (synchronously, inside the hook) is known. */
class CapturingTracerProvider {
  last = null;
  constructor(base) {
    this.base = base;
  }
  getTracer(name, version, options) {
    const tracer = this.base.getTracer(name, version, options);
    return {
      startSpan: (n, o, c) => (this.last = tracer.startSpan(n, o, c)),
      startActiveSpan: (...a) => tracer.startActiveSpan(...a),
    };
  }
}

/** The reference processor, with a record of which OTel span is which SDK span. */
class ReferenceProcessor {
  exporter = new InMemorySpanExporter();
  provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(this.exporter)] });
  capture = new CapturingTracerProvider(this.provider);
  oi = new OpenInferenceTracingProcessor({ tracerProvider: this.capture });
  sdkIdOf = new Map(); // OTel span id → SDK span id
  rootOf = new Map(); // OTel span id → SDK trace id (the reference's span for a trace)
  live = new Map(); // SDK span id → the SDK's Span object

  #started(call, remember) {
    this.capture.last = null;
    const p = call();
    if (this.capture.last) remember(this.capture.last.spanContext().spanId);
    return p;
  }
  start() {}
  async onTraceStart(trace) {
    await this.#started(() => this.oi.onTraceStart(trace), (id) => this.rootOf.set(id, trace.traceId));
  }
  async onTraceEnd(trace) {
    await this.oi.onTraceEnd(trace);
  }
  async onSpanStart(span) {
    await this.#started(() => this.oi.onSpanStart(span), (id) => this.sdkIdOf.set(id, span.spanId));
  }
  async onSpanEnd(span) {
    this.live.set(span.spanId, span);
    await this.oi.onSpanEnd(span);
  }
  async forceFlush() {
    await this.provider.forceFlush();
  }
  async shutdown() {}
}

// ---------------------------------------------------------------------------
// Views and comparison
// ---------------------------------------------------------------------------

/** The compared values of one reference (OTel SDK) span. */
function referenceView(ref, s) {
  const view = {};
  for (const [k, v] of Object.entries(s.attributes)) if (compared(k)) view[k] = v;
  view[NAME] = s.name;
  const parent = s.parentSpanContext?.spanId;
  // The reference has a span per trace, tracebox none: its children are roots.
  view[PARENT] = !parent || ref.rootOf.has(parent) ? NO_PARENT : (ref.sdkIdOf.get(parent) ?? `(unknown OTel span ${parent})`);
  view[STATUS] = s.status?.code ?? 0;
  return view;
}

/** The compared values of one span tracebox sent (decoded). */
function traceboxView(f, sdkIdByOtlpId) {
  const view = {};
  for (const [k, v] of Object.entries(f.attrs)) if (compared(k)) view[k] = v;
  view[NAME] = f.span.name;
  view[PARENT] = f.parentSpanId ? (sdkIdByOtlpId.get(f.parentSpanId) ?? `(unknown OTLP span ${f.parentSpanId})`) : NO_PARENT;
  view[STATUS] = f.span.status?.code ?? 0;
  return view;
}

const show = (key, v) => {
  if (v === undefined) return '(not set)';
  if (key === STATUS) return `${v} (${STATUS_NAMES[v] ?? '?'})`;
  // strings as they are (quoted, newlines shown as \n), so JSON values stay readable
  if (typeof v === 'string') return `"${v.replace(/\n/g, '\\n')}"`;
  return JSON.stringify(v);
};

/** Indices out of a key, for the summary: llm.output_messages.0.message.role → llm.output_messages.N.message.role */
const pattern = (key) => key.replace(/\.\d+(?=\.|$)/g, '.N');

function compare(ref, sdkSpans, refSpans, tbSpans) {
  const sdkIdByOtlpId = new Map(tbSpans.map((f) => [f.spanId, f.attrs['tracebox.sdk_span_id']]));
  const tbBySdkId = new Map();
  for (const f of tbSpans) {
    const id = f.attrs['tracebox.sdk_span_id'];
    assert.ok(id, `a span tracebox sent has no tracebox.sdk_span_id: ${f.span.name}`);
    assert.ok(!tbBySdkId.has(id), `tracebox sent ${id} twice`);
    tbBySdkId.set(id, f);
  }
  const refBySdkId = new Map();
  for (const s of refSpans) {
    const id = ref.sdkIdOf.get(s.spanContext().spanId);
    if (id) refBySdkId.set(id, s);
  }
  const rows = []; // {type, span, key, ref, tb, verdict}
  for (const [sdkId, live] of sdkSpans) {
    const type = live.spanData.type;
    const r = refBySdkId.get(sdkId);
    const f = tbBySdkId.get(sdkId);
    assert.ok(r, `the reference made no span for ${type} ${sdkId}`);
    assert.ok(f, `tracebox sent no span for ${type} ${sdkId}`);
    const rv = referenceView(ref, r);
    const tv = traceboxView(f, sdkIdByOtlpId);
    const label = `${r.name} [${sdkId.slice(0, 13)}…]`;
    for (const key of new Set([...Object.keys(rv), ...Object.keys(tv)])) {
      const a = rv[key];
      const b = tv[key];
      let verdict;
      if (a === undefined) verdict = 'only tracebox';
      else if (b !== undefined && Object.is(a, b)) verdict = 'same';
      else if (knownDifference(type, key, a, b)) verdict = 'known';
      else verdict = b === undefined ? 'only reference' : 'differ';
      rows.push({ type, span: label, key, ref: a, tb: b, verdict });
    }
  }
  return rows;
}

function pad(s, n) {
  s = String(s);
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

function summaryTable(rows) {
  const groups = new Map();
  for (const r of rows) {
    const k = `${r.type}\u0000${pattern(r.key)}`;
    if (!groups.has(k)) groups.set(k, { type: r.type, key: pattern(r.key), same: 0, known: 0, differ: 0, 'only reference': 0, 'only tracebox': 0 });
    groups.get(k)[r.verdict]++;
  }
  const list = [...groups.values()].sort((x, y) => x.type.localeCompare(y.type) || x.key.localeCompare(y.key));
  const w = Math.max(...list.map((g) => g.key.length), 20);
  const out = [`${pad('span type', 14)} ${pad('key', w)}  same  known  differ  only-ref  only-tb`];
  for (const g of list) {
    out.push(`${pad(g.type, 14)} ${pad(g.key, w)}  ${pad(g.same, 4)}  ${pad(g.known, 5)}  ${pad(g.differ, 6)}  ${pad(g['only reference'], 8)}  ${g['only tracebox']}`);
  }
  return out.join('\n');
}

/** One line per difference: span type, span, key, reference value, tracebox value. */
function failureList(rows) {
  const fails = rows.filter((r) => r.verdict === 'differ' || r.verdict === 'only reference')
    .sort((x, y) => x.type.localeCompare(y.type)); // stable: run order within a type
  if (fails.length === 0) return [];
  const w = {
    type: Math.max(...fails.map((r) => r.type.length)),
    span: Math.max(...fails.map((r) => r.span.length)),
    key: Math.max(...fails.map((r) => r.key.length)),
    ref: Math.min(40, Math.max(...fails.map((r) => show(r.key, r.ref).length))),
  };
  return fails.map((r) => `${pad(r.type, w.type)}  ${pad(r.span, w.span)}  ${pad(r.key, w.key)}  ` +
    `reference ${pad(show(r.key, r.ref), w.ref)}  tracebox ${show(r.key, r.tb)}`);
}

// ---------------------------------------------------------------------------

test('tracebox (phoenix, otlp+openinference, arize) sets what the official OpenInference processor sets', { skip: noCli }, async (t) => {
  const dir = tmpdir(t);
  const db = path.join(dir, 'traces.db');
  const outbox = new OutboxProcessor(db);
  const ref = new ReferenceProcessor();
  setTraceProcessors([ref, outbox]);
  t.after(() => setTraceProcessors([]));

  // the refund run (Responses → handoff → Chat Completions), a tripped guardrail, voice
  await runWorkload();

  await getGlobalTraceProvider().forceFlush();
  await outbox.shutdown();
  await ref.forceFlush();
  setTraceProcessors([]);

  // Every SDK span type, and generations in both shapes of @openai/agents-openai.
  const sdkSpans = ref.live;
  const types = new Set([...sdkSpans.values()].map((s) => s.spanData.type));
  for (const type of ['agent', 'generation', 'response', 'function', 'handoff', 'guardrail', 'custom', 'mcp_tools',
    'transcription', 'speech', 'speech_group', 'task', 'turn']) {
    assert.ok(types.has(type), `no ${type} span (got ${[...types].join(', ')})`);
  }
  const spansOf = (type) => [...sdkSpans.values()].filter((s) => s.spanData.type === type);
  const chatGen = spansOf('generation').filter((s) => s.spanData.output?.[0]?.choices && s.spanData.output[0].usage);
  assert.equal(chatGen.length, 2, 'Chat Completions generations: output = [ChatCompletion] with usage inside');
  assert.ok(chatGen.every((s) => s.spanData.usage === undefined), 'Chat Completions generations carry usage only in output[i].usage');
  const resp = spansOf('response').filter((s) => s.spanData._input && s.spanData._response);
  assert.equal(resp.length, spansOf('response').length);
  assert.ok(resp.length >= 3, 'Responses model spans with _input and _response');
  assert.ok(spansOf('function').some((s) => s.error), 'a failing tool');
  assert.ok(spansOf('function').some((s) => s.spanData.mcp_data), 'an MCP tool call');
  assert.ok(spansOf('guardrail').some((s) => s.spanData.triggered === true), 'a tripped guardrail');
  // tracebox had what the reference had: the response spans' extension fields
  const stored = new Map(cliExport(db).map((r) => [r.id, r]));
  for (const s of resp) {
    assert.ok(stored.get(s.spanId)?.span_data.response, `response span ${s.spanId} stored without span_data.response`);
    assert.ok(stored.get(s.spanId)?.span_data.input, `response span ${s.spanId} stored without span_data.input`);
  }
  assert.equal(outbox.stats.failed, 0);

  const refSpans = ref.exporter.getFinishedSpans();
  assert.equal(ref.rootOf.size, 3, 'the reference made a span for each of the 3 traces');
  assert.equal(refSpans.filter((s) => ref.sdkIdOf.has(s.spanContext().spanId)).length, sdkSpans.size,
    'the reference made one span per SDK span');

  // ship
  const { server, requests, port } = await startServer();
  t.after(() => server.close());
  const base = `http://127.0.0.1:${port}`;
  const ini = path.join(dir, 'tracebox.ini');
  fs.writeFileSync(ini, `
[phoenix]
type = phoenix
endpoint = ${base}/phx
project = reference

[otlp_oi]
type = otlp
endpoint = ${base}/oi
conventions = openinference

[arize]
type = arize
endpoint = ${base}/arize/v1/traces
space_id = space-1
api_key = key-1
project = reference
`);
  const r = await cliShip(db, ini);
  assert.equal(r.status, 0, r.stderr);

  const dests = { phoenix: '/phx/v1/traces', otlp_oi: '/oi/v1/traces', arize: '/arize/v1/traces' };
  const failures = new Map(); // difference → destinations
  let first;
  for (const [name, urlPath] of Object.entries(dests)) {
    const tbSpans = receivedSpans(requests, urlPath);
    assert.equal(tbSpans.length, sdkSpans.size, `${name}: ${tbSpans.length} spans for ${sdkSpans.size} SDK spans`);
    const rows = compare(ref, sdkSpans, refSpans, tbSpans);
    // the comparison is not vacuous: nested parents, errors and a tripped guardrail are in it
    assert.ok(rows.some((x) => x.key === PARENT && x.ref !== NO_PARENT), 'no span with an SDK parent compared');
    assert.ok(rows.filter((x) => x.key === STATUS && x.ref === 2).length >= 3, 'error spans compared');
    assert.ok(rows.some((x) => x.key === 'guardrail.triggered' && x.ref === true), 'a tripped guardrail compared');
    const fails = failureList(rows);
    const table = summaryTable(rows);
    if (!first) {
      first = { name, table, fails };
      console.log(`\n== tracebox (${name}) against the OpenInference reference: ${sdkSpans.size} SDK spans in ${ref.rootOf.size} traces`);
      console.log(table);
      console.log(`\nknown differences (KNOWN): ${KNOWN.length ? '' : '(none)'}`);
      for (const k of KNOWN) console.log(`  ${k.type} ${k.key}: reference ${show(k.key, k.ref)}, tracebox ${show(k.key, k.tb)} — ${k.why}`);
      console.log(`\ndifferences (${fails.length}):`);
      for (const f of fails) console.log(f);
    } else if (table === first.table && fails.join('\n') === first.fails.join('\n')) {
      console.log(`\n== ${name}: the same as ${first.name}`);
    } else {
      console.log(`\n== tracebox (${name}) against the OpenInference reference`);
      console.log(table);
      console.log(`\ndifferences (${fails.length}):`);
      for (const f of fails) console.log(f);
    }
    for (const f of fails) failures.set(f, [...(failures.get(f) ?? []), name]);
  }
  const lines = [...failures].map(([f, names]) => `${f}   [${names.join(', ')}]`);
  assert.equal(lines.length, 0,
    `${lines.length} value(s) the OpenInference reference sets are not the same in tracebox:\n${lines.join('\n')}`);
});
