import type { CheckpointTuple } from "@langchain/langgraph-checkpoint";

/** Where a thread stands, read from its latest checkpoint. */
export type ThreadStatus = "done" | "interrupted" | "failed" | "running";

/** Status of a thread from its latest checkpoint tuple: pending writes and the channels still to run. */
export function statusOf(tuple: CheckpointTuple): ThreadStatus {
  const channels = new Set((tuple.pendingWrites ?? []).map(([, channel]) => channel));
  if (channels.has("__interrupt__")) return "interrupted";
  if (channels.has("__error__")) return "failed";
  // work is left when a trigger channel holds a value its node has not seen (LangGraph's `next` needs the graph;
  // consumed triggers are cleared from channel_values, so a present one with a newer version is pending)
  const values = tuple.checkpoint.channel_values ?? {};
  const versions = tuple.checkpoint.channel_versions ?? {};
  const seen = tuple.checkpoint.versions_seen ?? {};
  const pending = Object.keys(values).some((ch) => {
    // Send packets waiting for their node
    if (ch === "__pregel_tasks") return Array.isArray(values[ch]) && (values[ch] as unknown[]).length > 0;
    // edges to a node (branch:to:<node>), the input (__start__), and join barriers (join:<a>+<b>:<node>)
    const node = ch.startsWith("branch:to:")
      ? ch.slice("branch:to:".length)
      : ch === "__start__"
        ? "__start__"
        : ch.startsWith("join:")
          ? ch.slice(ch.lastIndexOf(":") + 1)
          : undefined;
    if (node === undefined) return false;
    const v = versions[ch];
    const s = seen[node]?.[ch];
    return v !== undefined && (s === undefined || s < v);
  });
  return pending ? "running" : "done";
}

/** Nodes that ran between a checkpoint's parent and it: those whose `versions_seen` changed. */
export function nodesOf(tuple: CheckpointTuple, parent: CheckpointTuple | undefined): string[] {
  const source = (tuple.metadata as { source?: string } | undefined)?.source;
  if (source === "input") return ["(input)"];
  if (source === "update" || source === "fork") return [`(${source})`];
  const now = tuple.checkpoint.versions_seen ?? {};
  const before = parent?.checkpoint.versions_seen ?? {};
  const out: string[] = [];
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
