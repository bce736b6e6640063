/**
 * @graphkeep/otel example: a tool-calling agent on KeyvSaver (SQLite file), traced with OpenTelemetry.
 * Spans go to OTLP/HTTP (OTEL_EXPORTER_OTLP_ENDPOINT, default http://localhost:4318), metrics are served for
 * Prometheus on http://localhost:9464/metrics. The model is a scripted local OpenAI-compatible server.
 *
 *   npx tsx examples/otel/main.ts            # run once, print the metrics page, exit
 *   KEEP_SERVING=1 npx tsx examples/otel/main.ts   # keep the metrics endpoint up for Prometheus to scrape
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HumanMessage } from "@langchain/core/messages";
import { tool } from "@langchain/core/tools";
import { MessagesAnnotation, StateGraph } from "@langchain/langgraph";
import { ToolNode, toolsCondition } from "@langchain/langgraph/prebuilt";
import { ChatOpenAI } from "@langchain/openai";
import { context, metrics, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { PrometheusExporter } from "@opentelemetry/exporter-prometheus";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { MeterProvider } from "@opentelemetry/sdk-metrics";
import { BasicTracerProvider, BatchSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { z } from "zod";
import { KeyvSaver } from "../../packages/keyv-saver/src/index.ts";
import { GenAITracer, instrumentSaver, traceGraph } from "../../packages/otel/src/index.ts";
import { startFakeOpenAI } from "./fake-openai.ts";

// ---- OpenTelemetry SDK: context propagation, OTLP/HTTP traces, Prometheus metrics
const resource = resourceFromAttributes({ "service.name": "graphkeep-otel-example" });
const endpoint = process.env.OTEL_EXPORTER_OTLP_ENDPOINT ?? "http://localhost:4318";
const tracerProvider = new BasicTracerProvider({
  resource,
  spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: `${endpoint.replace(/\/$/, "")}/v1/traces` }))],
});
const prometheus = new PrometheusExporter({ port: 9464 });
const meterProvider = new MeterProvider({ resource, readers: [prometheus] });
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
trace.setGlobalTracerProvider(tracerProvider);
metrics.setGlobalMeterProvider(meterProvider);

// ---- the app: a scripted model, a tool, an agent graph on a SQLite checkpoint file
const fake = await startFakeOpenAI([
  { toolCalls: [{ name: "lookup_order", args: { id: "A-17" } }], usage: { prompt: 120, completion: 18, cached: 64 } },
  { content: "Order A-17 shipped yesterday.", usage: { prompt: 160, completion: 9 } },
  { content: "You're welcome!", usage: { prompt: 180, completion: 5 } },
]);
const lookupOrder = tool(async ({ id }: { id: string }) => `order ${id}: shipped`, {
  name: "lookup_order",
  description: "Looks an order up",
  schema: z.object({ id: z.string() }),
});
const model = new ChatOpenAI({
  model: "gpt-4o-mini",
  apiKey: "example",
  configuration: { baseURL: fake.baseURL },
}).bindTools([lookupOrder]);

const file = join(mkdtempSync(join(tmpdir(), "graphkeep-otel-")), "checkpoints.sqlite");
const saver = instrumentSaver(await KeyvSaver.fromUrl(`sqlite://${file}`), { largeCheckpointBytes: 1 << 20 });
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

const config = { configurable: { thread_id: "customer-42" }, callbacks: [new GenAITracer()] };
const first = await graph.invoke({ messages: [new HumanMessage("Where is my order A-17?")] }, config);
console.log("agent:", first.messages.at(-1)?.content);
const second = await graph.invoke({ messages: [new HumanMessage("Thanks!")] }, config);
console.log("agent:", second.messages.at(-1)?.content);

await tracerProvider.forceFlush().catch((e: unknown) => console.warn(`OTLP export to ${endpoint} failed:`, e));
const page = await fetch("http://localhost:9464/metrics").then((r) => r.text());
console.log(
  page
    .split("\n")
    .filter((l) => /^(db_client|graphkeep|gen_ai)/.test(l) && !l.includes("_bucket"))
    .join("\n"),
);
console.log(`spans sent to ${endpoint}/v1/traces; metrics at http://localhost:9464/metrics`);

if (process.env.KEEP_SERVING !== "1") {
  await fake.close();
  await saver.close();
  await tracerProvider.shutdown().catch(() => {});
  await meterProvider.shutdown();
}
