// Shared helpers for the binding's tests: library / CLI lookup, a collecting
// TracingProcessor, the CLI's `export` and `ship --once`, a loopback HTTP
// receiver with the OTLP decoding of what it got, and a fake model provider
// with two agents (tool call, handoff, guardrail) for Runner runs.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
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

/** A TracingProcessor that keeps what the SDK hands out, as toJSON() (and
 * the live Span objects in `live`). */
export class CollectingProcessor {
  traces = [];
  spans = [];
  live = [];
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
    if (j) {
      this.spans.push(j);
      this.live.push(span);
    }
  }
  async forceFlush() {}
  async shutdown() {}
  get records() {
    return [...this.traces, ...this.spans];
  }
}

/** `tracebox export`: the stored records' text, one per line, as stored. */
export function cliExportLines(db) {
  const out = execFileSync(TB_CLI, ['--db', db, 'export'], { encoding: 'utf8', maxBuffer: 1 << 28 });
  return out.split('\n').filter((l) => l.trim());
}

/** `tracebox export` as parsed JSON lines. */
export function cliExport(db) {
  return cliExportLines(db).map((l) => JSON.parse(l));
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

/** `tracebox ship --once` without blocking the event loop (a receiver may
 * live in this process); resolves to {status, stderr}. */
export function cliShip(db, ini, env = process.env) {
  return new Promise((resolve) => {
    const child = spawn(TB_CLI, ['--db', db, '--config', ini, 'ship', '--once'], { env });
    let stderr = '';
    child.stderr.on('data', (c) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120000);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stderr });
    });
  });
}

// ---- a loopback HTTP receiver that records every request ----
/** Listens on 127.0.0.1, port chosen by the kernel; answers 200 with an empty
 * ExportTraceServiceResponse (protobuf) or `{}` (JSON, and /oai/ paths). */
export function startServer() {
  const requests = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      requests.push({ method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks) });
      if (req.url.startsWith('/oai/')) {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      } else if (req.headers['content-type'] === 'application/json') {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      } else {
        // an empty ExportTraceServiceResponse: full success
        res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end(Buffer.alloc(0));
      }
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({ server, requests, port: server.address().port }));
  });
}

// ---- OTLP decoding with the OpenTelemetry JS project's generated types ----
// Pinned at 0.216.0 in package.json: the last release whose generated protobufjs root
// still holds the trace types (0.217.0 keeps only metrics there; 0.300+ has no protobufjs).
const require = createRequire(import.meta.url);
const otlpRoot = require('@opentelemetry/otlp-transformer/build/src/generated/root.js');
export const ExportTraceServiceRequest = otlpRoot.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
const TO_OBJECT = { longs: String, enums: Number, bytes: String, defaults: false, arrays: true };

/** A protobuf body → the official type; the bytes must re-encode identically (no unknown or misnumbered field). */
export function decodeOtlpProtobuf(body) {
  const msg = ExportTraceServiceRequest.decode(body);
  assert.equal(ExportTraceServiceRequest.verify(msg), null);
  const again = Buffer.from(ExportTraceServiceRequest.encode(msg).finish());
  assert.ok(again.equals(body), `protobuf body (${body.length} bytes) does not round-trip through the official ` +
    `ExportTraceServiceRequest (${again.length} bytes): a field the spec does not define, or a wrong wire type`);
  return msg;
}

/** Flatten a decoded request: [{resource, scope, span, traceId, spanId, parentSpanId (hex), attrs}]. */
export function flatten(msg) {
  const out = [];
  const obj = ExportTraceServiceRequest.toObject(msg, TO_OBJECT);
  for (const rs of obj.resourceSpans || []) {
    const resource = attrMap(rs.resource?.attributes);
    for (const ss of rs.scopeSpans || []) {
      for (const s of ss.spans || []) {
        out.push({
          resource,
          scope: ss.scope,
          span: s,
          traceId: Buffer.from(s.traceId || '', 'base64').toString('hex'),
          spanId: Buffer.from(s.spanId || '', 'base64').toString('hex'),
          parentSpanId: Buffer.from(s.parentSpanId || '', 'base64').toString('hex'),
          attrs: attrMap(s.attributes),
        });
      }
    }
  }
  return out;
}

export function anyValue(v) {
  if (!v) return undefined;
  if ('stringValue' in v) return v.stringValue;
  if ('boolValue' in v) return v.boolValue;
  if ('intValue' in v) return Number(v.intValue);
  if ('doubleValue' in v) return v.doubleValue;
  if ('arrayValue' in v) return (v.arrayValue.values || []).map(anyValue);
  if ('kvlistValue' in v) return attrMap(v.kvlistValue.values);
  if ('bytesValue' in v) return v.bytesValue;
  return undefined;
}

export function attrMap(kvs) {
  const m = {};
  for (const kv of kvs || []) {
    assert.ok(!(kv.key in m), `attribute ${kv.key} appears twice`);
    m[kv.key] = anyValue(kv.value);
  }
  return m;
}

/** Every span the receiver got on urlPath (protobuf bodies), decoded and flattened. */
export function receivedSpans(requests, urlPath) {
  const flat = [];
  for (const q of requests.filter((r) => r.url === urlPath)) flat.push(...flatten(decodeOtlpProtobuf(q.body)));
  return flat;
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
