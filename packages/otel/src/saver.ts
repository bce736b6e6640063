import { InvalidArgumentError } from "@graphkeep/core";
import type { RunnableConfig } from "@langchain/core/runnables";
import type {
  BaseCheckpointSaver,
  Checkpoint,
  CheckpointMetadata,
  CheckpointTuple,
  PendingWrite,
} from "@langchain/langgraph-checkpoint";
import {
  type Attributes,
  type Context,
  type Counter,
  context,
  diag,
  type Histogram,
  type Meter,
  type Span,
  SpanKind,
  trace,
} from "@opentelemetry/api";
import { readCost } from "./messages.js";
import { openRuns } from "./runs.js";
import {
  ATTR_CHECKPOINT_ID,
  ATTR_CHECKPOINT_NS,
  ATTR_CHECKPOINT_SIZE,
  ATTR_COST,
  ATTR_COST_THREAD_TOTAL,
  ATTR_DB_NAMESPACE,
  ATTR_DB_OPERATION_NAME,
  ATTR_DB_RESPONSE_RETURNED_ROWS,
  ATTR_DB_SYSTEM_NAME,
  ATTR_ERROR_TYPE,
  ATTR_FOUND,
  ATTR_LIST_COMPLETED,
  ATTR_RESTORE_KIND,
  ATTR_SOURCE,
  ATTR_STEP,
  ATTR_TASK_ID,
  ATTR_THREAD_ID,
  ATTR_WRITES,
  CHECKPOINT_SIZE_BUCKETS,
  DB_DURATION_BUCKETS,
  EVENT_LARGE_CHECKPOINT,
  METRIC_CHECKPOINT_RESTORES,
  METRIC_CHECKPOINT_SIZE,
  METRIC_DB_CLIENT_OPERATION_DURATION,
  METRIC_THREADS_ACTIVE,
} from "./semconv.js";
import { CheckpointSizer } from "./size.js";
import { errorType, type ProviderOptions, recordError, safely, secondsSince, Telemetry } from "./telemetry.js";
import { threadActivity } from "./threads.js";

/** Options of {@link instrumentSaver}. */
export interface InstrumentSaverOptions extends ProviderOptions {
  /**
   * A checkpoint whose serialized size exceeds this many bytes adds a `graphkeep.checkpoint.large` span event
   * and one `diag` warning per thread.
   * @default 1048576 (1 MiB)
   */
  largeCheckpointBytes?: number | undefined;
  /**
   * `db.system.name` of the spans and metrics.
   * @default detected: the keyv adapter of a KeyvSaver (`redis`, `postgresql`, `mysql`, `sqlite`, `memory`), the
   * official saver class (`MemorySaver` → `memory`, `SqliteSaver` → `sqlite`, `PostgresSaver` → `postgresql`…),
   * else `other`
   */
  dbSystemName?: string | undefined;
  /**
   * `db.namespace` of the spans and metrics.
   * @default the Keyv namespace of a KeyvSaver, else none
   */
  dbNamespace?: string | undefined;
  /**
   * Measure the serialized size of each checkpoint `put` (see README: serde bytes per channel value, measured once
   * per channel version, plus JSON of the rest). Skipped anyway while nothing records spans or metrics.
   * @default true
   */
  measureSize?: boolean | undefined;
  /**
   * A thread counts in `graphkeep.threads.active` while it had a saver call within this many milliseconds.
   * @default 300000 (5 minutes)
   */
  activeThreadWindowMs?: number | undefined;
}

const DEFAULTS = {
  largeCheckpointBytes: 1 << 20,
  measureSize: true,
  activeThreadWindowMs: 300_000,
} as const;

const INSTRUMENTED = Symbol.for("@graphkeep/otel.instrumentedSaver");

/** Promise-returning methods instrumented when the saver has them (KeyvSaver's extra methods included). */
const PROMISE_METHODS = [
  "getTuple",
  "put",
  "putWrites",
  "deleteThread",
  "deleteCheckpoints",
  "pruneCheckpoints",
  "checkpointInfo",
  "copyThread",
  "stats",
  "rewriteValues",
  "purgeExpired",
  "getDeltaChannelHistory",
] as const;
/** Async-iterable methods instrumented when the saver has them. */
const ITERATOR_METHODS = ["list", "listThreads"] as const;

interface SaverInstruments {
  duration: Histogram;
  size: Histogram;
  restores: Counter;
}

const gaugeMeters = new WeakSet<Meter>();

function buildInstruments(meter: Meter): SaverInstruments {
  if (!gaugeMeters.has(meter)) {
    gaugeMeters.add(meter);
    meter
      .createObservableGauge(METRIC_THREADS_ACTIVE, {
        description: "Threads with a checkpoint saver call in this process within the activity window",
        unit: "{thread}",
      })
      .addCallback((result) => {
        safely("observing graphkeep.threads.active", () => result.observe(threadActivity.active()));
      });
  }
  return {
    duration: meter.createHistogram(METRIC_DB_CLIENT_OPERATION_DURATION, {
      description: "Duration of checkpoint saver operations",
      unit: "s",
      advice: { explicitBucketBoundaries: DB_DURATION_BUCKETS },
    }),
    size: meter.createHistogram(METRIC_CHECKPOINT_SIZE, {
      description: "Serialized size of the checkpoints written",
      unit: "By",
      advice: { explicitBucketBoundaries: CHECKPOINT_SIZE_BUCKETS },
    }),
    restores: meter.createCounter(METRIC_CHECKPOINT_RESTORES, {
      description: "Checkpoints read back to resume or inspect a thread (getTuple calls that found one)",
      unit: "{restore}",
    }),
  };
}

function detectSystem(saver: object): { system: string; namespace: string | undefined } {
  const keyv = (saver as { keyv?: { store?: unknown; namespace?: unknown } }).keyv;
  if (keyv && typeof keyv === "object") {
    const store = keyv.store as { constructor?: { name?: string }; opts?: { dialect?: string } } | undefined;
    const name = `${store?.constructor?.name ?? ""} ${store?.opts?.dialect ?? ""}`.toLowerCase();
    const namespace = typeof keyv.namespace === "string" ? keyv.namespace : undefined;
    if (name.includes("redis")) return { system: "redis", namespace };
    if (name.includes("postgres")) return { system: "postgresql", namespace };
    if (name.includes("mysql")) return { system: "mysql", namespace };
    if (name.includes("sqlite")) return { system: "sqlite", namespace };
    if (store instanceof Map || name.trim() === "map") return { system: "memory", namespace };
    return { system: "other", namespace };
  }
  const cls = saver.constructor?.name?.toLowerCase() ?? "";
  const system = cls.includes("memory")
    ? "memory"
    : cls.includes("sqlite")
      ? "sqlite"
      : cls.includes("postgres")
        ? "postgresql"
        : cls.includes("redis")
          ? "redis"
          : cls.includes("mongo")
            ? "mongodb"
            : "other";
  return { system, namespace: undefined };
}

/** The thread a saver call is about (`deleteThread(threadId)`, else `config.configurable.thread_id`). */
function threadOf(method: string, args: unknown[]): string | undefined {
  if (method === "deleteThread") return typeof args[0] === "string" ? args[0] : undefined;
  const id = (args[0] as RunnableConfig | undefined)?.configurable?.thread_id;
  return typeof id === "string" || typeof id === "number" ? String(id) : undefined;
}

function configAttrs(config: unknown): Attributes {
  const c = (config as RunnableConfig | undefined)?.configurable;
  const attrs: Attributes = {};
  if (!c || typeof c !== "object") return attrs;
  if (typeof c.thread_id === "string" || typeof c.thread_id === "number") attrs[ATTR_THREAD_ID] = String(c.thread_id);
  if (typeof c.checkpoint_ns === "string" && c.checkpoint_ns !== "") attrs[ATTR_CHECKPOINT_NS] = c.checkpoint_ns;
  if (typeof c.checkpoint_id === "string" && c.checkpoint_id !== "") attrs[ATTR_CHECKPOINT_ID] = c.checkpoint_id;
  return attrs;
}

function metadataAttrs(metadata: CheckpointMetadata | undefined): Attributes {
  const attrs: Attributes = {};
  if (metadata && typeof metadata === "object") {
    if (typeof metadata.step === "number") attrs[ATTR_STEP] = metadata.step;
    if (typeof metadata.source === "string") attrs[ATTR_SOURCE] = metadata.source;
    // @graphkeep/cost's withCostMetadata: metadata.cost = { step: { usd }, total: { usd } }
    const cost = (metadata as { cost?: { step?: unknown; total?: unknown } }).cost;
    const step = readCost({ cost: cost?.step });
    const total = readCost({ cost: cost?.total });
    if (step) attrs[ATTR_COST] = step.amount;
    if (total) attrs[ATTR_COST_THREAD_TOTAL] = total.amount;
  }
  return attrs;
}

/** Attributes known when a call starts, per method. */
function startAttrs(method: string, args: unknown[]): Attributes {
  switch (method) {
    case "getTuple":
    case "list":
      return configAttrs(args[0]);
    case "put": {
      const attrs = { ...configAttrs(args[0]), ...metadataAttrs(args[2] as CheckpointMetadata | undefined) };
      const id = (args[1] as Checkpoint | undefined)?.id;
      if (typeof id === "string") attrs[ATTR_CHECKPOINT_ID] = id;
      return attrs;
    }
    case "putWrites": {
      const attrs = configAttrs(args[0]);
      if (Array.isArray(args[1])) attrs[ATTR_WRITES] = (args[1] as PendingWrite[]).length;
      if (typeof args[2] === "string") attrs[ATTR_TASK_ID] = args[2];
      return attrs;
    }
    default: {
      const first = args[0];
      if (typeof first === "string") return { [ATTR_THREAD_ID]: first };
      if (first && typeof first === "object" && typeof (first as { threadId?: unknown }).threadId === "string") {
        return { [ATTR_THREAD_ID]: (first as { threadId: string }).threadId };
      }
      return {};
    }
  }
}

/**
 * Wraps a LangGraph checkpoint saver so every call makes an OpenTelemetry CLIENT span (database semantic
 * conventions plus `graphkeep.*` attributes) and records metrics: `db.client.operation.duration`,
 * `graphkeep.checkpoint.size`, `graphkeep.checkpoint.restores`, `graphkeep.threads.active`. Works on any
 * `BaseCheckpointSaver` (KeyvSaver, MemorySaver, SqliteSaver, PostgresSaver…). The result is the same saver
 * (a proxy: `instanceof` and every other method keep working); wrapping it again returns it unchanged.
 * Telemetry failures are reported through `diag` and never reach the graph.
 *
 * @param saver The saver to instrument.
 * @param options Providers, size threshold, `db.*` overrides.
 * @throws {InvalidArgumentError} when `saver` is not a checkpoint saver or an option is out of range.
 * @example
 * const saver = instrumentSaver(await KeyvSaver.fromUrl("redis://127.0.0.1:6379"), { largeCheckpointBytes: 1 << 20 });
 * const graph = workflow.compile({ checkpointer: saver });
 */
export function instrumentSaver<T extends BaseCheckpointSaver>(saver: T, options: InstrumentSaverOptions = {}): T {
  if (
    saver === null ||
    typeof saver !== "object" ||
    typeof saver.getTuple !== "function" ||
    typeof saver.put !== "function" ||
    typeof saver.putWrites !== "function" ||
    typeof saver.list !== "function"
  ) {
    throw new InvalidArgumentError(
      "instrumentSaver: the first argument must be a checkpoint saver (a BaseCheckpointSaver such as KeyvSaver or MemorySaver)",
    );
  }
  if ((saver as unknown as Record<symbol, unknown>)[INSTRUMENTED] === true) return saver;
  const opts = { ...DEFAULTS, ...stripUndefined(options) };
  if (!(Number.isFinite(opts.largeCheckpointBytes) && opts.largeCheckpointBytes > 0)) {
    throw new InvalidArgumentError("instrumentSaver: largeCheckpointBytes must be a positive number of bytes");
  }
  if (!(Number.isFinite(opts.activeThreadWindowMs) && opts.activeThreadWindowMs > 0)) {
    throw new InvalidArgumentError("instrumentSaver: activeThreadWindowMs must be a positive number of milliseconds");
  }
  threadActivity.widen(opts.activeThreadWindowMs);
  const detected = detectSystem(saver);
  const system = opts.dbSystemName ?? detected.system;
  const namespace = opts.dbNamespace ?? detected.namespace;
  const telemetry = new Telemetry(opts, buildInstruments);
  const sizer = new CheckpointSizer(saver.serde);
  const warnedThreads = new Set<string>();
  const baseAttrs: Attributes = { [ATTR_DB_SYSTEM_NAME]: system };
  if (namespace !== undefined) baseAttrs[ATTR_DB_NAMESPACE] = namespace;

  const startSpan = (method: string, args: unknown[], parent: Context): Span => {
    const attrs: Attributes = { ...baseAttrs, [ATTR_DB_OPERATION_NAME]: method, ...startAttrs(method, args) };
    const thread = attrs[ATTR_THREAD_ID];
    if (typeof thread === "string") {
      if (method === "deleteThread") threadActivity.forget(thread);
      else threadActivity.touch(thread);
    }
    const name = namespace === undefined ? method : `${method} ${namespace}`;
    return telemetry.tracer().startSpan(name, { kind: SpanKind.CLIENT, attributes: attrs }, parent);
  };

  const finish = (span: Span, method: string, start: number, error: unknown, failed: boolean) => {
    safely("ending a saver span", () => {
      const attrs: Attributes = { ...baseAttrs, [ATTR_DB_OPERATION_NAME]: method };
      if (failed) {
        attrs[ATTR_ERROR_TYPE] = errorType(error);
        recordError(span, error);
      }
      telemetry.instruments().duration.record(secondsSince(start), attrs);
      span.end();
    });
  };

  const afterGetTuple = (span: Span, args: unknown[], tuple: CheckpointTuple | undefined) => {
    span.setAttribute(ATTR_FOUND, tuple !== undefined);
    if (tuple === undefined) return;
    span.setAttributes({ [ATTR_CHECKPOINT_ID]: tuple.checkpoint.id, ...metadataAttrs(tuple.metadata) });
    const explicit = typeof (args[0] as RunnableConfig | undefined)?.configurable?.checkpoint_id === "string";
    telemetry.instruments().restores.add(1, { ...baseAttrs, [ATTR_RESTORE_KIND]: explicit ? "by_id" : "latest" });
  };

  const afterPut = async (span: Span, args: unknown[]) => {
    if (!opts.measureSize || (!span.isRecording() && telemetry.metricsOff())) return;
    const config = args[0] as RunnableConfig;
    const thread = String(config.configurable?.thread_id ?? "");
    const ns = String(config.configurable?.checkpoint_ns ?? "");
    const metadata = args[2] as CheckpointMetadata;
    const bytes = await sizer.measure(thread, ns, args[1] as Checkpoint, metadata);
    safely("recording the checkpoint size", () => {
      span.setAttribute(ATTR_CHECKPOINT_SIZE, bytes);
      const attrs: Attributes = { ...baseAttrs };
      if (typeof metadata?.source === "string") attrs[ATTR_SOURCE] = metadata.source;
      telemetry.instruments().size.record(bytes, attrs);
      if (bytes > opts.largeCheckpointBytes) {
        span.addEvent(EVENT_LARGE_CHECKPOINT, {
          [ATTR_CHECKPOINT_SIZE]: bytes,
          "graphkeep.checkpoint.size_threshold": opts.largeCheckpointBytes,
        });
        if (!warnedThreads.has(thread)) {
          if (warnedThreads.size >= 10_000) warnedThreads.clear();
          warnedThreads.add(thread);
          diag.warn(
            `@graphkeep/otel: checkpoint of thread "${thread}" is ${bytes} bytes, over largeCheckpointBytes (${opts.largeCheckpointBytes}); keep large data out of the graph state (further large checkpoints of this thread only add span events)`,
          );
        }
      }
    });
  };

  const wrapPromise = (method: string, fn: (...args: unknown[]) => Promise<unknown>) =>
    async function instrumented(...args: unknown[]): Promise<unknown> {
      const parent = openRuns.parentFor(threadOf(method, args));
      const span = safely("starting a saver span", () => startSpan(method, args, parent));
      if (span === undefined) return fn(...args);
      const start = performance.now();
      let result: unknown;
      try {
        result = await context.with(trace.setSpan(parent, span), () => fn(...args));
      } catch (e) {
        finish(span, method, start, e, true);
        throw e;
      }
      try {
        if (method === "getTuple") afterGetTuple(span, args, result as CheckpointTuple | undefined);
        else if (method === "put") await afterPut(span, args);
        else if (method === "deleteThread" && typeof args[0] === "string") sizer.forget(args[0]);
      } catch (e) {
        diag.error("@graphkeep/otel: saver span attributes failed", e);
      }
      finish(span, method, start, undefined, false);
      return result;
    };

  const wrapIterator = (method: string, fn: (...args: unknown[]) => AsyncIterable<unknown>) =>
    function instrumented(...args: unknown[]): AsyncGenerator<unknown> {
      const parent = openRuns.parentFor(threadOf(method, args));
      return tracedIteration(parent, () => fn(...args)[Symbol.asyncIterator](), {
        start: () => safely("starting a saver span", () => startSpan(method, args, parent)),
        end: (span, start, count, completed, error, failed) => {
          safely("ending a saver list span", () => {
            span.setAttributes({ [ATTR_DB_RESPONSE_RETURNED_ROWS]: count, [ATTR_LIST_COMPLETED]: completed });
          });
          finish(span, method, start, error, failed);
        },
      });
    };

  const wrappers = new Map<PropertyKey, unknown>();
  for (const method of PROMISE_METHODS) {
    const fn = (saver as unknown as Record<string, unknown>)[method];
    if (typeof fn === "function") {
      wrappers.set(method, wrapPromise(method, (fn as (...a: unknown[]) => Promise<unknown>).bind(saver)));
    }
  }
  for (const method of ITERATOR_METHODS) {
    const fn = (saver as unknown as Record<string, unknown>)[method];
    if (typeof fn === "function") {
      wrappers.set(method, wrapIterator(method, (fn as (...a: unknown[]) => AsyncIterable<unknown>).bind(saver)));
    }
  }
  const bound = new Map<PropertyKey, { original: unknown; bound: unknown }>();
  return new Proxy(saver, {
    get(target, prop) {
      if (prop === INSTRUMENTED) return true;
      const wrapper = wrappers.get(prop);
      if (wrapper !== undefined) return wrapper;
      const value = Reflect.get(target, prop, target);
      if (typeof value !== "function") return value;
      // methods run on the saver itself: private fields are not reachable through a proxy
      const cached = bound.get(prop);
      if (cached?.original === value) return cached.bound;
      const fn = (value as (...a: unknown[]) => unknown).bind(target);
      bound.set(prop, { original: value, bound: fn });
      return fn;
    },
  });
}

function stripUndefined<O extends object>(o: O): Partial<O> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<O>;
}

/** Hooks of {@link tracedIteration}. */
export interface IterationHooks {
  start(): Span | undefined;
  end(span: Span, start: number, count: number, completed: boolean, error: unknown, failed: boolean): void;
}

/**
 * An async generator over `open()`'s iterator whose span starts on the first `next()` and ends when the
 * iteration completes, fails, or is abandoned (`return()` / `throw()`, `break` in `for await`). Each step of the
 * inner iterator runs with the span active.
 */
export function tracedIteration(
  parent: Context,
  open: () => AsyncIterator<unknown>,
  hooks: IterationHooks,
): AsyncGenerator<unknown> {
  let state: { span: Span | undefined; ctx: Context; it: AsyncIterator<unknown>; start: number } | undefined;
  let ended = false;
  let count = 0;
  const begin = () => {
    if (state) return state;
    const span = hooks.start();
    const ctx = span ? trace.setSpan(parent, span) : parent;
    state = { span, ctx, it: context.with(ctx, open), start: performance.now() };
    return state;
  };
  const end = (completed: boolean, error: unknown, failed: boolean) => {
    if (ended) return;
    ended = true;
    if (state?.span) hooks.end(state.span, state.start, count, completed, error, failed);
  };
  const generator: AsyncGenerator<unknown> = {
    async next(...args: [] | [unknown]) {
      if (ended) return { done: true, value: undefined };
      const s = begin();
      try {
        const r = await context.with(s.ctx, () => s.it.next(...args));
        if (r.done) end(true, undefined, false);
        else count += 1;
        return r;
      } catch (e) {
        end(false, e, true);
        throw e;
      }
    },
    async return(value?: unknown) {
      if (!state || ended) {
        ended = true;
        return { done: true, value };
      }
      const s = state;
      try {
        const r = s.it.return ? await context.with(s.ctx, () => s.it.return?.(value)) : undefined;
        end(false, undefined, false);
        return r ?? { done: true, value };
      } catch (e) {
        end(false, e, true);
        throw e;
      }
    },
    async throw(error?: unknown) {
      if (!state || ended) {
        ended = true;
        throw error;
      }
      const s = state;
      try {
        if (!s.it.throw) throw error;
        const r = await context.with(s.ctx, () => s.it.throw?.(error) as Promise<IteratorResult<unknown>>);
        if (r.done) end(false, error, true);
        return r;
      } catch (e) {
        end(false, e, true);
        throw e;
      }
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
  return generator;
}
