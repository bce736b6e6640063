// Issue 15 (items 8–11): a fencing refusal is a lost lease, a late acquire leaves no ghost, every putWrites caller
// is fenced, and the watchdog neither crashes on a throwing resumeConfig nor keeps a timeout its TTL cannot absorb.
import { KeyvSaver } from "@graphkeep/keyv-saver";
import { FailoverWatchdog, isLeaseLostError, type LeaseStore, withThreadLease } from "../src/index.js";
import { buildGraph } from "./fixtures/graph.js";
import { leaseBackends, suffix } from "./stores.js";

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
