import type { RunnableConfig } from "@langchain/core/runnables";
import {
  BaseCheckpointSaver,
  type ChannelVersions,
  type Checkpoint,
  type CheckpointListOptions,
  type CheckpointMetadata,
  type CheckpointTuple,
  type PendingWrite,
} from "@langchain/langgraph-checkpoint";
import type { PolicyContext, SaveEvent, SaveReason } from "./types.js";

/** The decision rules of one run, resolved from the options. */
export interface Rules {
  saveOn: ReadonlySet<string>;
  everyMs: number | undefined;
  whenCostOver: number | undefined;
  when: ((ctx: PolicyContext) => boolean) | undefined;
  onSave: ((event: SaveEvent) => void) | undefined;
}

interface HeldPut {
  config: RunnableConfig;
  checkpoint: Checkpoint;
  metadata: CheckpointMetadata;
  newVersions: ChannelVersions;
}

interface HeldWrites {
  config: RunnableConfig;
  writes: PendingWrite[];
  taskId: string;
  taskPath: string | undefined;
}

/** The channel a functional-API `task()` writes its result to. */
const RETURN = "__return__";
const DELTA_KEYS = ["delta_writes_versioned", "counters_since_delta_snapshot"];

const idOf = (config: RunnableConfig | undefined): string | undefined => {
  const id = config?.configurable?.checkpoint_id;
  return typeof id === "string" && id !== "" ? id : undefined;
};
const nsOf = (config: RunnableConfig | undefined): string => {
  const ns = config?.configurable?.checkpoint_ns;
  return typeof ns === "string" ? ns : "";
};

/**
 * @internal The checkpointer one policy run lends to LangGraph: stores the checkpoints the rules select, holds the
 * others in memory (only the latest matters), and persists the latest at `end()`. Parents always point at stored
 * checkpoints and every stored checkpoint carries the channel versions changed since the previous stored one.
 * Reads go to the wrapped saver. Subgraph namespaces and anything after `end()` pass straight through.
 */
export class PolicyRunSaver extends BaseCheckpointSaver {
  readonly #inner: BaseCheckpointSaver;
  readonly #rules: Rules;
  readonly #threadId: string;
  /** ids known to be in the store (loaded or persisted by this run) */
  readonly #stored = new Set<string>();
  /** ids this run put but did not store */
  readonly #skipped = new Set<string>();
  /** writes against checkpoints not (yet) known to be stored, by checkpoint id */
  readonly #heldWrites = new Map<string, HeldWrites[]>();
  /** channels changed in held checkpoints since the last stored one */
  readonly #changed = new Set<string>();
  #latest: HeldPut | undefined;
  #lastStoredId: string | undefined;
  #lastSeen: Checkpoint["versions_seen"] | undefined;
  #lastSaveAt = Date.now();
  #spend = 0;
  #heldCount = 0;
  #ended = false;
  /** the wrapped saver's calls made by this run, in order */
  #chain: Promise<unknown> = Promise.resolve();

  constructor(inner: BaseCheckpointSaver, threadId: string, rules: Rules) {
    super(inner.serde);
    this.#inner = inner;
    this.#threadId = threadId;
    this.#rules = rules;
  }

  /** Adds the USD of a model call of this thread. */
  addSpend(usd: number): void {
    if (Number.isFinite(usd) && usd > 0) this.#spend += usd;
  }

  override getNextVersion(current: number | undefined): number {
    return this.#inner.getNextVersion(current);
  }

  override async getTuple(config: RunnableConfig): Promise<CheckpointTuple | undefined> {
    const tuple = await this.#inner.getTuple(config);
    if (tuple && nsOf(tuple.config) === "") {
      const id = idOf(tuple.config);
      if (id !== undefined) this.#stored.add(id);
      if (!this.#ended && this.#lastSeen === undefined) {
        this.#lastSeen = tuple.checkpoint.versions_seen;
        this.#lastStoredId ??= id;
      }
    }
    return tuple;
  }

  override list(config: RunnableConfig, options?: CheckpointListOptions): AsyncGenerator<CheckpointTuple> {
    return this.#inner.list(config, options);
  }

  override getDeltaChannelHistory(options: Parameters<BaseCheckpointSaver["getDeltaChannelHistory"]>[0]) {
    return this.#inner.getDeltaChannelHistory(options);
  }

  override deleteThread(threadId: string): Promise<void> {
    return this.#inner.deleteThread(threadId);
  }

  override async put(
    config: RunnableConfig,
    checkpoint: Checkpoint,
    metadata: CheckpointMetadata,
    newVersions: ChannelVersions,
  ): Promise<RunnableConfig> {
    if (nsOf(config) !== "") return this.#inner.put(config, checkpoint, metadata, newVersions);
    const put: HeldPut = { config, checkpoint, metadata, newVersions };
    const nodes = this.#ranNodes(checkpoint.versions_seen);
    this.#lastSeen = checkpoint.versions_seen;
    const reason = this.#ended ? "end" : this.#decide(metadata, nodes);
    if (reason !== undefined) return this.#serial(() => this.#store(put, reason));
    // held: drop what the previous held checkpoint carried, it is superseded by this one
    if (this.#latest) this.#drop(this.#latest);
    for (const k of Object.keys(newVersions)) this.#changed.add(k);
    this.#latest = put;
    this.#heldCount++;
    return {
      configurable: { thread_id: config.configurable?.thread_id, checkpoint_ns: "", checkpoint_id: checkpoint.id },
    };
  }

  override async putWrites(
    config: RunnableConfig,
    writes: PendingWrite[],
    taskId: string,
    taskPath?: string,
  ): Promise<void> {
    const id = idOf(config);
    if (nsOf(config) !== "" || id === undefined || this.#stored.has(id)) {
      return this.#inner.putWrites(config, writes, taskId, taskPath);
    }
    // a `task()` result (a durable sub-step of a node) must survive a crash: store the checkpoint it belongs to now
    if (!this.#ended && this.#latest?.checkpoint.id === id && writes.some(([channel]) => channel === RETURN)) {
      const latest = this.#latest;
      await this.#serial(() => (this.#latest === latest ? this.#store(latest, "task") : Promise.resolve(undefined)));
      if (this.#stored.has(id)) return this.#inner.putWrites(config, writes, taskId, taskPath);
    }
    const list = this.#heldWrites.get(id) ?? [];
    list.push({ config, writes, taskId, taskPath });
    this.#heldWrites.set(id, list);
  }

  /**
   * Persists the latest held checkpoint of the run and the writes made against it (the failed or interrupted
   * step's), then passes every later call through. Idempotent.
   */
  end(): Promise<void> {
    if (this.#ended) return this.#serial(async () => undefined);
    this.#ended = true;
    return this.#serial(async () => {
      const latest = this.#latest;
      if (latest) await this.#store(latest, "end");
      // writes against checkpoints this run never saw put (or loaded): keep them rather than lose them
      for (const [id, list] of [...this.#heldWrites]) {
        if (this.#skipped.has(id)) continue;
        this.#heldWrites.delete(id);
        for (const w of list) await this.#inner.putWrites(w.config, w.writes, w.taskId, w.taskPath);
      }
    });
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#chain.then(fn, fn);
    this.#chain = next.catch(() => undefined);
    return next;
  }

  #ranNodes(seen: Checkpoint["versions_seen"]): string[] {
    const before = this.#lastSeen ?? {};
    const out: string[] = [];
    for (const [node, versions] of Object.entries(seen ?? {})) {
      const prev = before[node];
      if (prev === undefined) {
        if (Object.keys(versions).length > 0) out.push(node);
        continue;
      }
      const keys = Object.keys(versions);
      if (keys.length !== Object.keys(prev).length || keys.some((k) => versions[k] !== prev[k])) out.push(node);
    }
    return out;
  }

  #decide(metadata: CheckpointMetadata, nodes: string[]): SaveReason | undefined {
    if (metadata.source !== "loop") return "source";
    const meta = metadata as Record<string, unknown>;
    if (DELTA_KEYS.some((k) => meta[k] !== undefined)) return "delta";
    if (nodes.some((n) => this.#rules.saveOn.has(n))) return "saveOn";
    const since = Date.now() - this.#lastSaveAt;
    if (this.#rules.everyMs !== undefined && since >= this.#rules.everyMs) return "every";
    if (this.#rules.whenCostOver !== undefined && this.#spend > this.#rules.whenCostOver) return "cost";
    if (this.#rules.when) {
      const ctx: PolicyContext = {
        threadId: this.#threadId,
        step: metadata.step,
        nodes,
        sinceLastSaveMs: since,
        spendSinceLastSave: this.#spend,
        held: this.#heldCount,
      };
      if (this.#rules.when(ctx)) return "when";
    }
    return undefined;
  }

  /** Forgets a held checkpoint that a newer one supersedes, and the writes made against it. */
  #drop(put: HeldPut): void {
    this.#skipped.add(put.checkpoint.id);
    this.#heldWrites.delete(put.checkpoint.id);
  }

  async #store(put: HeldPut, reason: SaveReason): Promise<RunnableConfig> {
    const { checkpoint, metadata } = put;
    const wasHeld = this.#latest === put;
    if (this.#latest && !wasHeld) this.#drop(this.#latest);
    this.#latest = undefined;
    if (this.#stored.has(checkpoint.id)) {
      return { configurable: { ...put.config.configurable, checkpoint_id: checkpoint.id } };
    }
    let config = put.config;
    const parent = idOf(config);
    if (parent !== undefined && this.#skipped.has(parent)) {
      const { checkpoint_id: _dropped, ...rest } = config.configurable ?? {};
      config = {
        ...config,
        configurable: this.#lastStoredId === undefined ? rest : { ...rest, checkpoint_id: this.#lastStoredId },
      };
    }
    const versions: ChannelVersions = {};
    for (const k of new Set([...this.#changed, ...Object.keys(put.newVersions)])) {
      const v = checkpoint.channel_versions[k];
      if (v !== undefined) versions[k] = v;
    }
    const out = await this.#inner.put(config, checkpoint, metadata, versions);
    this.#stored.add(checkpoint.id);
    this.#skipped.delete(checkpoint.id);
    this.#lastStoredId = checkpoint.id;
    this.#changed.clear();
    const skipped = wasHeld ? this.#heldCount - 1 : this.#heldCount;
    this.#heldCount = 0;
    this.#lastSaveAt = Date.now();
    this.#spend = 0;
    const writes = this.#heldWrites.get(checkpoint.id);
    if (writes) {
      this.#heldWrites.delete(checkpoint.id);
      for (const w of writes) await this.#inner.putWrites(w.config, w.writes, w.taskId, w.taskPath);
    }
    if (this.#rules.onSave) {
      try {
        this.#rules.onSave({
          threadId: this.#threadId,
          checkpointId: checkpoint.id,
          step: metadata.step,
          reason,
          skipped,
        });
      } catch {
        // a reporting hook never breaks the run
      }
    }
    return out;
  }
}
