import { ThreadExistsError } from "@graphkeep/core";
import { type CostCounters, CostTracker } from "@graphkeep/cost";
import { retentionPolicy, sweep } from "@graphkeep/retention";
import type { RunnableConfig } from "@langchain/core/runnables";
import type { BaseCheckpointSaver, CheckpointTuple } from "@langchain/langgraph-checkpoint";
import { SingleBar } from "cli-progress";
import { NotFoundError, UsageError } from "./errors.js";
import { costOf, diffStates, errorsOf, nextOf, nodesOf, plain, statusOf, type TaskError } from "./inspect.js";
import { fmtBytes, fmtTokens, fmtUsd, type Output } from "./output.js";
import { graphkeepSaver, type Source } from "./source.js";

const rootConfig = (threadId: string, ns = "", checkpointId?: string) => ({
  configurable: { thread_id: threadId, checkpoint_ns: ns, ...(checkpointId ? { checkpoint_id: checkpointId } : {}) },
});

function positiveInt(v: string | undefined, name: string, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${name} must be a positive integer, got "${v}"`);
  return n;
}

const unknownThread = (threadId: string) =>
  new NotFoundError(`unknown thread "${threadId}" (no checkpoints in this store; see: graphkeep threads)`);

async function latest(reader: BaseCheckpointSaver, threadId: string, ns = ""): Promise<CheckpointTuple> {
  const t = await reader.getTuple(rootConfig(threadId, ns));
  if (t === undefined) throw unknownThread(threadId);
  return t;
}

/** Every checkpoint of a thread's namespace, newest first. */
async function history(reader: BaseCheckpointSaver, threadId: string, ns = ""): Promise<CheckpointTuple[]> {
  const out: CheckpointTuple[] = [];
  for await (const t of reader.list(rootConfig(threadId, ns))) out.push(t);
  return out;
}

const meta = (t: CheckpointTuple) => (t.metadata ?? {}) as { step?: number; source?: string };
const parentIdOf = (t: CheckpointTuple) => t.parentConfig?.configurable?.checkpoint_id as string | undefined;

/** A step number: an optional minus sign and at most 6 digits (a checkpoint id prefix has letters or is longer). */
const STEP = /^-?\d{1,6}$/;

/**
 * The checkpoint a user named: a whole id, a unique id prefix, or a step number (`metadata.step`). An ambiguous
 * prefix or a step with several checkpoints (branches) is an error listing the candidates.
 */
async function resolve(reader: BaseCheckpointSaver, threadId: string, ref: string, ns = ""): Promise<CheckpointTuple> {
  const exact = await reader.getTuple(rootConfig(threadId, ns, ref));
  if (exact !== undefined) return exact;
  const all = await history(reader, threadId, ns);
  if (all.length === 0) throw unknownThread(threadId);
  let matches = STEP.test(ref)
    ? all.filter((t) => meta(t).step === Number(ref))
    : all.filter((t) => t.checkpoint.id.startsWith(ref));
  if (matches.length > 1 && STEP.test(ref)) {
    // a step several branches reached: the one on the line that leads to the newest checkpoint
    const byId = new Map(all.map((t) => [t.checkpoint.id, t]));
    const line = new Set<string>();
    for (let t: CheckpointTuple | undefined = all[0]; t !== undefined; ) {
      line.add(t.checkpoint.id);
      const p = parentIdOf(t);
      t = p === undefined ? undefined : byId.get(p);
    }
    const onLine = matches.filter((t) => line.has(t.checkpoint.id));
    if (onLine.length === 1) matches = onLine;
  }
  if (matches.length === 1) return matches[0] as CheckpointTuple;
  const what = STEP.test(ref) ? `step ${ref}` : `checkpoint "${ref}"`;
  if (matches.length === 0) {
    throw new NotFoundError(`thread "${threadId}" has no ${what} (see: graphkeep history ${threadId})`);
  }
  throw new NotFoundError(
    `${what} of thread "${threadId}" is ambiguous: ${matches.map((t) => t.checkpoint.id).join(", ")} (give more of the id)`,
  );
}

/** Shortest prefix length (at least 8) that tells every id of the list apart. */
function prefixLength(ids: string[]): number {
  const sorted = [...ids].sort();
  let n = 8;
  for (let i = 1; i < sorted.length; i++) {
    const a = sorted[i - 1] as string;
    const b = sorted[i] as string;
    let k = 0;
    while (k < a.length && a[k] === b[k]) k++;
    n = Math.max(n, k + 1);
  }
  return n;
}

/** One line per failed task: `review: Error: reviewer crashed`. */
const describeErrors = (errors: TaskError[]) =>
  errors.map((e) => `${e.node ?? "(unknown node)"}: ${e.name}: ${e.message}`);

export async function threadsCommand(source: Source, o: { limit?: string }, out: Output): Promise<void> {
  const limit = positiveInt(o.limit, "--limit", 100);
  const saver = source.saver;
  const rows = [];
  for await (const info of source.threads()) {
    if (rows.length >= limit) break;
    const head = await source.reader.getTuple(rootConfig(info.threadId));
    let checkpoints: number;
    let bytes: number | undefined;
    if (saver) {
      const [infos, stats] = await Promise.all([saver.checkpointInfo(info.threadId), saver.stats(info.threadId)]);
      checkpoints = infos.length;
      bytes = stats.bytes;
    } else checkpoints = (await history(source.reader, info.threadId)).length;
    const updated = info.updatedAt ?? (head ? new Date(head.checkpoint.ts) : undefined);
    rows.push({
      threadId: info.threadId,
      checkpoints,
      lastStep: head ? meta(head).step : undefined,
      updatedAt: updated?.toISOString(),
      bytes,
      costUsd: head ? costOf(head).totalUsd : undefined,
      status: head ? statusOf(head) : "running",
      ...(head ? { next: nextOf(head).filter((n) => n !== "__start__"), errors: errorsOf(head) } : {}),
    });
  }
  if (!saver) rows.sort((a, b) => String(b.updatedAt).localeCompare(String(a.updatedAt)));
  if (out.json) return out.data(rows);
  if (rows.length === 0) return out.line(`no threads in this store${source.hint ? ` (${source.hint})` : ""}`);
  out.table(
    ["thread", "checkpoints", "last step", `updated (${out.zone})`, "size", "cost", "status"],
    rows.map((r) => [
      r.threadId,
      r.checkpoints,
      r.lastStep ?? "—",
      out.time(r.updatedAt),
      fmtBytes(r.bytes),
      fmtUsd(r.costUsd),
      out.status(r.status),
    ]),
    { drop: [4, 2, 1, 5], shrink: [0], right: [1, 2, 4, 5] },
  );
}

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

export async function showCommand(
  source: Source,
  threadId: string,
  o: { checkpoint?: string; channel?: string; ns?: string },
  out: Output,
): Promise<void> {
  const t = o.checkpoint
    ? await resolve(source.reader, threadId, o.checkpoint, o.ns)
    : await latest(source.reader, threadId, o.ns);
  const values = plain(t.checkpoint.channel_values) as Record<string, unknown>;
  const state = Object.fromEntries(
    Object.entries(values).filter(([k]) => !k.startsWith("branch:") && !k.startsWith("__")),
  );
  if (o.channel !== undefined) {
    if (!Object.hasOwn(state, o.channel)) {
      throw new NotFoundError(
        `checkpoint ${t.checkpoint.id} has no channel "${o.channel}"; channels: ${Object.keys(state).join(", ")}`,
      );
    }
    return out.data(state[o.channel]);
  }
  const errors = errorsOf(t);
  const status = statusOf(t);
  out.data({
    threadId,
    checkpointId: t.checkpoint.id,
    step: meta(t).step,
    source: meta(t).source,
    createdAt: t.checkpoint.ts,
    status,
    next: nextOf(t).filter((n) => n !== "__start__"),
    ...(errors.length > 0 ? { error: errors[0], errors } : {}),
    values: state,
  });
  if (!out.json && errors.length > 0) {
    for (const e of describeErrors(errors)) out.io.err(`graphkeep: thread "${threadId}" failed in ${e}\n`);
  }
}

/** A value as one readable line: a message as `[ai] text  → tool(args)`, anything else as short JSON. */
function line(v: unknown, max = 200): string {
  const m = v as { type?: unknown; content?: unknown; tool_calls?: unknown; name?: unknown };
  if (m !== null && typeof m === "object" && typeof m.type === "string" && "content" in m) {
    const text =
      typeof m.content === "string"
        ? m.content
        : Array.isArray(m.content)
          ? m.content
              .map((p) =>
                typeof p === "string" ? p : ((p as { text?: string }).text ?? `<${(p as { type?: string }).type}>`),
              )
              .join(" ")
          : JSON.stringify(m.content);
    const calls = Array.isArray(m.tool_calls)
      ? m.tool_calls.map((c: { name?: string; args?: unknown }) => `${c.name}(${JSON.stringify(c.args ?? {})})`)
      : [];
    const s = `[${m.type}${typeof m.name === "string" ? ` ${m.name}` : ""}] ${text.replace(/\s+/g, " ")}${calls.length ? `  → ${calls.join(", ")}` : ""}`;
    return s.length > max ? `${s.slice(0, max - 1)}…` : s;
  }
  const s = JSON.stringify(v) ?? "undefined";
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

export async function diffCommand(
  source: Source,
  threadId: string,
  a: string,
  b: string,
  o: { ns?: string },
  out: Output,
): Promise<void> {
  const ta = await resolve(source.reader, threadId, a, o.ns);
  const tb = await resolve(source.reader, threadId, b, o.ns);
  const changes = diffStates(
    plain(ta.checkpoint.channel_values) as Record<string, unknown>,
    plain(tb.checkpoint.channel_values) as Record<string, unknown>,
  ).filter((c) => !c.channel.startsWith("branch:") && !c.channel.startsWith("__"));
  if (out.json) return out.data({ from: ta.checkpoint.id, to: tb.checkpoint.id, changes });
  const steps = `: step ${meta(ta).step ?? "?"} → step ${meta(tb).step ?? "?"}`;
  out.line(`${out.bold(out.fit(threadId, steps.length))}${steps}`);
  if (changes.length === 0) return out.line("no channel changed");
  const width = Math.max(40, out.io.columns ?? 80) - 4;
  for (const c of changes) {
    out.line(
      `${out.bold(c.channel)}  ${c.change}${c.change === "appended" ? ` ${(c.after as unknown[]).length}` : ""}`,
    );
    if (c.change === "appended") for (const v of c.after as unknown[]) out.line(`  + ${line(v, width)}`);
    else if (c.change === "added" && Array.isArray(c.after)) for (const v of c.after) out.line(`  + ${line(v, width)}`);
    else if (c.change === "added") out.line(`  + ${line(c.after, width)}`);
    else if (c.change === "removed") out.line(`  - ${line(c.before, width)}`);
    else {
      out.line(`  - ${line(c.before, width)}`);
      out.line(`  + ${line(c.after, width)}`);
    }
  }
}

export async function forkCommand(
  source: Source,
  threadId: string,
  o: { at: string; to: string },
  out: Output,
): Promise<void> {
  const saver = graphkeepSaver(source, "fork");
  if (o.to === threadId) throw new UsageError("--to must name a new thread, not the source thread");
  const at = await resolve(saver, threadId, o.at);
  if ((await saver.getTuple(rootConfig(o.to))) !== undefined) throw new ThreadExistsError(o.to);
  // --at and its ancestors, oldest first; later checkpoints belong to the original branch
  const chain = [at];
  for (let t = at; t.parentConfig !== undefined; ) {
    const parent = await saver.getTuple(t.parentConfig);
    if (parent === undefined) break;
    chain.unshift(parent);
    t = parent;
  }
  let config: RunnableConfig = rootConfig(o.to);
  for (const t of chain) {
    // recorded cost stays with the source thread (the fork has spent nothing yet); the origin is noted instead
    const { cost: _cost, ...metadata } = (t.metadata ?? {}) as Record<string, unknown>;
    const forked = { ...metadata, forked_from: { thread_id: threadId, checkpoint_id: t.checkpoint.id } };
    config = await saver.put(config, t.checkpoint, forked as never, t.checkpoint.channel_versions);
    // the writes of tasks that ran from --at are left behind, so the fork re-runs them (the point of a what-if)
    if (t === at) continue;
    const byTask = new Map<string, Array<[string, unknown]>>();
    for (const [taskId, channel, value] of t.pendingWrites ?? []) {
      byTask.set(taskId, [...(byTask.get(taskId) ?? []), [channel, value]]);
    }
    for (const [taskId, writes] of byTask) await saver.putWrites(config, writes, taskId);
  }
  const result = { from: threadId, at: at.checkpoint.id, to: o.to, checkpoints: chain.length };
  if (out.json) return out.data(result);
  out.line(`forked ${threadId} at ${at.checkpoint.id} → ${out.bold(o.to)} (${result.checkpoints} checkpoint(s))`);
  out.line(out.dim(`resume it: graph.invoke(null, { configurable: { thread_id: "${o.to}" } })`));
}

/** On a terminal, asks before deleting (`--yes` skips); elsewhere goes ahead (scripts pass no answer). */
async function confirm(out: Output, question: string, yes: boolean | undefined): Promise<boolean> {
  if (yes === true || !out.io.isTTY || out.json) return true;
  if (out.io.prompt === undefined) return true;
  const answer = (await out.io.prompt(`${question} [y/N] `)).trim().toLowerCase();
  return answer === "y" || answer === "yes";
}

export async function pruneCommand(
  source: Source,
  o: {
    keepLatest?: string;
    maxAge?: string;
    thread?: string[];
    dryRun?: boolean;
    keepFinal?: boolean;
    yes?: boolean;
  },
  out: Output,
): Promise<boolean> {
  const saver = graphkeepSaver(source, "prune");
  if (o.keepLatest === undefined && o.maxAge === undefined) {
    throw new UsageError("prune needs --keep-latest N and/or --max-age <duration>");
  }
  const policy = retentionPolicy({
    ...(o.keepLatest === undefined ? {} : { keepLatest: Number(o.keepLatest) }),
    ...(o.maxAge === undefined ? {} : { maxAge: o.maxAge }),
    keepFinal: o.keepFinal === true,
  });
  const threads = o.thread === undefined ? {} : { threadIds: o.thread };
  if (o.dryRun !== true && out.io.isTTY && !out.json && o.yes !== true && out.io.prompt !== undefined) {
    const plan = await sweep(saver, policy, { dryRun: true, ...threads });
    if (plan.checkpointsDeleted === 0) {
      out.line(`nothing to delete in ${plan.threadsScanned} thread(s)`);
      return true;
    }
    const ok = await confirm(
      out,
      `delete ${plan.checkpointsDeleted} checkpoint(s) in ${plan.threadsScanned} thread(s), freeing ${fmtBytes(plan.bytesFreed)}?`,
      o.yes,
    );
    if (!ok) {
      out.line("nothing deleted");
      return false;
    }
  }
  const bar =
    out.io.isTTY && !out.json
      ? new SingleBar({
          format: "pruning [{bar}] {value}/{total} threads | {deleted} checkpoints",
          stream: process.stderr,
        })
      : undefined;
  let started = false;
  try {
    const report = await sweep(saver, policy, {
      dryRun: o.dryRun === true,
      ...threads,
      onProgress: (p) => {
        if (bar === undefined) return;
        if (!started) {
          bar.start(Math.max(p.threadsTotal, p.threadsScanned), 0, { deleted: 0 });
          started = true;
        }
        bar.setTotal(Math.max(p.threadsTotal, p.threadsScanned));
        bar.update(p.threadsScanned, { deleted: p.checkpointsDeleted });
      },
    });
    bar?.stop();
    if (out.json) {
      out.data({ dryRun: o.dryRun === true, ...report });
      return true;
    }
    const verb = o.dryRun ? "would delete" : "deleted";
    out.line(
      `${verb} ${report.checkpointsDeleted} checkpoint(s), ${report.valuesDeleted} value(s), ${report.writesDeleted} write(s) in ${report.threadsScanned} thread(s); ${o.dryRun ? "would free" : "freed"} ${fmtBytes(report.bytesFreed)}`,
    );
    return true;
  } finally {
    bar?.stop();
  }
}

export async function deleteCommand(
  source: Source,
  threadIds: string[],
  o: { yes?: boolean },
  out: Output,
): Promise<boolean> {
  const saver = graphkeepSaver(source, "delete");
  const found: Array<{ threadId: string; checkpoints: number }> = [];
  for (const id of threadIds) {
    const infos = await saver.checkpointInfo(id);
    if (infos.length === 0) throw unknownThread(id);
    found.push({ threadId: id, checkpoints: infos.length });
  }
  const what = found.map((f) => `"${f.threadId}" (${f.checkpoints} checkpoint(s))`).join(", ");
  if (!(await confirm(out, `delete thread ${what} and everything stored for it?`, o.yes))) {
    out.line("nothing deleted");
    return false;
  }
  for (const f of found) await saver.deleteThread(f.threadId);
  if (out.json) out.data({ deleted: found });
  else out.line(`deleted ${what}`);
  return true;
}

interface Bucket {
  usd: number;
  tokens: number;
}

export async function costCommand(source: Source, threadId: string | undefined, out: Output): Promise<void> {
  const ids: string[] = [];
  if (threadId !== undefined) ids.push(threadId);
  else for await (const t of source.threads()) ids.push(t.threadId);
  const byThread: Array<{ threadId: string; usd: number; tokens: number | undefined; prunedUsd: number }> = [];
  const byNode = new Map<string, Bucket>();
  const byModel = new Map<string, number>();
  const byTenant = new Map<string, Bucket>();
  const add = (m: Map<string, Bucket>, k: string, usd: number, tokens: number) => {
    const b = m.get(k) ?? { usd: 0, tokens: 0 };
    m.set(k, { usd: b.usd + usd, tokens: b.tokens + tokens });
  };
  const addUsd = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);
  const PRUNED = "(pruned checkpoints)";
  let recorded = false;
  for (const id of ids) {
    const all = await history(source.reader, id);
    if (all.length === 0) {
      if (threadId !== undefined) throw unknownThread(id);
      continue;
    }
    const byId = new Map(all.map((t) => [t.checkpoint.id, t]));
    let sum = 0;
    let sumTokens = 0;
    for (const t of all) {
      const c = costOf(t);
      if (c.stepUsd === undefined || c.stepUsd === 0) continue;
      recorded = true;
      sum += c.stepUsd;
      sumTokens += c.stepTokens ?? 0;
      const parentId = parentIdOf(t);
      const nodes = nodesOf(t, parentId ? byId.get(parentId) : undefined).join(", ") || "(unknown)";
      add(byNode, nodes, c.stepUsd, c.stepTokens ?? 0);
      const models = Object.entries(c.byModel);
      if (models.length === 0) addUsd(byModel, "(not recorded)", c.stepUsd);
      for (const [m, usd] of models) addUsd(byModel, m, usd);
      add(byTenant, c.tenant ?? "(none)", c.stepUsd, c.stepTokens ?? 0);
    }
    const head = costOf(all[0] as CheckpointTuple);
    // spend of checkpoints pruned away: in the head's running total, in no remaining step
    const total = Math.max(head.totalUsd ?? sum, sum);
    const pruned = total - sum > 1e-9 ? total - sum : 0;
    if (pruned > 0) {
      recorded = true;
      const prunedTokens = Math.max(0, (head.totalTokens ?? sumTokens) - sumTokens);
      add(byNode, PRUNED, pruned, prunedTokens);
      addUsd(byModel, PRUNED, pruned);
      add(byTenant, PRUNED, pruned, prunedTokens);
    }
    byThread.push({ threadId: id, usd: total, tokens: head.totalTokens ?? sumTokens, prunedUsd: pruned });
  }
  const sorted = <V>(m: Map<string, V>, usd: (v: V) => number) =>
    Object.fromEntries([...m].sort((a, b) => usd(b[1]) - usd(a[1])));
  const result = {
    usd: byThread.reduce((a, t) => a + t.usd, 0),
    tokens: byThread.reduce((a, t) => a + (t.tokens ?? 0), 0),
    byThread,
    byModel: sorted(byModel, (v) => v),
    byNode: Object.fromEntries(Object.entries(sorted(byNode, (v) => v.usd)).map(([k, v]) => [k, v.usd])),
    byTenant: Object.fromEntries(Object.entries(sorted(byTenant, (v) => v.usd)).map(([k, v]) => [k, v.usd])),
    tokensByNode: Object.fromEntries([...byNode].map(([k, v]) => [k, v.tokens])),
  };
  // a CostTracker sharing the saver's Keyv (README: `new CostTracker({ store: saver.keyv })`) has the call counters
  const ledger = await ledgerTotals(
    source,
    byThread.map((t) => t.threadId),
  );
  if (out.json) return out.data({ ...result, ...(ledger ? { ledger } : {}) });
  if (!recorded && !ledger) {
    return out.line(
      "no cost recorded in these checkpoints (wrap the saver with withCostMetadata from @graphkeep/cost)",
    );
  }
  out.line(
    `${out.bold("Total")}  ${fmtUsd(result.usd)}  ${fmtTokens(result.tokens)} tokens  in ${byThread.length} thread(s)`,
  );
  if (recorded) {
    out.title("By thread");
    out.table(
      ["thread", "cost", "tokens"],
      byThread.map((t) => [t.threadId, fmtUsd(t.usd), fmtTokens(t.tokens)]),
      { shrink: [0], right: [1, 2] },
    );
    out.title("By model");
    out.table(
      ["model", "cost"],
      Object.entries(result.byModel).map(([k, u]) => [k, fmtUsd(u)]),
      { shrink: [0], right: [1] },
    );
    out.title("By node");
    out.table(
      ["node(s)", "cost", "tokens"],
      [...byNode].sort((a, b) => b[1].usd - a[1].usd).map(([k, v]) => [k, fmtUsd(v.usd), fmtTokens(v.tokens)]),
      { shrink: [0], right: [1, 2] },
    );
    out.title("By tenant");
    out.table(
      ["tenant", "cost", "tokens"],
      [...byTenant].sort((a, b) => b[1].usd - a[1].usd).map(([k, v]) => [k, fmtUsd(v.usd), fmtTokens(v.tokens)]),
      { shrink: [0], right: [1, 2] },
    );
  }
  if (ledger) {
    out.title("Model calls and cache (CostTracker ledger in this store)");
    out.table(
      ["calls", "cached", "saved by cache", "input tokens", "cache-read tokens", "output tokens", "unpriced"],
      [
        [
          ledger.calls,
          ledger.cachedCalls,
          fmtUsd(ledger.savedUsd),
          fmtTokens(ledger.inputTokens),
          fmtTokens(ledger.cacheReadTokens),
          fmtTokens(ledger.outputTokens),
          ledger.unpricedCalls,
        ],
      ],
      { drop: [4, 6], right: [0, 1, 2, 3, 4, 5, 6] },
    );
  } else {
    out.line();
    out.line(out.dim("cache savings and call counts: give a CostTracker this store"));
    out.line(out.dim("(new CostTracker({ store: saver.keyv })) and `cost` shows them"));
  }
}

/** The CostTracker counters of these threads, when the tracker's ledger lives in the saver's Keyv. */
async function ledgerTotals(source: Source, threadIds: string[]): Promise<CostCounters | undefined> {
  if (source.saver === undefined || threadIds.length === 0) return undefined;
  const tracker = new CostTracker({ store: source.saver.keyv, writerId: "graphkeep-cli" });
  // every numeric counter the tracker reports, summed over the threads (byModel / byNode are left out)
  const sum: Record<string, number> = {};
  for (const threadId of threadIds) {
    const t = await tracker.totals({ threadId }).catch(() => undefined);
    if (t === undefined) continue;
    for (const [k, v] of Object.entries(t)) if (typeof v === "number") sum[k] = (sum[k] ?? 0) + v;
  }
  return (sum.calls ?? 0) > 0 ? (sum as unknown as CostCounters) : undefined;
}

export async function statsCommand(source: Source, out: Output): Promise<void> {
  const s = await graphkeepSaver(source, "stats").stats();
  if (out.json) return out.data({ ...s, ...(source.manifest ? { manifest: source.manifest } : {}) });
  out.table(
    ["threads", "checkpoints", "values", "writes", "bytes"],
    [[s.threads, s.checkpoints, s.values, s.writes, fmtBytes(s.bytes)]],
    { right: [0, 1, 2, 3, 4] },
  );
}
