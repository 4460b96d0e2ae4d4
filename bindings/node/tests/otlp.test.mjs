// The stored records of a real Agents SDK run, shipped with `tracebox ship
// --once` to a local HTTP server, checked with a standard OTLP decoder: the
// OpenTelemetry JS project's generated protobufjs types for
// opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest
// (@opentelemetry/otlp-transformer). Every destination type that speaks OTLP
// (otlp protobuf / JSON / gzip, langfuse, arize, phoenix, wandb) plus openai
// ingest posts to one server; each body is decoded and checked span by span
// against what the SDK handed to its processors.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import zlib from 'node:zlib';

import { getGlobalTraceProvider, Runner, setTraceProcessors, setTracingDisabled } from '@openai/agents-core';

import { OutboxProcessor } from '../index.mjs';
import {
  TB_CLI, CollectingProcessor, ExportTraceServiceRequest, FakeProvider, cliExport, cliShip, decodeOtlpProtobuf,
  flatten, makeAgents, plain, startServer, tmpdir,
} from './helpers.mjs';

setTracingDisabled(false); // agents-core turns tracing off when NODE_ENV=test

const noCli = TB_CLI ? false : 'TB_CLI (the tracebox CLI) is not set and no build was found';

// ---- OTLP/JSON: the spec's JSON mapping, checked by hand, then decoded ----
const HEX32 = /^[0-9a-f]{32}$/;
const HEX16 = /^[0-9a-f]{16}$/;
const DEC = /^(0|[1-9][0-9]*)$/;

function onlyKeys(obj, allowed, where) {
  assert.equal(typeof obj, 'object', `${where}: not an object`);
  assert.ok(obj !== null && !Array.isArray(obj), `${where}: not an object`);
  for (const k of Object.keys(obj)) assert.ok(allowed.includes(k), `${where}: unknown field ${k} (OTLP/JSON uses lowerCamelCase)`);
}

function checkAnyValue(v, where) {
  const keys = Object.keys(v);
  assert.equal(keys.length, 1, `${where}: an AnyValue holds exactly one value, got ${keys.join(',')}`);
  const [k] = keys;
  const x = v[k];
  switch (k) {
    case 'stringValue': assert.equal(typeof x, 'string', where); break;
    case 'boolValue': assert.equal(typeof x, 'boolean', where); break;
    case 'intValue': assert.ok((typeof x === 'string' && /^-?[0-9]+$/.test(x)) || Number.isInteger(x), `${where}: intValue ${x}`); break;
    case 'doubleValue': assert.ok(typeof x === 'number' || ['NaN', 'Infinity', '-Infinity'].includes(x), `${where}: doubleValue ${x}`); break;
    case 'bytesValue': assert.match(x, /^[A-Za-z0-9+/]*={0,2}$/, where); break;
    case 'arrayValue': onlyKeys(x, ['values'], where); (x.values || []).forEach((e, i) => checkAnyValue(e, `${where}[${i}]`)); break;
    case 'kvlistValue': onlyKeys(x, ['values'], where); checkKeyValues(x.values || [], where); break;
    default: assert.fail(`${where}: unknown AnyValue field ${k}`);
  }
}

function checkKeyValues(kvs, where) {
  assert.ok(Array.isArray(kvs), `${where}: attributes is not an array`);
  for (const kv of kvs) {
    onlyKeys(kv, ['key', 'value'], where);
    assert.equal(typeof kv.key, 'string', where);
    checkAnyValue(kv.value, `${where}.${kv.key}`);
  }
}

function checkOtlpJson(doc) {
  onlyKeys(doc, ['resourceSpans'], 'ExportTraceServiceRequest');
  let n = 0;
  for (const rs of doc.resourceSpans) {
    onlyKeys(rs, ['resource', 'scopeSpans', 'schemaUrl'], 'ResourceSpans');
    onlyKeys(rs.resource, ['attributes', 'droppedAttributesCount'], 'Resource');
    checkKeyValues(rs.resource.attributes, 'resource');
    for (const ss of rs.scopeSpans) {
      onlyKeys(ss, ['scope', 'spans', 'schemaUrl'], 'ScopeSpans');
      onlyKeys(ss.scope, ['name', 'version', 'attributes', 'droppedAttributesCount'], 'InstrumentationScope');
      for (const s of ss.spans) {
        n++;
        const w = `span ${s.name}`;
        onlyKeys(s, ['traceId', 'spanId', 'traceState', 'parentSpanId', 'flags', 'name', 'kind', 'startTimeUnixNano',
          'endTimeUnixNano', 'attributes', 'droppedAttributesCount', 'events', 'droppedEventsCount', 'links',
          'droppedLinksCount', 'status'], w);
        assert.match(s.traceId, HEX32, `${w}: traceId must be 32 lowercase hex digits`);
        assert.match(s.spanId, HEX16, `${w}: spanId must be 16 lowercase hex digits`);
        if (s.parentSpanId !== undefined && s.parentSpanId !== '') assert.match(s.parentSpanId, HEX16, w);
        assert.ok(Number.isInteger(s.kind) && s.kind >= 0 && s.kind <= 5, `${w}: kind must be an integer enum`);
        assert.match(s.startTimeUnixNano, DEC, `${w}: startTimeUnixNano must be a decimal string`);
        assert.match(s.endTimeUnixNano, DEC, `${w}: endTimeUnixNano must be a decimal string`);
        checkKeyValues(s.attributes, w);
        for (const e of s.events || []) {
          onlyKeys(e, ['timeUnixNano', 'name', 'attributes', 'droppedAttributesCount'], `${w} event`);
          assert.match(e.timeUnixNano, DEC, w);
          checkKeyValues(e.attributes || [], `${w} event`);
        }
        if (s.status !== undefined) {
          onlyKeys(s.status, ['message', 'code'], `${w} status`);
          assert.ok(Number.isInteger(s.status.code) && s.status.code >= 0 && s.status.code <= 2, `${w}: status.code must be an integer enum`);
        }
      }
    }
  }
  return n;
}

const hexToB64 = (h) => Buffer.from(h, 'hex').toString('base64');

/** OTLP/JSON → the official type: ids hex → bytes (protobuf JSON would use base64), then fromObject. */
function decodeOtlpJson(doc) {
  const copy = structuredClone(doc);
  for (const rs of copy.resourceSpans) {
    for (const ss of rs.scopeSpans) {
      for (const s of ss.spans) {
        for (const k of ['traceId', 'spanId', 'parentSpanId']) if (s[k] !== undefined) s[k] = hexToB64(s[k]);
      }
    }
  }
  const msg = ExportTraceServiceRequest.fromObject(copy);
  assert.equal(ExportTraceServiceRequest.verify(msg), null);
  // through the wire format and back, like a collector would
  return ExportTraceServiceRequest.decode(ExportTraceServiceRequest.encode(msg).finish());
}

const sdkType = (s) => (s.span_data.type === 'custom' && s.span_data.data?.sdk_span_type) || s.span_data.type;
const derivedSpanId = (sdkId) => sdkId.slice('span_'.length, 'span_'.length + 16);
const nanos = (iso) => BigInt(Date.parse(iso)) * 1000000n;

const EXPECT = {
  agent: { oi: 'AGENT', op: 'invoke_agent', lf: 'agent' },
  generation: { oi: 'LLM', op: 'chat', lf: 'generation' },
  function: { oi: 'TOOL', op: 'execute_tool', lf: 'tool' },
  handoff: { oi: 'TOOL', op: 'handoff', lf: 'tool' },
  guardrail: { oi: 'GUARDRAIL', op: 'guardrail', lf: 'guardrail' },
  task: { oi: 'CHAIN', op: 'invoke_workflow', lf: 'chain' },
  turn: { oi: 'CHAIN', op: undefined, lf: 'chain' },
};

/**
 * Every SDK span is there once, with the right ids, times, kind, name and
 * the attributes of its type under the destination's conventions.
 */
function checkSpans(dest, flat, sdkSpans, trace, conv) {
  assert.equal(flat.length, sdkSpans.length, `${dest}: ${flat.length} OTLP spans for ${sdkSpans.length} SDK spans`);
  const bySdkId = new Map();
  for (const f of flat) {
    const id = f.attrs['tracebox.sdk_span_id'];
    assert.ok(id, `${dest}: span ${f.span.name} has no tracebox.sdk_span_id`);
    assert.ok(!bySdkId.has(id), `${dest}: SDK span ${id} sent twice`);
    bySdkId.set(id, f);
  }
  const traceHex = trace.id.slice('trace_'.length);
  for (const s of sdkSpans) {
    const f = bySdkId.get(s.id);
    const type = sdkType(s);
    const w = `${dest}: ${type} span ${s.id}`;
    assert.ok(f, `${w}: missing`);
    const a = f.attrs;
    // ids
    assert.equal(f.traceId, traceHex, `${w}: trace id`);
    assert.equal(f.spanId, derivedSpanId(s.id), `${w}: span id`);
    assert.equal(f.parentSpanId, s.parent_id ? derivedSpanId(s.parent_id) : '', `${w}: parent span id`);
    assert.equal(a['tracebox.sdk_trace_id'], s.trace_id, w);
    assert.equal(a['tracebox.span_type'], type, w);
    // the parent: the OTLP parentSpanId above (no tracebox.sdk_parent_id copy)
    // times
    const start = BigInt(f.span.startTimeUnixNano);
    const end = BigInt(f.span.endTimeUnixNano);
    assert.ok(start > 0n && start <= end, `${w}: start ${start} end ${end}`);
    assert.equal(start, nanos(s.started_at), `${w}: start time`);
    assert.equal(end, nanos(s.ended_at), `${w}: end time`);
    // kind, status
    assert.equal(f.span.kind, type === 'generation' ? 3 : 1, `${w}: kind`);
    assert.notEqual(f.span.status?.code, 2, `${w}: an error status on a span without error`);
    // trace-level attributes, under the enabled conventions' names; tracebox.trace.*
    // only for what none of them names
    assert.equal(a[conv.langfuse ? 'langfuse.trace.name' : 'tracebox.trace.workflow_name'], trace.workflow_name, `${w}: workflow name`);
    assert.equal(a['session.id'], trace.group_id, `${w}: session.id`);
    if (conv.genai) assert.equal(a['gen_ai.conversation.id'], trace.group_id, w);
    else assert.equal(a['gen_ai.conversation.id'], undefined, w);
    // per type
    const e = EXPECT[type];
    assert.ok(e, `${w}: a span type this run should not produce`);
    assert.equal(a['openinference.span.kind'], e.oi, `${w}: openinference.span.kind`);
    assert.equal(a['gen_ai.operation.name'], conv.genai ? e.op : undefined, `${w}: gen_ai.operation.name`);
    assert.equal(a['langfuse.observation.type'], conv.langfuse ? e.lf : undefined, `${w}: langfuse.observation.type`);
    if (conv.langfuse) assert.equal(a['langfuse.trace.name'], trace.workflow_name, w);
    const d = s.span_data;
    switch (type) {
      case 'agent':
        assert.equal(f.span.name, d.name, w);
        if (conv.genai) assert.equal(a['gen_ai.agent.name'], d.name, w);
        assert.equal(a['agent.name'], d.name, w);
        break;
      case 'generation':
        assert.equal(f.span.name, d.model, w);
        assert.equal(a['llm.model_name'], d.model, w);
        assert.equal(a['llm.token_count.prompt'], d.usage.input_tokens, w);
        assert.equal(a['llm.token_count.completion'], d.usage.output_tokens, w);
        assert.equal(a['llm.provider'], 'openai', w);
        assert.equal(a['llm.input_messages.0.message.role'], 'user', w);
        if (conv.genai) {
          assert.equal(a['gen_ai.request.model'], d.model, w);
          assert.equal(a['gen_ai.usage.input_tokens'], d.usage.input_tokens, w);
          assert.equal(a['gen_ai.usage.output_tokens'], d.usage.output_tokens, w);
          assert.equal(a['gen_ai.provider.name'], 'openai', w);
        }
        if (conv.langfuse) {
          assert.equal(a['langfuse.observation.model.name'], d.model, w);
          const usage = JSON.parse(a['langfuse.observation.usage_details']);
          assert.equal(usage.input, d.usage.input_tokens, w);
          assert.equal(usage.output, d.usage.output_tokens, w);
        }
        break;
      case 'function':
        assert.equal(f.span.name, d.name, w);
        assert.equal(a['tool.name'], d.name, w);
        if (conv.genai) assert.equal(a['gen_ai.tool.name'], d.name, w);
        assert.equal(a['input.value'], d.input, w);
        assert.equal(a['output.value'], d.output, w);
        break;
      case 'handoff':
        assert.equal(f.span.name, `handoff to ${d.to_agent}`, w);
        break;
      case 'guardrail':
        assert.equal(f.span.name, d.name, w);
        if (conv.oi) assert.equal(a['guardrail.triggered'], d.triggered, w); // OpenInference's name
        break;
      case 'task':
        assert.equal(f.span.name, d.data.name ?? d.name, w);
        break;
      case 'turn':
        assert.equal(f.span.name, `turn ${d.data.turn}`, w);
        break;
    }
  }
}

function header(req, name) {
  return req.headers[name.toLowerCase()];
}

test('a real Runner run, shipped with ship --once, decodes as OTLP with a standard decoder', { skip: noCli }, async (t) => {
  const dir = tmpdir(t);
  const db = path.join(dir, 'traces.db');
  const outbox = new OutboxProcessor(db);
  const seen = new CollectingProcessor();
  setTraceProcessors([outbox, seen]);
  const { triage, model } = makeAgents();
  const runner = new Runner({ modelProvider: new FakeProvider(model), workflowName: 'refund-flow', groupId: 'thread_42', traceMetadata: { customer: 'c-1' } });
  const result = await runner.run(triage, 'I want a refund for order 42');
  assert.equal(result.lastAgent.name, 'Billing');
  await getGlobalTraceProvider().forceFlush();
  await outbox.shutdown();
  setTraceProcessors([]);

  assert.equal(seen.traces.length, 1);
  const trace = plain(seen.traces[0]);
  const sdkSpans = plain(seen.spans);
  const types = sdkSpans.map(sdkType);
  for (const type of Object.keys(EXPECT)) assert.ok(types.includes(type), `the run produced no ${type} span (${types.join(', ')})`);
  assert.equal(cliExport(db).length, seen.records.length, 'not everything reached the outbox');

  const { server, requests, port } = await startServer();
  t.after(() => server.close());
  const base = `http://127.0.0.1:${port}`;
  const env = { ...process.env, TB_TEST_LF_PK: 'pk-lf-test', TB_TEST_LF_SK: 'sk-lf-secret', TB_TEST_ARIZE_KEY: 'arize-key-1', TB_TEST_WANDB_KEY: 'wandb-key-1', TB_TEST_OPENAI_KEY: 'sk-test-openai' };
  const ini = path.join(dir, 'tracebox.ini');
  fs.writeFileSync(ini, `
[otlp_pb]
type = otlp
endpoint = ${base}/pb

[otlp_json]
type = otlp
traces_endpoint = ${base}/json/v1/traces
protocol = http/json

[otlp_gz]
type = otlp
endpoint = ${base}/gz
compression = gzip

[langfuse]
type = langfuse
host = ${base}/lf
public_key = \${TB_TEST_LF_PK}
secret_key = \${TB_TEST_LF_SK}

[arize]
type = arize
endpoint = ${base}/arize/v1/traces
space_id = space-123
api_key = \${TB_TEST_ARIZE_KEY}
project = refunds

[phoenix]
type = phoenix
endpoint = ${base}/phx
project = refunds-phx

[wandb]
type = wandb
endpoint = ${base}/wandb/otel/v1/traces
api_key = \${TB_TEST_WANDB_KEY}
project = ent/proj

[openai]
type = openai
base_url = ${base}/oai
api_key = \${TB_TEST_OPENAI_KEY}
`);
  // The server lives in this process: run the CLI without blocking the event loop.
  const r = await cliShip(db, ini, env);
  assert.equal(r.status, 0, r.stderr);

  const dests = {
    otlp_pb: { path: '/pb/v1/traces', conv: { genai: true, oi: true } },
    otlp_json: { path: '/json/v1/traces', conv: { genai: true, oi: true }, json: true },
    otlp_gz: { path: '/gz/v1/traces', conv: { genai: true, oi: true }, gzip: true },
    langfuse: { path: '/lf/api/public/otel/v1/traces', conv: { genai: true, oi: true, langfuse: true } },
    arize: { path: '/arize/v1/traces', conv: { oi: true } },
    phoenix: { path: '/phx/v1/traces', conv: { oi: true } },
    wandb: { path: '/wandb/otel/v1/traces', conv: { genai: true, oi: true } },
  };
  const known = new Set([...Object.values(dests).map((d) => d.path), '/oai/v1/traces/ingest']);
  for (const q of requests) {
    assert.equal(q.method, 'POST');
    assert.ok(known.has(q.url), `a request to an unexpected path ${q.url}`);
  }

  const counts = {};
  const decoded = {};
  for (const [name, d] of Object.entries(dests)) {
    const reqs = requests.filter((q) => q.url === d.path);
    assert.ok(reqs.length >= 1, `${name}: no request to ${d.path}`);
    const flat = [];
    for (const q of reqs) {
      assert.equal(header(q, 'content-type'), d.json ? 'application/json' : 'application/x-protobuf', `${name}: content-type`);
      let body = q.body;
      if (d.gzip) {
        assert.equal(header(q, 'content-encoding'), 'gzip', `${name}: content-encoding`);
        body = zlib.gunzipSync(body);
      } else {
        assert.ok(!header(q, 'content-encoding') || header(q, 'content-encoding') === 'identity', `${name}: unexpected content-encoding`);
      }
      if (d.json) {
        const doc = JSON.parse(body.toString('utf8'));
        const n = checkOtlpJson(doc);
        const msg = decodeOtlpJson(doc);
        const f = flatten(msg);
        assert.equal(f.length, n);
        flat.push(...f);
      } else {
        flat.push(...flatten(decodeOtlpProtobuf(body)));
      }
    }
    checkSpans(name, flat, sdkSpans, trace, d.conv);
    for (const f of flat) {
      assert.equal(f.resource['service.name'], 'tracebox', `${name}: service.name`);
      assert.equal(f.resource['telemetry.sdk.name'], 'tracebox', name);
      assert.equal(f.scope?.name, 'tracebox', `${name}: instrumentation scope`);
    }
    counts[name] = `${flat.length} spans in ${reqs.length} request(s)`;
    decoded[name] = { flat, reqs };
  }

  // The same spans whatever the encoding: protobuf, JSON and gzipped protobuf agree.
  const canon = (flat) => flat.map((f) => ({ ...f.span, attributes: f.attrs })).sort((x, y) => (x.spanId < y.spanId ? -1 : 1));
  assert.deepEqual(canon(decoded.otlp_json.flat), canon(decoded.otlp_pb.flat), 'OTLP/JSON and OTLP/protobuf disagree');
  assert.deepEqual(canon(decoded.otlp_gz.flat), canon(decoded.otlp_pb.flat), 'gzipped and plain protobuf disagree');

  // Langfuse: Basic public:secret, ingestion v4, our own SDK name.
  for (const q of decoded.langfuse.reqs) {
    assert.equal(header(q, 'authorization'), `Basic ${Buffer.from('pk-lf-test:sk-lf-secret').toString('base64')}`);
    assert.equal(header(q, 'x-langfuse-ingestion-version'), '4');
    assert.equal(header(q, 'x-langfuse-sdk-name'), 'tracebox');
    assert.ok(header(q, 'x-langfuse-sdk-version'));
  }
  for (const f of decoded.langfuse.flat) assert.ok(f.attrs['langfuse.observation.type'], 'langfuse.observation.type on every span');
  // Arize: the headers of Arize's own exporter (not the deprecated space_id / api_key),
  // project on the resource and every span.
  for (const q of decoded.arize.reqs) {
    assert.equal(header(q, 'arize-space-id'), 'space-123');
    assert.equal(header(q, 'authorization'), 'arize-key-1');
    assert.equal(header(q, 'arize-interface'), 'otel');
    assert.equal(header(q, 'space_id'), undefined);
    assert.equal(header(q, 'api_key'), undefined);
  }
  for (const f of decoded.arize.flat) {
    assert.equal(f.resource['openinference.project.name'], 'refunds');
    assert.equal(f.resource.model_id, 'refunds');
    assert.equal(f.attrs['arize.project.name'], 'refunds');
  }
  // Phoenix: project on the resource; no auth header without api_key.
  for (const q of decoded.phoenix.reqs) assert.equal(header(q, 'authorization'), undefined);
  for (const f of decoded.phoenix.flat) assert.equal(f.resource['openinference.project.name'], 'refunds-phx');
  // W&B Weave: wandb-api-key and project_id headers, entity/project on the resource.
  for (const q of decoded.wandb.reqs) {
    assert.equal(header(q, 'wandb-api-key'), 'wandb-key-1');
    assert.equal(header(q, 'project_id'), 'ent/proj');
  }
  for (const f of decoded.wandb.flat) {
    assert.equal(f.resource['wandb.entity'], 'ent');
    assert.equal(f.resource['wandb.project'], 'proj');
  }
  // No key leaks into another destination's request.
  for (const q of requests) {
    const secrets = ['sk-lf-secret', 'arize-key-1', 'wandb-key-1', 'sk-test-openai'];
    const own = q.url.startsWith('/arize') ? 'arize-key-1' : q.url.startsWith('/wandb') ? 'wandb-key-1' : q.url.startsWith('/oai') ? 'sk-test-openai' : null;
    const hdrs = JSON.stringify(q.headers);
    for (const s of secrets) if (s !== own) assert.ok(!hdrs.includes(s), `${q.url} carries another destination's key`);
  }

  // OpenAI traces ingest: {"data":[records]} verbatim, Bearer, OpenAI-Beta.
  const oai = requests.filter((q) => q.url === '/oai/v1/traces/ingest');
  assert.ok(oai.length >= 1, 'openai: no request');
  const shipped = [];
  for (const q of oai) {
    assert.equal(header(q, 'authorization'), 'Bearer sk-test-openai');
    assert.equal(header(q, 'openai-beta'), 'traces=v1');
    assert.match(header(q, 'content-type'), /^application\/json\b/);
    const doc = JSON.parse(q.body.toString('utf8'));
    assert.deepEqual(Object.keys(doc), ['data']);
    shipped.push(...doc.data);
  }
  assert.equal(shipped.length, seen.records.length, 'openai: one item per record');
  const byId = new Map(shipped.map((x) => [x.id, x]));
  for (const rec of seen.records) assert.deepEqual(byId.get(rec.id), plain(rec), `openai: ${rec.id} changed`);
  counts.openai = `${shipped.length} records (${seen.traces.length} trace + ${seen.spans.length} spans) in ${oai.length} request(s)`;

  t.diagnostic(`SDK: ${sdkSpans.length} spans (${types.join(', ')}) + 1 trace; ` +
    Object.entries(counts).map(([k, v]) => `${k}: ${v}`).join('; '));
});
