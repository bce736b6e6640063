/** What a policy rule sees when LangGraph hands over a checkpoint. */
export interface PolicyContext {
  /** The thread of the run. */
  threadId: string;
  /** `metadata.step` of the checkpoint. */
  step: number;
  /** The nodes whose writes this checkpoint applied (the step that just finished). */
  nodes: readonly string[];
  /** Milliseconds since the last persisted checkpoint of this run (or since the run started). */
  sinceLastSaveMs: number;
  /** USD spent on model calls of this thread since the last persisted checkpoint (needs `tracker`). */
  spendSinceLastSave: number;
  /** Checkpoints held in memory since the last persisted one, this one excluded. */
  held: number;
}

/** Why a checkpoint was persisted. */
export type SaveReason =
  /** not a loop step: the run's input, a fork or an `updateState` */
  | "source"
  /** a node named in `saveOn` ran */
  | "saveOn"
  /** `every` elapsed */
  | "every"
  /** spend passed `whenCostOver` */
  | "cost"
  /** the `when` predicate said so */
  | "when"
  /** the graph has a `DeltaChannel`: its values live in per-step writes, so every step is kept */
  | "delta"
  /** a `task()` inside a node returned: its result is stored with the checkpoint it was computed against */
  | "task"
  /** the run ended (finished, interrupted or failed): its latest checkpoint */
  | "end";

/** What {@link CheckpointPolicyOptions.onSave} receives for each persisted checkpoint. */
export interface SaveEvent {
  threadId: string;
  checkpointId: string;
  step: number;
  reason: SaveReason;
  /** Checkpoints that were held in memory and are never stored (superseded by this one). */
  skipped: number;
}

/** The subset of a `@graphkeep/cost` `CostTracker` the policy reads: the USD of each model call, as it ends. */
export interface SpendSource {
  /** @internal subscribes to every priced call in this process; returns the unsubscribe function. */
  _subscribe(listener: (record: { threadId: string | undefined; usd: number }) => void): () => void;
}

/** Options of {@link withCheckpointPolicy}. Any rule that matches persists the checkpoint. */
export interface CheckpointPolicyOptions {
  /**
   * Persist the checkpoint written after any of these nodes ran. Unknown node names are refused.
   * @default []
   */
  saveOn?: readonly string[] | undefined;
  /**
   * Persist when this long has passed since the last persisted checkpoint: milliseconds, or a string such as
   * `"500ms"`, `"30s"`, `"5m"`, `"1h"`.
   * @default undefined (no interval)
   */
  every?: number | string | undefined;
  /**
   * Persist when the model spend of the thread since the last persisted checkpoint exceeds this many USD.
   * Needs `tracker` (the same `CostTracker` passed in the run's `callbacks`).
   * @default undefined
   */
  whenCostOver?: number | undefined;
  /**
   * The `@graphkeep/cost` tracker whose priced calls count towards `whenCostOver`.
   * @default undefined
   */
  tracker?: SpendSource | undefined;
  /**
   * Your own rule, called for each loop checkpoint the other rules did not select; return true to persist it.
   * @default undefined
   */
  when?: ((ctx: PolicyContext) => boolean) | undefined;
  /**
   * Called after each checkpoint the policy persisted (never throws into the run: errors are ignored).
   * @default undefined
   */
  onSave?: ((event: SaveEvent) => void) | undefined;
}
