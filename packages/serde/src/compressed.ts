import { constants as bufferConstants } from "node:buffer";
import { promisify } from "node:util";
import { brotliCompress, brotliDecompress, constants, gunzip, gzip } from "node:zlib";
import {
  type BindingAwareSerializer,
  CheckpointIntegrityError,
  encodeBinding,
  InvalidArgumentError,
  isBindingAware,
  type SerdeBinding,
} from "@graphkeep/core";
import type { SerializerProtocol } from "@langchain/langgraph-checkpoint";
import { describe, toBytes } from "./bytes.js";
import { DecompressionLimitError } from "./errors.js";
import { checkInnerType, checkWrappable, register, SUFFIX } from "./layers.js";
import type { CompressedOptions, CompressionAlgorithm } from "./types.js";

const DEFAULTS = {
  algorithm: "brotli",
  minBytes: 1024,
  maxInflatedBytes: 64 * 1024 * 1024,
} as const satisfies CompressedOptions;
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
export function compressed(inner: SerializerProtocol, options: CompressedOptions = {}): BindingAwareSerializer {
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
  const maxInflatedBytes = opts.maxInflatedBytes;
  if (
    !(Number.isSafeInteger(maxInflatedBytes) && maxInflatedBytes >= 1 && maxInflatedBytes <= bufferConstants.MAX_LENGTH)
  ) {
    throw new InvalidArgumentError(
      `compressed: maxInflatedBytes must be an integer from 1 to ${bufferConstants.MAX_LENGTH} (bytes), got ${describe(maxInflatedBytes)}`,
    );
  }

  const compress = (bytes: Uint8Array): Promise<Uint8Array> =>
    algorithm === "brotli"
      ? zip.brotli(bytes, {
          params: {
            [constants.BROTLI_PARAM_QUALITY]: level,
            [constants.BROTLI_PARAM_SIZE_HINT]: bytes.byteLength,
          },
        })
      : zip.gzip(bytes, { level });

  const dump = async (binding: SerdeBinding | undefined, data: unknown): Promise<[string, Uint8Array]> => {
    if (binding !== undefined) encodeBinding(binding); // validates it, whether or not the inner serde binds
    const [rawType, bytes] =
      binding !== undefined && isBindingAware(base)
        ? await base.dumpsTypedBound(binding, data)
        : await base.dumpsTyped(data);
    const type = checkInnerType("compressed", rawType, RESERVED);
    if (bytes.byteLength < minBytes) return [type, bytes];
    const packed = await compress(bytes);
    // a value that does not shrink (already compressed, random) is stored as is
    if (packed.byteLength >= bytes.byteLength) return [type, bytes];
    return [type + suffix, new Uint8Array(packed.buffer, packed.byteOffset, packed.byteLength)];
  };

  const load = async (binding: SerdeBinding | undefined, type: string, data: Uint8Array | string) => {
    if (binding !== undefined) encodeBinding(binding);
    const innerLoad = (t: string, d: Uint8Array | string) =>
      binding !== undefined && isBindingAware(base) ? base.loadsTypedBound(binding, t, d) : base.loadsTyped(t, d);
    const algo = type.endsWith(SUFFIX.brotli) ? "brotli" : type.endsWith(SUFFIX.gzip) ? "gzip" : undefined;
    if (algo === undefined) return innerLoad(type, data);
    const innerType = type.slice(0, -SUFFIX[algo].length);
    const bytes = toBytes(data);
    let plain: Buffer;
    try {
      if (bytes === undefined) throw new TypeError(`the payload is ${describe(data)}, not bytes`);
      // zlib stops (and frees its output) as soon as the output would pass the limit
      plain = await unzip[algo](bytes, { maxOutputLength: maxInflatedBytes });
    } catch (e) {
      if ((e as { code?: unknown } | null)?.code === "ERR_BUFFER_TOO_LARGE") {
        throw new DecompressionLimitError(type, maxInflatedBytes, { cause: e });
      }
      throw new CheckpointIntegrityError(
        "decompression",
        `compressed: a stored value of type "${type}" does not decompress (${e instanceof Error ? e.message : String(e)}); it was truncated or modified in the store`,
        { cause: e },
      );
    }
    return innerLoad(innerType, new Uint8Array(plain.buffer, plain.byteOffset, plain.byteLength));
  };

  const serde: BindingAwareSerializer = {
    dumpsTyped: (data: unknown) => dump(undefined, data),
    loadsTyped: (type: string, data: Uint8Array | string) => load(undefined, type, data),
    dumpsTypedBound: (binding: SerdeBinding, data: unknown) => dump(binding, data),
    loadsTypedBound: (binding: SerdeBinding, type: string, data: Uint8Array | string) => load(binding, type, data),
  };
  return register(serde, { kind: "compression", inner: base });
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
