/**
 * A production setup (seed §9.2): PostgreSQL checkpoints, compressed + encrypted (AES-256-GCM) values, retention
 * (newest 10 per thread), cost tracking with a per-thread budget, a thread lease with fencing, and OpenTelemetry
 * on the saver, the graph and the model calls, around a small reasoning agent.
 *
 * Store: POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test) when it answers, else the embedded SQLite
 * file (said so on stdout). The key comes from GRAPHKEEP_KEY (base64 of 32 bytes: `openssl rand -base64 32`); a
 * throwaway key is generated when it is not set.
 *
 *   POSTGRES_URL=postgres://app@db/app GRAPHKEEP_KEY=… pnpm example production
 */
import { randomBytes } from "node:crypto";
import { BudgetGuard, CostTracker, withCostMetadata } from "@graphkeep/cost";
import { withThreadLease } from "@graphkeep/lease";
import { GenAITracer, instrumentSaver, traceGraph } from "@graphkeep/otel";
import { retentionPolicy, withRetention } from "@graphkeep/retention";
import { compressed, encrypted } from "@graphkeep/serde";
import { HumanMessage } from "@langchain/core/messages";
import { Annotation, END, START, StateGraph } from "@langchain/langgraph";
import { JsonPlusSerializer } from "@langchain/langgraph-checkpoint";
import { context, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { openLease } from "../lib/lease.ts";
import { createLLM, lastUserText } from "../lib/llm.ts";
import { result, say, section } from "../lib/report.ts";
import { defaultStoreUrl, openKeyv, openSaver, reachable, runSuffix, storeKind } from "../lib/store.ts";

// ---- configuration (the seed's CheckpointConfig)
const pgUrl = process.env.POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const usePostgres = pgUrl !== "" && (await reachable(pgUrl, 5432));
const url = usePostgres ? pgUrl : process.env.GRAPHKEEP_STORE || defaultStoreUrl();
if (!usePostgres) say(`PostgreSQL not reachable at ${pgUrl || "(POSTGRES_URL empty)"}: using ${url} instead`);
const key = process.env.GRAPHKEEP_KEY ?? randomBytes(32).toString("base64");
if (!process.env.GRAPHKEEP_KEY) say("GRAPHKEEP_KEY not set: using a throwaway key (checkpoints unreadable after exit)");
const config = { maxCheckpointsPerThread: 10, checkpointTtlDays: 7, budgetUsd: 0.05 };

// ---- telemetry
const spans = new InMemorySpanExporter();
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }));

// ---- checkpointer: serde, store, lease fencing, retention, cost metadata, tracing
const serde = encrypted(compressed(new JsonPlusSerializer(), { minBytes: 256 }), {
  keys: { k1: key },
  activeKeyId: "k1",
});
const lease = openLease({ ttlMs: 10_000 }, url);
const tracker = new CostTracker({ store: await openKeyv("cost", url) });
const guard = new BudgetGuard({ tracker, limits: { thread: config.budgetUsd } });
const base = await openSaver({ serde, fencing: lease, ttl: config.checkpointTtlDays * 86_400_000 }, url);
const policy = retentionPolicy({ keepLatest: config.maxCheckpointsPerThread, maxAge: `${config.checkpointTtlDays}d` });
const checkpointer = instrumentSaver(withCostMetadata(withRetention(base, policy), tracker));

// ---- the agent: plan, then one model call per step, then conclude
const llm = await createLLM((req) => {
  const p = lastUserText(req);
  if (p.startsWith("plan")) return { content: "a\nb\nc\nd\ne\nf" };
  if (p.startsWith("step")) return { content: `result of ${p}` };
  return { content: "42 (all six steps agree)" };
});
const State = Annotation.Root({
  question: Annotation<string>(),
  steps: Annotation<string[]>(),
  results: Annotation<string[]>({ reducer: (a, b) => a.concat(b), default: () => [] }),
  answer: Annotation<string>(),
});
const ask = async (prompt: string, c: object) =>
  String((await llm.model.invoke([new HumanMessage(prompt)], c)).content);
const graph = traceGraph(
  new StateGraph(State)
    .addNode("analyze", async (s, c) => ({ steps: (await ask(`plan: ${s.question}`, c)).split("\n") }))
    .addNode("execute", async (s, c) => ({ results: [await ask(`step ${s.steps[s.results.length]}`, c)] }))
    .addNode("validate", async (s, c) => ({ answer: await ask(`conclude: ${s.results.join("; ")}`, c) }))
    .addEdge(START, "analyze")
    .addEdge("analyze", "execute")
    .addConditionalEdges("execute", (s) => (s.results.length < s.steps.length ? "execute" : "validate"))
    .addEdge("validate", END)
    .compile({ checkpointer }),
  { name: "production-cot-agent" },
);
const agent = withThreadLease(graph, lease);

const threadId = `prod_task_12345-${runSuffix()}`;
console.log(`store ${storeKind(url)}, lease ${lease.kind}, thread ${threadId}`);
section("reason_with_monitoring(question, thread, budget)");
const out = await agent.invoke(
  { question: "What is six times seven, step by step?" },
  { configurable: { thread_id: threadId }, callbacks: [tracker, guard, new GenAITracer()] },
);
say(`answer: ${out.answer}`);
const totals = await tracker.totals({ threadId });
say(`cost $${totals.usd.toFixed(6)} over ${totals.calls} calls (budget $${config.budgetUsd})`);
const kept = (await base.checkpointInfo(threadId)).length;
say(`checkpoints kept by retention: ${kept} (of ${out.steps.length + 5} written)`);

// the stored values are ciphertext: a reader without the key gets an error, never the question
const plain = await openSaver({}, url);
let readableWithoutKey: boolean;
try {
  const t = await plain.getTuple({ configurable: { thread_id: threadId } });
  readableWithoutKey = JSON.stringify(t?.checkpoint.channel_values ?? {}).includes("six times seven");
} catch (e) {
  readableWithoutKey = false;
  say(`read without the key: ${(e as Error).name}`);
}
// (not closed: on PostgreSQL it shares the pool of the saver, closed below)
const latest = await base.getTuple({ configurable: { thread_id: threadId } });
say(`latest checkpoint decrypts to ${latest?.checkpoint.channel_values.answer ? "the full state" : "nothing"}`);
const spanNames: Record<string, number> = {};
for (const s of spans.getFinishedSpans()) spanNames[s.name] = (spanNames[s.name] ?? 0) + 1;
say(`spans: ${JSON.stringify(spanNames)}`);
const leaseInfo = await lease.info(threadId);

await llm.close();
await checkpointer.close();
await lease.close();
result({
  store: storeKind(url),
  lease: lease.kind,
  threadId,
  answer: out.answer,
  requests: llm.requests(),
  costUsd: totals.usd,
  calls: totals.calls,
  keptCheckpoints: kept,
  decrypted: latest?.checkpoint.channel_values.answer === out.answer,
  leaseState: leaseInfo?.state,
  spans: spanNames,
  readableWithoutKey,
});
