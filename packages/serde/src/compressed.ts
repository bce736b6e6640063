import { promisify } from "node:util";
import { brotliCompress, brotliDecompress, constants, gunzip, gzip } from "node:zlib";
import { CheckpointIntegrityError, InvalidArgumentError } from "@graphkeep/core";
import type { SerializerProtocol } from "@langchain/langgraph-checkpoint";
import { describe, toBytes } from "./bytes.js";
import { checkInnerType, checkWrappable, register, SUFFIX } from "./layers.js";
import type { CompressedOptions, CompressionAlgorithm } from "./types.js";

const DEFAULTS = { algorithm: "brotli", minBytes: 1024 } as const satisfies CompressedOptions;
const LEVELS = { brotli: { min: 0, max: 11, default: 4 }, gzip: { min: 0, max: 9, default: 6 } } as const;
const RESERVED = [SUFFIX.brotli, SUFFIX.gzip, SUFFIX.aes];

const zip = { brotli: promisify(brotliCompress), gzip: promisify(gzip) };
const unzip = { brotli: promisify(brotliDecompress), gzip: promisify(gunzip) };

/**
 * Wraps a serde so that values of `minBytes` or more are compressed with Node's zlib (brotli or gzip, async).
 * The type tag records what was done: `json` → `json+br` / `json+gz`; smaller values, and values that do not
 * shrink, keep the inner type tag. Reading strips the suffix, whatever `algorithm` is set now.
 *
 * @param inner The serde to wrap, e.g. `new JsonPlusSerializer()`.
 * @param options `algorithm`, `minBytes`, `level`.
 * @throws {InvalidArgumentError} when `inner` is not a serde, is already compressed or encrypted (compress
 * before encrypting: `encrypted(compressed(serde))`), or an option is out of range.
 * @example
 * const serde = compressed(new JsonPlusSerializer(), { algorithm: "brotli", minBytes: 1024 });
 * const saver = new KeyvSaver(keyv, { serde });
 */
export function compressed(inner: SerializerProtocol, options: CompressedOptions = {}): SerializerProtocol {
  const base = checkWrappable("compressed", "compression", inner);
  const opts = { ...DEFAULTS, ...stripUndefined(options) };
  const algorithm: CompressionAlgorithm = opts.algorithm;
  if (algorithm !== "brotli" && algorithm !== "gzip") {
    throw new InvalidArgumentError(`compressed: algorithm must be "brotli" or "gzip", got ${describe(algorithm)}`);
  }
  if (!(typeof opts.minBytes === "number" && Number.isFinite(opts.minBytes) && opts.minBytes >= 0)) {
    throw new InvalidArgumentError(
      `compressed: minBytes must be a number of bytes >= 0, got ${describe(opts.minBytes)}`,
    );
  }
  const range = LEVELS[algorithm];
  const level = opts.level ?? range.default;
  if (!(Number.isInteger(level) && level >= range.min && level <= range.max)) {
    throw new InvalidArgumentError(
      `compressed: level for ${algorithm} must be an integer from ${range.min} to ${range.max}, got ${describe(level)}`,
    );
  }
  const suffix = SUFFIX[algorithm];
  const minBytes = opts.minBytes;

  const compress = (bytes: Uint8Array): Promise<Uint8Array> =>
    algorithm === "brotli"
      ? zip.brotli(bytes, {
          params: {
            [constants.BROTLI_PARAM_QUALITY]: level,
            [constants.BROTLI_PARAM_SIZE_HINT]: bytes.byteLength,
          },
        })
      : zip.gzip(bytes, { level });

  const serde: SerializerProtocol = {
    async dumpsTyped(data: unknown): Promise<[string, Uint8Array]> {
      const [rawType, bytes] = await base.dumpsTyped(data);
      const type = checkInnerType("compressed", rawType, RESERVED);
      if (bytes.byteLength < minBytes) return [type, bytes];
      const packed = await compress(bytes);
      // a value that does not shrink (already compressed, random) is stored as is
      if (packed.byteLength >= bytes.byteLength) return [type, bytes];
      return [type + suffix, new Uint8Array(packed.buffer, packed.byteOffset, packed.byteLength)];
    },

    async loadsTyped(type: string, data: Uint8Array | string): Promise<unknown> {
      const algo = type.endsWith(SUFFIX.brotli) ? "brotli" : type.endsWith(SUFFIX.gzip) ? "gzip" : undefined;
      if (algo === undefined) return base.loadsTyped(type, data);
      const innerType = type.slice(0, -SUFFIX[algo].length);
      const bytes = toBytes(data);
      let plain: Buffer;
      try {
        if (bytes === undefined) throw new TypeError(`the payload is ${describe(data)}, not bytes`);
        plain = await unzip[algo](bytes);
      } catch (e) {
        throw new CheckpointIntegrityError(
          "decompression",
          `compressed: a stored value of type "${type}" does not decompress (${e instanceof Error ? e.message : String(e)}); it was truncated or modified in the store`,
          { cause: e },
        );
      }
      return base.loadsTyped(innerType, new Uint8Array(plain.buffer, plain.byteOffset, plain.byteLength));
    },
  };
  return register(serde, { kind: "compression", inner: base });
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
