// agents_exporter: the OpenAI Agents SDK's own tracing exporter
// (OpenAITracingExporter of @openai/agents-openai, behind agents-core's
// BatchTraceProcessor) pointed at `tracebox serve`'s /v1/traces/ingest.
// Traces and spans come from real agents-core runs: the refund workload of
// ../workload.mjs (Runner, Responses and Chat Completions models on a stub
// client, tools, handoff, guardrails, MCP, voice spans) and spans made with the
// SDK's span functions (every type, an error, a caller-chosen trace id, one
// trace of 300 spans so the exporter posts several batches). Every trace and
// span must be stored once in `records` (kind 'trace' / 'span', the id
// columns filled) with a body whose JSON equals the SDK's toJSON() — and
// equals what the exporter posted (the exporter trims some fields for the
// ingest API; the program says how many items it changed, if any). Each POST
// must have been answered 2xx (the exporter only logs failures, so the
// program watches the answers through a fetch wrapper).
//
//   TRACEBOX_CLI=/path/to/tracebox node bindings/node/tests/serve/agents_exporter.mjs
import assert from 'node:assert/strict';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';

import { log, main, receiveOnlyConfig, requireOrSkip, sqliteJson, startServe, stopServe, withDeadline } from './common.mjs';

const NAME = 'agents_exporter';
const cli = await requireOrSkip(NAME, ['@openai/agents-core', '@openai/agents-openai', 'zod'], { sqlite3: true });

const core = await import('@openai/agents-core');
const { OpenAITracingExporter } = await import('@openai/agents-openai');
const { runWorkload } = await import('../workload.mjs');
const {
  BatchTraceProcessor, createAgentSpan, createCustomSpan, createFunctionSpan, createGenerationSpan, createGuardrailSpan,
  createHandoffSpan, createMCPListToolsSpan, createResponseSpan, setTraceProcessors, setTracingDisabled, withTrace,
} = core;

/** Keeps the live SDK objects; their toJSON() is taken once everything ended. */
class Keep {
  traces = [];
  spans = [];
  async onTraceStart(t) {
    this.traces.push(t);
  }
  async onTraceEnd() {}
  async onSpanStart() {}
  async onSpanEnd(s) {
    this.spans.push(s);
  }
  async forceFlush() {}
  async shutdown() {}
}

function ended(span) {
  span.start();
  return span;
}

/** Spans of every kind made with the SDK's own functions. */
async function ownTraces() {
  await withTrace('serve-ingest-kinds', async () => {
    const agent = ended(createAgentSpan({ data: { name: 'Planner', handoffs: ['Billing'], tools: ['lookup'], output_type: 'text' } }));
    const fn = ended(createFunctionSpan({ data: { name: 'lookup', input: '{"order":42}', output: 'shipped ✓' } }, agent));
    fn.end();
    const gen = ended(createGenerationSpan({ data: { model: 'gpt-4.1', model_config: { temperature: 0.2 }, input: [{ role: 'user', content: 'héllo 日本' }], output: [{ role: 'assistant', content: 'hi' }], usage: { input_tokens: 12, output_tokens: 3 } } }, agent));
    gen.end();
    const resp = ended(createResponseSpan({ data: { response_id: 'resp_0001' } }, agent));
    resp.end();
    const g = ended(createGuardrailSpan({ data: { name: 'no_pii', triggered: true } }, agent));
    g.end();
    const h = ended(createHandoffSpan({ data: { from_agent: 'Planner', to_agent: 'Billing' } }, agent));
    h.end();
    const mcp = ended(createMCPListToolsSpan({ data: { server: 'policy', result: ['refund_policy'] } }, agent));
    mcp.end();
    const bad = ended(createCustomSpan({ data: { name: 'fails', data: { n: 1, nested: { list: [1, 'two', null, true] } } } }, agent));
    bad.setError({ message: 'tool exploded', data: { code: 'E42', retryable: false } });
    bad.end();
    agent.end();
  }, { groupId: 'conv_7', metadata: { user: 'u_1', plan: 'pro' } });

  await withTrace('serve-ingest-own-id', async () => {
    const s = ended(createCustomSpan({ data: { name: 'step', data: {} } }));
    s.end();
  }, { traceId: 'trace_my-app-1234' });

  await withTrace('serve-ingest-bulk', async () => {
    for (let i = 0; i < 300; i++) {
      const s = ended(createCustomSpan({ data: { name: `bulk ${i}`, data: { i, text: `ünïcödé ${'x'.repeat(i % 50)}`, even: i % 2 === 0 } } }));
      s.end();
    }
  });
}

await main(NAME, async (tmp) => {
  setTracingDisabled(false); // agents-core turns tracing off under NODE_ENV=test
  const db = path.join(tmp.dir, 'outbox.db');
  const config = receiveOnlyConfig(path.join(tmp.dir, 'receive.ini'));
  const serve = await startServe(cli, { db, config, logFile: path.join(tmp.dir, 'serve.log') });
  const endpoint = `${serve.url}/v1/traces/ingest`;
  log(`serve on ${serve.url}`);

  // watch the exporter's requests and serve's answers
  const posts = [];
  const realFetch = globalThis.fetch;
  globalThis.fetch = async (url, init) => {
    const res = await realFetch(url, init);
    if (String(url) === endpoint) posts.push({ status: res.status, auth: init.headers?.Authorization, data: JSON.parse(init.body).data });
    return res;
  };
  tmp.onExit(() => {
    globalThis.fetch = realFetch;
    setTraceProcessors([]);
  });

  const exporter = new OpenAITracingExporter({ apiKey: 'sk-serve-test-0000', endpoint, maxRetries: 3, baseDelay: 200 });
  const batch = new BatchTraceProcessor(exporter, { maxQueueSize: 1000, maxBatchSize: 50, exportTriggerRatio: 0.1 });
  const keep = new Keep();
  setTraceProcessors([keep, batch]);

  await withDeadline('the workload', runWorkload(), 60000);
  await withDeadline('the own traces', ownTraces(), 60000);
  await withDeadline('BatchTraceProcessor.forceFlush', batch.forceFlush(), 60000);

  const expected = [...keep.traces, ...keep.spans].map((o) => o.toJSON()).filter(Boolean);
  const nTraces = expected.filter((e) => e.object === 'trace').length;
  const sent = posts.flatMap((p) => p.data);
  const statuses = {};
  for (const p of posts) statuses[p.status] = (statuses[p.status] || 0) + 1;
  log(`${expected.length} SDK items (${nTraces} traces, ${expected.length - nTraces} spans); exporter posted ${sent.length} items in ${posts.length} requests, serve answered ${JSON.stringify(statuses)}`);
  assert.ok(posts.length > 1, 'the exporter posted more than one batch');
  assert.ok(posts.every((p) => p.status >= 200 && p.status < 300), `serve answered ${JSON.stringify(statuses)} to the exporter's POSTs`);
  assert.ok(posts.every((p) => p.auth === 'Bearer sk-serve-test-0000'));

  const stopped = await stopServe(serve, 'SIGTERM');
  assert.deepEqual(stopped, { code: 0, signal: null }, `serve did not stop cleanly on SIGTERM: ${JSON.stringify(stopped)}`);

  const rows = await sqliteJson(db, 'select seq, kind, trace_id, span_id, body from records order by seq');
  const byId = new Map();
  for (const r of rows) {
    const body = JSON.parse(r.body);
    const list = byId.get(body.id) || [];
    list.push({ ...r, body });
    byId.set(body.id, list);
  }
  const sentById = new Map(sent.map((s) => [s.id, s]));
  const problems = [];
  let trimmedByExporter = 0;
  let equalToJson = 0;
  for (const e of expected) {
    const kind = e.object === 'trace' ? 'trace' : 'span';
    const stored = byId.get(e.id) || [];
    const posted = sentById.get(e.id);
    if (!posted) problems.push(`${e.id}: the exporter never posted it`);
    else if (!isDeepStrictEqual(posted, e)) trimmedByExporter++;
    if (stored.length !== 1) {
      problems.push(`${kind} ${e.id}: stored ${stored.length} times`);
      continue;
    }
    const [r] = stored;
    if (isDeepStrictEqual(r.body, e)) equalToJson++;
    if (r.kind !== kind) problems.push(`${e.id}: kind ${r.kind}, expected ${kind}`);
    if (r.trace_id !== (kind === 'trace' ? e.id : e.trace_id)) problems.push(`${e.id}: trace_id column ${r.trace_id}`);
    if (kind === 'span' && r.span_id !== e.id) problems.push(`${e.id}: span_id column ${r.span_id}`);
    if (posted && !isDeepStrictEqual(r.body, posted)) problems.push(`${e.id}: body differs from what the exporter posted: ${JSON.stringify(r.body)} vs ${JSON.stringify(posted)}`);
    if (posted && isDeepStrictEqual(posted, e) && !isDeepStrictEqual(r.body, e)) problems.push(`${e.id}: body differs from toJSON(): ${JSON.stringify(r.body)} vs ${JSON.stringify(e)}`);
  }
  const extra = rows.filter((r) => !expected.some((e) => e.id === JSON.parse(r.body).id));
  console.log(`${NAME}: SDK items ${expected.length} (${nTraces} traces, ${expected.length - nTraces} spans); posted ${sent.length} in ${posts.length} requests; ` +
    `stored rows ${rows.length}; stored once with a body equal to toJSON() ${equalToJson} ` +
    `(items the exporter itself changed before posting: ${trimmedByExporter}); problems ${problems.length}; rows the SDK never made ${extra.length}`);
  assert.deepEqual(problems.slice(0, 10), [], `${problems.length} problems`);
  assert.equal(extra.length, 0, `rows the SDK never made: ${extra.slice(0, 3).map((r) => r.body).join('\n')}`);
  assert.equal(rows.length, expected.length);
});
