import { createCluster } from "@redis/client";
import { CLUSTER_URL, clusterSkip } from "../../../test/helpers/cluster.js";
import { isThreadBusyError, type LeaseStore, redisLease } from "../src/index.js";
import { sleep, suffix } from "./stores.js";

// redisLease on a Redis Cluster (three masters locally, `.ci/start-redis-cluster`): a thread's keys share its
// hash tag, so each script runs in one slot; threads spread over every master.

const first = `redis://${CLUSTER_URL.replace(/^rediss?\+cluster:\/\//, "").split(",")[0]}`;
const skip = await clusterSkip();

describe.skipIf(!!skip)("redisLease on a Redis Cluster", () => {
  const prefix = `gklease:${suffix()}`;
  const threads = Array.from({ length: 24 }, (_, i) => `thread-${i}`);
  let cluster: ReturnType<typeof createCluster>;
  let a: LeaseStore;
  let b: LeaseStore;
  beforeAll(async () => {
    cluster = createCluster({ rootNodes: [{ url: first }] });
    cluster.on("error", () => undefined);
    await cluster.connect();
    a = redisLease({ url: first, cluster: true, keyPrefix: prefix, ttlMs: 500, heartbeatMs: 100, owner: "a" });
    b = redisLease({
      client: cluster,
      keyPrefix: prefix,
      ttlMs: 500,
      heartbeatMs: 100,
      owner: "b",
    });
  });
  afterAll(async () => {
    for (const t of threads) for (const k of ["lease", "fence", "run"]) await cluster.del(`${prefix}:{${t}}:${k}`);
    await cluster.del(`${prefix}:runs`);
    await a.close();
    await b.close(); // a client passed in is not closed by the store
    await cluster.close();
  });

  it("gives each thread to one holder, hands out growing tokens, and fails over stalled runs across slots", async () => {
    const held = await Promise.all(threads.map((t) => a.acquire(t)));
    const busy = await Promise.all(threads.map((t) => b.acquire(t).catch((e: unknown) => e)));
    expect(busy.every((e) => isThreadBusyError(e) && e.holder === "a")).toBe(true);
    // half end normally, half "crash" and expire
    await Promise.all(held.slice(0, 12).map((h) => a.release(h)));
    await sleep(600);
    const stalled = await b.stalled(100);
    expect(stalled.sort()).toEqual(threads.slice(12).sort());
    const taken = await Promise.all(stalled.map((t) => b.takeOver(t)));
    for (const [i, h] of taken.entries()) {
      const before = held.find((x) => x.threadId === stalled[i])!;
      expect(h!.token).toBeGreaterThan(before.token);
      expect(h!.attempts).toBe(1);
    }
    // the stale holder's token is refused by the fencing check
    await expect(
      a.assertCurrent(stalled[0]!, { configurable: { __graphkeep_fence: held[12]!.token } }, "put"),
    ).rejects.toMatchObject({ code: "LEASE_LOST" });
    await Promise.all(taken.map((h) => b.release(h!)));
    expect(await a.stalled()).toEqual([]);
  });
});
