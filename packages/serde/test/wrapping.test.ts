import { randomBytes } from "node:crypto";
import {
  CheckpointIntegrityError,
  compressed,
  encrypted,
  InvalidArgumentError,
  InvalidKeyError,
  isInvalidKeyError,
} from "@graphkeep/serde";
import { JsonPlusSerializer, type SerializerProtocol } from "@langchain/langgraph-checkpoint";
import { describe, expect, it } from "vitest";
import { key0, key1, randomText, roundTrip } from "./helpers.js";

const json = () => new JsonPlusSerializer();
const big = { text: randomText(8000) };
const small = { text: "short" };
const ring = { keys: { k0: key0 }, activeKeyId: "k0" };

describe("composition", () => {
  it("returns a SerializerProtocol that can be wrapped again in the fixed order", async () => {
    const serde: SerializerProtocol = encrypted(compressed(json()), ring);
    expect(typeof serde.dumpsTyped).toBe("function");
    expect(typeof serde.loadsTyped).toBe("function");
    expect(await roundTrip(serde, big)).toEqual(big);
  });

  it("refuses to compress twice", () => {
    expect(() => compressed(compressed(json()))).toThrow(InvalidArgumentError);
    expect(() => compressed(compressed(json()), { algorithm: "gzip" })).toThrow(/already compressed/);
  });

  it("refuses to encrypt twice, even with compression in between", () => {
    expect(() => encrypted(encrypted(json(), ring), ring)).toThrow(/already encrypted/);
  });

  it("refuses to compress ciphertext and says to compress first", () => {
    expect(() => compressed(encrypted(json(), ring))).toThrow(InvalidArgumentError);
    expect(() => compressed(encrypted(compressed(json()), ring))).toThrow(InvalidArgumentError);
    expect(() => compressed(encrypted(json(), ring))).toThrow(/encrypted\(compressed\(serde\)/);
  });

  it("refuses an inner serde whose type tag already carries a layer suffix (a double wrap through another wrapper)", async () => {
    const inner = encrypted(json(), ring);
    const disguised: SerializerProtocol = {
      dumpsTyped: (v) => inner.dumpsTyped(v),
      loadsTyped: (t, d) => inner.loadsTyped(t, d),
    };
    await expect(compressed(disguised).dumpsTyped(big)).rejects.toThrow(/already ends in "\+aes"/);
    await expect(encrypted(disguised, ring).dumpsTyped(big)).rejects.toThrow(InvalidArgumentError);
  });

  it("refuses something that is not a serde", () => {
    expect(() => compressed({} as SerializerProtocol)).toThrow(/must be a serde/);
    expect(() => encrypted(null as unknown as SerializerProtocol, ring)).toThrow(InvalidArgumentError);
  });
});

describe("compressed()", () => {
  it("tags brotli values json+br and gzip values json+gz", async () => {
    expect((await compressed(json()).dumpsTyped(big))[0]).toBe("json+br");
    expect((await compressed(json(), { algorithm: "gzip" }).dumpsTyped(big))[0]).toBe("json+gz");
  });

  it("leaves values under minBytes uncompressed with the inner type tag", async () => {
    const serde = compressed(json(), { minBytes: 1024 });
    const [type, bytes] = await serde.dumpsTyped(small);
    expect(type).toBe("json");
    expect(new TextDecoder().decode(bytes)).toBe(JSON.stringify(small));
    const [bigType] = await compressed(json(), { minBytes: 100_000 }).dumpsTyped(big);
    expect(bigType).toBe("json");
  });

  it("compresses everything with minBytes: 0", async () => {
    expect((await compressed(json(), { minBytes: 0 }).dumpsTyped({ text: "a".repeat(200) }))[0]).toBe("json+br");
  });

  it("stores a value that does not shrink as is", async () => {
    const noise = randomBytes(4096);
    const [type, bytes] = await compressed(json()).dumpsTyped(new Uint8Array(noise));
    expect(type).toBe("bytes");
    expect(Buffer.from(bytes).equals(noise)).toBe(true);
  });

  it("makes compressible values much smaller", async () => {
    const [, plainBytes] = await json().dumpsTyped(big);
    const [, packed] = await compressed(json()).dumpsTyped(big);
    expect(packed.byteLength).toBeLessThan(plainBytes.byteLength / 2);
  });

  it("reads +br and +gz values whatever algorithm it now writes with", async () => {
    const [brType, br] = await compressed(json(), { algorithm: "brotli" }).dumpsTyped(big);
    const [gzType, gz] = await compressed(json(), { algorithm: "gzip" }).dumpsTyped(big);
    for (const reader of [compressed(json(), { algorithm: "gzip" }), compressed(json(), { algorithm: "brotli" })]) {
      expect(await reader.loadsTyped(brType, br)).toEqual(big);
      expect(await reader.loadsTyped(gzType, gz)).toEqual(big);
    }
  });

  it("reads values written before compression was turned on", async () => {
    const [type, bytes] = await json().dumpsTyped(big);
    expect(await compressed(json()).loadsTyped(type, bytes)).toEqual(big);
  });

  it("honours level", async () => {
    const fast = (await compressed(json(), { level: 0 }).dumpsTyped(big))[1].byteLength;
    const best = (await compressed(json(), { level: 11 }).dumpsTyped(big))[1].byteLength;
    expect(best).toBeLessThan(fast);
  });

  it("rejects out-of-range options with a message that says what is allowed", () => {
    expect(() => compressed(json(), { algorithm: "zstd" as "gzip" })).toThrow(/"brotli" or "gzip"/);
    expect(() => compressed(json(), { minBytes: -1 })).toThrow(/minBytes/);
    expect(() => compressed(json(), { algorithm: "gzip", level: 10 })).toThrow(/0 to 9/);
    expect(() => compressed(json(), { level: 12 })).toThrow(/0 to 11/);
    expect(() => compressed(json(), { level: 1.5 })).toThrow(InvalidArgumentError);
  });

  it("reports a corrupt compressed value as a CheckpointIntegrityError", async () => {
    const [type, bytes] = await compressed(json()).dumpsTyped(big);
    const broken = bytes.slice(0, bytes.length >> 1);
    const err = await compressed(json())
      .loadsTyped(type, broken)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CheckpointIntegrityError);
    expect((err as CheckpointIntegrityError).reason).toBe("decompression");
  });
});

describe("encrypted()", () => {
  it("tags values with +aes after the inner tag", async () => {
    expect((await encrypted(json(), ring).dumpsTyped(small))[0]).toBe("json+aes");
    expect((await encrypted(compressed(json()), ring).dumpsTyped(big))[0]).toBe("json+br+aes");
    expect((await encrypted(compressed(json()), ring).dumpsTyped(small))[0]).toBe("json+aes");
    expect((await encrypted(json(), ring).dumpsTyped(new Uint8Array([1])))[0]).toBe("bytes+aes");
  });

  it("uses a fresh nonce for every value", async () => {
    const serde = encrypted(json(), ring);
    const a = (await serde.dumpsTyped(small))[1];
    const b = (await serde.dumpsTyped(small))[1];
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(false);
  });

  it("accepts keys as Uint8Array, Buffer, base64 and base64url", async () => {
    const writer = encrypted(json(), { keys: { k: key1.toString("base64") }, activeKeyId: "k" });
    const [type, bytes] = await writer.dumpsTyped(small);
    for (const k of [
      new Uint8Array(key1),
      key1,
      key1.toString("base64url"),
      key1.toString("base64").replace(/=+$/, ""),
    ]) {
      expect(await encrypted(json(), { keys: { k }, activeKeyId: "k" }).loadsTyped(type, bytes)).toEqual(small);
    }
  });

  it("copies the key material, so zeroing the caller's buffer afterwards changes nothing", async () => {
    const mine = Buffer.from(key1);
    const serde = encrypted(json(), { keys: { k: mine }, activeKeyId: "k" });
    const [type, bytes] = await serde.dumpsTyped(small);
    mine.fill(0);
    expect(await encrypted(json(), { keys: { k: key1 }, activeKeyId: "k" }).loadsTyped(type, bytes)).toEqual(small);
  });

  it("rejects a key that is not 32 bytes, naming the key", () => {
    const err = (() => {
      try {
        encrypted(json(), { keys: { short: randomBytes(16) }, activeKeyId: "short" });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(InvalidKeyError);
    expect(isInvalidKeyError(err)).toBe(true);
    expect((err as InvalidKeyError).keyId).toBe("short");
    expect((err as Error).message).toMatch(/16 bytes; AES-256 needs exactly 32/);
  });

  it("rejects a string key that is not base64", () => {
    expect(() => encrypted(json(), { keys: { k: "not base64!" }, activeKeyId: "k" })).toThrow(InvalidKeyError);
  });

  it("rejects an activeKeyId that is not in the keyring, listing the keys it has", () => {
    expect(() => encrypted(json(), { keys: { k0: key0 }, activeKeyId: "k9" })).toThrow(InvalidKeyError);
    expect(() => encrypted(json(), { keys: { k0: key0 }, activeKeyId: "k9" })).toThrow(/keys: "k0"/);
  });

  it("rejects key ids that cannot be stored in the envelope", () => {
    expect(() => encrypted(json(), { keys: { "": key0 }, activeKeyId: "" })).toThrow(InvalidKeyError);
    expect(() => encrypted(json(), { keys: { ["x".repeat(256)]: key0 }, activeKeyId: "x" })).toThrow(InvalidKeyError);
    expect(() => encrypted(json(), { keys: { "a\0b": key0 }, activeKeyId: "a\0b" })).toThrow(InvalidKeyError);
  });

  it("requires options and a boolean strict", () => {
    expect(() => encrypted(json(), undefined as never)).toThrow(/options are required/);
    expect(() => encrypted(json(), { ...ring, strict: "no" as unknown as boolean })).toThrow(InvalidArgumentError);
  });
});
