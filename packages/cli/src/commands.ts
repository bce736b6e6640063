import { ThreadExistsError } from "@graphkeep/core";
import { retentionPolicy, sweep } from "@graphkeep/retention";
import type { RunnableConfig } from "@langchain/core/runnables";
import { SingleBar } from "cli-progress";
import { NotFoundError, UsageError } from "./errors.js";
import { costOf, diffStates, errorsOf, nextOf, plain, statusOf } from "./inspect.js";
import { fmtBytes, fmtUsd, type Output } from "./output.js";
import { describeErrors, history, latest, meta, positiveInt, resolve, rootConfig, unknownThread } from "./reading.js";
import { graphkeepSaver, type Source } from "./source.js";

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

export async function statsCommand(source: Source, out: Output): Promise<void> {
  const s = await graphkeepSaver(source, "stats").stats();
  if (out.json) return out.data({ ...s, ...(source.manifest ? { manifest: source.manifest } : {}) });
  out.table(
    ["threads", "checkpoints", "values", "writes", "bytes"],
    [[s.threads, s.checkpoints, s.values, s.writes, fmtBytes(s.bytes)]],
    { right: [0, 1, 2, 3, 4] },
  );
}
