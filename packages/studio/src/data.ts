import {
  type ChannelChange,
  diffStates,
  errorsOf,
  NotFoundError,
  nextOf,
  nodesOf,
  plain,
  type Source,
  statusOf,
  type TaskError,
  type ThreadStatus,
} from "@graphkeep/cli";
import { InvalidArgumentError, ThreadExistsError } from "@graphkeep/core";
import { CostTracker } from "@graphkeep/cost";
import { KeyvSaver } from "@graphkeep/keyv-saver";
import { retentionPolicy, type SweepReport, sweep } from "@graphkeep/retention";
import type { RunnableConfig } from "@langchain/core/runnables";
import { type CheckpointTuple, JsonPlusSerializer, uuid6 } from "@langchain/langgraph-checkpoint";
import { costOf } from "./cost.js";

// Everything the page shows, read through the checkpoint saver's own API (getTuple, list, put) and KeyvSaver's
// admin helpers (listThreads, checkpointInfo, stats): the studio never reads a key itself.

const rootConfig = (threadId: string, checkpointId?: string): RunnableConfig => ({
  configurable: { thread_id: threadId, checkpoint_ns: "", ...(checkpointId ? { checkpoint_id: checkpointId } : {}) },
});
const meta = (t: CheckpointTuple) => (t.metadata ?? {}) as { step?: number; source?: string };
const parentIdOf = (t: CheckpointTuple) => t.parentConfig?.configurable?.checkpoint_id as string | undefined;

/** A thread id as the API accepts it: 1–256 printable characters. */
const THREAD_ID = {
  test: (s: string) =>
    s.length >= 1 && s.length <= 256 && ![...s].some((c) => c.charCodeAt(0) < 32 || c.charCodeAt(0) === 127),
};
/** A checkpoint id: LangGraph's are UUIDs; letters, digits, `-`, `_`, `.`, `:` up to 128. */
const CHECKPOINT_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** @throws {InvalidArgumentError} when `id` is not a thread id the API accepts */
export function checkThreadId(id: string, what = "thread id"): string {
  if (!THREAD_ID.test(id)) throw new InvalidArgumentError(`${what} must be 1–256 printable characters`);
  return id;
}

/** @throws {InvalidArgumentError} when `id` is not a checkpoint id */
export function checkCheckpointId(id: string): string {
  if (!CHECKPOINT_ID.test(id)) {
    throw new InvalidArgumentError("checkpoint id must be 1–128 letters, digits, '-', '_', '.' or ':'");
  }
  return id;
}

const unknownThread = (threadId: string) => new NotFoundError(`unknown thread "${threadId}" (no checkpoints here)`);

/** One row of the thread list. */
export interface ThreadRow {
  threadId: string;
  status: ThreadStatus;
  checkpoints: number | undefined;
  bytes: number | undefined;
  lastStep: number | undefined;
  costUsd: number | undefined;
  updatedAt: string | undefined;
  next: string[];
}

/** A page of the thread list. */
export interface ThreadPage {
  total: number;
  offset: number;
  limit: number;
  rows: ThreadRow[];
}

export type ThreadSort = "updated" | "-updated" | "id" | "-id";

/** Reads the store for the page; remembers rows until their thread's update time changes. */
export class StudioData {
  readonly #source: Source;
  readonly #writer: KeyvSaver | undefined;
  readonly #rows = new Map<string, { at: string | undefined; row: ThreadRow }>();

  /**
   * @param plainWrites write a fork's values as plain JSON (`JsonPlusSerializer`), readable by an app's saver with
   * or without `compressed()`; the CLI's serde (read: anything compressed; write: brotli from 1 KB) would write
   * values only a `compressed()` serde reads. Off with a key: encrypted stores keep their serde.
   */
  constructor(source: Source, o: { plainWrites?: boolean } = {}) {
    this.#source = source;
    const saver = source.saver;
    if (saver !== undefined && o.plainWrites === true) {
      const plain = new JsonPlusSerializer();
      this.#writer = new KeyvSaver(saver.keyv, {
        serde: {
          dumpsTyped: (v: unknown) => plain.dumpsTyped(v),
          loadsTyped: (type: string, data: Uint8Array | string) => saver.serde.loadsTyped(type, data),
        },
      });
    } else this.#writer = saver;
  }

  get source(): Source {
    return this.#source;
  }

  /** The threads matching `q` (a substring of the id), sorted, one page of them with their details. */
  async threads(o: { offset: number; limit: number; q: string; sort: ThreadSort }): Promise<ThreadPage> {
    const all: Array<{ threadId: string; updatedAt: Date | undefined }> = [];
    const q = o.q.toLowerCase();
    for await (const t of this.#source.threads()) {
      if (q === "" || t.threadId.toLowerCase().includes(q)) all.push(t);
    }
    const time = (d: Date | undefined) => d?.getTime() ?? 0;
    const by: Record<ThreadSort, (a: (typeof all)[0], b: (typeof all)[0]) => number> = {
      updated: (a, b) => time(b.updatedAt) - time(a.updatedAt),
      "-updated": (a, b) => time(a.updatedAt) - time(b.updatedAt),
      id: (a, b) => a.threadId.localeCompare(b.threadId),
      "-id": (a, b) => b.threadId.localeCompare(a.threadId),
    };
    all.sort(by[o.sort]);
    const page = all.slice(o.offset, o.offset + o.limit);
    const rows = await mapLimited(page, 8, (t) => this.#row(t.threadId, t.updatedAt));
    return { total: all.length, offset: o.offset, limit: o.limit, rows: rows.filter((r) => r !== undefined) };
  }

  async #row(threadId: string, updatedAt: Date | undefined): Promise<ThreadRow | undefined> {
    const at = updatedAt?.toISOString();
    const known = this.#rows.get(threadId);
    if (known !== undefined && at !== undefined && known.at === at) return known.row;
    const head = await this.#source.reader.getTuple(rootConfig(threadId));
    if (head === undefined) return undefined;
    const saver = this.#source.saver;
    const stats = saver ? await saver.stats(threadId) : undefined;
    const row: ThreadRow = {
      threadId,
      status: statusOf(head),
      checkpoints: stats?.checkpoints,
      bytes: stats?.bytes,
      lastStep: meta(head).step,
      costUsd: costOf(head).totalUsd,
      updatedAt: at ?? head.checkpoint.ts,
      next: nextOf(head).filter((n) => n !== "__start__"),
    };
    if (at !== undefined) this.#rows.set(threadId, { at, row });
    return row;
  }

  /**
   * Every checkpoint of the root namespace without its values, newest first: KeyvSaver's `checkpointInfo` (records
   * and metadata only, no channel value read), or `list()` for an official saver's store.
   */
  async #raw(threadId: string): Promise<Raw[]> {
    const saver = this.#source.saver;
    const out: Raw[] = [];
    if (saver) {
      for (const i of await saver.checkpointInfo(threadId)) {
        if (i.checkpointNs !== "") continue;
        out.push({
          id: i.checkpointId,
          parentId: i.parentId,
          step: i.step,
          source: i.source,
          createdAt: i.createdAt.toISOString(),
          pending: i.pendingWriteChannels,
          metadata: i.metadata ?? {},
          versionsSeen: i.versionsSeen ?? {},
        });
      }
    } else {
      for await (const t of this.#source.reader.list(rootConfig(threadId))) {
        out.push({
          id: t.checkpoint.id,
          parentId: parentIdOf(t) ?? null,
          step: meta(t).step,
          source: meta(t).source,
          createdAt: t.checkpoint.ts,
          pending: [...new Set((t.pendingWrites ?? []).map(([, ch]) => ch))],
          metadata: (t.metadata ?? {}) as Record<string, unknown>,
          versionsSeen: t.checkpoint.versions_seen ?? {},
        });
      }
    }
    if (out.length === 0) throw unknownThread(threadId);
    return out.sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  }

  /** One page of a thread's history, newest first, laid out as a tree; each node with its nodes and step cost. */
  async history(threadId: string, o: { offset: number; limit: number }): Promise<HistoryPage> {
    const raw = await this.#raw(threadId);
    const byId = new Map(raw.map((r) => [r.id, r]));
    const all = layout(raw.map(({ metadata: _m, versionsSeen: _v, ...n }) => n));
    const rows: HistoryNode[] = all.slice(o.offset, o.offset + o.limit).map((n) => {
      const r = byId.get(n.id) as Raw;
      const c = costOf(asTuple(r));
      return {
        ...n,
        nodes: ranOf(r, n.parentId === null ? undefined : byId.get(n.parentId)),
        stepUsd: c.stepUsd,
        totalUsd: c.totalUsd,
        forkedFrom: forkedFromOf(asTuple(r)),
      };
    });
    const head = raw[0] as Raw;
    const status: ThreadStatus = head.pending.includes("__interrupt__")
      ? "interrupted"
      : head.pending.includes("__error__")
        ? "failed"
        : // "running" or "done" needs the channel versions: one getTuple
          await this.#source.reader.getTuple(rootConfig(threadId)).then((t) => (t ? statusOf(t) : "running"));
    return {
      threadId,
      status,
      total: all.length,
      lanes: all.reduce((m, n) => Math.max(m, n.lane + 1), 0),
      offset: o.offset,
      limit: o.limit,
      rows,
    };
  }

  /** A checkpoint's state, its diff against its parent, pending writes, next tasks, interrupts and metadata. */
  async checkpoint(threadId: string, checkpointId: string): Promise<CheckpointView> {
    const t = await this.#source.reader.getTuple(rootConfig(threadId, checkpointId));
    if (t === undefined) {
      const head = await this.#source.reader.getTuple(rootConfig(threadId));
      if (head === undefined) throw unknownThread(threadId);
      throw new NotFoundError(`thread "${threadId}" has no checkpoint "${checkpointId}"`);
    }
    const parentId = parentIdOf(t);
    const parent = parentId ? await this.#source.reader.getTuple(rootConfig(threadId, parentId)) : undefined;
    const values = stateOf(t);
    const diff = diffStates(parent ? stateOf(parent) : {}, values);
    const pending = (t.pendingWrites ?? []).map(([taskId, channel, value]) => ({
      taskId,
      channel,
      value: plain(value),
    }));
    return {
      threadId,
      checkpointId: t.checkpoint.id,
      parentId: parentId ?? null,
      step: meta(t).step,
      source: meta(t).source,
      createdAt: t.checkpoint.ts,
      status: statusOf(t),
      next: nextOf(t).filter((n) => n !== "__start__"),
      values,
      diff,
      pendingWrites: pending.filter((w) => w.channel !== "__interrupt__" && w.channel !== "__error__"),
      interrupts: pending.filter((w) => w.channel === "__interrupt__").map((w) => w.value),
      errors: errorsOf(t),
      metadata: plain(t.metadata ?? {}) as Record<string, unknown>,
      nodes: nodesOf(t, parent),
    };
  }

  /** Per-step cost of every checkpoint of a thread, oldest first, with splits by model, node and tenant. */
  async cost(threadId: string): Promise<CostView> {
    const raw = await this.#raw(threadId);
    const byId = new Map(raw.map((r) => [r.id, r]));
    const steps: CostStep[] = [];
    const byModel: Record<string, number> = {};
    const byNode: Record<string, number> = {};
    const byTenant: Record<string, number> = {};
    for (const r of [...raw].reverse()) {
      const c = costOf(asTuple(r));
      const nodes = ranOf(r, r.parentId === null ? undefined : byId.get(r.parentId));
      steps.push({
        checkpointId: r.id,
        parentId: r.parentId,
        step: r.step,
        nodes,
        stepUsd: c.stepUsd ?? 0,
        totalUsd: c.totalUsd,
        tokens: c.stepTokens ?? 0,
        byModel: c.byModel,
        tenant: c.tenant,
      });
      if (!c.stepUsd) continue;
      const models = Object.entries(c.byModel);
      if (models.length === 0) byModel["(not recorded)"] = (byModel["(not recorded)"] ?? 0) + c.stepUsd;
      for (const [m, usd] of models) byModel[m] = (byModel[m] ?? 0) + usd;
      const node = nodes.join(", ") || "(unknown)";
      byNode[node] = (byNode[node] ?? 0) + c.stepUsd;
      const tenant = c.tenant ?? "(none)";
      byTenant[tenant] = (byTenant[tenant] ?? 0) + c.stepUsd;
    }
    return {
      threadId,
      recorded: steps.some((s) => s.totalUsd !== undefined),
      totalUsd: costOf(asTuple(raw[0] as Raw)).totalUsd,
      steps,
      byModel,
      byNode,
      byTenant,
      savedUsd: await this.#saved(threadId),
    };
  }

  /** What the LLM cache saved on this thread: a CostTracker ledger kept in the saver's own Keyv, when there is one. */
  async #saved(threadId: string): Promise<number | undefined> {
    const saver = this.#source.saver;
    if (saver === undefined) return undefined;
    try {
      const t = await new CostTracker({ store: saver.keyv, writerId: "graphkeep-studio" }).totals({ threadId });
      return t.calls > 0 ? t.savedUsd : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * What a retention policy deletes (`dryRun`: would delete) and the bytes it frees, over every thread or the given
   * ones — `@graphkeep/retention`'s sweep, as `graphkeep prune` runs it.
   * @throws {InvalidArgumentError} when neither `keepLatest` nor `maxAge` is given, or one is not valid
   */
  async retention(o: {
    keepLatest?: number | undefined;
    maxAge?: string | undefined;
    keepFinal?: boolean | undefined;
    threadIds?: string[] | undefined;
    dryRun: boolean;
  }): Promise<SweepReport & { dryRun: boolean }> {
    const saver = this.#source.saver;
    if (saver === undefined) {
      throw new InvalidArgumentError(
        `this store was written by LangGraph's ${this.#source.kind}: retention needs a graphkeep store`,
      );
    }
    if (o.keepLatest === undefined && o.maxAge === undefined) {
      throw new InvalidArgumentError("retention needs keepLatest and/or maxAge");
    }
    const policy = retentionPolicy({
      ...(o.keepLatest === undefined ? {} : { keepLatest: o.keepLatest }),
      ...(o.maxAge === undefined ? {} : { maxAge: o.maxAge }),
      keepFinal: o.keepFinal === true,
    });
    const report = await sweep(saver, policy, {
      dryRun: o.dryRun,
      ...(o.threadIds === undefined ? {} : { threadIds: o.threadIds }),
    });
    if (!o.dryRun) this.#rows.clear();
    return { dryRun: o.dryRun, ...report };
  }

  /**
   * Copies a thread up to a checkpoint into a new thread, as `graphkeep fork` does (the copies note `forked_from`,
   * their recorded cost stays with the source); with `values`, one more checkpoint (source `update`) on the new
   * thread replaces those channels.
   * @throws {ThreadExistsError} when `to` already has checkpoints
   */
  async fork(
    threadId: string,
    o: { at: string; to: string; values?: Record<string, unknown> | undefined },
  ): Promise<ForkResult> {
    const saver = this.#writer;
    if (saver === undefined) {
      throw new InvalidArgumentError(
        `this store was written by LangGraph's ${this.#source.kind}: fork needs a graphkeep store`,
      );
    }
    if (o.to === threadId) throw new InvalidArgumentError("the new thread must not be the source thread");
    const at = await saver.getTuple(rootConfig(threadId, o.at));
    if (at === undefined) {
      if ((await saver.getTuple(rootConfig(threadId))) === undefined) throw unknownThread(threadId);
      throw new NotFoundError(`thread "${threadId}" has no checkpoint "${o.at}"`);
    }
    if (o.values !== undefined) {
      const channels = Object.keys(stateOf(at));
      const unknown = Object.keys(o.values).filter((k) => !channels.includes(k));
      if (unknown.length > 0) {
        throw new InvalidArgumentError(
          `no channel ${unknown.map((k) => `"${k}"`).join(", ")} in this checkpoint; channels: ${channels.join(", ")}`,
        );
      }
    }
    if ((await saver.getTuple(rootConfig(o.to))) !== undefined) throw new ThreadExistsError(o.to);
    const chain = [at];
    for (let t = at; t.parentConfig !== undefined; ) {
      const parent = await saver.getTuple(t.parentConfig);
      if (parent === undefined) break;
      chain.unshift(parent);
      t = parent;
    }
    let config: RunnableConfig = rootConfig(o.to);
    for (const t of chain) {
      const { cost: _cost, ...metadata } = (t.metadata ?? {}) as Record<string, unknown>;
      const forked = { ...metadata, forked_from: { thread_id: threadId, checkpoint_id: t.checkpoint.id } };
      config = await saver.put(config, t.checkpoint, forked as never, t.checkpoint.channel_versions);
      // the writes of tasks that ran from `at` are left behind, so the fork re-runs them
      if (t === at) continue;
      const byTask = new Map<string, Array<[string, unknown]>>();
      for (const [taskId, channel, value] of t.pendingWrites ?? []) {
        byTask.set(taskId, [...(byTask.get(taskId) ?? []), [channel, value]]);
      }
      for (const [taskId, writes] of byTask) await saver.putWrites(config, writes, taskId);
    }
    let head = at.checkpoint.id;
    if (o.values !== undefined && Object.keys(o.values).length > 0) {
      const cp = at.checkpoint;
      const versions = { ...cp.channel_versions };
      const changed: Record<string, string | number> = {};
      for (const channel of Object.keys(o.values)) {
        const current = versions[channel];
        const next = saver.getNextVersion(typeof current === "number" ? current : undefined);
        versions[channel] = next;
        changed[channel] = next;
      }
      const edited = {
        ...cp,
        id: uuid6(-1),
        ts: new Date().toISOString(),
        channel_values: { ...cp.channel_values, ...o.values },
        channel_versions: versions,
      };
      const step = (meta(at).step ?? -1) + 1;
      config = await saver.put(
        config,
        edited,
        { source: "update", step, parents: {}, writes: { "graphkeep-studio": o.values } } as never,
        changed,
      );
      head = edited.id;
    }
    return { from: threadId, at: at.checkpoint.id, to: o.to, checkpoints: chain.length, head };
  }
}

/** A checkpoint without its values, as the tree and the cost chart read it. */
interface Raw extends Omit<TreeNode, "lane" | "children"> {
  metadata: Record<string, unknown>;
  versionsSeen: Record<string, Record<string, string | number>>;
}

/** Enough of a tuple for the CLI's readers of metadata and `versions_seen` (no channel values). */
const asTuple = (r: Raw): CheckpointTuple => ({
  config: rootConfig("", r.id),
  checkpoint: {
    v: 4,
    id: r.id,
    ts: r.createdAt,
    channel_values: {},
    channel_versions: {},
    versions_seen: r.versionsSeen,
  },
  metadata: r.metadata as CheckpointTuple["metadata"],
  ...(r.parentId === null ? {} : { parentConfig: rootConfig("", r.parentId) }),
});

/** The nodes that ran between a checkpoint's parent and it (the CLI's `nodesOf`). */
const ranOf = (r: Raw, parent: Raw | undefined) => nodesOf(asTuple(r), parent && asTuple(parent));

/** The state channels of a checkpoint as plain JSON (LangGraph's internal channels left out, as `show` does). */
function stateOf(t: CheckpointTuple): Record<string, unknown> {
  const values = plain(t.checkpoint.channel_values ?? {}) as Record<string, unknown>;
  return Object.fromEntries(Object.entries(values).filter(([k]) => !k.startsWith("branch:") && !k.startsWith("__")));
}

const forkedFromOf = (t: CheckpointTuple) => {
  const f = (t.metadata as { forked_from?: { thread_id?: unknown; checkpoint_id?: unknown } } | undefined)?.forked_from;
  return typeof f?.thread_id === "string" && typeof f.checkpoint_id === "string"
    ? { threadId: f.thread_id, checkpointId: f.checkpoint_id }
    : undefined;
};

/** A checkpoint in the tree: lane 0 is the line to the newest checkpoint, each branch its own lane. */
export interface TreeNode {
  id: string;
  parentId: string | null;
  step: number | undefined;
  source: string | undefined;
  createdAt: string;
  /** channels of the pending writes (`__interrupt__`, `__error__`, state channels) */
  pending: string[];
  lane: number;
  /** checkpoints made from this one; more than one is a fork point */
  children: number;
}

/**
 * Lays checkpoints (newest first) out in lanes: the newest leaf's line in lane 0, then each other leaf, newest
 * first, gets the next lane for the part of its line no earlier lane holds — a fork or an `updateState` on an older
 * checkpoint is a branch off the checkpoint it started from.
 */
export function layout(nodes: Array<Omit<TreeNode, "lane" | "children">>): TreeNode[] {
  const sorted = [...nodes].sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  const byId = new Map(sorted.map((n) => [n.id, n]));
  const children = new Map<string, number>();
  for (const n of sorted) if (n.parentId !== null) children.set(n.parentId, (children.get(n.parentId) ?? 0) + 1);
  const lane = new Map<string, number>();
  let lanes = 0;
  for (const leaf of sorted) {
    if (lane.has(leaf.id)) continue;
    const l = lanes++;
    for (let n: (typeof sorted)[0] | undefined = leaf; n !== undefined && !lane.has(n.id); ) {
      lane.set(n.id, l);
      n = n.parentId === null ? undefined : byId.get(n.parentId);
    }
  }
  return sorted.map((n) => ({ ...n, lane: lane.get(n.id) ?? 0, children: children.get(n.id) ?? 0 }));
}

/** One row of a history page. */
export interface HistoryNode extends TreeNode {
  nodes: string[];
  stepUsd: number | undefined;
  totalUsd: number | undefined;
  forkedFrom: { threadId: string; checkpointId: string } | undefined;
}

export interface HistoryPage {
  threadId: string;
  status: ThreadStatus;
  total: number;
  lanes: number;
  offset: number;
  limit: number;
  rows: HistoryNode[];
}

export interface CheckpointView {
  threadId: string;
  checkpointId: string;
  parentId: string | null;
  step: number | undefined;
  source: string | undefined;
  createdAt: string;
  status: ThreadStatus;
  next: string[];
  values: Record<string, unknown>;
  diff: ChannelChange[];
  pendingWrites: Array<{ taskId: string; channel: string; value: unknown }>;
  interrupts: unknown[];
  errors: TaskError[];
  metadata: Record<string, unknown>;
  nodes: string[];
}

export interface CostStep {
  checkpointId: string;
  parentId: string | null;
  step: number | undefined;
  nodes: string[];
  stepUsd: number;
  totalUsd: number | undefined;
  tokens: number;
  byModel: Record<string, number>;
  tenant: string | undefined;
}

export interface CostView {
  threadId: string;
  recorded: boolean;
  totalUsd: number | undefined;
  steps: CostStep[];
  byModel: Record<string, number>;
  byNode: Record<string, number>;
  byTenant: Record<string, number>;
  /** USD the LLM cache saved on this thread (CostTracker ledger in the same store), when known */
  savedUsd: number | undefined;
}

export interface ForkResult {
  from: string;
  at: string;
  to: string;
  checkpoints: number;
  /** the new thread's newest checkpoint: the edited one when values were given */
  head: string;
}

async function mapLimited<T, R>(items: T[], n: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) {
        const at = next++;
        out[at] = await fn(items[at] as T);
      }
    }),
  );
  return out;
}
