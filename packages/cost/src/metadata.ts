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

/** The spend of one step, with its split by model (USD per model family) and the tenant of its calls. */
export interface StepCost extends CostAmount {
  /** USD per model family of the step's calls (absent when the step made none). */
  byModel?: Record<string, number>;
  /** The tenant of the step's calls (`tenantKey` in run metadata), when they had one. */
  tenant?: string;
}

/** What {@link withCostMetadata} adds to each checkpoint's metadata under `cost`. */
export interface CheckpointCost {
  /** Spent by the step that produced this checkpoint. */
  step: StepCost;
  /** Spent by the thread up to this checkpoint. */
  total: CostAmount;
}

const WRAPPED = Symbol.for("graphkeep.cost.withCostMetadata");

/**
 * The cost {@link withCostMetadata} wrote into a checkpoint's metadata, typed; undefined for a checkpoint without
 * one (written by another saver, or before the wrapper was added).
 *
 * @example
 * for await (const s of graph.getStateHistory(config)) console.log(s.metadata?.step, checkpointCost(s.metadata)?.step.usd);
 */
export function checkpointCost(metadata: unknown): CheckpointCost | undefined {
  const cost = (metadata as { cost?: unknown } | null | undefined)?.cost as Partial<CheckpointCost> | undefined;
  if (typeof cost !== "object" || cost === null) return undefined;
  if (typeof cost.step?.usd !== "number" || typeof cost.total?.usd !== "number") return undefined;
  return cost as CheckpointCost;
}

function addStep(a: StepCost | undefined, b: StepCost): StepCost {
  if (a === undefined) return { ...b, ...(b.byModel ? { byModel: { ...b.byModel } } : {}) };
  const byModel = { ...a.byModel };
  for (const [m, usd] of Object.entries(b.byModel ?? {})) byModel[m] = (byModel[m] ?? 0) + usd;
  const tenant = b.tenant ?? a.tenant;
  return {
    usd: a.usd + b.usd,
    tokens: a.tokens + b.tokens,
    ...(Object.keys(byModel).length > 0 ? { byModel } : {}),
    ...(tenant === undefined ? {} : { tenant }),
  };
}

/**
 * Wraps a checkpoint saver so each `put` adds `metadata.cost = { step, total }` (USD and tokens) from the tracker's
 * thread totals; `getStateHistory` then shows spend per step, from any store. Everything else is delegated
 * unchanged, and the result is still the same saver (`instanceof` holds). Wrapping twice is refused.
 *
 * The step is what the model calls of that superstep (`metadata.langgraph_step`) cost, as this process's tracker
 * recorded them, so LangGraph's asynchronous checkpoint writes never shift spend to a neighbouring step; a
 * checkpoint made by `updateState` or an input costs 0. The total is the thread's previous checkpoint total plus the
 * step (spend on every branch of the thread). Calls inside subgraphs count on the next root checkpoint.
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
  /** Thread total at the last `put` of each thread in this process, with that checkpoint's id. */
  const lastTotals = new Map<string, { checkpointId: string; total: CostAmount }>();
  /** Spend of calls made during each superstep of each thread, not yet written to a checkpoint. */
  const steps = new Map<string, StepCost>();
  tracker._subscribe((r) => {
    if (r.threadId === undefined) return;
    // calls without a root step (inside subgraphs) count on the next root checkpoint of the thread
    const key = `${r.threadId}\u0000${r.step ?? "*"}`;
    steps.set(
      key,
      addStep(steps.get(key), {
        usd: r.usd,
        tokens: r.inputTokens + r.outputTokens,
        byModel: { [r.family]: r.usd },
        ...(r.tenant === undefined ? {} : { tenant: r.tenant }),
      }),
    );
    if (steps.size > 10_000) steps.delete(steps.keys().next().value as string);
  });

  /**
   * The thread total at its previous checkpoint: in memory when this process wrote the checkpoint the new one
   * follows, else (another worker continued the thread, or a restart) from the thread's latest checkpoint.
   */
  async function previousTotal(threadId: string, parentId: unknown): Promise<CostAmount> {
    const known = lastTotals.get(threadId);
    if (known && known.checkpointId === parentId) return known.total;
    const latest = await saver.getTuple({ configurable: { thread_id: threadId, checkpoint_ns: "" } });
    const cost = (latest?.metadata as { cost?: Partial<CheckpointCost> } | undefined)?.cost?.total;
    return { usd: Number(cost?.usd) || 0, tokens: Number(cost?.tokens) || 0 };
  }

  async function put(
    config: RunnableConfig,
    checkpoint: Checkpoint,
    metadata: CheckpointMetadata,
    newVersions: ChannelVersions,
  ): Promise<RunnableConfig> {
    const threadId = config.configurable?.thread_id as string | undefined;
    const ns = (config.configurable?.checkpoint_ns as string | undefined) ?? "";
    // subgraph checkpoints carry no cost: their calls count on the root checkpoint of the same step
    if (typeof threadId !== "string" || threadId === "" || ns !== "") {
      return saver.put(config, checkpoint, metadata, newVersions);
    }
    const before = await previousTotal(threadId, config.configurable?.checkpoint_id);
    let step: StepCost = { usd: 0, tokens: 0 };
    if (metadata?.source === "loop" && typeof metadata.step === "number") {
      for (const key of [`${threadId}\u0000${metadata.step}`, `${threadId}\u0000*`]) {
        const part = steps.get(key);
        if (part === undefined) continue;
        step = addStep(step, part);
        steps.delete(key);
      }
    }
    const total = { usd: before.usd + step.usd, tokens: before.tokens + step.tokens };
    if (lastTotals.size > 10_000) lastTotals.clear();
    lastTotals.set(threadId, { checkpointId: checkpoint.id, total });
    const cost: CheckpointCost = { step, total };
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
