/**
 * Resume after a failing step (seed §4.1). A three-step workflow checkpoints after every step; step2 fails on its
 * first attempt. `graph.invoke(null, config)` on the same thread_id loads the latest checkpoint and continues at
 * step2: step1 is not run again.
 *
 *   pnpm example resume                     # embedded SQLite file
 *   GRAPHKEEP_STORE=redis://127.0.0.1:6379 pnpm example resume
 */

import { result, say, section } from "../lib/report.ts";
import { openSaver, runSuffix, storeUrl } from "../lib/store.ts";
import { buildWorkflow, initialState } from "../lib/workflow.ts";

const checkpointer = await openSaver();
const { graph, runs } = buildWorkflow(checkpointer, {
  failures: { step2: [1] },
  onRun: (step, attempt, s) => say(`run ${step} (attempt ${attempt}), current_step=${s.current_step}`),
});
const config = { configurable: { thread_id: `task_001-${runSuffix()}` } };
console.log(`checkpoints in ${storeUrl}, thread ${config.configurable.thread_id}`);

section("1. first run");
let firstError = "";
try {
  await graph.invoke(initialState, config);
} catch (e) {
  firstError = (e as Error).message;
  say(`task failed: ${firstError}`);
  say("it can be resumed later with the same thread_id");
}
const saved = await graph.getState(config);
say(`saved state: current_step=${saved.values.current_step}, next=${JSON.stringify(saved.next)}`);

section("2. resume: invoke(null, config) continues from the latest checkpoint");
const final = await graph.invoke(null, config);
say(`result: ${final.result}; messages ${JSON.stringify(final.messages)}`);
say(`node runs: ${JSON.stringify(runs)} (step1 once: the finished step was not re-run)`);

let checkpoints = 0;
for await (const _ of graph.getStateHistory(config)) checkpoints++;
say(`${checkpoints} checkpoints on the thread`);
await checkpointer.close();

result({
  threadId: config.configurable.thread_id,
  firstError,
  nextAfterFailure: saved.next,
  runs,
  checkpoints,
  final: { current_step: final.current_step, messages: final.messages, result: final.result },
});
