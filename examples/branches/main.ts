/**
 * Branches (seed §5.3). A finished "main" thread is copied to two new threads with `KeyvSaver.copyThread`; each
 * branch goes back to the checkpoint after step1, sets its own step2 variant (`updateState`) and re-runs from
 * there. Three threads, three outcomes; main is untouched.
 *
 *   step1 ┬→ step2(v1) → step3   main
 *         ├→ step2(experiment_a) → step3
 *         └→ step2(experiment_b) → step3
 *
 *   pnpm example branches
 */

import { result, say, section } from "../lib/report.ts";
import { openSaver, runSuffix, storeUrl } from "../lib/store.ts";
import { buildWorkflow, initialState } from "../lib/workflow.ts";

const checkpointer = await openSaver();
const { graph, runs } = buildWorkflow(checkpointer);
const main = `main-${runSuffix()}`;
console.log(`checkpoints in ${storeUrl}, base thread ${main}`);

section("1. the base run");
const base = await graph.invoke({ ...initialState, variant: "v1" }, { configurable: { thread_id: main } });
say(`main: ${JSON.stringify(base.messages)}`);

/** Copies `baseThreadId` to a new thread, rewinds it to after step1 and re-runs with another step2 variant. */
async function createBranch(baseThreadId: string, branchName: string) {
  const branchThreadId = `${baseThreadId}_branch_${branchName}`;
  await checkpointer.copyThread(baseThreadId, branchThreadId);
  let afterStep1: Awaited<ReturnType<typeof graph.getState>> | undefined;
  for await (const s of graph.getStateHistory({ configurable: { thread_id: branchThreadId } })) {
    if (s.values.current_step === 1) afterStep1 = s;
  }
  if (!afterStep1) throw new Error("no checkpoint after step1");
  const forked = await graph.updateState(afterStep1.config, { variant: branchName });
  const out = await graph.invoke(null, forked);
  say(`created branch: ${baseThreadId} → ${branchThreadId}`);
  return { branchThreadId, out };
}

section("2. two branches from the checkpoint after step1");
const a = await createBranch(main, "experiment_a");
say(`experiment_a: ${JSON.stringify(a.out.messages)}`);
const b = await createBranch(main, "experiment_b");
say(`experiment_b: ${JSON.stringify(b.out.messages)}`);

section("3. main is unchanged");
const mainNow = await graph.getState({ configurable: { thread_id: main } });
say(`main: ${JSON.stringify(mainNow.values.messages)}`);
say(`node runs in all: ${JSON.stringify(runs)} (step1 ran once, for main)`);
await checkpointer.close();

result({
  threads: { main, a: a.branchThreadId, b: b.branchThreadId },
  main: mainNow.values.messages,
  a: a.out.messages,
  b: b.out.messages,
  mainUnchanged: JSON.stringify(mainNow.values.messages) === JSON.stringify(base.messages),
  runs,
});
