// Issue 15 (items 8–11): a fencing refusal is a lost lease, a late acquire leaves no ghost, every putWrites caller
// is fenced, and the watchdog neither crashes on a throwing resumeConfig nor keeps a timeout its TTL cannot absorb.
import { InvalidArgumentError } from "@graphkeep/core";
import { KeyvSaver } from "@graphkeep/keyv-saver";
import { MemorySaver } from "@langchain/langgraph";
import { type BaseCheckpointSaver, emptyCheckpoint } from "@langchain/langgraph-checkpoint";
import { POSTGRES_URL, REDIS_URL } from "../../../test/helpers/backends.js";
import { TcpProxy } from "../../../test/helpers/proxy.js";
import {
  FailoverWatchdog,
  isLeaseLostError,
  type LeaseOptions,
  type LeaseStore,
  postgresLease,
  redisLease,
  withFencing,
  withThreadLease,
} from "../src/index.js";
import { buildGraph } from "./fixtures/graph.js";
import { dropPgTable, dropRedisPrefix, leaseBackends, skipOf, sleep, suffix } from "./stores.js";

const cfg = (thread_id: string) => ({ configurable: { thread_id }, durability: "sync" as const });

/** Blocks the event loop (no timer fires), as a long GC pause or a stopped process would. */
const freeze = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

for (const backend of leaseBackends) {
  describe.skipIf(!!backend.skip)(`a write refused by the fencing check (${backend.name})`, () => {
    const space = suffix();
    let lease: LeaseStore;
    let saver: KeyvSaver;
    beforeAll(async () => {
      lease = backend.make(space, { ttlMs: 600, heartbeatMs: 200 });
      saver = await KeyvSaver.fromUrl("memory:", { fencing: lease });
    });
    afterAll(async () => {
      await saver.close();
      await lease.close();
      await backend.cleanup(space);
    });

    it("leaves the run running and stalled (not done), and the watchdog resumes it to the end", async () => {
      let frozen = false;
      const graph = buildGraph(saver, {
        onNode: (_t, node) => {
          if (node !== "n1" || frozen) return;
          frozen = true;
          freeze(900); // past the TTL: the lease expires before any heartbeat can notice
        },
      });
      const guarded = withThreadLease(graph, lease);
      const err = await guarded.invoke({ n: 3 }, cfg("refused")).catch((e: unknown) => e);
      expect(isLeaseLostError(err)).toBe(true);
      // nobody took the thread over: the run must still read as stalled, as the error message promises
      expect(await lease.info("refused")).toMatchObject({ state: "running", live: false });
      expect(await lease.stalled()).toContain("refused");
      const events: string[] = [];
      const watchdog = new FailoverWatchdog({ lease, graph, saver, intervalMs: 1000 });
      watchdog.on("resumed", (e) => events.push(`resumed ${e.threadId}`));
      watchdog.on("skipped", (e) => events.push(`skipped ${e.threadId} ${e.reason}`));
      expect(await watchdog.tick()).toEqual(["refused"]);
      await watchdog.idle();
      expect(events).toEqual(["resumed refused"]);
      expect((await graph.getState(cfg("refused"))).values.steps).toEqual(["n0", "n1", "n2"]);
      expect(await lease.info("refused")).toMatchObject({ state: "done" });
    });

    it("a stream whose write is refused leaves the run stalled too", async () => {
      let frozen = false;
      const graph = buildGraph(saver, {
        onNode: (_t, node) => {
          if (node !== "n1" || frozen) return;
          frozen = true;
          freeze(900);
        },
      });
      const guarded = withThreadLease(graph, lease);
      const err = await (async () => {
        for await (const _ of await guarded.stream({ n: 3 }, cfg("refused-stream"))) {
          // read to the end
        }
      })().catch((e: unknown) => e);
      expect(isLeaseLostError(err)).toBe(true);
      expect(await lease.info("refused-stream")).toMatchObject({ state: "running", live: false });
      expect(await lease.stalled()).toContain("refused-stream");
    });
  });
}

for (const backend of leaseBackends) {
  describe.skipIf(!!backend.skip)(`FailoverWatchdog with a throwing resumeConfig (${backend.name})`, () => {
    const space = suffix();
    afterAll(() => backend.cleanup(space));

    it("reports each throw as a failed event, retries with backoff, marks the run failed, and never rejects unhandled", async () => {
      const lease = backend.make(space, { ttlMs: 500, heartbeatMs: 100 });
      const saver = await KeyvSaver.fromUrl("memory:");
      const graph = buildGraph(saver);
      const h = await lease.acquire("cfg");
      // a worker dies between n0 and n1 holding its lease
      await graph.invoke(
        { n: 3 },
        { configurable: { thread_id: "cfg", __graphkeep_fence: h.token }, interruptBefore: ["n1"] },
      );
      const unhandled: unknown[] = [];
      const onUnhandled = (e: unknown) => unhandled.push(e);
      process.on("unhandledRejection", onUnhandled);
      const failed: Array<[number, boolean, string]> = [];
      const watchdog = new FailoverWatchdog({
        lease,
        graph,
        saver,
        intervalMs: 1000,
        maxAttempts: 2,
        backoff: { initialMs: 30 },
        resumeConfig: () => {
          throw new Error("no tenant configured for this thread");
        },
      });
      watchdog.on("failed", (e) => failed.push([e.attempt, e.willRetry, (e.error as Error).message]));
      try {
        await sleep(h.expiresAt.getTime() - Date.now() + 30);
        expect(await watchdog.tick()).toEqual(["cfg"]);
        await watchdog.idle();
        await sleep(80); // the backoff: the run is stalled again after 30 ms
        expect(await watchdog.tick()).toEqual(["cfg"]);
        await watchdog.idle();
        await sleep(50); // an unhandled rejection would surface by now
      } finally {
        process.off("unhandledRejection", onUnhandled);
        await watchdog.stop();
      }
      expect(unhandled).toEqual([]);
      expect(failed).toEqual([
        [1, true, "no tenant configured for this thread"],
        [2, false, "no tenant configured for this thread"],
      ]);
      expect(await lease.info("cfg")).toMatchObject({ state: "failed", attempts: 2 });
      expect(await lease.stalled()).not.toContain("cfg");
      // nothing ran: the thread is where the dead worker left it
      expect((await graph.getState(cfg("cfg"))).values.steps).toEqual(["n0"]);
      await lease.close();
      await saver.close();
    });
  });
}

describe("operationTimeoutMs against ttlMs", () => {
  for (const backend of leaseBackends) {
    it.skipIf(!!backend.skip)(
      `${backend.name}: a timeout one hung heartbeat and its retry could not fit in the lease is refused at construction`,
      async () => {
        const space = suffix();
        // heartbeatMs + 2 × operationTimeoutMs must not exceed ttlMs: here 300 + 2 × 400 > 1000
        const make = (operationTimeoutMs?: number) =>
          backend.make(space, { ttlMs: 1000, heartbeatMs: 300, operationTimeoutMs });
        expect(() => make(400)).toThrow(InvalidArgumentError);
        // without an operationTimeoutMs, a heartbeat too close to the TTL is named as the problem
        expect(() => backend.make(space, { ttlMs: 1000, heartbeatMs: 999 })).toThrow(
          /heartbeatMs \(999\) leaves no time for a store operation/,
        );
        expect(() => make(400)).toThrow(/operationTimeoutMs \(400\) is too long for ttlMs \(1000\).*at most .* = 350/);
        // the longest timeout that fits, and the default (min(5000, 350)), work
        for (const lease of [make(350), make()]) {
          const h = await lease.acquire("fits");
          expect(await lease.release(h)).toBe(true);
          await lease.close();
        }
        await backend.cleanup(space);
      },
    );
  }
});

describe.skipIf(!!skipOf("postgres"))("a heartbeat that hangs (postgres)", () => {
  it("is timed out and retried at once, so a short lease survives one hung extend and the run completes", async () => {
    const target = new URL(POSTGRES_URL);
    const proxy = new TcpProxy(target.hostname, Number(target.port || 5432));
    await proxy.start();
    const table = `gklease_hang_${suffix()}`;
    // the default operationTimeoutMs is min(5000, (900 - 300) / 2) = 300 ms
    const lease = postgresLease({ url: proxy.url(POSTGRES_URL), table, ttlMs: 900, heartbeatMs: 300 });
    const saver = await KeyvSaver.fromUrl("memory:", { fencing: lease });
    let held = 0;
    // the first extend reaches the server 3 s late (a stuck connection): longer than the lease
    proxy.holdRequest = (chunk) => (chunk.includes("SET expires_at = clock_timestamp()") && held++ === 0 ? 3000 : 0);
    try {
      const guarded = withThreadLease(buildGraph(saver), lease);
      const out = await guarded.invoke({ n: 3, delay: 450 }, cfg("hung"));
      expect(out.steps).toEqual(["n0", "n1", "n2"]);
      expect(held).toBeGreaterThan(1); // the hung extend and later ones
      expect(await lease.info("hung")).toMatchObject({ state: "done" });
    } finally {
      await saver.close();
      await lease.close();
      await proxy.stop();
      await dropPgTable(table);
    }
  });
});

/** A lease store of `name` reached through a proxy that can delay the server's answers, and one reached directly. */
async function slowAndDirect(name: "redis" | "postgres", options: LeaseOptions) {
  const url = name === "redis" ? REDIS_URL : POSTGRES_URL;
  const target = new URL(url);
  const proxy = new TcpProxy(target.hostname, Number(target.port || (name === "redis" ? 6379 : 5432)));
  await proxy.start();
  const space = suffix();
  const make = (u: string, o: LeaseOptions) =>
    name === "redis"
      ? redisLease({ url: u, keyPrefix: `gkghost:${space}`, ...o })
      : postgresLease({ url: u, table: `gkghost_${space}`, ...o });
  const slow = make(proxy.url(url), options);
  const direct = make(url, { ttlMs: 500, heartbeatMs: 100 });
  return {
    proxy,
    slow,
    direct,
    async close() {
      await slow.close();
      await direct.close();
      await proxy.stop();
      if (name === "redis") await dropRedisPrefix(`gkghost:${space}`);
      else await dropPgTable(`gkghost_${space}`);
    },
  };
}

for (const name of ["postgres", "redis"] as const) {
  describe.skipIf(!!skipOf(name))(`an acquire or takeover that times out but commits later (${name})`, () => {
    it("hands a new thread back as done and leaves a stalled run stalled, so the watchdog never resumes a ghost", async () => {
      const s = await slowAndDirect(name, { ttlMs: 5000, heartbeatMs: 1000, operationTimeoutMs: 300 });
      try {
        expect(await s.slow.info("warm-up")).toBeUndefined(); // connected before the answers slow down
        // two runs whose worker died: their leases expire, they are stalled
        await s.direct.acquire("stalled-a");
        await s.direct.acquire("stalled-b");
        await sleep(550);
        expect((await s.direct.stalled()).sort()).toEqual(["stalled-a", "stalled-b"]);
        s.proxy.delayMs = 700; // every answer now arrives after the caller's 300 ms timeout
        const late = await Promise.all([
          s.slow.acquire("fresh").catch((e: unknown) => e),
          s.slow.acquire("stalled-a").catch((e: unknown) => e),
          s.slow.takeOver("stalled-b").catch((e: unknown) => e),
        ]);
        for (const e of late) expect(e).toMatchObject({ code: "STORE_UNAVAILABLE" });
        // the three commits land, then the hand-backs (each answer, and a new connection's handshake, arrives late;
        // on Redis the runs index is updated by a second command after the script's answer)
        const settled = async () => {
          const [fresh, a, b] = await Promise.all(["fresh", "stalled-a", "stalled-b"].map((t) => s.direct.info(t)));
          const stalled = (await s.direct.stalled()).sort().join();
          return fresh?.state === "done" && a?.live === false && b?.live === false && stalled === "stalled-a,stalled-b";
        };
        for (const until = Date.now() + 4000; Date.now() < until && !(await settled()); ) await sleep(200);
        s.proxy.delayMs = 0;
        // nobody started "fresh": it is not held and not a run to resume
        expect(await s.direct.info("fresh")).toMatchObject({ state: "done", live: false });
        // the dead workers' runs are still stalled (not hidden behind a 5 s ghost lease, not marked done)
        expect(await s.direct.info("stalled-a")).toMatchObject({ state: "running", live: false });
        expect(await s.direct.info("stalled-b")).toMatchObject({ state: "running", live: false });
        expect((await s.direct.stalled()).sort()).toEqual(["stalled-a", "stalled-b"]);
        const again = await s.direct.acquire("fresh"); // not ThreadBusyError
        await s.direct.release(again);
      } finally {
        await s.close();
      }
    });
  });
}

/**
 * A stale run (token 1) and the current run (token 2) write to one checkpoint at the same time, interleaved;
 * only the current run's writes may be stored.
 */
async function concurrentWrites(saver: BaseCheckpointSaver, lease: LeaseStore, thread: string) {
  const first = await lease.acquire(thread);
  const stored = await saver.put(
    { configurable: { thread_id: thread, checkpoint_ns: "", __graphkeep_fence: first.token } },
    emptyCheckpoint(),
    { source: "input", step: -1, parents: {} },
    {},
  );
  await lease.release(first);
  const current = await lease.acquire(thread); // the thread now belongs to another run
  const at = (token: number) => ({ configurable: { ...stored.configurable, __graphkeep_fence: token } });
  const results = await Promise.allSettled([
    saver.putWrites(at(first.token), [["a", "stale 1"]], "task-stale-1"),
    saver.putWrites(at(current.token), [["a", "current 1"]], "task-current-1"),
    saver.putWrites(at(first.token), [["a", "stale 2"]], "task-stale-2"),
    saver.putWrites(at(current.token), [["a", "current 2"]], "task-current-2"),
  ]);
  await lease.release(current);
  const tuple = await saver.getTuple({ configurable: { thread_id: thread, checkpoint_ns: "" } });
  return {
    statuses: results.map((r) => r.status),
    refusals: results.flatMap((r) => (r.status === "rejected" ? [r.reason] : [])),
    stored: (tuple?.pendingWrites ?? []).map((w) => w[2]).sort(),
    currentToken: current.token,
  };
}

for (const backend of leaseBackends) {
  describe.skipIf(!!backend.skip)(`concurrent putWrites of two runs on one checkpoint (${backend.name})`, () => {
    const space = suffix();
    let lease: LeaseStore;
    let saver: KeyvSaver;
    beforeAll(async () => {
      lease = backend.make(space, { ttlMs: 5000 });
      saver = await KeyvSaver.fromUrl(backend.name === "memory" ? "memory:" : backend.url, {
        namespace: `gkpw${space}`,
        fencing: lease,
      });
    });
    afterAll(async () => {
      await saver.keyv.clear().catch(() => undefined);
      await saver.close();
      await lease.close();
      await backend.cleanup(space);
    });

    it("KeyvSaver checks every caller's own fence: the stale run's writes are refused, the current run's all stored", async () => {
      const r = await concurrentWrites(saver, lease, "pw-keyv");
      expect(r.statuses).toEqual(["rejected", "fulfilled", "rejected", "fulfilled"]);
      for (const e of r.refusals) {
        expect(isLeaseLostError(e)).toBe(true);
        expect(e).toMatchObject({ threadId: "pw-keyv", currentToken: r.currentToken });
      }
      expect(r.stored).toEqual(["current 1", "current 2"]);
    });

    it("refuses a write whose fence is not a number instead of letting it through unchecked", async () => {
      const h = await lease.acquire("pw-malformed");
      const at = (fence: unknown) => ({ configurable: { thread_id: "pw-malformed", __graphkeep_fence: fence } });
      for (const fence of [String(h.token), `${h.token - 1}`, { token: h.token }]) {
        await expect(lease.assertCurrent("pw-malformed", at(fence), "putWrites")).rejects.toMatchObject({
          code: "INVALID_CONFIG",
        });
      }
      await expect(lease.assertCurrent("pw-malformed", at(h.token), "putWrites")).resolves.toBeUndefined();
      await lease.release(h);
    });

    it("withFencing over another saver checks every caller's own fence too", async () => {
      const r = await concurrentWrites(withFencing(new MemorySaver(), lease), lease, "pw-fenced");
      expect(r.statuses).toEqual(["rejected", "fulfilled", "rejected", "fulfilled"]);
      expect(r.refusals.every((e) => isLeaseLostError(e))).toBe(true);
      expect(r.stored).toEqual(["current 1", "current 2"]);
    });
  });
}
