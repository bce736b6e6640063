/**
 * LLM cache for a deterministic resume (seed §7.1). An LLM is not deterministic: re-running a step after a crash
 * can give another answer and costs again. `KeyvLLMCache` (scope "thread") keeps every answer of a thread in the
 * store, next to its checkpoints: a resumed or rewound run of that thread gets the same answers with no request.
 * Here the scripted model answers differently every time (like temperature > 0), and:
 *   1. "polish" crashes right after its model call;      resume: that call is served from the cache (0 requests)
 *   2. the thread is rewound to its start and replayed:   3 calls, 0 requests, identical answers
 *   3. another thread asks the same:                      thread scope, so it pays for its own answers
 *
 *   pnpm example llm-cache
 */
import { randomUUID } from "node:crypto";
import { KeyvLLMCache } from "@graphkeep/llm-cache";
import { HumanMessage } from "@langchain/core/messages";
import { Annotation, END, START, StateGraph } from "@langchain/langgraph";
import { createLLM, lastUserText } from "../lib/llm.ts";
import { result, say, section } from "../lib/report.ts";
import { openKeyv, openSaver, runSuffix, storeUrl } from "../lib/store.ts";

const llm = await createLLM((req) => ({
  // a different answer every time, as a sampling model would give
  content: `${lastUserText(req).split(":")[0]} → answer ${randomUUID().slice(0, 6)}`,
}));
const cacheStore = await openKeyv("llm");
const cache = new KeyvLLMCache(cacheStore, { scope: "thread", operationTimeoutMs: 5000 });
const model = cache.wrap(llm.model);
const checkpointer = await openSaver();

const State = Annotation.Root({
  question: Annotation<string>(),
  outline: Annotation<string>(),
  text: Annotation<string>(),
  final: Annotation<string>(),
});
let crashPolish = true;
const ask = async (prompt: string, config: object) =>
  String((await model.invoke([new HumanMessage(prompt)], config)).content);
const graph = new StateGraph(State)
  .addNode("plan", async (s, config) => ({ outline: await ask(`plan: ${s.question}`, config) }))
  .addNode("draft", async (s, config) => ({ text: await ask(`draft: ${s.outline}`, config) }))
  .addNode("polish", async (s, config) => {
    const final = await ask(`polish: ${s.text}`, config);
    if (crashPolish) {
      crashPolish = false;
      throw new Error("worker crashed after the model answered");
    }
    return { final };
  })
  .addEdge(START, "plan")
  .addEdge("plan", "draft")
  .addEdge("draft", "polish")
  .addEdge("polish", END)
  .compile({ checkpointer });

const threadId = `thread_001-${runSuffix()}`;
const config = { configurable: { thread_id: threadId } };
const question = "How do I make a LangGraph workflow survive a crash?";
console.log(`checkpoints and cache in ${storeUrl}, thread ${threadId}${llm.real ? " (real OpenAI)" : ""}`);

section("1. first run: plan, draft, polish (crashes after its model call)");
try {
  await graph.invoke({ question }, config);
} catch (e) {
  say(`failed: ${(e as Error).message}`);
}
const firstRun = llm.requests();
say(`requests so far: ${firstRun}`);

section("2. resume: invoke(null, config)");
const resumed = await graph.invoke(null, config);
const resumeRequests = llm.requests() - firstRun;
say(`final: ${resumed.final}`);
say(`requests for the resume: ${resumeRequests} (polish's answer came from the cache)`);

section("3. rewind to the start of the thread and replay it");
let start: string | undefined;
for await (const s of graph.getStateHistory(config))
  if (s.metadata?.source === "input") start = s.config.configurable?.checkpoint_id;
const beforeReplay = llm.requests();
const replay = await graph.invoke(null, { configurable: { thread_id: threadId, checkpoint_id: start } });
const replayRequests = llm.requests() - beforeReplay;
const identical = replay.outline === resumed.outline && replay.text === resumed.text && replay.final === resumed.final;
say(`replayed final: ${replay.final}`);
say(`requests for the replay: ${replayRequests}; identical answers: ${identical}`);

section("4. another thread asks the same question (cache scope: thread)");
const beforeOther = llm.requests();
const other = await graph.invoke({ question }, { configurable: { thread_id: `${threadId}-other` } });
const otherThreadRequests = llm.requests() - beforeOther;
say(`other thread final: ${other.final}`);
say(`requests: ${otherThreadRequests} (a thread-scoped cache only replays its own thread)`);
say(`cache stats: ${JSON.stringify(cache.stats())}`);

await checkpointer.close();
await llm.close();
await cacheStore.disconnect();
result({
  threadId,
  firstRunRequests: firstRun,
  resumeRequests,
  replayRequests,
  identical,
  otherThreadRequests,
  totalRequests: llm.requests(),
  stats: cache.stats(),
});
