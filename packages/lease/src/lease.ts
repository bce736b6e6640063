import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import {
  InvalidArgumentError,
  InvalidConfigError,
  isGraphkeepError,
  StoreUnavailableError,
  withTimeout,
} from "@graphkeep/core";
import { LeaseLostError, ThreadBusyError } from "./errors.js";
import {
  FENCE_KEY,
  type LeaseHandle,
  type LeaseInfo,
  type LeaseOptions,
  type LeaseRunConfig,
  type LeaseStore,
  type ReleaseOutcome,
} from "./types.js";

/** @internal what a backend answers to an acquisition. */
export type AcquireResult =
  | {
      ok: true;
      token: number;
      expiresAt: Date;
      attempts: number;
      /** the record's state before this acquisition (`undefined`: never leased) */
      previous?: LeaseInfo["state"] | undefined;
    }
  | { ok: false; holder: { owner: string; expiresAt: Date } | undefined };

/** @internal the primitive, atomic operations of one store. */
export interface LeaseBackend {
  readonly kind: string;
  /** `mode: "run"` takes a free or expired lease; `"takeover"` only a stalled `running` one, counting an attempt. */
  acquire(threadId: string, owner: string, ttlMs: number, mode: "run" | "takeover"): Promise<AcquireResult>;
  extend(threadId: string, owner: string, token: number, ttlMs: number): Promise<Date | undefined>;
  release(threadId: string, owner: string, token: number, outcome: ReleaseOutcome): Promise<boolean>;
  info(threadId: string): Promise<LeaseInfo | undefined>;
  stalled(limit: number): Promise<string[]>;
  /** Connects (and prepares the store) once; bounded by the connect timeout, not the operation timeout. */
  ready(): Promise<unknown>;
  close(): Promise<void>;
}

const DEFAULT_TTL = 30_000;

/** @internal a unique owner id for this process. */
export function defaultOwner(): string {
  return `${hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`;
}

/** @internal validates the common options (`ttlMs`, `heartbeatMs`, `owner`, `operationTimeoutMs`, `connectTimeoutMs`). */
export function resolveOptions(factory: string, options: LeaseOptions) {
  const ttlMs = options.ttlMs ?? DEFAULT_TTL;
  if (!(Number.isInteger(ttlMs) && ttlMs >= 10)) {
    throw new InvalidArgumentError(`${factory}: ttlMs must be an integer number of milliseconds >= 10, got ${ttlMs}`);
  }
  const heartbeatMs = options.heartbeatMs ?? Math.max(1, Math.floor(ttlMs / 3));
  if (!(Number.isFinite(heartbeatMs) && heartbeatMs > 0)) {
    throw new InvalidArgumentError(`${factory}: heartbeatMs must be a positive number of milliseconds`);
  }
  if (heartbeatMs >= ttlMs) {
    throw new InvalidArgumentError(
      `${factory}: heartbeatMs (${heartbeatMs}) must be less than ttlMs (${ttlMs}), or the lease expires between heartbeats; use e.g. heartbeatMs = ttlMs / 3`,
    );
  }
  // a heartbeat that hangs for the whole timeout is retried at once; that retry must land before the lease expires:
  // heartbeatMs (since the last extension) + operationTimeoutMs (the hung one) + operationTimeoutMs (the retry) <= ttlMs
  const fits = Math.floor((ttlMs - heartbeatMs) / 2);
  if (options.operationTimeoutMs === undefined && fits < 1) {
    throw new InvalidArgumentError(
      `${factory}: heartbeatMs (${heartbeatMs}) leaves no time for a store operation before ttlMs (${ttlMs}) runs out; use e.g. heartbeatMs = ttlMs / 3`,
    );
  }
  const operationTimeoutMs = options.operationTimeoutMs ?? Math.min(5000, fits);
  if (!(Number.isFinite(operationTimeoutMs) && operationTimeoutMs > 0)) {
    throw new InvalidArgumentError(`${factory}: operationTimeoutMs must be a positive number of milliseconds`);
  }
  if (heartbeatMs + 2 * operationTimeoutMs > ttlMs) {
    throw new InvalidArgumentError(
      `${factory}: operationTimeoutMs (${operationTimeoutMs}) is too long for ttlMs (${ttlMs}) and heartbeatMs (${heartbeatMs}): one hung heartbeat plus its retry would outlast the lease; it must be at most (ttlMs - heartbeatMs) / 2 = ${fits}`,
    );
  }
  const owner = options.owner ?? defaultOwner();
  if (typeof owner !== "string" || owner.length === 0 || owner.includes("|")) {
    throw new InvalidArgumentError(`${factory}: owner must be a non-empty string without "|"`);
  }
  // connecting (and creating the PostgreSQL table) happens once, before the first operation: it gets its own,
  // longer bound, so a short operation timeout never fails a cold start
  const connectTimeoutMs = options.connectTimeoutMs ?? Math.max(5000, operationTimeoutMs);
  if (!(Number.isFinite(connectTimeoutMs) && connectTimeoutMs > 0)) {
    throw new InvalidArgumentError(`${factory}: connectTimeoutMs must be a positive number of milliseconds`);
  }
  return { ttlMs, heartbeatMs, operationTimeoutMs, connectTimeoutMs, owner };
}

/** @internal checks a thread id argument. */
export function checkThreadId(method: string, threadId: unknown): string {
  if (typeof threadId === "number" && Number.isFinite(threadId)) return String(threadId);
  if (typeof threadId !== "string" || threadId.length === 0) {
    throw new InvalidArgumentError(`lease.${method}: threadId must be a non-empty string, got ${String(threadId)}`);
  }
  return threadId;
}

/** @internal the fencing token a config carries, if any. */
export function fenceOf(config: LeaseRunConfig | undefined): number | undefined {
  const v = config?.configurable?.[FENCE_KEY];
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

/** @internal a `LeaseStore` over a backend: validation, timeouts, error mapping, fencing. */
export class Lease implements LeaseStore {
  readonly kind: string;
  readonly ttlMs: number;
  readonly heartbeatMs: number;
  readonly owner: string;
  readonly #timeout: number;
  readonly #connectTimeout: number;
  readonly #backend: LeaseBackend;

  constructor(backend: LeaseBackend, opts: ReturnType<typeof resolveOptions>) {
    this.#backend = backend;
    this.kind = backend.kind;
    this.ttlMs = opts.ttlMs;
    this.heartbeatMs = opts.heartbeatMs;
    this.owner = opts.owner;
    this.#timeout = opts.operationTimeoutMs;
    this.#connectTimeout = opts.connectTimeoutMs;
  }

  async #op<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    try {
      await withTimeout(
        this.#connectTimeout,
        () => this.#backend.ready(),
        () =>
          new StoreUnavailableError(
            operation,
            `lease (${this.kind}): could not connect within ${this.#connectTimeout} ms; is the store reachable?`,
          ),
      );
      return await withTimeout(
        this.#timeout,
        fn,
        () =>
          new StoreUnavailableError(
            operation,
            `lease (${this.kind}): ${operation} did not answer within ${this.#timeout} ms; is the store reachable?`,
          ),
      );
    } catch (e) {
      if (isGraphkeepError(e)) throw e;
      throw new StoreUnavailableError(
        operation,
        `lease (${this.kind}): ${operation} failed: ${(e as Error)?.message ?? String(e)}`,
        { cause: e },
      );
    }
  }

  /**
   * Runs a backend acquire under the timeout; when the caller gets a timeout or failure but the store took the
   * lease anyway (a slow answer), the lease is handed back as soon as that answer lands, so no "ghost" run holds
   * the thread or is later resumed by a watchdog. The hand-back restores what the record meant before: a
   * stalled run it displaced (a takeover, or an acquire over an expired `running` record) is left stalled (its
   * lease expired, for the watchdog); otherwise the record reads `done`.
   */
  async #acquireOp(operation: string, t: string, mode: "run" | "takeover") {
    const call = this.#backend.acquire(t, this.owner, this.ttlMs, mode);
    try {
      return await this.#op(operation, () => call);
    } catch (e) {
      void call
        .then((late) => {
          if (!late.ok) return undefined;
          const stalled = mode === "takeover" || late.previous === "running";
          const outcome: ReleaseOutcome = stalled ? { state: "retry", retryInMs: 1 } : { state: "done" };
          return this.#backend.release(t, this.owner, late.token, outcome);
        })
        .catch(() => undefined);
      throw e;
    }
  }

  async acquire(threadId: string): Promise<LeaseHandle> {
    const t = checkThreadId("acquire", threadId);
    const r = await this.#acquireOp("acquire", t, "run");
    if (!r.ok) throw new ThreadBusyError(t, r.holder?.owner, r.holder?.expiresAt);
    return { threadId: t, owner: this.owner, token: r.token, expiresAt: r.expiresAt, attempts: r.attempts };
  }

  async takeOver(threadId: string): Promise<LeaseHandle | undefined> {
    const t = checkThreadId("takeOver", threadId);
    const r = await this.#acquireOp("takeOver", t, "takeover");
    if (!r.ok) return undefined;
    return { threadId: t, owner: this.owner, token: r.token, expiresAt: r.expiresAt, attempts: r.attempts };
  }

  async extend(handle: LeaseHandle): Promise<LeaseHandle> {
    const at = await this.#op("extend", () =>
      this.#backend.extend(handle.threadId, handle.owner, handle.token, this.ttlMs),
    );
    if (at === undefined) {
      const info = await this.#op("info", () => this.#backend.info(handle.threadId)).catch(() => undefined);
      throw new LeaseLostError(
        handle.threadId,
        handle.token,
        info && info.token !== handle.token ? info.token : undefined,
        "it expired before the heartbeat",
      );
    }
    handle.expiresAt = at;
    return handle;
  }

  async release(handle: LeaseHandle, outcome: ReleaseOutcome = { state: "done" }): Promise<boolean> {
    if (outcome.state === "retry" && !(Number.isFinite(outcome.retryInMs) && outcome.retryInMs >= 1)) {
      throw new InvalidArgumentError("lease.release: retryInMs must be a number of milliseconds >= 1");
    }
    return this.#op("release", () => this.#backend.release(handle.threadId, handle.owner, handle.token, outcome));
  }

  info(threadId: string): Promise<LeaseInfo | undefined> {
    const t = checkThreadId("info", threadId);
    return this.#op("info", () => this.#backend.info(t));
  }

  stalled(limit = 100): Promise<string[]> {
    if (!(Number.isInteger(limit) && limit > 0)) {
      throw new InvalidArgumentError("lease.stalled: limit must be a positive integer");
    }
    return this.#op("stalled", () => this.#backend.stalled(limit));
  }

  /**
   * The fencing check. A write whose config carries a token passes only while that token's lease is live; a write
   * without one passes, except `deleteThread`, refused while any run holds a live lease on the thread.
   */
  async assertCurrent(
    threadId: string,
    config: LeaseRunConfig | undefined,
    operation: "put" | "putWrites" | "deleteThread",
  ): Promise<void> {
    const token = fenceOf(config);
    const raw = config?.configurable?.[FENCE_KEY];
    if (token === undefined && raw !== undefined && raw !== null) {
      // a write that claims a fence it does not carry readably is refused, never let through unchecked
      throw new InvalidConfigError(
        `lease: ${operation} on thread "${threadId}" carries configurable.${FENCE_KEY} = ${JSON.stringify(raw)}; it must be the number withThreadLease set`,
      );
    }
    if (token === undefined && operation !== "deleteThread") return;
    const info = await this.info(threadId);
    if (token === undefined) {
      if (info?.state === "running" && info.live) throw new ThreadBusyError(threadId, info.owner, info.expiresAt);
      return;
    }
    if (info === undefined || info.token !== token || info.state !== "running" || !info.live) {
      throw new LeaseLostError(
        threadId,
        token,
        info && info.token !== token ? info.token : undefined,
        `${operation} refused by the fencing check`,
      );
    }
  }

  close(): Promise<void> {
    return this.#backend.close();
  }
}
