// Shared plumbing of the `tracebox serve` programs (kill_restart.mjs,
// resets.mjs, agents_exporter.mjs): skip rules, a temp dir, starting and
// stopping the CLI's `serve`, `ship --once`, `status --json`, the sqlite3
// shell, and waits that always have a deadline. Node built-ins only, so that
// a missing package is reported as a skip (77) before anything imports it.
//
// These files are not named like tests (`*.test.mjs`, `*-test.mjs`,
// `test-*.mjs`, `test.mjs`): a plain `node --test` in bindings/node does not
// run them. Each is a program: `TRACEBOX_CLI=/path/to/tracebox node FILE`.
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

export const SKIP = 77;

// Nothing from the caller's environment may add a destination (tracebox builds
// otlp / langfuse / openai / … destinations from OTEL_*, LANGFUSE_*,
// OPENAI_API_KEY, …) or change the OTel SDK's defaults (OTEL_BSP_*, …): these
// are removed from this process's environment, which the children inherit.
// The children also run in the program's temp dir (no ./tracebox.ini).
for (const k of Object.keys(process.env)) {
  if (/^(OTEL_|OPENAI_|LANGFUSE_|ARIZE_|PHOENIX_|WANDB_)/.test(k) || (/^TRACEBOX_/.test(k) && !['TRACEBOX_CLI', 'TRACEBOX_KEEP_TMP'].includes(k))) {
    delete process.env[k];
  }
}

/** Exit 77 (ctest's skip) unless the CLI and every package are there. */
export async function requireOrSkip(name, packages, { sqlite3 = false } = {}) {
  const why = [];
  const cli = process.env.TRACEBOX_CLI;
  if (!cli) why.push('TRACEBOX_CLI (the path of the tracebox CLI) is not set');
  else if (!fs.existsSync(cli)) why.push(`TRACEBOX_CLI=${cli} does not exist`);
  const missing = [];
  for (const p of packages) {
    try {
      await import(p);
    } catch (e) {
      missing.push(e.code === 'ERR_MODULE_NOT_FOUND' ? p : `${p} (${e.message})`);
    }
  }
  if (missing.length) why.push(`not installed: ${missing.join(', ')} (run: npm ci --prefix bindings/node)`);
  if (sqlite3) {
    const found = (process.env.PATH || '').split(path.delimiter).some((d) => d && fs.existsSync(path.join(d, 'sqlite3')));
    if (!found) why.push('the sqlite3 shell is not on PATH');
  }
  if (why.length) {
    console.log(`${name}: skipped: ${why.join('; ')}`);
    process.exit(SKIP);
  }
  return path.resolve(cli); // the programs chdir to their temp dir
}

export function log(...a) {
  console.log(`[${new Date().toISOString().slice(11, 23)}]`, ...a);
}

/** A fresh directory under $TMPDIR; `cleanup(ok)` removes it on success and
 * keeps it (and says where) on failure. */
export function tempDir(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `tracebox-${prefix}-`));
  return {
    dir,
    cleanup(ok) {
      if (ok && !process.env.TRACEBOX_KEEP_TMP) fs.rmSync(dir, { recursive: true, force: true });
      else console.log(`(kept ${dir})`);
    },
  };
}

/** Polls `pred` (sync or async) every `every` ms until it returns a truthy
 * value, which it returns; throws after `timeoutMs` naming `what`. */
export async function waitFor(what, pred, { timeoutMs, every = 50 }) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() >= end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

/** A promise with a deadline. */
export function withDeadline(what, promise, timeoutMs) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms: ${what}`)), timeoutMs);
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

const children = new Set();

/** SIGKILL whatever this program started and is still running (for finally). */
export function killAll() {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
  children.clear();
}

/**
 * `tracebox serve --listen LISTEN --db DB [--config INI]`; resolves when its
 * stderr says `listening on http://127.0.0.1:PORT`. Its stderr is appended to
 * `logFile`. Returns {proc, port, url, exited (a promise of {code, signal}),
 * stderrTail()}.
 */
export async function startServe(cli, { db, listen = '127.0.0.1:0', config, logFile, timeoutMs = 20000 }) {
  const args = ['serve', '--listen', listen, '--db', db];
  if (config) args.push('--config', config);
  const proc = spawn(cli, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(proc);
  const tail = [];
  const out = logFile ? fs.createWriteStream(logFile, { flags: 'a' }) : null;
  out?.write(`---- ${new Date().toISOString()} ${cli} ${args.join(' ')}\n`);
  const exited = new Promise((resolve) => {
    proc.on('exit', (code, signal) => {
      children.delete(proc);
      resolve({ code, signal });
    });
  });
  proc.stdout.on('data', (c) => out?.write(c));
  let ready;
  const readyP = new Promise((resolve, reject) => {
    ready = { resolve, reject };
  });
  const rl = readline.createInterface({ input: proc.stderr });
  rl.on('line', (line) => {
    out?.write(line + '\n');
    tail.push(line);
    if (tail.length > 40) tail.shift();
    const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(line);
    if (m) ready.resolve(Number(m[1]));
  });
  rl.on('close', () => out?.end());
  exited.then(({ code, signal }) => ready.reject(new Error(`serve exited (code ${code}, signal ${signal}) before it was listening:\n${tail.join('\n')}`)));
  proc.on('error', (e) => ready.reject(e));
  let port;
  try {
    port = await withDeadline(`serve to print "listening on"`, readyP, timeoutMs);
  } catch (e) {
    if (proc.exitCode === null) proc.kill('SIGKILL');
    throw e;
  }
  return { proc, port, url: `http://127.0.0.1:${port}`, exited, stderrTail: () => tail.join('\n') };
}

/** Sends `signal` and waits (deadline) for the exit; SIGKILLs and throws on timeout. */
export async function stopServe(serve, signal = 'SIGTERM', timeoutMs = 20000) {
  if (serve.proc.exitCode !== null || serve.proc.signalCode !== null) return serve.exited;
  serve.proc.kill(signal);
  try {
    return await withDeadline(`serve to exit after ${signal}`, serve.exited, timeoutMs);
  } catch (e) {
    serve.proc.kill('SIGKILL');
    throw e;
  }
}

/** Runs the CLI to completion without blocking the event loop (receivers live
 * in this process): {code, signal, stdout, stderr}. */
export function runCli(cli, args, { timeoutMs = 120000 } = {}) {
  return new Promise((resolve) => {
    const child = execFile(cli, args, { maxBuffer: 1 << 28, timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      children.delete(child);
      resolve({ code: child.exitCode, signal: child.signalCode, stdout, stderr });
    });
    children.add(child);
  });
}

/** `tracebox status --json --db DB [--config INI]`, parsed. */
export async function status(cli, db, config) {
  const args = ['status', '--json', '--db', db];
  if (config) args.push('--config', config);
  const r = await runCli(cli, args, { timeoutMs: 30000 });
  if (r.code !== 0) throw new Error(`tracebox ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** `sqlite3 -json DB SQL`, parsed (an empty result is []). */
export function sqliteJson(db, sql) {
  return new Promise((resolve, reject) => {
    execFile('sqlite3', ['-json', db, sql], { maxBuffer: 1 << 29, timeout: 60000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`sqlite3 ${db} "${sql}": ${stderr || err.message}`));
      else resolve(stdout.trim() ? JSON.parse(stdout) : []);
    });
  });
}

/** An INI without destinations: serve only receives (with no config at all
 * it would ship to the default `file` destination, ./tracebox-export.jsonl). */
export function receiveOnlyConfig(file) {
  fs.writeFileSync(file, '; no destinations: serve only receives\n');
  return file;
}

/** An INI with one `otlp` destination named `collector` at `endpoint`. */
export function otlpConfig(file, endpoint, extra = '') {
  fs.writeFileSync(file, `[collector]\ntype = otlp\nendpoint = ${endpoint}\nprotocol = http/protobuf\n${extra}`);
  return file;
}

/**
 * Runs `body(tmp)` with a fresh temp dir; on any failure prints it and exits
 * 1, always SIGKILLs what was started and closes what `body` registered with
 * `tmp.onExit(fn)`. Exit 0 on success.
 */
export async function main(name, body) {
  const tmp = tempDir(name);
  const cwd = process.cwd();
  process.chdir(tmp.dir); // children start here: no stray ./tracebox.ini, no file destination's output elsewhere
  const closers = [];
  tmp.onExit = (fn) => closers.push(fn);
  let ok = false;
  const started = Date.now();
  try {
    await body(tmp);
    ok = true;
  } catch (e) {
    console.error(`${name}: FAILED: ${e && e.stack ? e.stack : e}`);
  } finally {
    killAll();
    for (const fn of closers.reverse()) {
      try {
        await fn();
      } catch (e) {
        console.error(`${name}: cleanup: ${e.message}`);
      }
    }
    process.chdir(cwd);
    tmp.cleanup(ok);
  }
  console.log(`${name}: ${ok ? 'ok' : 'FAILED'} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  process.exit(ok ? 0 : 1);
}
