import { randomUUID } from "node:crypto";
import { KeyvSaver } from "@graphkeep/keyv-saver";
import { GenAITracer, InvalidArgumentError, instrumentSaver, traceGraph } from "@graphkeep/otel";
import { AIMessage, HumanMessage } from "@langchain/core/messages";
import { MemorySaver } from "@langchain/langgraph";
import type { TracerProvider } from "@opentelemetry/api";
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { backends, REQUIRE_SERVICES } from "../../../test/helpers/backends.ts";
import { type FakeOpenAI, startFakeOpenAI } from "../../../test/helpers/fake-openai.ts";
import { agentGraph, growingGraph } from "./graphs.ts";
import { histogramPoints, parentOf, registerSdk } from "./sdk.ts";

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
  sdk.warnings.length = 0;
  sdk.errors.length = 0;
});

const tid = () => `otel-${randomUUID()}`;
const finished = () => sdk.spans.getFinishedSpans();
const byName = (spans: ReadableSpan[], name: string) => spans.filter((s) => s.name === name);
const one = (spans: ReadableSpan[], name: string) => {
  const found = byName(spans, name);
  expect(found, `spans named "${name}": ${spans.map((s) => s.name).join(", ")}`).toHaveLength(1);
  return found[0] as ReadableSpan;
};
const toolTurn = () =>
  fake.enqueue(
    {
      toolCalls: [{ name: "add", args: { a: 1, b: 2 } }],
      usage: { prompt: 20, completion: 7, cached: 4, reasoning: 3 },
    },
    { content: "It is 3." },
  );

describe("one trace per graph run", () => {
  it("nests graph → node → chat / tool, and the saver spans under the graph span", async () => {
    const saver = instrumentSaver(await KeyvSaver.fromUrl("memory:"));
    const graph = traceGraph(agentGraph(fake.baseURL, saver), { name: "support-agent" });
    const thread_id = tid();
    toolTurn();
    const out = await graph.invoke(
      { messages: [new HumanMessage("what is 1+2?")] },
      { configurable: { thread_id }, callbacks: [new GenAITracer()] },
    );
    expect(out.messages.at(-1)?.content).toBe("It is 3.");

    const spans = finished();
    const root = one(spans, "invoke_agent support-agent");
    expect(parentOf(root)).toBeUndefined();
    expect(new Set(spans.map((s) => s.spanContext().traceId))).toEqual(new Set([root.spanContext().traceId]));
    expect(root.attributes).toMatchObject({
      "gen_ai.operation.name": "invoke_agent",
      "gen_ai.agent.name": "support-agent",
      "gen_ai.conversation.id": thread_id,
      "graphkeep.graph.method": "invoke",
    });

    const rootId = root.spanContext().spanId;
    const agents = byName(spans, "node agent");
    const tools = one(spans, "node tools");
    expect(agents).toHaveLength(2);
    for (const node of [...agents, tools]) expect(parentOf(node)).toBe(rootId);
    expect(byName(spans, "node __start__")).toHaveLength(0);
    expect(spans.some((s) => s.name.includes("RunnableLambda"))).toBe(false);

    const chats = byName(spans, "chat gpt-4o-mini");
    expect(chats).toHaveLength(2);
    const agentIds = new Set(agents.map((s) => s.spanContext().spanId));
    for (const chat of chats) expect(agentIds.has(parentOf(chat) ?? "")).toBe(true);
    const first = chats.find((c) => c.attributes["gen_ai.usage.input_tokens"] === 20) as ReadableSpan;
    expect(first.kind).toBe(SpanKind.CLIENT);
    expect(first.attributes).toMatchObject({
      "gen_ai.operation.name": "chat",
      "gen_ai.provider.name": "openai",
      "gen_ai.request.model": "gpt-4o-mini",
      "gen_ai.response.model": "gpt-4o-mini",
      "gen_ai.usage.output_tokens": 7,
      "gen_ai.usage.cache_read.input_tokens": 4,
      "gen_ai.usage.reasoning.output_tokens": 3,
      "gen_ai.conversation.id": thread_id,
      "gen_ai.response.finish_reasons": ["tool_calls"],
    });
    expect(first.attributes["gen_ai.input.messages"]).toBeUndefined();

    const exec = one(spans, "execute_tool add");
    expect(parentOf(exec)).toBe(tools.spanContext().spanId);
    expect(exec.attributes).toMatchObject({ "gen_ai.tool.name": "add", "gen_ai.tool.call.id": "call_1" });
    expect(exec.attributes["gen_ai.tool.call.arguments"]).toBeUndefined();

    const saverSpans = spans.filter((s) => s.attributes["db.system.name"] === "memory");
    const ops = new Set(saverSpans.map((s) => s.attributes["db.operation.name"]));
    expect(ops).toEqual(new Set(["getTuple", "put", "putWrites"]));
    for (const s of saverSpans) {
      expect(s.kind).toBe(SpanKind.CLIENT);
      expect(parentOf(s)).toBe(rootId);
      expect(s.attributes["graphkeep.thread_id"]).toBe(thread_id);
    }
    const puts = saverSpans.filter((s) => s.attributes["db.operation.name"] === "put");
    const loop = puts.find((s) => s.attributes["graphkeep.source"] === "loop" && s.attributes["graphkeep.step"] === 1);
    expect(loop?.attributes["graphkeep.checkpoint_id"]).toEqual(expect.any(String));
    expect(loop?.attributes["graphkeep.checkpoint.size"]).toBeGreaterThan(100);
  });

  it("gives concurrent runs separate traces with their own saver and model spans", async () => {
    const saver = instrumentSaver(await KeyvSaver.fromUrl("memory:"));
    const graph = traceGraph(agentGraph(fake.baseURL, saver));
    const tracer = new GenAITracer();
    const threads = [tid(), tid(), tid()];
    fake.enqueue(...threads.map(() => ({ content: "hi", delayMs: 40 })));
    await Promise.all(
      threads.map((thread_id) =>
        graph.invoke({ messages: [new HumanMessage("hello")] }, { configurable: { thread_id }, callbacks: [tracer] }),
      ),
    );
    const spans = finished();
    const roots = byName(spans, "invoke_agent support-agent");
    expect(roots).toHaveLength(3);
    expect(new Set(roots.map((r) => r.spanContext().traceId)).size).toBe(3);
    for (const root of roots) {
      const thread = root.attributes["graphkeep.thread_id"];
      const trace = spans.filter((s) => s.spanContext().traceId === root.spanContext().traceId);
      const chat = one(trace, "chat gpt-4o-mini");
      expect(chat.attributes["gen_ai.conversation.id"]).toBe(thread);
      const saverSpans = trace.filter((s) => s.attributes["db.operation.name"] !== undefined);
      expect(saverSpans.length).toBeGreaterThan(2);
      for (const s of saverSpans) expect(s.attributes["graphkeep.thread_id"]).toBe(thread);
      expect(trace.filter((s) => parentOf(s) === undefined)).toEqual([root]);
    }
  });

  it("keeps the span active while a stream is iterated and ends it when the loop breaks", async () => {
    const saver = instrumentSaver(new MemorySaver());
    const graph = traceGraph(growingGraph(saver, 10, 5), { name: "grower", operation: "invoke_workflow" });
    const stream = await graph.stream({}, { configurable: { thread_id: tid() }, streamMode: "values" });
    let chunks = 0;
    for await (const _ of stream) {
      chunks += 1;
      if (chunks === 3) break;
    }
    const spans = finished();
    const root = one(spans, "invoke_workflow grower");
    expect(root.attributes["gen_ai.workflow.name"]).toBe("grower");
    const rootId = root.spanContext().spanId;
    const puts = spans.filter((s) => s.attributes["db.operation.name"] === "put");
    expect(puts.length).toBeGreaterThanOrEqual(2);
    for (const p of puts) expect(parentOf(p)).toBe(rootId);
  });

  it("traces streamEvents to the end of the iteration", async () => {
    const saver = instrumentSaver(new MemorySaver());
    const graph = traceGraph(growingGraph(saver, 10, 2), { name: "grower" });
    let events = 0;
    for await (const _ of graph.streamEvents({}, { configurable: { thread_id: tid() }, version: "v2" })) events += 1;
    expect(events).toBeGreaterThan(3);
    const spans = finished();
    const root = one(spans, "invoke_agent grower");
    expect(root.attributes["graphkeep.graph.method"]).toBe("streamEvents");
    const saverSpans = spans.filter((s) => s.attributes["db.system.name"] === "memory");
    expect(saverSpans.length).toBeGreaterThan(2);
    for (const s of saverSpans) expect(parentOf(s)).toBe(root.spanContext().spanId);
  });

  it("records prompts, responses and tool payloads only with captureContent", async () => {
    const graph = traceGraph(agentGraph(fake.baseURL, new MemorySaver()));
    toolTurn();
    await graph.invoke(
      { messages: [new HumanMessage("what is 1+2?")] },
      { configurable: { thread_id: tid() }, callbacks: [new GenAITracer({ captureContent: true })] },
    );
    const spans = finished();
    const chats = byName(spans, "chat gpt-4o-mini");
    const input = JSON.parse(String(chats[0]?.attributes["gen_ai.input.messages"]));
    expect(input).toEqual([{ role: "user", parts: [{ type: "text", content: "what is 1+2?" }] }]);
    const output = JSON.parse(String(chats[1]?.attributes["gen_ai.output.messages"]));
    expect(output[0]).toMatchObject({ role: "assistant", parts: [{ type: "text", content: "It is 3." }] });
    const exec = one(spans, "execute_tool add");
    expect(JSON.parse(String(exec.attributes["gen_ai.tool.call.arguments"]))).toEqual({ a: 1, b: 2 });
    expect(exec.attributes["gen_ai.tool.call.result"]).toBe("3");
  });
});

describe("instrumentSaver", () => {
  it("works on the official MemorySaver, keeps instanceof, and wrapping twice is a no-op", async () => {
    const inner = new MemorySaver();
    const saver = instrumentSaver(inner);
    expect(saver).toBeInstanceOf(MemorySaver);
    expect(instrumentSaver(saver)).toBe(saver);
    const thread_id = tid();
    await growingGraph(saver, 10, 3).invoke({}, { configurable: { thread_id } });
    const spans = finished();
    expect(spans.filter((s) => s.name === "put").length).toBe(5);
    expect(spans.every((s) => s.attributes["db.system.name"] === "memory")).toBe(true);
    expect(spans.filter((s) => s.name === "put" && s.attributes["graphkeep.thread_id"] === thread_id)).toHaveLength(5);
  });

  it("ends the list span when the iteration completes and when it is abandoned", async () => {
    const saver = instrumentSaver(await KeyvSaver.fromUrl("memory:"));
    const thread_id = tid();
    await growingGraph(saver, 10, 4).invoke({}, { configurable: { thread_id } });
    sdk.spans.reset();
    const all = [];
    for await (const t of saver.list({ configurable: { thread_id } })) all.push(t);
    expect(all.length).toBe(6);
    for await (const _ of saver.list({ configurable: { thread_id } })) break;
    const it = saver.list({ configurable: { thread_id } });
    await it.next();
    await it.return(undefined);
    const lists = byName(finished(), "list graphkeep");
    expect(
      lists.map((s) => [s.attributes["db.response.returned_rows"], s.attributes["graphkeep.list.completed"]]),
    ).toEqual([
      [6, true],
      [1, false],
      [1, false],
    ]);
  });

  it("records store errors with error.type and lets them through unchanged", async () => {
    const saver = instrumentSaver(await KeyvSaver.fromUrl("memory:"));
    const error = await saver.getTuple(undefined as never).catch((e: unknown) => e);
    expect((error as { code?: string }).code).toBe("INVALID_CONFIG");
    const span = one(finished(), "getTuple graphkeep");
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(span.attributes["error.type"]).toBe("INVALID_CONFIG");
    expect(span.events.some((e) => e.name === "exception")).toBe(true);
    const duration = (await sdk.reader.metrics()).get("db.client.operation.duration");
    expect(histogramPoints(duration).some((p) => p.attributes["error.type"] === "INVALID_CONFIG")).toBe(true);
  });

  it("flags checkpoints over the size threshold with a span event and one diag warning per thread", async () => {
    const saver = instrumentSaver(await KeyvSaver.fromUrl("memory:"), { largeCheckpointBytes: 2_000 });
    const thread_id = tid();
    await growingGraph(saver, 1_000, 4).invoke({}, { configurable: { thread_id } });
    const puts = finished().filter((s) => s.name === "put graphkeep");
    const flagged = puts.filter((s) => s.events.some((e) => e.name === "graphkeep.checkpoint.large"));
    expect(flagged.length).toBeGreaterThanOrEqual(2);
    for (const s of flagged) expect(s.attributes["graphkeep.checkpoint.size"]).toBeGreaterThan(2_000);
    const small = puts.filter((s) => Number(s.attributes["graphkeep.checkpoint.size"]) <= 2_000);
    expect(small.length).toBeGreaterThan(0);
    expect(sdk.warnings.filter((w) => w.includes(thread_id))).toHaveLength(1);
  });

  it("puts the step and thread cost of @graphkeep/cost's checkpoint metadata on the put span", async () => {
    const saver = instrumentSaver(new MemorySaver());
    const config = { configurable: { thread_id: tid(), checkpoint_ns: "" } };
    const checkpoint = {
      v: 4,
      id: randomUUID(),
      ts: new Date().toISOString(),
      channel_values: {},
      channel_versions: {},
      versions_seen: {},
    };
    const cost = { step: { usd: 0.002, tokens: 30 }, total: { usd: 0.005, tokens: 80 } };
    await saver.put(config, checkpoint, { source: "loop", step: 3, parents: {}, cost } as never);
    const span = one(finished(), "put");
    expect(span.attributes).toMatchObject({
      "graphkeep.cost": 0.002,
      "graphkeep.cost.thread_total": 0.005,
      "graphkeep.step": 3,
    });
  });

  it("rejects a non-saver and bad options with InvalidArgumentError", () => {
    expect(() => instrumentSaver({} as unknown as MemorySaver)).toThrow(InvalidArgumentError);
    expect(() => instrumentSaver(new MemorySaver(), { largeCheckpointBytes: -1 })).toThrow(/largeCheckpointBytes/);
    expect(() => traceGraph({})).toThrow(InvalidArgumentError);
    try {
      traceGraph({});
    } catch (e) {
      expect((e as InvalidArgumentError).code).toBe("INVALID_ARGUMENT");
    }
  });

  it("keeps the saver working when the telemetry itself fails, and reports through diag", async () => {
    const broken: TracerProvider = {
      getTracer: () => {
        throw new Error("tracer exploded");
      },
    };
    const saver = instrumentSaver(new MemorySaver(), { tracerProvider: broken });
    const graph = traceGraph(growingGraph(saver, 10, 2), { tracerProvider: broken });
    const out = await graph.invoke({}, { configurable: { thread_id: tid() } });
    expect(out.n).toBe(2);
    expect(sdk.errors.some((e) => e.includes("@graphkeep/otel"))).toBe(true);
  });
});

describe("metrics", () => {
  it("reports saver and GenAI metrics with semconv names, units and attributes, never thread ids", async () => {
    const saver = instrumentSaver(await KeyvSaver.fromUrl("memory:"));
    const graph = traceGraph(agentGraph(fake.baseURL, saver));
    const thread_id = tid();
    toolTurn();
    const tracer = new GenAITracer();
    await graph.invoke({ messages: [new HumanMessage("1+2?")] }, { configurable: { thread_id }, callbacks: [tracer] });
    const before = await sdk.reader.metrics();
    const restoresBefore = (before.get("graphkeep.checkpoint.restores")?.dataPoints ?? []).reduce(
      (n, p) => n + Number(p.value),
      0,
    );
    fake.enqueue({ content: "again" });
    await graph.invoke({ messages: [new HumanMessage("more")] }, { configurable: { thread_id }, callbacks: [tracer] });
    const m = await sdk.reader.metrics();

    const duration = m.get("db.client.operation.duration");
    expect(duration?.descriptor.unit).toBe("s");
    const points = histogramPoints(duration);
    expect(points[0]?.value.buckets.boundaries).toEqual([0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10]);
    const ops = new Set(
      points.filter((p) => p.attributes["db.system.name"] === "memory").map((p) => p.attributes["db.operation.name"]),
    );
    expect(ops).toEqual(expect.objectContaining(new Set(["getTuple", "put", "putWrites"])));

    const size = m.get("graphkeep.checkpoint.size");
    expect(size?.descriptor.unit).toBe("By");
    expect(histogramPoints(size)[0]?.value.buckets.boundaries.at(-1)).toBe(64 * 1024 * 1024);
    expect(histogramPoints(size).reduce((n, p) => n + p.value.count, 0)).toBeGreaterThan(4);

    const restores = m.get("graphkeep.checkpoint.restores");
    const restoresAfter = (restores?.dataPoints ?? []).reduce((n, p) => n + Number(p.value), 0);
    expect(restoresAfter - restoresBefore).toBe(1);
    expect(restores?.dataPoints.some((p) => p.attributes["graphkeep.restore.kind"] === "latest")).toBe(true);

    const active = m.get("graphkeep.threads.active");
    expect(active?.descriptor.unit).toBe("{thread}");
    expect(Number(active?.dataPoints[0]?.value)).toBeGreaterThanOrEqual(1);

    const tokens = m.get("gen_ai.client.token.usage");
    expect(tokens?.descriptor.unit).toBe("{token}");
    const tokenPoints = histogramPoints(tokens);
    const input = tokenPoints.find((p) => p.attributes["gen_ai.token.type"] === "input");
    expect(input?.attributes).toMatchObject({
      "gen_ai.operation.name": "chat",
      "gen_ai.provider.name": "openai",
      "gen_ai.request.model": "gpt-4o-mini",
      "gen_ai.response.model": "gpt-4o-mini",
    });
    expect(input?.value.sum).toBeGreaterThanOrEqual(20 + 10 + 10);
    expect(input?.value.buckets.boundaries.slice(0, 3)).toEqual([1, 4, 16]);
    const genaiDuration = m.get("gen_ai.client.operation.duration");
    expect(genaiDuration?.descriptor.unit).toBe("s");
    expect(histogramPoints(genaiDuration)[0]?.value.buckets.boundaries[0]).toBe(0.01);

    for (const metric of m.values()) {
      for (const p of metric.dataPoints) {
        const values = Object.entries(p.attributes);
        expect(
          values.some(([k, v]) => k.includes("thread") || v === thread_id),
          `${metric.descriptor.name}`,
        ).toBe(false);
      }
    }
  });

  it("puts a cost reported by @graphkeep/cost on the chat span (response_metadata.graphkeepCost)", async () => {
    const tracer = new GenAITracer();
    const runId = randomUUID();
    tracer.handleChatModelStart(
      { lc: 1, type: "not_implemented", id: ["test"] },
      [[new HumanMessage("hi")]],
      runId,
      undefined,
      {
        invocation_params: { model: "gpt-4o-mini" },
      },
      [],
      { ls_provider: "openai" },
    );
    const message = new AIMessage({
      content: "hello",
      response_metadata: { model_name: "gpt-4o-mini", graphkeepCost: { total: 0.0012, currency: "USD" } },
      usage_metadata: { input_tokens: 3, output_tokens: 2, total_tokens: 5 },
    });
    await tracer.handleLLMEnd({ generations: [[{ text: "hello", message } as never]] }, runId);
    const span = one(finished(), "chat gpt-4o-mini");
    expect(span.attributes).toMatchObject({ "graphkeep.cost": 0.0012, "graphkeep.cost.currency": "USD" });
  });
});

const redis = backends.find((b) => b.name === "redis");
describe.skipIf(!!redis?.skip && !REQUIRE_SERVICES)("instrumentSaver on a KeyvSaver over Redis", () => {
  it("names the store in db.system.name and the keyv namespace in db.namespace", async () => {
    const keyv = (redis as NonNullable<typeof redis>).keyv();
    const saver = instrumentSaver(new KeyvSaver(keyv));
    await growingGraph(saver, 10, 1).invoke({}, { configurable: { thread_id: tid() } });
    const spans = finished();
    expect(spans.length).toBeGreaterThan(2);
    for (const s of spans) {
      expect(s.attributes["db.system.name"]).toBe("redis");
      expect(s.attributes["db.namespace"]).toBe(keyv.namespace);
    }
    await saver.close();
  });
});

describe("runs that never report an end", () => {
  it("ends the chat span of a model stream abandoned with break when its node ends, marked abandoned", async () => {
    const { END, MessagesAnnotation, START, StateGraph } = await import("@langchain/langgraph");
    const { ChatOpenAI } = await import("@langchain/openai");
    const model = new ChatOpenAI({ model: "gpt-4o-mini", apiKey: "test", configuration: { baseURL: fake.baseURL } });
    const graph = new StateGraph(MessagesAnnotation)
      .addNode("peek", async (s, config) => {
        for await (const _ of await model.stream(s.messages, config)) break;
        return { messages: [new AIMessage("peeked")] };
      })
      .addEdge(START, "peek")
      .addEdge("peek", END)
      .compile({ checkpointer: new MemorySaver() });
    fake.enqueue({ content: "a long answer that nobody reads to the end" });
    await graph.invoke(
      { messages: [new HumanMessage("hi")] },
      { configurable: { thread_id: tid() }, callbacks: [new GenAITracer()] },
    );
    const chat = one(finished(), "chat gpt-4o-mini");
    expect(chat.attributes["graphkeep.abandoned"]).toBe(true);
    expect(parentOf(chat)).toBe(one(finished(), "node peek").spanContext().spanId);
  });
});
