import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { KeyvSaver } from "@graphkeep/keyv-saver";
import { GenAITracer, instrumentSaver, traceGraph } from "@graphkeep/otel";
import { HumanMessage } from "@langchain/core/messages";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { type FakeOpenAI, startFakeOpenAI } from "../../../test/helpers/fake-openai.ts";
import { agentGraph } from "./graphs.ts";
import { histogramPoints, registerSdk } from "./sdk.ts";

/** A minimal OTLP/HTTP receiver (JSON): counts the spans posted to /v1/traces. */
async function startReceiver(): Promise<{ url: string; spans: string[]; close(): Promise<void> }> {
  const spans: string[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (req.url === "/v1/traces") {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
          resourceSpans: Array<{ scopeSpans: Array<{ spans: Array<{ name: string }> }> }>;
        };
        for (const rs of body.resourceSpans)
          for (const ss of rs.scopeSpans) for (const s of ss.spans) spans.push(s.name);
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end("{}");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1/traces`,
    spans,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

let fake: FakeOpenAI;
beforeAll(async () => {
  fake = await startFakeOpenAI();
});
afterAll(async () => {
  await fake.close();
});

describe("without an OpenTelemetry SDK, then with one registered late", () => {
  it("runs the instrumented graph unchanged with no SDK, then exports once an SDK registers (OTLP/HTTP)", async () => {
    const saver = instrumentSaver(await KeyvSaver.fromUrl("memory:"));
    const graph = traceGraph(agentGraph(fake.baseURL, saver));
    const tracer = new GenAITracer({ captureContent: true });
    fake.enqueue({ toolCalls: [{ name: "add", args: { a: 2, b: 2 } }] }, { content: "4" });
    const out = await graph.invoke(
      { messages: [new HumanMessage("2+2?")] },
      { configurable: { thread_id: "no-sdk" }, callbacks: [tracer] },
    );
    expect(out.messages.at(-1)?.content).toBe("4");
    const history = [];
    for await (const t of saver.list({ configurable: { thread_id: "no-sdk" } })) history.push(t);
    expect(history.length).toBeGreaterThan(3);

    // the same saver, graph and tracer pick the SDK up when it registers after them
    const receiver = await startReceiver();
    const exporter = new OTLPTraceExporter({ url: receiver.url });
    const sdk = registerSdk([exporter]);
    fake.enqueue({ content: "hello" });
    await graph.invoke(
      { messages: [new HumanMessage("hi")] },
      { configurable: { thread_id: "late-sdk" }, callbacks: [tracer] },
    );
    await sdk.tracerProvider.forceFlush();
    const local = sdk.spans.getFinishedSpans();
    expect(local.map((s) => s.name)).toEqual(
      expect.arrayContaining(["invoke_agent support-agent", "node agent", "chat gpt-4o-mini"]),
    );
    expect(local.every((s) => s.attributes["graphkeep.thread_id"] !== "no-sdk")).toBe(true);
    expect(receiver.spans.length).toBe(local.length);
    expect(receiver.spans).toContain("invoke_agent support-agent");

    const metrics = await sdk.reader.metrics();
    expect(histogramPoints(metrics.get("db.client.operation.duration")).length).toBeGreaterThan(0);
    expect(histogramPoints(metrics.get("gen_ai.client.token.usage")).length).toBe(2);
    await exporter.shutdown();
    await receiver.close();
  });
});
