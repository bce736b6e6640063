/**
 * Retention (seed §8.2). Long threads grow a checkpoint per step. A policy keeps the newest 10 checkpoints of a
 * thread, drops those older than 7 days, and keeps every branch's final checkpoint (`keepFinal`, the seed's
 * keep_completed_forever):
 *   1. `sweep(saver, policy, { dryRun: true })` reports what would go; the real sweep deletes exactly that
 *      (run it from cron; here it is limited to this run's threads with `threadIds`);
 *   2. a swept thread still loads and resumes;
 *   3. `withRetention(saver, policy)` trims threads while they are written.
 *
 *   pnpm example retention
 */
import { retentionPolicy, sweep, withRetention } from "@graphkeep/retention";
import { Annotation, END, START, StateGraph } from "@langchain/langgraph";
import type { BaseCheckpointSaver } from "@langchain/langgraph-checkpoint";
import { result, say, section } from "../lib/report.ts";
import { openSaver, runSuffix, storeUrl } from "../lib/store.ts";

const State = Annotation.Root({
  steps: Annotation<number>({ reducer: (a, b) => a + b, default: () => 0 }),
  target: Annotation<number>(),
  log: Annotation<string[]>({ reducer: (a, b) => a.concat(b), default: () => [] }),
});
/** A loop of `target` steps: one checkpoint per step. */
const build = (checkpointer: BaseCheckpointSaver) =>
  new StateGraph(State)
    .addNode("work", (s) => ({ steps: 1, log: [`step ${s.steps + 1}`] }))
    .addEdge(START, "work")
    .addConditionalEdges("work", (s) => (s.steps < s.target ? "work" : END))
    .compile({ checkpointer });

const saver = await openSaver();
const graph = build(saver);
const suffix = runSuffix();
const threads = [`nightly-a-${suffix}`, `nightly-b-${suffix}`];
console.log(`checkpoints in ${storeUrl}, threads ${threads.join(", ")}`);
const count = async (id: string) => (await saver.checkpointInfo(id)).length;

section("1. two threads of 30 steps each");
for (const id of threads) await graph.invoke({ target: 30 }, { configurable: { thread_id: id }, recursionLimit: 100 });
const before = await Promise.all(threads.map(count));
say(`checkpoints per thread: ${JSON.stringify(before)}`);

const policy = retentionPolicy({ keepLatest: 10, maxAge: "7d", keepFinal: true });
section("2. sweep(saver, { keepLatest: 10, maxAge: '7d', keepFinal: true })");
const dry = await sweep(saver, policy, { dryRun: true, threadIds: threads });
say(`dry run: would delete ${dry.checkpointsDeleted} checkpoints, free ${dry.bytesFreed} bytes`);
const real = await sweep(saver, policy, {
  threadIds: threads,
  onProgress: (p) => say(`… ${p.threadsScanned}/${p.threadsTotal} threads, ${p.checkpointsDeleted} deleted`),
});
say(`deleted ${real.checkpointsDeleted} checkpoints, ${real.valuesDeleted} values, ${real.bytesFreed} bytes freed`);
const after = await Promise.all(threads.map(count));
say(`checkpoints per thread now: ${JSON.stringify(after)}`);

section("3. a swept thread still loads and continues");
const cfg = { configurable: { thread_id: threads[0] }, recursionLimit: 100 };
const state = await graph.getState(cfg);
say(`latest state: steps=${state.values.steps}, ${state.values.log.length} log lines`);
await graph.updateState(cfg, { target: 35 });
const continued = await graph.invoke(null, cfg);
say(`continued to steps=${continued.steps}`);

section("4. withRetention: trimmed while written");
const liveSaver = withRetention(await openSaver(), policy, { every: 4 });
const live = build(liveSaver);
const liveThread = `live-${suffix}`;
await live.invoke({ target: 40 }, { configurable: { thread_id: liveThread }, recursionLimit: 100 });
const liveCount = await count(liveThread);
say(`a 40-step thread written through withRetention holds ${liveCount} checkpoints`);
await saver.close();
await liveSaver.close();

result({
  threads,
  before,
  after,
  dryRun: { checkpointsDeleted: dry.checkpointsDeleted, bytesFreed: dry.bytesFreed },
  sweep: { checkpointsDeleted: real.checkpointsDeleted, bytesFreed: real.bytesFreed },
  resumedSteps: continued.steps,
  liveCheckpoints: liveCount,
});
