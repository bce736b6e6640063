/**
 * Selective re-run after an edit, with cached LLM calls (seed §5.2). A five-node pipeline
 * analyze → calculate_base → calculate_derived → validate → format_output calls the model in every node.
 * calculate_base had a bug in its own code (it read "1,200" as 1). After the fix, a `DependencyTracker` lists the
 * nodes affected; the thread is rewound to the checkpoint before calculate_base and re-run from there:
 *   - analyze does not run again (it is before the rewind point);
 *   - calculate_base's model call has the same prompt: served by the LLM cache, 0 requests;
 *   - the nodes downstream see the corrected number: new prompts, new requests.
 *
 *   pnpm example selective-rerun
 */
import { KeyvLLMCache } from "@graphkeep/llm-cache";
import { HumanMessage } from "@langchain/core/messages";
import { Annotation, END, START, StateGraph } from "@langchain/langgraph";
import { createLLM, lastUserText } from "../lib/llm.ts";
import { result, say, section } from "../lib/report.ts";
import { openKeyv, openSaver, runSuffix, storeUrl } from "../lib/store.ts";

/** Which nodes depend on which: the nodes to re-run after one changes. */
class DependencyTracker {
  readonly #deps = new Map<string, string[]>();

  addDependency(node: string, dependsOn: string[]): void {
    this.#deps.set(node, dependsOn);
  }

  /** `changed` and every node that depends on it, directly or not, in execution order. */
  getAffectedNodes(changed: string, allNodes: string[]): string[] {
    const affected = new Set([changed]);
    let grew = true;
    while (grew) {
      grew = false;
      for (const [node, deps] of this.#deps) {
        if (!affected.has(node) && deps.some((d) => affected.has(d))) {
          affected.add(node);
          grew = true;
        }
      }
    }
    return allNodes.filter((n) => affected.has(n));
  }
}

const llm = await createLLM((req) => {
  const prompt = lastUserText(req);
  const [kind] = prompt.split(":");
  const answers: Record<string, string> = {
    analyze: "Inputs: 1,200 units at $3 each.",
    calculate_base: "Base quantity: 1,200",
    calculate_derived: `Revenue = ${prompt.match(/quantity (\d+)/)?.[1] ?? "?"} × 3`,
    validate: prompt.includes("1200") ? "valid" : "suspicious: quantity looks too small",
    format_output: `Report: ${prompt.slice(prompt.indexOf(":") + 1).trim()}`,
  };
  return { content: answers[kind ?? ""] ?? "ok" };
});
const cacheStore = await openKeyv("llm");
const cache = new KeyvLLMCache(cacheStore, { scope: "thread", operationTimeoutMs: 5000 });
const model = cache.wrap(llm.model);
const checkpointer = await openSaver();

let parserFixed = false; // the edit
const parseQuantity = (text: string) => {
  const raw = text.match(/[\d,]+/)?.[0] ?? "0";
  return parserFixed ? Number(raw.replaceAll(",", "")) : Number.parseInt(raw, 10); // v1 bug: "1,200" → 1
};

const State = Annotation.Root({
  facts: Annotation<string>(),
  quantity: Annotation<number>(),
  revenue: Annotation<string>(),
  verdict: Annotation<string>(),
  report: Annotation<string>(),
});
const ran: string[] = [];
const ask = async (node: string, prompt: string, config: object) => {
  ran.push(node);
  return String((await model.invoke([new HumanMessage(`${node}: ${prompt}`)], config)).content);
};
const allNodes = ["analyze", "calculate_base", "calculate_derived", "validate", "format_output"];
const graph = new StateGraph(State)
  .addNode("analyze", async (_s, c) => ({ facts: await ask("analyze", "the order of ACME", c) }))
  .addNode("calculate_base", async (s, c) => ({ quantity: parseQuantity(await ask("calculate_base", s.facts, c)) }))
  .addNode("calculate_derived", async (s, c) => ({
    revenue: await ask("calculate_derived", `quantity ${s.quantity} at $3`, c),
  }))
  .addNode("validate", async (s, c) => ({ verdict: await ask("validate", `quantity ${s.quantity}, ${s.revenue}`, c) }))
  .addNode("format_output", async (s, c) => ({ report: await ask("format_output", `${s.revenue} (${s.verdict})`, c) }))
  .addEdge(START, "analyze")
  .addEdge("analyze", "calculate_base")
  .addEdge("calculate_base", "calculate_derived")
  .addEdge("calculate_derived", "validate")
  .addEdge("validate", "format_output")
  .addEdge("format_output", END)
  .compile({ checkpointer });

const threadId = `pipeline-${runSuffix()}`;
const config = { configurable: { thread_id: threadId } };
console.log(`checkpoints and cache in ${storeUrl}, thread ${threadId}`);

section("1. first run (calculate_base has the parsing bug)");
const first = await graph.invoke({}, config);
const firstRequests = llm.requests();
say(`quantity ${first.quantity}; verdict "${first.verdict}"; ${firstRequests} requests`);

section("2. fix calculate_base; which nodes need to run again?");
const tracker = new DependencyTracker();
tracker.addDependency("analyze", []);
tracker.addDependency("calculate_base", ["analyze"]);
tracker.addDependency("calculate_derived", ["calculate_base"]);
tracker.addDependency("validate", ["calculate_derived"]);
tracker.addDependency("format_output", ["validate"]);
const affected = tracker.getAffectedNodes("calculate_base", allNodes);
say(`nodes to re-run: ${JSON.stringify(affected)}`);
parserFixed = true;

section("3. rewind to the checkpoint before calculate_base and re-run from there");
let before: string | undefined;
for await (const s of graph.getStateHistory(config))
  if (s.next.includes(affected[0] ?? "")) before = s.config.configurable?.checkpoint_id;
ran.length = 0;
const hitsBefore = cache.stats().hits;
const fixed = await graph.invoke(null, { configurable: { thread_id: threadId, checkpoint_id: before } });
const rerunRequests = llm.requests() - firstRequests;
const cacheHits = cache.stats().hits - hitsBefore;
say(`nodes that ran: ${JSON.stringify(ran)}`);
say(`quantity ${fixed.quantity}; verdict "${fixed.verdict}"; report "${fixed.report}"`);
say(`${rerunRequests} requests for ${ran.length} model calls (${cacheHits} served by the cache)`);

await checkpointer.close();
await llm.close();
await cacheStore.disconnect();
result({
  threadId,
  firstRequests,
  affected,
  rerunNodes: [...ran],
  rerunRequests,
  cacheHits,
  before: { quantity: first.quantity, verdict: first.verdict },
  after: { quantity: fixed.quantity, verdict: fixed.verdict, report: fixed.report },
});
