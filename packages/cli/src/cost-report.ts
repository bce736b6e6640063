import { type CostCounters, CostTracker } from "@graphkeep/cost";
import type { CheckpointTuple } from "@langchain/langgraph-checkpoint";
import { costOf, nodesOf } from "./inspect.js";
import { fmtTokens, fmtUsd, type Output } from "./output.js";
import { history, parentIdOf, unknownThread } from "./reading.js";
import type { Source } from "./source.js";

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
