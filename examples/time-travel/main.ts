/**
 * Time travel (seed §5.1). Runs the workflow to the end, lists its checkpoints, picks the one taken after step1
 * (current_step = 1) and invokes the graph from it: `invoke(null, { configurable: { thread_id, checkpoint_id } })`
 * re-runs step2 and step3 from that point. The thread's history keeps both timelines.
 *
 *   pnpm example time-travel
 */

import { result, say, section } from "../lib/report.ts";
import { openSaver, runSuffix, storeUrl } from "../lib/store.ts";
import { buildWorkflow, initialState } from "../lib/workflow.ts";

const checkpointer = await openSaver();
const { graph, runs } = buildWorkflow(checkpointer, {
  onRun: (step, _attempt, s) => say(`run ${step}, current_step=${s.current_step}`),
});
const threadId = `time_travel_demo-${runSuffix()}`;
const config = { configurable: { thread_id: threadId } };
console.log(`checkpoints in ${storeUrl}, thread ${threadId}`);

section("1. run the task");
await graph.invoke(initialState, config);

section("2. list the checkpoints");
const history = [];
for await (const snapshot of graph.getStateHistory(config)) history.push(snapshot);
say(`found ${history.length} checkpoints`);
history.forEach((s, i) => {
  say(`[${i}] step ${s.values.current_step ?? 0}: ${JSON.stringify(s.values.messages ?? [])}`);
});

section("3. go back to 'after step 1' and re-run from there");
const target = history.find((s) => s.values.current_step === 1);
if (!target) throw new Error("no checkpoint after step 1");
const checkpointId = target.config.configurable?.checkpoint_id as string;
say(`rewinding to checkpoint ${checkpointId.slice(0, 16)}…, next = ${JSON.stringify(target.next)}`);
const before = { ...runs };
const rerun = await graph.invoke(null, { configurable: { thread_id: threadId, checkpoint_id: checkpointId } });
say(`re-run done: ${JSON.stringify(rerun.messages)}`);
const rerunNodes = Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, v - before[k as keyof typeof runs]]));
say(`nodes run by the re-run: ${JSON.stringify(rerunNodes)}`);

let after = 0;
for await (const _ of graph.getStateHistory(config)) after++;
say(`the thread now holds ${after} checkpoints: the original timeline is still there`);
await checkpointer.close();

result({
  threadId,
  checkpointsBefore: history.length,
  checkpointsAfter: after,
  rewoundTo: { current_step: target.values.current_step, next: target.next },
  rerunNodes,
  final: { current_step: rerun.current_step, messages: rerun.messages, result: rerun.result },
});
