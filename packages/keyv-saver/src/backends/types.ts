import type Keyv from "keyv";

/** One key to write, as the saver names it (before the Keyv namespace) and its value (before Keyv serialization). */
export interface BatchEntry {
  key: string;
  value: unknown;
}

/**
 * A checkpoint's writes: every entry, then the thread index that makes them visible. `expect` is the token the
 * stored index must still carry (`null`: the index must not exist yet); when it does not, nothing is written.
 */
export interface CommitBatch {
  entries: BatchEntry[];
  /** the conditional key: an index (`expect` its token), or any value written only when the key is absent (`expect: null`) */
  index: { key: string; value: unknown; expect: string | null };
}

/**
 * What the saver knows about the adapter under a Keyv: the fixes it needs before first use, and, where the
 * engine can do it, an atomic conditional write of a whole checkpoint in one round trip.
 */
export interface Backend {
  /** `memory`, `sqlite`, `redis`, `redis-cluster`, `postgres`, `mysql` or `generic` */
  readonly name: string;
  /** Adapter fixes (error surfacing, cluster connection, case-sensitive keys, WAL); runs once, before first use. */
  prepare(): Promise<void>;
  /**
   * Writes every entry and the index in one round trip, all or nothing, only when the stored index still carries
   * `index.expect`. Resolves `false` (nothing written) when it does not. Absent where the engine cannot.
   */
  commit?: ((batch: CommitBatch) => Promise<boolean>) | undefined;
  /** Store round trips one `commit` takes (two where the engine needs ordered statements). @default 1 */
  readonly commitRoundTrips?: number | undefined;
}

/** The stored form of index values starts with this, so engines can check the token without parsing JSON. */
export function tokenPrefix(token: string): string {
  return `{"value":{"g":"${token}"`;
}

/** Keys and values exactly as Keyv would store them (namespace prefix, serializer), for writes below Keyv. */
export interface RawCodec {
  key(key: string): string;
  value(value: unknown): Promise<string>;
}

/** keyv's default serializer (@keyv/serialize) escapes strings that start with ":"; JSON.stringify with this is the same. */
const escapeColon = (_key: string, v: unknown) => (typeof v === "string" && v.charCodeAt(0) === 58 ? `:${v}` : v);

let defaultSerializer: unknown;

/**
 * The codec of a Keyv, or `undefined` when its serializer is not the JSON one (compression, custom serializer):
 * the index token could not be checked in the stored text, so no atomic path is used. With keyv's default
 * serializer, values are serialized by native `JSON.stringify` (the same text, several times faster: the saver
 * stores no Buffers, the one type that serializer treats specially).
 */
export async function rawCodec(
  keyv: Keyv,
  adapterKey: (k: string) => string = (k) => k,
): Promise<RawCodec | undefined> {
  const probe = await keyv.serializeData({ value: { g: "probe0", v: 1 }, expires: undefined });
  if (typeof probe !== "string" || !probe.startsWith(tokenPrefix("probe0"))) return undefined;
  defaultSerializer ??= new (keyv.constructor as new () => Keyv)().serialize;
  const native = keyv.serialize === defaultSerializer && keyv.compression === undefined;
  return {
    key: (k) => adapterKey(keyv._getKeyPrefix(k)),
    value: native
      ? async (v) => JSON.stringify({ value: v }, escapeColon)
      : async (v) => (await keyv.serializeData({ value: v, expires: undefined })) as string,
  };
}
