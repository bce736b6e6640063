import { once } from "node:events";
import { constants, createBrotliCompress, createGzip } from "node:zlib";
import {
  CheckpointIntegrityError,
  compressed,
  DecompressionLimitError,
  encrypted,
  InvalidArgumentError,
  isDecompressionLimitError,
} from "@graphkeep/serde";
import { JsonPlusSerializer } from "@langchain/langgraph-checkpoint";
import { describe, expect, it } from "vitest";
import { key0, randomText } from "./helpers.js";

const MiB = 1024 * 1024;

/**
 * A JSON string of `mib` MiB of "a" compressed as it streams (the test itself never holds the inflated value): the
 * small stored value an attacker with write access to the store plants.
 */
async function bomb(algorithm: "brotli" | "gzip", mib: number): Promise<Uint8Array> {
  const z =
    algorithm === "brotli"
      ? createBrotliCompress({ params: { [constants.BROTLI_PARAM_QUALITY]: 5 } })
      : createGzip({ level: 9 });
  const parts: Buffer[] = [];
  z.on("data", (c: Buffer) => parts.push(c));
  const done = once(z, "end");
  const chunk = Buffer.alloc(MiB, "a");
  z.write('"');
  for (let i = 0; i < mib; i++) if (!z.write(chunk)) await once(z, "drain");
  z.end('"');
  await done;
  return new Uint8Array(Buffer.concat(parts));
}

async function failure(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    (v) => ({ returned: typeof v === "string" ? `${v.length} chars` : v }),
    (e: unknown) => e,
  );
}

describe("a decompression bomb in the store", () => {
  it("fails with DecompressionLimitError under the default limit, and memory stays bounded", async () => {
    const planted = await bomb("brotli", 400);
    expect(planted.byteLength).toBeLessThan(200 * 1024); // a small value …
    const serde = compressed(new JsonPlusSerializer());
    global.gc?.();
    const before = process.memoryUsage().rss;
    const err = await failure(serde.loadsTyped("json+br", planted)); // … that inflates to 400 MiB
    const grown = process.memoryUsage().rss - before;
    expect(grown, "RSS growth").toBeLessThan(200 * MiB);
    expect((err as { code?: unknown }).code).toBe("DECOMPRESSION_LIMIT");
    expect(err).toBeInstanceOf(DecompressionLimitError);
    expect(isDecompressionLimitError(err)).toBe(true);
    expect((err as DecompressionLimitError).code).toBe("DECOMPRESSION_LIMIT");
    expect((err as DecompressionLimitError).limit).toBe(64 * MiB);
    expect((err as DecompressionLimitError).type).toBe("json+br");
  });

  it.each(["brotli", "gzip"] as const)("is stopped at maxInflatedBytes for %s values", async (algorithm) => {
    const planted = await bomb(algorithm, 8);
    const tag = algorithm === "brotli" ? "json+br" : "json+gz";
    const serde = compressed(new JsonPlusSerializer(), { maxInflatedBytes: 4 * MiB });
    const err = await failure(serde.loadsTyped(tag, planted));
    expect(err).toBeInstanceOf(DecompressionLimitError);
    expect((err as DecompressionLimitError).limit).toBe(4 * MiB);
    expect((err as Error).message).toMatch(/maxInflatedBytes/);
  });

  it("is stopped whatever algorithm the serde writes with (reading follows the type tag)", async () => {
    const gzipWriter = compressed(new JsonPlusSerializer(), { algorithm: "gzip", maxInflatedBytes: MiB });
    expect(await failure(gzipWriter.loadsTyped("json+br", await bomb("brotli", 4)))).toBeInstanceOf(
      DecompressionLimitError,
    );
  });

  it("is stopped behind encryption too (a bomb encrypted with a stolen key)", async () => {
    const writer = encrypted(compressed(new JsonPlusSerializer(), { minBytes: 0 }), {
      keys: { k: key0 },
      activeKeyId: "k",
    });
    const reader = encrypted(compressed(new JsonPlusSerializer(), { maxInflatedBytes: 2 * MiB }), {
      keys: { k: key0 },
      activeKeyId: "k",
    });
    const [type, bytes] = await writer.dumpsTyped("a".repeat(3 * MiB));
    expect(type).toBe("json+br+aes");
    expect(await failure(reader.loadsTyped(type, bytes))).toBeInstanceOf(DecompressionLimitError);
  });
});

describe("maxInflatedBytes", () => {
  it("lets values up to the limit through", async () => {
    const serde = compressed(new JsonPlusSerializer(), { maxInflatedBytes: 64 * 1024 });
    const value = randomText(60_000);
    const [type, bytes] = await serde.dumpsTyped(value);
    expect(type).toBe("json+br");
    expect(await serde.loadsTyped(type, bytes)).toBe(value);
  });

  it("still reports a truncated value as CheckpointIntegrityError, not as a limit", async () => {
    const serde = compressed(new JsonPlusSerializer());
    const [type, bytes] = await serde.dumpsTyped(randomText(10_000));
    expect(await failure(serde.loadsTyped(type, bytes.slice(0, bytes.length >> 1)))).toBeInstanceOf(
      CheckpointIntegrityError,
    );
  });

  it.each([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, "64MB"])("refuses %s", (bad) => {
    expect(() => compressed(new JsonPlusSerializer(), { maxInflatedBytes: bad as number })).toThrow(
      InvalidArgumentError,
    );
  });
});
