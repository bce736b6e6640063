/**
 * Checkpoint granularity (seed §3.2 save_on / save_interval, §8.1 adaptive saving). A 9-step research loop
 * (analyze → draft → validate, three rounds, one model call per step) runs three ways on the same store:
 *   1. every step stored (LangGraph's default);
 *   2. `withCheckpointPolicy(graph, { saveOn: ["validate"] })`: only after validate, plus the input and the end;
 *   3. `whenCostOver: 0.01` with a CostTracker: stored when the spend since the last save passes $0.01.
 * Then a run that fails in round 3 stores its latest checkpoint anyway, and `invoke(null)` resumes it without
 * repeating a model call that had finished.
 *
 *   pnpm example granularity
 */
import { CostTracker } from "@graphkeep/cost";
import { type SaveEvent, withCheckpointPolicy } from "@graphkeep/policy";
import { Annotation, END, START, StateGraph } from "@langchain/langgraph";
import type { BaseCheckpointSaver } from "@langchain/langgraph-checkpoint";
import Keyv from "keyv";
import { createLLM, lastUserText } from "../lib/llm.ts";
import { result, say, section } from "../lib/report.ts";
import { openSaver, runSuffix, storeUrl } from "../lib/store.ts";

const llm = await createLLM(
  (req) => ({ content: `notes on ${lastUserText(req)}`, usage: { prompt: 800, completion: 400 } }),
  {
    model: "gpt-4o-2024-08-06",
  },
);
const State = Annotation.Root({
  round: Annotation<number>({ reducer: (_a, b) => b, default: () => 0 }),
  notes: Annotation<string[]>({ reducer: (a, b) => a.concat(b), default: () => [] }),
});
let failIn: string | undefined;
const node = (name: string) => async (s: typeof State.State, config: unknown) => {
  if (failIn === `${name}:${s.round}`) {
    failIn = undefined;
    throw new Error(`${name} failed in round ${s.round + 1}`);
  }
  const reply = await llm.model.invoke(`${name} round ${s.round}`, config as never);
  return { notes: [String(reply.content)], ...(name === "validate" ? { round: s.round + 1 } : {}) };
};
const build = (checkpointer: BaseCheckpointSaver) =>
  new StateGraph(State)
    .addNode("analyze", node("analyze"))
    .addNode("draft", node("draft"))
    .addNode("validate", node("validate"))
    .addEdge(START, "analyze")
    .addEdge("analyze", "draft")
    .addEdge("draft", "validate")
    .addConditionalEdges("validate", (s) => (s.round < 3 ? "analyze" : END))
    .compile({ checkpointer });

const saver = await openSaver();
const suffix = runSuffix();
console.log(`checkpoints in ${storeUrl}`);
const stored = async (thread: string) => {
  const steps: number[] = [];
  for await (const t of saver.list({ configurable: { thread_id: thread } })) steps.push(t.metadata?.step as number);
  return steps.reverse();
};
const tracker = new CostTracker({ store: new Keyv() });
const cfg = (thread: string) => ({ configurable: { thread_id: thread }, callbacks: [tracker] });

section("1. no policy: every step is stored");
const every = `every-${suffix}`;
await build(saver).invoke({}, cfg(every));
const everySteps = await stored(every);
say(`stored steps: ${everySteps.join(" ")}`);

section('2. saveOn: ["validate"]');
const events: SaveEvent[] = [];
const onSave = (e: SaveEvent) => events.push(e);
const saveOn = `save-on-${suffix}`;
await withCheckpointPolicy(build(saver), { saveOn: ["validate"], onSave }).invoke({}, cfg(saveOn));
const saveOnSteps = await stored(saveOn);
say(`stored steps: ${saveOnSteps.join(" ")}`);
say(`why: ${events.map((e) => `${e.step}:${e.reason}`).join(" ")}`);

section("3. whenCostOver: 0.01 (each call costs $0.006 at gpt-4o prices)");
events.length = 0;
const cost = `cost-${suffix}`;
await withCheckpointPolicy(build(saver), { whenCostOver: 0.01, tracker, onSave }).invoke({}, cfg(cost));
const costSteps = await stored(cost);
say(`stored steps: ${costSteps.join(" ")}`);
say(`why: ${events.map((e) => `${e.step}:${e.reason}`).join(" ")}`);
say(`spend of the thread: $${(await tracker.totals({ threadId: cost })).usd.toFixed(4)}`);

section("4. a failure in round 3 stores the latest checkpoint; invoke(null) resumes there");
const failing = `failing-${suffix}`;
const graph = withCheckpointPolicy(build(saver), { saveOn: ["validate"] });
failIn = "draft:2";
const before = llm.requests();
const error = await graph.invoke({}, cfg(failing)).catch((e: Error) => e.message);
const state = await graph.getState(cfg(failing));
say(`run failed: ${String(error)}; stored next: ${state.next.join(", ")} (round ${state.values.round + 1})`);
const out = await graph.invoke(null, cfg(failing));
const requests = llm.requests() - before;
say(`resumed and finished ${out.round} rounds; model requests in all: ${requests} (9 steps, none repeated)`);
say(`stored steps: ${(await stored(failing)).join(" ")}`);
await saver.close();
await llm.close();

result({
  everySteps: everySteps.length,
  saveOnSteps,
  costSteps,
  failedNext: state.next,
  resumedRound: out.round,
  requests,
});
