import { randomUUID } from "node:crypto";
import { InvalidArgumentError } from "@graphkeep/core";
import type { CostRecord } from "@graphkeep/cost";
import { CostTracker, PriceTable } from "@graphkeep/cost";
import { KeyvLLMCache } from "@graphkeep/llm-cache";
import { Annotation, END, MemorySaver, START, StateGraph } from "@langchain/langgraph";
import Keyv from "keyv";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { type FakeOpenAI, startFakeOpenAI } from "../../../test/helpers/fake-openai.js";
import { chat, gpt4oCost, streamText, uid } from "./helpers.js";

const State = Annotation.Root({ out: Annotation<string[]>({ reducer: (a, b) => a.concat(b), default: () => [] }) });

describe("CostTracker", () => {
  let fake: FakeOpenAI;
  let store: Keyv;
  beforeEach(async () => {
    fake = await startFakeOpenAI();
    store = new Keyv({ namespace: uid() });
  });
  afterEach(async () => {
    await fake.close();
  });

  it("totals match hand-computed costs with cached and reasoning tokens, streamed and not, per node and model", async () => {
    fake.enqueue(
      { content: "a", usage: { prompt: 1000, cached: 400, completion: 200, reasoning: 50 } },
      { content: "b c d", usage: { prompt: 2000, completion: 100 } },
    );
    const records: CostRecord[] = [];
    const tracker = new CostTracker({ store, onCost: (r) => void records.push(r) });
    const plain = chat(fake);
    const streamed = chat(fake);
    const graph = new StateGraph(State)
      .addNode("think", async (_s, c) => ({ out: [String((await plain.invoke("think hard", c)).content)] }))
      .addNode("write", async (_s, c) => ({ out: [await streamText(streamed, "write it", c)] }))
      .addEdge(START, "think")
      .addEdge("think", "write")
      .addEdge("write", END)
      .compile({ checkpointer: new MemorySaver() });
    const threadId = `t-${uid()}`;
    const runId = randomUUID();
    await graph.invoke(
      {},
      { configurable: { thread_id: threadId }, metadata: { tenant_id: "acme" }, callbacks: [tracker], runId },
    );

    expect(fake.requests.map((r) => r.stream ?? false)).toEqual([false, true]);
    const think = gpt4oCost(1000, 400, 200); // 0.004
    const write = gpt4oCost(2000, 0, 100); // 0.006
    const t = await tracker.totals({ threadId });
    expect(t.usd).toBeCloseTo(think + write, 12);
    expect(t).toMatchObject({
      inputTokens: 3000,
      outputTokens: 300,
      cacheReadTokens: 400,
      cacheWriteTokens: 0,
      reasoningTokens: 50,
      calls: 2,
      unpricedCalls: 0,
      cachedCalls: 0,
      savedUsd: 0,
    });
    expect(Object.keys(t.byModel)).toEqual(["gpt-4o"]);
    expect(t.byNode.think?.usd).toBeCloseTo(think, 12);
    expect(t.byNode.write?.usd).toBeCloseTo(write, 12);
    expect(t.byNode.write?.inputTokens).toBe(2000);
    expect((await tracker.totals({ runId })).usd).toBeCloseTo(think + write, 12);
    expect((await tracker.totals({ tenant: "acme" })).calls).toBe(2);
    expect(records.map((r) => [r.node, r.model, r.family, r.runId, r.threadId, r.tenant])).toEqual([
      ["think", "gpt-4o-2024-08-06", "gpt-4o", runId, threadId, "acme"],
      ["write", "gpt-4o-2024-08-06", "gpt-4o", runId, threadId, "acme"],
    ]);
  });

  it("counts the usage of a request with n > 1 choices once (LangChain copies it onto every choice)", async () => {
    const tracker = new CostTracker({ store });
    fake.enqueue({ content: "same", usage: { prompt: 1000, completion: 100 } });
    const threadId = uid();
    const out = await chat(fake, { n: 2 }).generate([["Two takes, please"]], {
      callbacks: [tracker],
      metadata: { thread_id: threadId },
    });
    expect(out.generations[0]).toHaveLength(2);
    const t = await tracker.totals({ threadId });
    expect(t).toMatchObject({ calls: 1, inputTokens: 1000, outputTokens: 100 });
    expect(t.usd).toBeCloseTo(gpt4oCost(1000, 0, 100), 12);
  });

  it("counts a @graphkeep/llm-cache hit as $0 and its avoided cost as saved", async () => {
    fake.enqueue({ content: "cached answer", usage: { prompt: 1000, cached: 0, completion: 500 } });
    const tracker = new CostTracker({ store });
    const model = chat(fake, { cache: new KeyvLLMCache(new Keyv({ namespace: uid() })) });
    const threadId = `t-${uid()}`;
    const config = { callbacks: [tracker], metadata: { thread_id: threadId } };
    await model.invoke("same question", config);
    await model.invoke("same question", config);
    expect(fake.requests).toHaveLength(1);
    const t = await tracker.totals({ threadId });
    expect(t.calls).toBe(2);
    expect(t.cachedCalls).toBe(1);
    expect(t.usd).toBeCloseTo(gpt4oCost(1000, 0, 500), 12);
    expect(t.savedUsd).toBeCloseTo(gpt4oCost(1000, 0, 500), 12);
    expect(t.inputTokens).toBe(1000);
  });

  it("counts an unknown model as unpriced (never $0 silently) and warns once", async () => {
    fake.enqueue(
      { content: "x", usage: { prompt: 10, completion: 5 } },
      { content: "y", usage: { prompt: 10, completion: 5 } },
    );
    const warn = vi.spyOn(process, "emitWarning").mockImplementation(() => undefined);
    try {
      const tracker = new CostTracker({ store });
      const model = chat(fake, { model: "acme-llm-9000" });
      const threadId = `t-${uid()}`;
      await model.invoke("a", { callbacks: [tracker], metadata: { thread_id: threadId } });
      await model.invoke("b", { callbacks: [tracker], metadata: { thread_id: threadId } });
      const t = await tracker.totals({ threadId });
      expect(t).toMatchObject({ calls: 2, unpricedCalls: 2, usd: 0, inputTokens: 20 });
      const unknown = warn.mock.calls.filter(
        (c) => (c[1] as { code?: string })?.code === "GRAPHKEEP_COST_UNKNOWN_MODEL",
      );
      expect(unknown).toHaveLength(1);
      expect(String(unknown[0]?.[0])).toContain("acme-llm-9000");
    } finally {
      warn.mockRestore();
    }
  });

  it("counts a streamed response without usage as unpriced and warns once", async () => {
    fake.enqueue({ content: "no usage here" }, { content: "nor here" });
    const warn = vi.spyOn(process, "emitWarning").mockImplementation(() => undefined);
    try {
      const tracker = new CostTracker({ store });
      const model = chat(fake, { streamUsage: false });
      const threadId = `t-${uid()}`;
      for (const q of ["a", "b"])
        await streamText(model, q, { callbacks: [tracker], metadata: { thread_id: threadId } });
      const t = await tracker.totals({ threadId });
      expect(t).toMatchObject({ calls: 2, unpricedCalls: 2, usd: 0 });
      expect(
        warn.mock.calls.filter((c) => (c[1] as { code?: string })?.code === "GRAPHKEEP_COST_NO_USAGE"),
      ).toHaveLength(1);
    } finally {
      warn.mockRestore();
    }
  });

  it("uses user overrides over the dataset, dated ids included", async () => {
    fake.enqueue({ content: "x", usage: { prompt: 1000, cached: 200, completion: 100, reasoning: 40 } });
    const prices = new PriceTable({ overrides: { "gpt-4o": { input: 1, cacheRead: 0.5, output: 2, reasoning: 4 } } });
    const tracker = new CostTracker({ store, prices });
    const threadId = `t-${uid()}`;
    await chat(fake).invoke("q", { callbacks: [tracker], metadata: { thread_id: threadId } });
    // (1000 − 200)·1 + 200·0.5 + (100 − 40)·2 + 40·4 = 800 + 100 + 120 + 160
    expect((await tracker.totals({ threadId })).usd).toBeCloseTo(1180 / 1e6, 12);
  });

  it("rejects bad options and queries with InvalidArgumentError", async () => {
    expect(() => new CostTracker({} as never)).toThrow(InvalidArgumentError);
    expect(() => new CostTracker({ store, namespace: "" })).toThrow(/namespace/);
    expect(() => new CostTracker({ store, onCost: 1 as never })).toThrow(InvalidArgumentError);
    const tracker = new CostTracker({ store });
    await expect(tracker.totals({} as never)).rejects.toThrow(InvalidArgumentError);
    await expect(tracker.totals({ threadId: "a", tenant: "b" } as never)).rejects.toThrow(/exactly one/);
    await expect(tracker.totals({ threadId: "" })).rejects.toThrow(InvalidArgumentError);
  });
});

describe("CostTracker when the store goes away", () => {
  it("totals() fails with StoreUnavailableError instead of hanging, and the guard refuses the call it cannot check", async () => {
    const { default: KeyvRedis } = await import("@keyv/redis");
    const { isStoreUnavailableError } = await import("@graphkeep/core");
    const { BudgetGuard } = await import("@graphkeep/cost");
    const fake = await startFakeOpenAI([{ content: "never sent" }]);
    const store = new Keyv({ store: new KeyvRedis("redis://127.0.0.1:1"), useKeyPrefix: false });
    store.on("error", () => undefined);
    const tracker = new CostTracker({ store, operationTimeoutMs: 300 });
    const guard = new BudgetGuard({ tracker, limits: { thread: 1 } });
    try {
      const started = Date.now();
      expect(isStoreUnavailableError(await tracker.totals({ threadId: "t" }).catch((e: unknown) => e))).toBe(true);
      expect(Date.now() - started).toBeLessThan(3000);
      const refused = await chat(fake)
        .invoke("hi", { callbacks: [tracker, guard], metadata: { thread_id: "t" } })
        .catch((e: unknown) => e);
      expect(isStoreUnavailableError(refused)).toBe(true);
      expect(fake.requests).toHaveLength(0);
    } finally {
      // a client that never connected does not finish disconnecting: do not wait for it
      await Promise.race([store.disconnect().catch(() => undefined), new Promise((r) => setTimeout(r, 200))]);
      await fake.close();
    }
  });
});
