import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { InvalidConfigError } from "@graphkeep/core";
import {
  BudgetExceededError,
  BudgetGuard,
  type BudgetWarning,
  CostTracker,
  isBudgetExceededError,
  isUnpricedModelError,
} from "@graphkeep/cost";
import { Annotation, END, MemorySaver, START, StateGraph } from "@langchain/langgraph";
import Keyv from "keyv";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { type FakeOpenAI, startFakeOpenAI } from "../../../test/helpers/fake-openai.js";
import { chat, gpt4oCost, streamText, uid } from "./helpers.js";

/** What the guard reserves for one gpt-4o call: ceil(chars / 4) input tokens at $2.5/M + max output tokens at $10/M. */
const reservation = (prompt: string, maxTokens: number, n = 1) =>
  (Math.ceil(prompt.length / 4) * 2.5 + maxTokens * n * 10) / 1e6;

const warningsOf = (spy: { mock: { calls: unknown[][] } }, code: string) =>
  spy.mock.calls.filter((c) => (c[1] as { code?: string } | undefined)?.code === code);

describe("BudgetGuard limits that used to leak", () => {
  let fake: FakeOpenAI;
  let store: Keyv;
  beforeEach(async () => {
    fake = await startFakeOpenAI();
    store = new Keyv({ namespace: uid() });
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await fake.close();
  });

  it("with a $0.02 thread limit a call with n: 8 is refused before sending (8 completions reserved), and n: 3 is sent and charged its reported usage", async () => {
    const tracker = new CostTracker({ store });
    const guard = new BudgetGuard({ tracker, limits: { thread: 0.02 } });
    const threadId = uid();
    const config = { callbacks: [tracker, guard], metadata: { thread_id: threadId } };
    // one completion of at most 600 tokens reserves ≈ $0.006, which alone would fit
    const eight = await chat(fake, { n: 8, maxTokens: 600 })
      .invoke("q", config)
      .catch((e: unknown) => e);
    expect(eight).toBeInstanceOf(BudgetExceededError);
    expect((eight as BudgetExceededError).requested).toBeCloseTo(reservation("q", 600, 8), 12);
    expect(fake.requests).toHaveLength(0);

    fake.enqueue({ content: "three takes", usage: { prompt: 10, completion: 1500 } });
    const three = await chat(fake, { n: 3, maxTokens: 600 }).generate([["q"]], config);
    expect(three.generations[0]).toHaveLength(3);
    expect(fake.requests).toHaveLength(1);
    const t = await tracker.totals({ threadId });
    expect(t).toMatchObject({ calls: 1, unreportedCalls: 0, outputTokens: 1500 });
    expect(t.usd).toBeCloseTo(gpt4oCost(10, 0, 1500), 12);
    expect(t.usd).toBeLessThanOrEqual(0.02);
  });

  it("10 streamed calls with streamUsage: false under a $0.02 thread limit are each charged their reservation, so only 3 are sent", async () => {
    fake.enqueue(
      ...Array.from({ length: 10 }, (_, i) => ({ content: `answer ${i}`, usage: { prompt: 5, completion: 400 } })),
    );
    const warn = vi.spyOn(process, "emitWarning").mockImplementation(() => undefined);
    const tracker = new CostTracker({ store });
    const guard = new BudgetGuard({ tracker, limits: { thread: 0.02 } });
    const model = chat(fake, { streamUsage: false, maxTokens: 500 });
    const threadId = uid();
    const results: string[] = [];
    for (let i = 0; i < 10; i++) {
      try {
        results.push(
          await streamText(model, `q${i}`, { callbacks: [tracker, guard], metadata: { thread_id: threadId } }),
        );
      } catch (e) {
        if (!isBudgetExceededError(e)) throw e;
        results.push("refused");
      }
    }
    // each reserves $0.0050025; three are charged $0.0150075 and a fourth would pass $0.02
    expect(fake.requests).toHaveLength(3);
    expect(results.filter((r) => r === "refused")).toHaveLength(7);
    const t = await tracker.totals({ threadId });
    expect(t).toMatchObject({ calls: 3, unreportedCalls: 3, unpricedCalls: 0, inputTokens: 0, outputTokens: 0 });
    expect(t.usd).toBeCloseTo(3 * reservation("q0", 500), 12);
    expect(t.estimatedUsd).toBeCloseTo(t.usd, 12);
    expect(t.usd).toBeLessThanOrEqual(0.02);
    expect(String(warningsOf(warn, "GRAPHKEEP_COST_NO_USAGE")[0]?.[0])).toContain(
      "charged its BudgetGuard reservation",
    );
  });

  it("an aborted call is charged its reservation; a call the provider answered with an error is not", async () => {
    const tracker = new CostTracker({ store });
    const guard = new BudgetGuard({ tracker, limits: { thread: 1 } });
    const model = chat(fake, { maxTokens: 300 });
    const threadId = uid();
    const config = { callbacks: [tracker, guard], metadata: { thread_id: threadId } };
    fake.enqueue({ content: "slow", delayMs: 400 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    await expect(model.invoke("abort me", { ...config, signal: controller.signal })).rejects.toThrow(/abort/i);
    expect(fake.requests).toHaveLength(1);
    let t = await tracker.totals({ threadId });
    expect(t).toMatchObject({ calls: 1, unreportedCalls: 1 });
    expect(t.usd).toBeCloseTo(reservation("abort me", 300), 12);
    expect(guard.reserved({ threadId })).toBe(0);

    // no scripted reply left: the server answers 500, nothing was generated
    await expect(model.invoke("fail", config)).rejects.toThrow(/500/);
    t = await tracker.totals({ threadId });
    expect(t.calls).toBe(1);
    expect(guard.reserved({ threadId })).toBe(0);
  });

  it("a call that names its thread only in configurable.thread_id is refused with InvalidConfigError, not let through unchecked", async () => {
    const tracker = new CostTracker({ store });
    // room for 2 calls of ≈ $0.006
    const guard = new BudgetGuard({ tracker, limits: { thread: 0.0125 } });
    const model = chat(fake, { maxTokens: 600 });
    const threadId = uid();
    fake.enqueue(...Array.from({ length: 8 }, () => ({ content: "ok", usage: { prompt: 10, completion: 500 } })));
    // LangChain shows callbacks the run's metadata, never its configurable: the guard cannot see this thread
    for (let i = 0; i < 6; i++) {
      const e = await model
        .invoke(`q${i}`, { configurable: { thread_id: threadId }, callbacks: [tracker, guard] })
        .catch((err: unknown) => err);
      expect(e).toBeInstanceOf(InvalidConfigError);
      expect(String((e as Error).message)).toContain("metadata: { thread_id }");
    }
    expect(fake.requests).toHaveLength(0);

    // named in metadata as well, the limit applies: 2 of 6 are sent
    let sent = 0;
    for (let i = 0; i < 6; i++) {
      const config = { configurable: { thread_id: threadId }, metadata: { thread_id: threadId } };
      await model.invoke(`q${i}`, { ...config, callbacks: [tracker, guard] }).then(
        () => sent++,
        (e: unknown) => expect(e).toBeInstanceOf(BudgetExceededError),
      );
    }
    expect(sent).toBe(2);
    expect(fake.requests).toHaveLength(2);

    // an explicit opt-in lets calls without a thread through, warned once
    const warn = vi.spyOn(process, "emitWarning").mockImplementation(() => undefined);
    const open = new BudgetGuard({ tracker, limits: { thread: 0.0125 }, unthreaded: "allow" });
    await model.invoke("x", { callbacks: [tracker, open] });
    await model.invoke("y", { callbacks: [tracker, open] });
    expect(fake.requests).toHaveLength(4);
    expect(warningsOf(warn, "GRAPHKEEP_COST_UNTHREADED")).toHaveLength(1);
  });

  it("an unpriced model never passes silently: refused by default, warned once when allowed", async () => {
    const warn = vi.spyOn(process, "emitWarning").mockImplementation(() => undefined);
    fake.enqueue({ content: "a" }, { content: "b" });
    const tracker = new CostTracker({ store });
    const model = chat(fake, { model: "acme-llm-9000" });
    const config = (guard: BudgetGuard) => ({ callbacks: [tracker, guard], metadata: { thread_id: uid() } });
    const refused = await model
      .invoke("x", config(new BudgetGuard({ tracker, limits: { thread: 1 } })))
      .catch((e: unknown) => e);
    expect(isUnpricedModelError(refused)).toBe(true);
    const allowing = new BudgetGuard({ tracker, limits: { thread: 1 }, unpriced: "allow" });
    await model.invoke("x", config(allowing));
    await model.invoke("y", config(allowing));
    expect(fake.requests).toHaveLength(2);
    const allowed = warningsOf(warn, "GRAPHKEEP_COST_UNPRICED_ALLOWED");
    expect(allowed).toHaveLength(1);
    expect(String(allowed[0]?.[0])).toContain("acme-llm-9000");
  });

  it("onWarn reports what is spent, what other calls hold in flight and what this call reserves apart", async () => {
    const warnings: BudgetWarning[] = [];
    const tracker = new CostTracker({ store });
    const guard = new BudgetGuard({
      tracker,
      limits: { thread: 0.009 },
      warnAt: 0.5,
      onWarn: (w) => void warnings.push(w),
    });
    const model = chat(fake, { maxTokens: 400 });
    const threadId = uid();
    const config = { callbacks: [tracker, guard], metadata: { thread_id: threadId } };
    fake.enqueue(
      { content: "a", delayMs: 150, usage: { prompt: 100, completion: 300 } },
      { content: "b", usage: { prompt: 100, completion: 300 } },
    );
    // two calls at once: the second sees the first's reservation in flight and nothing spent yet
    await Promise.all([
      model.invoke("a", config),
      new Promise((r) => setTimeout(r, 30)).then(() => model.invoke("b", config)),
    ]);
    expect(warnings).toHaveLength(1);
    const w = warnings[0] as BudgetWarning;
    expect(w).toMatchObject({ scope: "thread", key: threadId, limit: 0.009, spent: 0 });
    expect(w.reserved).toBeCloseTo(reservation("a", 400), 12);
    expect(w.requested).toBeCloseTo(reservation("b", 400), 12);
    expect(w.ratio).toBeCloseTo((w.spent + w.reserved + w.requested) / 0.009, 12);

    // a later warning (new limit) reports the settled spend as spent
    guard.setLimits({ thread: 0.012 });
    fake.enqueue({ content: "c", usage: { prompt: 100, completion: 300 } });
    await model.invoke("c", config);
    const later = warnings[1] as BudgetWarning;
    expect(later.spent).toBeCloseTo(2 * gpt4oCost(100, 0, 300), 12);
    expect(later.reserved).toBe(0);
  });
});

describe("BudgetGuard refusals on stderr", () => {
  let fake: FakeOpenAI;
  beforeEach(async () => {
    fake = await startFakeOpenAI();
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await fake.close();
  });

  it("an expected refusal reaches the caller without LangChain's 'Error in handler' line, inside and outside a graph", async () => {
    const logged: string[] = [];
    const capture = (...args: unknown[]) => void logged.push(args.map(String).join(" "));
    vi.spyOn(console, "error").mockImplementation(capture);
    vi.spyOn(console, "warn").mockImplementation(capture);
    const tracker = new CostTracker({ store: new Keyv({ namespace: uid() }) });
    const guard = new BudgetGuard({ tracker, limits: { thread: 0.001 } });

    const budget = await chat(fake, { maxTokens: 400 })
      .invoke("x", { callbacks: [tracker, guard], metadata: { thread_id: uid() } })
      .catch((e: unknown) => e);
    expect(budget).toBeInstanceOf(BudgetExceededError);
    expect(logged.filter((l) => l.includes("Error in handler"))).toEqual([]);
    const unpriced = await chat(fake, { model: "acme-llm-9000" })
      .invoke("x", { callbacks: [tracker, guard], metadata: { thread_id: uid() } })
      .catch((e: unknown) => e);
    expect(isUnpricedModelError(unpriced)).toBe(true);
    const unthreaded = await chat(fake)
      .invoke("x", { callbacks: [tracker, guard] })
      .catch((e: unknown) => e);
    expect(unthreaded).toBeInstanceOf(InvalidConfigError);

    const model = chat(fake, { maxTokens: 400 });
    const State = Annotation.Root({ out: Annotation<string>() });
    const graph = new StateGraph(State)
      .addNode("ask", async (_s, c) => ({ out: String((await model.invoke("x", c)).content) }))
      .addEdge(START, "ask")
      .addEdge("ask", END)
      .compile({ checkpointer: new MemorySaver() });
    const inGraph = await graph
      .invoke({}, { configurable: { thread_id: uid() }, callbacks: [tracker, guard] })
      .catch((e: unknown) => e);
    expect(inGraph).toBeInstanceOf(BudgetExceededError);

    expect(fake.requests).toHaveLength(0);
    expect(logged.filter((l) => l.includes("Error in handler"))).toEqual([]);
    // the errors themselves still print as usual anywhere else
    expect(String(budget)).toMatch(/^BudgetExceededError: BudgetGuard: the thread budget/);
    expect(`${inGraph}`).toMatch(/^BudgetExceededError: /);
  });

  it("stays quiet when source maps rewrite the stack to @langchain/core's .ts sources (tsx, as pnpm example runs)", () => {
    const script = fileURLToPath(new URL("./fixtures/refusal.ts", import.meta.url));
    const r = spawnSync(process.execPath, ["--import", "tsx", script], {
      encoding: "utf8",
      cwd: fileURLToPath(new URL("../../..", import.meta.url)),
      timeout: 60_000,
    });
    expect(r.stdout.trim(), r.stderr).toBe("refused");
    expect(r.stderr).not.toContain("Error in handler");
  }, 90_000);
});
