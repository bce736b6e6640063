import {
  CheckpointIntegrityError,
  compressed,
  InvalidArgumentError,
  MissingKeyError,
  type RewritableSaver,
  type RotateProgress,
  rotate,
} from "@graphkeep/serde";
import { JsonPlusSerializer } from "@langchain/langgraph-checkpoint";
import { describe, expect, it } from "vitest";
import { key0, key1, randomText, stack } from "./helpers.js";
import { PayloadStore } from "./payload-store.js";

const oldRing = () => stack({ "2026-05": key0 }, "2026-05");
const bothRing = (strict = true) => stack({ "2026-11": key1, "2026-05": key0 }, "2026-11", strict);
const newRing = () => stack({ "2026-11": key1 }, "2026-11");

/** Three threads of values written under the old key. */
async function oldStore(): Promise<{ store: PayloadStore; values: Map<string, unknown[]> }> {
  const store = new PayloadStore(oldRing());
  const values = new Map<string, unknown[]>();
  for (const t of ["a", "b", "c"]) {
    const vs = [{ n: 1, text: randomText(3000) }, { n: 2 }, "small", new Uint8Array([1, 2, 3])];
    for (const v of vs) await store.put(t, v);
    values.set(t, vs);
  }
  return { store, values };
}

describe("rotate()", () => {
  it("re-encrypts every thread with the active key, so the old key can leave the ring", async () => {
    const { store, values } = await oldStore();
    store.serde = bothRing();
    const progress: RotateProgress[] = [];
    const result = await rotate(store, { onProgress: (p) => progress.push(p) });
    expect(result).toEqual({ threadsDone: 3, threadsTotal: 3, valuesRewritten: 12 });
    expect(progress.map((p) => p.threadsDone)).toEqual([1, 2, 3]);
    expect(progress.map((p) => p.valuesRewritten)).toEqual([4, 8, 12]);
    for (const [t, vs] of values) expect(await store.read(t, newRing())).toEqual(vs);
  });

  it("keeps each value's type tag, so compression is kept as it was", async () => {
    const { store } = await oldStore();
    const before = store.threads.get("a")!.map(([t]) => t);
    store.serde = bothRing();
    await rotate(store);
    expect(store.threads.get("a")!.map(([t]) => t)).toEqual(before);
    expect(before).toContain("json+br+aes");
  });

  it("re-encrypts one thread when given threadId", async () => {
    const { store } = await oldStore();
    store.serde = bothRing();
    expect(await rotate(store, { threadId: "b" })).toEqual({ threadsDone: 1, threadsTotal: 1, valuesRewritten: 4 });
    expect(await store.read("b", newRing())).toHaveLength(4);
    await expect(store.read("a", newRing())).rejects.toThrow(MissingKeyError);
  });

  it("rewrites nothing the second time: values under the active key are left alone", async () => {
    const { store } = await oldStore();
    store.serde = bothRing();
    await rotate(store);
    const after = store.threads.get("a")!.map(([, b]) => Buffer.from(b).toString("hex"));
    expect((await rotate(store)).valuesRewritten).toBe(0);
    expect(store.threads.get("a")!.map(([, b]) => Buffer.from(b).toString("hex"))).toEqual(after);
  });

  it("leaves every value readable with the keyring when it stops midway, and a rerun finishes", async () => {
    const { store, values } = await oldStore();
    store.serde = bothRing();
    let calls = 0;
    const crashing: RewritableSaver = {
      serde: store.serde,
      listThreads: () => store.listThreads(),
      rewriteValues: (t, fn) =>
        store.rewriteValues(t, async (type, data) => {
          if (++calls === 6) throw new Error("process killed");
          return fn(type, data);
        }),
    };
    await expect(rotate(crashing)).rejects.toThrow("process killed");
    for (const [t, vs] of values) expect(await store.read(t, bothRing())).toEqual(vs);
    await expect(store.read("b", newRing())).rejects.toThrow(MissingKeyError);
    expect((await rotate(store)).valuesRewritten).toBe(7);
    for (const [t, vs] of values) expect(await store.read(t, newRing())).toEqual(vs);
  });

  it("stops when its signal aborts, between two values", async () => {
    const { store, values } = await oldStore();
    store.serde = bothRing();
    const controller = new AbortController();
    const err = await rotate(store, {
      signal: controller.signal,
      onProgress: () => controller.abort(new Error("stop")),
    }).catch((e: unknown) => e);
    expect(err).toEqual(new Error("stop"));
    expect(await store.read("a", newRing())).toEqual(values.get("a"));
    await expect(store.read("b", newRing())).rejects.toThrow(MissingKeyError);
  });

  it("does not start with an already aborted signal", async () => {
    const { store } = await oldStore();
    store.serde = bothRing();
    await expect(rotate(store, { signal: AbortSignal.abort() })).rejects.toThrow();
    await expect(store.read("a", newRing())).rejects.toThrow(MissingKeyError);
  });

  it("refuses a tampered value instead of re-encrypting it, even one under the active key", async () => {
    const { store } = await oldStore();
    store.serde = bothRing();
    await rotate(store);
    const [type, bytes] = store.threads.get("c")![0]!;
    const bad = bytes.slice();
    bad[bad.length - 1]! ^= 1;
    store.threads.get("c")![0] = [type, bad];
    await expect(rotate(store)).rejects.toThrow(CheckpointIntegrityError);
  });

  it("fails with MissingKeyError when the ring no longer holds a key the store uses", async () => {
    const { store } = await oldStore();
    store.serde = newRing();
    await expect(rotate(store)).rejects.toThrow(MissingKeyError);
  });

  it("in strict mode refuses plaintext values", async () => {
    const store = new PayloadStore(new JsonPlusSerializer());
    await store.put("legacy", { text: "old" });
    store.serde = bothRing();
    const err = await rotate(store).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CheckpointIntegrityError);
    expect((err as CheckpointIntegrityError).reason).toBe("not-encrypted");
  });

  it("with strict: false encrypts plaintext values (migrating a store to encryption)", async () => {
    const store = new PayloadStore(compressed(new JsonPlusSerializer()));
    const vs = [{ text: randomText(5000) }, { small: true }];
    for (const v of vs) await store.put("legacy", v);
    store.serde = bothRing(false);
    expect((await rotate(store)).valuesRewritten).toBe(2);
    expect(store.threads.get("legacy")!.map(([t]) => t)).toEqual(["json+br+aes", "json+aes"]);
    expect(await store.read("legacy", newRing())).toEqual(vs);
  });

  it("with strict: false does not encrypt a plaintext value that does not even read", async () => {
    const store = new PayloadStore(bothRing(false));
    store.threads.set("legacy", [["json", new TextEncoder().encode("{not json")]]);
    await expect(rotate(store)).rejects.toThrow(SyntaxError);
    expect(store.threads.get("legacy")![0]![0]).toBe("json");
  });

  it("refuses a saver whose serde is not encrypted", async () => {
    const store = new PayloadStore(compressed(new JsonPlusSerializer()));
    await expect(rotate(store)).rejects.toThrow(InvalidArgumentError);
    await expect(rotate(store)).rejects.toThrow(/not an encrypted\(\) serde/);
  });

  it("refuses a saver that cannot rewrite its values, saying what it needs", async () => {
    const saver = { serde: bothRing(), listThreads: new PayloadStore(bothRing()).listThreads } as unknown;
    await expect(rotate(saver as RewritableSaver)).rejects.toThrow(/rewriteValues\(threadId, fn\)/);
  });
});
