import type { CheckpointTuple } from "@langchain/langgraph-checkpoint";
import { costOf, errorsOf, nextOf, nodesOf, statusOf, type TaskError } from "./inspect.js";
import { fmtBytes, fmtUsd, type Output } from "./output.js";
import { describeErrors, history, meta, parentIdOf, positiveInt, prefixLength, unknownThread } from "./reading.js";
import type { Source } from "./source.js";

interface HistoryRow {
  step: number | undefined;
  source: string | undefined;
  nodes: string[];
  checkpointId: string;
  parentId: string | null;
  createdAt: string;
  bytes: number | undefined;
  stepUsd: number | undefined;
  totalUsd: number | undefined;
  pendingWrites: string[];
  /** 0 on the line that leads to the newest checkpoint, 1 on a branch off it, and so on */
  branch: number;
  /** checkpoints made from this one (more than one: a fork point) */
  children: number;
  next: string[];
  errors: TaskError[];
  /** set on checkpoints `graphkeep fork` copied: the thread and checkpoint they were copied from */
  forkedFrom?: { thread_id: string; checkpoint_id: string } | undefined;
}

const forkedFromOf = (t: CheckpointTuple) => {
  const f = (t.metadata as { forked_from?: { thread_id?: unknown; checkpoint_id?: unknown } } | undefined)?.forked_from;
  return typeof f?.thread_id === "string" && typeof f.checkpoint_id === "string"
    ? { thread_id: f.thread_id, checkpoint_id: f.checkpoint_id }
    : undefined;
};

/**
 * Orders a thread's checkpoints as a tree, newest first: the line leading to the newest checkpoint at depth 0, each
 * branch (a fork, an `updateState` on an older checkpoint) printed above the checkpoint it grew from, one level in.
 */
function asTree(all: CheckpointTuple[]): Array<{ t: CheckpointTuple; depth: number; children: number }> {
  const byId = new Map(all.map((t) => [t.checkpoint.id, t]));
  const children = new Map<string, CheckpointTuple[]>();
  const roots: CheckpointTuple[] = [];
  for (const t of all) {
    const p = parentIdOf(t);
    if (p !== undefined && byId.has(p)) children.set(p, [...(children.get(p) ?? []), t]);
    else roots.push(t);
  }
  const out: Array<{ t: CheckpointTuple; depth: number; children: number }> = [];
  const seen = new Set<string>();
  // a branch from its newest leaf down to where it starts, its own side branches above their fork points
  const line = (leaf: CheckpointTuple, depth: number, stop: (t: CheckpointTuple) => boolean) => {
    const chain: CheckpointTuple[] = [];
    for (let t: CheckpointTuple | undefined = leaf; t !== undefined && !stop(t); ) {
      chain.push(t);
      const p = parentIdOf(t);
      t = p === undefined ? undefined : byId.get(p);
    }
    const onChain = new Set(chain.map((t) => t.checkpoint.id));
    for (const t of chain) {
      const side = (children.get(t.checkpoint.id) ?? []).filter((c) => !onChain.has(c.checkpoint.id));
      for (const s of side.sort((a, b) => b.checkpoint.id.localeCompare(a.checkpoint.id))) {
        // the newest leaf under this side child
        let leafOf = s;
        for (let kids = children.get(s.checkpoint.id); kids?.length; kids = children.get(leafOf.checkpoint.id)) {
          leafOf = [...kids].sort((a, b) => b.checkpoint.id.localeCompare(a.checkpoint.id))[0] as CheckpointTuple;
        }
        line(leafOf, depth + 1, (x) => seen.has(x.checkpoint.id) || x === t);
      }
      seen.add(t.checkpoint.id);
      out.push({ t, depth, children: children.get(t.checkpoint.id)?.length ?? 0 });
    }
  };
  // list() is newest first: the first checkpoint is the thread's head
  if (all[0] !== undefined) line(all[0], 0, (x) => seen.has(x.checkpoint.id));
  for (const r of roots) if (!seen.has(r.checkpoint.id)) line(r, 1, (x) => seen.has(x.checkpoint.id));
  for (const t of all) if (!seen.has(t.checkpoint.id)) line(t, 1, (x) => seen.has(x.checkpoint.id));
  return out;
}

export async function historyCommand(
  source: Source,
  threadId: string,
  o: { limit?: string; ns?: string },
  out: Output,
): Promise<void> {
  const limit = positiveInt(o.limit, "--limit", Number.MAX_SAFE_INTEGER);
  const all = await history(source.reader, threadId, o.ns ?? "");
  if (all.length === 0) throw unknownThread(threadId);
  const byId = new Map(all.map((t) => [t.checkpoint.id, t]));
  const tree = asTree(all).slice(0, limit);
  const rows: HistoryRow[] = await Promise.all(
    tree.map(async ({ t, depth, children }) => {
      const parentId = parentIdOf(t);
      const cost = costOf(t);
      let bytes: number | undefined;
      if (source.saver) {
        const [, b] = await source.saver.serde.dumpsTyped(t.checkpoint);
        bytes = typeof b === "string" ? Buffer.byteLength(b) : b.byteLength;
      }
      return {
        step: meta(t).step,
        source: meta(t).source,
        nodes: nodesOf(t, parentId ? byId.get(parentId) : undefined),
        checkpointId: t.checkpoint.id,
        parentId: parentId ?? null,
        createdAt: t.checkpoint.ts,
        bytes,
        stepUsd: cost.stepUsd,
        totalUsd: cost.totalUsd,
        pendingWrites: [...new Set((t.pendingWrites ?? []).map(([, ch]) => ch))],
        branch: depth,
        children,
        next: nextOf(t).filter((n) => n !== "__start__"),
        errors: errorsOf(t),
        ...(forkedFromOf(t) ? { forkedFrom: forkedFromOf(t) } : {}),
      };
    }),
  );
  if (out.json) return out.data(rows);
  const head = all[0] as CheckpointTuple;
  const status = statusOf(head);
  const suffix = ` — ${all.length} checkpoint(s), newest first, status `;
  out.line(`${out.bold(out.fit(threadId, suffix.length + status.length))}${suffix}${out.status(status)}`);
  // the newest copied checkpoint is the copy of fork's --at
  const copied = all.find((t) => forkedFromOf(t) !== undefined);
  const origin = copied ? forkedFromOf(copied) : undefined;
  if (copied && origin) {
    out.line(
      out.fit(`  forked from ${origin.thread_id} at step ${meta(copied).step ?? "?"} (${origin.checkpoint_id})`),
    );
  }
  for (const e of describeErrors(errorsOf(head))) out.line(out.fit(`  failed in ${e}`));
  const next = nextOf(head).filter((n) => n !== "__start__");
  if (next.length > 0 && status !== "done") out.line(out.fit(`  next: ${next.join(", ")}`));
  const n = prefixLength(all.map((t) => t.checkpoint.id));
  const graph = (r: HistoryRow) => `${"│ ".repeat(r.branch)}${r.children > 1 ? "●┤" : "●"}`;
  const branched = rows.some((r) => r.branch > 0 || r.children > 1);
  const marks = (r: HistoryRow) =>
    [r.errors.length ? "failed" : "", r.pendingWrites.includes("__interrupt__") ? "interrupt" : ""]
      .filter(Boolean)
      .join(" ");
  out.table(
    [
      ...(branched ? [""] : []),
      "step",
      "source",
      "node(s)",
      "checkpoint",
      `time (${out.zone})`,
      "size",
      "step cost",
      "total",
      "",
    ],
    rows.map((r) => [
      ...(branched ? [graph(r)] : []),
      r.step ?? "—",
      r.source ?? "—",
      r.nodes.join(", ") || "—",
      r.checkpointId.slice(0, n),
      out.time(r.createdAt),
      fmtBytes(r.bytes),
      fmtUsd(r.stepUsd),
      fmtUsd(r.totalUsd),
      marks(r),
    ]),
    branched
      ? { drop: [2, 6, 7, 5], shrink: [3, 4], right: [1, 6, 7, 8] }
      : { drop: [1, 5, 6, 4], shrink: [2, 3], right: [0, 5, 6, 7] },
  );
  if (branched) out.line(out.dim("●┤ fork point; │ a branch (fork, or updateState on an older checkpoint)"));
}
