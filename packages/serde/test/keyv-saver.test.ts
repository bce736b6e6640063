import { KeyvSaver, type StoredBlob } from "@graphkeep/keyv-saver";
import { CheckpointIntegrityError, MissingKeyError } from "@graphkeep/serde";
import { type Checkpoint, emptyCheckpoint } from "@langchain/langgraph-checkpoint";
import Keyv from "keyv";
import { describe, expect, it } from "vitest";
import { key0, key1, randomText, stack } from "./helpers.js";

// Tampering with what KeyvSaver stored. KeyvSaver reports a value it cannot deserialize as CheckpointCorruptError
// (naming the thread, checkpoint and key) with the serde's error as `cause`.
const ring = () => stack({ k1: key1, k0: key0 }, "k1");
const config = { configurable: { thread_id: "t", checkpoint_ns: "" } };

function find<T>(e: unknown, type: new (...args: never[]) => T): T | undefined {
  for (let cur = e; cur !== undefined && cur !== null; cur = (cur as { cause?: unknown }).cause) {
    if (cur instanceof type) return cur;
  }
  return undefined;
}

/** A KeyvSaver over a memory Keyv holding one checkpoint with a large channel value; the key of that value. */
async function stored(): Promise<{ keyv: Keyv; saver: KeyvSaver; valueKey: string }> {
  const keyv = new Keyv();
  const saver = new KeyvSaver(keyv, { serde: ring() });
  const checkpoint: Checkpoint = {
    ...emptyCheckpoint(),
    channel_values: { doc: randomText(5000) },
    channel_versions: { doc: 1 },
  };
  await saver.put(config, checkpoint, { source: "input", step: -1, parents: {} }, { doc: 1 });
  let valueKey: string | undefined;
  for await (const [key, value] of keyv.iterator!(keyv.namespace) as AsyncGenerator<[string, unknown]>) {
    if (Array.isArray(value) && value[0] === "json+br+aes") valueKey = key;
  }
  expect(valueKey).toBeDefined();
  return { keyv, saver, valueKey: valueKey! };
}

async function tamper(keyv: Keyv, key: string, change: (blob: StoredBlob, bytes: Buffer) => StoredBlob) {
  const blob = (await keyv.get(key)) as StoredBlob;
  await keyv.set(key, change(blob, Buffer.from(blob[1], "base64")));
}

const readError = (saver: KeyvSaver) =>
  new KeyvSaver(saver.keyv, { serde: ring() }).getTuple(config).catch((e: unknown) => e);

describe("a value tampered with in KeyvSaver's store", () => {
  it("reads back intact when untouched", async () => {
    const { saver } = await stored();
    const tuple = await new KeyvSaver(saver.keyv, { serde: ring() }).getTuple(config);
    expect(tuple?.checkpoint.channel_values.doc).toHaveLength(5000);
  });

  it("with a flipped byte fails with CheckpointIntegrityError", async () => {
    const { keyv, saver, valueKey } = await stored();
    await tamper(keyv, valueKey, (b, bytes) => {
      bytes[bytes.length >> 1]! ^= 0x80;
      return [b[0], bytes.toString("base64"), 1];
    });
    expect(find(await readError(saver), CheckpointIntegrityError)).toBeDefined();
  });

  it("truncated fails with CheckpointIntegrityError", async () => {
    const { keyv, saver, valueKey } = await stored();
    await tamper(keyv, valueKey, (b, bytes) => [b[0], bytes.subarray(0, bytes.length - 5).toString("base64"), 1]);
    expect(find(await readError(saver), CheckpointIntegrityError)).toBeDefined();
  });

  it("with its type tag swapped fails with CheckpointIntegrityError", async () => {
    const { keyv, saver, valueKey } = await stored();
    await tamper(keyv, valueKey, (b) => ["json+gz+aes", b[1], 1]);
    expect(find(await readError(saver), CheckpointIntegrityError)?.reason).toBe("authentication");
  });

  it("with its key id changed to an unknown one fails with MissingKeyError naming it", async () => {
    const { keyv, saver, valueKey } = await stored();
    await tamper(keyv, valueKey, (b, bytes) => {
      bytes.set(Buffer.from("k9"), 2);
      return [b[0], bytes.toString("base64"), 1];
    });
    expect(find(await readError(saver), MissingKeyError)?.keyId).toBe("k9");
  });

  it("replaced by a plaintext value fails in strict mode", async () => {
    const { keyv, saver, valueKey } = await stored();
    await keyv.set(valueKey, ["json", JSON.stringify("injected")]);
    expect(find(await readError(saver), CheckpointIntegrityError)?.reason).toBe("not-encrypted");
  });
});
