/**
 * OpenTelemetry overhead benchmark: ms per graph step of a LangGraph graph on KeyvSaver (memory:) bare, with
 * `instrumentSaver` + `traceGraph` + `GenAITracer` and no SDK registered, and with an SDK whose exporters discard
 * everything (batch span processor, metric reader that is never exported). Two workloads: a state loop (+1 KB per
 * step, no model) and an agent step (ChatOpenAI against a local fake OpenAI server). Configurations alternate
 * round by round; the table shows the median round.
 *
 *   pnpm bench:otel [--quick]
 */
import { randomUUID } from "node:crypto";
import { KeyvSaver } from "@graphkeep/keyv-saver";
import { GenAITracer, instrumentSaver, traceGraph } from "@graphkeep/otel";
import { HumanMessage } from "@langchain/core/messages";
import { Annotation, type BaseCheckpointSaver, MessagesAnnotation, StateGraph } from "@langchain/langgraph";
import { ChatOpenAI } from "@langchain/openai";
import { context, metrics, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { MeterProvider, MetricReader } from "@opentelemetry/sdk-metrics";
import { BasicTracerProvider, BatchSpanProcessor, type SpanExporter } from "@opentelemetry/sdk-trace-base";
import { startFakeOpenAI } from "../test/helpers/fake-openai.js";
import { median } from "./lib/stats.js";
import { fmtMs } from "./lib/table.js";
import { randomText } from "./lib/text.js";

const quick = process.argv.includes("--quick");
const ROUNDS = quick ? 3 : 7;
const LOOP = { threads: quick ? 4 : 10, steps: quick ? 25 : 50 };
const AGENT = { threads: quick ? 2 : 5, turns: quick ? 5 : 10 };

type Config =
  | "bare"
  | "instrumentSaver + traceGraph only, no SDK"
  | "GenAITracer only, no SDK"
  | "instrumented, no SDK"
  | "instrumented, SDK + no-op exporter";
const CONFIGS: Config[] = [
  "bare",
  "instrumentSaver + traceGraph only, no SDK",
  "GenAITracer only, no SDK",
  "instrumented, no SDK",
  "instrumented, SDK + no-op exporter",
];

const discard: SpanExporter = {
  export: (_spans, done) => done({ code: 0 }),
  shutdown: async () => {},
};
class UnreadReader extends MetricReader {
  protected async onShutdown(): Promise<void> {}
  protected async onForceFlush(): Promise<void> {}
}

function registerSdk(): () => Promise<void> {
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(discard)] });
  const meterProvider = new MeterProvider({ readers: [new UnreadReader()] });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(tracerProvider);
  metrics.setGlobalMeterProvider(meterProvider);
  return async () => {
    await tracerProvider.shutdown();
    await meterProvider.shutdown();
    trace.disable();
    metrics.disable();
    context.disable();
  };
}

function loopGraph(checkpointer: BaseCheckpointSaver) {
  const State = Annotation.Root({
    items: Annotation<string[]>({ reducer: (a, b) => a.concat(b), default: () => [] }),
    n: Annotation<number>({ reducer: (_a, b) => b, default: () => 0 }),
  });
  return new StateGraph(State)
    .addNode("grow", (s) => ({ items: [randomText(s.n, 1024)], n: s.n + 1 }))
    .addEdge("__start__", "grow")
    .addConditionalEdges("grow", (s) => (s.n >= LOOP.steps ? "__end__" : "grow"))
    .compile({ checkpointer });
}

function agentGraph(baseURL: string, checkpointer: BaseCheckpointSaver) {
  const model = new ChatOpenAI({ model: "gpt-4o-mini", apiKey: "bench", configuration: { baseURL } });
  return new StateGraph(MessagesAnnotation)
    .addNode("agent", async (s, config) => ({ messages: [await model.invoke(s.messages, config)] }))
    .addEdge("__start__", "agent")
    .compile({ checkpointer });
}

async function saverFor(instrumented: boolean): Promise<BaseCheckpointSaver> {
  const saver = await KeyvSaver.fromUrl("memory:");
  return instrumented ? instrumentSaver(saver) : saver;
}

const fake = await startFakeOpenAI();

/** ms per graph step of one round of a workload. */
async function round(workload: "loop" | "agent", config: Config): Promise<number> {
  const wraps = config !== "bare" && config !== "GenAITracer only, no SDK";
  const callbacks =
    config !== "bare" && config !== "instrumentSaver + traceGraph only, no SDK" ? [new GenAITracer()] : [];
  const saver = await saverFor(wraps);
  const wrap = <G extends object>(g: G) => (wraps ? traceGraph(g) : g);
  const start = performance.now();
  let steps = 0;
  if (workload === "loop") {
    const graph = wrap(loopGraph(saver));
    await Promise.all(
      Array.from({ length: LOOP.threads }, () =>
        graph.invoke({}, { configurable: { thread_id: randomUUID() }, callbacks, recursionLimit: LOOP.steps + 5 }),
      ),
    );
    steps = LOOP.threads * LOOP.steps;
  } else {
    const graph = wrap(agentGraph(fake.baseURL, saver));
    fake.enqueue(...Array.from({ length: AGENT.threads * AGENT.turns }, () => ({ content: "ok" })));
    await Promise.all(
      Array.from({ length: AGENT.threads }, async () => {
        const thread_id = randomUUID();
        for (let t = 0; t < AGENT.turns; t++) {
          await graph.invoke({ messages: [new HumanMessage(`turn ${t}`)] }, { configurable: { thread_id }, callbacks });
        }
      }),
    );
    steps = AGENT.threads * AGENT.turns;
  }
  return (performance.now() - start) / steps;
}

const results = new Map<string, number[]>();
for (const workload of ["loop", "agent"] as const) {
  await round(workload, "bare"); // warm-up
  for (let r = 0; r < ROUNDS; r++) {
    for (const config of CONFIGS) {
      const unregister = config === "instrumented, SDK + no-op exporter" ? registerSdk() : undefined;
      const ms = await round(workload, config);
      await unregister?.();
      const key = `${workload}|${config}`;
      results.set(key, [...(results.get(key) ?? []), ms]);
    }
  }
}
await fake.close();

console.log(`\n## OpenTelemetry overhead per graph step (median of ${ROUNDS} rounds, KeyvSaver memory:)\n`);
console.log("| workload | configuration | ms/step | overhead ms/step | overhead |");
console.log("|---|---|---|---|---|");
const titles = {
  loop: `state loop (${LOOP.threads} threads × ${LOOP.steps} steps, +1 KB/step)`,
  agent: `agent step (${AGENT.threads} threads × ${AGENT.turns} turns, ChatOpenAI → local fake server)`,
};
for (const workload of ["loop", "agent"] as const) {
  const bare = median(results.get(`${workload}|bare`) ?? []);
  for (const config of CONFIGS) {
    const ms = median(results.get(`${workload}|${config}`) ?? []);
    const over = config === "bare" ? "—" : fmtMs(ms - bare);
    const pct = config === "bare" ? "—" : `${(((ms - bare) / bare) * 100).toFixed(1)}%`;
    console.log(`| ${titles[workload]} | ${config} | ${fmtMs(ms)} | ${over} | ${pct} |`);
  }
}
console.log("\nTarget: ≤ 5% with no SDK. Shared 2-core machine: compare rows of one run only.");
