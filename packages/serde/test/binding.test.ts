import { createHash } from "node:crypto";
import {
  type BindingAwareSerializer,
  CheckpointIntegrityError,
  compressed,
  encodeBinding,
  encrypted,
  InvalidArgumentError,
  isBindingAware,
  type RewritableSaver,
  type RewritePayload,
  rebind,
  rotate,
  type SerdeBinding,
} from "@graphkeep/serde";
import { JsonPlusSerializer } from "@langchain/langgraph-checkpoint";
import { describe, expect, it } from "vitest";
import { key0, key1, randomText } from "./helpers.js";

const ssn = { ssn: "078-05-1120", owner: "alice" };
const alice: SerdeBinding = { kind: "value", threadId: "alice", checkpointNs: "", channel: "profile", version: 7 };

function serdeOf(options: { requireBinding?: boolean; strict?: boolean } = {}): BindingAwareSerializer {
  return encrypted(compressed(new JsonPlusSerializer()), {
    keys: { k1: key1, k0: key0 },
    activeKeyId: "k1",
    ...options,
  });
}

async function refusal(p: Promise<unknown>): Promise<CheckpointIntegrityError> {
  const got = await p.then(
    (v) => ({ returned: v }),
    (e: unknown) => e,
  );
  expect(got).toBeInstanceOf(CheckpointIntegrityError);
  return got as CheckpointIntegrityError;
}

describe("a value bound to where it is stored", () => {
  const serde = serdeOf();

  it("reads back under the same binding, small and compressed", async () => {
    for (const value of [ssn, { history: randomText(20_000) }]) {
      const [type, bytes] = await serde.dumpsTypedBound(alice, value);
      expect(await serde.loadsTypedBound({ ...alice }, type, bytes)).toEqual(value);
    }
  });

  it("is refused when another thread reads it as its own (alice's SSN moved to mallory)", async () => {
    const [type, bytes] = await serde.dumpsTypedBound(alice, ssn);
    const err = await refusal(serde.loadsTypedBound({ ...alice, threadId: "mallory" }, type, bytes));
    expect(err.reason).toBe("authentication");
    expect(err.message).toMatch(/moved or copied from another place/);
    expect(err.message).not.toContain("078-05-1120");
  });

  const moves: Record<string, Partial<SerdeBinding>> = {
    "another namespace": { checkpointNs: "subgraph:1" },
    "another channel": { channel: "notes" },
    "an older version of the channel": { version: 6 },
    "the same version as a string": { version: "7" },
    "another record kind": { kind: "write" },
    "a checkpoint id added": { checkpointId: "1ef0" },
    "a task id added": { taskId: "task-1" },
    "an index added": { idx: 0 },
    "the channel left out": { channel: undefined },
  };
  it.each(Object.entries(moves))("is refused when read under %s", async (_what, change) => {
    const [type, bytes] = await serde.dumpsTypedBound(alice, ssn);
    await refusal(serde.loadsTypedBound({ ...alice, ...change }, type, bytes));
  });

  it("refuses an old version replayed under a newer version of the same channel", async () => {
    const v1 = { kind: "value", threadId: "t", checkpointNs: "", channel: "balance", version: 1 } as const;
    const [oldType, oldBytes] = await serde.dumpsTypedBound(v1, { balance: 100 });
    const [newType, newBytes] = await serde.dumpsTypedBound({ ...v1, version: 2 }, { balance: 0 });
    expect(await serde.loadsTypedBound({ ...v1, version: 2 }, newType, newBytes)).toEqual({ balance: 0 });
    await refusal(serde.loadsTypedBound({ ...v1, version: 2 }, oldType, oldBytes));
  });

  it("binds pending writes to their checkpoint, task and index", async () => {
    const w: SerdeBinding = {
      kind: "write",
      threadId: "t",
      checkpointNs: "",
      checkpointId: "c1",
      taskId: "a",
      idx: 0,
      channel: "x",
    };
    const [type, bytes] = await serde.dumpsTypedBound(w, "go");
    expect(await serde.loadsTypedBound(w, type, bytes)).toBe("go");
    for (const change of [{ checkpointId: "c2" }, { taskId: "b" }, { idx: 1 }, { idx: -1 }]) {
      await refusal(serde.loadsTypedBound({ ...w, ...change }, type, bytes));
    }
  });

  it("is refused by plain loadsTyped, which has no binding to check (reason binding)", async () => {
    const [type, bytes] = await serde.dumpsTypedBound(alice, ssn);
    expect((await refusal(serde.loadsTyped(type, bytes))).reason).toBe("binding");
  });

  it("cannot be downgraded to an unbound envelope by changing its version byte", async () => {
    const [type, bytes] = await serde.dumpsTypedBound(alice, ssn);
    expect(bytes[0]).toBe(2);
    const downgraded = bytes.slice();
    downgraded[0] = 1;
    expect((await refusal(serde.loadsTyped(type, downgraded))).reason).toBe("authentication");
    expect((await refusal(serde.loadsTypedBound(alice, type, downgraded))).reason).toBe("authentication");
  });

  it("is refused by another keyring holding the same key id", async () => {
    const [type, bytes] = await serde.dumpsTypedBound(alice, ssn);
    const other = encrypted(new JsonPlusSerializer(), { keys: { k1: key0 }, activeKeyId: "k1" });
    await refusal(other.loadsTypedBound(alice, type, bytes));
  });

  it("refuses an invalid binding with InvalidArgumentError before writing anything", async () => {
    for (const bad of [
      null,
      {},
      { kind: "value", threadId: "", checkpointNs: "" },
      { kind: "value", threadId: "t" },
      { kind: "value", threadId: "t", checkpointNs: "", version: Number.NaN },
      { kind: "write", threadId: "t", checkpointNs: "", idx: 0.5 },
      { kind: "", threadId: "t", checkpointNs: "" },
    ]) {
      await expect(serde.dumpsTypedBound(bad as unknown as SerdeBinding, ssn), JSON.stringify(bad)).rejects.toThrow(
        InvalidArgumentError,
      );
    }
  });
});

describe("values written before binding existed", () => {
  // written by @graphkeep/serde at 1fae514 (dumpsTyped, version 1 envelope) with this key
  const fixtureKey = createHash("sha256").update("graphkeep serde v1 fixture").digest();
  const fixture: [string, Uint8Array] = [
    "json+aes",
    Buffer.from(
      "AQcyMDI2LTA1ltsxWapbVkgiffcqbElNYPGkFwkkOifoBsT4L1vfGP4DQZvEYhTrbEF7ktrHoWsB0sEEhRVmSvW43bKSb8hWKts=",
      "base64",
    ),
  ];
  const reader = (requireBinding = false) =>
    encrypted(compressed(new JsonPlusSerializer()), {
      keys: { "2026-05": fixtureKey },
      activeKeyId: "2026-05",
      requireBinding,
    });

  it("still read, with loadsTyped and through loadsTypedBound under any binding", async () => {
    expect(await reader().loadsTyped(...fixture)).toEqual(ssn);
    expect(await reader().loadsTypedBound(alice, ...fixture)).toEqual(ssn);
  });

  it("are refused in bound reads with requireBinding (reason binding), and still read with loadsTyped", async () => {
    expect((await refusal(reader(true).loadsTypedBound(alice, ...fixture))).reason).toBe("binding");
    expect(await reader(true).loadsTyped(...fixture)).toEqual(ssn);
  });

  it("stay authenticated: a flipped byte of an old value is refused", async () => {
    const bytes = fixture[1].slice();
    bytes[bytes.length - 20]! ^= 1;
    await refusal(reader().loadsTypedBound(alice, fixture[0], bytes));
  });

  it("plain dumpsTyped keeps writing them (version 1), and they round-trip", async () => {
    const serde = serdeOf();
    const [type, bytes] = await serde.dumpsTyped(ssn);
    expect(bytes[0]).toBe(1);
    expect(await serde.loadsTyped(type, bytes)).toEqual(ssn);
  });
});

/** A saver-like store that passes each payload's binding to `rewriteValues`, as a binding-aware saver does. */
class BoundStore implements RewritableSaver {
  readonly rows = new Map<string, Array<{ binding: SerdeBinding; payload: [string, Uint8Array] }>>();
  constructor(public serde: BindingAwareSerializer) {}
  async put(binding: SerdeBinding, value: unknown, bound = true): Promise<void> {
    const payload = bound ? await this.serde.dumpsTypedBound(binding, value) : await this.serde.dumpsTyped(value);
    const list = this.rows.get(binding.threadId) ?? [];
    list.push({ binding, payload });
    this.rows.set(binding.threadId, list);
  }
  async *listThreads(): AsyncGenerator<{ threadId: string }> {
    for (const threadId of this.rows.keys()) yield { threadId };
  }
  async rewriteValues(threadId: string, rewrite: RewritePayload): Promise<number> {
    let n = 0;
    for (const row of this.rows.get(threadId) ?? []) {
      const out = await rewrite(...row.payload, row.binding);
      if (out !== undefined) {
        row.payload = out;
        n += 1;
      }
    }
    return n;
  }
}

describe("rotate() through a saver that passes bindings", () => {
  it("rebinds values written unbound, so that requireBinding then reads the whole store", async () => {
    const store = new BoundStore(serdeOf());
    const at = (version: number): SerdeBinding => ({ ...alice, version });
    await store.put(at(1), { n: 1 }, false);
    await store.put(at(2), { n: 2 }, true);
    const result = await rotate(store);
    expect(result.valuesRewritten).toBe(1); // the bound value under the active key is left alone
    const strictReader = serdeOf({ requireBinding: true });
    for (const row of store.rows.get("alice")!) {
      expect(row.payload[1][0]).toBe(2);
      expect(await strictReader.loadsTypedBound(row.binding, ...row.payload)).toEqual({ n: row.binding.version });
    }
    expect((await rotate(store)).valuesRewritten).toBe(0);
  });

  it("refuses a value moved to another row instead of re-encrypting (and so blessing) it", async () => {
    const store = new BoundStore(serdeOf());
    await store.put({ ...alice, version: 1 }, { n: 1 });
    await store.put({ ...alice, version: 2 }, { n: 2 });
    const rows = store.rows.get("alice")!;
    rows[1]!.payload = rows[0]!.payload; // version 1 replayed as version 2
    await expect(rotate(store)).rejects.toThrow(CheckpointIntegrityError);
  });
});

describe("rebind()", () => {
  const serde = serdeOf();
  const fork: SerdeBinding = { ...alice, threadId: "alice-fork" };

  it("moves a value to another thread: it reads there, and no longer under the source binding", async () => {
    const [type, bytes] = await serde.dumpsTypedBound(alice, ssn);
    const copied = await rebind(serde, alice, fork, type, bytes);
    expect(await serde.loadsTypedBound(fork, ...copied)).toEqual(ssn);
    await refusal(serde.loadsTypedBound(alice, ...copied));
  });

  it("refuses a value that is not bound to the source it is said to come from", async () => {
    const [type, bytes] = await serde.dumpsTypedBound({ ...alice, threadId: "bob" }, ssn);
    await refusal(rebind(serde, alice, fork, type, bytes));
  });

  it("returns a payload of a serde without encryption as it is", async () => {
    const plain = compressed(new JsonPlusSerializer(), { minBytes: 0 });
    const [type, bytes] = await plain.dumpsTypedBound(alice, { history: randomText(4000) });
    expect(await rebind(plain, alice, fork, type, bytes)).toEqual([type, bytes]);
  });
});

describe("isBindingAware and encodeBinding", () => {
  it("recognise encrypted() and compressed() serdes, not LangGraph's plain serializer", () => {
    expect(isBindingAware(serdeOf())).toBe(true);
    expect(isBindingAware(compressed(new JsonPlusSerializer()))).toBe(true);
    expect(isBindingAware(new JsonPlusSerializer())).toBe(false);
    expect(isBindingAware(null)).toBe(false);
  });

  it("encode equal bindings alike, whatever their field order, and distinct ones apart", () => {
    const a = encodeBinding({ version: 7, channel: "profile", checkpointNs: "", threadId: "alice", kind: "value" });
    expect(Buffer.from(a).equals(Buffer.from(encodeBinding(alice)))).toBe(true);
    const variants: SerdeBinding[] = [
      { ...alice, version: "7" },
      { ...alice, channel: "" },
      { ...alice, channel: undefined },
      { ...alice, threadId: "alice\u0000" },
      { ...alice, threadId: "\ud800" },
      { ...alice, threadId: "\ufffd" },
      { ...alice, checkpointNs: "profile", channel: "" },
    ];
    const seen = new Set([Buffer.from(a).toString("hex")]);
    for (const v of variants) seen.add(Buffer.from(encodeBinding(v)).toString("hex"));
    expect(seen.size).toBe(variants.length + 1);
  });
});
