import { InvalidConfigError, isStoreUnavailableError } from "@graphkeep/core";
import { isLeaseLostError, isThreadBusyError, LeaseLostError } from "./errors.js";
import { FENCE_KEY, type LeaseHandle, type LeaseRunConfig, type LeaseStore, type ReleaseOutcome } from "./types.js";

/** @internal the thread id of a run config, or a typed error naming the method. */
export function threadIdOf(config: LeaseRunConfig | undefined, method: string): string {
  const t = config?.configurable?.thread_id;
  if (typeof t === "string" && t.length > 0) return t;
  if (typeof t === "number" && Number.isFinite(t)) return String(t);
  throw new InvalidConfigError(
    `withThreadLease.${method}: config.configurable.thread_id is required (a non-empty string); pass { configurable: { thread_id: "user-42" } }`,
  );
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });

/** `AbortSignal.any` (Node >= 20.3) with a fallback. */
function anySignal(signals: AbortSignal[]): AbortSignal {
  if (typeof AbortSignal.any === "function") return AbortSignal.any(signals);
  const c = new AbortController();
  for (const s of signals) {
    if (s.aborted) {
      c.abort(s.reason);
      break;
    }
    s.addEventListener("abort", () => c.abort(s.reason), { once: true });
  }
  return c.signal;
}

/** @internal takes the lease, waiting for it when asked. */
export async function acquireLease(
  lease: LeaseStore,
  threadId: string,
  onBusy: "throw" | "wait",
  waitMs: number,
  signal?: AbortSignal,
): Promise<LeaseHandle> {
  const deadline = Date.now() + waitMs;
  let pause = 20;
  for (;;) {
    // a caller that gave up while waiting gets its abort reason, and never a lease taken after it left
    signal?.throwIfAborted();
    let handle: LeaseHandle;
    try {
      handle = await lease.acquire(threadId);
    } catch (e) {
      if (onBusy === "throw" || !isThreadBusyError(e)) throw e;
      const left = deadline - Date.now();
      if (signal?.aborted) throw signal.reason;
      if (left <= 0) throw e;
      const untilExpiry = e.expiresAt ? e.expiresAt.getTime() - Date.now() + 5 : pause;
      await sleep(Math.max(5, Math.min(pause, untilExpiry, left)), signal).catch(() => undefined);
      pause = Math.min(pause * 2, 500);
      continue;
    }
    if (signal?.aborted) {
      await lease.release(handle, { state: "done" }).catch(() => undefined);
      throw signal.reason;
    }
    return handle;
  }
}

/**
 * @internal a run holding a lease: heartbeats, carries the fencing token into the config, aborts the graph when
 * the lease is lost, releases when it ends.
 */
export class HeldRun {
  readonly handle: LeaseHandle;
  /** set when the lease was lost: the run is aborted and must not release */
  lost: LeaseLostError | undefined;
  readonly #lease: LeaseStore;
  readonly #controller = new AbortController();
  readonly #timer: NodeJS.Timeout;
  #beating = false;
  #ended: Promise<void> | undefined;

  constructor(lease: LeaseStore, handle: LeaseHandle) {
    this.#lease = lease;
    this.handle = handle;
    this.#timer = setInterval(() => void this.#beat(), lease.heartbeatMs);
    this.#timer.unref?.();
  }

  async #beat(): Promise<void> {
    if (this.#beating || this.lost || this.#ended) return;
    this.#beating = true;
    try {
      // a heartbeat the store failed (or left hanging until the operation timeout) is retried at once rather than
      // at the next tick (the ticks it spanned were skipped): the stores' options guarantee that
      // heartbeatMs + 2 × operationTimeoutMs <= ttlMs, so the retry lands before the lease expires
      for (let tries = 0; tries < 2; tries++) {
        try {
          await this.#lease.extend(this.handle);
          return;
        } catch (e) {
          if (this.#ended) return;
          if (isLeaseLostError(e)) return this.#lose(e);
          if (!isStoreUnavailableError(e)) return;
          if (Date.now() >= this.handle.expiresAt.getTime()) {
            return this.#lose(
              new LeaseLostError(
                this.handle.threadId,
                this.handle.token,
                undefined,
                "heartbeats failed until it expired",
              ),
            );
          }
        }
      }
    } finally {
      this.#beating = false;
    }
  }

  #lose(e: LeaseLostError): void {
    this.lost = e;
    this.#controller.abort(e);
  }

  /** The config a guarded call runs with: the fencing token in `configurable`, the run's abort signal. */
  config(base: LeaseRunConfig | undefined): LeaseRunConfig {
    const signals = [this.#controller.signal, ...(base?.signal ? [base.signal] : [])];
    return {
      ...base,
      configurable: { ...base?.configurable, [FENCE_KEY]: this.handle.token },
      signal: signals.length === 1 ? signals[0] : anySignal(signals),
    };
  }

  /** The error to surface for `e`: the lease loss when there was one. */
  error(e: unknown): unknown {
    return this.lost ?? e;
  }

  /**
   * Notes how the guarded call failed. A `LeaseLostError` for this run's own token (the checkpointer's fencing
   * check refused a write: the lease expired or was taken, though no heartbeat had noticed yet) means the lease
   * is no longer ours to release: the run counts as lost, so `end` leaves the record `running` for the watchdog.
   */
  failed(e: unknown): void {
    if (this.lost) return;
    const refused = refusalOf(e, this.handle.threadId, this.handle.token);
    if (refused) this.#lose(refused);
  }

  /** Aborts the graph run (the lease is released by `end`). */
  abort(reason?: unknown): void {
    this.#controller.abort(reason);
  }

  /** Stops heartbeating and releases (unless lost). Release failures are swallowed: the lease then expires. */
  end(outcome: ReleaseOutcome = { state: "done" }): Promise<void> {
    this.#ended ??= (async () => {
      clearInterval(this.#timer);
      if (this.lost) return;
      await this.#lease.release(this.handle, outcome).catch(() => undefined);
    })();
    return this.#ended;
  }
}

/** @internal runs `fn` holding `handle`, releasing at the end. */
export async function runHeld<T>(
  lease: LeaseStore,
  handle: LeaseHandle,
  config: LeaseRunConfig | undefined,
  fn: (config: LeaseRunConfig) => Promise<T>,
  outcomeOnError?: (e: unknown) => ReleaseOutcome,
): Promise<T> {
  const run = new HeldRun(lease, handle);
  try {
    // a loss noticed after the graph's last write does not undo its result: every write passed the fencing check
    const out = await fn(run.config(config));
    await run.end();
    return out;
  } catch (e) {
    run.failed(e);
    await run.end(outcomeOnError?.(e) ?? { state: "done" });
    throw run.error(e);
  }
}

/** The fencing refusal of the lease (`threadId`, `token`) that `e` is or wraps (LangGraph may wrap errors). */
function refusalOf(e: unknown, threadId: string, token: number): LeaseLostError | undefined {
  let cur = e;
  for (let depth = 0; depth < 5 && cur !== null && typeof cur === "object"; depth++) {
    if (isLeaseLostError(cur) && cur.threadId === threadId && cur.token === token) return cur;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

/** @internal an async iterator over a leased stream: releases when it ends, fails, is returned or collected. */
export class LeasedStream<T> implements AsyncIterableIterator<T> {
  #start: (() => Promise<{ run: HeldRun; it: AsyncIterator<T> }>) | undefined;
  #state: Promise<{ run: HeldRun; it: AsyncIterator<T> }> | undefined;
  #done = false;

  constructor(start: () => Promise<{ run: HeldRun; it: AsyncIterator<T> }>) {
    this.#start = start;
  }

  #open(): Promise<{ run: HeldRun; it: AsyncIterator<T> }> {
    if (!this.#state) {
      const start = this.#start!;
      this.#start = undefined;
      this.#state = start().then((s) => {
        abandoned.register(this, s.run, s.run);
        return s;
      });
    }
    return this.#state;
  }

  /** Takes the lease and opens the inner stream now rather than at the first `next()`. */
  async start(): Promise<void> {
    try {
      await this.#open();
    } catch (e) {
      this.#done = true;
      throw e;
    }
  }

  async next(): Promise<IteratorResult<T>> {
    if (this.#done) return { done: true, value: undefined };
    let s: { run: HeldRun; it: AsyncIterator<T> } | undefined;
    try {
      s = await this.#open();
      const r = await s.it.next();
      if (r.done) await this.#finish(s.run);
      return r;
    } catch (e) {
      this.#done = true;
      if (!s) throw e;
      s.run.failed(e);
      await this.#finish(s.run);
      throw s.run.error(e);
    }
  }

  async return(value?: unknown): Promise<IteratorResult<T>> {
    if (!this.#done && this.#state) {
      const s = await this.#state.catch(() => undefined);
      if (s) {
        await s.it.return?.().catch(() => undefined);
        await this.#finish(s.run);
      }
    }
    this.#done = true;
    return { done: true, value: value as T };
  }

  async #finish(run: HeldRun): Promise<void> {
    this.#done = true;
    abandoned.unregister(run);
    await run.end();
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }
}

/** A stream dropped without being read to the end or returned: abort its run, release its lease. */
const abandoned = new FinalizationRegistry<HeldRun>((run) => {
  run.abort(new Error("withThreadLease: the stream was abandoned before it ended"));
  void run.end();
});
