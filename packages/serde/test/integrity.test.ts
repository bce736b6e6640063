import {
  CheckpointIntegrityError,
  encrypted,
  isCheckpointIntegrityError,
  isMissingKeyError,
  MissingKeyError,
} from "@graphkeep/serde";
import { JsonPlusSerializer, type SerializerProtocol } from "@langchain/langgraph-checkpoint";
import { describe, expect, it } from "vitest";
import { key0, key1, randomText, stack } from "./helpers.js";

const secret = { note: "the launch code is 0000", history: randomText(5000) };
const writer = stack({ k1: key1, k0: key0 }, "k1");

async function failure(serde: SerializerProtocol, type: string, data: Uint8Array | string): Promise<unknown> {
  try {
    const v = await serde.loadsTyped(type, data);
    return { returned: v };
  } catch (e) {
    return e;
  }
}

function flipped(bytes: Uint8Array, at: number): Uint8Array {
  const out = bytes.slice();
  out[at]! ^= 0x01;
  return out;
}

const [type, bytes] = await writer.dumpsTyped(secret);

describe("a tampered encrypted value", () => {
  const keyIdEnd = 2 + 2; // version, length, "k1"
  const regions: Record<string, number> = {
    "the version byte": 0,
    "the nonce": keyIdEnd + 3,
    "the first ciphertext byte": keyIdEnd + 12,
    "a ciphertext byte in the middle": bytes.length >> 1,
    "the authentication tag": bytes.length - 1,
  };

  it.each(Object.entries(regions))("is refused with a CheckpointIntegrityError when %s is flipped", async (_r, at) => {
    const err = await failure(writer, type, flipped(bytes, at));
    expect(err).toBeInstanceOf(CheckpointIntegrityError);
    expect(isCheckpointIntegrityError(err)).toBe(true);
  });

  it("is refused when every single byte is flipped, one at a time (sampled)", async () => {
    for (let at = 0; at < bytes.length; at += Math.max(1, Math.floor(bytes.length / 257))) {
      const err = await failure(writer, type, flipped(bytes, at));
      expect(isCheckpointIntegrityError(err) || isMissingKeyError(err), `byte ${at}`).toBe(true);
    }
  });

  it.each([1, 2, 3, 10, 16, 17, 30])("is refused when truncated to %i bytes", async (n) => {
    const err = await failure(writer, type, bytes.slice(0, n));
    expect(err).toBeInstanceOf(CheckpointIntegrityError);
  });

  it("is refused when its last bytes are cut off", async () => {
    const err = await failure(writer, type, bytes.slice(0, bytes.length - 1));
    expect(err).toBeInstanceOf(CheckpointIntegrityError);
    expect((err as CheckpointIntegrityError).reason).toBe("authentication");
  });

  it("is refused when read under another type tag", async () => {
    for (const other of ["json+aes", "bytes+br+aes", "json+gz+aes"]) {
      const err = await failure(writer, other, bytes);
      expect(err, other).toBeInstanceOf(CheckpointIntegrityError);
      expect((err as CheckpointIntegrityError).reason).toBe("authentication");
    }
  });

  it("is refused when its key id is changed to another key of the ring", async () => {
    const swapped = bytes.slice();
    swapped.set(Buffer.from("k0"), 2);
    const err = await failure(writer, type, swapped);
    expect(err).toBeInstanceOf(CheckpointIntegrityError);
  });

  it("names the key id when it is changed to one the ring does not hold", async () => {
    const swapped = bytes.slice();
    swapped.set(Buffer.from("k7"), 2);
    const err = await failure(writer, type, swapped);
    expect(err).toBeInstanceOf(MissingKeyError);
    expect(isMissingKeyError(err)).toBe(true);
    expect((err as MissingKeyError).keyId).toBe("k7");
    expect((err as Error).message).toMatch(/key "k7", which is not in the keyring/);
  });

  it("is refused when handed back as a string (a saver that is not binary-safe)", async () => {
    const err = await failure(writer, type, Buffer.from(bytes).toString("latin1"));
    expect(err).toBeInstanceOf(CheckpointIntegrityError);
  });

  it("is refused when the store hands back something that is not bytes", async () => {
    const err = await failure(writer, type, null as unknown as Uint8Array);
    expect(err).toBeInstanceOf(CheckpointIntegrityError);
    expect((err as CheckpointIntegrityError).reason).toBe("envelope");
  });
});

describe("keys", () => {
  it("a value encrypted with a key that left the ring fails with MissingKeyError naming it", async () => {
    const [type, bytes] = await stack({ old: key0 }, "old").dumpsTyped(secret);
    const err = await failure(stack({ new: key1 }, "new"), type, bytes);
    expect(err).toBeInstanceOf(MissingKeyError);
    expect((err as MissingKeyError).keyId).toBe("old");
  });

  it("a value read with a different key under the same id fails authentication", async () => {
    const [type, bytes] = await stack({ k: key0 }, "k").dumpsTyped(secret);
    const err = await failure(stack({ k: key1 }, "k"), type, bytes);
    expect(err).toBeInstanceOf(CheckpointIntegrityError);
  });

  it("old keys decrypt and the active key encrypts", async () => {
    const [oldType, oldBytes] = await stack({ "2026-05": key0 }, "2026-05").dumpsTyped(secret);
    const rotated = stack({ "2026-11": key1, "2026-05": key0 }, "2026-11");
    expect(await rotated.loadsTyped(oldType, oldBytes)).toEqual(secret);
    const [, fresh] = await rotated.dumpsTyped(secret);
    expect(Buffer.from(fresh.subarray(2, 2 + fresh[1]!)).toString()).toBe("2026-11");
  });
});

describe("strict mode", () => {
  it("refuses a value that is not encrypted, by default", async () => {
    const [type, bytes] = await new JsonPlusSerializer().dumpsTyped(secret);
    const err = await failure(writer, type, bytes);
    expect(err).toBeInstanceOf(CheckpointIntegrityError);
    expect((err as CheckpointIntegrityError).reason).toBe("not-encrypted");
    expect((err as Error).message).toMatch(/strict: false/);
  });

  it("refuses a tag stripped of +aes over the raw ciphertext", async () => {
    const err = await failure(writer, type.replace(/\+aes$/, ""), bytes);
    expect(err).toBeInstanceOf(CheckpointIntegrityError);
  });

  it("with strict: false passes plaintext to the inner serde (migration)", async () => {
    const lenient = stack({ k1: key1 }, "k1", false);
    const [type, bytes] = await new JsonPlusSerializer().dumpsTyped(secret);
    expect(await lenient.loadsTyped(type, bytes)).toEqual(secret);
    const [newType] = await lenient.dumpsTyped(secret);
    expect(newType).toMatch(/\+aes$/);
  });

  it("with strict: false still authenticates encrypted values", async () => {
    const lenient = encrypted(new JsonPlusSerializer(), { keys: { k1: key1 }, activeKeyId: "k1", strict: false });
    const [type, bytes] = await lenient.dumpsTyped(secret);
    const err = await failure(lenient, type, flipped(bytes, bytes.length - 3));
    expect(err).toBeInstanceOf(CheckpointIntegrityError);
  });
});
