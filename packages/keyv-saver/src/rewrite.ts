import type { SerdeBinding } from "@graphkeep/core";
import type { SaverInternals } from "./admin.js";
import { valueRefs } from "./admin.js";
import { checkpointBinding, metadataBinding, valueBinding, writeBinding } from "./bindings.js";
import { blobBytesOf, isStoredBlob, type StoredBlob, toBlob } from "./codec.js";
import { keys } from "./keys.js";
import { loadPages } from "./pages.js";
import { locateAll } from "./records.js";
import type { StoreEntry } from "./store.js";
import type { CheckpointRecord, WriteRecord } from "./types.js";
import { isDeltaValue, materialize } from "./values.js";

/**
 * Replaces one serialized payload, or keeps it (`undefined`). `binding` says where the payload is stored, for a
 * binding-aware serde (`loadsTypedBound` / `dumpsTypedBound`); a serde that binds must keep the binding.
 */
export type RewritePayload = (
  type: string,
  data: Uint8Array,
  binding: SerdeBinding,
) => Promise<[type: string, data: Uint8Array] | undefined>;

type Version = string | number;

async function rewriteBlob(
  blob: StoredBlob,
  fn: RewritePayload,
  binding: SerdeBinding,
): Promise<StoredBlob | undefined> {
  const out = await fn(blob[0], blobBytesOf(blob), binding);
  return out === undefined ? undefined : toBlob(out[0], out[1]);
}

/**
 * Passes every payload of a thread through `fn` and stores the replacements in place, each key in one write.
 * Values: every delta is materialized first; a replaced value is stored whole, and so is every delta that (through
 * its chain) depends on a replaced value; writes go dependents first, so a crash never leaves a delta over a base it
 * does not fit. Runs under the thread lock.
 */
export function rewriteValues(i: SaverInternals, threadId: string, fn: RewritePayload): Promise<number> {
  return i.lock.run(threadId, async () => {
    i.cache?.forget(threadId);
    const head = await i.readIndex(threadId);
    if (head === undefined) return 0;
    const all = locateAll(await loadPages(i.store, threadId, head));
    const recKeys = all.map((l) => keys.checkpoint(threadId, l.ns, l.id));
    const wKeys = all.map((l) => keys.writes(threadId, l.ns, l.id));
    const got = await i.store.getMany<unknown>([...recKeys, ...wKeys]);
    let replaced = 0;

    // channel values: [key, ns, channel, version] of every value a record names
    const refs = new Map<string, { ns: string; channel: string; version: Version }>();
    all.forEach((l, at) => {
      const rec = got[at] as CheckpointRecord | undefined;
      if (rec === undefined || typeof rec.cv !== "object" || !Array.isArray(rec.n)) return;
      for (const [channel, version] of valueRefs(rec)) {
        refs.set(keys.value(threadId, l.ns, channel, version), { ns: l.ns, channel, version });
      }
    });
    const valueKeys = [...refs.keys()];
    const raw = await i.store.getMany<unknown>(valueKeys);
    const fetched = new Map<string, unknown>(valueKeys.map((k, at) => [k, raw[at]]));
    const baseOf = new Map<string, string>();
    for (const [k, v] of fetched) {
      if (isDeltaValue(v)) baseOf.set(k, keys.value(threadId, refs.get(k)!.ns, refs.get(k)!.channel, v[5]));
    }
    const whole = new Map<string, StoredBlob>();
    const next = new Map<string, StoredBlob>();
    for (const [k, { ns, channel, version }] of refs) {
      if (fetched.get(k) === undefined) continue;
      const built = await materialize(
        [[channel, version]],
        (c, v) => keys.value(threadId, ns, c, v),
        fetched,
        (ks) => i.store.getMany<unknown>(ks),
      );
      const blob = built.get(channel);
      if (blob === undefined) continue;
      whole.set(k, blob);
      const out = await rewriteBlob(blob, fn, valueBinding(threadId, ns, channel, version));
      if (out !== undefined) {
        next.set(k, out);
        replaced += 1;
      }
    }
    // a delta over a replaced value (anywhere down its chain) is stored whole, as it reads now
    const depth = (k: string): number => {
      let d = 0;
      for (let b = baseOf.get(k); b !== undefined && d < 10_000; b = baseOf.get(b)) d += 1;
      return d;
    };
    const dependsOnReplaced = (k: string): boolean => {
      for (let b = baseOf.get(k), n = 0; b !== undefined && n < 10_000; b = baseOf.get(b), n++) {
        if (next.has(b)) return true;
      }
      return false;
    };
    for (const k of baseOf.keys()) if (!next.has(k) && dependsOnReplaced(k)) next.set(k, whole.get(k)!);
    const levels = new Map<number, StoreEntry[]>();
    for (const [key, value] of next) {
      const d = depth(key);
      levels.set(d, [...(levels.get(d) ?? []), { key, value }]);
    }
    for (const d of [...levels.keys()].sort((a, b) => b - a)) await i.store.setMany(levels.get(d)!);

    // checkpoint records (checkpoint + metadata) and pending writes, one key each
    for (let at = 0; at < all.length; at++) {
      const rec = got[at] as CheckpointRecord | undefined;
      if (rec !== undefined && isStoredBlob(rec.c) && isStoredBlob(rec.m)) {
        const l = all[at]!;
        const [c, m] = [
          await rewriteBlob(rec.c, fn, checkpointBinding(threadId, l.ns, l.id)),
          await rewriteBlob(rec.m, fn, metadataBinding(threadId, l.ns, l.id)),
        ];
        // the carried history of pruned ancestors holds payloads too
        let carriedChanged = 0;
        let dh = rec.dh;
        if (dh !== undefined && typeof dh === "object") {
          const next: NonNullable<CheckpointRecord["dh"]> = {};
          for (const [channel, h] of Object.entries(dh)) {
            const seed =
              h.s && isStoredBlob(h.s[2])
                ? await rewriteBlob(h.s[2], fn, valueBinding(threadId, l.ns, channel, h.s[1]))
                : undefined;
            const writes: typeof h.w = [];
            for (const [cid, w] of h.w) {
              const b = isStoredBlob(w[3])
                ? await rewriteBlob(w[3], fn, writeBinding(threadId, l.ns, cid, w))
                : undefined;
              if (b !== undefined) carriedChanged += 1;
              writes.push([cid, b === undefined ? w : [w[0], w[1], w[2], b, w[4]]]);
            }
            if (seed !== undefined) carriedChanged += 1;
            next[channel] = { w: writes, s: h.s && seed ? [h.s[0], h.s[1], seed] : h.s };
          }
          dh = next;
        }
        if (c !== undefined || m !== undefined || carriedChanged > 0) {
          replaced += (c ? 1 : 0) + (m ? 1 : 0) + carriedChanged;
          await i.store.setMany([{ key: recKeys[at]!, value: { ...rec, c: c ?? rec.c, m: m ?? rec.m, dh } }]);
        }
      }
      const doc = got[all.length + at];
      if (!Array.isArray(doc)) continue;
      let changed = false;
      const out: WriteRecord[] = [];
      for (const w of doc as WriteRecord[]) {
        const b = isStoredBlob(w[3])
          ? await rewriteBlob(w[3], fn, writeBinding(threadId, all[at]!.ns, all[at]!.id, w))
          : undefined;
        if (b !== undefined) {
          changed = true;
          replaced += 1;
        }
        out.push(b === undefined ? w : [w[0], w[1], w[2], b, w[4]]);
      }
      if (changed) await i.store.setMany([{ key: wKeys[at]!, value: out }]);
    }
    i.cache?.forget(threadId);
    return replaced;
  });
}
