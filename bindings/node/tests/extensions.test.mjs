// What the SDK's export drops, kept: a response span's toJSON() strips
// spanData._response (the Responses API object) and spanData._input; the
// OutboxProcessor stores them as the documented extension fields
// span_data.response / span_data.input (DESIGN.md "The record format"),
// never losing the span when they cannot be serialized. Also: records that
// JSON.stringify writes with lone-surrogate escapes, and caller ids of any
// shape, are stored and shipped.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import {
  createCustomSpan,
  createFunctionSpan,
  createResponseSpan,
  getGlobalTraceProvider,
  setTraceProcessors,
  setTracingDisabled,
  withTrace,
} from '@openai/agents-core';

import { OutboxProcessor } from '../index.mjs';
import {
  TB_CLI, CollectingProcessor, cliExport, cliExportLines, cliShip, plain, receivedSpans, startServer, tmpdir,
} from './helpers.mjs';

setTracingDisabled(false); // agents-core turns tracing off when NODE_ENV=test

const noCli = TB_CLI ? false : 'TB_CLI (the tracebox CLI) is not set and no build was found';

// A Responses API object as the openai package returns it (trimmed).
const RESPONSE = {
  id: 'resp_ext_1',
  object: 'response',
  created_at: 1764470000,
  status: 'completed',
  error: null,
  incomplete_details: null,
  instructions: 'Route the customer.',
  model: 'gpt-4.1-2025-04-14',
  output: [
    { type: 'function_call', id: 'fc_1', call_id: 'call_1', name: 'lookup_order', arguments: '{"order":42}', status: 'completed' },
  ],
  temperature: 0.2,
  top_p: null,
  score: Number.NaN, // not JSON: JSON.stringify writes null
  tools: [{ type: 'function', name: 'lookup_order', description: 'Look an order up', parameters: { type: 'object' }, strict: true }],
  usage: { input_tokens: 120, input_tokens_details: { cached_tokens: 40 }, output_tokens: 30, output_tokens_details: { reasoning_tokens: 12 }, total_tokens: 150 },
};
const INPUT = [
  { type: 'message', role: 'user', content: 'I want a refund for order 42' },
  { type: 'function_call_result', name: 'lookup_order', callId: 'call_1', status: 'completed', output: { type: 'text', text: 'shipped' } },
];

/** A response span filled the way @openai/agents-openai fills it (createResponseSpan ignores its data). */
function responseSpan(fill) {
  const span = createResponseSpan();
  span.start();
  fill(span.spanData);
  span.end();
  return span;
}

function throwingGetter(obj, key, enumerable) {
  Object.defineProperty(obj, key, { get() { throw new Error(`${key} getter threw`); }, enumerable, configurable: true });
}

test('response spans store span_data.response and span_data.input; the rest is toJSON() byte for byte', { skip: noCli }, async (t) => {
  const dir = tmpdir(t);
  const db = path.join(dir, 'traces.db');
  const warns = [];
  const errors = [];
  const outbox = new OutboxProcessor(db, { logger: { warn: (...a) => warns.push(a.join(' ')), error: (...a) => errors.push(a.join(' ')) } });
  const seen = new CollectingProcessor();
  setTraceProcessors([outbox, seen]);

  const spans = {};
  await withTrace('extensions', async () => {
    spans.full = responseSpan((d) => {
      d.response_id = RESPONSE.id;
      d._input = INPUT;
      d._response = RESPONSE;
    });
    spans.stringInput = responseSpan((d) => {
      d.response_id = 'resp_ext_2';
      d._input = 'just a string';
    });
    spans.none = responseSpan((d) => { // tracing without data: response_id only
      d.response_id = 'resp_ext_3';
      d._input = undefined;
      d._response = null;
    });
    const cycle = { id: 'resp_cycle' };
    cycle.self = cycle;
    spans.cycle = responseSpan((d) => {
      d._input = 'kept';
      d._response = cycle;
    });
    spans.bigint = responseSpan((d) => {
      d._input = [{ role: 'user', content: 'n', n: 10n }];
      d._response = { id: 'resp_kept' };
    });
    spans.hiddenGetter = responseSpan((d) => { // not enumerable: toJSON() never reads it
      d._input = 'kept too';
      throwingGetter(d, '_response', false);
    });
    spans.enumerableGetter = responseSpan((d) => { // toJSON() reads it and throws
      d.response_id = 'resp_ext_7';
      throwingGetter(d, '_input', true);
      d._response = { id: 'resp_ext_7' };
    });
    spans.throwingToJSON = responseSpan((d) => {
      d._response = { id: 'r', nested: { toJSON() { throw new Error('nested toJSON threw'); } } };
    });
  });
  await getGlobalTraceProvider().forceFlush();
  await outbox.shutdown();
  setTraceProcessors([]);

  assert.deepEqual(errors, []);
  // the SDK's own export of every span but the one whose toJSON() threw
  assert.equal(seen.spans.length, 7);
  assert.deepEqual(outbox.stats, { written: 9, failed: 0, skipped: 0, extensionsDropped: 5 });
  assert.equal(warns.length, 1, `logged once: ${warns.join('\n')}`);
  assert.match(warns[0], /span_data\.response .*circular/);
  assert.match(warns[0], /stats\.extensionsDropped/);

  const lines = cliExportLines(db);
  const stored = new Map(lines.map((l) => [JSON.parse(l).id, l]));
  assert.equal(stored.size, 9);
  const text = (span) => {
    const l = stored.get(span.spanId);
    assert.ok(l, `${span.spanId} not stored`);
    return l;
  };
  const withExt = (span, ext) => {
    const j = span.toJSON();
    return JSON.stringify({ ...j, span_data: { ...j.span_data, ...ext } });
  };

  // The record is exactly toJSON() with the fields added at the end of span_data.
  assert.equal(text(spans.full), withExt(spans.full, { response: RESPONSE, input: INPUT }));
  const full = JSON.parse(text(spans.full));
  assert.deepEqual(Object.keys(full.span_data), ['type', 'response_id', 'response', 'input']);
  assert.equal(full.span_data.response.score, null, 'NaN is written as null');
  assert.deepEqual(full.span_data.response.usage, RESPONSE.usage);
  const { response: _r, input: _i, ...sdkOnly } = full.span_data;
  assert.equal(JSON.stringify({ ...full, span_data: sdkOnly }), JSON.stringify(spans.full.toJSON()));

  assert.equal(text(spans.stringInput), withExt(spans.stringInput, { input: 'just a string' }));
  assert.equal(text(spans.none), JSON.stringify(spans.none.toJSON()), 'no value: no field');
  // cannot be serialized: the span is kept, with what can be
  assert.equal(text(spans.cycle), withExt(spans.cycle, { input: 'kept' }));
  assert.equal(text(spans.bigint), withExt(spans.bigint, { response: { id: 'resp_kept' } }));
  assert.equal(text(spans.hiddenGetter), withExt(spans.hiddenGetter, { input: 'kept too' }));
  assert.equal(text(spans.throwingToJSON), JSON.stringify(spans.throwingToJSON.toJSON()));
  // toJSON() itself threw: the span is exported the way toJSON() would have
  const eg = spans.enumerableGetter;
  assert.throws(() => eg.toJSON(), /_input getter threw/);
  assert.equal(text(eg), JSON.stringify({
    object: 'trace.span', id: eg.spanId, trace_id: eg.traceId, parent_id: null, started_at: eg.startedAt,
    ended_at: eg.endedAt, span_data: { type: 'response', response_id: 'resp_ext_7', response: { id: 'resp_ext_7' } }, error: null,
  }));

  // The openai destination sends exactly the SDK's own export (extensions stripped);
  // a file destination ships the record as stored.
  const { server, requests, port } = await startServer();
  t.after(() => server.close());
  const out = path.join(dir, 'shipped.jsonl');
  const ini = path.join(dir, 'tracebox.ini');
  fs.writeFileSync(ini, `[openai]\ntype = openai\nbase_url = http://127.0.0.1:${port}/oai\napi_key = sk-test\n\n[f]\ntype = file\npath = ${out}\n`);
  const r = await cliShip(db, ini);
  assert.equal(r.status, 0, r.stderr);
  const ingest = requests.filter((q) => q.url === '/oai/v1/traces/ingest').flatMap((q) => JSON.parse(q.body.toString('utf8')).data);
  const byId = new Map(ingest.map((x) => [x.id, x]));
  assert.deepEqual(byId.get(spans.full.spanId), plain(spans.full.toJSON()), 'openai: extensions stripped');
  assert.deepEqual(byId.get(spans.stringInput.spanId), plain(spans.stringInput.toJSON()));
  const shipped = new Map(fs.readFileSync(out, 'utf8').split('\n').filter(Boolean).map((l) => [JSON.parse(l).id, JSON.parse(l)]));
  assert.deepEqual(shipped.get(spans.full.spanId), JSON.parse(text(spans.full)), 'file: the record as stored');
});

test('a lone surrogate in span data, and caller ids of any shape, are stored and shipped', { skip: noCli }, async (t) => {
  // JSON.stringify writes a lone surrogate as a \udXXX escape; tracebox stores it
  // as U+FFFD. Ids need not be trace_<32 hex> / span_<24 hex>.
  const dir = tmpdir(t);
  const db = path.join(dir, 'traces.db');
  const errors = [];
  const outbox = new OutboxProcessor(db, { logger: { error: (...a) => errors.push(a.join(' ')) } });
  const seen = new CollectingProcessor();
  setTraceProcessors([outbox, seen]);
  const TRACE_ID = 'trace_my-app-1234';
  const SPAN_ID = 'span_req-42';
  await withTrace('odd-ids', async () => {
    const custom = createCustomSpan({ spanId: SPAN_ID, data: { name: 'cut \ud83d here', data: { note: 'x\udc00y' } } });
    custom.start();
    const fn = createFunctionSpan({ data: { name: 'lookup', input: '{"q":"\ud800"}', output: 'half an emoji: \ud83d' } }, custom);
    fn.start();
    fn.end();
    custom.end();
    const resp = createResponseSpan(undefined, custom);
    resp.start();
    resp.spanData._input = 'lone \udfff';
    resp.end();
  }, { traceId: TRACE_ID, groupId: 'thread-\ud800' });
  await getGlobalTraceProvider().forceFlush();
  await outbox.shutdown();
  setTraceProcessors([]);

  assert.ok(JSON.stringify(seen.spans).includes('\\ud83d'), 'JSON.stringify escapes the lone surrogate');
  assert.deepEqual(errors, [], 'every record stored');
  assert.deepEqual(outbox.stats, { written: 4, failed: 0, skipped: 0, extensionsDropped: 0 });
  const fix = (s) => s.toWellFormed(); // lone surrogates → U+FFFD
  const stored = new Map(cliExport(db).map((r) => [r.id, r]));
  assert.equal(stored.size, 4);
  assert.equal(stored.get(TRACE_ID).group_id, fix('thread-\ud800'));
  const custom = stored.get(SPAN_ID);
  assert.ok(custom, `${SPAN_ID} not stored`);
  assert.equal(custom.trace_id, TRACE_ID);
  assert.equal(custom.span_data.name, fix('cut \ud83d here'));
  assert.equal(custom.span_data.data.note, fix('x\udc00y'));
  const fnRec = [...stored.values()].find((r) => r.span_data?.type === 'function');
  assert.equal(fnRec.parent_id, SPAN_ID);
  assert.equal(fnRec.span_data.input, fix('{"q":"\ud800"}'));
  assert.equal(fnRec.span_data.output, fix('half an emoji: \ud83d'));
  const respRec = [...stored.values()].find((r) => r.span_data?.type === 'response');
  assert.equal(respRec.span_data.input, fix('lone \udfff'));

  // shipped: OTLP (Phoenix) with ids derived from the custom ones, and a file
  const { server, requests, port } = await startServer();
  t.after(() => server.close());
  const out = path.join(dir, 'shipped.jsonl');
  const ini = path.join(dir, 'tracebox.ini');
  fs.writeFileSync(ini, `[phoenix]\ntype = phoenix\nendpoint = http://127.0.0.1:${port}/phx\n\n[f]\ntype = file\npath = ${out}\n`);
  const r = await cliShip(db, ini);
  assert.equal(r.status, 0, r.stderr);
  const lines = fs.readFileSync(out, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  assert.deepEqual(new Set(lines.map((l) => l.id)), new Set(stored.keys()));
  const flat = receivedSpans(requests, '/phx/v1/traces');
  assert.equal(flat.length, 3);
  const bySdk = new Map(flat.map((f) => [f.attrs['tracebox.sdk_span_id'], f]));
  const c = bySdk.get(SPAN_ID);
  assert.ok(c, `${SPAN_ID} not shipped over OTLP`);
  assert.equal(c.attrs['tracebox.sdk_trace_id'], TRACE_ID);
  assert.match(c.traceId, /^[0-9a-f]{32}$/);
  assert.match(c.spanId, /^[0-9a-f]{16}$/);
  assert.equal(c.span.name, fix('cut \ud83d here'));
  for (const f of flat) {
    assert.equal(f.traceId, c.traceId, 'one trace');
    if (f !== c) assert.equal(f.parentSpanId, c.spanId, 'children point at the custom-id span');
    for (const [k, v] of Object.entries(f.attrs)) {
      if (typeof v === 'string') assert.equal(v, v.toWellFormed(), `${k} is not valid UTF-16`);
    }
  }
  assert.equal(bySdk.get(fnRec.id).attrs['tool.name'], 'lookup');
});
