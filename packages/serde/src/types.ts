import type { SerdeBinding } from "@graphkeep/core";
import type { SerializerProtocol } from "@langchain/langgraph-checkpoint";

/** Compression algorithm of {@link compressed}: Node's zlib brotli or gzip. */
export type CompressionAlgorithm = "brotli" | "gzip";

/** Options of {@link compressed}. */
export interface CompressedOptions {
  /**
   * Algorithm for values this serde writes. Reading does not depend on it: the type tag of every stored value
   * says how it was compressed (`+br` or `+gz`).
   * @default "brotli"
   */
  algorithm?: CompressionAlgorithm | undefined;
  /**
   * Values whose serialized size is under this many bytes are stored uncompressed (with the inner type tag).
   * @default 1024
   */
  minBytes?: number | undefined;
  /**
   * Compression level: brotli quality 0–11, gzip level 0–9.
   * @default 4 for brotli, 6 for gzip
   */
  level?: number | undefined;
  /**
   * The most bytes one stored value may inflate to. Decompression stops there with `DecompressionLimitError`
   * (code `DECOMPRESSION_LIMIT`), so a small value written into the store to inflate to gigabytes (a decompression
   * bomb) costs at most this much memory. Applies to every codec read (`+br`, `+gz`), whatever `algorithm` is.
   * 64 MiB: far above a LangGraph state value that is practical to re-serialize every step, and low enough that
   * the buffer plus its deserialization (several times its size in the heap) fit a default Node heap.
   * @default 67108864 (64 MiB)
   */
  maxInflatedBytes?: number | undefined;
}

/** Key material: 32 bytes, as a `Uint8Array`/`Buffer` or a base64 string. */
export type KeyMaterial = Uint8Array | string;

/** Options of {@link encrypted}. */
export interface EncryptedOptions {
  /**
   * The keyring: key id → 32-byte AES-256 key (bytes or base64). Every key decrypts; keep old keys until
   * {@link rotate} has re-encrypted what they encrypted. Key ids are 1–255 bytes of UTF-8 without `\0`.
   */
  keys: Record<string, KeyMaterial>;
  /** The id of the key new values are encrypted with. It must be in `keys`. */
  activeKeyId: string;
  /**
   * Refuse to read values that are not encrypted (`CheckpointIntegrityError`). `false` passes them to the inner
   * serde: for a store written before encryption was turned on, until {@link rotate} has encrypted it.
   * @default true
   */
  strict?: boolean | undefined;
  /**
   * Refuse, in bound reads (`loadsTypedBound`), values in the unbound version-1 envelope that `dumpsTyped` and
   * releases before 0.2 write (`CheckpointIntegrityError`, reason `"binding"`): such a value could have been moved
   * from another thread, channel or version. Turn it on once {@link rotate}, run through a saver that passes each
   * payload's binding, has rebound the store. Plain `loadsTyped` is not affected.
   * @default false
   */
  requireBinding?: boolean | undefined;
}

/** Progress of {@link rotate}, reported after each thread and returned at the end. */
export interface RotateProgress {
  /** Threads re-encrypted so far. */
  threadsDone: number;
  /** Threads to re-encrypt (listed when the rotation started). */
  threadsTotal: number;
  /** Stored values rewritten so far (values already under the active key are not rewritten). */
  valuesRewritten: number;
}

/** Options of {@link rotate}. */
export interface RotateOptions {
  /**
   * Re-encrypt only this thread.
   * @default undefined (every thread the saver lists)
   */
  threadId?: string | undefined;
  /**
   * The `encrypted()` serde to re-encrypt with.
   * @default saver.serde
   */
  serde?: SerializerProtocol | undefined;
  /** Called after each thread. */
  onProgress?: ((progress: RotateProgress) => void) | undefined;
  /** Stops the rotation between two values; what was rewritten stays rewritten (and readable). */
  signal?: AbortSignal | undefined;
}

/**
 * Replaces one stored payload: gets it as the serde wrote it (`[type, bytes]`) and, from a saver that knows it,
 * where it is stored (`binding`), and returns the replacement, or `undefined` to keep it as is.
 */
export type RewritePayload = (
  type: string,
  data: Uint8Array,
  binding?: SerdeBinding | undefined,
) => Promise<[type: string, data: Uint8Array] | undefined>;

/**
 * What {@link rotate} needs from a saver: any saver that can list its threads and rewrite its stored payloads in
 * place (`KeyvSaver` with `rewriteValues`).
 */
export interface RewritableSaver {
  /** The serde the saver reads and writes with. */
  readonly serde: SerializerProtocol;
  /** Every thread in the store. */
  listThreads(): AsyncIterable<{ threadId: string }>;
  /**
   * Passes every serialized payload of a thread (checkpoints, metadata, channel values, pending writes) through
   * `rewrite` and stores each replacement in place, one store key at a time, so that a crash leaves every key
   * either as it was or rewritten. Resolves to the number of payloads replaced. A saver that stores bound values
   * passes each payload's {@link SerdeBinding} as the third argument, so that {@link rotate} can authenticate it and
   * rebind values written unbound.
   */
  rewriteValues(threadId: string, rewrite: RewritePayload): Promise<number>;
}
