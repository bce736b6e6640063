import { InvalidArgumentError } from "@graphkeep/core";
import { acquireLease, HeldRun, LeasedStream, runHeld, threadIdOf } from "./run.js";
import type { LeaseRunConfig, LeaseStore } from "./types.js";

/**
 * What `withThreadLease` needs of a graph: a compiled LangGraph `StateGraph` / `Pregel` fits (its checkpointer
 * holds the thread).
 */
export interface LeasableGraph {
  invoke(input: never, config?: never): Promise<unknown>;
  stream(input: never, config?: never): Promise<AsyncIterable<unknown>>;
  streamEvents(input: never, config: never, streamOptions?: never): unknown;
  getState(config: never, options?: never): Promise<unknown>;
  getStateHistory(config: never, options?: never): AsyncIterable<unknown>;
  updateState(config: never, values: never, asNode?: never): Promise<unknown>;
}

type Arg<F, N extends number> = F extends (...args: infer A) => unknown ? A[N] : never;
/** The chunk type of a graph's `stream()`. */
export type StreamChunkOf<G extends LeasableGraph> =
  Awaited<ReturnType<G["stream"]>> extends AsyncIterable<infer C> ? C : unknown;

/** The event `streamEvents` yields (LangChain's `StreamEvent`). */
export interface LeaseStreamEvent {
  event: string;
  name: string;
  run_id: string;
  data: Record<string, unknown>;
  tags?: string[];
  metadata: Record<string, unknown>;
}

/** Options of {@link withThreadLease}. */
export interface ThreadLeaseOptions {
  /**
   * What a run does when another run holds the thread: fail fast with `ThreadBusyError`, or wait for the lease.
   * @default "throw"
   */
  onBusy?: "throw" | "wait" | undefined;
  /**
   * With `onBusy: "wait"`: how long to wait before failing with `ThreadBusyError`, in milliseconds.
   * @default 30000
   */
  waitMs?: number | undefined;
}

/** The graph-like object {@link withThreadLease} returns: the graph's API, every write under the thread's lease. */
export interface LeasedGraph<G extends LeasableGraph> {
  /** The wrapped graph. */
  readonly graph: G;
  /** The lease store. */
  readonly lease: LeaseStore;
  /**
   * `graph.invoke` holding the thread's lease (heartbeating) until it returns or throws.
   * @throws {ThreadBusyError} when another run holds the thread.
   * @throws {LeaseLostError} when the run lost its lease midway (it was aborted).
   * @throws {InvalidConfigError} when `thread_id` is missing.
   * @throws {StoreUnavailableError} when the lease store is unreachable (the run does not start).
   */
  invoke(input: Arg<G["invoke"], 0>, config: Arg<G["invoke"], 1>): ReturnType<G["invoke"]>;
  /** `graph.stream` holding the lease until the iteration ends, fails, is broken out of, or the stream is collected. */
  stream(input: Arg<G["stream"], 0>, config: Arg<G["stream"], 1>): Promise<AsyncIterableIterator<StreamChunkOf<G>>>;
  /**
   * `graph.streamEvents` (`version: "v1"` or `"v2"`) holding the lease while iterated; the lease is taken at the
   * first `next()`, so a busy thread fails there.
   */
  streamEvents<E = LeaseStreamEvent>(
    input: Arg<G["invoke"], 0>,
    config: NonNullable<Arg<G["invoke"], 1>> & { version: "v1" | "v2" },
    streamOptions?: Record<string, unknown>,
  ): AsyncIterableIterator<E>;
  /** `graph.getState` (a read: no lease). */
  getState(config: Arg<G["getState"], 0>, options?: Arg<G["getState"], 1>): ReturnType<G["getState"]>;
  /** `graph.getStateHistory` (a read: no lease). */
  getStateHistory(
    config: Arg<G["getStateHistory"], 0>,
    options?: Arg<G["getStateHistory"], 1>,
  ): ReturnType<G["getStateHistory"]>;
  /** `graph.updateState` under the lease, so it never interleaves with a run. */
  updateState(
    config: Arg<G["updateState"], 0>,
    values: Arg<G["updateState"], 1>,
    asNode?: Arg<G["updateState"], 2>,
  ): ReturnType<G["updateState"]>;
}

type AnyFn = (...args: unknown[]) => unknown;
const call = (graph: LeasableGraph, method: keyof LeasableGraph, ...args: unknown[]) =>
  (graph[method] as unknown as AnyFn).apply(graph, args);

/**
 * Wraps a compiled graph so that one run at a time writes each thread: every `invoke` / `stream` /
 * `streamEvents` / `updateState` takes the thread's lease first, heartbeats it while active, carries its fencing
 * token in `config.configurable.__graphkeep_fence` (checked by a fenced checkpointer), and releases it on
 * completion, error or abort.
 *
 * @throws {InvalidArgumentError} when `lease` is not a lease store or an option is invalid.
 * @example
 * const guarded = withThreadLease(graph, redisLease({ url }), { onBusy: "throw" });
 * await guarded.invoke({ messages }, { configurable: { thread_id: "user-42" } });
 */
export function withThreadLease<G extends LeasableGraph>(
  graph: G,
  lease: LeaseStore,
  options: ThreadLeaseOptions = {},
): LeasedGraph<G> {
  if (graph === null || typeof graph !== "object" || typeof graph.invoke !== "function") {
    throw new InvalidArgumentError("withThreadLease: the first argument must be a compiled graph (with invoke)");
  }
  if (lease === null || typeof lease !== "object" || typeof lease.acquire !== "function") {
    throw new InvalidArgumentError("withThreadLease: the second argument must be a lease store (redisLease(), …)");
  }
  const onBusy = options.onBusy ?? "throw";
  if (onBusy !== "throw" && onBusy !== "wait") {
    throw new InvalidArgumentError(`withThreadLease: onBusy must be "throw" or "wait", got ${String(onBusy)}`);
  }
  const waitMs = options.waitMs ?? 30_000;
  if (!(Number.isFinite(waitMs) && waitMs >= 0)) {
    throw new InvalidArgumentError("withThreadLease: waitMs must be a number of milliseconds >= 0");
  }
  const take = (config: LeaseRunConfig | undefined, method: string) =>
    acquireLease(lease, threadIdOf(config, method), onBusy, waitMs, config?.signal);

  const held = async <T>(config: unknown, method: string, fn: (c: LeaseRunConfig) => Promise<T>): Promise<T> => {
    const cfg = config as LeaseRunConfig | undefined;
    const handle = await take(cfg, method);
    return runHeld(lease, handle, cfg, fn);
  };

  const stream = <T>(config: unknown, method: string, open: (c: LeaseRunConfig) => unknown) =>
    new LeasedStream<T>(async () => {
      const cfg = config as LeaseRunConfig | undefined;
      const handle = await take(cfg, method);
      const run = new HeldRun(lease, handle);
      try {
        const inner = (await open(run.config(cfg))) as AsyncIterable<T>;
        return { run, it: inner[Symbol.asyncIterator]() };
      } catch (e) {
        run.failed(e);
        await run.end();
        throw run.error(e);
      }
    });

  const guarded = {
    graph,
    lease,
    invoke: (input: unknown, config: unknown) =>
      held(config, "invoke", (c) => call(graph, "invoke", input, c) as Promise<unknown>),
    stream: async (input: unknown, config: unknown) => {
      const s = stream<unknown>(config, "stream", (c) => call(graph, "stream", input, c));
      // take the lease now, so a busy thread fails here rather than at the first chunk
      await s.start();
      return s;
    },
    streamEvents: (input: unknown, config: unknown, streamOptions?: unknown) =>
      stream<unknown>(config, "streamEvents", (c) => call(graph, "streamEvents", input, c, streamOptions)),
    getState: (config: unknown, opts?: unknown) => call(graph, "getState", config, opts),
    getStateHistory: (config: unknown, opts?: unknown) => call(graph, "getStateHistory", config, opts),
    updateState: (config: unknown, values: unknown, asNode?: unknown) =>
      held(config, "updateState", (c) => call(graph, "updateState", c, values, asNode) as Promise<unknown>),
  };
  return guarded as unknown as LeasedGraph<G>;
}
