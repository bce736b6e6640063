import { createHash } from "node:crypto";
import {
  CheckpointCorruptError,
  type FencingGuard,
  InvalidArgumentError,
  isStoreUnavailableError,
  KeyvSaver,
  StoreUnavailableError,
} from "@graphkeep/keyv-saver";
import KeyvRedis from "@keyv/redis";
import type { RunnableConfig } from "@langchain/core/runnables";
import { Annotation, DeltaChannel, END, START, StateGraph } from "@langchain/langgraph";
import { type Checkpoint, emptyCheckpoint, uuid6 } from "@langchain/langgraph-checkpoint";
import Keyv from "keyv";
import { backends, freshNamespace } from "../../../test/helpers/backends.js";
import { TcpProxy } from "../../../test/helpers/proxy.js";
import { keys } from "../src/keys.js";

// Defects an audit of the saver reproduced (issue 15, items 1-7, 10): each test fails on 62de4d4 (4 and 7 on be32ba6).

async function put(saver: KeyvSaver, threadId: string, values: Record<string, unknown>, parent?: string) {
  const versions = Object.fromEntries(Object.keys(values).map((k) => [k, saver.getNextVersion(undefined)]));
  const cp: Checkpoint = { ...emptyCheckpoint(), id: uuid6(-1), channel_values: values, channel_versions: versions };
  await saver.put(
    { configurable: { thread_id: threadId, checkpoint_ns: "", checkpoint_id: parent } },
    cp,
    { source: "loop", step: 0, parents: {} },
    versions,
  );
  return cp.id;
}

/** A graph whose `items` channel is a LangGraph DeltaChannel: its value is rebuilt from ancestors' writes. */
function deltaGraph(saver: KeyvSaver) {
  const State = Annotation.Root({
    items: new DeltaChannel<string[], string[]>((s, ws) => [...s, ...ws.flat()], { snapshotFrequency: 100 }),
    n: Annotation<number>({ reducer: (_a: number, b: number) => b, default: () => 0 }),
  });
  return new StateGraph(State)
    .addNode("step", (s) => ({ items: [`i${s.n}`], n: s.n + 1 }))
    .addEdge(START, "step")
    .addConditionalEdges("step", (s) => (s.n < 5 ? "step" : END))
    .compile({ checkpointer: saver });
}

const latest = (saver: KeyvSaver, threadId: string) =>
  saver.getTuple({ configurable: { thread_id: threadId, checkpoint_ns: "" } });

function within<T>(ms: number, p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
    }),
  ]);
}

for (const backend of backends) {
  describe.skipIf(!!backend.skip)(`thread ids on ${backend.name}`, () => {
    let saver: KeyvSaver;
    beforeEach(() => {
      saver = new KeyvSaver(backend.keyv());
    });
    afterEach(async () => {
      await saver.keyv.clear().catch(() => undefined);
      await saver.close();
    });

    it("a plain id shaped like a hashed tag never reads or deletes the long-id thread it once collided with", async () => {
      const victim = `tenant-alice/${"conversation-".repeat(8)}`; // longer than 64 characters once encoded
      const lookalike = `h-${createHash("sha256").update(victim).digest("base64url").slice(0, 32)}`;
      const id = await put(saver, victim, { ssn: "078-05-1120" });
      expect(await latest(saver, lookalike)).toBeUndefined();
      await saver.deleteThread(lookalike);
      expect((await latest(saver, victim))?.checkpoint.id).toBe(id);
      const own = await put(saver, lookalike, { ssn: "mallory's" });
      expect((await latest(saver, lookalike))?.checkpoint.id).toBe(own);
      expect((await latest(saver, victim))?.checkpoint.channel_values).toEqual({ ssn: "078-05-1120" });
    });

    it("thread ids that differ only in lone surrogates are different threads", async () => {
      const a = "chat-\uD800";
      const b = "chat-\uDBFF";
      const ia = await put(saver, a, { who: "a" });
      const ib = await put(saver, b, { who: "b" });
      expect((await latest(saver, a))?.checkpoint).toMatchObject({ id: ia, channel_values: { who: "a" } });
      expect((await latest(saver, b))?.checkpoint).toMatchObject({ id: ib, channel_values: { who: "b" } });
    });

    it("pruning all but the latest checkpoint keeps the state of a DeltaChannel (issue 15.4)", async () => {
      const graph = deltaGraph(saver);
      const config = { configurable: { thread_id: "delta" } };
      await graph.invoke({ n: 0 }, config);
      const before = (await graph.getState(config)).values;
      expect(before.items).toEqual(["i0", "i1", "i2", "i3", "i4"]);
      const infos = await saver.checkpointInfo("delta");
      const newest = infos[infos.length - 1]!.checkpointId;
      const result = await saver.pruneCheckpoints(
        "delta",
        infos.filter((i) => i.checkpointId !== newest).map((i) => i.checkpointId),
      );
      expect(result.checkpoints).toBe(infos.length - 1);
      expect((await graph.getState(config)).values).toEqual(before);
      // the run goes on from the pruned thread as if nothing had been deleted
      await graph.invoke({ n: 0 }, config);
      expect((await graph.getState(config)).values.items).toEqual([...before.items, "i0", "i1", "i2", "i3", "i4"]);
      // and a second prune (the first kept checkpoint goes too) still keeps it
      const again = await saver.checkpointInfo("delta");
      const last = again[again.length - 1]!.checkpointId;
      await saver.pruneCheckpoints(
        "delta",
        again.filter((i) => i.checkpointId !== last).map((i) => i.checkpointId),
      );
      expect((await graph.getState(config)).values.items).toHaveLength(10);
    });

    it("a channel value deleted behind the saver's back (evicted) is CheckpointCorruptError, not an empty channel (issue 15.7)", async () => {
      await put(saver, "evicted", { profile: { name: "alice" }, plan: ["a", "b"] });
      // a new saver: nothing served from this process's memory
      const reader = new KeyvSaver(saver.keyv);
      const tuple = await latest(reader, "evicted");
      expect(tuple?.checkpoint.channel_values).toEqual({ profile: { name: "alice" }, plan: ["a", "b"] });
      const version = tuple!.checkpoint.channel_versions.profile!;
      await saver.keyv.delete(keys.value("evicted", "", "profile", version));
      const fresh = new KeyvSaver(saver.keyv);
      const err = await latest(fresh, "evicted").then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(CheckpointCorruptError);
      expect(String((err as Error).message)).toMatch(/channel "profile".*missing/);
    });

    it("first puts of threads named like registry shards all finish (no lock cycle)", async () => {
      const ids = ["threads:7", "threads:5", "threads:e", "threads:6", "threads:a", "threads:8"];
      await within(10_000, Promise.all(ids.map((t) => put(saver, t, { t }))), "six concurrent first puts");
      await within(10_000, Promise.all(ids.map((t) => put(saver, `${t}-later`, { t }))), "later first puts");
      for (const t of ids) expect((await latest(saver, t))?.checkpoint.channel_values).toEqual({ t });
    });
  });
}

describe("options and arguments", () => {
  it("refuses a snapshotEvery so large that a read would rebuild thousands of deltas", () => {
    expect(() => new KeyvSaver(new Keyv(), { delta: { snapshotEvery: 6000 } })).toThrow(InvalidArgumentError);
    expect(() => new KeyvSaver(new Keyv(), { delta: { snapshotEvery: 1024 } })).not.toThrow();
  });

  it("reads a 1,024-link delta chain", async () => {
    const saver = new KeyvSaver(new Keyv(), { delta: { snapshotEvery: 1024 } });
    let parent: string | undefined;
    let version: number | undefined;
    const messages: string[] = [];
    for (let i = 0; i < 1024; i++) {
      messages.push(`message ${i}`);
      version = saver.getNextVersion(version);
      const cp: Checkpoint = {
        ...emptyCheckpoint(),
        id: uuid6(-1),
        channel_values: { messages: [...messages] },
        channel_versions: { messages: version },
      };
      await saver.put({ configurable: { thread_id: "long", checkpoint_id: parent } }, cp, {} as never, {
        messages: version,
      });
      parent = cp.id;
    }
    // a second saver on the same store has no cached values: it rebuilds the whole chain
    const reader = new KeyvSaver(saver.keyv, { delta: { snapshotEvery: 1024 } });
    expect((await latest(reader, "long"))?.checkpoint.channel_values.messages).toHaveLength(1024);
  });

  it("list refuses a non-integer limit with InvalidArgumentError, also on a thread of more than 64 checkpoints", async () => {
    const saver = new KeyvSaver(new Keyv());
    let parent: string | undefined;
    for (let i = 0; i < 70; i++) parent = await put(saver, "t", { i }, parent);
    const listed = async (limit: number) => {
      const out: unknown[] = [];
      for await (const t of saver.list({ configurable: { thread_id: "t" } }, { limit })) out.push(t);
      return out;
    };
    await expect(listed(2.5)).rejects.toThrow(InvalidArgumentError);
    expect(await listed(3)).toHaveLength(3);
  });
});

describe("putWrites and fencing", () => {
  it("checks every caller's own fence: a stale run's writes are refused while the current run's are stored", async () => {
    const refuseStale: FencingGuard = {
      async assertCurrent(_thread, config) {
        if (config?.configurable?.__graphkeep_fence === "stale") throw new Error("lease lost");
      },
    };
    const saver = new KeyvSaver(new Keyv(), { fencing: refuseStale });
    const id = await put(saver, "t", { a: 1 });
    const config = (fence: string): RunnableConfig => ({
      configurable: { thread_id: "t", checkpoint_ns: "", checkpoint_id: id, __graphkeep_fence: fence },
    });
    const [current, stale] = await Promise.allSettled([
      saver.putWrites(config("current"), [["a", "from the current run"]], "task-current"),
      saver.putWrites(config("stale"), [["a", "from a stale run"]], "task-stale"),
    ]);
    expect(current.status).toBe("fulfilled");
    expect(stale.status).toBe("rejected");
    const writes = (await latest(saver, "t"))?.pendingWrites ?? [];
    expect(writes.map((w) => w[2])).toEqual(["from the current run"]);
  });
});

const redis = backends.find((b) => b.name === "redis")!;

describe.skipIf(!!redis.skip)("an adapter without getMany", () => {
  it("reports a failed read as StoreUnavailableError, never as 'no checkpoint'", async () => {
    const u = new URL(redis.url);
    const proxy = new TcpProxy(u.hostname, Number(u.port));
    await proxy.start();
    const real = new KeyvRedis(proxy.url(redis.url), { throwOnErrors: true });
    // a community-style adapter: get/set/delete/clear only (keyv then reads many keys with allSettled over get)
    const adapter = {
      opts: {},
      namespace: undefined as string | undefined,
      get: (k: string) => real.get(k),
      set: (k: string, v: string) => real.set(k, v),
      delete: (k: string) => real.delete(k),
      clear: () => real.clear(),
      on: () => adapter,
      disconnect: () => real.disconnect(),
    };
    const saver = new KeyvSaver(new Keyv({ store: adapter as never, namespace: freshNamespace() }), {
      operationTimeoutMs: 1500,
    });
    try {
      const id = await put(saver, "t", { a: 1 });
      await proxy.stop();
      // a read of several keys (index, record, writes): keyv's fallback would turn each failed get into undefined
      const err = await saver.getTuple({ configurable: { thread_id: "t", checkpoint_ns: "", checkpoint_id: id } }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isStoreUnavailableError(err)).toBe(true);
      expect(err).toBeInstanceOf(StoreUnavailableError);
    } finally {
      await proxy.start();
      await saver.close().catch(() => undefined);
      await proxy.stop();
    }
  });
});
