'use strict';
/*
 * @tracebox/openai-agents — a TracingProcessor for the OpenAI Agents SDK (JS)
 * that writes every trace (at start) and span (at end) into a tracebox outbox,
 * a local SQLite file, through libtracebox loaded with koffi (no compiler).
 *
 *   import { addTraceProcessor } from '@openai/agents';
 *   import { OutboxProcessor } from '@tracebox/openai-agents';
 *   addTraceProcessor(new OutboxProcessor('traces.db'));
 *
 * Library lookup: $TRACEBOX_LIBRARY (a path to libtracebox.so), else the
 * dynamic loader's search (libtracebox.so.0, libtracebox.so), else an error
 * that says to set TRACEBOX_LIBRARY=/path/to/libtracebox.so.
 *
 * The hooks never reject (the SDK awaits processors with no try/catch): a
 * record that cannot be stored is logged and counted in `stats`.
 *
 * Records are the SDK's own export (toJSON()), with one addition: for
 * response spans toJSON() drops the Responses API object and its input
 * (spanData._response, spanData._input), which other platforms need; they
 * are stored as the documented extension fields span_data.response and
 * span_data.input (tracebox DESIGN.md "The record format"; the `openai`
 * destination strips them again).
 */

const koffi = require('koffi');

const STATUS = [
  'TB_OK', 'TB_ERROR', 'TB_NOMEM', 'TB_INVALID', 'TB_BAD_RECORD', 'TB_IO', 'TB_FULL',
  'TB_BUSY', 'TB_CORRUPT', 'TB_NOT_OUTBOX', 'TB_TOO_NEW', 'TB_MISUSE', 'TB_DISABLED',
  'TB_CONFIG', 'TB_NOT_FOUND', 'TB_TIMEOUT', 'TB_CLOSED', 'TB_HTTP', 'TB_READONLY',
];
const TB_OK = 0;
const TB_INVALID = 3;
const TB_BAD_RECORD = 4;
const TB_TIMEOUT = 15;
const statusName = (st) => STATUS[st] || `TB_${st}`;

// `trace` is the binding's own: C's `async` plus a commit point at each
// trace's end (OutboxProcessor#traceCommit).
const DURABILITY = { full: 0, normal: 1, async: 2, trace: 3 };
const C_DURABILITY = [0, 1, 2, 2];
// tb_outbox_put_json's len for a NUL-terminated text: (size_t)-1
const SIZE_MAX = 0xffffffffffffffffn;
const QUEUE_POLICY = { block: 0, drop: 1 };
const FULL_POLICY = { refuse: 0, purge_delivered: 1 };

const HINT = 'set TRACEBOX_LIBRARY=/path/to/libtracebox.so';

class TraceboxError extends Error {
  constructor(message, status) {
    super(message);
    this.name = 'TraceboxError';
    this.status = status;
  }
}

let lib = null;
let libPath = null;

function declare(l) {
  // Type names are registered once per process; koffi throws on duplicates.
  const T = (name, make) => {
    try {
      return koffi.type(name);
    } catch {
      return make();
    }
  };
  T('tb_outbox', () => koffi.opaque('tb_outbox'));
  T('tb_config', () => koffi.opaque('tb_config'));
  T('tb_shipper', () => koffi.opaque('tb_shipper'));
  T('tb_outbox_options', () => koffi.struct('tb_outbox_options', {
    version: 'uint', durability: 'int', busy_timeout_ms: 'int', max_size: 'int64_t',
    full_policy: 'int', queue_capacity: 'size_t', queue_policy: 'int',
    flush_interval_ms: 'int', readonly: 'int', redact: 'int',
  }));
  T('tb_put_result', () => koffi.struct('tb_put_result', {
    status: 'int', id: koffi.array('char', 256), error: koffi.array('char', 512),
  }));
  T('tb_ship_options', () => koffi.struct('tb_ship_options', {
    version: 'uint', destination: 'const char *', max_time_ms: 'int64_t', verbose: 'int',
  }));
  T('tb_ship_report', () => koffi.struct('tb_ship_report', {
    delivered: 'int64_t', dead: 'int64_t', pending: 'int64_t', batches: 'int64_t',
    failures: 'int64_t', backing_off: 'int',
  }));
  const f = (proto) => l.func(proto);
  return {
    // tb_put_result: where tb_outbox_put_json_many writes each outcome
    putResult: {
      size: koffi.sizeof('tb_put_result'),
      status: koffi.offsetof('tb_put_result', 'status'),
      error: koffi.offsetof('tb_put_result', 'error'),
      errorSize: 512,
    },
    version: f('const char *tb_version(void)'),
    statusStr: f('const char *tb_status_str(int st)'),
    lastError: f('const char *tb_last_error(void)'),
    open: f('int tb_outbox_open(_Out_ tb_outbox **out, const char *path, const tb_outbox_options *opts)'),
    close: f('void tb_outbox_close(tb_outbox *ob)'),
    put: f('int tb_outbox_put_json(tb_outbox *ob, const char *json, size_t len, char *out_id)'),
    putMany: f('int tb_outbox_put_json_many(tb_outbox *ob, const char **json, const size_t *len, size_t n, void *res)'),
    flush: f('int tb_outbox_flush(tb_outbox *ob, int64_t timeout_ms)'),
    configLoad: f('int tb_config_load(_Out_ tb_config **out, const char *path)'),
    configParse: f('int tb_config_parse(_Out_ tb_config **out, const char *text, const char *name)'),
    configFree: f('void tb_config_free(tb_config *cfg)'),
    shipperStart: f('int tb_shipper_start(_Out_ tb_shipper **out, const char *db, const tb_config *cfg, const tb_ship_options *opts)'),
    shipperStop: f('int tb_shipper_stop(tb_shipper *s, int64_t timeout_ms)'),
    shipperWake: f('void tb_shipper_wake(tb_shipper *s)'),
    shipOnce: f('int tb_ship_once(const char *db, const tb_config *cfg, const tb_ship_options *opts, _Out_ tb_ship_report *report)'),
  };
}

/** Load libtracebox once and return its bound functions. Throws TraceboxError. */
function loadLibrary() {
  if (lib) return lib;
  const env = process.env.TRACEBOX_LIBRARY;
  const names = env ? [env]
    : process.platform === 'darwin' ? ['libtracebox.0.dylib', 'libtracebox.dylib']
      : ['libtracebox.so.0', 'libtracebox.so'];
  const errors = [];
  for (const name of names) {
    let l;
    try {
      l = koffi.load(name);
    } catch (e) {
      errors.push(`${name}: ${e.message}`);
      continue;
    }
    try {
      lib = declare(l);
      libPath = name;
      return lib;
    } catch (e) {
      errors.push(`${name}: not libtracebox (${e.message})`);
    }
  }
  if (env) {
    throw new TraceboxError(
      `tracebox: cannot load TRACEBOX_LIBRARY=${env} (${errors.join('; ')}); ` +
      `${HINT} to a built libtracebox`);
  }
  throw new TraceboxError(
    `tracebox: libtracebox not found; ${HINT} (after \`cmake --build\`, it is ` +
    'build/release/libtracebox.so in the tracebox tree), or install libtracebox where ' +
    'the dynamic loader finds it');
}

function libraryVersion() {
  return loadLibrary().version();
}

function lastError(l, st) {
  return l.lastError() || l.statusStr(st);
}

/** A NUL-terminated string at buf[off], at most max bytes. */
function cString(buf, off, max) {
  const end = buf.indexOf(0, off);
  return buf.toString('utf8', off, end < 0 || end > off + max ? off + max : end);
}

function callAsync(fn, ...args) {
  return new Promise((resolve, reject) => {
    try {
      fn.async(...args, (err, res) => (err ? reject(err) : resolve(res)));
    } catch (e) {
      reject(e);
    }
  });
}

function pick(table, value, what) {
  if (value === undefined || value === null) return undefined;
  if (Number.isInteger(value) && Object.values(table).includes(value)) return value;
  const v = table[String(value).toLowerCase().replace('-', '_')];
  if (v === undefined) {
    throw new TypeError(`tracebox: ${what} must be one of ${Object.keys(table).join(', ')}, not ${value}`);
  }
  return v;
}

const DONE = Promise.resolve();
// full / normal: records at most per tb_outbox_put_json_many() call
const MAX_BATCH = 512;

// spanData field → extension field in span_data (response spans only)
const RESPONSE_EXTENSIONS = [['_response', 'response'], ['_input', 'input']];

const hasOwn = (o, k) => Object.prototype.hasOwnProperty.call(o, k);

/** A response span's export as the SDK's Span.toJSON() builds it (same keys,
 * same order, span_data without its `_` fields), for when toJSON() threw
 * because reading one of those fields threw. undefined when that fails too
 * or the span is not a response span. */
function responseExport(span) {
  try {
    const data = span.spanData;
    if (!data || data.type !== 'response') return undefined;
    const sd = {};
    for (const k of Object.keys(data)) {
      if (!k.startsWith('_')) sd[k] = data[k];
    }
    return {
      object: span.type ?? 'trace.span',
      id: span.spanId,
      trace_id: span.traceId,
      parent_id: span.parentId ?? null,
      started_at: span.startedAt ?? null,
      ended_at: span.endedAt ?? null,
      span_data: sd,
      error: span.error ?? null,
    };
  } catch {
    return undefined;
  }
}

const defaultLogger = {
  error: (...a) => console.error('[tracebox]', ...a),
  warn: (...a) => console.warn('[tracebox]', ...a),
  debug: () => {},
};

/**
 * The JS SDK's TracingProcessor, writing into a tracebox outbox.
 *
 * options: durability ('full' default | 'normal' | 'async' | 'trace'),
 * busyTimeoutMs, maxSize (bytes), fullPolicy ('refuse' | 'purge_delivered'),
 * queueCapacity, queuePolicy ('block' | 'drop'), flushIntervalMs, redact,
 * maxConcurrency (native calls in flight at once, default 16; more wait in
 * line), logger ({error, warn, debug}).
 *
 * full / normal: each write runs on a worker thread (the event loop never
 * waits for fsync); the hook's promise resolves once the record is committed.
 * async / trace: each record is handed to libtracebox on the calling thread,
 * where it is only validated and queued in memory (a few µs; its writer
 * thread commits within flushIntervalMs): no worker thread, no promise left
 * to settle. A full queue (queueCapacity records) then makes that call wait
 * until the writer has made room with queuePolicy 'block' (the default), and
 * drops the record (logged, counted) with 'drop'.
 * trace: onTraceEnd resolves once the trace and every record handed over
 * before it are committed: one commit point per trace, on a worker thread.
 * The constructor throws (setup time); the hooks never reject.
 */
class OutboxProcessor {
  #lib;
  #handle;
  #closed = false;
  #closing = null;
  #inflight = new Set();
  #active = 0;
  #waiters = [];
  #max;
  #log;
  #stats = { written: 0, failed: 0, skipped: 0, extensionsDropped: 0 };
  #warnedExtensions = false;
  #direct; // async, trace: puts are C calls on this thread
  #traceEnd; // trace: onTraceEnd waits for a commit point
  #last; // the text of the record last stored on this thread (#runCommitPoint)
  #commitNow = null; // the commit point running on a worker thread
  #commitNext = null; // the one that starts when it is done
  #commitFailing = false;
  #gather = null; // full / normal: the batch records join (#storeBatched)
  #sealed = []; // full batches waiting their turn
  #writing = 0; // batches being written

  constructor(path, options = {}) {
    if (typeof path !== 'string' || path === '') {
      throw new TypeError('tracebox: OutboxProcessor(path): path must be a non-empty string');
    }
    this.#lib = loadLibrary();
    this.path = path;
    this.#log = { ...defaultLogger, ...(options.logger || {}) };
    this.#max = Math.max(1, options.maxConcurrency || 16);
    const durability = pick(DURABILITY, options.durability, 'durability') ?? DURABILITY.full;
    this.#direct = durability === DURABILITY.async || durability === DURABILITY.trace;
    this.#traceEnd = durability === DURABILITY.trace;
    const opts = {
      version: 1,
      durability: C_DURABILITY[durability],
      busy_timeout_ms: options.busyTimeoutMs ?? 10000,
      max_size: options.maxSize ?? 0,
      full_policy: pick(FULL_POLICY, options.fullPolicy, 'fullPolicy') ?? 0,
      queue_capacity: options.queueCapacity ?? 0,
      queue_policy: pick(QUEUE_POLICY, options.queuePolicy, 'queuePolicy') ?? 0,
      flush_interval_ms: options.flushIntervalMs ?? 5,
      readonly: 0,
      redact: options.redact ? 1 : 0,
    };
    const out = [null];
    const st = this.#lib.open(out, path, opts);
    if (st !== TB_OK || !out[0]) {
      throw new TraceboxError(
        `tracebox: cannot open outbox ${path}: ${lastError(this.#lib, st)} (${statusName(st)})`, st);
    }
    this.#handle = out[0];
  }

  // ---- TracingProcessor ----
  start() {}

  // Not `async`: with async / trace durability the record is stored by the
  // time the hook returns, and an already settled promise saves the SDK a
  // promise and a turn per record. #putFrom never throws.
  onTraceStart(trace) {
    return this.#putFrom(trace, 'trace') ?? DONE;
  }

  async onTraceEnd(_trace) {
    if (!this.#traceEnd) return;
    try {
      await this.#traceCommit();
    } catch (e) {
      this.#log.error('trace end failed:', e);
    }
  }

  onSpanStart(_span) {
    return DONE;
  }

  onSpanEnd(span) {
    return this.#putFrom(span, 'span') ?? DONE;
  }

  /** Resolves once every record handed over so far is committed. */
  async forceFlush() {
    try {
      this.#startBatch(true);
      await Promise.allSettled([...this.#inflight]);
      if (this.#closed) return;
      if (this.#direct && this.#last !== undefined) {
        const r = await this.#commitPoint();
        if (r.st !== TB_OK) this.#log.warn(`flush of ${this.path} failed: ${r.msg} (${statusName(r.st)})`);
        return;
      }
      await this.#withHandle(async (h) => {
        if (!h) return;
        const st = await callAsync(this.#lib.flush, h, -1);
        if (st !== TB_OK) this.#log.warn(`flush of ${this.path} failed (${statusName(st)})`);
      });
    } catch (e) {
      this.#log.error('forceFlush failed:', e);
    }
  }

  /** Wait for writes in flight (at most `timeout` ms when given), flush and
   * close. Idempotent: later calls return the same promise. */
  shutdown(timeout) {
    if (!this.#closing) this.#closing = this.#shutdown(timeout);
    return this.#closing;
  }

  // ---- extras ----
  /** Store one export object (or its JSON text). Resolves true when stored
   * (durable per `durability`; queued for async and trace); false (logged)
   * otherwise. Never rejects. */
  async put(record) {
    try {
      const text = typeof record === 'string' ? record : JSON.stringify(record);
      if (typeof text !== 'string') throw new TypeError('tracebox: put(record): not an object or JSON text');
      const id = typeof record === 'object' && record ? (record.id ?? '(no id)') : undefined;
      return await this.#store(text, id, typeof record === 'string');
    } catch (e) {
      this.#stats.failed++;
      this.#log.error('could not store a record:', e);
      return false;
    }
  }

  get stats() {
    return { ...this.#stats };
  }

  get closed() {
    return this.#closed;
  }

  // ---- internals ----
  async #shutdown(timeout) {
    try {
      this.#closed = true;
      this.#startBatch(true); // records handed over before: written
      const pending = Promise.allSettled([...this.#inflight]);
      let timedOut = false;
      if (timeout !== undefined && timeout !== null && timeout >= 0) {
        let timer;
        const t = new Promise((res) => { timer = setTimeout(() => { timedOut = true; res(); }, timeout); });
        await Promise.race([pending, t]);
        clearTimeout(timer);
      } else {
        await pending;
      }
      if (timedOut && (this.#active > 0 || this.#waiters.length > 0)) {
        this.#log.warn(`shutdown of ${this.path} timed out with writes in flight; leaving the file open`);
        return;
      }
      // Writes that were still waiting for a slot are refused (#closed).
      for (const w of this.#waiters.splice(0)) w(false);
      const h = this.#handle;
      this.#handle = null;
      if (!h) return;
      const ms = timeout === undefined || timeout === null ? -1 : Math.max(0, Math.floor(timeout));
      const st = await callAsync(this.#lib.flush, h, ms);
      if (st !== TB_OK) this.#log.warn(`final flush of ${this.path}: ${statusName(st)}`);
      this.#lib.close(h);
    } catch (e) {
      this.#log.error('shutdown failed:', e);
    }
  }

  /** The record of a trace or span stored: undefined when done here (async,
   * trace, or nothing to store), else a promise of undefined. Never throws or
   * rejects. */
  #putFrom(obj, what) {
    try {
      const r = this.#putFromUnguarded(obj, what);
      return r === undefined ? undefined : r.then(() => undefined);
    } catch (e) {
      this.#stats.failed++;
      this.#log.error('could not store a record:', e);
      return undefined;
    }
  }

  #putFromUnguarded(obj, what) {
    let record;
    let exportError;
    try {
      record = obj && typeof obj.toJSON === 'function' ? obj.toJSON() : null;
    } catch (e) {
      exportError = e;
      // The SDK's toJSON() reads every spanData field, even those it then
      // drops: a throwing getter on _input / _response breaks it. A response
      // span is still kept, exported here the way toJSON() does it.
      record = what === 'span' ? responseExport(obj) : undefined;
      if (!record) {
        this.#stats.failed++;
        this.#log.error(`${what}.toJSON() threw; record not stored:`, e);
        return undefined;
      }
    }
    if (record === null || record === undefined) { // NoopTrace / NoopSpan
      this.#stats.skipped++;
      return undefined;
    }
    let text;
    try {
      if (what === 'span' && record.span_data && record.span_data.type === 'response') {
        text = this.#withResponseExtensions(obj, record, exportError);
      }
      text ??= JSON.stringify(record);
    } catch (e) {
      this.#stats.failed++;
      this.#log.error('could not store a record:', e);
      return undefined;
    }
    const r = this.#store(text, record.id ?? '(no id)', false);
    return typeof r === 'boolean' ? undefined : r;
  }

  /**
   * A response span's JSON text: record (its toJSON()) with the extension
   * fields span_data.response / span_data.input added at the end of
   * span_data, everything else exactly as JSON.stringify(record) writes it.
   * A field is added only when the span has a value for it (not undefined
   * or null) and toJSON() did not already give one. A value that cannot be
   * serialized (BigInt, a cycle, a throwing getter or toJSON) is left out;
   * the span itself is always kept. undefined: nothing to add (store record).
   */
  #withResponseExtensions(span, record, exportError) {
    const sd = record.span_data;
    const add = [];
    const problems = [];
    let data;
    try {
      data = span.spanData;
    } catch (e) {
      problems.push([null, e]);
    }
    if (data !== null && typeof data === 'object') {
      for (const [from, to] of RESPONSE_EXTENSIONS) {
        if (hasOwn(sd, to)) continue; // the SDK's own field wins
        let value;
        try {
          value = data[from];
        } catch (e) {
          problems.push([to, e]);
          continue;
        }
        if (value !== undefined && value !== null) add.push([to, value]);
      }
    }
    if (exportError && problems.length === 0) problems.push([null, exportError]);
    const build = (fields) => {
      const ext = { ...sd };
      for (const [k, v] of fields) ext[k] = v;
      return JSON.stringify({ ...record, span_data: ext });
    };
    let text;
    if (add.length > 0) {
      try {
        text = build(add);
      } catch (e) {
        // find the value(s) at fault; keep the others
        const ok = [];
        for (const [k, v] of add) {
          try {
            JSON.stringify(v);
            ok.push([k, v]);
          } catch (e2) {
            problems.push([k, e2]);
          }
        }
        if (problems.length === 0) {
          try {
            JSON.stringify(record);
          } catch {
            return undefined; // the export itself does not serialize: #put reports it
          }
          problems.push(['span_data', e]);
        }
        try {
          text = ok.length > 0 && ok.length < add.length ? build(ok) : undefined;
        } catch {
          text = undefined; // a value that serializes only sometimes: drop them all
        }
      }
    }
    if (problems.length > 0) {
      this.#stats.extensionsDropped++;
      const what = problems.map(([k, e]) =>
        `${k ? `span_data.${k}` : 'a spanData field'} (${e && e.message ? e.message : e})`).join(', ');
      const msg = `response span ${record.id ?? '(no id)'}: ${what} cannot be serialized; ` +
        'the span is stored without it (counted in stats.extensionsDropped)';
      if (!this.#warnedExtensions) {
        this.#warnedExtensions = true;
        this.#log.warn(`${msg}; further cases are only counted`);
      } else {
        this.#log.debug(msg);
      }
    }
    return text;
  }

  async #acquire() {
    if (this.#active < this.#max) {
      this.#active++;
      return true;
    }
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  #release() {
    const next = this.#waiters.shift();
    if (next) next(true); // hand the slot over
    else this.#active--;
  }

  async #withHandle(fn) {
    const p = (async () => {
      if (!(await this.#acquire())) return undefined;
      try {
        return await fn(this.#handle);
      } finally {
        this.#release();
      }
    })();
    this.#inflight.add(p);
    try {
      return await p;
    } finally {
      this.#inflight.delete(p);
    }
  }

  /**
   * Store one record's JSON text. async / trace: a C call on this thread,
   * returning true / false; full / normal: on a worker thread, with the other
   * records handed over meanwhile (#storeBatched), returning a promise of it.
   * Counts and logs the outcome; never throws or rejects.
   * A JS string goes to C as it is: koffi writes its UTF-8 once (lone
   * surrogates as U+FFFD, as Buffer.from does), NUL-terminated, and C takes
   * its length; JSON.stringify never writes a raw U+0000 (it escapes it), so
   * only caller-given text (`user`) is checked for one and then goes as a
   * Buffer, whole.
   */
  #store(text, id, user) {
    if (this.#closed) {
      this.#stats.failed++;
      this.#log.warn(`record ${id ?? '(json text)'} arrived after shutdown of ${this.path}; not stored`);
      return this.#direct ? false : Promise.resolve(false);
    }
    let arg = text;
    let len = SIZE_MAX;
    if (user && text.includes('\0')) {
      arg = Buffer.from(text, 'utf8');
      len = arg.length;
    }
    if (!this.#direct) return typeof arg === 'string' ? this.#storeBatched(arg, id) : this.#storeOnWorker(arg, len, id);
    let st;
    let msg;
    try {
      st = this.#lib.put(this.#handle, arg, len, null);
      if (st !== TB_OK) msg = lastError(this.#lib, st); // kept per thread: this one
    } catch (e) {
      this.#stats.failed++;
      this.#log.error('could not store a record:', e);
      return false;
    }
    return this.#stored(st, msg, id, arg);
  }

  /**
   * full / normal: one batch of records is written at a time, in one
   * tb_outbox_put_json_many() on a worker thread; records handed over
   * meanwhile wait here and go together in the next: one trip to the
   * threadpool and one commit for all of them, where a call per record paid
   * both per record (and group commit could share a commit between at most
   * as many records as the threadpool has threads). Each promise resolves
   * once its record is committed (true) or refused (false, logged with C's
   * message).
   */
  #storeBatched(text, id) {
    let g = this.#gather;
    if (g === null) {
      g = { texts: [], lens: [], ids: [], settle: [] };
      this.#gather = g;
      // started after this turn at the earliest: records handed over until
      // then (and while the batch before it is written) join this one
      queueMicrotask(() => this.#startBatch(false));
    }
    g.texts.push(text);
    g.lens.push(Buffer.byteLength(text, 'utf8'));
    g.ids.push(id);
    if (g.texts.length >= MAX_BATCH) this.#sealed.push(this.#takeGather()); // full: later records start another
    return new Promise((resolve) => g.settle.push(resolve));
  }

  #takeGather() {
    const g = this.#gather;
    this.#gather = null;
    return g;
  }

  /** Start the next batch when none is being written (or, `force`, for
   * forceFlush and shutdown, at once). */
  #startBatch(force) {
    while (force || !this.#writing) {
      const g = this.#sealed.length > 0 ? this.#sealed.shift() : this.#gather !== null ? this.#takeGather() : null;
      if (g === null) return;
      this.#writing++;
      this.#withHandle((h) => this.#writeBatch(h, g))
        .then((ran) => {
          if (ran === undefined) this.#refuseBatch(g, null); // shutdown refused the wait for a slot
        }, (e) => this.#refuseBatch(g, e))
        .catch(() => {}) // only a logger that throws gets here: nothing left to do
        .then(() => {
          this.#writing--;
          this.#startBatch(false);
        });
    }
  }

  async #writeBatch(h, g) {
    if (!h) {
      this.#refuseBatch(g, null);
      return true;
    }
    const n = g.texts.length;
    const pr = this.#lib.putResult;
    const res = Buffer.alloc(n * pr.size);
    let st;
    try {
      st = await callAsync(this.#lib.putMany, h, g.texts, g.lens, n, res);
    } catch (e) {
      this.#refuseBatch(g, e);
      return true;
    }
    for (let i = 0; i < n; i++) {
      const rst = st === TB_OK ? res.readInt32LE(i * pr.size + pr.status) : st;
      const msg = rst === TB_OK ? '' : st === TB_OK ? cString(res, i * pr.size + pr.error, pr.errorSize)
        : 'no record of the batch could be tried';
      g.settle[i](this.#stored(rst, msg, g.ids[i]));
    }
    return true;
  }

  /** Settle every record of a batch that did not reach C as not stored:
   * after shutdown (e null), or because the call itself threw. */
  #refuseBatch(g, e) {
    for (let i = 0; i < g.settle.length; i++) {
      this.#stats.failed++;
      if (e) this.#log.error('could not store a record:', e);
      else this.#log.warn(`record ${g.ids[i] ?? '(json text)'} arrived after shutdown of ${this.path}; not stored`);
      g.settle[i](false);
    }
    g.settle.length = 0;
  }

  async #storeOnWorker(arg, len, id) {
    try {
      const result = await this.#withHandle(async (h) => {
        if (!h) return { st: -1, msg: 'outbox closed' };
        const st = await callAsync(this.#lib.put, h, arg, len, null);
        if (st === TB_OK) return { st };
        // The message is kept per thread and the write ran on a worker:
        // try once more here to get it (idempotent; a transient failure may
        // even succeed now).
        const st2 = this.#lib.put(h, arg, len, null);
        return { st: st2, msg: st2 === TB_OK ? '' : lastError(this.#lib, st2) };
      });
      if (result === undefined) {
        this.#stats.failed++;
        this.#log.warn(`record ${id ?? '(json text)'} arrived after shutdown of ${this.path}; not stored`);
        return false;
      }
      return this.#stored(result.st, result.msg, id);
    } catch (e) {
      this.#stats.failed++;
      this.#log.error('could not store a record:', e);
      return false;
    }
  }

  #stored(st, msg, id, text) {
    if (st === TB_OK) {
      this.#stats.written++;
      if (typeof text === 'string') this.#last = text;
      return true;
    }
    this.#stats.failed++;
    this.#log.error(`record ${id ?? '(json text)'} not stored in ${this.path}: ${msg} (${statusName(st)})`);
    return false;
  }

  /** trace: wait for a commit point covering every record handed over so
   * far. Logs when it fails (a file locked past busyTimeoutMs, a full disk);
   * those records stay queued, and the writer keeps trying. */
  async #traceCommit() {
    if (this.#closed) {
      await this.#closing; // its final flush commits what was queued
      return;
    }
    if (this.#last === undefined) return; // nothing stored yet
    const r = await this.#commitPoint();
    if (r.st === TB_OK) {
      this.#commitFailing = false;
      return;
    }
    const msg = `a trace ended but its records are not committed yet in ${this.path}: ${r.msg} ` +
      `(${statusName(r.st)}); they stay queued`;
    if (!this.#commitFailing) this.#log.warn(msg);
    else this.#log.debug(msg);
    this.#commitFailing = true;
  }

  /**
   * A commit point: resolves ({st, msg}) once every record queued before it
   * was called is committed. One runs at a time on a worker thread; calls
   * made meanwhile share the next one (a commit point requested after their
   * records were queued). Never rejects.
   */
  #commitPoint() {
    if (this.#commitNow === null) {
      const p = this.#runCommitPoint();
      this.#commitNow = p;
      p.then(() => {
        if (this.#commitNow === p) this.#commitNow = null;
      });
      return p;
    }
    if (this.#commitNext === null) {
      this.#commitNext = this.#commitNow.then(() => {
        this.#commitNext = null;
        if (this.#closed) return this.#closing.then(() => ({ st: TB_OK }));
        return this.#commitPoint();
      });
    }
    return this.#commitNext;
  }

  /**
   * tb_outbox_flush() on a worker thread: it waits for the records queued
   * before it was called (not for an empty queue, so the puts this thread
   * makes meanwhile cannot keep it waiting), and the loop never waits for
   * the commit.
   */
  async #runCommitPoint() {
    try {
      const r = await this.#withHandle(async (h) => {
        if (!h) return { st: -1, msg: 'outbox closed' };
        const st = await callAsync(this.#lib.flush, h, -1);
        return { st, msg: st === TB_OK ? '' : statusName(st) };
      });
      return r ?? { st: -1, msg: 'outbox closed' };
    } catch (e) {
      return { st: -1, msg: String(e && e.message ? e.message : e) };
    }
  }
}

function loadConfig(l, { config, configText } = {}) {
  const out = [null];
  let st;
  if (configText !== undefined && configText !== null) {
    if (config) throw new TypeError('tracebox: give config (a file) or configText, not both');
    st = l.configParse(out, configText, '<configText>');
  } else {
    st = l.configLoad(out, config ?? null);
  }
  if (st !== TB_OK || !out[0]) {
    throw new TraceboxError(`tracebox: bad configuration: ${lastError(l, st)}`, st);
  }
  return out[0];
}

function shipOptions(destination, maxTimeMs, verbose) {
  return { version: 1, destination: destination ?? null, max_time_ms: maxTimeMs ?? 0, verbose: verbose ?? 0 };
}

/**
 * tracebox's shipper thread inside this process. options: config (INI path;
 * default $TRACEBOX_CONFIG, else ./tracebox.ini, else the environment),
 * configText (INI text instead of a file), destination, start (default true).
 */
class Shipper {
  #lib;
  #handle = null;
  #cfg = null;
  #opts;
  #options;

  constructor(dbPath, options = {}) {
    this.#lib = loadLibrary();
    this.dbPath = dbPath;
    this.#options = options;
    if (options.start !== false) this.start();
  }

  get running() {
    return this.#handle !== null;
  }

  start() {
    if (this.#handle) return;
    const cfg = loadConfig(this.#lib, this.#options);
    this.#opts = shipOptions(this.#options.destination, 0, this.#options.verbose);
    const out = [null];
    const st = this.#lib.shipperStart(out, this.dbPath, cfg, this.#opts);
    if (st !== TB_OK || !out[0]) {
      const msg = lastError(this.#lib, st);
      this.#lib.configFree(cfg);
      throw new TraceboxError(`tracebox: cannot start the shipper for ${this.dbPath}: ${msg}`, st);
    }
    this.#handle = out[0];
    this.#cfg = cfg;
  }

  wake() {
    if (this.#handle) this.#lib.shipperWake(this.#handle);
  }

  /** Stop the thread (at most timeoutMs, default 10 s). Resolves true when
   * it stopped in time. Never rejects. */
  async stop(timeoutMs = 10000) {
    const h = this.#handle;
    const cfg = this.#cfg;
    this.#handle = null;
    this.#cfg = null;
    if (!h) return true;
    try {
      const st = await callAsync(this.#lib.shipperStop, h, Math.max(0, Math.floor(timeoutMs)));
      if (st === TB_TIMEOUT) {
        // the thread may still read cfg: leave it allocated
        console.warn(`[tracebox] shipper for ${this.dbPath} did not stop within ${timeoutMs} ms`);
        return false;
      }
      this.#lib.configFree(cfg);
      return st === TB_OK;
    } catch (e) {
      console.error('[tracebox] shipper stop failed:', e);
      return false;
    }
  }
}

/** One drain, like `tracebox ship --once`. Resolves to the report
 * {delivered, dead, pending, batches, failures, backing_off}. */
async function shipOnce(dbPath, options = {}) {
  const l = loadLibrary();
  const cfg = loadConfig(l, options);
  try {
    const report = {};
    const st = await callAsync(l.shipOnce, dbPath, cfg,
      shipOptions(options.destination, options.maxTimeMs, 0), report);
    if (st !== TB_OK) throw new TraceboxError(`tracebox: ship failed: ${l.statusStr(st)}`, st);
    for (const k of Object.keys(report)) {
      if (typeof report[k] === 'bigint') report[k] = Number(report[k]);
    }
    return report;
  } finally {
    l.configFree(cfg);
  }
}

module.exports = {
  OutboxProcessor,
  Shipper,
  shipOnce,
  TraceboxError,
  loadLibrary,
  libraryVersion,
  get libraryPath() {
    return libPath;
  },
};
