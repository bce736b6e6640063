import { randomUUID } from "node:crypto";
import { BudgetGuard, type CostRecord, CostTracker } from "@graphkeep/cost";
import { KeyvSaver } from "@graphkeep/keyv-saver";
import { GenAITracer, instrumentSaver } from "@graphkeep/otel";
import { HumanMessage } from "@langchain/core/messages";
import { ChatOpenAI } from "@langchain/openai";
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";
import Keyv from "keyv";
import { type FakeOpenAI, startFakeOpenAI } from "../../../test/helpers/fake-openai.ts";
import { agentGraph } from "./graphs.ts";
import { parentOf, registerSdk } from "./sdk.ts";

const sdk = registerSdk();
let fake: FakeOpenAI;
beforeAll(async () => {
  fake = await startFakeOpenAI();
});
afterAll(async () => {
  await fake.close();
});
beforeEach(() => {
  sdk.spans.reset();
});

const tid = () => `otel-${randomUUID()}`;
const chats = () => sdk.spans.getFinishedSpans().filter((s) => s.name.startsWith("chat "));

describe("GenAITracer with a CostTracker in the same callbacks", () => {
  it("puts the cost the tracker computed on each chat span, whichever order the callbacks are in", async () => {
    for (const order of ["tracker first", "tracer first"] as const) {
      sdk.spans.reset();
      const records: CostRecord[] = [];
      const tracker = new CostTracker({ store: new Keyv(), onCost: (r) => void records.push(r) });
      const tracer = new GenAITracer();
      fake.enqueue(
        { toolCalls: [{ name: "add", args: { a: 1, b: 2 } }], usage: { prompt: 2000, completion: 100, cached: 1000 } },
        { content: "It is 3.", usage: { prompt: 3000, completion: 50 } },
      );
      const graph = agentGraph(fake.baseURL, await KeyvSaver.fromUrl("memory:"));
      await graph.invoke(
        { messages: [new HumanMessage("what is 1+2?")] },
        {
          configurable: { thread_id: tid() },
          callbacks: order === "tracker first" ? [tracker, tracer] : [tracer, tracker],
        },
      );
      const spans = chats();
      expect(spans, order).toHaveLength(2);
      expect(records).toHaveLength(2);
      const costs = spans.map((s) => s.attributes["graphkeep.cost"]).sort();
      expect(costs, order).toEqual(records.map((r) => r.usd).sort());
      expect(records.every((r) => r.usd > 0)).toBe(true);
      for (const s of spans) expect(s.attributes["graphkeep.cost.currency"]).toBe("USD");
    }
  });

  it("marks the cost of a call charged its budget reservation (no usage reported) as estimated", async () => {
    const tracker = new CostTracker({ store: new Keyv() });
    const guard = new BudgetGuard({ tracker, limits: { thread: 1 } });
    const model = new ChatOpenAI({
      model: "gpt-4o-mini",
      apiKey: "test",
      streamUsage: false,
      maxTokens: 100,
      configuration: { baseURL: fake.baseURL },
    });
    fake.enqueue({ content: "no usage in this stream" });
    const threadId = tid();
    for await (const _ of await model.stream("hi", {
      callbacks: [new GenAITracer(), tracker, guard],
      metadata: { thread_id: threadId },
    })) {
      // read to the end
    }
    const [span] = chats();
    const t = await tracker.totals({ threadId });
    expect(t.unreportedCalls).toBe(1);
    expect(span?.attributes).toMatchObject({ "graphkeep.cost": t.usd, "graphkeep.cost.estimated": true });
  });
});

describe("saver spans without traceGraph", () => {
  it("nest under the run's workflow span when a GenAITracer is in the callbacks: one trace per run", async () => {
    const saver = instrumentSaver(await KeyvSaver.fromUrl("memory:"));
    const graph = agentGraph(fake.baseURL, saver);
    fake.enqueue({ content: "hello" });
    await graph.invoke(
      { messages: [new HumanMessage("hi")] },
      { configurable: { thread_id: tid() }, callbacks: [new GenAITracer()] },
    );
    const spans = sdk.spans.getFinishedSpans();
    const root = spans.find((s) => s.name.startsWith("invoke_workflow")) as ReadableSpan;
    expect(root, spans.map((s) => s.name).join(", ")).toBeDefined();
    const saverSpans = spans.filter((s) => /^(getTuple|put|putWrites|list)\b/.test(s.name));
    expect(saverSpans.length).toBeGreaterThan(2);
    for (const s of saverSpans) {
      expect(s.spanContext().traceId, s.name).toBe(root.spanContext().traceId);
      expect(parentOf(s), s.name).toBe(root.spanContext().spanId);
    }
  });
});
