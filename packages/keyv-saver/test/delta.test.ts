import { isCheckpointCorruptError, KeyvSaver } from "@graphkeep/keyv-saver";
import { type Checkpoint, emptyCheckpoint, uuid6 } from "@langchain/langgraph-checkpoint";
import { backends } from "../../../test/helpers/backends.js";

const META = { source: "loop" as const, step: 0, parents: {} };

interface Step {
  id: string;
  values: Record<string, unknown>;
}

/** Puts a chain of checkpoints; `next(i, prev)` gives the values of step i; `doc` never changes after step 0. */
async function run(
  saver: KeyvSaver,
  thread: string,
  steps: number,
  next: (i: number, prev: Record<string, unknown>) => Record<string, unknown>,
  from?: { id: string; values: Record<string, unknown>; versions: Record<string, number> },
): Promise<Step[]> {
  const out: Step[] = [];
  let parent = from?.id;
  let values = from?.values ?? {};
  let versions: Record<string, number> = { ...(from?.versions ?? {}) };
  for (let i = 0; i < steps; i++) {
    const updated = next(i, values);
    const newVersions: Record<string, number> = {};
    for (const k of Object.keys(updated)) {
      versions[k] = saver.getNextVersion(versions[k]);
      newVersions[k] = versions[k]!;
    }
    values = { ...values, ...updated };
    versions = { ...versions };
    const cp: Checkpoint = {
      ...emptyCheckpoint(),
      id: uuid6(-1),
      channel_values: values,
      channel_versions: versions,
    };
    await saver.put({ configurable: { thread_id: thread, checkpoint_id: parent } }, cp, META, newVersions);
    out.push({ id: cp.id, values });
    parent = cp.id;
  }
  return out;
}

const append = (i: number, prev: Record<string, unknown>) => ({
  messages: [...((prev.messages as string[]) ?? []), `message ${i} ${"x".repeat(200)}`],
});

async function readAll(saver: KeyvSaver, thread: string) {
  const out = new Map<string, Record<string, unknown>>();
  for await (const t of saver.list({ configurable: { thread_id: thread } }))
    out.set(t.checkpoint.id, t.checkpoint.channel_values);
  return out;
}

function storedKinds(keyv: KeyvSaver["keyv"], rawKeys: string[]) {
  return Promise.all(rawKeys.map((k) => keyv.get(k))).then((vals) => ({
    deltas: vals.filter((v) => Array.isArray(v) && v[2] === 2).length,
    whole: vals.filter((v) => Array.isArray(v) && v[2] !== 2).length,
  }));
}

for (const backend of backends) {
  describe.skipIf(!!backend.skip)(`delta-encoded values on ${backend.name}`, () => {
    let saver: KeyvSaver;
    beforeEach(() => {
      saver = new KeyvSaver(backend.keyv(), { delta: { snapshotEvery: 8 } });
    });
    afterEach(async () => {
      await saver.keyv.clear().catch(() => undefined);
      await saver.close();
    });

    it("stores appended messages as deltas, with a whole value every snapshotEvery versions, and reads every checkpoint back exactly", async () => {
      const steps = await run(saver, "t", 40, append);
      const read = await readAll(saver, "t");
      expect(read.size).toBe(40);
      for (const s of steps) expect(read.get(s.id)).toEqual(s.values);
      const latest = await saver.getTuple({ configurable: { thread_id: "t" } });
      expect(latest?.checkpoint.channel_values).toEqual(steps[39]!.values);
      const st = await saver.stats("t");
      const logical = JSON.stringify(steps[39]!.values.messages).length;
      // whole values every 8 versions + one small delta per step, far below 40 whole copies
      expect(st.bytes).toBeLessThan(logical * 8);
      expect(st.values).toBe(40);
    });

    it("rewrites a large document with small edits as small deltas", async () => {
      const doc0 = "lorem ipsum ".repeat(20_000);
      const steps = await run(saver, "doc", 10, (i, prev) => {
        const d = (prev.doc as string | undefined) ?? doc0;
        const at = 1000 + i * 5000;
        return { doc: `${d.slice(0, at)}EDIT${i}${d.slice(at + 6)}` };
      });
      const read = await readAll(saver, "doc");
      for (const s of steps) expect(read.get(s.id)).toEqual(s.values);
      const st = await saver.stats("doc");
      // whole values at versions 1 and 9 (snapshotEvery 8), small deltas in between
      expect(st.bytes).toBeLessThan(doc0.length * 2 + 20_000);
      expect(st.bytes).toBeGreaterThan(doc0.length * 2);
    });

    it("a fresh saver (nothing in memory) reads the chains and continues them correctly", async () => {
      const first = await run(saver, "t", 12, append);
      const fresh = new KeyvSaver(saver.keyv, { delta: { snapshotEvery: 8 } });
      const last = first[first.length - 1]!;
      const tuple = await fresh.getTuple({ configurable: { thread_id: "t" } });
      expect(tuple?.checkpoint.channel_values).toEqual(last.values);
      const versions = tuple!.checkpoint.channel_versions as Record<string, number>;
      const more = await run(fresh, "t", 10, append, { id: last.id, values: last.values, versions });
      const read = await readAll(fresh, "t");
      for (const s of [...first, ...more]) expect(read.get(s.id)).toEqual(s.values);
    });

    it("a parent not in memory: the new checkpoint inherits its chains from the parent record", async () => {
      const first = await run(saver, "t", 5, (i, prev) =>
        i === 0 ? { ...append(i, prev), other: "unchanged" } : append(i, prev),
      );
      const fresh = new KeyvSaver(saver.keyv, { delta: { snapshotEvery: 8 } });
      const last = first[first.length - 1]!;
      const cp = (await saver.getTuple({ configurable: { thread_id: "t" } }))!.checkpoint;
      // write only `other`: `messages` (a delta) is inherited without being rewritten
      const more = await run(fresh, "t", 1, () => ({ other: "changed" }), {
        id: last.id,
        values: last.values,
        versions: cp.channel_versions as Record<string, number>,
      });
      // delete everything before: the kept checkpoint still needs the chain of `messages`
      await fresh.deleteCheckpoints(
        "t",
        first.map((s) => s.id),
      );
      const read = await readAll(fresh, "t");
      expect([...read.keys()]).toEqual([more[0]!.id]);
      expect(read.get(more[0]!.id)).toEqual(more[0]!.values);
    });

    it("deleting checkpoints in the middle of a chain never breaks a kept checkpoint", async () => {
      const steps = await run(saver, "t", 20, append);
      const doomed = steps.filter((_, i) => i % 3 !== 0).map((s) => s.id);
      await saver.deleteCheckpoints("t", doomed);
      const read = await readAll(saver, "t");
      for (const s of steps) {
        if (doomed.includes(s.id)) expect(read.has(s.id)).toBe(false);
        else expect(read.get(s.id)).toEqual(s.values);
      }
      // and the values nobody needs any more are gone
      const st = await saver.stats("t");
      expect(st.values).toBeLessThan(20);
    });

    it("a copied thread keeps working after its source is deleted", async () => {
      const steps = await run(saver, "src", 15, append);
      await saver.copyThread("src", "dst");
      await saver.deleteThread("src");
      const read = await readAll(saver, "dst");
      for (const s of steps) expect(read.get(s.id)).toEqual(s.values);
    });

    it("snapshotEvery bounds the chain a read follows", async () => {
      await run(saver, "t", 30, append);
      const all = [];
      for await (const t of saver.list({ configurable: { thread_id: "t" } })) all.push(t);
      const versions = all.map((t) => t.checkpoint.channel_versions.messages as number);
      const valueKeys = versions.map((v) => `{t}:v::messages:${String(v).replace(/[^A-Za-z0-9_.-]/g, "")}`);
      const kinds = await storedKinds(saver.keyv, valueKeys);
      expect(kinds.deltas + kinds.whole).toBe(30);
      // 30 versions with a whole value at least every 8: 4 or more whole values
      expect(kinds.whole).toBeGreaterThanOrEqual(4);
      expect(kinds.deltas).toBeGreaterThanOrEqual(20);
    });

    it("a delta whose base is gone fails with CheckpointCorruptError instead of returning a wrong value", async () => {
      const steps = await run(saver, "t", 6, append);
      // remove every earlier version of the channel: the latest value is a delta, its bases are gone
      const versions: string[] = [];
      for (const s of steps.slice(0, -1)) {
        const tuple = await saver.getTuple({ configurable: { thread_id: "t", checkpoint_id: s.id } });
        versions.push(String(tuple!.checkpoint.channel_versions.messages));
      }
      for (const v of versions) await saver.keyv.delete(`{t}:v::messages:${v}`);
      const fresh = new KeyvSaver(saver.keyv);
      const err = await fresh.getTuple({ configurable: { thread_id: "t" } }).catch((e: unknown) => e);
      expect(isCheckpointCorruptError(err)).toBe(true);
    });

    it("delta: false stores every version whole", async () => {
      const plain = new KeyvSaver(saver.keyv, { delta: false });
      const steps = await run(plain, "p", 5, append);
      const read = await readAll(plain, "p");
      for (const s of steps) expect(read.get(s.id)).toEqual(s.values);
      const all = [];
      for await (const t of plain.list({ configurable: { thread_id: "p" } })) all.push(t);
      const kinds = await storedKinds(
        plain.keyv,
        all.map((t) => `{p}:v::messages:${String(t.checkpoint.channel_versions.messages)}`),
      );
      expect(kinds).toEqual({ deltas: 0, whole: 5 });
    });
  });
}
