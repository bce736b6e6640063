import { randomBytes } from "node:crypto";
import { KeyvSaver } from "@graphkeep/keyv-saver";
import { CheckpointIntegrityError, compressed, encrypted, rotate } from "@graphkeep/serde";
import type { RunnableConfig } from "@langchain/core/runnables";
import {
  type Checkpoint,
  emptyCheckpoint,
  JsonPlusSerializer,
  type SerializerProtocol,
  uuid6,
} from "@langchain/langgraph-checkpoint";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { keys } from "../packages/keyv-saver/src/keys.js";
import { backends } from "./helpers/backends.js";

// Issue 15.12: ciphertexts are bound to where the saver stores them (thread, namespace, kind, channel, version,
// checkpoint, task). Each test fails on 09d3819, where KeyvSaver called only dumpsTyped/loadsTyped.

const k1 = randomBytes(32);
const k2 = randomBytes(32);
const serdeWith = (active: "k1" | "k2" = "k1") =>
  encrypted(compressed(new JsonPlusSerializer()), { keys: { k1, k2 }, activeKeyId: active });

const cfg = (threadId: string, checkpointId?: string): RunnableConfig => ({
  configurable: { thread_id: threadId, checkpoint_ns: "", ...(checkpointId ? { checkpoint_id: checkpointId } : {}) },
});

async function put(saver: KeyvSaver, threadId: string, values: Record<string, unknown>, parent?: string) {
  const parentVersions = parent
    ? ((await saver.getTuple(cfg(threadId, parent)))?.checkpoint.channel_versions ?? {})
    : {};
  const versions = Object.fromEntries(
    Object.keys(values).map((k) => [k, saver.getNextVersion(parentVersions[k] as number | undefined)]),
  );
  const cp: Checkpoint = {
    ...emptyCheckpoint(),
    id: uuid6(-1),
    channel_values: values,
    channel_versions: { ...parentVersions, ...versions },
  };
  await saver.put(cfg(threadId, parent), cp, { source: "loop", step: 0, parents: {} }, versions);
  return cp;
}

async function refused(p: Promise<unknown>): Promise<void> {
  const got = await p.then(
    () => "read",
    (e: unknown) => e,
  );
  expect(got).toBeInstanceOf(CheckpointIntegrityError);
}

for (const backend of backends) {
  describe.skipIf(!!backend.skip)(`encrypted values bound to their place, on ${backend.name}`, () => {
    let saver: KeyvSaver;
    beforeEach(() => {
      saver = new KeyvSaver(backend.keyv(), { serde: serdeWith() });
    });
    afterEach(async () => {
      await saver.keyv.clear().catch(() => undefined);
      await saver.close();
    });

    it("a value copied into another thread's key is refused there (mallory reads alice's SSN)", async () => {
      const a = await put(saver, "alice", { ssn: "078-05-1120" });
      const m = await put(saver, "mallory", { ssn: "000-00-0000" });
      const stolen = await saver.keyv.get(keys.value("alice", "", "ssn", a.channel_versions.ssn!));
      await saver.keyv.set(keys.value("mallory", "", "ssn", m.channel_versions.ssn!), stolen);
      await refused(new KeyvSaver(saver.keyv, { serde: serdeWith() }).getTuple(cfg("mallory")));
      expect((await saver.getTuple(cfg("alice", a.id)))?.checkpoint.channel_values).toEqual({ ssn: "078-05-1120" });
    });

    it("an old version replayed over a newer one is refused", async () => {
      const first = await put(saver, "t", { balance: 100 });
      const second = await put(saver, "t", { balance: 5 }, first.id);
      const old = await saver.keyv.get(keys.value("t", "", "balance", first.channel_versions.balance!));
      await saver.keyv.set(keys.value("t", "", "balance", second.channel_versions.balance!), old);
      await refused(new KeyvSaver(saver.keyv, { serde: serdeWith() }).getTuple(cfg("t")));
    });

    it("a record pointing a channel at an older, genuine version is refused (per-channel rollback)", async () => {
      const first = await put(saver, "r", { limit: 100 });
      const second = await put(saver, "r", { limit: 5 }, first.id);
      const key = keys.checkpoint("r", "", second.id);
      const rec = (await saver.keyv.get(key)) as { cv: Record<string, number> };
      await saver.keyv.set(key, { ...rec, cv: { ...rec.cv, limit: first.channel_versions.limit } });
      await refused(new KeyvSaver(saver.keyv, { serde: serdeWith() }).getTuple(cfg("r", second.id)));
    });

    it("pending writes and metadata moved between checkpoints are refused", async () => {
      const first = await put(saver, "w", { x: 1 });
      const second = await put(saver, "w", { x: 2 }, first.id);
      await saver.putWrites(cfg("w", first.id), [["x", "approve transfer"]], "task-1");
      await saver.putWrites(cfg("w", second.id), [["x", "deny"]], "task-1");
      const writes = await saver.keyv.get(keys.writes("w", "", first.id));
      await saver.keyv.set(keys.writes("w", "", second.id), writes);
      await refused(new KeyvSaver(saver.keyv, { serde: serdeWith() }).getTuple(cfg("w", second.id)));
    });

    it("copyThread re-binds every payload to the copy, which reads back whole", async () => {
      const first = await put(saver, "src", { plan: ["a"], secret: "s3cr3t" });
      const second = await put(saver, "src", { plan: ["a", "b"] }, first.id);
      await saver.putWrites(cfg("src", second.id), [["plan", "c"]], "task-1");
      expect(await saver.copyThread("src", "copy")).toBe(2);
      const fresh = new KeyvSaver(saver.keyv, { serde: serdeWith() });
      const [src, copy] = await Promise.all([fresh.getTuple(cfg("src")), fresh.getTuple(cfg("copy"))]);
      expect(copy?.checkpoint.channel_values).toEqual(src?.checkpoint.channel_values);
      expect(copy?.pendingWrites).toEqual(src?.pendingWrites);
    });

    it("values written before binding existed stay readable, and rotate() re-encrypts bound values", async () => {
      const serde = serdeWith();
      // a serde without the bound methods writes what an older KeyvSaver wrote
      const unbound: SerializerProtocol = {
        dumpsTyped: (v: unknown) => serde.dumpsTyped(v),
        loadsTyped: (t: string, d: Uint8Array | string) => serde.loadsTyped(t, d),
      };
      const old = new KeyvSaver(saver.keyv, { serde: unbound });
      const a = await put(old, "legacy", { note: "written unbound" });
      await put(saver, "legacy", { note: "written bound" }, a.id);
      const reader = new KeyvSaver(saver.keyv, { serde: serdeWith() });
      expect((await reader.getTuple(cfg("legacy", a.id)))?.checkpoint.channel_values).toEqual({
        note: "written unbound",
      });
      expect((await reader.getTuple(cfg("legacy")))?.checkpoint.channel_values).toEqual({ note: "written bound" });
      await rotate(reader, { serde: serdeWith("k2") });
      const onlyK2 = encrypted(compressed(new JsonPlusSerializer()), { keys: { k2 }, activeKeyId: "k2" });
      const after = new KeyvSaver(saver.keyv, { serde: onlyK2 });
      expect((await after.getTuple(cfg("legacy")))?.checkpoint.channel_values).toEqual({ note: "written bound" });
      expect((await after.getTuple(cfg("legacy", a.id)))?.checkpoint.channel_values).toEqual({
        note: "written unbound",
      });
    });
  });
}
