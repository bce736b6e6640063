import {
  CheckpointCorruptError,
  InvalidArgumentError,
  InvalidConfigError,
  isCheckpointCorruptError,
  KeyvSaver,
  ThreadExistsError,
} from "@graphkeep/keyv-saver";
import { type Checkpoint, emptyCheckpoint, uuid6 } from "@langchain/langgraph-checkpoint";
import { backends } from "../../../test/helpers/backends.js";

const META = { source: "loop" as const, step: 0, parents: {} };

function checkpoint(values: Record<string, unknown>, versions: Record<string, number>): Checkpoint {
  return { ...emptyCheckpoint(), id: uuid6(-1), channel_values: values, channel_versions: versions };
}

/** Writes `n` checkpoints in a chain on `thread`; each adds one message to `messages`. Returns their ids. */
async function chain(saver: KeyvSaver, thread: string, n: number, ns = ""): Promise<string[]> {
  const ids: string[] = [];
  let parent: string | undefined;
  const messages: string[] = [];
  let version: number | undefined;
  for (let i = 0; i < n; i++) {
    messages.push(`m${i}`);
    version = saver.getNextVersion(version);
    const cp = checkpoint({ messages: [...messages] }, { messages: version });
    await saver.put(
      { configurable: { thread_id: thread, checkpoint_ns: ns, checkpoint_id: parent } },
      cp,
      { source: "loop", step: i, parents: {} },
      { messages: version },
    );
    ids.push(cp.id);
    parent = cp.id;
  }
  return ids;
}

async function all<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

for (const backend of backends) {
  describe.skipIf(!!backend.skip)(`KeyvSaver capabilities on ${backend.name}`, () => {
    let saver: KeyvSaver;
    beforeEach(() => {
      saver = new KeyvSaver(backend.keyv());
    });
    afterEach(async () => {
      await saver.keyv.clear().catch(() => undefined);
      await saver.close();
    });

    it("lists every thread with its creation and last-update time, most recent first", async () => {
      await chain(saver, "older", 2);
      await new Promise((r) => setTimeout(r, 15));
      await chain(saver, "newer", 1);
      const threads = await all(saver.listThreads());
      expect(threads.map((t) => t.threadId)).toEqual(["newer", "older"]);
      expect(threads[0]!.updatedAt.getTime()).toBeGreaterThanOrEqual(threads[1]!.updatedAt.getTime());
      expect(threads[1]!.createdAt.getTime()).toBeLessThanOrEqual(threads[1]!.updatedAt.getTime());
    });

    it("deletes chosen checkpoints and keeps every value a kept checkpoint still needs", async () => {
      const ids = await chain(saver, "t", 5);
      // keep only the first and the last: the last still needs its own value, the first its own
      expect(await saver.deleteCheckpoints("t", [ids[1]!, ids[2]!, ids[3]!])).toBe(3);
      const left = await all(saver.list({ configurable: { thread_id: "t" } }));
      expect(left.map((t) => t.checkpoint.id)).toEqual([ids[4], ids[0]]);
      expect(left[0]!.checkpoint.channel_values).toEqual({ messages: ["m0", "m1", "m2", "m3", "m4"] });
      expect(left[1]!.checkpoint.channel_values).toEqual({ messages: ["m0"] });
      const latest = await saver.getTuple({ configurable: { thread_id: "t" } });
      expect(latest?.checkpoint.id).toBe(ids[4]);
      expect(await saver.getTuple({ configurable: { thread_id: "t", checkpoint_id: ids[2] } })).toBeUndefined();
      const s = await saver.stats("t");
      expect(s).toMatchObject({ threads: 1, checkpoints: 2, values: 2 });
    });

    it("deleting the newest checkpoints makes the previous one the latest", async () => {
      const ids = await chain(saver, "t", 3);
      await saver.deleteCheckpoints("t", [ids[2]!]);
      const latest = await saver.getTuple({ configurable: { thread_id: "t" } });
      expect(latest?.checkpoint.id).toBe(ids[1]);
      expect(latest?.checkpoint.channel_values).toEqual({ messages: ["m0", "m1"] });
    });

    it("deleting every checkpoint removes the thread", async () => {
      const ids = await chain(saver, "t", 2);
      await saver.deleteCheckpoints("t", ids);
      expect(await saver.getTuple({ configurable: { thread_id: "t" } })).toBeUndefined();
      expect(await all(saver.listThreads())).toEqual([]);
    });

    it("copies a thread with all its checkpoints, values and writes, leaving the source untouched", async () => {
      const ids = await chain(saver, "src", 3);
      await saver.putWrites(
        { configurable: { thread_id: "src", checkpoint_ns: "", checkpoint_id: ids[2] } },
        [["x", 1]],
        "task",
      );
      expect(await saver.copyThread("src", "dst")).toBe(3);
      const src = await all(saver.list({ configurable: { thread_id: "src" } }));
      const dst = await all(saver.list({ configurable: { thread_id: "dst" } }));
      expect(dst.map((t) => t.checkpoint)).toEqual(src.map((t) => t.checkpoint));
      expect(dst[0]!.pendingWrites).toEqual([["task", "x", 1]]);
      expect(dst[0]!.config.configurable?.thread_id).toBe("dst");
      expect(dst[0]!.parentConfig?.configurable?.thread_id).toBe("dst");
      await saver.deleteThread("src");
      const after = await saver.getTuple({ configurable: { thread_id: "dst" } });
      expect(after?.checkpoint.channel_values).toEqual({ messages: ["m0", "m1", "m2"] });
    });

    it("refuses to copy onto a thread that already has checkpoints", async () => {
      await chain(saver, "a", 1);
      await chain(saver, "b", 1);
      await expect(saver.copyThread("a", "b")).rejects.toBeInstanceOf(ThreadExistsError);
      expect((await saver.getTuple({ configurable: { thread_id: "b" } }))?.checkpoint.channel_values).toEqual({
        messages: ["m0"],
      });
    });

    it("counts checkpoints, values, writes and bytes per thread and in total", async () => {
      const ids = await chain(saver, "a", 3);
      await chain(saver, "b", 2, "sub:1");
      await saver.putWrites({ configurable: { thread_id: "a", checkpoint_id: ids[2] } }, [["x", "y"]], "t1");
      const a = await saver.stats("a");
      expect(a).toMatchObject({ threads: 1, checkpoints: 3, values: 3, writes: 1 });
      expect(a.bytes).toBeGreaterThan(0);
      const total = await saver.stats();
      expect(total).toMatchObject({ threads: 2, checkpoints: 5, values: 5, writes: 1 });
      expect(total.bytes).toBeGreaterThan(a.bytes);
    });

    it("deleteThread removes every key of the thread and nothing of other threads", async () => {
      await chain(saver, "a", 3);
      await chain(saver, "b", 2);
      await saver.deleteThread("a");
      expect(await saver.stats("a")).toMatchObject({ threads: 0, checkpoints: 0 });
      expect(await saver.stats()).toMatchObject({ threads: 1, checkpoints: 2, values: 2 });
      expect((await all(saver.listThreads())).map((t) => t.threadId)).toEqual(["b"]);
    });

    it("two forks of one checkpoint get distinct versions and never overwrite each other", async () => {
      const [root] = await chain(saver, "t", 1);
      const base = (await saver.getTuple({ configurable: { thread_id: "t" } }))!;
      const v0 = base.checkpoint.channel_versions.messages as number;
      const forks: string[] = [];
      for (const text of ["left", "right"]) {
        const v = saver.getNextVersion(v0);
        const cp = checkpoint({ messages: ["m0", text] }, { messages: v });
        await saver.put({ configurable: { thread_id: "t", checkpoint_id: root } }, cp, META, { messages: v });
        forks.push(cp.id);
      }
      const [left, right] = await Promise.all(
        forks.map((id) => saver.getTuple({ configurable: { thread_id: "t", checkpoint_id: id } })),
      );
      expect(left?.checkpoint.channel_values.messages).toEqual(["m0", "left"]);
      expect(right?.checkpoint.channel_values.messages).toEqual(["m0", "right"]);
    });

    it("keeps thread ids with separators, braces and unicode apart", async () => {
      const odd = ["a:b", "a", "{x}", "t/ü/😀", "x".repeat(300)];
      for (const t of odd) await chain(saver, t, 1);
      for (const t of odd) {
        const tuple = await saver.getTuple({ configurable: { thread_id: t } });
        expect(tuple?.config.configurable?.thread_id).toBe(t);
      }
      expect((await all(saver.listThreads())).map((t) => t.threadId).sort()).toEqual([...odd].sort());
    });

    it("a thread past its ttl reads as absent and is purged", async () => {
      // ttl counts from the last put: long enough that a loaded machine reads the thread before it expires
      const short = new KeyvSaver(saver.keyv, { ttl: 400 });
      await chain(short, "t", 2);
      expect(await short.getTuple({ configurable: { thread_id: "t" } })).toBeDefined();
      await new Promise((r) => setTimeout(r, 500));
      expect(await short.getTuple({ configurable: { thread_id: "t" } })).toBeUndefined();
      await short.purgeExpired();
      expect(await short.stats()).toMatchObject({ threads: 0, checkpoints: 0, values: 0 });
    });

    it("counts store operations: a put costs a constant number, independent of history", async () => {
      await chain(saver, "t", 3);
      const before = saver.storeOperations;
      await chain(saver, "u", 1);
      const one = sum(saver.storeOperations) - sum(before);
      const mid = saver.storeOperations;
      await chain(saver, "t", 1);
      expect(sum(saver.storeOperations) - sum(mid)).toBeLessThanOrEqual(one);
    });
  });
}

function sum(c: Record<string, number>): number {
  return Object.values(c).reduce((a, b) => a + b, 0);
}

describe("KeyvSaver input checks", () => {
  const saver = new KeyvSaver(backends[0]!.keyv());
  const cp = () => checkpoint({ a: 1 }, { a: 1 });

  it("put without thread_id fails with InvalidConfigError saying what to pass", async () => {
    const err = await saver.put({ configurable: {} }, cp(), META, {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidConfigError);
    expect((err as InvalidConfigError).code).toBe("INVALID_CONFIG");
    expect((err as Error).message).toMatch(/thread_id/);
  });

  it("put with a non-string thread_id or namespace fails with InvalidConfigError", async () => {
    await expect(saver.put({ configurable: { thread_id: { a: 1 } } }, cp(), META, {})).rejects.toBeInstanceOf(
      InvalidConfigError,
    );
    await expect(
      saver.put({ configurable: { thread_id: "t", checkpoint_ns: 5 } }, cp(), META, {}),
    ).rejects.toBeInstanceOf(InvalidConfigError);
    // biome-ignore lint/suspicious/noExplicitAny: deliberately malformed input
    await expect(saver.put(null as any, cp(), META, {})).rejects.toBeInstanceOf(InvalidConfigError);
  });

  it("putWrites without checkpoint_id fails with InvalidConfigError", async () => {
    await expect(saver.putWrites({ configurable: { thread_id: "t" } }, [["a", 1]], "task")).rejects.toBeInstanceOf(
      InvalidConfigError,
    );
  });

  it("getTuple of an unknown checkpoint_id or thread is undefined", async () => {
    await saver.put({ configurable: { thread_id: "known" } }, cp(), META, { a: 1 });
    expect(await saver.getTuple({ configurable: { thread_id: "known", checkpoint_id: "nope" } })).toBeUndefined();
    expect(await saver.getTuple({ configurable: { thread_id: "unknown" } })).toBeUndefined();
  });

  it("accepts a numeric thread_id as its string form", async () => {
    await saver.put({ configurable: { thread_id: 42 } }, cp(), META, { a: 1 });
    expect((await saver.getTuple({ configurable: { thread_id: "42" } }))?.checkpoint.channel_values).toEqual({ a: 1 });
  });

  it("rejects a first argument that is not a Keyv and bad options", () => {
    // biome-ignore lint/suspicious/noExplicitAny: deliberately malformed input
    expect(() => new KeyvSaver({} as any)).toThrow(InvalidArgumentError);
    expect(() => new KeyvSaver(backends[0]!.keyv(), { operationTimeoutMs: -1 })).toThrow(InvalidArgumentError);
    expect(() => new KeyvSaver(backends[0]!.keyv(), { operationTimeout: -1 })).toThrow(InvalidArgumentError);
    expect(() => new KeyvSaver(backends[0]!.keyv(), { ttl: 0 })).toThrow(InvalidArgumentError);
    expect(() => new KeyvSaver(backends[0]!.keyv(), { ttl: "7 fortnights" })).toThrow(/ttl must be/);
  });

  it("takes ttl as milliseconds or a duration string, and the deprecated operationTimeout as operationTimeoutMs", async () => {
    const saver = new KeyvSaver(backends[0]!.keyv(), { ttl: "1s", operationTimeout: 2000 });
    const cp = { ...emptyCheckpoint(), id: uuid6(-1) };
    await saver.put(
      { configurable: { thread_id: "ttl", checkpoint_ns: "" } },
      cp,
      { source: "input", step: -1, parents: {} },
      {},
    );
    expect(await saver.getTuple({ configurable: { thread_id: "ttl" } })).toBeDefined();
    await new Promise((r) => setTimeout(r, 1100));
    expect(await saver.getTuple({ configurable: { thread_id: "ttl" } })).toBeUndefined();
  });

  it("a value that cannot be deserialized fails with CheckpointCorruptError naming thread, checkpoint and key, and stays as it was", async () => {
    const keyv = backends[0]!.keyv();
    const s = new KeyvSaver(keyv);
    const c = cp();
    await s.put({ configurable: { thread_id: "t" } }, c, META, { a: 1 });
    const valueKey = [...(keyv.store as Map<string, unknown>).keys()].find((k) => k.includes(":v:"))!;
    const unprefixed = valueKey.slice(valueKey.indexOf(":") + 1);
    await keyv.set(unprefixed, ["json", "{not json"]);
    // read by another saver (another process): the writer itself serves its own latest checkpoint from memory
    const reader = new KeyvSaver(keyv);
    const err = await reader.getTuple({ configurable: { thread_id: "t" } }).catch((e: unknown) => e);
    expect(isCheckpointCorruptError(err)).toBe(true);
    const e = err as CheckpointCorruptError;
    expect(e.threadId).toBe("t");
    expect(e.checkpointId).toBe(c.id);
    expect(e.key).toBe(unprefixed);
    expect(e.message).toContain(unprefixed);
    // reading did not touch the stored record
    expect(await keyv.get(unprefixed)).toEqual(["json", "{not json"]);
  });

  it("a foreign value under a graphkeep key fails with CheckpointCorruptError", async () => {
    const keyv = backends[0]!.keyv();
    const s = new KeyvSaver(keyv);
    await s.put({ configurable: { thread_id: "t" } }, cp(), META, { a: 1 });
    await keyv.set("{t}:idx", "hello");
    await expect(s.getTuple({ configurable: { thread_id: "t" } })).rejects.toBeInstanceOf(CheckpointCorruptError);
  });
});

for (const backend of backends) {
  describe.skipIf(!!backend.skip)(`a long thread's index on ${backend.name}`, () => {
    let saver: KeyvSaver;
    beforeAll(() => {
      saver = new KeyvSaver(backend.keyv());
    });
    afterAll(async () => {
      await saver.keyv.clear().catch(() => undefined);
      await saver.close();
    });

    it("pages older entries so a put rewrites a bounded head, and still lists, reads, copies and deletes all of it", async () => {
      const ids = await chain(saver, "long", 600);
      const head = (await saver.keyv.get("{long}:idx")) as { ns: Array<[string, { e: unknown[]; p?: unknown[] }]> };
      const n = head.ns[0]![1];
      expect(n.e.length).toBeLessThan(64);
      expect(n.p?.length).toBeGreaterThanOrEqual(2);

      const listed = await all(saver.list({ configurable: { thread_id: "long" } }));
      expect(listed.map((t) => t.checkpoint.id)).toEqual([...ids].reverse());
      const oldest = await saver.getTuple({ configurable: { thread_id: "long", checkpoint_id: ids[3] } });
      expect(oldest?.checkpoint.channel_values.messages).toEqual(["m0", "m1", "m2", "m3"]);

      // the newest few come from the head alone
      const before = saver.storeOperations;
      const latest = await all(saver.list({ configurable: { thread_id: "long" } }, { limit: 3 }));
      expect(latest.map((t) => t.checkpoint.id)).toEqual(ids.slice(-3).reverse());
      // head, then records + writes, then values: no page is read
      expect(saver.storeOperations.get - before.get).toBe(1);
      expect(saver.storeOperations.getMany - before.getMany).toBe(2);

      expect(await saver.copyThread("long", "copy")).toBe(600);
      expect(await saver.deleteCheckpoints("long", ids.slice(0, 300))).toBe(300);
      const rest = await all(saver.list({ configurable: { thread_id: "long" } }));
      expect(rest.map((t) => t.checkpoint.id)).toEqual(ids.slice(300).reverse());
      expect(rest.at(-1)?.checkpoint.channel_values.messages).toHaveLength(301);

      await saver.deleteThread("long");
      const copy = await all(saver.list({ configurable: { thread_id: "copy" } }));
      expect(copy).toHaveLength(600);
      expect(copy.at(-1)?.checkpoint.channel_values.messages).toEqual(["m0"]);
      expect(await saver.stats("long")).toMatchObject({ checkpoints: 0 });
    }, 120_000);

    it("a checkpoint older than the paged entries is filed in order", async () => {
      const ids = await chain(saver, "ooo", 300);
      const early = { ...emptyCheckpoint(), id: "00000000-0000-6000-8000-000000000000" };
      await saver.put({ configurable: { thread_id: "ooo" } }, early, META, {});
      const listed = await all(saver.list({ configurable: { thread_id: "ooo" } }));
      expect(listed.map((t) => t.checkpoint.id)).toEqual([...ids].reverse().concat(early.id));
      expect((await saver.getTuple({ configurable: { thread_id: "ooo" } }))?.checkpoint.id).toBe(ids.at(-1));
    }, 120_000);
  });
}
