// Types for @tracebox/openai-agents. Structural: no import of @openai/agents-core,
// so any SDK version whose traces/spans have toJSON() fits.

export interface TraceLike {
  toJSON(): object | null;
}

/**
 * A span: its toJSON() is stored. For response spans (span_data.type ===
 * 'response') the stored record also gets the documented extension fields
 * span_data.response (spanData._response, the Responses API object) and
 * span_data.input (spanData._input, a string or a list of input items),
 * each only when present; toJSON() drops both.
 */
export interface SpanLike extends TraceLike {
  readonly spanData?: { type?: string; _response?: unknown; _input?: unknown; [key: string]: unknown };
}

export interface Logger {
  error(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  debug(...args: unknown[]): void;
}

export interface OutboxProcessorOptions {
  /**
   * 'full' (default): each hook resolves after an fsync'd commit (records
   * handed over together share one). 'normal': the same without the fsync
   * (survives a process crash, not a power cut). 'async': the record is
   * validated and queued on the calling thread, committed by a writer thread
   * within flushIntervalMs. 'trace': as 'async', and onTraceEnd resolves once
   * the trace and every record handed over before it are committed (as
   * 'normal'): one commit per trace, the event loop never waits for it.
   */
  durability?: 'full' | 'normal' | 'async' | 'trace';
  busyTimeoutMs?: number;
  /** bytes; 0 = unbounded */
  maxSize?: number;
  fullPolicy?: 'refuse' | 'purge_delivered';
  /** async / trace: records queued at most (default 8192) */
  queueCapacity?: number;
  /**
   * async / trace, when the queue is full: 'block' (default) makes the call
   * — on the event loop thread — wait until the writer has made room; 'drop'
   * refuses the record at once (logged, counted in stats.failed and in the
   * outbox's dropped_queue counter).
   */
  queuePolicy?: 'block' | 'drop';
  /** async / trace: how often the writer thread commits while records come (default 5) */
  flushIntervalMs?: number;
  /** replace span inputs and outputs with "[redacted]" before storing (the INI's redact = io) */
  redact?: boolean;
  /** native calls in flight at once (default 16); more wait in line */
  maxConcurrency?: number;
  logger?: Partial<Logger>;
}

export interface OutboxStats {
  /** records stored */
  written: number;
  /** records not stored (logged) */
  failed: number;
  /** no-op traces/spans (toJSON() gave null) */
  skipped: number;
  /** response spans stored without (some of) span_data.response / span_data.input
   * because the value could not be serialized (BigInt, a cycle, a throwing getter);
   * logged once per processor */
  extensionsDropped: number;
}

/** Implements the JS SDK's TracingProcessor interface. */
export declare class OutboxProcessor {
  constructor(path: string, options?: OutboxProcessorOptions);
  readonly path: string;
  readonly stats: OutboxStats;
  readonly closed: boolean;
  start(): void;
  onTraceStart(trace: TraceLike): Promise<void>;
  onTraceEnd(trace: TraceLike): Promise<void>;
  onSpanStart(span: SpanLike): Promise<void>;
  onSpanEnd(span: SpanLike): Promise<void>;
  forceFlush(): Promise<void>;
  /** timeout in milliseconds */
  shutdown(timeout?: number): Promise<void>;
  /** Store one export object (or its JSON text); resolves false (logged) when refused. */
  put(record: object | string): Promise<boolean>;
}

export interface ShipperOptions {
  /** INI file; default $TRACEBOX_CONFIG, else ./tracebox.ini, else the environment */
  config?: string;
  /** INI text instead of a file */
  configText?: string;
  destination?: string;
  verbose?: 0 | 1 | 2;
  /** default true */
  start?: boolean;
}

export declare class Shipper {
  constructor(dbPath: string, options?: ShipperOptions);
  readonly dbPath: string;
  readonly running: boolean;
  start(): void;
  wake(): void;
  stop(timeoutMs?: number): Promise<boolean>;
}

export interface ShipReport {
  delivered: number;
  dead: number;
  pending: number;
  batches: number;
  failures: number;
  backing_off: number;
}

export declare function shipOnce(
  dbPath: string,
  options?: { config?: string; configText?: string; destination?: string; maxTimeMs?: number },
): Promise<ShipReport>;

export declare class TraceboxError extends Error {
  status?: number;
}

export declare function loadLibrary(): unknown;
export declare function libraryVersion(): string;
