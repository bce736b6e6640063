import { randomUUID } from "node:crypto";
import { InvalidArgumentError, KeyvSaver, StoreUnavailableError } from "@graphkeep/keyv-saver";
import type KeyvRedis from "@keyv/redis";
import { Command, type StateSnapshot } from "@langchain/langgraph";
import { deltaChannelHistoryTests, validate } from "@langchain/langgraph-checkpoint-validation";
import { CLUSTER_URL, clusterSkip } from "../../../test/helpers/cluster.js";
import { approvalGraph, type Calls, interruptsOf, linearGraph } from "../../../test/helpers/graphs.js";
import { parseClusterUrl } from "../src/from-url.js";

// KeyvSaver on a Redis Cluster (three masters locally, `.ci/start-redis-cluster`): LangGraph's conformance suite,
// real graphs, and the key layout that keeps each thread in one hash slot.

const skip = await clusterSkip();
const ns = () => `c${randomUUID().replaceAll("-", "").slice(0, 12)}`;
const open = (namespace = ns()) => KeyvSaver.fromUrl(CLUSTER_URL, { namespace });

interface NodeClient {
  sendCommand(args: string[]): Promise<unknown>;
  scan(cursor: string, o: { MATCH: string; COUNT: number }): Promise<{ cursor: string | number; keys: string[] }>;
}
interface ClusterClient {
  slots: Array<{ master: { address: string } }>;
  mGet(keys: string[]): Promise<unknown>;
}
const adapterOf = (saver: KeyvSaver) => saver.keyv.store as KeyvRedis<unknown>;

async function slotOf(saver: KeyvSaver, key: string): Promise<number> {
  const [node] = (await adapterOf(saver).getMasterNodes()) as unknown as NodeClient[];
  return Number(await node!.sendCommand(["CLUSTER", "KEYSLOT", key]));
}

/** Every key of the saver's namespace, read by SCAN on each master. */
async function allKeys(saver: KeyvSaver): Promise<string[]> {
  const out: string[] = [];
  for (const node of (await adapterOf(saver).getMasterNodes()) as unknown as NodeClient[]) {
    let cursor = "0";
    do {
      const r = await node.scan(cursor, { MATCH: `${saver.keyv.namespace}::*`, COUNT: 500 });
      cursor = String(r.cursor);
      out.push(...r.keys);
    } while (cursor !== "0");
  }
  return out;
}

const threadIds = async (saver: KeyvSaver) => {
  const out: string[] = [];
  for await (const t of saver.listThreads()) out.push(t.threadId);
  return out.sort();
};
const thread = (id = `thread-${randomUUID()}`) => ({ configurable: { thread_id: id } });

if (skip) {
  describe.skip(`KeyvSaver on a Redis Cluster: ${skip}`, () => {
    it("is skipped", () => {});
  });
} else {
  // LangGraph's official conformance suite; every created saver opens its own cluster connection and namespace.
  const initializer = {
    checkpointerName: "KeyvSaver(redis-cluster)",
    createCheckpointer: () => open(),
    destroyCheckpointer: async (saver: KeyvSaver) => {
      await saver.keyv.clear().catch(() => undefined);
      await saver.close();
    },
  };
  validate(initializer);
  deltaChannelHistoryTests(initializer);

  describe("KeyvSaver on a Redis Cluster: key layout", () => {
    it("keeps every key of a thread, subgraph checkpoints included, in the thread's one hash slot", async () => {
      const saver = await open();
      try {
        const threads = [thread(), thread(), thread(), thread()];
        for (const config of threads) {
          const graph = approvalGraph(saver, {});
          await graph.invoke({ steps: [] }, config);
          await graph.invoke(new Command({ resume: "yes" }), config);
        }
        const byTag = new Map<string, Set<number>>();
        const keys = (await allKeys(saver)).filter((k) => k.includes("{"));
        for (const k of keys) {
          const tag = /\{[^}]+\}/.exec(k)![0];
          const slots = byTag.get(tag) ?? new Set<number>();
          slots.add(await slotOf(saver, k));
          byTag.set(tag, slots);
        }
        expect(byTag.size).toBe(threads.length);
        for (const slots of byTag.values()) expect(slots.size).toBe(1);
        // the checkpoints of the subgraph's namespace ("sub:<task id>", encoded) are among them
        const subNs = `~${Buffer.from("sub:").toString("base64url").slice(0, 4)}`;
        expect(keys.some((k) => k.includes(`:c:${subNs}`))).toBe(true);
        const threadSlots = new Set([...byTag.values()].map((s) => [...s][0]));
        expect(threadSlots.size).toBeGreaterThan(1);
      } finally {
        await saver.keyv.clear();
        await saver.close();
      }
    });

    it("spreads the 16 registry shards over 16 slots on every master, so the registry is no single hot key", async () => {
      const saver = await open();
      try {
        const client = (await adapterOf(saver).getClient()) as unknown as ClusterClient;
        const shardSlots: number[] = [];
        for (let i = 0; i < 16; i++)
          shardSlots.push(await slotOf(saver, `${saver.keyv.namespace}::threads:${i.toString(16)}`));
        expect(new Set(shardSlots).size).toBe(16);
        const masters = new Set(shardSlots.map((s) => client.slots[s]!.master.address));
        expect(masters.size).toBe(3);
        // 40 threads land in several shards, and listing all of them reads across slots
        const graph = linearGraph(saver, {});
        const ids: string[] = [];
        for (let i = 0; i < 40; i++) {
          const config = thread();
          ids.push(config.configurable.thread_id);
          await graph.invoke({ steps: [] }, config);
        }
        const shardKeys = (await allKeys(saver)).filter((k) => k.includes("::threads:"));
        expect(shardKeys.length).toBeGreaterThan(8);
        const listed = new Set<string>();
        for await (const t of saver.list({})) listed.add(t.config.configurable?.thread_id as string);
        expect([...listed].sort()).toEqual(ids.sort());
        expect(await threadIds(saver)).toEqual(ids.sort());
      } finally {
        await saver.keyv.clear();
        await saver.close();
      }
    });

    it("two workers creating 200 threads at once on the same shards lose no thread from listThreads", async () => {
      const namespace = ns();
      const [a, b] = [await open(namespace), await open(namespace)];
      const ids = Array.from({ length: 200 }, (_, i) => `race-${i}`);
      // both savers run the same graph; each has its own connection and no lock shared with the other
      await Promise.all(ids.map((id, i) => linearGraph(i % 2 ? a! : b!, {}).invoke({ steps: [] }, thread(id))));
      await Promise.all([a!.close(), b!.close()]);
      const fresh = await open(namespace);
      try {
        expect(await threadIds(fresh)).toEqual([...ids].sort());
      } finally {
        await fresh.keyv.clear();
        await fresh.close();
      }
    });

    it("reads keys of many threads in one getMany although the server refuses such an MGET with CROSSSLOT", async () => {
      const saver = await open();
      try {
        const a = `${saver.keyv.namespace}::{x1}:idx`;
        const b = `${saver.keyv.namespace}::{x2}:idx`;
        expect(await slotOf(saver, a)).not.toBe(await slotOf(saver, b));
        const client = (await adapterOf(saver).getClient()) as unknown as ClusterClient;
        await expect(client.mGet([a, b])).rejects.toThrow(/CROSSSLOT/);
        await saver.keyv.setMany([
          { key: "{x1}:idx", value: 1 },
          { key: "{x2}:idx", value: 2 },
        ]);
        expect(await saver.keyv.getMany(["{x1}:idx", "{x2}:idx"])).toEqual([1, 2]);
      } finally {
        await saver.keyv.clear();
        await saver.close();
      }
    });
  });

  describe("KeyvSaver on a Redis Cluster: graphs", () => {
    let saver: KeyvSaver;
    beforeEach(async () => {
      saver = await open();
    });
    afterEach(async () => {
      await saver.keyv.clear();
      await saver.close();
    });

    it("pauses a subgraph at interrupt(), and another process's saver resumes it with Command({ resume })", async () => {
      const calls: Calls = {};
      const config = thread();
      const paused = await approvalGraph(saver, calls).invoke({ steps: [] }, config);
      expect(interruptsOf(paused).map((i) => i.value)).toEqual(["approve?"]);
      const state = await approvalGraph(saver, calls).getState(config, { subgraphs: true });
      expect(state.next).toEqual(["sub"]);
      const sub = state.tasks[0]?.state as StateSnapshot | undefined;
      expect(sub?.config.configurable?.checkpoint_ns).toMatch(/^sub:/);
      expect(sub?.values.log).toEqual(["s1"]);

      // a second worker: its own cluster connection, same namespace
      const other = await open(saver.keyv.namespace);
      try {
        const out = await approvalGraph(other, calls).invoke(new Command({ resume: "yes" }), config);
        expect(out.steps).toEqual(["prep", "finish"]);
        expect(out.log).toEqual(["s1", "approved:yes", "s2"]);
      } finally {
        await other.close();
      }
      expect(calls).toEqual({ prep: 1, s1: 1, approve: 2, s2: 1, finish: 1 });
      expect((await approvalGraph(saver, calls).getState(config)).next).toEqual([]);
    });

    it("time travel: replays from an earlier checkpoint and forks with updateState, keeping the old branch", async () => {
      const calls: Calls = {};
      const graph = linearGraph(saver, calls);
      const config = thread();
      expect((await graph.invoke({ steps: ["in"] }, config)).steps).toEqual(["in", "a", "b", "c"]);
      const history: StateSnapshot[] = [];
      for await (const s of graph.getStateHistory(config)) history.push(s);
      expect(history).toHaveLength(5);
      const afterA = history.find((s) => s.next[0] === "b")!;
      expect(afterA.values.steps).toEqual(["in", "a"]);

      const replay = await graph.invoke(null, afterA.config);
      expect(replay.steps).toEqual(["in", "a", "b", "c"]);
      expect(calls).toEqual({ a: 1, b: 2, c: 2 });

      const fork = await graph.updateState(afterA.config, { steps: ["X"] });
      const forked = await graph.invoke(null, fork);
      expect(forked.steps).toEqual(["in", "a", "X", "b", "c"]);
      // the original checkpoint is unchanged and still readable
      expect((await graph.getState(afterA.config)).values.steps).toEqual(["in", "a"]);
      // one history holds the original run, the replay and the fork
      const finals: string[] = [];
      for await (const s of graph.getStateHistory(config)) if (s.next.length === 0) finals.push(s.values.steps.join());
      expect(finals.sort()).toEqual(["in,a,X,b,c", "in,a,b,c", "in,a,b,c"]);
    });

    it("deleteThread removes every key of the thread from its slot and leaves the other threads", async () => {
      const graph = linearGraph(saver, {});
      const keep = thread();
      const gone = thread();
      await graph.invoke({ steps: [] }, keep);
      await graph.invoke({ steps: [] }, gone);
      await saver.deleteThread(gone.configurable.thread_id);
      const keys = await allKeys(saver);
      expect(keys.some((k) => k.includes(gone.configurable.thread_id))).toBe(false);
      expect(keys.some((k) => k.includes(keep.configurable.thread_id))).toBe(true);
      expect((await graph.getState(keep)).values.steps).toEqual(["a", "b", "c"]);
      expect(await threadIds(saver)).toEqual([keep.configurable.thread_id]);
    });
  });
}

describe("KeyvSaver.fromUrl cluster form", () => {
  it("parses a host list with credentials, default ports and TLS", () => {
    expect(parseClusterUrl("redis+cluster://u:p%40ss@a:7000,b:7001,c")).toEqual({
      rootNodes: [{ url: "redis://a:7000" }, { url: "redis://b:7001" }, { url: "redis://c:6379" }],
      defaults: { username: "u", password: "p@ss" },
    });
    expect(parseClusterUrl("rediss+cluster://:secret@h:7000/0")).toEqual({
      rootNodes: [{ url: "redis://h:7000" }],
      defaults: { password: "secret", socket: { tls: true } },
    });
  });

  it("rejects a malformed host list or a database other than 0 with InvalidArgumentError", async () => {
    await expect(KeyvSaver.fromUrl("redis+cluster://a:7000,,b:7001")).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(KeyvSaver.fromUrl("redis+cluster://a:7000/3")).rejects.toThrow(/only database 0/);
    await expect(KeyvSaver.fromUrl("redis+cluster:///")).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it("fails with StoreUnavailableError within operationTimeout when no node answers", async () => {
    const started = Date.now();
    const err = await KeyvSaver.fromUrl("redis+cluster://127.0.0.1:1", { operationTimeoutMs: 1500 }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect((err as Error).message).toMatch(/Redis Cluster/);
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
