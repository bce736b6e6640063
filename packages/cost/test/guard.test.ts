import { InvalidArgumentError, InvalidConfigError } from "@graphkeep/core";
import {
  BudgetExceededError,
  BudgetGuard,
  type BudgetWarning,
  CostTracker,
  checkpointCost,
  isBudgetExceededError,
  isUnpricedModelError,
  PriceTable,
  withCostMetadata,
} from "@graphkeep/cost";
import { KeyvSaver } from "@graphkeep/keyv-saver";
import { Annotation, END, MemorySaver, Send, START, StateGraph } from "@langchain/langgraph";
import Keyv from "keyv";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type FakeOpenAI, startFakeOpenAI } from "../../../test/helpers/fake-openai.js";
import { chat, gpt4oCost, uid } from "./helpers.js";

const State = Annotation.Root({
  n: Annotation<number>({ reducer: (_a, b) => b, default: () => 0 }),
  items: Annotation<string[]>({ reducer: (a, b) => a.concat(b), default: () => [] }),
});

describe("BudgetGuard", () => {
  let fake: FakeOpenAI;
  let store: Keyv;
  beforeEach(async () => {
    fake = await startFakeOpenAI();
    store = new Keyv({ namespace: uid() });
  });
  afterEach(async () => {
    await fake.close();
  });

  /** plan → 10 parallel `work` tasks, each one gpt-4o call with maxTokens 400 (reserves ≈ $0.004). */
  function fanOut(checkpointer: MemorySaver | KeyvSaver = new MemorySaver()) {
    const runs = { plan: 0, work: 0 };
    const model = chat(fake, { maxTokens: 400 });
    const graph = new StateGraph(State)
      .addNode("plan", async () => {
        runs.plan += 1;
        return { n: 10 };
      })
      .addNode("work", async (s: { i?: number }, c) => {
        runs.work += 1;
        const r = await model.invoke(`task ${s.i}`, c);
        return { items: [String(r.content)] };
      })
      .addEdge(START, "plan")
      .addConditionalEdges("plan", (s) => Array.from({ length: s.n }, (_, i) => new Send("work", { i })))
      .addEdge("work", END)
      .compile({ checkpointer });
    return { graph, runs };
  }

  it("a model stream abandoned with break inside a node is charged its reservation when the node ends", async () => {
    const tracker = new CostTracker({ store });
    // $0.015 limit; one call reserves ≈ $0.006 (maxTokens 600 at $10/M): the broken-off stream is charged that,
    // the next call still fits
    const guard = new BudgetGuard({ tracker, limits: { thread: 0.015 } });
    const model = chat(fake, { maxTokens: 600 });
    const graph = new StateGraph(State)
      .addNode("peek", async (_s, c) => {
        for await (const _ of await model.stream("long answer", c)) break;
        return { n: 1 };
      })
      .addNode("answer", async (_s, c) => ({ items: [String((await model.invoke("short answer", c)).content)] }))
      .addEdge(START, "peek")
      .addEdge("peek", "answer")
      .addEdge("answer", END)
      .compile({ checkpointer: new MemorySaver() });
    fake.enqueue({ content: "a long answer in many words", usage: { prompt: 10, completion: 5 } }, { content: "ok" });
    const config = { configurable: { thread_id: uid() }, callbacks: [tracker, guard] };
    const out = await graph.invoke({}, config);
    expect(out.items).toEqual(["ok"]);
    expect(guard.reserved({ threadId: config.configurable.thread_id })).toBe(0);
    const t = await tracker.totals({ threadId: config.configurable.thread_id });
    const reservation = (600 * 10 + Math.ceil("long answer".length / 4) * 2.5) / 1e6;
    expect(t).toMatchObject({ calls: 2, unreportedCalls: 1, unpricedCalls: 0 });
    expect(t.estimatedUsd).toBeCloseTo(reservation, 12);
    expect(t.usd).toBeCloseTo(reservation + gpt4oCost(10, 0, 5), 12);
  });

  it("with $0.01 and 10 parallel Send tasks of $0.004, at most 2 requests are sent; raising the budget resumes without re-running completed work", async () => {
    fake.enqueue(
      ...Array.from({ length: 10 }, (_, i) => ({
        content: `r${i}`,
        delayMs: 30,
        usage: { prompt: 100, completion: 300 },
      })),
    );
    const tracker = new CostTracker({ store });
    const guard = new BudgetGuard({ tracker, limits: { thread: 0.01 } });
    const { graph, runs } = fanOut();
    const config = { configurable: { thread_id: `t-${uid()}` }, callbacks: [tracker, guard] };
    const threadId = config.configurable.thread_id;

    const error = await graph.invoke({}, config).then(
      () => undefined,
      (e: unknown) => e,
    );
    // the guard's own error, not wrapped
    expect(error).toBeInstanceOf(BudgetExceededError);
    expect(isBudgetExceededError(error)).toBe(true);
    const e = error as BudgetExceededError;
    expect(e).toMatchObject({ code: "BUDGET_EXCEEDED", scope: "thread", key: threadId, limit: 0.01 });
    expect(e.spent + e.reserved + e.requested).toBeGreaterThan(0.01);
    expect(e.requested).toBeCloseTo(0.004 + 2.5e-6 * 2, 6); // 400 output tokens · $10/M + "task N" ≈ 2 input tokens
    await new Promise((r) => setTimeout(r, 100));
    expect(fake.requests.length).toBeLessThanOrEqual(2);
    expect(fake.requests.length).toBeGreaterThan(0);
    const sent = fake.requests.length;
    const spent = await tracker.totals({ threadId });
    expect(spent.usd).toBeCloseTo(sent * gpt4oCost(100, 0, 300), 12);
    expect(spent.usd).toBeLessThanOrEqual(0.01);
    expect(guard.reserved({ threadId })).toBe(0);

    // the checkpoint before the refused step is intact: plan ran; refused tasks are pending, finished ones kept their writes
    const state = await graph.getState(config);
    expect(state.values.n).toBe(10);
    expect(state.next.filter((n) => n === "work")).toHaveLength(10 - sent);

    guard.setLimits({ thread: 1 });
    const result = await graph.invoke(null, config);
    expect(result.items).toHaveLength(10);
    expect(runs.plan).toBe(1);
    // tasks that finished before the refusal kept their writes and were not re-run
    expect(fake.requests).toHaveLength(10);
    expect(runs.work).toBe(10 + (10 - sent));
    const after = await tracker.totals({ threadId });
    expect(after.calls).toBe(10);
    expect(after.usd).toBeCloseTo(10 * gpt4oCost(100, 0, 300), 12);
  });

  it("warns once at warnAt and checks tenant limits from run metadata", async () => {
    fake.enqueue(...Array.from({ length: 3 }, () => ({ content: "ok", usage: { prompt: 100, completion: 300 } })));
    const warnings: BudgetWarning[] = [];
    const tracker = new CostTracker({ store });
    const guard = new BudgetGuard({
      tracker,
      limits: { tenant: { key: "tenant_id", usd: 0.009 } },
      warnAt: 0.5,
      onWarn: (w) => void warnings.push(w),
    });
    const model = chat(fake, { maxTokens: 400 });
    const tenant = `acme-${uid()}`;
    const config = { callbacks: [tracker, guard], metadata: { tenant_id: tenant } };
    await model.invoke("a", config); // projected 0.004 < 0.0045
    expect(warnings).toHaveLength(0);
    await model.invoke("b", config); // spent 0.00325 + 0.004 ≥ 0.0045
    expect(warnings).toEqual([expect.objectContaining({ scope: "tenant", key: tenant, limit: 0.009 })]);
    await expect(model.invoke("c", config)).rejects.toThrow(BudgetExceededError);
    expect(fake.requests).toHaveLength(2);
    expect(warnings).toHaveLength(1);
    // a call without the tenant key cannot be checked: refused with a typed error, nothing sent
    await expect(model.invoke("d", { callbacks: [tracker, guard] })).rejects.toThrow(InvalidConfigError);
    expect(fake.requests).toHaveLength(2);
  });

  it("refuses a model it cannot price unless unpriced is allow", async () => {
    fake.enqueue({ content: "ok" });
    const tracker = new CostTracker({ store });
    const model = chat(fake, { model: "acme-llm-9000" });
    const config = (guard: BudgetGuard) => ({ callbacks: [tracker, guard], metadata: { thread_id: `t-${uid()}` } });
    const strict = new BudgetGuard({ tracker, limits: { thread: 1 } });
    const err = await model.invoke("x", config(strict)).catch((e: unknown) => e);
    expect(isUnpricedModelError(err)).toBe(true);
    expect(fake.requests).toHaveLength(0);
    await model.invoke("x", config(new BudgetGuard({ tracker, limits: { thread: 1 }, unpriced: "allow" })));
    expect(fake.requests).toHaveLength(1);
  });

  it("rejects negative, NaN and mismatched limits with InvalidArgumentError", () => {
    const tracker = new CostTracker({ store });
    const bad: unknown[] = [
      { thread: -1 },
      { thread: Number.NaN },
      { thread: Number.POSITIVE_INFINITY },
      { tenant: { key: "tenant_id", usd: -0.5 } },
      { tenant: { key: "org", usd: 1 } },
      { tenant: { usd: 1 } },
      null,
    ];
    for (const limits of bad) {
      expect(() => new BudgetGuard({ tracker, limits: limits as never })).toThrow(InvalidArgumentError);
    }
    const guard = new BudgetGuard({ tracker, limits: { thread: 1 } });
    expect(() => guard.setLimits({ thread: Number.NaN })).toThrow(/non-negative number/);
    expect(guard.limits).toEqual({ thread: 1 });
    expect(() => new BudgetGuard({ tracker, limits: {}, warnAt: 0 })).toThrow(InvalidArgumentError);
    expect(() => new BudgetGuard({ tracker, limits: {}, defaultMaxTokens: 1.5 })).toThrow(InvalidArgumentError);
    expect(() => new BudgetGuard({ tracker: {} as never, limits: {} })).toThrow(InvalidArgumentError);
    expect(() => new PriceTable({ overrides: { m: { input: -1, output: 1 } } })).toThrow(InvalidArgumentError);
    expect(() => new PriceTable({ overrides: { m: { input: 1, output: Number.NaN } } })).toThrow(InvalidArgumentError);
  });

  it("withCostMetadata records each step's cost and the running total in checkpoint metadata", async () => {
    fake.enqueue(
      { content: "a", usage: { prompt: 1000, cached: 400, completion: 200, reasoning: 50 } },
      { content: "b", usage: { prompt: 2000, completion: 100 } },
    );
    const tracker = new CostTracker({ store });
    const keyv = new Keyv({ namespace: uid() });
    const saver = withCostMetadata(new KeyvSaver(keyv), tracker);
    expect(saver).toBeInstanceOf(KeyvSaver);
    expect(() => withCostMetadata(saver, tracker)).toThrow(InvalidArgumentError);
    const model = chat(fake);
    const graph = new StateGraph(State)
      .addNode("one", async (_s, c) => ({ items: [String((await model.invoke("1", c)).content)] }))
      .addNode("two", async (_s, c) => ({ items: [String((await model.invoke("2", c)).content)] }))
      .addEdge(START, "one")
      .addEdge("one", "two")
      .addEdge("two", END)
      .compile({ checkpointer: saver });
    const config = { configurable: { thread_id: `t-${uid()}` }, callbacks: [tracker], metadata: { tenant_id: "acme" } };
    await graph.invoke({}, config);
    const steps: Array<
      [
        number,
        {
          step: { usd: number; tokens: number; byModel?: Record<string, number>; tenant?: string };
          total: { usd: number };
        },
      ]
    > = [];
    for await (const s of graph.getStateHistory(config)) {
      const m = s.metadata as unknown as { step: number; cost: (typeof steps)[0][1] };
      expect(checkpointCost(s.metadata)).toEqual(m.cost);
      steps.unshift([m.step, m.cost]);
    }
    expect(checkpointCost({ step: 1 })).toBeUndefined();
    expect(checkpointCost(undefined)).toBeUndefined();
    expect(steps.map(([step]) => step)).toEqual([-1, 0, 1, 2]);
    const one = gpt4oCost(1000, 400, 200);
    const two = gpt4oCost(2000, 0, 100);
    expect(steps[1]?.[1].step.usd).toBe(0);
    expect(steps[2]?.[1].step.usd).toBeCloseTo(one, 12);
    expect(steps[2]?.[1].step.tokens).toBe(1200);
    expect(steps[3]?.[1].step.usd).toBeCloseTo(two, 12);
    expect(steps[3]?.[1].total.usd).toBeCloseTo(one + two, 12);
    // the split by model family and the tenant, so the CLI can report spend by model and tenant from any store
    expect(steps[2]?.[1].step.byModel).toEqual({ "gpt-4o": expect.closeTo(one, 12) });
    expect(steps[2]?.[1].step.tenant).toBe("acme");
    expect(steps[1]?.[1].step.byModel).toBeUndefined();
  });
});
