// The Node binding against the real @openai/agents-core: spans of every type
// made with the SDK's own functions, and a full Runner run with a fake model
// provider (tool call, handoff, final answer) — everything must be in the
// outbox and ship with `tracebox ship --once`.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';

import { TB_CLI, CollectingProcessor, FakeProvider, cliExport, cliShipToFile, makeAgents, plain, tmpdir, ROOT } from './helpers.mjs';

import {
  Runner,
  createAgentSpan,
  createCustomSpan,
  createFunctionSpan,
  createGenerationSpan,
  createGuardrailSpan,
  createHandoffSpan,
  createMCPListToolsSpan,
  createResponseSpan,
  createSpeechGroupSpan,
  createSpeechSpan,
  createTaskSpan,
  createTranscriptionSpan,
  createTurnSpan,
  getGlobalTraceProvider,
  setTraceProcessors,
  setTracingDisabled,
  withTrace,
} from '@openai/agents-core';

import { OutboxProcessor, Shipper, shipOnce, libraryVersion } from '../index.mjs';

// agents-core turns tracing off when NODE_ENV=test; we test tracing.
setTracingDisabled(false);

const noCli = TB_CLI ? false : 'TB_CLI (the tracebox CLI) is not set and no build was found';

function assertAllStored(stored, produced) {
  const byId = new Map(stored.map((r) => [r.id, r]));
  assert.equal(byId.size, stored.length, 'an id is stored twice');
  for (const rec of produced) {
    const got = byId.get(rec.id);
    assert.ok(got, `record ${rec.id} (${rec.span_data?.type ?? rec.object}) missing from the outbox`);
    assert.deepEqual(got, plain(rec), `record ${rec.id} changed on the way`);
  }
}

test('library loads', () => {
  assert.match(libraryVersion(), /^\d+\.\d+\.\d+/);
});

test('a bad TRACEBOX_LIBRARY says how to fix it', () => {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e',
    "import { OutboxProcessor } from './index.mjs'; new OutboxProcessor('/tmp/never.db');"], {
    cwd: path.join(ROOT, 'bindings', 'node'),
    env: { ...process.env, TRACEBOX_LIBRARY: '/nonexistent/libtracebox.so' },
    encoding: 'utf8',
  });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /TRACEBOX_LIBRARY=\/path\/to\/libtracebox\.so/);
});

test('no library at all says how to fix it', (t) => {
  const env = { ...process.env };
  delete env.TRACEBOX_LIBRARY;
  delete env.LD_LIBRARY_PATH;
  const r = spawnSync(process.execPath, ['-e',
    "const { OutboxProcessor } = require('./index.cjs'); new OutboxProcessor('/tmp/never.db');"], {
    cwd: path.join(ROOT, 'bindings', 'node'), env, encoding: 'utf8',
  });
  if (r.status === 0) {
    t.skip('libtracebox is installed system-wide');
    return;
  }
  assert.match(r.stderr, /TRACEBOX_LIBRARY=\/path\/to\/libtracebox\.so/);
});

test('every span type made with the SDK functions lands in the outbox', { skip: noCli }, async (t) => {
  const dir = tmpdir(t);
  const db = path.join(dir, 'traces.db');
  const outbox = new OutboxProcessor(db);
  const seen = new CollectingProcessor();
  setTraceProcessors([outbox, seen]);

  await withTrace('every-type', async (trace) => {
    const task = createTaskSpan({ data: { name: 'task-1' } });
    task.start();
    const agent = createAgentSpan({ data: { name: 'Triage', tools: ['lookup'], handoffs: ['Billing'], output_type: 'text' } }, task);
    agent.start();
    const turn = createTurnSpan({ data: { turn: 1, agent_name: 'Triage' } }, agent);
    turn.start();
    const spans = [
      createGenerationSpan({ data: { model: 'gpt-4o', input: [{ role: 'user', content: 'héllo ✓' }], output: [{ role: 'assistant', content: 'hi' }], usage: { input_tokens: 3, output_tokens: 1, total_tokens: 4 } } }, turn),
      createResponseSpan({ data: { response_id: 'resp_123', _input: 'secret', _response: { id: 'resp_123' } } }, turn),
      createFunctionSpan({ data: { name: 'lookup', input: '{"order":1}', output: 'shipped' } }, turn),
      createHandoffSpan({ data: { from_agent: 'Triage', to_agent: 'Billing' } }, turn),
      createGuardrailSpan({ data: { name: 'no_pii', triggered: true } }, turn),
      createCustomSpan({ data: { name: 'cache', data: { hit: true, n: 3 } } }, turn),
      createMCPListToolsSpan({ data: { server: 'files', result: ['read', 'write'] } }, turn),
      createTranscriptionSpan({ data: { input: { data: 'UklGRg==', format: 'pcm' }, output: 'refund', model: 'whisper-1' } }, turn),
    ];
    const group = createSpeechGroupSpan({ data: { input: 'Your refund is on its way.' } }, turn);
    group.start();
    const speech = createSpeechSpan({ data: { input: 'Your refund is on its way.', output: { data: 'AAAA', format: 'pcm' }, model: 'tts-1' } }, group);
    speech.start();
    speech.end();
    group.end();
    for (const s of spans) {
      s.start();
      if (s.spanData.type === 'function') s.setError({ message: 'Error running tool', data: { tool: 'lookup' } });
      s.end();
    }
    turn.end();
    agent.end();
    task.end();
    assert.match(trace.traceId, /^trace_[0-9a-f]{32}$/);
  }, { groupId: 'thread_1', metadata: { user: '42' } });

  await getGlobalTraceProvider().forceFlush();
  await outbox.shutdown();
  setTraceProcessors([]);

  assert.equal(seen.traces.length, 1);
  assert.equal(seen.spans.length, 13); // task, agent, turn, 8 under the turn, speech_group, speech
  const types = new Set(seen.spans.map((s) => s.span_data.type));
  for (const type of ['agent', 'generation', 'response', 'function', 'handoff', 'guardrail', 'custom', 'mcp_tools', 'transcription', 'speech', 'speech_group']) {
    assert.ok(types.has(type), `the SDK produced no ${type} span`);
  }
  // private fields (_input, _response) were stripped by the SDK's toJSON
  assert.equal(seen.spans.find((s) => s.span_data.type === 'response').span_data._input, undefined);
  assert.deepEqual(outbox.stats, { written: 14, failed: 0, skipped: 0, extensionsDropped: 0 });

  const stored = cliExport(db);
  assert.equal(stored.length, 14);
  assertAllStored(stored, seen.records);
  assert.ok(stored[0].object === 'trace', 'the trace is written first, at onTraceStart');

  const shipped = cliShipToFile(db, dir);
  assert.equal(shipped.status, 0, shipped.stderr);
  assert.deepEqual(new Set(shipped.lines.map((r) => r.id)), new Set(seen.records.map((r) => r.id)));
});

test('a full Runner run: every span the SDK produced is in the outbox and ships', { skip: noCli }, async (t) => {
  const dir = tmpdir(t);
  const db = path.join(dir, 'traces.db');
  const outbox = new OutboxProcessor(db);
  const seen = new CollectingProcessor();
  setTraceProcessors([outbox, seen]);

  const { triage, model } = makeAgents();
  const runner = new Runner({ modelProvider: new FakeProvider(model), workflowName: 'refund-flow', groupId: 'thread_42', traceMetadata: { customer: 'c-1' } });
  const result = await runner.run(triage, 'I want a refund for order 42');
  assert.equal(result.finalOutput, 'Your refund for order 42 is issued.');
  assert.equal(result.lastAgent.name, 'Billing');
  assert.equal(model.calls.length, 3);

  await getGlobalTraceProvider().forceFlush();
  await outbox.forceFlush();

  const types = seen.spans.map((s) => (s.span_data.type === 'custom' ? `custom:${s.span_data.name}` : s.span_data.type));
  for (const type of ['agent', 'function', 'handoff', 'generation', 'guardrail', 'custom:task', 'custom:turn']) {
    assert.ok(types.includes(type), `the run produced no ${type} span (got ${types.join(', ')})`);
  }
  assert.equal(seen.traces.length, 1);
  assert.equal(seen.traces[0].workflow_name, 'refund-flow');

  const stored = cliExport(db);
  assertAllStored(stored, seen.records);
  assert.equal(stored.length, seen.records.length);
  t.diagnostic(`Runner run: the SDK produced ${seen.spans.length} spans + ${seen.traces.length} trace; ` +
    `${stored.filter((r) => r.object === 'trace.span').length} spans in the outbox (${types.join(', ')})`);

  const shipped = cliShipToFile(db, dir);
  assert.equal(shipped.status, 0, shipped.stderr);
  const ids = new Set(shipped.lines.map((r) => r.id));
  for (const r of seen.records) assert.ok(ids.has(r.id), `${r.id} not shipped`);
  t.diagnostic(`ship --once delivered ${shipped.lines.length} records`);

  await outbox.shutdown();
  setTraceProcessors([]);
});

test('concurrent runs from one process: nothing lost, nothing doubled', { skip: noCli }, async (t) => {
  const dir = tmpdir(t);
  const db = path.join(dir, 'traces.db');
  const outbox = new OutboxProcessor(db, { maxConcurrency: 4 });
  const seen = new CollectingProcessor();
  setTraceProcessors([outbox, seen]);
  const runs = [];
  for (let i = 0; i < 12; i++) {
    const { triage, model } = makeAgents();
    runs.push(new Runner({ modelProvider: new FakeProvider(model), workflowName: `run-${i}` }).run(triage, `refund ${i}`));
  }
  const results = await Promise.all(runs);
  assert.ok(results.every((r) => r.lastAgent.name === 'Billing'));
  await getGlobalTraceProvider().forceFlush();
  await outbox.shutdown();
  setTraceProcessors([]);
  assert.equal(seen.traces.length, 12);
  const stored = cliExport(db);
  assert.equal(stored.length, seen.records.length);
  assertAllStored(stored, seen.records);
  assert.equal(outbox.stats.written, seen.records.length);
});

test('the in-process shipper and shipOnce deliver to a file', async (t) => {
  const dir = tmpdir(t);
  const db = path.join(dir, 'traces.db');
  const outbox = new OutboxProcessor(db);
  const seen = new CollectingProcessor();
  setTraceProcessors([outbox, seen]);
  const out = path.join(dir, 'thread.jsonl');
  const shipper = new Shipper(db, { configText: `[shipper]\npoll_interval = 100ms\n\n[f]\ntype = file\npath = ${out}\n` });
  assert.ok(shipper.running);
  const { triage, model } = makeAgents();
  await new Runner({ modelProvider: new FakeProvider(model) }).run(triage, 'refund');
  await getGlobalTraceProvider().forceFlush();
  await outbox.forceFlush();
  shipper.wake();
  const fs = await import('node:fs');
  const want = new Set(seen.records.map((r) => r.id));
  const deadline = Date.now() + 20000;
  let got = new Set();
  while (Date.now() < deadline) {
    if (fs.existsSync(out)) {
      got = new Set(fs.readFileSync(out, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l).id));
      if ([...want].every((id) => got.has(id))) break;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(await shipper.stop(10000), true);
  assert.equal(await shipper.stop(), true);
  assert.deepEqual(got, want);
  // shipOnce to a second destination backfills everything
  const out2 = path.join(dir, 'once.jsonl');
  const rep = await shipOnce(db, { configText: `[g]\ntype = file\npath = ${out2}\n` });
  assert.equal(rep.delivered, want.size);
  assert.equal(rep.pending, 0);
  await outbox.shutdown();
  setTraceProcessors([]);
});

test('hooks never reject; bad records are logged; noop spans skipped; shutdown twice', async (t) => {
  const dir = tmpdir(t);
  const errors = [];
  const warns = [];
  const outbox = new OutboxProcessor(path.join(dir, 'x.db'), {
    logger: { error: (...a) => errors.push(a.join(' ')), warn: (...a) => warns.push(a.join(' ')) },
  });
  await outbox.onSpanEnd({ toJSON: () => ({ object: 'trace.span', trace_id: 'trace_' + '0'.repeat(32), span_data: { type: 'custom' } }) });
  await outbox.onTraceStart({ toJSON: () => { throw new Error('boom'); } });
  await outbox.onSpanEnd({ toJSON: () => null }); // a NoopSpan
  // a real NoopSpan: with tracing disabled the SDK hands out no-ops
  setTracingDisabled(true);
  const noop = createCustomSpan({ data: { name: 'x', data: {} } });
  setTracingDisabled(false);
  await outbox.onSpanEnd(noop);
  await outbox.onSpanStart(noop);
  await outbox.onTraceEnd(noop);
  assert.equal(errors.length, 2, errors.join('\n'));
  assert.match(errors[0], /not stored/);
  assert.match(errors[0], /TB_BAD_RECORD/);
  assert.match(errors[1], /boom/);
  assert.deepEqual(outbox.stats, { written: 0, failed: 2, skipped: 2, extensionsDropped: 0 });
  await outbox.forceFlush();
  await Promise.all([outbox.shutdown(), outbox.shutdown()]);
  await outbox.shutdown(1000);
  await outbox.forceFlush();
  await outbox.onSpanEnd({ toJSON: () => ({ object: 'trace', id: 'trace_' + '1'.repeat(32) }) });
  assert.equal(outbox.stats.failed, 3);
  assert.match(warns.at(-1), /after shutdown/);
});

test('durability modes normal and async', { skip: noCli }, async (t) => {
  const dir = tmpdir(t);
  for (const durability of ['normal', 'async']) {
    const db = path.join(dir, `${durability}.db`);
    const outbox = new OutboxProcessor(db, { durability });
    const seen = new CollectingProcessor();
    setTraceProcessors([outbox, seen]);
    const { triage, model } = makeAgents();
    await new Runner({ modelProvider: new FakeProvider(model) }).run(triage, 'refund');
    await getGlobalTraceProvider().forceFlush();
    await outbox.forceFlush();
    assertAllStored(cliExport(db), seen.records);
    await outbox.shutdown();
    setTraceProcessors([]);
  }
});
