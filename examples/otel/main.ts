/**
 * OpenTelemetry (seed §8.3): a tool-calling agent on KeyvSaver, traced with `instrumentSaver` (checkpoint
 * put/get spans, save duration and size histograms, restores, active threads, large-checkpoint warnings),
 * `traceGraph` (a span per run) and `GenAITracer` (GenAI semantic-convention spans and token metrics).
 * Spans go to OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set (e.g. a local Jaeger) and are counted in memory;
 * metrics are served for Prometheus on http://localhost:${PROMETHEUS_PORT:-9464}/metrics.
 *
 *   pnpm example otel                                   # run once, print the metrics, exit
 *   OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 KEEP_SERVING=1 pnpm example otel   # keep /metrics up
 */

import { GenAITracer, instrumentSaver, traceGraph } from "@graphkeep/otel";
import { HumanMessage } from "@langchain/core/messages";
import { tool } from "@langchain/core/tools";
import { MessagesAnnotation, StateGraph } from "@langchain/langgraph";
import { ToolNode, toolsCondition } from "@langchain/langgraph/prebuilt";
import { context, metrics, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { PrometheusExporter } from "@opentelemetry/exporter-prometheus";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { MeterProvider } from "@opentelemetry/sdk-metrics";
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type SpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { z } from "zod";
import { createLLM } from "../lib/llm.ts";
import { result } from "../lib/report.ts";
import { openSaver, runSuffix, storeUrl } from "../lib/store.ts";

// ---- OpenTelemetry SDK: context propagation, traces (in memory + OTLP/HTTP when configured), Prometheus metrics
const resource = resourceFromAttributes({ "service.name": "graphkeep-otel-example" });
const endpoint = process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
const memory = new InMemorySpanExporter();
const spanProcessors: SpanProcessor[] = [new SimpleSpanProcessor(memory)];
if (endpoint) {
  spanProcessors.push(
    new BatchSpanProcessor(new OTLPTraceExporter({ url: `${endpoint.replace(/\/$/, "")}/v1/traces` })),
  );
}
const tracerProvider = new BasicTracerProvider({ resource, spanProcessors });
const port = Number(process.env.PROMETHEUS_PORT ?? 9464);
const prometheus = new PrometheusExporter({ port });
const meterProvider = new MeterProvider({ resource, readers: [prometheus] });
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
trace.setGlobalTracerProvider(tracerProvider);
metrics.setGlobalMeterProvider(meterProvider);

// ---- the app: a scripted model, a tool, an agent graph on a SQLite checkpoint file
const llm = await createLLM([
  { toolCalls: [{ name: "lookup_order", args: { id: "A-17" } }], usage: { prompt: 120, completion: 18, cached: 64 } },
  { content: "Order A-17 shipped yesterday.", usage: { prompt: 160, completion: 9 } },
  { content: "You're welcome!", usage: { prompt: 180, completion: 5 } },
]);
const lookupOrder = tool(async ({ id }: { id: string }) => `order ${id}: shipped`, {
  name: "lookup_order",
  description: "Looks an order up",
  schema: z.object({ id: z.string() }),
});
const model = llm.model.bindTools([lookupOrder]);

const saver = instrumentSaver(await openSaver(), { largeCheckpointBytes: 1 << 20 });
console.log(`checkpoints in ${storeUrl}`);
const graph = traceGraph(
  new StateGraph(MessagesAnnotation)
    .addNode("agent", async (s, config) => ({ messages: [await model.invoke(s.messages, config)] }))
    .addNode("tools", new ToolNode([lookupOrder]))
    .addEdge("__start__", "agent")
    .addConditionalEdges("agent", toolsCondition)
    .addEdge("tools", "agent")
    .compile({ checkpointer: saver }),
  { name: "support-agent" },
);

const config = { configurable: { thread_id: `customer-42-${runSuffix()}` }, callbacks: [new GenAITracer()] };
const first = await graph.invoke({ messages: [new HumanMessage("Where is my order A-17?")] }, config);
console.log("agent:", first.messages.at(-1)?.content);
const second = await graph.invoke({ messages: [new HumanMessage("Thanks!")] }, config);
console.log("agent:", second.messages.at(-1)?.content);

await tracerProvider.forceFlush().catch((e: unknown) => console.warn(`OTLP export to ${endpoint} failed:`, e));
const page = await fetch(`http://localhost:${port}/metrics`).then((r) => r.text());
const lines = page.split("\n").filter((l) => /^(db_client|graphkeep|gen_ai)/.test(l) && !l.includes("_bucket"));
console.log(lines.join("\n"));
const spans: Record<string, number> = {};
for (const s of memory.getFinishedSpans()) spans[s.name] = (spans[s.name] ?? 0) + 1;
console.log(`spans recorded: ${JSON.stringify(spans)}`);
console.log(`${endpoint ? `spans sent to ${endpoint}/v1/traces; ` : ""}metrics at http://localhost:${port}/metrics`);
result({
  requests: llm.requests(),
  answers: [first.messages.at(-1)?.content, second.messages.at(-1)?.content],
  spans,
  metrics: [...new Set(lines.map((l) => l.split(/[{ ]/)[0]))].sort(),
});

if (process.env.KEEP_SERVING !== "1") {
  await llm.close();
  await saver.close();
  await tracerProvider.shutdown().catch(() => {});
  await meterProvider.shutdown();
}
