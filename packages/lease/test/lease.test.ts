import { InvalidArgumentError, isStoreUnavailableError } from "@graphkeep/core";
import { TcpProxy } from "../../../test/helpers/proxy.js";
import {
  isLeaseLostError,
  isThreadBusyError,
  type LeaseStore,
  memoryLease,
  postgresLease,
  redisLease,
  StoreUnavailableError,
  ThreadBusyError,
} from "../src/index.js";
import { dropRedisPrefix, leaseBackends, skipOf, sleep, suffix } from "./stores.js";

for (const backend of leaseBackends) {
  describe.skipIf(!!backend.skip)(`${backend.name} lease store`, () => {
    const space = suffix();
    let lease: LeaseStore;
    let other: LeaseStore;
    beforeAll(() => {
      // a 500 ms lease heartbeated every 100 ms leaves operations (500 - 100) / 2 = 200 ms (the default timeout)
      lease = backend.make(space, { ttlMs: 500, heartbeatMs: 100, owner: "worker-a" });
      // memory leases are per process: a second holder is a second owner on the same store
      other =
        backend.name === "memory" ? lease : backend.make(space, { ttlMs: 500, heartbeatMs: 100, owner: "worker-b" });
    });
    afterAll(async () => {
      await lease.close();
      if (other !== lease) await other.close();
      await backend.cleanup(space);
    });

    it("gives a thread to one holder at a time and names the holder to the others", async () => {
      const h = await lease.acquire("t1");
      expect(h).toMatchObject({ threadId: "t1", owner: "worker-a", attempts: 0 });
      const busy = await other.acquire("t1").catch((e: unknown) => e);
      expect(isThreadBusyError(busy)).toBe(true);
      expect(busy).toBeInstanceOf(ThreadBusyError);
      expect(busy).toMatchObject({ code: "THREAD_BUSY", threadId: "t1", holder: "worker-a" });
      expect((busy as ThreadBusyError).expiresAt!.getTime()).toBeGreaterThan(Date.now() - 50);
      expect(await lease.release(h)).toBe(true);
      const again = await other.acquire("t1");
      expect(again.token).toBeGreaterThan(h.token);
      await other.release(again);
    });

    it("hands out a strictly increasing fencing token on every acquisition", async () => {
      const tokens: number[] = [];
      for (let i = 0; i < 5; i++) {
        const h = await (i % 2 ? other : lease).acquire("tokens");
        tokens.push(h.token);
        await (i % 2 ? other : lease).release(h);
      }
      expect(tokens).toEqual([...tokens].sort((a, b) => a - b));
      expect(new Set(tokens).size).toBe(5);
    });

    it("keeps a heartbeated lease past its TTL and loses an expired one to the next holder", async () => {
      const h = await lease.acquire("beat");
      for (let i = 0; i < 7; i++) {
        await sleep(100);
        await lease.extend(h);
      }
      // 700 ms after acquisition, still held thanks to the heartbeats
      expect(isThreadBusyError(await other.acquire("beat").catch((e: unknown) => e))).toBe(true);
      await sleep(550);
      const next = await other.acquire("beat");
      expect(next.token).toBeGreaterThan(h.token);
      const lost = await lease.extend(h).catch((e: unknown) => e);
      expect(isLeaseLostError(lost)).toBe(true);
      expect(lost).toMatchObject({ code: "LEASE_LOST", threadId: "beat", token: h.token });
      // the stale holder's release changes nothing
      expect(await lease.release(h)).toBe(false);
      expect((await other.info("beat"))?.live).toBe(true);
      await other.release(next);
    });

    it("lists a run whose lease expired while running as stalled, and lets exactly one worker take it over", async () => {
      const h = await lease.acquire("crashed");
      const done = await lease.acquire("finished");
      await lease.release(done);
      expect(await lease.stalled()).not.toContain("crashed");
      await sleep(550);
      const stalled = await other.stalled();
      expect(stalled).toContain("crashed");
      expect(stalled).not.toContain("finished");
      const [a, b] = await Promise.all([other.takeOver("crashed"), lease.takeOver("crashed")]);
      const winners = [a, b].filter((x) => x !== undefined);
      expect(winners).toHaveLength(1);
      expect(winners[0]!.token).toBeGreaterThan(h.token);
      expect(winners[0]!.attempts).toBe(1);
      expect(await lease.takeOver("finished")).toBeUndefined();
      expect(await lease.stalled()).not.toContain("crashed");
      // a retry release keeps the run eligible after the delay, counting attempts
      const w = winners[0]!;
      await (w.owner === lease.owner ? lease : other).release(w, { state: "retry", retryInMs: 50 });
      await sleep(120);
      expect(await lease.stalled()).toContain("crashed");
      const second = await lease.takeOver("crashed");
      expect(second?.attempts).toBe(2);
      await lease.release(second!, { state: "failed" });
      expect(await lease.info("crashed")).toMatchObject({ state: "failed", live: false, attempts: 2 });
      expect(await lease.stalled()).not.toContain("crashed");
    });

    it("refuses writes carrying a stale fencing token and a thread deletion under a live run", async () => {
      const h = await lease.acquire("fence");
      const config = (token: number) => ({ configurable: { thread_id: "fence", __graphkeep_fence: token } });
      await expect(lease.assertCurrent("fence", config(h.token), "put")).resolves.toBeUndefined();
      await expect(lease.assertCurrent("fence", config(h.token - 1), "put")).rejects.toMatchObject({
        code: "LEASE_LOST",
      });
      // unfenced writes (no token) pass, but deleting a thread a run holds does not
      await expect(
        lease.assertCurrent("fence", { configurable: { thread_id: "fence" } }, "putWrites"),
      ).resolves.toBeUndefined();
      await expect(lease.assertCurrent("fence", undefined, "deleteThread")).rejects.toMatchObject({
        code: "THREAD_BUSY",
      });
      await lease.release(h);
      await expect(lease.assertCurrent("fence", config(h.token), "put")).rejects.toMatchObject({ code: "LEASE_LOST" });
      await expect(lease.assertCurrent("fence", undefined, "deleteThread")).resolves.toBeUndefined();
    });
  });
}

describe("lease store options", () => {
  it("rejects a TTL not longer than the heartbeat, and other bad options, with InvalidArgumentError", () => {
    expect(() => memoryLease({ ttlMs: 1000, heartbeatMs: 1000 })).toThrow(InvalidArgumentError);
    expect(() => memoryLease({ ttlMs: 1000, heartbeatMs: 2000 })).toThrow(
      /heartbeatMs \(2000\) must be less than ttlMs/,
    );
    expect(() => memoryLease({ ttlMs: -5 })).toThrow(InvalidArgumentError);
    expect(() => memoryLease({ owner: "a|b" })).toThrow(InvalidArgumentError);
    expect(() => redisLease({} as never)).toThrow(/pass \{ url/);
    expect(() => redisLease({ url: "http://x" })).toThrow(InvalidArgumentError);
    expect(() => redisLease({ url: "redis://x", keyPrefix: "a{b}" })).toThrow(/keyPrefix/);
    expect(() => postgresLease({} as never)).toThrow(/pass \{ url/);
    expect(() => postgresLease({ url: "postgres://x/y", table: "x; drop table y" })).toThrow(/table/);
    expect(memoryLease({ ttlMs: 900 }).heartbeatMs).toBe(300);
  });

  it("rejects a missing thread id", async () => {
    await expect(memoryLease().acquire("")).rejects.toThrow(InvalidArgumentError);
  });

  it("fails with StoreUnavailableError, not a hang, when Redis or PostgreSQL is unreachable", async () => {
    const r = redisLease({ url: "redis://127.0.0.1:1", operationTimeoutMs: 1000, connectTimeoutMs: 1000 });
    const p = postgresLease({
      url: "postgres://postgres@127.0.0.1:1/test",
      operationTimeoutMs: 1000,
      connectTimeoutMs: 1000,
    });
    const started = Date.now();
    const [re, pe] = await Promise.all([
      r.acquire("t").catch((e: unknown) => e),
      p.acquire("t").catch((e: unknown) => e),
    ]);
    expect(re).toBeInstanceOf(StoreUnavailableError);
    expect(isStoreUnavailableError(pe)).toBe(true);
    expect((re as StoreUnavailableError).operation).toBe("acquire");
    expect(Date.now() - started).toBeLessThan(5000);
    await r.close();
    await p.close();
  });

  it.skipIf(!!skipOf("redis"))(
    "an acquire that times out but lands late on the store hands the lease back (no ghost run)",
    async () => {
      const target = new URL(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
      const proxy = new TcpProxy(target.hostname, Number(target.port || 6379));
      await proxy.start();
      const prefix = `gkghost:${suffix()}`;
      const lease = redisLease({
        url: `redis://127.0.0.1:${proxy.port}`,
        keyPrefix: prefix,
        ttlMs: 10_000,
        heartbeatMs: 1000,
        operationTimeoutMs: 300,
      });
      try {
        expect(await lease.info("warm-up")).toBeUndefined(); // connected
        proxy.delayMs = 600;
        const late = await lease.acquire("g").catch((e: unknown) => e);
        expect(isStoreUnavailableError(late)).toBe(true);
        await sleep(1500); // the acquire lands, then the hand-back
        proxy.delayMs = 0;
        const again = await lease.acquire("g"); // not ThreadBusyError for the next 10 s
        await lease.release(again);
      } finally {
        await lease.close();
        await proxy.stop();
        await dropRedisPrefix(prefix);
      }
    },
  );
});
