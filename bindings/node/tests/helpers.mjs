// Shared helpers for the binding's tests: library / CLI lookup, a collecting
// TracingProcessor, the CLI's `export` and `ship --once`, and a fake model
// provider with two agents (tool call, handoff, guardrail) for Runner runs.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Agent, Usage, createGenerationSpan, tool } from '@openai/agents-core';
import { z } from 'zod';

const here = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(here, '..', '..', '..');

function firstBuilt(file) {
  const build = path.join(ROOT, 'build');
  if (!fs.existsSync(build)) return undefined;
  for (const d of ['release', 'dev', ...fs.readdirSync(build).sort()]) {
    const p = path.join(build, d, file);
    if (fs.existsSync(p)) return p;
  }
  return undefined;
}

// A run by hand in the tree finds the usual build folder; ctest sets both.
if (!process.env.TRACEBOX_LIBRARY) {
  const lib = firstBuilt('libtracebox.so');
  if (lib) process.env.TRACEBOX_LIBRARY = lib;
}
export const TB_CLI = process.env.TB_CLI || firstBuilt('tracebox');

export function tmpdir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tracebox-node-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A TracingProcessor that keeps what the SDK hands out, as toJSON(). */
export class CollectingProcessor {
  traces = [];
  spans = [];
  started = 0;
  async onTraceStart(trace) {
    const j = trace.toJSON();
    if (j) this.traces.push(j);
  }
  async onTraceEnd() {}
  async onSpanStart() {
    this.started++;
  }
  async onSpanEnd(span) {
    const j = span.toJSON();
    if (j) this.spans.push(j);
  }
  async forceFlush() {}
  async shutdown() {}
  get records() {
    return [...this.traces, ...this.spans];
  }
}

/** `tracebox export` as parsed JSON lines. */
export function cliExport(db) {
  const out = execFileSync(TB_CLI, ['--db', db, 'export'], { encoding: 'utf8', maxBuffer: 1 << 28 });
  return out.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
}

/** `tracebox ship --once` to a file destination; returns {status, lines, stderr}. */
export function cliShipToFile(db, dir) {
  const out = path.join(dir, 'shipped.jsonl');
  const ini = path.join(dir, 'tracebox.ini');
  fs.writeFileSync(ini, `[files]\ntype = file\npath = ${out}\n`);
  const r = spawnSync(TB_CLI, ['--db', db, '--config', ini, 'ship', '--once'], {
    encoding: 'utf8',
    timeout: 120000,
  });
  const lines = [];
  for (const f of fs.readdirSync(dir).filter((n) => n.startsWith('shipped.jsonl')).sort()) {
    for (const l of fs.readFileSync(path.join(dir, f), 'utf8').split('\n')) {
      if (l.trim()) lines.push(JSON.parse(l));
    }
  }
  return { status: r.status, stderr: r.stderr, lines };
}

/** JSON round trip: what the SDK object looks like once serialized. */
export const plain = (o) => JSON.parse(JSON.stringify(o));

// ---- a fake model provider: tool call, then handoff, then the answer ----
export class FakeModel {
  calls = [];
  constructor(script) {
    this.script = script;
  }
  async getResponse(request) {
    const step = this.script(request, this.calls.length);
    this.calls.push(request);
    // Like the SDK's own models, record the model call as a generation span.
    const span = createGenerationSpan({ data: { model: 'fake-model', input: [{ role: 'user', content: typeof request.input === 'string' ? request.input : `${request.input.length} items` }] } });
    span.start();
    try {
      const usage = new Usage({ requests: 1, inputTokens: 20, outputTokens: 5, totalTokens: 25 });
      span.spanData.output = plain(step);
      span.spanData.usage = { input_tokens: 20, output_tokens: 5 };
      return { usage, output: step, responseId: `resp_fake_${this.calls.length}` };
    } finally {
      span.end();
    }
  }
  // eslint-disable-next-line require-yield
  async *getStreamedResponse() {
    throw new Error('FakeModel: streaming is not used in these tests');
  }
}

export class FakeProvider {
  constructor(model) {
    this.model = model;
  }
  getModel() {
    return this.model;
  }
}

const message = (text) => ({ type: 'message', role: 'assistant', status: 'completed', id: `msg_${text.length}`, content: [{ type: 'output_text', text }] });
const call = (name, args, callId) => ({ type: 'function_call', name, callId, id: callId, status: 'completed', arguments: JSON.stringify(args) });

export function makeAgents() {
  const lookup = tool({
    name: 'lookup_order',
    description: 'Look an order up',
    parameters: z.object({ order: z.number() }),
    execute: async ({ order }) => `order ${order}: shipped`,
  });
  const billing = new Agent({ name: 'Billing', instructions: 'Refunds.', model: 'fake-model' });
  const triage = new Agent({
    name: 'Triage',
    instructions: 'Route the customer.',
    model: 'fake-model',
    tools: [lookup],
    handoffs: [billing],
    inputGuardrails: [{ name: 'no_pii', execute: async () => ({ tripwireTriggered: false, outputInfo: { ok: true } }) }],
  });
  const script = (request, i) => {
    const toolNames = request.tools.map((tl) => tl.name);
    const handoffNames = (request.handoffs || []).map((h) => h.toolName);
    if (handoffNames.includes('transfer_to_Billing') && toolNames.includes('lookup_order')) {
      // Triage: first the tool, then the handoff
      const seenTool = Array.isArray(request.input) && request.input.some((it) => it.type === 'function_call_result');
      return seenTool ? [call('transfer_to_Billing', {}, `call_h${i}`)] : [call('lookup_order', { order: 42 }, `call_t${i}`)];
    }
    return [message('Your refund for order 42 is issued.')];
  };
  return { triage, billing, model: new FakeModel(script) };
}
