import type { StoredBlob } from "./codec.js";
import { type Delta, Pieces } from "./delta.js";

type Version = string | number;

/** A channel value stored as a delta: `[serdeType, mid, 2, prefixLength, suffixLength, baseVersion]`. */
export type DeltaValue = [type: string, mid: string, kind: 2, p: number, s: number, base: Version];
/** What a value key holds: a whole serialized value or a delta against the channel's previous version. */
export type StoredValue = StoredBlob | DeltaValue;

export function isDeltaValue(x: unknown): x is DeltaValue {
  return (
    Array.isArray(x) &&
    x.length === 6 &&
    x[2] === 2 &&
    typeof x[0] === "string" &&
    typeof x[1] === "string" &&
    typeof x[3] === "number" &&
    typeof x[4] === "number" &&
    (typeof x[5] === "string" || typeof x[5] === "number")
  );
}

export function deltaValue(type: string, d: Delta, base: Version): DeltaValue {
  return [type, d.mid, 2, d.p, d.s, base];
}

/** Why a value could not be rebuilt; the saver turns it into a CheckpointCorruptError. */
export class BrokenValueError extends Error {
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Rebuilds whole values from stored values and delta chains. `fetched` holds what was already read;
 * missing chain links are read with `fetch` (normally never: records list their chains).
 */
export async function materialize(
  wanted: Array<[channel: string, version: Version]>,
  keyOf: (channel: string, version: Version) => string,
  fetched: Map<string, unknown>,
  fetch: (keys: string[]) => Promise<Array<unknown>>,
): Promise<Map<string, StoredBlob>> {
  const out = new Map<string, StoredBlob>();
  const memo = new Map<string, { type: string; pieces: Pieces }>();
  // read missing links, breadth first, until every wanted chain is complete (bounded by the chain length)
  for (let round = 0; round < 1000; round++) {
    const missing = new Set<string>();
    for (const [channel, version] of wanted) {
      let key = keyOf(channel, version);
      let raw = fetched.get(key);
      while (raw !== undefined && isDeltaValue(raw)) {
        key = keyOf(channel, raw[5]);
        if (!fetched.has(key)) {
          missing.add(key);
          break;
        }
        raw = fetched.get(key);
      }
    }
    if (missing.size === 0) break;
    const keys = [...missing];
    const got = await fetch(keys);
    keys.forEach((k, i) => {
      fetched.set(k, got[i]);
      if (got[i] === undefined) throw new BrokenValueError(k, `the base value at key "${k}" of a delta is missing`);
    });
  }
  // iterative (a chain can be thousands of links long): walk down to a whole value, then apply the deltas upward
  const build = (channel: string, version: Version): { type: string; pieces: Pieces } | undefined => {
    const links: Array<[key: string, delta: DeltaValue]> = [];
    let key = keyOf(channel, version);
    let base: { type: string; pieces: Pieces } | undefined;
    while (base === undefined) {
      base = memo.get(key);
      if (base !== undefined) break;
      const raw = fetched.get(key);
      const below = links[links.length - 1]?.[0];
      if (raw === undefined) {
        if (below === undefined) return undefined;
        throw new BrokenValueError(below, `the base of the delta at key "${below}" is missing`);
      }
      if (isDeltaValue(raw)) {
        if (links.length > 10_000) throw new BrokenValueError(key, `the delta chain at key "${key}" loops`);
        links.push([key, raw]);
        key = keyOf(channel, raw[5]);
        continue;
      }
      if (!Array.isArray(raw) || typeof raw[0] !== "string" || typeof raw[1] !== "string") {
        throw new BrokenValueError(key, `the value at key "${key}" is not a graphkeep value`);
      }
      if (raw[2] === 1) {
        // binary: returned as stored, never a delta base
        if (below === undefined) return undefined;
        throw new BrokenValueError(below, `the base of the delta at key "${below}" is missing`);
      }
      base = { type: raw[0], pieces: Pieces.of(raw[1]) };
      memo.set(key, base);
    }
    for (let i = links.length - 1; i >= 0; i--) {
      const [k, d] = links[i]!;
      try {
        base = { type: d[0], pieces: base.pieces.apply({ p: d[3], s: d[4], mid: d[1] }) };
      } catch (e) {
        throw new BrokenValueError(k, `the delta at key "${k}" does not fit its base: ${(e as Error).message}`);
      }
      memo.set(k, base);
    }
    return base;
  };
  for (const [channel, version] of wanted) {
    const key = keyOf(channel, version);
    const raw = fetched.get(key);
    if (raw === undefined) continue;
    if (!isDeltaValue(raw) && Array.isArray(raw) && raw[2] === 1) {
      out.set(channel, raw as StoredBlob);
      continue;
    }
    const built = build(channel, version);
    if (built) out.set(channel, [built.type, built.pieces.toString()]);
  }
  return out;
}
