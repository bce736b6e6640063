/** Name of the `config.configurable` key that carries a run's fencing token to the checkpointer. */
export const FENCE_KEY = "__graphkeep_fence";

/** The subset of a LangChain `RunnableConfig` this package reads and writes. */
export interface LeaseRunConfig {
  configurable?: Record<string, unknown> | undefined;
  signal?: AbortSignal | undefined;
  [key: string]: unknown;
}

/** A lease held by this process on one thread. */
export interface LeaseHandle {
  readonly threadId: string;
  /** Owner id of this holder. */
  readonly owner: string;
  /** Fencing token: strictly greater than every token handed out before for this thread. */
  readonly token: number;
  /** When the lease expires unless extended (the store's clock, as seen from here). */
  expiresAt: Date;
  /** Failover takeovers of this run so far (0 for a run started by an app). */
  readonly attempts: number;
}

/** The current state of a thread's lease record. */
export interface LeaseInfo {
  owner: string;
  token: number;
  /** `running` while a run holds (or held, until it expired) the lease; `done` after release; `failed` after the watchdog gave up. */
  state: "running" | "done" | "failed";
  /** True when the lease has not expired. */
  live: boolean;
  expiresAt: Date;
  attempts: number;
}

/** How a holder gives its lease back. */
export type ReleaseOutcome =
  /** the run ended (completed, threw, was aborted or paused on `interrupt()`): nothing to resume */
  | { state: "done" }
  /** the watchdog gave up on the run */
  | { state: "failed" }
  /** keep the run "running" but let the lease expire in `retryInMs`: the watchdog retries it then */
  | { state: "retry"; retryInMs: number };

/** Options every lease store takes. */
export interface LeaseOptions {
  /**
   * Lease lifetime in milliseconds: a run that has not heartbeated for this long loses its thread.
   * @default 30000
   */
  ttlMs?: number | undefined;
  /**
   * How often an active run extends its lease, in milliseconds. Must be less than `ttlMs`.
   * @default ttlMs / 3
   */
  heartbeatMs?: number | undefined;
  /**
   * Owner id written into the lease (shown in `ThreadBusyError.holder`).
   * @default `${hostname}:${pid}:${random}`
   */
  owner?: string | undefined;
  /**
   * Milliseconds after which a lease store operation fails with `StoreUnavailableError`. A heartbeat that hangs
   * this long is retried at once, and that retry must land before the lease expires, so it must satisfy
   * `heartbeatMs + 2 × operationTimeoutMs <= ttlMs` (checked at construction).
   * @default min(5000, (ttlMs - heartbeatMs) / 2) — 5000 with the default TTL
   */
  operationTimeoutMs?: number | undefined;
  /**
   * Milliseconds the first connection (and, on PostgreSQL, creating the lease table) may take before the
   * operation waiting for it fails with `StoreUnavailableError`. Not part of the heartbeat math: it happens once.
   * @default max(5000, operationTimeoutMs)
   */
  connectTimeoutMs?: number | undefined;
}

/**
 * Decides whether a checkpointer write may happen: `KeyvSaver`'s `fencing` option and {@link withFencing} call it
 * before every write of a thread. Resolves when allowed; rejects (`LeaseLostError`) when not.
 */
export interface FencingGuard {
  assertCurrent(
    threadId: string,
    config: LeaseRunConfig | undefined,
    operation: "put" | "putWrites" | "deleteThread",
  ): Promise<void>;
}

/**
 * A lease store: one holder per thread id, with fencing tokens and a record of runs for failover.
 * Made by {@link redisLease}, {@link postgresLease} or {@link memoryLease}.
 */
export interface LeaseStore extends FencingGuard {
  /** `redis`, `postgres` or `memory`. */
  readonly kind: string;
  readonly ttlMs: number;
  readonly heartbeatMs: number;
  /** This process's owner id. */
  readonly owner: string;
  /**
   * Takes the lease of `threadId` when nobody holds it (or the holder's lease expired).
   * @throws {ThreadBusyError} when a live lease is held.
   * @throws {StoreUnavailableError} when the store fails or does not answer in `operationTimeoutMs`.
   */
  acquire(threadId: string): Promise<LeaseHandle>;
  /**
   * Takes over a stalled run: succeeds only when the run record is still `running` and its lease expired.
   * Counts an attempt. Resolves `undefined` when the thread is not stalled (any more).
   */
  takeOver(threadId: string): Promise<LeaseHandle | undefined>;
  /**
   * Extends a held lease by `ttlMs` from now.
   * @throws {LeaseLostError} when the lease expired or another holder has it.
   */
  extend(handle: LeaseHandle): Promise<LeaseHandle>;
  /** Gives the lease back. Resolves false when it was no longer ours (nothing changed). */
  release(handle: LeaseHandle, outcome?: ReleaseOutcome): Promise<boolean>;
  /** The thread's lease record, or `undefined` when it was never leased. */
  info(threadId: string): Promise<LeaseInfo | undefined>;
  /** Threads whose run is `running` but whose lease expired, oldest expiry first. */
  stalled(limit?: number): Promise<string[]>;
  /** Closes the connection this store opened (not one you passed in). */
  close(): Promise<void>;
}
