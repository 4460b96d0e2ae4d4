// Types for @tracebox/openai-agents. Structural: no import of @openai/agents-core,
// so any SDK version whose traces/spans have toJSON() fits.

export interface TraceLike {
  toJSON(): object | null;
}

export interface Logger {
  error(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  debug(...args: unknown[]): void;
}

export interface OutboxProcessorOptions {
  /** 'full' (default): each hook resolves after an fsync'd commit (shared by concurrent writes). */
  durability?: 'full' | 'normal' | 'async';
  busyTimeoutMs?: number;
  /** bytes; 0 = unbounded */
  maxSize?: number;
  fullPolicy?: 'refuse' | 'purge_delivered';
  queueCapacity?: number;
  queuePolicy?: 'block' | 'drop';
  flushIntervalMs?: number;
  /** native writes in flight at once (default 16); more wait in line */
  maxConcurrency?: number;
  logger?: Partial<Logger>;
}

export interface OutboxStats {
  written: number;
  failed: number;
  skipped: number;
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
  onSpanStart(span: TraceLike): Promise<void>;
  onSpanEnd(span: TraceLike): Promise<void>;
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
