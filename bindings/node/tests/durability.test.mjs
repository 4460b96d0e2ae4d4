// The durability modes' promises, checked from outside the process (the CLI
// reads the file): `async` stores on the calling thread; `trace` commits a
// trace and its spans before the SDK's trace end resolves, so they survive
// a SIGKILL right after it; `full` / `normal` hand records over in batches
// whose records succeed or fail one by one. flushIntervalMs: 60000 keeps the
// async writer from committing on its own within a test (it commits at once
// only when the queue is half full or it was in deep sleep), so what is in
// the file was committed by the mode under test. Only the writer's first look
// at the queue, as its thread starts, is not timed: settle() commits one
// record first, so that the writer has almost surely taken that look before
// the test's records (a thread scheduled very late would still commit them:
// so what `async` left uncommitted is reported, and only the mode under test
// is asserted).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';

import {
  Runner,
  createCustomSpan,
  getGlobalTraceProvider,
  setTraceProcessors,
  setTracingDisabled,
  withCustomSpan,
  withTrace,
} from '@openai/agents-core';

import { OutboxProcessor } from '../index.mjs';
import { TB_CLI, CollectingProcessor, FakeProvider, ROOT, cliExport, cliExportLines, makeAgents, plain, tmpdir } from './helpers.mjs';

setTracingDisabled(false); // agents-core turns tracing off when NODE_ENV=test

const noCli = TB_CLI ? false : 'TB_CLI (the tracebox CLI) is not set and no build was found';
const SLOW_WRITER = 60000; // ms: the async writer's own commits never come during a test

const WARM = { object: 'trace', id: 'trace_' + 'f'.repeat(32), workflow_name: 'warm-up' };

/** A record in, and committed: the writer thread has started and is waiting
 * its flushIntervalMs. */
async function settle(outbox) {
  assert.equal(await outbox.put(WARM), true);
  await outbox.forceFlush();
}

function logger() {
  const log = { errors: [], warns: [] };
  log.logger = { error: (...a) => log.errors.push(a.join(' ')), warn: (...a) => log.warns.push(a.join(' ')) };
  return log;
}

test('durability names: trace is accepted, a wrong one is refused with the list', (t) => {
  const dir = tmpdir(t);
  assert.throws(() => new OutboxProcessor(path.join(dir, 'x.db'), { durability: 'later' }),
    /durability must be one of full, normal, async, trace, not later/);
});

test('async: the record is validated and queued on the calling thread, before the hook returns', { skip: noCli }, async (t) => {
  const dir = tmpdir(t);
  const db = path.join(dir, 'async.db');
  const log = logger();
  const outbox = new OutboxProcessor(db, { durability: 'async', flushIntervalMs: SLOW_WRITER, logger: log.logger });
  await settle(outbox);
  const id = 'span_' + 'a'.repeat(24);
  const good = { object: 'trace.span', id, trace_id: 'trace_' + '1'.repeat(32), span_data: { type: 'custom', name: 'héllo ✓ 😀', data: {} } };
  const p = outbox.onSpanEnd({ toJSON: () => good });
  // no await yet: the C call already ran
  assert.deepEqual(outbox.stats, { written: 2, failed: 0, skipped: 0, extensionsDropped: 0 });
  outbox.onSpanEnd({ toJSON: () => ({ object: 'trace.span', trace_id: 'trace_' + '1'.repeat(32), span_data: { type: 'custom' } }) });
  assert.equal(outbox.stats.failed, 1);
  assert.equal(log.errors.length, 1);
  assert.match(log.errors[0], /not stored in .*async\.db: id: .*\(TB_BAD_RECORD\)/);
  assert.equal(await p, undefined);
  // caller text with non-ASCII characters goes to C as a JS string: stored byte for byte
  const text = JSON.stringify({ object: 'trace', id: 'trace_' + '2'.repeat(32), workflow_name: 'naïve — 日本語 😀' });
  assert.equal(await outbox.put(text), true);
  await outbox.forceFlush();
  const lines = cliExportLines(db);
  assert.equal(lines.length, 3);
  assert.ok(lines.includes(text), `${text} not stored as given: ${lines.join('\n')}`);
  assert.deepEqual(JSON.parse(lines.find((l) => l.includes(id))), good);
  await outbox.shutdown();
});

test('trace: the SDK\'s trace end resolves once the trace and its spans are committed', { skip: noCli }, async (t) => {
  const dir = tmpdir(t);
  for (const durability of ['async', 'trace']) {
    const db = path.join(dir, `${durability}.db`);
    const outbox = new OutboxProcessor(db, { durability, flushIntervalMs: SLOW_WRITER });
    await settle(outbox);
    const seen = new CollectingProcessor();
    setTraceProcessors([outbox, seen]);
    await withTrace(`ends-${durability}`, async () => {
      for (let i = 0; i < 5; i++) await withCustomSpan(async () => {}, { data: { name: `step-${i}`, data: { i } } });
    });
    // no forceFlush: what withTrace's end awaited is all there is
    const stored = cliExport(db).filter((r) => r.id !== WARM.id);
    if (durability === 'async') {
      t.diagnostic(`async: ${stored.length} of 6 records committed when withTrace resolved (expected 0: the writer commits on its own time)`);
    } else {
      assert.equal(stored.length, 6);
      assert.deepEqual(new Set(stored.map((r) => r.id)), new Set(seen.records.map((r) => r.id)));
    }
    await outbox.shutdown();
    setTraceProcessors([]);
    assert.equal(cliExport(db).length, 7, 'shutdown commits the rest');
  }
});

test('trace: concurrent Runner runs, each committed when it resolves; commit points shared', { skip: noCli }, async (t) => {
  const dir = tmpdir(t);
  const db = path.join(dir, 'runs.db');
  const outbox = new OutboxProcessor(db, { durability: 'trace', flushIntervalMs: SLOW_WRITER });
  await settle(outbox);
  const seen = new CollectingProcessor();
  setTraceProcessors([outbox, seen]);
  const runs = [];
  for (let i = 0; i < 12; i++) {
    const { triage, model } = makeAgents();
    runs.push(new Runner({ modelProvider: new FakeProvider(model), workflowName: `run-${i}` }).run(triage, `refund ${i}`));
  }
  const results = await Promise.all(runs);
  assert.ok(results.every((r) => r.lastAgent.name === 'Billing'));
  const stored = cliExport(db).filter((r) => r.id !== WARM.id);
  assert.equal(seen.traces.length, 12);
  const byId = new Map(stored.map((r) => [r.id, r]));
  assert.equal(byId.size, stored.length, 'an id is stored twice (a commit point must not add a row)');
  for (const rec of seen.records) assert.deepEqual(byId.get(rec.id), plain(rec), `${rec.id} not committed when its run resolved`);
  assert.equal(stored.length, seen.records.length);
  assert.deepEqual(outbox.stats, { written: seen.records.length + 1, failed: 0, skipped: 0, extensionsDropped: 0 });
  await outbox.shutdown();
  setTraceProcessors([]);
});

test('trace: traces end and commit while another trace keeps storing spans', { skip: noCli, timeout: 60000 }, async (t) => {
  // tb_outbox_flush() waits for an empty queue, which a producer that never
  // pauses does not leave (a C thread putting in a loop keeps it waiting
  // forever); the commit point waits only for what was queued before it
  const dir = tmpdir(t);
  const db = path.join(dir, 'busy.db');
  const outbox = new OutboxProcessor(db, { durability: 'trace' });
  setTraceProcessors([outbox]);
  let stop = false;
  let made = 0;
  const producer = withTrace('background', async () => {
    while (!stop) {
      for (let i = 0; i < 300; i++) {
        const s = createCustomSpan({ data: { name: 'noise', data: { made } } });
        s.start();
        s.end();
        made++;
      }
      await new Promise((r) => setImmediate(r));
    }
  });
  const ends = [];
  for (let i = 0; i < 20; i++) {
    await withTrace(`foreground-${i}`, async () => {
      await withCustomSpan(async () => {}, { data: { name: 'work', data: { i } } });
    });
    ends.push(made);
  }
  stop = true;
  await producer;
  assert.ok(ends[ends.length - 1] > ends[0], 'the background kept storing spans while traces ended');
  const names = new Set(cliExport(db).filter((r) => r.object === 'trace').map((r) => r.workflow_name));
  for (let i = 0; i < 20; i++) assert.ok(names.has(`foreground-${i}`));
  await outbox.shutdown();
  setTraceProcessors([]);
  assert.equal(outbox.stats.failed, 0);
});

// A child process runs one trace, then kills itself with SIGKILL the moment
// withTrace resolves: no shutdown, no flush, no exit handler.
const CHILD = `
import { setTraceProcessors, setTracingDisabled, withCustomSpan, withTrace } from '@openai/agents-core';
import { OutboxProcessor } from './index.mjs';
setTracingDisabled(false);
const [db, durability] = process.argv.slice(-2);
const outbox = new OutboxProcessor(db, { durability, flushIntervalMs: ${SLOW_WRITER} });
await outbox.put(${JSON.stringify(WARM)}); // settle(): the writer has taken its first look
await outbox.forceFlush();
setTraceProcessors([outbox]);
await withTrace('crash-' + durability, async () => {
  for (let i = 0; i < 3; i++) await withCustomSpan(async () => {}, { data: { name: 'step', data: { i } } });
});
process.kill(process.pid, 'SIGKILL');
`;

test('trace: a trace whose end resolved survives a SIGKILL of the process right after', { skip: noCli }, (t) => {
  const dir = tmpdir(t);
  const got = {};
  for (const durability of ['async', 'trace']) {
    const db = path.join(dir, `${durability}.db`);
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', CHILD, '--', db, durability], {
      cwd: path.join(ROOT, 'bindings', 'node'), encoding: 'utf8', timeout: 60000,
    });
    assert.equal(r.signal, 'SIGKILL', r.stderr);
    got[durability] = cliExport(db).filter((r) => r.id !== WARM.id);
  }
  t.diagnostic(`async: ${got.async.length} of 4 records survived (expected 0: what is still queued dies with the process)`);
  assert.equal(got.trace.length, 4, 'trace: the trace and its 3 spans were committed before withTrace resolved');
  assert.equal(got.trace.filter((r) => r.object === 'trace').length, 1);
});

test('full and normal: records handed over together go in one batch, each with its own outcome', { skip: noCli }, async (t) => {
  const dir = tmpdir(t);
  for (const durability of ['full', 'normal']) {
    const db = path.join(dir, `${durability}.db`);
    const log = logger();
    const outbox = new OutboxProcessor(db, { durability, logger: log.logger });
    const rec = (i) => ({ object: 'trace.span', id: `span_${durability}_${i}`, trace_id: 'trace_' + '3'.repeat(32), span_data: { type: 'custom', name: `n${i}`, data: {} } });
    const bad = { object: 'trace.span', id: 'span_bad', span_data: { type: 'custom', name: 'no trace id', data: {} } };
    const puts = [];
    for (let i = 0; i < 600; i++) puts.push(outbox.put(i === 300 ? bad : rec(i))); // more than one batch
    const ok = await Promise.all(puts);
    assert.deepEqual(ok.map((x, i) => [i, x]).filter(([, x]) => !x), [[300, false]]);
    assert.deepEqual(outbox.stats, { written: 599, failed: 1, skipped: 0, extensionsDropped: 0 });
    assert.equal(log.errors.length, 1);
    assert.match(log.errors[0], /record span_bad not stored in .*: trace_id: .*\(TB_BAD_RECORD\)/);
    // resolved means committed
    assert.equal(cliExport(db).length, 599);
    await outbox.shutdown();
  }
});

test('full: records handed over just before shutdown are written; after it, refused', { skip: noCli }, async (t) => {
  const dir = tmpdir(t);
  const db = path.join(dir, 'closing.db');
  const log = logger();
  const outbox = new OutboxProcessor(db, { logger: log.logger });
  const rec = (i) => ({ object: 'trace.span', id: `span_closing_${i}`, trace_id: 'trace_' + '4'.repeat(32), span_data: { type: 'custom', name: 'x', data: {} } });
  const before = [];
  for (let i = 0; i < 50; i++) before.push(outbox.put(rec(i)));
  const closing = outbox.shutdown();
  const after = outbox.put(rec(99));
  assert.deepEqual(await Promise.all(before), Array(50).fill(true));
  assert.equal(await after, false);
  await closing;
  assert.match(log.warns.at(-1), /span_closing_99 arrived after shutdown/);
  assert.equal(cliExport(db).length, 50);
});

test('redact: span inputs and outputs are stored as [redacted]', { skip: noCli }, async (t) => {
  const dir = tmpdir(t);
  const db = path.join(dir, 'redact.db');
  const outbox = new OutboxProcessor(db, { durability: 'async', redact: true });
  await outbox.put({ object: 'trace.span', id: 'span_r1', trace_id: 'trace_' + '5'.repeat(32), span_data: { type: 'function', name: 'lookup', input: '{"card":"4111"}', output: 'secret' } });
  await outbox.shutdown();
  const [stored] = cliExport(db);
  assert.equal(stored.span_data.name, 'lookup');
  assert.equal(stored.span_data.input, '[redacted]');
  assert.equal(stored.span_data.output, '[redacted]');
  const plainDb = path.join(dir, 'plain.db');
  const plainOutbox = new OutboxProcessor(plainDb, { durability: 'async' });
  await plainOutbox.put({ object: 'trace.span', id: 'span_r1', trace_id: 'trace_' + '5'.repeat(32), span_data: { type: 'function', name: 'lookup', input: '{"card":"4111"}', output: 'secret' } });
  await plainOutbox.shutdown();
  assert.equal(cliExport(plainDb)[0].span_data.output, 'secret', 'without redact nothing is redacted');
});

test('forceFlush in async mode commits what was queued (the writer is not due yet)', { skip: noCli }, async (t) => {
  const dir = tmpdir(t);
  const db = path.join(dir, 'ff.db');
  const outbox = new OutboxProcessor(db, { durability: 'async', flushIntervalMs: SLOW_WRITER });
  await settle(outbox);
  setTraceProcessors([outbox]);
  await withTrace('ff', async () => {
    await withCustomSpan(async () => {}, { data: { name: 'one', data: {} } });
  });
  await getGlobalTraceProvider().forceFlush();
  assert.equal(cliExport(db).length, 3);
  await outbox.shutdown();
  setTraceProcessors([]);
});
