import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KeyvSaver } from "@graphkeep/keyv-saver";
import { metrics } from "@opentelemetry/api";
import { AggregationTemporality, MeterProvider, MetricReader } from "@opentelemetry/sdk-metrics";
import { FailoverWatchdog, type LeaseStore, memoryLease, withThreadLease } from "../src/index.js";
import { buildGraph } from "./fixtures/graph.js";
import { leaseBackends, sleep, suffix } from "./stores.js";

class TestReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}
const reader = new TestReader();
metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));

async function counter(name: string): Promise<number> {
  const { resourceMetrics } = await reader.collect();
  let total = 0;
  for (const sm of resourceMetrics.scopeMetrics)
    for (const m of sm.metrics)
      if (m.descriptor.name === name) for (const p of m.dataPoints) total += p.value as number;
  return total;
}

const dir = mkdtempSync(join(tmpdir(), "gk-watchdog-"));
const cfg = (thread_id: string) => ({ configurable: { thread_id }, durability: "sync" as const });

for (const backend of leaseBackends) {
  describe.skipIf(!!backend.skip)(`FailoverWatchdog on ${backend.name}`, () => {
    const space = suffix();
    let lease: LeaseStore;
    let saver: KeyvSaver;
    beforeAll(async () => {
      lease = backend.make(space, { ttlMs: 500, heartbeatMs: 100 });
      saver = await KeyvSaver.fromUrl(backend.name === "memory" ? "memory:" : backend.url, {
        namespace: `gkwd${space}`,
        fencing: lease,
      });
    });
    afterAll(async () => {
      await saver.keyv.clear().catch(() => undefined);
      await saver.close();
      await lease.close();
      await backend.cleanup(space);
    });

    it("leaves a thread waiting on interrupt() alone and resumes a stalled one beside it", async () => {
      const log = join(dir, `${suffix()}.log`);
      writeFileSync(log, "");
      const graph = buildGraph(saver, { log });
      // two workers "crash" holding their leases: one after its graph paused on interrupt() at n1, one mid-run
      const paused = await lease.acquire("asks");
      await graph.invoke({ n: 3, ask: 1 }, { configurable: { thread_id: "asks", __graphkeep_fence: paused.token } });
      const mid = await lease.acquire("mid");
      await graph.invoke(
        { n: 3 },
        { configurable: { thread_id: "mid", __graphkeep_fence: mid.token }, interruptBefore: ["n2"] },
      );
      const lines = () => readFileSync(log, "utf8").split("\n").filter(Boolean);
      expect(lines()).toHaveLength(4); // asks: n0 n1 (interrupted), mid: n0 n1
      const events: string[] = [];
      const watchdog = new FailoverWatchdog({ lease, graph, saver, intervalMs: 50 });
      watchdog.on("skipped", (e) => events.push(`skipped ${e.threadId} ${e.reason}`));
      watchdog.on("resumed", (e) => events.push(`resumed ${e.threadId} ${e.attempt}`));
      const resumedBefore = await counter("graphkeep.failover.resumed");
      await sleep(Math.max(paused.expiresAt.getTime(), mid.expiresAt.getTime()) - Date.now() + 20);
      watchdog.start();
      await sleep(400);
      await watchdog.stop();
      expect(events.sort()).toEqual(["resumed mid 1", "skipped asks interrupted"]);
      const asks = await graph.getState(cfg("asks"));
      expect(asks.next).toEqual(["n1"]);
      expect(asks.tasks[0]?.interrupts).toHaveLength(1);
      expect(lines().filter((l) => l.includes(" asks "))).toHaveLength(2);
      expect((await graph.getState(cfg("mid"))).values.steps).toEqual(["n0", "n1", "n2"]);
      expect(await lease.stalled()).toEqual([]);
      expect(await lease.info("asks")).toMatchObject({ state: "done" });
      // the thread answers its human later, through the guarded graph, as usual
      const guarded = withThreadLease(graph, lease);
      const { Command } = await import("@langchain/langgraph");
      expect((await guarded.invoke(new Command({ resume: "yes" }), cfg("asks"))).answer).toBe("yes");
      expect(await counter("graphkeep.failover.resumed")).toBe(resumedBefore + 1);
    });
  });
}

describe("FailoverWatchdog attempts", () => {
  it("retries a failing resume with backoff, gives up after maxAttempts and marks the run failed", async () => {
    const lease = memoryLease({ ttlMs: 100, heartbeatMs: 30 });
    const saver = await KeyvSaver.fromUrl("memory:");
    let broken = false;
    const graph = buildGraph(saver, {
      onNode: (_t, node) => {
        if (broken && node === "n1") throw new Error("node n1 is broken");
      },
    });
    const h = await lease.acquire("poison");
    await graph.invoke(
      { n: 3 },
      { configurable: { thread_id: "poison", __graphkeep_fence: h.token }, interruptBefore: ["n1"] },
    );
    broken = true;
    const failed: Array<{ attempt: number; willRetry: boolean; at: number }> = [];
    const watchdog = new FailoverWatchdog({
      lease,
      graph,
      intervalMs: 20,
      maxAttempts: 3,
      backoff: { initialMs: 60, factor: 2 },
    });
    watchdog.on("failed", (e) => failed.push({ attempt: e.attempt, willRetry: e.willRetry, at: Date.now() }));
    const failedBefore = await counter("graphkeep.failover.failed");
    await sleep(120);
    watchdog.start();
    await sleep(600);
    await watchdog.stop();
    expect(failed.map((f) => [f.attempt, f.willRetry])).toEqual([
      [1, true],
      [2, true],
      [3, false],
    ]);
    // the second retry waited twice as long as the first
    expect(failed[1]!.at - failed[0]!.at).toBeGreaterThanOrEqual(55);
    expect(failed[2]!.at - failed[1]!.at).toBeGreaterThanOrEqual(115);
    expect(await lease.info("poison")).toMatchObject({ state: "failed", attempts: 3 });
    expect(await lease.stalled()).toEqual([]);
    expect(await counter("graphkeep.failover.failed")).toBe(failedBefore + 3);
  });

  it("rejects bad options with InvalidArgumentError", () => {
    const lease = memoryLease();
    const graph = buildGraph(new (class extends Object {})() as never);
    expect(() => new FailoverWatchdog({ lease, graph, intervalMs: 0 })).toThrow(/intervalMs/);
    expect(() => new FailoverWatchdog({ lease, graph, maxAttempts: 0 })).toThrow(/maxAttempts/);
    expect(() => new FailoverWatchdog({ lease: {} as never, graph })).toThrow(/lease is required/);
    expect(() => new FailoverWatchdog({ lease, graph, backoff: { initialMs: 0 } })).toThrow(/backoff/);
  });
});

describe("FailoverWatchdog and answered interrupts", () => {
  it("resumes a thread whose worker died after the human answered (a __resume__ write is stored)", async () => {
    const { Annotation, Command, END, interrupt, START, StateGraph } = await import("@langchain/langgraph");
    const lease = memoryLease({ ttlMs: 300, heartbeatMs: 100 });
    const saver = await KeyvSaver.fromUrl("memory:");
    let hang = true;
    const State = Annotation.Root({ answer: Annotation<string>({ reducer: (_a, b) => b, default: () => "" }) });
    const graph = new StateGraph(State)
      .addNode("ask", async () => {
        const answer = interrupt("approve?") as string;
        if (hang) {
          hang = false;
          await new Promise(() => undefined); // the worker dies here: the task never finishes
        }
        return { answer };
      })
      .addEdge(START, "ask")
      .addEdge("ask", END)
      .compile({ checkpointer: saver });
    const first = await lease.acquire("t");
    await graph.invoke({}, { configurable: { thread_id: "t", __graphkeep_fence: first.token } });
    await lease.release(first, { state: "done" });
    const second = await lease.acquire("t");
    void graph.invoke(new Command({ resume: "yes" }), {
      configurable: { thread_id: "t", __graphkeep_fence: second.token },
    });
    await sleep(50);
    expect((await saver.getTuple({ configurable: { thread_id: "t" } }))?.pendingWrites?.map((w) => w[1])).toContain(
      "__resume__",
    );
    const events: string[] = [];
    const watchdog = new FailoverWatchdog({ lease, graph, saver, intervalMs: 50 });
    watchdog.on("skipped", (e) => events.push(`skipped ${e.reason}`));
    watchdog.on("resumed", () => events.push("resumed"));
    await sleep(second.expiresAt.getTime() - Date.now() + 20);
    watchdog.start();
    await sleep(400);
    await watchdog.stop();
    expect(events).toEqual(["resumed"]);
    expect((await graph.getState({ configurable: { thread_id: "t" } })).values.answer).toBe("yes");
    await lease.close();
    await saver.close();
  });
});
