/**
 * Inspecting checkpoints (seed §4.4). Runs the workflow, then walks `graph.getStateHistory(config)`: id, step,
 * message count and metadata (source, step, which node wrote it) of every checkpoint, newest first. Then the same
 * thread seen by KeyvSaver's own admin calls: `checkpointInfo` (no values read) and `stats` (sizes).
 *
 *   pnpm example inspect
 *   # the CLI shows the same: graphkeep history <thread> --store sqlite://…
 */
import type { RunnableConfig } from "@langchain/core/runnables";
import { result, say, section } from "../lib/report.ts";
import { openSaver, runSuffix, storeUrl } from "../lib/store.ts";
import { buildWorkflow, initialState } from "../lib/workflow.ts";

const checkpointer = await openSaver();
const { graph } = buildWorkflow(checkpointer);
const threadId = `task_001-${runSuffix()}`;
console.log(`checkpoints in ${storeUrl}, thread ${threadId}`);
await graph.invoke(initialState, { configurable: { thread_id: threadId } });

/** Prints every checkpoint of a thread, newest first, and returns them. */
async function inspectCheckpoints(id: string) {
  const config: RunnableConfig = { configurable: { thread_id: id } };
  const history = [];
  section(`Thread: ${id}`);
  for await (const snapshot of graph.getStateHistory(config)) {
    history.push(snapshot);
    const m = snapshot.metadata;
    console.log(`\n   Checkpoint ${history.length}:`);
    say(`ID: ${String(snapshot.config.configurable?.checkpoint_id).slice(0, 16)}...`);
    say(`current step: ${snapshot.values.current_step ?? "N/A"}`);
    say(`messages: ${(snapshot.values.messages ?? []).length}`);
    say(`metadata: source=${m?.source} step=${m?.step} parents=${JSON.stringify(m?.parents ?? {})}`);
    say(`next: ${JSON.stringify(snapshot.next)}`);
  }
  return history;
}

const history = await inspectCheckpoints(threadId);

section("the same thread through KeyvSaver.checkpointInfo() and stats()");
const info = await checkpointer.checkpointInfo(threadId);
for (const c of info) {
  say(`${c.checkpointId.slice(0, 16)}… step ${c.step} ${c.source} at ${c.createdAt.toISOString()}`);
}
const stats = await checkpointer.stats(threadId);
say(`stored: ${stats.checkpoints} checkpoints, ${stats.values} channel values, ${stats.bytes} bytes`);
await checkpointer.close();

result({
  threadId,
  checkpoints: history.length,
  steps: history.map((s) => s.metadata?.step),
  sources: history.map((s) => s.metadata?.source),
  currentSteps: history.map((s) => s.values.current_step ?? null),
  infoCount: info.length,
  stats,
});
