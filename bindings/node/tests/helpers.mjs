// Shared helpers for the binding's tests: library / CLI lookup, a collecting
// TracingProcessor, the CLI's `export` and `ship --once`.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

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
