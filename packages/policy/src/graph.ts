import { InvalidArgumentError, InvalidConfigError } from "@graphkeep/core";
import type { BaseCheckpointSaver } from "@langchain/langgraph-checkpoint";
import { parseDuration } from "./duration.js";
import { PolicyRunSaver, type Rules } from "./run-saver.js";
import type { CheckpointPolicyOptions } from "./types.js";

/** What {@link withCheckpointPolicy} needs of a graph: a compiled LangGraph graph with a checkpointer fits. */
export interface PolicyGraph {
  invoke(input: never, options?: never): Promise<unknown>;
  stream(input: never, options?: never): Promise<unknown>;
}

type Options = { configurable?: Record<string, unknown>; durability?: string; checkpointDuring?: boolean } & Record<
  string,
  unknown
>;

/** LangGraph's config key for a checkpointer lent to a run (how a parent graph lends its own to subgraphs). */
const LENT_CHECKPOINTER = "__pregel_checkpointer";
const POLICY = Symbol.for("@graphkeep/policy.graph");

function isSaver(s: unknown): s is BaseCheckpointSaver {
  const o = s as Partial<Record<string, unknown>> | null | undefined;
  return (
    o !== null &&
    typeof o === "object" &&
    ["getTuple", "list", "put", "putWrites", "getNextVersion"].every((m) => typeof o[m] === "function")
  );
}

function threadIdOf(options: Options | undefined, method: string): string {
  const t = options?.configurable?.thread_id;
  if (typeof t === "string" && t !== "") return t;
  if (typeof t === "number" && Number.isFinite(t)) return String(t);
  throw new InvalidConfigError(
    `withCheckpointPolicy.${method}: config.configurable.thread_id is required (a non-empty string); pass { configurable: { thread_id: "user-42" } }`,
  );
}

function resolveRules(graph: object, options: CheckpointPolicyOptions): Rules {
  const o = (options ?? {}) as CheckpointPolicyOptions;
  const saveOn = o.saveOn ?? [];
  if (!Array.isArray(saveOn) || saveOn.some((n) => typeof n !== "string" || n === "")) {
    throw new InvalidArgumentError("withCheckpointPolicy: saveOn must be an array of node names");
  }
  const nodes = (graph as { nodes?: unknown }).nodes;
  if (nodes !== null && typeof nodes === "object") {
    const unknown = saveOn.filter((n) => !Object.hasOwn(nodes, n));
    if (unknown.length > 0) {
      throw new InvalidArgumentError(
        `withCheckpointPolicy: saveOn names no node of this graph: ${unknown.join(", ")} (nodes: ${Object.keys(nodes).join(", ")})`,
      );
    }
  }
  const everyMs = o.every === undefined ? undefined : parseDuration(o.every, "withCheckpointPolicy: every");
  if (o.whenCostOver !== undefined) {
    if (!(typeof o.whenCostOver === "number" && Number.isFinite(o.whenCostOver) && o.whenCostOver >= 0)) {
      throw new InvalidArgumentError("withCheckpointPolicy: whenCostOver must be a number of USD >= 0");
    }
    if (typeof o.tracker?._subscribe !== "function") {
      throw new InvalidArgumentError(
        "withCheckpointPolicy: whenCostOver needs tracker, the @graphkeep/cost CostTracker your runs pass in callbacks",
      );
    }
  }
  for (const k of ["when", "onSave"] as const) {
    if (o[k] !== undefined && typeof o[k] !== "function") {
      throw new InvalidArgumentError(`withCheckpointPolicy: ${k} must be a function`);
    }
  }
  return { saveOn: new Set(saveOn), everyMs, whenCostOver: o.whenCostOver, when: o.when, onSave: o.onSave };
}

/**
 * Makes a compiled graph persist only the checkpoints a policy selects: after the nodes in `saveOn`, when `every`
 * has passed, or when the thread's model spend since the last save exceeds `whenCostOver`. The other checkpoints of
 * a run are held in memory; the run's input checkpoint and its latest checkpoint when it ends — finished,
 * interrupted or failed — are always persisted, so `getState`, `invoke(null)` and `Command({ resume })` work as
 * before. Every stored checkpoint's parent is a stored checkpoint. A process that dies mid-run re-runs the steps
 * since the last persisted checkpoint.
 *
 * Each `invoke` / `stream` / `streamEvents` lends LangGraph a per-run checkpointer that wraps the graph's own; reads
 * (`getState`, `getStateHistory`) and `updateState` use the graph's checkpointer directly. Runs default to
 * `durability: "sync"` (a selected checkpoint is stored before the next step starts); pass `durability` to change it.
 * Subgraph checkpoints are stored as usual.
 *
 * @param graph A compiled graph with a checkpointer (`workflow.compile({ checkpointer })`).
 * @param options The rules; any that matches persists the checkpoint.
 * @returns The same graph (a proxy) with policy-driven persistence.
 * @throws {InvalidArgumentError} when the graph has no checkpointer, was already wrapped, or an option is invalid.
 * @example
 * const graph = withCheckpointPolicy(workflow.compile({ checkpointer }), {
 *   saveOn: ["analyze", "validate"], every: "30s", whenCostOver: 0.1, tracker,
 * });
 * await graph.invoke(input, { configurable: { thread_id: "t1" }, callbacks: [tracker] });
 */
export function withCheckpointPolicy<G extends PolicyGraph>(graph: G, options: CheckpointPolicyOptions = {}): G {
  const g = graph as unknown as Record<PropertyKey, unknown> | null;
  if (g === null || typeof g !== "object" || typeof g.invoke !== "function" || typeof g.stream !== "function") {
    throw new InvalidArgumentError(
      "withCheckpointPolicy: the first argument must be a compiled graph (workflow.compile()) with invoke() and stream()",
    );
  }
  if (g[POLICY] === true) {
    throw new InvalidArgumentError(
      "withCheckpointPolicy: this graph already has a checkpoint policy; wrap the original",
    );
  }
  const inner = g.checkpointer as BaseCheckpointSaver | undefined;
  if (!isSaver(inner)) {
    throw new InvalidArgumentError(
      "withCheckpointPolicy: the graph has no checkpointer; compile it with one (workflow.compile({ checkpointer }))",
    );
  }
  const rules = resolveRules(graph, options);
  const tracker = options.tracker;

  const begin = (method: string, callOptions: unknown) => {
    const opts = callOptions as Options | undefined;
    const threadId = threadIdOf(opts, method);
    const saver = new PolicyRunSaver(inner, threadId, rules);
    const unsubscribe =
      rules.whenCostOver !== undefined && tracker
        ? tracker._subscribe((r) => {
            if (r.threadId === threadId) saver.addSpend(r.usd);
          })
        : undefined;
    const durability = opts?.durability ?? (opts?.checkpointDuring === undefined ? "sync" : undefined);
    const lent: Options = {
      ...opts,
      ...(durability === undefined ? {} : { durability }),
      configurable: { ...opts?.configurable, [LENT_CHECKPOINTER]: saver },
    };
    let ended: Promise<void> | undefined;
    const end = () => {
      ended ??= (async () => {
        unsubscribe?.();
        await saver.end();
      })();
      return ended;
    };
    return { options: lent, end };
  };

  const call = (method: string, ...args: unknown[]) => (g[method] as (...a: unknown[]) => unknown).apply(graph, args);

  const invoke = async (input: unknown, callOptions?: unknown) => {
    const run = begin("invoke", callOptions);
    let out: unknown;
    try {
      out = await call("invoke", input, run.options);
    } catch (e) {
      await run.end().catch(() => undefined);
      throw e;
    }
    await run.end();
    return out;
  };

  const stream = async (input: unknown, callOptions?: unknown) => {
    const run = begin("stream", callOptions);
    let out: unknown;
    try {
      out = await call("stream", input, run.options);
    } catch (e) {
      await run.end().catch(() => undefined);
      throw e;
    }
    return endWithIteration(out, run.end);
  };

  const streamEvents = (input: unknown, callOptions?: unknown, streamOptions?: unknown) => {
    const run = begin("streamEvents", callOptions);
    let out: unknown;
    try {
      out = call("streamEvents", input, run.options, streamOptions);
    } catch (e) {
      void run.end().catch(() => undefined);
      throw e;
    }
    if (out !== null && typeof (out as PromiseLike<unknown>).then === "function") {
      return (out as Promise<unknown>).then(
        (v) => endWithIteration(v, run.end),
        async (e: unknown) => {
          await run.end().catch(() => undefined);
          throw e;
        },
      );
    }
    return endWithIteration(out, run.end);
  };

  const wrappers = new Map<PropertyKey, unknown>([
    ["invoke", invoke],
    ["stream", stream],
  ]);
  if (typeof g.streamEvents === "function") wrappers.set("streamEvents", streamEvents);
  return new Proxy(graph, {
    get(target, prop) {
      if (prop === POLICY) return true;
      const wrapper = wrappers.get(prop);
      if (wrapper !== undefined) return wrapper;
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/**
 * Patches a stream's `next` / `return` / `throw` so `end` runs once when the iteration completes, fails or is
 * returned, before the caller sees the end (so the state is stored when the loop ends). Non-iterators end at once.
 */
function endWithIteration<S>(stream: S, end: () => Promise<void>): S {
  const it = stream as Partial<AsyncIterator<unknown>> | null;
  if (it === null || typeof it !== "object" || typeof it.next !== "function") {
    void end().catch(() => undefined);
    return stream;
  }
  const next = it.next.bind(it);
  const ret = it.return?.bind(it);
  const thr = it.throw?.bind(it);
  Object.defineProperty(it, "next", {
    configurable: true,
    writable: true,
    value: async (...args: [] | [unknown]) => {
      let r: IteratorResult<unknown>;
      try {
        r = await next(...args);
      } catch (e) {
        await end().catch(() => undefined);
        throw e;
      }
      if (r.done) await end();
      return r;
    },
  });
  Object.defineProperty(it, "return", {
    configurable: true,
    writable: true,
    value: async (value?: unknown) => {
      try {
        return ret ? await ret(value) : { done: true, value };
      } finally {
        await end();
      }
    },
  });
  Object.defineProperty(it, "throw", {
    configurable: true,
    writable: true,
    value: async (error?: unknown) => {
      try {
        if (!thr) throw error;
        return await thr(error);
      } finally {
        await end().catch(() => undefined);
      }
    },
  });
  return stream;
}
