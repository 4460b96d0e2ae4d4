// kill_restart: `tracebox serve` is SIGKILLed mid-stream and restarted on the
// same outbox (and port); nothing it acknowledged is lost.
//
// The real OpenTelemetry JS SDK (sdk-trace-base BasicTracerProvider, real
// spans with attributes of every type, events, an exception, links, a remote
// parent with a tracestate, a resource with a schema URL, two scopes) sends
// TB_SPANS (2000) spans in batches of 50 through the SDK's own exporters —
// OTLPTraceExporter of exporter-trace-otlp-http (JSON, plain and gzip) and of
// exporter-trace-otlp-proto (protobuf), in turn — to serve's /v1/traces, two
// batches in flight. The program calls exporter.export(batch, cb) itself, so
// it knows which spans were answered SUCCESS. Once half are acknowledged,
// serve is SIGKILLed and started again at once on the same db and port; the
// sender keeps going (the exporters' own retries, then the program re-exports
// any batch that still failed, as an app's next export would). Then serve
// gets SIGTERM (it must exit 0), and `tracebox ship --once` re-exports the
// outbox to a loopback OTLP receiver (receiver.mjs). Every acknowledged span
// must arrive exactly as the SDK's own protobuf serializer encodes it
// (ids, parent, tracestate, flags, kind, times, attributes, events, links,
// status, resource, scope).
//
//   TRACEBOX_CLI=/path/to/tracebox node bindings/node/tests/serve/kill_restart.mjs
import assert from 'node:assert/strict';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';

import { log, main, otlpConfig, receiveOnlyConfig, requireOrSkip, runCli, sqliteJson, startServe, stopServe, withDeadline } from './common.mjs';

const NAME = 'kill_restart';
const cli = await requireOrSkip(NAME, [
  '@opentelemetry/api', '@opentelemetry/sdk-trace-base', '@opentelemetry/resources', '@opentelemetry/otlp-transformer',
  '@opentelemetry/exporter-trace-otlp-http', '@opentelemetry/exporter-trace-otlp-proto',
], { sqlite3: true });

const { OTLPTraceExporter: JsonExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
const { OTLPTraceExporter: ProtoExporter } = await import('@opentelemetry/exporter-trace-otlp-proto');
const { startReceiver, expectedFromSdk } = await import('./receiver.mjs');
const { EndedSpans, SPANS_PER_UNIT, makeProvider, unitMaker } = await import('./otel.mjs');

const BATCH = 50; // spans per export call (10 units)
const TOTAL = Math.max(2, Math.round(Number(process.env.TB_SPANS || 2000) / BATCH)) * BATCH;
const IN_FLIGHT = 2;
const SUCCESS = 0; // ExportResultCode.SUCCESS (@opentelemetry/core)

/** One exporter.export() call, with a deadline above the exporter's own
 * (10 s timeout, retries inside it). */
function exportOnce(exporter, spans) {
  const t0 = Date.now();
  return withDeadline('exporter.export callback', new Promise((resolve) => exporter.export(spans, resolve)), 60000)
    .then((r) => ({ code: r.code, error: r.error ? String(r.error.message || r.error) : null, ms: Date.now() - t0 }));
}

/** Every leaf where `got` and `sent` differ: [{at, got, sent}]. */
function diffs(got, sent, at = '', out = []) {
  if (isDeepStrictEqual(got, sent)) return out;
  if (typeof got !== 'object' || typeof sent !== 'object' || got === null || sent === null || Array.isArray(got) !== Array.isArray(sent)) {
    out.push({ at: at || '.', got, sent });
    return out;
  }
  for (const k of new Set([...Object.keys(got), ...Object.keys(sent)])) diffs(got[k], sent[k], `${at}.${k}`, out);
  return out;
}

await main(NAME, async (tmp) => {
  const db = path.join(tmp.dir, 'outbox.db');
  const logFile = path.join(tmp.dir, 'serve.log');
  const receiveOnly = receiveOnlyConfig(path.join(tmp.dir, 'receive.ini'));
  let serve = await startServe(cli, { db, config: receiveOnly, logFile });
  const port = serve.port;
  const url = `${serve.url}/v1/traces`;
  log(`serve listening on ${serve.url} (db ${db})`);

  const exporters = [
    { kind: 'json', ex: new JsonExporter({ url }) },
    { kind: 'json+gzip', ex: new JsonExporter({ url, compression: 'gzip' }) },
    { kind: 'protobuf', ex: new ProtoExporter({ url }) },
  ];
  tmp.onExit(() => Promise.all(exporters.map((e) => e.ex.shutdown().catch(() => {}))));

  let ended = [];
  const all = [];
  const provider = makeProvider('tb-serve-kill-restart', [new EndedSpans((s) => ended.push(s))]);
  const unit = unitMaker(provider);

  const nBatches = Math.ceil(TOTAL / BATCH);
  const batches = [];
  let next = 0;
  let ackedSpans = 0;
  let inFlight = 0;
  let kill = null; // {ackedAtKill, inFlightAtKill, downMs, promise}

  async function killAndRestart() {
    const t0 = Date.now();
    kill.ackedAtKill = ackedSpans;
    kill.inFlightAtKill = inFlight;
    serve.proc.kill('SIGKILL');
    const ex = await withDeadline('serve to die after SIGKILL', serve.exited, 10000);
    assert.equal(ex.signal, 'SIGKILL', `serve exited with ${JSON.stringify(ex)} instead of dying of SIGKILL`);
    log(`serve SIGKILLed with ${kill.ackedAtKill} spans acknowledged, ${kill.inFlightAtKill} batches in flight`);
    serve = await startServe(cli, { db, listen: `127.0.0.1:${port}`, config: receiveOnly, logFile });
    kill.downMs = Date.now() - t0;
    log(`serve restarted on the same port after ${kill.downMs} ms`);
  }

  async function worker() {
    while (next < nBatches && !kill?.failed) {
      const id = next++;
      const n = Math.min(BATCH, TOTAL - id * BATCH);
      ended = [];
      for (let u = 0; u < n / SPANS_PER_UNIT; u++) unit();
      const spans = ended;
      assert.equal(spans.length, n);
      all.push(...spans);
      const b = { id, spans, exporter: exporters[id % exporters.length], results: [], acked: false };
      batches.push(b);
      inFlight++;
      const r = await exportOnce(b.exporter.ex, spans);
      inFlight--;
      b.results.push(r);
      if (r.code === SUCCESS) {
        b.acked = true;
        ackedSpans += spans.length;
      }
      if (!kill && ackedSpans >= TOTAL / 2) {
        kill = {};
        kill.promise = killAndRestart();
        kill.promise.catch((e) => {
          kill.failed = e; // awaited below; stop sending now
        });
      }
    }
  }
  const t0 = Date.now();
  await withDeadline('the sender', Promise.all(Array.from({ length: IN_FLIGHT }, worker)), 300000);
  assert.ok(kill, 'serve was never killed');
  await withDeadline('the restart', kill.promise, 60000);
  const firstPassMs = Date.now() - t0;
  const failedFirst = batches.filter((b) => b.results[0].code !== SUCCESS);
  const failedPass = batches.filter((b) => !b.acked);
  const retriedInside = batches.filter((b) => b.results[0].code === SUCCESS && b.results[0].ms > 900);
  log(`first pass: ${batches.length} batches in ${firstPassMs} ms; ${failedPass.length} batches failed (${failedPass.map((b) => `#${b.id} ${b.exporter.kind}: ${b.results[0].error}`).join('; ') || 'none'}); ${retriedInside.length} answered SUCCESS only after the exporter's own retries`);

  // the app's next export: the failed batches again, through the same exporter
  for (let round = 1; round <= 3 && batches.some((b) => !b.acked); round++) {
    for (const b of batches.filter((x) => !x.acked)) {
      const r = await exportOnce(b.exporter.ex, b.spans);
      b.results.push(r);
      if (r.code === SUCCESS) {
        b.acked = true;
        ackedSpans += b.spans.length;
      }
    }
  }
  const never = batches.filter((b) => !b.acked);
  assert.equal(never.length, 0, `serve (up again) did not acknowledge ${never.length} batches after 3 more tries: ` +
    never.map((b) => `#${b.id} ${b.exporter.kind}: ${b.results.map((r) => r.error).join(' | ')}`).join('; ') + `\nserve stderr:\n${serve.stderrTail()}`);
  assert.equal(ackedSpans, TOTAL);

  const stopped = await stopServe(serve, 'SIGTERM');
  assert.deepEqual(stopped, { code: 0, signal: null }, `serve did not stop cleanly on SIGTERM: ${JSON.stringify(stopped)}\n${serve.stderrTail()}`);

  const [counts] = await sqliteJson(db, "select count(*) as n, count(distinct span_id) as d, " +
    "sum(length(trace_id) = 32 and trace_id not glob '*[^0-9a-f]*' and length(span_id) = 16 and span_id not glob '*[^0-9a-f]*') as hexids " +
    "from records where kind = 'otlp'");
  const otherKinds = await sqliteJson(db, "select kind, count(*) as n from records where kind <> 'otlp' group by kind");
  log(`outbox: ${counts.n} otlp rows, ${counts.d} distinct span ids (${counts.n - counts.d} duplicates), ${counts.hexids} with 32/16 lowercase hex ids; other kinds: ${JSON.stringify(otherKinds)}`);
  assert.equal(counts.hexids, counts.n, 'every otlp row has trace_id = 32 lowercase hex and span_id = 16 lowercase hex');
  assert.equal(otherKinds.length, 0, 'serve stored only kind=otlp rows for OTLP input');

  // ship the outbox to a loopback OTLP receiver and compare with what the SDK sent
  const rx = await startReceiver();
  tmp.onExit(() => rx.close());
  const ini = otlpConfig(path.join(tmp.dir, 'ship.ini'), rx.url);
  const ts = Date.now();
  const ship = await runCli(cli, ['ship', '--once', '--db', db, '--config', ini], { timeoutMs: 180000 });
  const shipMs = Date.now() - ts;
  log(`ship --once: exit ${ship.code} in ${shipMs} ms; receiver: ${rx.stats.answered} requests (${JSON.stringify(rx.stats.contentTypes)}), ${rx.spans.size} distinct spans, errors ${rx.stats.errors.length}`);
  assert.equal(ship.code, 0, `tracebox ship --once exited ${ship.code} (signal ${ship.signal}): ${ship.stderr}`);
  assert.deepEqual(rx.stats.errors, [], 'the receiver could not decode a body');

  const expected = new Map(expectedFromSdk(all).map((s) => [s.span.spanId, s]));
  assert.equal(expected.size, TOTAL);
  let arrived = 0;
  let identical = 0;
  const missing = [];
  const differing = []; // spans
  const byPath = new Map(); // a differing field → how many spans, one example
  for (const b of batches) {
    for (const s of b.spans) {
      const id = s.spanContext().spanId;
      const got = rx.spans.get(id);
      if (!got) {
        missing.push(`${id} (batch #${b.id} ${b.exporter.kind})`);
        continue;
      }
      arrived++;
      const d = diffs(got, expected.get(id));
      if (!d.length) {
        identical++;
        continue;
      }
      differing.push(id);
      for (const x of d) {
        const key = x.at.replace(/\.(events|links|values|array)\.\d+/g, '.$1[]');
        const e = byPath.get(key) || { n: 0, example: `span ${id} "${s.name}" (sent as ${b.exporter.kind}): got ${JSON.stringify(x.got)}, sent ${JSON.stringify(x.sent)}` };
        e.n++;
        byPath.set(key, e);
      }
    }
  }
  const extra = [...rx.spans.keys()].filter((id) => !expected.has(id));
  const dupShipped = [...rx.copies.values()].filter((c) => c > 1).length;
  console.log(`${NAME}: spans sent ${TOTAL} in ${batches.length} batches (json / json+gzip / protobuf in turn); ` +
    `acknowledged before the kill ${kill.ackedAtKill}; batches in flight at the kill ${kill.inFlightAtKill}; serve down ${kill.downMs} ms; ` +
    `batches failed on the first try ${failedFirst.length}, re-exported by the program ${failedPass.length}; acknowledged in all ${ackedSpans}; ` +
    `outbox rows ${counts.n} (duplicates ${counts.n - counts.d}); arrived ${arrived} of ${ackedSpans} acknowledged, identical ${identical}; ` +
    `received more than once ${dupShipped}; unknown spans received ${extra.length}`);
  assert.deepEqual(missing.slice(0, 10), [], `${missing.length} acknowledged spans never arrived`);
  for (const [k, e] of byPath) console.log(`${NAME}: DIFFERENT ${k} in ${e.n} spans, e.g. ${e.example}`);
  assert.equal(differing.length, 0, `${differing.length} spans arrived different from what the SDK sent (fields above)`);
  assert.deepEqual(extra, [], 'the receiver got spans the SDK never sent');
});
