/**
 * Cost tracking and a budget (seed §7.3). `CostTracker` prices every model call (bundled genai-prices table)
 * and keeps totals per thread, node and model in the store; `withCostMetadata` writes each step's cost into its
 * checkpoint's metadata, so the history shows spend per step. `BudgetGuard` refuses a call *before* its request
 * is sent when it could pass the thread's budget: the graph stops with `BudgetExceededError`, its checkpoint
 * intact. Raising the limit and `invoke(null)` resumes at the refused step.
 *
 *   pnpm example cost-budget
 */
import { BudgetGuard, CostTracker, isBudgetExceededError, withCostMetadata } from "@graphkeep/cost";
import { HumanMessage } from "@langchain/core/messages";
import { Annotation, END, START, StateGraph } from "@langchain/langgraph";
import { createLLM, lastUserText } from "../lib/llm.ts";
import { result, say, section } from "../lib/report.ts";
import { openKeyv, openSaver, runSuffix, storeUrl } from "../lib/store.ts";

const llm = await createLLM(
  (req) => ({ content: `notes on ${lastUserText(req).slice(0, 40)}`, usage: { prompt: 2000, completion: 400 } }),
  { model: "gpt-4o-mini", maxTokens: 400 },
);
const costStore = await openKeyv("cost");
const tracker = new CostTracker({ store: costStore });
const guard = new BudgetGuard({
  tracker,
  limits: { thread: 0.0012 },
  onWarn: (w) => say(`⚠ budget warning: ${(w.ratio * 100).toFixed(0)}% of $${w.limit} for ${w.scope} ${w.key}`),
});
const checkpointer = withCostMetadata(await openSaver(), tracker);

const State = Annotation.Root({ notes: Annotation<string[]>({ reducer: (a, b) => a.concat(b), default: () => [] }) });
const node = (topic: string) => async (_s: unknown, config: object) => ({
  notes: [String((await llm.model.invoke([new HumanMessage(`research ${topic}`)], config)).content)],
});
const graph = new StateGraph(State)
  .addNode("market", node("the market"))
  .addNode("rivals", node("the competitors"))
  .addNode("pricing", node("the pricing"))
  .addNode("summary", node("a summary"))
  .addEdge(START, "market")
  .addEdge("market", "rivals")
  .addEdge("rivals", "pricing")
  .addEdge("pricing", "summary")
  .addEdge("summary", END)
  .compile({ checkpointer });

const threadId = `thread_001-${runSuffix()}`;
const config = { configurable: { thread_id: threadId }, callbacks: [tracker, guard] };
const usd = (n: number) => `$${n.toFixed(6)}`;
console.log(`checkpoints and cost totals in ${storeUrl}, thread ${threadId}`);

section(`1. run with a thread budget of ${usd(0.0012)}`);
let stoppedBy = "";
let spentAtStop = 0;
try {
  await graph.invoke({}, config);
} catch (e) {
  if (!isBudgetExceededError(e)) throw e;
  stoppedBy = e.name;
  spentAtStop = e.spent;
  say(`stopped: ${e.message}`);
}
const requestsBeforeStop = llm.requests();
const stopped = await graph.getState(config);
say(`${requestsBeforeStop} requests sent; the thread waits at ${JSON.stringify(stopped.next)} with its state saved`);

section("2. raise the budget and resume");
guard.setLimits({ thread: 0.01 });
const done = await graph.invoke(null, config);
say(`finished with ${done.notes.length} notes; ${llm.requests()} requests in all (none repeated)`);

section("3. spend per step (checkpoint metadata) and totals (tracker)");
const perStep: Array<{ step: number | undefined; usd: number; total: number }> = [];
for await (const s of graph.getStateHistory(config)) {
  const cost = (s.metadata as { cost?: { step: { usd: number }; total: { usd: number } } } | undefined)?.cost;
  if (cost) perStep.unshift({ step: s.metadata?.step, usd: cost.step.usd, total: cost.total.usd });
}
for (const p of perStep) say(`step ${p.step}: ${usd(p.usd)} (running total ${usd(p.total)})`);
const totals = await tracker.totals({ threadId });
say(`thread total ${usd(totals.usd)} over ${totals.calls} calls; by node:`);
for (const [n, c] of Object.entries(totals.byNode)) say(`  ${n}: ${usd(c.usd)}`);

await llm.close();
await checkpointer.close();
await costStore.disconnect();
result({
  threadId,
  stoppedBy,
  spentAtStop,
  requestsBeforeStop,
  nextWhenStopped: stopped.next,
  resumedFinished: done.notes.length === 4,
  requests: llm.requests(),
  totalUsd: totals.usd,
  calls: totals.calls,
  perStep,
});
