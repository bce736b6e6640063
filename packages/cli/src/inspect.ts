import { type CheckpointTuple, uuid5 } from "@langchain/langgraph-checkpoint";

/** Where a thread stands, read from its latest checkpoint. */
export type ThreadStatus = "done" | "interrupted" | "failed" | "running";

const PULL = "__pregel_pull";

/**
 * Nodes with work left at a checkpoint (LangGraph's `next` without the graph): a trigger channel holds a version its
 * node has not seen, or Send packets wait. Consumed triggers are cleared from `channel_values`, so a present one with
 * a newer version is pending.
 */
export function nextOf(tuple: CheckpointTuple): string[] {
  const values = tuple.checkpoint.channel_values ?? {};
  const versions = tuple.checkpoint.channel_versions ?? {};
  const seen = tuple.checkpoint.versions_seen ?? {};
  const out = new Set<string>();
  for (const ch of Object.keys(values)) {
    if (ch === "__pregel_tasks") {
      const packets = values[ch];
      if (Array.isArray(packets)) for (const p of packets) out.add(String((p as { node?: unknown })?.node ?? "(send)"));
      continue;
    }
    // edges to a node (branch:to:<node>), the input (__start__), and join barriers (join:<a>+<b>:<node>)
    const node = ch.startsWith("branch:to:")
      ? ch.slice("branch:to:".length)
      : ch === "__start__"
        ? "__start__"
        : ch.startsWith("join:")
          ? ch.slice(ch.lastIndexOf(":") + 1)
          : undefined;
    if (node === undefined) continue;
    const v = versions[ch];
    const s = seen[node]?.[ch];
    if (v !== undefined && (s === undefined || s < v)) out.add(node);
  }
  return [...out];
}

/** A task that failed at a checkpoint: the node that ran it (when it can be told) and its error. */
export interface TaskError {
  taskId: string;
  /** the node, found as LangGraph names its tasks (undefined for a task it cannot place, e.g. a Send) */
  node: string | undefined;
  /** the error's class name, e.g. `BudgetExceededError` */
  name: string;
  message: string;
}

function errorOf(value: unknown): { name: string; message: string } {
  if (value instanceof Error) return { name: value.name, message: value.message };
  const v = (value ?? {}) as { name?: unknown; message?: unknown };
  return {
    name: typeof v.name === "string" ? v.name : "Error",
    message: typeof v.message === "string" ? v.message : JSON.stringify(value),
  };
}

/**
 * The failed tasks of a checkpoint, from its pending `__error__` writes (what `getState().tasks[].error` shows).
 * A write names its task id only: the node is the candidate whose LangGraph task id (uuid5 of namespace, step, node
 * and trigger, keyed by the checkpoint id) matches.
 */
export function errorsOf(tuple: CheckpointTuple): TaskError[] {
  const errors = (tuple.pendingWrites ?? []).filter(([, ch]) => ch === "__error__");
  if (errors.length === 0) return [];
  const cp = tuple.checkpoint;
  const step = String(((tuple.metadata as { step?: number } | undefined)?.step ?? -1) + 1);
  const ns = (tuple.config?.configurable?.checkpoint_ns as string | undefined) ?? "";
  const sources = (tuple.pendingWrites ?? []).filter(([, ch]) => ch === "__error_source_node__");
  const next = nextOf(tuple);
  const candidates = new Set([...next, ...Object.keys(cp.versions_seen ?? {})]);
  for (const ch of Object.keys(cp.channel_versions ?? {})) {
    if (ch.startsWith("branch:to:")) candidates.add(ch.slice("branch:to:".length));
  }
  const ids = new Map<string, string>();
  for (const name of candidates) {
    if (name.startsWith("__")) continue;
    const cns = ns === "" ? name : `${ns}|${name}`;
    ids.set(uuid5(JSON.stringify([cns, step, name, PULL, name]), cp.id), name);
    for (const trigger of Object.keys(cp.channel_versions ?? {})) {
      ids.set(uuid5(JSON.stringify([cns, step, name, PULL, [trigger]]), cp.id), name);
    }
  }
  return errors.map(([taskId, , value]) => {
    const recorded = sources.find(([t]) => t === taskId)?.[2];
    const node =
      typeof recorded === "string"
        ? recorded
        : (ids.get(taskId) ?? (next.length === 1 && errors.length === 1 ? next[0] : undefined));
    return { taskId, node, ...errorOf(value) };
  });
}

/** Status of a thread from its latest checkpoint tuple: pending writes and the channels still to run. */
export function statusOf(tuple: CheckpointTuple): ThreadStatus {
  const channels = new Set((tuple.pendingWrites ?? []).map(([, channel]) => channel));
  if (channels.has("__interrupt__")) return "interrupted";
  if (channels.has("__error__")) return "failed";
  return nextOf(tuple).length > 0 ? "running" : "done";
}

type Version = string | number;
const newer = (a: Version, b: Version) =>
  typeof a === "number" && typeof b === "number"
    ? a > b
    : String(a).localeCompare(String(b), "en", { numeric: true }) > 0;

/**
 * Nodes that ran between a checkpoint's parent and it: those whose `versions_seen` changed. When the parent is gone
 * (pruned), those that saw the newest version: the nodes of a step all read what the step before wrote.
 */
export function nodesOf(tuple: CheckpointTuple, parent: CheckpointTuple | undefined): string[] {
  const source = (tuple.metadata as { source?: string } | undefined)?.source;
  if (source === "input") return ["(input)"];
  if (source === "update" || source === "fork") return [`(${source})`];
  const now = tuple.checkpoint.versions_seen ?? {};
  const out: string[] = [];
  if (parent === undefined && tuple.parentConfig?.configurable?.checkpoint_id !== undefined) {
    const maxOf = (seen: Record<string, Version>) =>
      Object.values(seen).reduce<Version | undefined>((m, v) => (m === undefined || newer(v, m) ? v : m), undefined);
    const all = Object.values(now)
      .map(maxOf)
      .filter((v): v is Version => v !== undefined);
    const top = all.reduce<Version | undefined>((m, v) => (m === undefined || newer(v, m) ? v : m), undefined);
    for (const [node, seen] of Object.entries(now)) {
      const m = maxOf(seen);
      if (!node.startsWith("__") && m !== undefined && top !== undefined && !newer(top, m)) out.push(node);
    }
    return out;
  }
  const before = parent?.checkpoint.versions_seen ?? {};
  for (const [node, seen] of Object.entries(now)) {
    if (node.startsWith("__")) continue;
    if (JSON.stringify(seen) !== JSON.stringify(before[node] ?? {})) out.push(node);
  }
  return out;
}

/** Cost recorded in checkpoint metadata by `withCostMetadata` of `@graphkeep/cost`, if any. */
export interface RecordedCost {
  stepUsd: number | undefined;
  totalUsd: number | undefined;
  /** input + output tokens of the step's calls */
  stepTokens: number | undefined;
  totalTokens: number | undefined;
  /** USD per model family of the step's calls */
  byModel: Record<string, number>;
  tenant: string | undefined;
}

function usd(x: unknown): number | undefined {
  if (typeof x === "number" && Number.isFinite(x)) return x;
  if (typeof x === "object" && x !== null && typeof (x as { usd?: unknown }).usd === "number") {
    return (x as { usd: number }).usd;
  }
  return undefined;
}

const tokens = (x: unknown) => {
  const t = (x as { tokens?: unknown } | undefined)?.tokens;
  return typeof t === "number" && Number.isFinite(t) ? t : undefined;
};

/** The `metadata.cost` of a checkpoint, read defensively (any shape; missing parts undefined). */
export function costOf(tuple: CheckpointTuple): RecordedCost {
  const cost = (tuple.metadata as { cost?: { step?: unknown; total?: unknown } } | undefined)?.cost;
  const step = (cost?.step ?? {}) as { byModel?: unknown; tenant?: unknown };
  const byModel: Record<string, number> = {};
  if (typeof step.byModel === "object" && step.byModel !== null) {
    for (const [m, v] of Object.entries(step.byModel)) if (typeof v === "number" && Number.isFinite(v)) byModel[m] = v;
  }
  return {
    stepUsd: usd(cost?.step),
    totalUsd: usd(cost?.total),
    stepTokens: tokens(cost?.step),
    totalTokens: tokens(cost?.total),
    byModel,
    tenant: typeof step.tenant === "string" ? step.tenant : undefined,
  };
}

/** A value as plain JSON: LangChain messages become `{ type, content, tool_calls?, … }`. */
export function plain(value: unknown, depth = 0): unknown {
  if (depth > 64) return "…";
  if (value === null || typeof value !== "object") return typeof value === "bigint" ? value.toString() : value;
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Uint8Array) return `<${value.byteLength} bytes>`;
  if (Array.isArray(value)) return value.map((v) => plain(v, depth + 1));
  const m = value as { getType?: () => string; content?: unknown; [k: string]: unknown };
  if (typeof m.getType === "function") {
    const out: Record<string, unknown> = { type: m.getType(), content: plain(m.content, depth + 1) };
    for (const k of ["name", "tool_calls", "tool_call_id", "id"]) {
      const v = m[k];
      if (v !== undefined && !(Array.isArray(v) && v.length === 0)) out[k] = plain(v, depth + 1);
    }
    return out;
  }
  if (value instanceof Map) return Object.fromEntries([...value].map(([k, v]) => [String(k), plain(v, depth + 1)]));
  if (value instanceof Set) return [...value].map((v) => plain(v, depth + 1));
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v, depth + 1)]));
}

/** What changed in one channel between two checkpoints. */
export interface ChannelChange {
  channel: string;
  change: "added" | "removed" | "appended" | "changed";
  summary: string;
  before?: unknown;
  after?: unknown;
}

const short = (v: unknown, max = 120) => {
  const s = JSON.stringify(v) ?? "undefined";
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
};

/** Channel-by-channel difference of two states (values already made {@link plain}). */
export function diffStates(a: Record<string, unknown>, b: Record<string, unknown>): ChannelChange[] {
  const out: ChannelChange[] = [];
  const channels = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  for (const channel of channels) {
    const inA = Object.hasOwn(a, channel);
    const inB = Object.hasOwn(b, channel);
    const va = a[channel];
    const vb = b[channel];
    if (!inA) out.push({ channel, change: "added", summary: short(vb), after: vb });
    else if (!inB) out.push({ channel, change: "removed", summary: short(va), before: va });
    else if (JSON.stringify(va) === JSON.stringify(vb)) continue;
    else if (
      Array.isArray(va) &&
      Array.isArray(vb) &&
      vb.length > va.length &&
      va.every((x, i) => JSON.stringify(x) === JSON.stringify(vb[i]))
    ) {
      const added = vb.slice(va.length);
      out.push({ channel, change: "appended", summary: `+${added.length} item(s): ${short(added)}`, after: added });
    } else
      out.push({ channel, change: "changed", summary: `${short(va, 56)} → ${short(vb, 56)}`, before: va, after: vb });
  }
  return out;
}
