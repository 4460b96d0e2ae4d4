// resets: a collector that resets every connection for the first 10 s of a
// 20 s run. The same OpenTelemetry JS SDK setup (BasicTracerProvider,
// BatchSpanProcessor with its default settings, OTLPTraceExporter from
// exporter-trace-otlp-http) sends TB_RATE (500) spans/s on two paths at once:
//   - through `tracebox serve`, which stores them and ships them in-process
//     (its config has the receiver as an `otlp` destination) to receiver A;
//   - straight to receiver B (the peer baseline).
// Both receivers (receiver.mjs) reset every connection (RST, no answer) until
// t0 + TB_RESET_MS (10 000). After TB_RUN_MS (20 000) both providers are shut
// down (which flushes what the batch processors still hold), and the program
// waits, with a deadline, until serve has shipped everything (`tracebox status
// --json`: pending 0 for the destination, and every span at receiver A).
// Asserts: the serve path delivers 100 % of the spans the SDK ended; the
// baseline delivers less than 100 % (TB_BASELINE_ASSERT=0 only prints it).
//
//   TRACEBOX_CLI=/path/to/tracebox node bindings/node/tests/serve/resets.mjs
import assert from 'node:assert/strict';
import path from 'node:path';

import { log, main, otlpConfig, requireOrSkip, startServe, status, stopServe, waitFor, withDeadline } from './common.mjs';

const NAME = 'resets';
const cli = await requireOrSkip(NAME, [
  '@opentelemetry/api', '@opentelemetry/sdk-trace-base', '@opentelemetry/resources', '@opentelemetry/otlp-transformer',
  '@opentelemetry/exporter-trace-otlp-http',
]);

const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
const { BatchSpanProcessor } = await import('@opentelemetry/sdk-trace-base');
const { startReceiver } = await import('./receiver.mjs');
const { EndedSpans, SPANS_PER_UNIT, makeProvider, unitMaker } = await import('./otel.mjs');

const RATE = Number(process.env.TB_RATE || 500); // spans per second on each path
const RUN_MS = Number(process.env.TB_RUN_MS || 20000);
const RESET_MS = Number(process.env.TB_RESET_MS || 10000);
const DRAIN_MS = Number(process.env.TB_DRAIN_MS || 240000); // serve's backoff: base 1 s, doubling, full jitter
const ASSERT_BASELINE = process.env.TB_BASELINE_ASSERT !== '0';
const SUCCESS = 0; // ExportResultCode.SUCCESS

/** The SDK's exporter, counting what it was answered (the processor calls it as usual). */
function counted(inner) {
  const c = { calls: 0, ok: 0, failed: 0, errors: new Map() };
  return {
    c,
    export(spans, done) {
      c.calls++;
      inner.export(spans, (r) => {
        if (r.code === SUCCESS) c.ok += spans.length;
        else {
          c.failed += spans.length;
          const m = String(r.error?.message || r.error || 'failed');
          c.errors.set(m, (c.errors.get(m) || 0) + 1);
        }
        done(r);
      });
    },
    forceFlush: () => inner.forceFlush?.() ?? Promise.resolve(),
    shutdown: () => inner.shutdown(),
  };
}

function path_(label, url, serviceName) {
  const exporter = counted(new OTLPTraceExporter({ url }));
  const ended = new Set();
  const provider = makeProvider(serviceName, [
    new EndedSpans((s) => ended.add(s.spanContext().spanId)),
    new BatchSpanProcessor(exporter), // default settings: queue 2048, batch 512, 5 s delay, 30 s timeout
  ]);
  return { label, exporter, ended, provider, unit: unitMaker(provider) };
}

const pct = (n, d) => (d ? (100 * n) / d : 0);

await main(NAME, async (tmp) => {
  const db = path.join(tmp.dir, 'outbox.db');
  const rxServe = await startReceiver();
  const rxPeer = await startReceiver();
  tmp.onExit(() => rxServe.close());
  tmp.onExit(() => rxPeer.close());
  const ini = otlpConfig(path.join(tmp.dir, 'serve.ini'), rxServe.url);
  const serve = await startServe(cli, { db, config: ini, logFile: path.join(tmp.dir, 'serve.log') });
  log(`serve on ${serve.url} ships to ${rxServe.url}; baseline straight to ${rxPeer.url}`);

  const viaServe = path_('serve', `${serve.url}/v1/traces`, 'tb-resets-via-serve');
  const peer = path_('peer', `${rxPeer.url}/v1/traces`, 'tb-resets-peer');

  // the run: RATE spans/s on each path, both receivers resetting for RESET_MS
  const t0 = Date.now();
  rxServe.resetUntil(t0 + RESET_MS);
  rxPeer.resetUntil(t0 + RESET_MS);
  let units = 0;
  await new Promise((resolve) => {
    const tick = setInterval(() => {
      const now = Math.min(Date.now(), t0 + RUN_MS);
      const due = Math.floor((RATE * (now - t0)) / 1000 / SPANS_PER_UNIT);
      for (; units < due; units++) {
        viaServe.unit();
        peer.unit();
      }
      if (now >= t0 + RUN_MS) {
        clearInterval(tick);
        resolve();
      }
    }, 10);
  });
  log(`run over: ${viaServe.ended.size} spans ended on each path; receiver resets: serve path ${rxServe.stats.resets}, baseline ${rxPeer.stats.resets}`);

  // what an app does at exit: shut the providers down (flushes the batch processors)
  const shut = async (p) => {
    try {
      await withDeadline(`${p.label} provider shutdown`, p.provider.shutdown(), 90000);
    } catch (e) {
      log(`${p.label}: provider shutdown: ${Array.isArray(e) ? e.map(String).join('; ') : e.message}`);
    }
  };
  await Promise.all([shut(viaServe), shut(peer)]);
  log(`SDK exporter answers — serve path: ${viaServe.exporter.c.ok} spans SUCCESS, ${viaServe.exporter.c.failed} failed; ` +
    `baseline: ${peer.exporter.c.ok} SUCCESS, ${peer.exporter.c.failed} failed (${[...peer.exporter.c.errors].map(([m, n]) => `${n}× ${m}`).join('; ')})`);

  // serve ships in-process: wait until it has delivered everything
  let last;
  try {
    await waitFor('serve to ship every span to the receiver', async () => {
      last = await status(cli, db);
      const d = (last.destinations || []).find((x) => x.name === 'collector');
      const all = [...viaServe.ended].every((id) => rxServe.spans.has(id));
      return d && d.pending === 0 && all;
    }, { timeoutMs: DRAIN_MS, every: 500 });
  } catch (e) {
    const got = [...viaServe.ended].filter((id) => rxServe.spans.has(id)).length;
    throw new Error(`${e.message}: ${got} of ${viaServe.ended.size} arrived; status: ${JSON.stringify(last)}\nserve stderr:\n${serve.stderrTail()}`);
  }
  const drainedMs = Date.now() - t0;
  const stopped = await stopServe(serve, 'SIGTERM');

  const servedGot = [...viaServe.ended].filter((id) => rxServe.spans.has(id)).length;
  const peerGot = [...peer.ended].filter((id) => rxPeer.spans.has(id)).length;
  const servePct = pct(servedGot, viaServe.ended.size);
  const peerPct = pct(peerGot, peer.ended.size);
  const peerNotExported = peer.ended.size - peer.exporter.c.ok - peer.exporter.c.failed;
  const d = last.destinations.find((x) => x.name === 'collector');
  console.log(`${NAME}: ${RATE} spans/s for ${RUN_MS / 1000} s, every connection reset for the first ${RESET_MS / 1000} s`);
  console.log(`${NAME}: through serve: ${servedGot} of ${viaServe.ended.size} delivered = ${servePct.toFixed(2)} % ` +
    `(all shipped ${(drainedMs / 1000).toFixed(1)} s after t0; destination delivered ${d.delivered}, dead ${d.dead}; ` +
    `receiver saw ${rxServe.stats.resets} resets, ${rxServe.stats.answered} requests answered, ${[...rxServe.copies.values()].filter((c) => c > 1).length} spans twice)`);
  console.log(`${NAME}: baseline (SDK straight to the receiver): ${peerGot} of ${peer.ended.size} delivered = ${peerPct.toFixed(2)} % ` +
    `(exporter failed ${peer.exporter.c.failed} spans, batch processor never exported ${peerNotExported} (queue full); receiver saw ${rxPeer.stats.resets} resets)`);

  assert.deepEqual(stopped, { code: 0, signal: null }, `serve did not stop cleanly on SIGTERM: ${JSON.stringify(stopped)}`);
  assert.deepEqual(rxServe.stats.errors, [], 'receiver A could not decode what serve shipped');
  assert.deepEqual(rxPeer.stats.errors, [], 'receiver B could not decode what the SDK sent');
  assert.equal(viaServe.exporter.c.failed, 0, `serve failed ${viaServe.exporter.c.failed} spans of the SDK's exports: ${[...viaServe.exporter.c.errors.keys()]}`);
  assert.equal(d.dead, 0, 'serve dead-lettered records');
  assert.equal(servedGot, viaServe.ended.size, 'the serve path delivers 100 %');
  if (ASSERT_BASELINE) assert.ok(peerGot < peer.ended.size, `the baseline delivered ${peerPct.toFixed(2)} %: the resets did not cost it anything`);
});
