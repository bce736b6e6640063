import { ThreadExistsError } from "@graphkeep/core";
import type { KeyvSaver } from "@graphkeep/keyv-saver";
import { retentionPolicy, sweep } from "@graphkeep/retention";
import type { RunnableConfig } from "@langchain/core/runnables";
import type { CheckpointTuple } from "@langchain/langgraph-checkpoint";
import { SingleBar } from "cli-progress";
import { NotFoundError, UsageError } from "./errors.js";
import { costOf, diffStates, nodesOf, plain, statusOf } from "./inspect.js";
import { fmtBytes, fmtTime, fmtUsd, type Output } from "./output.js";

const rootConfig = (threadId: string, ns = "", checkpointId?: string) => ({
  configurable: { thread_id: threadId, checkpoint_ns: ns, ...(checkpointId ? { checkpoint_id: checkpointId } : {}) },
});

function positiveInt(v: string | undefined, name: string, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${name} must be a positive integer, got "${v}"`);
  return n;
}

async function latest(saver: KeyvSaver, threadId: string, ns = ""): Promise<CheckpointTuple> {
  const t = await saver.getTuple(rootConfig(threadId, ns));
  if (t === undefined) throw new NotFoundError(`unknown thread "${threadId}" (no checkpoints in this store)`);
  return t;
}

async function tupleAt(saver: KeyvSaver, threadId: string, checkpointId: string, ns = ""): Promise<CheckpointTuple> {
  const t = await saver.getTuple(rootConfig(threadId, ns, checkpointId));
  if (t === undefined) {
    await latest(saver, threadId, ns); // unknown thread reads better than unknown checkpoint
    throw new NotFoundError(
      `thread "${threadId}" has no checkpoint "${checkpointId}" (see: graphkeep history ${threadId})`,
    );
  }
  return t;
}

/** Every checkpoint of a thread's namespace, newest first. */
async function history(saver: KeyvSaver, threadId: string, ns = ""): Promise<CheckpointTuple[]> {
  const out: CheckpointTuple[] = [];
  for await (const t of saver.list(rootConfig(threadId, ns))) out.push(t);
  return out;
}

const meta = (t: CheckpointTuple) => (t.metadata ?? {}) as { step?: number; source?: string };

export async function threadsCommand(saver: KeyvSaver, o: { limit?: string }, out: Output): Promise<void> {
  const limit = positiveInt(o.limit, "--limit", 100);
  const rows = [];
  for await (const info of saver.listThreads()) {
    if (rows.length >= limit) break;
    const head = await saver.getTuple(rootConfig(info.threadId));
    const [infos, stats] = await Promise.all([saver.checkpointInfo(info.threadId), saver.stats(info.threadId)]);
    rows.push({
      threadId: info.threadId,
      checkpoints: infos.length,
      lastStep: head ? meta(head).step : undefined,
      updatedAt: info.updatedAt.toISOString(),
      bytes: stats.bytes,
      costUsd: head ? costOf(head).totalUsd : undefined,
      status: head ? statusOf(head) : "running",
    });
  }
  if (out.json) return out.data(rows);
  if (rows.length === 0) return out.line("no threads in this store");
  out.table(
    ["thread", "checkpoints", "last step", "updated", "size", "cost", "status"],
    rows.map((r) => [
      r.threadId,
      r.checkpoints,
      r.lastStep ?? "—",
      fmtTime(r.updatedAt),
      fmtBytes(r.bytes),
      fmtUsd(r.costUsd),
      out.status(r.status),
    ]),
  );
}

export async function historyCommand(
  saver: KeyvSaver,
  threadId: string,
  o: { limit?: string; ns?: string },
  out: Output,
): Promise<void> {
  const limit = positiveInt(o.limit, "--limit", Number.MAX_SAFE_INTEGER);
  const all = await history(saver, threadId, o.ns ?? "");
  if (all.length === 0) throw new NotFoundError(`unknown thread "${threadId}" (no checkpoints in this store)`);
  const byId = new Map(all.map((t) => [t.checkpoint.id, t]));
  const rows = await Promise.all(
    all.slice(0, limit).map(async (t) => {
      const parentId = t.parentConfig?.configurable?.checkpoint_id as string | undefined;
      const [type, bytes] = await saver.serde.dumpsTyped(t.checkpoint);
      void type;
      const cost = costOf(t);
      return {
        step: meta(t).step,
        source: meta(t).source,
        nodes: nodesOf(t, parentId ? byId.get(parentId) : undefined),
        checkpointId: t.checkpoint.id,
        parentId: parentId ?? null,
        createdAt: t.checkpoint.ts,
        bytes: typeof bytes === "string" ? Buffer.byteLength(bytes) : bytes.byteLength,
        stepUsd: cost.stepUsd,
        totalUsd: cost.totalUsd,
        pendingWrites: [...new Set((t.pendingWrites ?? []).map(([, ch]) => ch))],
      };
    }),
  );
  if (out.json) return out.data(rows);
  out.line(
    `${out.bold(threadId)} — ${all.length} checkpoint(s), newest first, status ${out.status(statusOf(all[0] as CheckpointTuple))}`,
  );
  out.table(
    ["step", "source", "node(s)", "checkpoint", "time", "size", "step cost", "total"],
    rows.map((r) => [
      r.step ?? "—",
      r.source ?? "—",
      r.nodes.join(", ") || "—",
      r.checkpointId,
      fmtTime(r.createdAt),
      fmtBytes(r.bytes),
      fmtUsd(r.stepUsd),
      fmtUsd(r.totalUsd),
    ]),
  );
}

export async function showCommand(
  saver: KeyvSaver,
  threadId: string,
  o: { checkpoint?: string; channel?: string; ns?: string },
  out: Output,
): Promise<void> {
  const t = o.checkpoint ? await tupleAt(saver, threadId, o.checkpoint, o.ns) : await latest(saver, threadId, o.ns);
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
  out.data({
    threadId,
    checkpointId: t.checkpoint.id,
    step: meta(t).step,
    source: meta(t).source,
    createdAt: t.checkpoint.ts,
    status: statusOf(t),
    values: state,
  });
}

export async function diffCommand(
  saver: KeyvSaver,
  threadId: string,
  a: string,
  b: string,
  o: { ns?: string },
  out: Output,
): Promise<void> {
  const [ta, tb] = [await tupleAt(saver, threadId, a, o.ns), await tupleAt(saver, threadId, b, o.ns)];
  const changes = diffStates(
    plain(ta.checkpoint.channel_values) as Record<string, unknown>,
    plain(tb.checkpoint.channel_values) as Record<string, unknown>,
  ).filter((c) => !c.channel.startsWith("branch:") && !c.channel.startsWith("__"));
  if (out.json) return out.data({ from: a, to: b, changes });
  out.line(`${out.bold(threadId)}: step ${meta(ta).step ?? "?"} → step ${meta(tb).step ?? "?"}`);
  if (changes.length === 0) return out.line("no channel changed");
  out.table(
    ["channel", "change", "what"],
    changes.map((c) => [c.channel, c.change, c.summary]),
  );
}

export async function forkCommand(
  saver: KeyvSaver,
  threadId: string,
  o: { at: string; to: string },
  out: Output,
): Promise<void> {
  if (o.to === threadId) throw new UsageError("--to must name a new thread, not the source thread");
  const at = await tupleAt(saver, threadId, o.at);
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
  const result = { from: threadId, at: o.at, to: o.to, checkpoints: chain.length };
  if (out.json) return out.data(result);
  out.line(`forked ${threadId} at ${o.at} → ${out.bold(o.to)} (${result.checkpoints} checkpoint(s))`);
  out.line(out.dim(`resume it: graph.invoke(null, { configurable: { thread_id: "${o.to}" } })`));
}

export async function pruneCommand(
  saver: KeyvSaver,
  o: { keepLatest?: string; maxAge?: string; thread?: string[]; dryRun?: boolean; keepFinal?: boolean },
  out: Output,
): Promise<void> {
  if (o.keepLatest === undefined && o.maxAge === undefined) {
    throw new UsageError("prune needs --keep-latest N and/or --max-age <duration>");
  }
  const policy = retentionPolicy({
    ...(o.keepLatest === undefined ? {} : { keepLatest: Number(o.keepLatest) }),
    ...(o.maxAge === undefined ? {} : { maxAge: o.maxAge }),
    keepFinal: o.keepFinal === true,
  });
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
      ...(o.thread === undefined ? {} : { threadIds: o.thread }),
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
    if (out.json) return out.data({ dryRun: o.dryRun === true, ...report });
    const verb = o.dryRun ? "would delete" : "deleted";
    out.line(
      `${verb} ${report.checkpointsDeleted} checkpoint(s), ${report.valuesDeleted} value(s), ${report.writesDeleted} write(s) in ${report.threadsScanned} thread(s); ${o.dryRun ? "would free" : "freed"} ${fmtBytes(report.bytesFreed)}`,
    );
  } finally {
    bar?.stop();
  }
}

export async function costCommand(saver: KeyvSaver, threadId: string | undefined, out: Output): Promise<void> {
  const ids: string[] = [];
  if (threadId !== undefined) ids.push(threadId);
  else for await (const t of saver.listThreads()) ids.push(t.threadId);
  const byThread: Array<{ threadId: string; usd: number }> = [];
  const byNode = new Map<string, number>();
  const byModel = new Map<string, number>();
  const byTenant = new Map<string, number>();
  const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);
  let recorded = false;
  for (const id of ids) {
    const all = await history(saver, id);
    if (all.length === 0) {
      if (threadId !== undefined) throw new NotFoundError(`unknown thread "${id}" (no checkpoints in this store)`);
      continue;
    }
    const byId = new Map(all.map((t) => [t.checkpoint.id, t]));
    let total = 0;
    for (const t of all) {
      const c = costOf(t);
      if (c.stepUsd === undefined || c.stepUsd === 0) continue;
      recorded = true;
      total += c.stepUsd;
      const parentId = t.parentConfig?.configurable?.checkpoint_id as string | undefined;
      add(byNode, nodesOf(t, parentId ? byId.get(parentId) : undefined).join(", ") || "(unknown)", c.stepUsd);
      const models = Object.entries(c.byModel);
      if (models.length === 0) add(byModel, "(not recorded)", c.stepUsd);
      for (const [m, usd] of models) add(byModel, m, usd);
      add(byTenant, c.tenant ?? "(none)", c.stepUsd);
    }
    byThread.push({ threadId: id, usd: costOf(all[0] as CheckpointTuple).totalUsd ?? total });
  }
  const sorted = (m: Map<string, number>) => Object.fromEntries([...m].sort((a, b) => b[1] - a[1]));
  const result = {
    usd: byThread.reduce((a, t) => a + t.usd, 0),
    byThread,
    byModel: sorted(byModel),
    byNode: sorted(byNode),
    byTenant: sorted(byTenant),
  };
  if (out.json) return out.data(result);
  if (!recorded) {
    return out.line(
      "no cost recorded in these checkpoints (wrap the saver with withCostMetadata from @graphkeep/cost)",
    );
  }
  out.line(`total ${out.bold(fmtUsd(result.usd))}`);
  out.table(
    ["thread", "cost"],
    byThread.map((t) => [t.threadId, fmtUsd(t.usd)]),
  );
  for (const [title, m] of [
    ["model", result.byModel],
    ["node(s)", result.byNode],
    ["tenant", result.byTenant],
  ] as const) {
    out.table(
      [title, "cost"],
      Object.entries(m).map(([k, u]) => [k, fmtUsd(u)]),
    );
  }
}

export async function statsCommand(saver: KeyvSaver, out: Output): Promise<void> {
  const s = await saver.stats();
  if (out.json) return out.data(s);
  out.table(
    ["threads", "checkpoints", "values", "writes", "bytes"],
    [[s.threads, s.checkpoints, s.values, s.writes, fmtBytes(s.bytes)]],
  );
}
