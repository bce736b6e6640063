import { EventEmitter } from "node:events";
import { InvalidArgumentError } from "@graphkeep/core";
import { isLeaseLostError } from "./errors.js";
import type { LeasableGraph } from "./guard.js";
import { failoverCounters } from "./metrics.js";
import { runHeld } from "./run.js";
import type { LeaseRunConfig, LeaseStore, ReleaseOutcome } from "./types.js";

/** The part of a checkpoint saver the watchdog reads (any LangGraph `BaseCheckpointSaver` fits). */
export interface CheckpointReader {
  getTuple(config: {
    configurable: { thread_id: string; checkpoint_ns?: string };
  }): Promise<{ pendingWrites?: Array<[string, string, unknown]> | undefined } | undefined>;
}

/** Delay before the next attempt after a failed one. */
export type FailoverBackoff =
  | { initialMs?: number | undefined; factor?: number | undefined; maxMs?: number | undefined }
  | ((attempt: number) => number);

/** Options of {@link FailoverWatchdog}. */
export interface FailoverWatchdogOptions<G extends LeasableGraph> {
  /** The lease store the workers share. */
  lease: LeaseStore;
  /** The compiled graph (with its checkpointer) that resumes stalled threads. */
  graph: G;
  /**
   * The graph's checkpointer: its latest tuple's pending writes tell a thread paused on `interrupt()` without
   * running the graph's state computation.
   * @default undefined (only `graph.getState` is read)
   */
  saver?: CheckpointReader | undefined;
  /**
   * How often to look for stalled runs, in milliseconds.
   * @default 10000
   */
  intervalMs?: number | undefined;
  /**
   * Takeovers of one run before it is marked `failed` and left alone (counted across workers).
   * @default 3
   */
  maxAttempts?: number | undefined;
  /**
   * Delay before retrying a resume that failed, by attempt number (1, 2, …).
   * @default { initialMs: 1000, factor: 2, maxMs: 60000 }
   */
  backoff?: FailoverBackoff | undefined;
  /**
   * Resumes this watchdog runs at once.
   * @default 4
   */
  concurrency?: number | undefined;
  /**
   * Extra config of a resume (`recursionLimit`, `configurable` values the graph needs). `thread_id` is set.
   * @default undefined
   */
  resumeConfig?: ((threadId: string) => LeaseRunConfig) | undefined;
}

/** Events of {@link FailoverWatchdog}. */
export interface FailoverEvents {
  /** The watchdog took over the lease of a stalled run. */
  takeover: [{ threadId: string; attempt: number; token: number }];
  /** A stalled run was resumed and ended (completed, or paused on a new `interrupt()`). */
  resumed: [{ threadId: string; attempt: number; durationMs: number }];
  /** A resume attempt failed; `willRetry` says whether the run stays eligible. */
  failed: [{ threadId: string; attempt: number; error: unknown; willRetry: boolean }];
  /** A stalled run had nothing to resume: paused on `interrupt()`, completed, or never checkpointed. */
  skipped: [{ threadId: string; reason: "interrupted" | "completed" | "no-checkpoint" }];
  /** Looking for stalled runs failed (the store was unreachable); the next interval tries again. */
  scanError: [{ error: unknown }];
}

/** The task id LangGraph stores a task-less `Command({ resume })` under. */
const NULL_TASK_ID = "00000000-0000-0000-0000-000000000000";

interface StateLike {
  next?: readonly string[];
  tasks?: ReadonlyArray<{ id?: string; interrupts?: readonly unknown[] }>;
}

/**
 * Resumes runs whose worker died: every `intervalMs` it lists threads whose run is `running` but whose lease
 * expired, takes the lease over (fencing token + 1), and when the latest checkpoint has work left that is not
 * an `interrupt()` waiting for a human, resumes it with `graph.invoke(null)` under the new lease.
 * Bounded attempts with backoff; events; OTel counters `graphkeep.failover.resumed` / `graphkeep.failover.failed`.
 *
 * @throws {InvalidArgumentError} when an option is missing or out of range.
 * @example
 * const watchdog = new FailoverWatchdog({ lease, graph, saver, intervalMs: 10_000, maxAttempts: 3 });
 * watchdog.on("resumed", ({ threadId }) => log.info("resumed", threadId));
 * watchdog.start(); // on every worker
 */
export class FailoverWatchdog<G extends LeasableGraph = LeasableGraph> extends EventEmitter<FailoverEvents> {
  readonly #lease: LeaseStore;
  readonly #graph: G;
  readonly #saver: CheckpointReader | undefined;
  readonly #interval: number;
  readonly #maxAttempts: number;
  readonly #backoff: (attempt: number) => number;
  readonly #concurrency: number;
  readonly #resumeConfig: ((threadId: string) => LeaseRunConfig) | undefined;
  readonly #inflight = new Map<string, Promise<void>>();
  readonly #counters = failoverCounters();
  #timer: NodeJS.Timeout | undefined;
  #scanning: Promise<string[]> | undefined;

  constructor(options: FailoverWatchdogOptions<G>) {
    super();
    const o = options ?? ({} as FailoverWatchdogOptions<G>);
    if (!o.lease || typeof o.lease.takeOver !== "function") {
      throw new InvalidArgumentError("FailoverWatchdog: lease is required (redisLease(), postgresLease(), …)");
    }
    if (!o.graph || typeof o.graph.invoke !== "function" || typeof o.graph.getState !== "function") {
      throw new InvalidArgumentError("FailoverWatchdog: graph is required (a compiled graph with a checkpointer)");
    }
    if (o.saver !== undefined && typeof o.saver.getTuple !== "function") {
      throw new InvalidArgumentError("FailoverWatchdog: saver must be a checkpoint saver (with getTuple)");
    }
    const interval = o.intervalMs ?? 10_000;
    if (!(Number.isFinite(interval) && interval >= 10)) {
      throw new InvalidArgumentError("FailoverWatchdog: intervalMs must be a number of milliseconds >= 10");
    }
    const max = o.maxAttempts ?? 3;
    if (!(Number.isInteger(max) && max >= 1)) {
      throw new InvalidArgumentError("FailoverWatchdog: maxAttempts must be an integer >= 1");
    }
    const concurrency = o.concurrency ?? 4;
    if (!(Number.isInteger(concurrency) && concurrency >= 1)) {
      throw new InvalidArgumentError("FailoverWatchdog: concurrency must be an integer >= 1");
    }
    const b = o.backoff ?? {};
    if (typeof b !== "function") {
      const { initialMs = 1000, factor = 2, maxMs = 60_000 } = b;
      if (!(initialMs >= 1 && factor >= 1 && maxMs >= initialMs)) {
        throw new InvalidArgumentError(
          "FailoverWatchdog: backoff needs initialMs >= 1, factor >= 1, maxMs >= initialMs",
        );
      }
      this.#backoff = (attempt) => Math.min(maxMs, initialMs * factor ** Math.max(0, attempt - 1));
    } else {
      // a user backoff returning Infinity/NaN/negative must not make the release fail: clamp to [1 ms, 1 day]
      this.#backoff = (attempt) => {
        const ms = Number(b(attempt));
        return Number.isFinite(ms) ? Math.min(86_400_000, Math.max(1, ms)) : 1;
      };
    }
    this.#lease = o.lease;
    this.#graph = o.graph;
    this.#saver = o.saver;
    this.#interval = interval;
    this.#maxAttempts = max;
    this.#concurrency = concurrency;
    this.#resumeConfig = o.resumeConfig;
  }

  /** True between `start()` and `stop()`. */
  get running(): boolean {
    return this.#timer !== undefined;
  }

  /** Scans every `intervalMs` (the timer does not keep the process alive). Idempotent. */
  start(): this {
    if (this.#timer) return this;
    this.#timer = setInterval(() => void this.tick(), this.#interval);
    this.#timer.unref?.();
    return this;
  }

  /** Stops scanning and waits for the resumes in flight to end. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#scanning?.catch(() => undefined);
    await Promise.all([...this.#inflight.values()]);
  }

  /** Resolves when the resumes in flight have ended. */
  async idle(): Promise<void> {
    while (this.#inflight.size > 0) await Promise.all([...this.#inflight.values()]);
  }

  /** One scan now: takes over what it can and starts the resumes. Resolves with the threads taken over. */
  tick(): Promise<string[]> {
    this.#scanning ??= this.#scan().finally(() => {
      this.#scanning = undefined;
    });
    return this.#scanning;
  }

  #emit<K extends keyof FailoverEvents>(event: K, ...args: FailoverEvents[K]): void {
    try {
      (this.emit as (e: string, ...a: unknown[]) => boolean)(event, ...args);
    } catch {
      // a listener that throws must not stop failover
    }
  }

  async #scan(): Promise<string[]> {
    const room = this.#concurrency - this.#inflight.size;
    if (room <= 0) return [];
    let ids: string[];
    try {
      ids = await this.#lease.stalled(room + this.#inflight.size);
    } catch (error) {
      this.#emit("scanError", { error });
      return [];
    }
    const taken: string[] = [];
    for (const threadId of ids) {
      if (taken.length >= room) break;
      if (this.#inflight.has(threadId)) continue;
      let handle: Awaited<ReturnType<LeaseStore["takeOver"]>>;
      try {
        handle = await this.#lease.takeOver(threadId);
      } catch (error) {
        this.#emit("scanError", { error });
        continue;
      }
      if (!handle) continue;
      taken.push(threadId);
      this.#emit("takeover", { threadId, attempt: handle.attempts, token: handle.token });
      // #resume reports its failures as events; the catch is a last guard against an unhandled rejection
      const p = this.#resume(handle)
        .catch((error: unknown) => this.#emit("failed", { threadId, attempt: handle.attempts, error, willRetry: true }))
        .finally(() => this.#inflight.delete(threadId));
      this.#inflight.set(threadId, p);
    }
    return taken;
  }

  async #resume(handle: NonNullable<Awaited<ReturnType<LeaseStore["takeOver"]>>>): Promise<void> {
    const { threadId, attempts: attempt } = handle;
    const kind = this.#lease.kind;
    const started = Date.now();
    if (attempt > this.#maxAttempts) {
      await this.#lease.release(handle, { state: "failed" }).catch(() => undefined);
      this.#counters.failed({ "graphkeep.lease.backend": kind, "graphkeep.failover.reason": "max_attempts" });
      this.#emit("failed", {
        threadId,
        attempt,
        error: new Error(`FailoverWatchdog: gave up on thread "${threadId}" after ${this.#maxAttempts} attempts`),
        willRetry: false,
      });
      return;
    }
    const retry = (): ReleaseOutcome =>
      attempt < this.#maxAttempts ? { state: "retry", retryInMs: this.#backoff(attempt) } : { state: "failed" };
    let config: LeaseRunConfig;
    try {
      // a throwing resumeConfig is a failed attempt like any other (never an unhandled rejection)
      const extra = this.#resumeConfig?.(threadId);
      config = { ...extra, configurable: { ...extra?.configurable, thread_id: threadId } };
    } catch (error) {
      const outcome = retry();
      await this.#lease.release(handle, outcome).catch(() => undefined);
      this.#counters.failed({ "graphkeep.lease.backend": kind, "graphkeep.failover.reason": "error" });
      this.#emit("failed", { threadId, attempt, error, willRetry: outcome.state === "retry" });
      return;
    }
    try {
      const reason = await this.#nothingToDo(threadId);
      if (reason) {
        await this.#lease.release(handle, { state: "done" });
        this.#emit("skipped", { threadId, reason });
        return;
      }
      const invoke = this.#graph.invoke as unknown as (input: null, c: LeaseRunConfig) => Promise<unknown>;
      await runHeld(this.#lease, handle, config, (c) => invoke.call(this.#graph, null, c), retry);
      this.#counters.resumed({ "graphkeep.lease.backend": kind });
      this.#emit("resumed", { threadId, attempt, durationMs: Date.now() - started });
    } catch (error) {
      const willRetry = attempt < this.#maxAttempts || isLeaseLostError(error);
      this.#counters.failed({ "graphkeep.lease.backend": kind, "graphkeep.failover.reason": "error" });
      this.#emit("failed", { threadId, attempt, error, willRetry });
    }
  }

  async #nothingToDo(threadId: string): Promise<FailoverEvents["skipped"][0]["reason"] | undefined> {
    const config = { configurable: { thread_id: threadId } };
    // a task whose interrupt was answered (Command({ resume }) stored a __resume__ write) and whose worker died
    // before the task finished is work left, not a human pause
    const answered = new Set<string>();
    if (this.#saver) {
      const tuple = await this.#saver.getTuple(config);
      if (!tuple) return "no-checkpoint";
      const writes = tuple.pendingWrites ?? [];
      for (const [taskId, channel] of writes) if (channel === "__resume__") answered.add(taskId);
      // Command({ resume }) without a task map answers every interrupt: LangGraph stores it under the null task id
      if (answered.has(NULL_TASK_ID)) answered.add("*");
      const open = (taskId: string) => !answered.has(taskId) && !answered.has("*");
      if (writes.some(([taskId, channel]) => channel === "__interrupt__" && open(taskId))) return "interrupted";
    }
    const getState = this.#graph.getState as unknown as (c: typeof config) => Promise<StateLike>;
    const state = await getState.call(this.#graph, config);
    if (
      state.tasks?.some(
        (t) => (t.interrupts?.length ?? 0) > 0 && !answered.has("*") && !(t.id !== undefined && answered.has(t.id)),
      )
    ) {
      return "interrupted";
    }
    // a compile-time breakpoint before a next node: the run stopped there for a human
    const before = (this.#graph as { interruptBefore?: unknown }).interruptBefore;
    if (before === "*" || (Array.isArray(before) && state.next?.some((n) => before.includes(n)))) return "interrupted";
    // `next` lists the tasks without saved writes; a worker killed between a task's writes and the next checkpoint
    // leaves `next` empty but the task listed: resuming applies its writes and goes on. Done means no task at all.
    if ((state.next?.length ?? 0) === 0 && (state.tasks?.length ?? 0) === 0) return "completed";
    return undefined;
  }
}
