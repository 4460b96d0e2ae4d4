// Node binding benchmark (issue #15): the real @openai/agents-core tracing API
// with no processor, agents-core's own BatchTraceProcessor (an in-memory
// exporter that only counts), and tracebox's OutboxProcessor in each
// durability mode, in one process. Not run by ctest.
//
//   TRACEBOX_LIBRARY=build/release/libtracebox.so node tests/bench/bindings_node.mjs [--quick]
//
// A `serialize` row (a processor that only calls toJSON() and JSON.stringify()
// on each record) is the floor of any processor that stores the SDK's export.
//
// Options: --quick (2 000 spans), --spans N (default 20 000), --per-trace K
// (spans per trace, default 10), --concurrency C[,C2...] (traces in flight at
// once, default 1,16: one table each), --rounds R (default 1; the median is
// shown), --modes a,b,... (default: every one).
//
// Each trace is what a short agent run makes: withTrace → an agent span with
// K-1 generation / function spans (one after the other, each awaited like the
// SDK's withXSpan helpers; the SDK itself does not await onSpanEnd: Span.end()
// fires it). Between traces each worker yields to the event loop (as an app
// waiting on the network would). µs/span is the wall time from the first
// trace to the end of `getGlobalTraceProvider().forceFlush()` (everything
// handed over and, for tracebox, committed), divided by the spans made. The
// worst loop block is the largest event-loop delay perf_hooks'
// monitorEventLoopDelay saw while the case ran (the `none` row is the
// workload's own floor). On Linux it also shows the CPU time of the event-loop
// thread (/proc/self/task/<pid>/schedstat) and of the whole process
// (process.cpuUsage(): libtracebox's writer thread, the libuv threadpool)
// per span, and how long the loop thread was ready to run but waited for a
// CPU (other processes, or this one's own threads, on a busy machine: wall
// time is then less telling than CPU time). Figures vary between runs and
// machines; the ratios to the BatchTraceProcessor row are what to compare.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(here, '..', '..');
const NODE_DIR = path.join(ROOT, 'bindings', 'node');

if (!process.env.TRACEBOX_LIBRARY) {
  const p = path.join(ROOT, 'build', 'release', 'libtracebox.so');
  if (fs.existsSync(p)) process.env.TRACEBOX_LIBRARY = p;
}

// agents-core and the binding from bindings/node (one copy of each, CommonJS)
const requireNode = createRequire(path.join(NODE_DIR, 'package.json'));
const core = requireNode('@openai/agents-core');
const tracebox = requireNode('./index.cjs');
const version = (pkg) => JSON.parse(fs.readFileSync(path.join(NODE_DIR, 'node_modules', pkg, 'package.json'), 'utf8')).version;
const {
  BatchTraceProcessor, getGlobalTraceProvider, setTraceProcessors, setTracingDisabled,
  withAgentSpan, withFunctionSpan, withGenerationSpan, withTrace,
} = core;

// ---- arguments ----
const argv = process.argv.slice(2);
function arg(name, dflt) {
  const i = argv.indexOf(name);
  if (i < 0) return dflt;
  const v = argv[i + 1];
  if (v === undefined || v.startsWith('--')) throw new Error(`${name} needs a value`);
  return v;
}
for (const a of argv) {
  if (a.startsWith('--') && !['--quick', '--spans', '--per-trace', '--concurrency', '--rounds', '--modes', '--help'].includes(a)) {
    throw new Error(`unknown option ${a} (see the comment at the top of ${path.basename(fileURLToPath(import.meta.url))})`);
  }
}
if (argv.includes('--help')) {
  console.log('usage: node tests/bench/bindings_node.mjs [--quick] [--spans N] [--per-trace K] ' +
    '[--concurrency C[,C...]] [--rounds R] [--modes none,batch,serialize,async,trace,normal,full]');
  process.exit(0);
}
const QUICK = argv.includes('--quick');
const SPANS = Number(arg('--spans', QUICK ? 2000 : 20000));
const PER_TRACE = Math.max(2, Number(arg('--per-trace', 10)));
const CONCURRENCY = String(arg('--concurrency', '1,16')).split(',').map(Number);
const ROUNDS = Math.max(1, Number(arg('--rounds', 1)));
const ALL_MODES = ['none', 'batch', 'serialize', 'async', 'trace', 'normal', 'full'];
const MODES = String(arg('--modes', ALL_MODES.join(','))).split(',');
for (const m of MODES) if (!ALL_MODES.includes(m)) throw new Error(`unknown mode ${m}`);
const TRACES = Math.max(1, Math.round(SPANS / PER_TRACE));

setTracingDisabled(false); // agents-core turns tracing off when NODE_ENV=test

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tracebox-bench-node-'));
const cleanup = () => fs.rmSync(tmp, { recursive: true, force: true });
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    cleanup();
    process.exit(130);
  });
}

// ---- the workload ----
const MESSAGES = [
  { role: 'system', content: 'You route customers to the right team.' },
  { role: 'user', content: 'I want a refund for order 42 — it arrived broken.' },
];
const OUTPUT = [{ role: 'assistant', content: 'Let me look that order up first.' }];

async function oneTrace(t) {
  await withTrace(`bench-${t}`, async () => {
    await withAgentSpan(async () => {
      for (let i = 1; i < PER_TRACE; i++) {
        if (i % 2) {
          await withGenerationSpan(async (span) => {
            span.spanData.output = OUTPUT;
            span.spanData.usage = { input_tokens: 42, output_tokens: 9 };
          }, { data: { model: 'gpt-4.1', model_config: { temperature: 0.2 }, input: MESSAGES } });
        } else {
          await withFunctionSpan(async (span) => {
            span.spanData.output = `order ${t}: delivered, $19.99`;
          }, { data: { name: 'lookup_order', input: `{"order":${t}}` } });
        }
      }
    }, { data: { name: 'Triage', tools: ['lookup_order'], handoffs: ['Billing'], output_type: 'text' } });
  }, { groupId: `thread_${t % 100}`, metadata: { customer: `c-${t}` } });
}

// The event-loop thread's CPU time and run-queue wait (ns), where Linux says.
const SCHEDSTAT = `/proc/self/task/${process.pid}/schedstat`;
function loopThread() {
  try {
    const [run, wait] = fs.readFileSync(SCHEDSTAT, 'utf8').split(' ').map(Number);
    return { run, wait };
  } catch {
    return null;
  }
}

const yieldLoop = () => new Promise((resolve) => setImmediate(resolve));

async function workload(traces, concurrency) {
  let next = 0;
  const worker = async () => {
    while (next < traces) {
      await oneTrace(next++);
      await yieldLoop();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

// ---- the cases ----
class CountingExporter {
  items = 0;
  async export(items) {
    this.items += items.length;
  }
}

class SerializingProcessor {
  records = 0;
  bytes = 0;
  #take(x) {
    const j = x.toJSON();
    if (j) {
      this.bytes += JSON.stringify(j).length;
      this.records++;
    }
  }
  async onTraceStart(trace) {
    this.#take(trace);
  }
  async onTraceEnd() {}
  async onSpanStart() {}
  async onSpanEnd(span) {
    this.#take(span);
  }
  async forceFlush() {}
  async shutdown() {}
}

let dbSeq = 0;
function makeCase(mode) {
  if (mode === 'none') return { processors: [], stored: () => '' };
  if (mode === 'serialize') {
    // the floor of any processor that stores the SDK's export: toJSON() and
    // JSON.stringify() of each record, and nothing else
    const p = new SerializingProcessor();
    return { processors: [p], stored: () => p.records };
  }
  if (mode === 'batch') {
    const exporter = new CountingExporter();
    const p = new BatchTraceProcessor(exporter);
    return { processors: [p], stored: () => exporter.items, close: () => p.shutdown() };
  }
  const db = path.join(tmp, `${mode}-${dbSeq++}.db`);
  let p;
  try {
    p = new tracebox.OutboxProcessor(db, { durability: mode });
  } catch (e) {
    if (e instanceof TypeError) return null; // a mode this binding does not have
    throw e;
  }
  return {
    processors: [p],
    stored: () => p.stats.written,
    close: async () => {
      await p.shutdown();
      for (const f of fs.readdirSync(tmp)) if (f.startsWith(path.basename(db))) fs.rmSync(path.join(tmp, f), { force: true });
    },
  };
}

async function runCase(mode, traces, concurrency) {
  const c = makeCase(mode);
  if (!c) return null;
  setTraceProcessors(c.processors);
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const cpu0 = process.cpuUsage();
  const lt0 = loopThread();
  const t0 = process.hrtime.bigint();
  await workload(traces, concurrency);
  await getGlobalTraceProvider().forceFlush();
  const ns = Number(process.hrtime.bigint() - t0);
  const lt1 = loopThread();
  const cpu = process.cpuUsage(cpu0);
  h.disable();
  const spans = traces * PER_TRACE;
  const stored = c.stored();
  if (c.close) await c.close();
  setTraceProcessors([]);
  return {
    us: ns / 1000 / spans,
    loopUs: lt0 && lt1 ? (lt1.run - lt0.run) / 1000 / spans : NaN,
    waitUs: lt0 && lt1 ? (lt1.wait - lt0.wait) / 1000 / spans : NaN,
    procUs: (cpu.user + cpu.system) / spans,
    blockMs: h.max / 1e6,
    stored,
    expected: spans + traces,
  };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main() {
  console.log(`# tracebox Node binding: ${TRACES * PER_TRACE} spans (${TRACES} traces of ${PER_TRACE}), ` +
    `${ROUNDS} round(s), median shown`);
  console.log(`node ${process.version}, ${os.cpus().length} CPUs, koffi ${version('koffi')}, ` +
    `@openai/agents-core ${version('@openai/agents-core')}, ` +
    `libtracebox ${tracebox.libraryVersion()} (${tracebox.libraryPath})`);
  // warm-up: JIT and the page cache, not measured
  for (const mode of MODES) await runCase(mode, Math.max(20, Math.round(TRACES / 20)), 1);
  for (const conc of CONCURRENCY) {
    const res = new Map(MODES.map((m) => [m, []]));
    for (let r = 0; r < ROUNDS; r++) {
      for (const mode of MODES) res.get(mode).push(await runCase(mode, TRACES, conc));
    }
    const row = (mode) => {
      const rs = res.get(mode);
      if (rs.some((x) => x === null)) return null;
      return {
        us: median(rs.map((x) => x.us)),
        min: Math.min(...rs.map((x) => x.us)),
        max: Math.max(...rs.map((x) => x.us)),
        blockMs: median(rs.map((x) => x.blockMs)),
        loopUs: median(rs.map((x) => x.loopUs)),
        waitUs: median(rs.map((x) => x.waitUs)),
        procUs: median(rs.map((x) => x.procUs)),
        stored: rs.map((x) => x.stored),
        expected: rs[0].expected,
      };
    };
    const batch = MODES.includes('batch') ? row('batch') : null;
    console.log(`\n## ${conc} trace(s) in flight\n`);
    console.log('| processor | µs/span | × BatchTraceProcessor | loop-thread CPU µs/span | × Batch… (CPU) | ' +
      'process CPU µs/span | loop waited for a CPU, µs/span | worst loop block (ms) | records stored |');
    console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const mode of MODES) {
      const x = row(mode);
      const name = mode === 'none' ? 'no processor' : mode === 'batch' ? 'agents-core BatchTraceProcessor'
        : mode === 'serialize' ? 'toJSON() + JSON.stringify() only' : `tracebox \`${mode}\``;
      if (!x) {
        console.log(`| ${name} | n/a (not in this binding) | | | | | | | |`);
        continue;
      }
      const spread = ROUNDS > 1 ? ` (${x.min.toFixed(1)}–${x.max.toFixed(1)})` : '';
      const ratio = batch ? `${(x.us / batch.us).toFixed(2)}×` : '';
      const cpuRatio = batch && Number.isFinite(x.loopUs) ? `${(x.loopUs / batch.loopUs).toFixed(2)}×` : '';
      const f = (v) => (Number.isFinite(v) ? v.toFixed(1) : 'n/a');
      const stored = mode === 'none' ? '' : `${[...new Set(x.stored)].join('/')} of ${x.expected}`;
      console.log(`| ${name} | ${x.us.toFixed(1)}${spread} | ${ratio} | ${f(x.loopUs)} | ${cpuRatio} | ` +
        `${f(x.procUs)} | ${f(x.waitUs)} | ${x.blockMs.toFixed(1)} | ${stored} |`);
    }
  }
}

await main();
