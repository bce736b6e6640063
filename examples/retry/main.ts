/**
 * Retry with resume (seed §4.3). `executeWithRetry` passes the initial state on the first attempt and `null`
 * afterwards, so every retry continues from the latest checkpoint instead of starting over. step2 fails twice
 * (a flaky upstream) and succeeds on the third attempt; step1 runs once.
 *
 *   pnpm example retry
 */

import { result, say, section } from "../lib/report.ts";
import { openSaver, runSuffix, storeUrl } from "../lib/store.ts";
import type { MyState } from "../lib/workflow.ts";
import { buildWorkflow, initialState } from "../lib/workflow.ts";

type Graph = ReturnType<typeof buildWorkflow>["graph"];

/** Runs a thread to completion, resuming from its checkpoint after each failure. */
async function executeWithRetry(
  graph: Graph,
  input: Partial<typeof MyState.State>,
  threadId: string,
  { maxRetries = 3, delayMs = 200 } = {},
) {
  const config = { configurable: { thread_id: threadId } };
  for (let attempt = 0; attempt < maxRetries; attempt++) {
    try {
      // first attempt: the initial state; later ones: null = resume from the latest checkpoint
      const out = await graph.invoke(attempt === 0 ? input : null, config);
      say(`succeeded (attempt ${attempt + 1}/${maxRetries})`);
      return { out, attempts: attempt + 1 };
    } catch (e) {
      say(`failed (attempt ${attempt + 1}/${maxRetries}): ${(e as Error).message}`);
      if (attempt === maxRetries - 1) {
        say("giving up after the last attempt");
        throw e;
      }
      say(`waiting ${delayMs} ms before retrying…`);
      await new Promise((r) => setTimeout(r, delayMs));
    }
  }
  throw new Error("unreachable");
}

const checkpointer = await openSaver();
const { graph, runs } = buildWorkflow(checkpointer, {
  failures: { step2: [1, 2] },
  onRun: (step, attempt) => say(`run ${step} (attempt ${attempt})`),
});
const threadId = `resilient_task_001-${runSuffix()}`;
console.log(`checkpoints in ${storeUrl}, thread ${threadId}`);

section("executeWithRetry(graph, initialState, threadId, { maxRetries: 3 })");
const { out, attempts } = await executeWithRetry(graph, initialState, threadId);
say(`result: ${out.result}; node runs ${JSON.stringify(runs)}`);
await checkpointer.close();

result({ threadId, attempts, runs, final: { current_step: out.current_step, messages: out.messages } });
