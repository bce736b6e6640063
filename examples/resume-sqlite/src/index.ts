// Resume a failed graph from its last good step, then time-travel and fork, on an embedded SQLite file.
// Run: pnpm demo   (or: pnpm --filter @graphkeep/example-resume-sqlite start)
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KeyvSaver } from "@graphkeep/keyv-saver";
import { Annotation, END, START, StateGraph } from "@langchain/langgraph";

const file =
  process.env.GRAPHKEEP_DEMO_DB ?? join(mkdtempSync(join(tmpdir(), "graphkeep-demo-")), "checkpoints.sqlite");
const saver = await KeyvSaver.fromUrl(`sqlite://${file}`);

const State = Annotation.Root({
  topic: Annotation<string>(),
  notes: Annotation<string[]>({ reducer: (a, b) => a.concat(b), default: () => [] }),
});

const calls = { research: 0, draft: 0, review: 0 };
let flaky = true; // the first "draft" call times out, like an LLM provider would

const graph = new StateGraph(State)
  .addNode("research", (s) => {
    calls.research++;
    return { notes: [`research on ${s.topic} (the expensive step)`] };
  })
  .addNode("draft", () => {
    calls.draft++;
    if (flaky) {
      flaky = false;
      throw new Error("LLM request timed out");
    }
    return { notes: ["draft written"] };
  })
  .addNode("review", () => {
    calls.review++;
    return { notes: ["review done"] };
  })
  .addEdge(START, "research")
  .addEdge("research", "draft")
  .addEdge("draft", "review")
  .addEdge("review", END)
  .compile({ checkpointer: saver });

const config = { configurable: { thread_id: "demo-thread" } };

console.log(`graphkeep demo: checkpoints in ${file}\n`);
console.log("1. run the graph; the 'draft' step fails halfway");
try {
  await graph.invoke({ topic: "checkpointing" }, config);
} catch (e) {
  console.log(`   failed: ${(e as Error).message}`);
}
const stalled = await graph.getState(config);
console.log(`   saved state: next step ${JSON.stringify(stalled.next)}, notes ${JSON.stringify(stalled.values.notes)}`);

console.log("\n2. resume from the checkpoint: invoke(null, config)");
const done = await graph.invoke(null, config);
console.log(`   notes: ${JSON.stringify(done.notes)}`);
console.log(`   'research' ran ${calls.research} time(s): the finished step was not paid for twice`);

console.log("\n3. time travel: fork from the checkpoint taken before 'review'");
const history = [];
for await (const snapshot of graph.getStateHistory(config)) history.push(snapshot);
const beforeReview = history.find((s) => s.next.includes("review"));
if (!beforeReview) throw new Error("no checkpoint before review");
const forked = await graph.updateState(beforeReview.config, { notes: ["an editor's remark"] });
const forkResult = await graph.invoke(null, forked);
console.log(`   fork notes: ${JSON.stringify(forkResult.notes)}`);
const original = await graph.getState({
  configurable: { thread_id: "demo-thread", checkpoint_id: history[0]?.config.configurable?.checkpoint_id },
});
console.log(`   original branch unchanged: ${JSON.stringify(original.values.notes)}`);

const stats = await saver.stats("demo-thread");
console.log(`\n4. stored: ${stats.checkpoints} checkpoints, ${stats.values} channel values, ${stats.bytes} bytes`);
await saver.close();
if (calls.research !== 1) {
  console.error("research ran more than once: resume did not work");
  process.exit(1);
}
