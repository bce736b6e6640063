import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InvalidConfigError } from "@graphkeep/core";
import { KeyvSaver } from "@graphkeep/keyv-saver";
import { MemorySaver } from "@langchain/langgraph";
import {
  isLeaseLostError,
  isThreadBusyError,
  type LeaseStore,
  memoryLease,
  redisLease,
  StoreUnavailableError,
  withFencing,
  withThreadLease,
} from "../src/index.js";
import { buildGraph } from "./fixtures/graph.js";
import { leaseBackends, sleep, suffix } from "./stores.js";

const dir = mkdtempSync(join(tmpdir(), "gk-lease-"));
function newLog(): { file: string; lines: () => string[] } {
  const file = join(dir, `${suffix()}.log`);
  writeFileSync(file, "");
  return { file, lines: () => readFileSync(file, "utf8").split("\n").filter(Boolean) };
}
const cfg = (thread_id: string) => ({ configurable: { thread_id }, durability: "sync" as const });

async function linear(saver: KeyvSaver | MemorySaver, thread: string): Promise<boolean> {
  const ids: string[] = [];
  const parents: Array<string | undefined> = [];
  for await (const t of saver.list({ configurable: { thread_id: thread, checkpoint_ns: "" } })) {
    ids.push(t.config.configurable!.checkpoint_id);
    parents.push(t.parentConfig?.configurable?.checkpoint_id);
  }
  // newest first: each checkpoint's parent is the next one in the list, the oldest has none
  return parents.every((p, i) => p === ids[i + 1]);
}

describe("withThreadLease (in one process, memory lease)", () => {
  let lease: LeaseStore;
  let saver: KeyvSaver;
  beforeEach(async () => {
    lease = memoryLease({ ttlMs: 200, heartbeatMs: 50 });
    saver = await KeyvSaver.fromUrl("memory:", { fencing: lease });
  });

  it("fails a second concurrent run on the thread fast with ThreadBusyError; the graph ran once", async () => {
    const log = newLog();
    const guarded = withThreadLease(buildGraph(saver, { log: log.file }), lease);
    const [a, b] = await Promise.allSettled([
      guarded.invoke({ n: 3, delay: 20 }, cfg("t")),
      guarded.invoke({ n: 3, delay: 20 }, cfg("t")),
    ]);
    expect(a.status).toBe("fulfilled");
    expect(b.status).toBe("rejected");
    const err = (b as PromiseRejectedResult).reason;
    expect(isThreadBusyError(err)).toBe(true);
    expect(err).toMatchObject({ threadId: "t", holder: lease.owner });
    expect(log.lines()).toHaveLength(3);
    expect(await linear(saver, "t")).toBe(true);
    // released on completion
    expect((await lease.info("t"))?.state).toBe("done");
  });

  it("with onBusy: 'wait' runs the second run after the first, one after the other", async () => {
    const guarded = withThreadLease(buildGraph(saver), lease, { onBusy: "wait", waitMs: 5000 });
    const [a, b] = await Promise.all([
      guarded.invoke({ n: 2, delay: 30 }, cfg("w")),
      sleep(5).then(() => guarded.invoke({ n: 4, delay: 0 }, cfg("w"))),
    ]);
    expect(a.steps).toEqual(["n0", "n1"]);
    expect(b.steps).toEqual(["n0", "n1", "n0", "n1"]);
    expect(await linear(saver, "w")).toBe(true);
  });

  it("a caller waiting with onBusy: 'wait' that aborts gets its abort reason and takes no lease", async () => {
    const holder = await lease.acquire("busy-wait");
    const guarded = withThreadLease(buildGraph(saver), lease, { onBusy: "wait", waitMs: 5000 });
    const ac = new AbortController();
    const started = Date.now();
    const run = guarded.invoke({ n: 1, delay: 0 }, { ...cfg("busy-wait"), signal: ac.signal }).catch((e: unknown) => e);
    await sleep(80);
    ac.abort(new Error("client went away"));
    expect(((await run) as Error).message).toBe("client went away");
    expect(Date.now() - started).toBeLessThan(1000);
    expect((await lease.info("busy-wait"))?.token).toBe(holder.token);
    await lease.release(holder);
  });

  it("keeps the lease of a run that lasts several TTLs by heartbeating", async () => {
    const guarded = withThreadLease(buildGraph(saver), lease);
    const run = guarded.invoke({ n: 6, delay: 100 }, cfg("long"));
    await sleep(450);
    expect((await lease.info("long"))?.live).toBe(true);
    expect(isThreadBusyError(await lease.acquire("long").catch((e: unknown) => e))).toBe(true);
    expect((await run).steps).toHaveLength(6);
  });

  it("releases the lease when the run throws or is aborted", async () => {
    const guarded = withThreadLease(buildGraph(saver), lease);
    const ac = new AbortController();
    const run = guarded.invoke({ n: 5, delay: 50 }, { ...cfg("abort"), signal: ac.signal });
    await sleep(60);
    ac.abort();
    await expect(run).rejects.toThrow();
    expect((await lease.info("abort"))?.state).toBe("done");
    await expect(
      guarded.invoke({ n: 1 } as never, { configurable: { thread_id: "bad" }, recursionLimit: -1 } as never),
    ).rejects.toThrow();
    expect((await lease.info("bad"))?.live ?? false).toBe(false);
  });

  it("holds the lease while a stream is iterated and releases it when the loop breaks", async () => {
    const guarded = withThreadLease(buildGraph(saver), lease);
    const stream = await guarded.stream({ n: 5, delay: 20 }, { ...cfg("s"), streamMode: "values" });
    let chunks = 0;
    for await (const _ of stream) {
      chunks++;
      expect((await lease.info("s"))?.live).toBe(true);
      if (chunks === 2) break;
    }
    expect((await lease.info("s"))?.state).toBe("done");
    // a stream read to the end releases too
    const all = await guarded.stream({ n: 2, delay: 0 }, cfg("s2"));
    for await (const _ of all) expect((await lease.info("s2"))?.live).toBe(true);
    expect((await lease.info("s2"))?.state).toBe("done");
  });

  it("fails a stream on a busy thread at stream() and holds the lease through streamEvents", async () => {
    const guarded = withThreadLease(buildGraph(saver), lease);
    const h = await lease.acquire("busy");
    await expect(guarded.stream({ n: 1 }, cfg("busy"))).rejects.toMatchObject({ code: "THREAD_BUSY" });
    await lease.release(h);
    const events = guarded.streamEvents({ n: 2, delay: 5 }, { ...cfg("ev"), version: "v2" });
    let seen = 0;
    for await (const e of events) {
      if (seen++ === 0) expect(e.event).toBe("on_chain_start");
      expect((await lease.info("ev"))?.live).toBe(true);
    }
    expect(seen).toBeGreaterThan(4);
    expect((await lease.info("ev"))?.state).toBe("done");
  });

  it("takes the lease for updateState and reads state without it", async () => {
    const guarded = withThreadLease(buildGraph(saver), lease);
    await guarded.invoke({ n: 1 }, cfg("u"));
    const h = await lease.acquire("u");
    await expect(guarded.updateState(cfg("u"), { steps: ["x"] })).rejects.toMatchObject({ code: "THREAD_BUSY" });
    expect((await guarded.getState(cfg("u"))).values.steps).toEqual(["n0"]);
    await lease.release(h);
    await guarded.updateState(cfg("u"), { steps: ["x"] });
    expect((await guarded.getState(cfg("u"))).values.steps).toEqual(["n0", "x"]);
    const history = [];
    for await (const s of guarded.getStateHistory(cfg("u"))) history.push(s);
    expect(history.length).toBeGreaterThan(2);
  });

  it("rejects a run without thread_id with InvalidConfigError before running anything", async () => {
    const log = newLog();
    const guarded = withThreadLease(buildGraph(saver, { log: log.file }), lease);
    await expect(guarded.invoke({ n: 1 }, {} as never)).rejects.toThrow(InvalidConfigError);
    await expect(guarded.invoke({ n: 1 }, { configurable: {} } as never)).rejects.toThrow(/thread_id is required/);
    expect(log.lines()).toHaveLength(0);
    expect(() => withThreadLease(buildGraph(saver), lease, { onBusy: "queue" as never })).toThrow(/onBusy/);
    expect(() => withThreadLease(buildGraph(saver), {} as never)).toThrow(/lease store/);
  });

  it("does not start the run when the lease store is unreachable", async () => {
    const log = newLog();
    const down = redisLease({ url: "redis://127.0.0.1:1", operationTimeoutMs: 500, connectTimeoutMs: 500 });
    const guarded = withThreadLease(buildGraph(new MemorySaver(), { log: log.file }), down);
    await expect(guarded.invoke({ n: 2 }, cfg("t"))).rejects.toThrow(StoreUnavailableError);
    expect(log.lines()).toHaveLength(0);
    await down.close();
  });
});

/** Blocks the event loop (no heartbeat can fire), as a long GC pause or a stopped process would. */
const freeze = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

for (const backend of leaseBackends.filter((b) => b.name !== "postgres")) {
  describe.skipIf(!!backend.skip)(`a run that loses its lease (${backend.name})`, () => {
    const space = suffix();
    afterAll(() => backend.cleanup(space));

    it("is aborted with LeaseLostError once it stalls past its TTL, and nothing it did after the takeover is in the thread", async () => {
      const lease = backend.make(space, { ttlMs: 500, heartbeatMs: 100, owner: "stale" });
      const taker =
        backend.name === "memory" ? lease : backend.make(space, { ttlMs: 500, heartbeatMs: 100, owner: "taker" });
      const saver = await KeyvSaver.fromUrl("memory:", { fencing: lease });
      let stolen: Awaited<ReturnType<LeaseStore["acquire"]>> | undefined;
      const guarded = withThreadLease(
        buildGraph(saver, {
          onNode: (_t, node) => {
            if (node !== "n1") return;
            freeze(700); // past the TTL: the lease expires while this worker is frozen
          },
        }),
        lease,
      );
      const graphAfter = buildGraph(saver);
      const run = guarded.invoke({ n: 3, delay: 40 }, cfg("lost"));
      // another worker takes the thread over while n1 sleeps after the freeze
      const steal = (async () => {
        while (!stolen) {
          await sleep(10);
          stolen = await taker.takeOver("lost");
        }
      })();
      const err = await run.catch((e: unknown) => e);
      await steal;
      expect(isLeaseLostError(err)).toBe(true);
      expect(err).toMatchObject({ threadId: "lost" });
      const state = await graphAfter.getState(cfg("lost"));
      // n0 was written before the takeover; n1 of the stale run never was
      expect(state.values.steps).toEqual(["n0"]);
      expect((await lease.info("lost"))?.token).toBe(stolen!.token);
      await taker.release(stolen!);
      await lease.close();
      if (taker !== lease) await taker.close();
    });
  });
}

describe("withFencing", () => {
  it("fences any checkpoint saver: a put with a stale token is refused, a current one passes", async () => {
    const lease = memoryLease({ ttlMs: 1000 });
    const saver = withFencing(new MemorySaver(), lease);
    expect(saver).toBeInstanceOf(MemorySaver);
    expect(() => withFencing(saver, lease)).toThrow(/already fenced/);
    const graph = buildGraph(saver);
    const guarded = withThreadLease(graph, lease);
    expect((await guarded.invoke({ n: 2 }, cfg("f"))).steps).toEqual(["n0", "n1"]);
    const old = (await lease.info("f"))!.token;
    const h = await lease.acquire("f");
    await expect(
      graph.invoke({ n: 3 }, { configurable: { thread_id: "f", __graphkeep_fence: old } }),
    ).rejects.toMatchObject({ code: "LEASE_LOST" });
    await expect(saver.deleteThread("f")).rejects.toMatchObject({ code: "THREAD_BUSY" });
    await lease.release(h);
    await saver.deleteThread("f");
    expect((await graph.getState(cfg("f"))).values).toEqual({});
  });
});
