import { InvalidArgumentError } from "@graphkeep/core";
import type { RunnableConfig } from "@langchain/core/runnables";
import type {
  BaseCheckpointSaver,
  ChannelVersions,
  Checkpoint,
  CheckpointMetadata,
} from "@langchain/langgraph-checkpoint";
import { CostTracker } from "./tracker.js";

/** Spend of one checkpoint's step, or of its thread so far. */
export interface CostAmount {
  usd: number;
  /** Input + output tokens. */
  tokens: number;
}

/** What {@link withCostMetadata} adds to each checkpoint's metadata under `cost`. */
export interface CheckpointCost {
  /** Spent since the parent checkpoint (the step that produced this checkpoint). */
  step: CostAmount;
  /** Spent by the thread up to this checkpoint. */
  total: CostAmount;
}

const WRAPPED = Symbol.for("graphkeep.cost.withCostMetadata");

/**
 * Wraps a checkpoint saver so each `put` adds `metadata.cost = { step, total }` (USD and tokens) from the tracker's
 * thread totals; `getStateHistory` then shows spend per step, from any store. Everything else is delegated
 * unchanged, and the result is still the same saver (`instanceof` holds). Wrapping twice is refused.
 *
 * The step is the thread total at this `put` minus the total recorded on the parent checkpoint, so it includes
 * calls of every run on the thread in between (run one graph per thread at a time for exact per-step figures).
 *
 * @throws {InvalidArgumentError} when `saver` is not a saver, `tracker` not a CostTracker, or `saver` is already wrapped
 * @example
 * const saver = withCostMetadata(new KeyvSaver(keyv), tracker);
 * for await (const s of graph.getStateHistory(config)) console.log(s.metadata?.step, s.metadata?.cost);
 */
export function withCostMetadata<S extends BaseCheckpointSaver>(saver: S, tracker: CostTracker): S {
  if (typeof saver !== "object" || saver === null || typeof saver.put !== "function") {
    throw new InvalidArgumentError("withCostMetadata: saver must be a BaseCheckpointSaver");
  }
  if (!(tracker instanceof CostTracker))
    throw new InvalidArgumentError("withCostMetadata: tracker must be a CostTracker");
  if ((saver as unknown as Record<symbol, unknown>)[WRAPPED] === true) {
    throw new InvalidArgumentError("withCostMetadata: this saver is already wrapped");
  }
  /** Last total written per thread + namespace + checkpoint id, so the next step's parent is usually in memory. */
  const lastTotals = new Map<string, CostAmount>();

  async function parentTotal(config: RunnableConfig, threadId: string, ns: string): Promise<CostAmount> {
    const parentId = config.configurable?.checkpoint_id as string | undefined;
    if (parentId === undefined) return { usd: 0, tokens: 0 };
    const known = lastTotals.get(`${threadId}\u0000${ns}\u0000${parentId}`);
    if (known) return known;
    const parent = await saver.getTuple(config);
    const cost = (parent?.metadata as { cost?: Partial<CheckpointCost> } | undefined)?.cost?.total;
    return { usd: Number(cost?.usd) || 0, tokens: Number(cost?.tokens) || 0 };
  }

  async function put(
    config: RunnableConfig,
    checkpoint: Checkpoint,
    metadata: CheckpointMetadata,
    newVersions: ChannelVersions,
  ): Promise<RunnableConfig> {
    const threadId = config.configurable?.thread_id as string | undefined;
    if (typeof threadId !== "string" || threadId === "") return saver.put(config, checkpoint, metadata, newVersions);
    const ns = (config.configurable?.checkpoint_ns as string | undefined) ?? "";
    const [totals, before] = await Promise.all([tracker.totals({ threadId }), parentTotal(config, threadId, ns)]);
    const total = { usd: totals.usd, tokens: totals.inputTokens + totals.outputTokens };
    const step = { usd: Math.max(0, total.usd - before.usd), tokens: Math.max(0, total.tokens - before.tokens) };
    const cost: CheckpointCost = { step, total };
    if (lastTotals.size > 10_000) lastTotals.clear();
    lastTotals.set(`${threadId}\u0000${ns}\u0000${checkpoint.id}`, total);
    return saver.put(config, checkpoint, { ...metadata, cost } as CheckpointMetadata, newVersions);
  }

  return new Proxy(saver, {
    get(target, prop) {
      if (prop === WRAPPED) return true;
      if (prop === "put") return put;
      const value = Reflect.get(target, prop);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
