import { isBindingAware, type SerdeBinding, ThreadExistsError } from "@graphkeep/core";
import type { SerializerProtocol } from "@langchain/langgraph-checkpoint";
import { checkpointBinding, metadataBinding, valueBinding, writeBinding } from "./bindings.js";
import type { StoredBlob } from "./codec.js";
import { blobBytes, encodeBlob, isStoredBlob } from "./codec.js";
import type { DeltaCache } from "./delta-cache.js";
import { keys } from "./keys.js";
import type { KeyedLock } from "./lock.js";
import { loadPages, pageKeys, repage } from "./pages.js";
import { isExpired, type Located, locateAll, neededRefs } from "./records.js";
import type { Registry } from "./registry.js";
import type { Store, StoreEntry } from "./store.js";
import type {
  CheckpointRecord,
  RawDeltaHistory,
  SaverStats,
  ThreadIndex,
  ThreadInfo,
  ThreadMeta,
  WriteRecord,
} from "./types.js";
import { isDeltaValue } from "./values.js";

type Version = string | number;

/** What the maintenance operations need from a saver. @internal */
export interface SaverInternals {
  store: Store;
  lock: KeyedLock;
  registry: Registry;
  cache: DeltaCache | undefined;
  ttl: number | undefined;
  /** the validated index, `undefined` when absent or expired */
  readIndex(threadId: string): Promise<ThreadIndex | undefined>;
  /** the stored form of an index rewritten outside `put`: a fresh token, and the saver forgets the old one */
  indexValue(threadId: string, idx: ThreadIndex): ThreadIndex;
  deleteThreadLocked(threadId: string): Promise<void>;
  purgeIfExpired(threadId: string): Promise<void>;
  /** the saver's serde */
  serde: SerializerProtocol;
  /** deserializes a stored payload of a checkpoint (typed errors on failure) */
  decode(
    blob: unknown,
    threadId: string,
    checkpointId: string | undefined,
    key: string,
    binding?: SerdeBinding,
  ): Promise<unknown>;
  /** the stored `DeltaChannel` history of a checkpoint (see `ReadPath.deltaHistory`) */
  deltaHistory(
    threadId: string,
    ns: string,
    checkpointId: string,
    channels: string[],
  ): Promise<Map<string, RawDeltaHistory>>;
}

/** Every channel value a record needs or wrote, as `[channel, version]`. */
export function valueRefs(rec: CheckpointRecord): Array<[string, Version]> {
  return [...neededRefs(rec.cv, rec.ch), ...rec.n];
}

async function readRecords(i: SaverInternals, threadId: string, all: Located[]) {
  const recKeys = all.map((l) => keys.checkpoint(threadId, l.ns, l.id));
  const recs = (await i.store.getMany<CheckpointRecord>(recKeys)) as Array<CheckpointRecord | undefined>;
  return { recKeys, recs };
}

export async function* listThreads(i: SaverInternals): AsyncGenerator<ThreadInfo> {
  const ids = await i.registry.all();
  const infos: ThreadInfo[] = [];
  const now = Date.now();
  for (let at = 0; at < ids.length; at += 500) {
    const part = ids.slice(at, at + 500);
    const metas = await i.store.getMany<ThreadMeta>(part.map((t) => keys.meta(t)));
    part.forEach((t, j) => {
      const m = metas[j] as ThreadMeta | undefined;
      if (m === undefined || isExpired(m, now)) return;
      infos.push({ threadId: t, createdAt: new Date(m.c), updatedAt: new Date(m.u) });
    });
  }
  infos.sort((a, b) => b.updatedAt.getTime() - a.updatedAt.getTime());
  yield* infos;
}

/** What pruning some checkpoints of a thread frees (or would free, in a dry run). */
export interface PruneResult {
  /** checkpoints deleted */
  checkpoints: number;
  /** channel values deleted (values a kept checkpoint needs are kept) */
  values: number;
  /** pending writes deleted */
  writes: number;
  /** bytes of the deleted records, values and writes, as serialized */
  bytes: number;
}

const size = (v: unknown) => (v === undefined ? 0 : JSON.stringify(v).length);

export function pruneCheckpoints(
  i: SaverInternals,
  threadId: string,
  ids: Set<string>,
  dryRun: boolean,
): Promise<PruneResult> {
  return i.lock.run(threadId, async () => {
    const result: PruneResult = { checkpoints: 0, values: 0, writes: 0, bytes: 0 };
    const head = await i.readIndex(threadId);
    if (head === undefined) return result;
    const before = pageKeys(threadId, head);
    const idx = await loadPages(i.store, threadId, head);
    const all = locateAll(idx);
    const gone = all.filter((l) => ids.has(l.id));
    if (gone.length === 0) return result;
    const { recKeys, recs } = await readRecords(i, threadId, all);
    const keep = new Set<string>();
    const maybe = new Set<string>();
    const doomedRecords: string[] = [];
    const doomedWrites: string[] = [];
    const recOf = new Map<string, CheckpointRecord>();
    all.forEach((l, at) => {
      const rec = recs[at];
      if (ids.has(l.id)) {
        doomedRecords.push(recKeys[at]!);
        doomedWrites.push(keys.writes(threadId, l.ns, l.id));
        result.bytes += size(rec);
      }
      if (rec === undefined) return;
      recOf.set(`${l.ns}\u0000${l.id}`, rec);
      if (ids.has(l.id)) {
        for (const [c, v] of valueRefs(rec)) maybe.add(keys.value(threadId, l.ns, c, v));
      } else {
        // a kept checkpoint keeps its values and every link of their delta chains
        for (const [c, v] of neededRefs(rec.cv, rec.ch)) keep.add(keys.value(threadId, l.ns, c, v));
      }
    });
    const doomedValues = [...maybe].filter((k) => !keep.has(k));
    const measured = await i.store.getMany<unknown>([...doomedWrites, ...doomedValues]);
    doomedWrites.forEach((_, at) => {
      const w = measured[at];
      if (Array.isArray(w)) result.writes += w.length;
      result.bytes += size(w);
    });
    doomedValues.forEach((_, at) => {
      const v = measured[doomedWrites.length + at];
      if (v === undefined) return;
      result.values += 1;
      result.bytes += size(v);
    });
    result.checkpoints = gone.length;
    if (dryRun) return result;
    // a kept checkpoint whose parent goes carries the DeltaChannel history its state is rebuilt from
    const carried = await carryDeltaHistory(i, threadId, all, ids, recKeys, recs);
    i.cache?.forget(threadId);
    for (const [ns, n] of idx.ns) {
      n.e = n.e.filter(([id]) => !ids.has(id));
      const last = n.e[n.e.length - 1];
      const rec = last ? recOf.get(`${ns}\u0000${last[0]}`) : undefined;
      n.cv = rec?.cv ?? {};
      n.ch = rec?.ch;
    }
    idx.ns = idx.ns.filter(([, n]) => n.e.length > 0);
    if (idx.ns.length === 0) {
      await i.deleteThreadLocked(threadId);
      return result;
    }
    // index first, so no visible checkpoint ever points at a deleted key
    const { pages, stale } = repage(threadId, idx, before);
    if (carried.length > 0) await i.store.setMany(carried);
    await i.store.setMany(pages);
    await i.store.setMany([{ key: keys.index(threadId), value: i.indexValue(threadId, idx) }]);
    await i.store.deleteMany([...stale, ...doomedRecords, ...doomedWrites, ...doomedValues]);
    return result;
  });
}

/**
 * The records of kept checkpoints whose parent is about to be deleted, each with the history (writes and seed) of
 * its `DeltaChannel`s taken from the ancestors (`dh`): LangGraph rebuilds such a channel by walking ancestors,
 * which would otherwise read an empty list. Delta channels are named by LangGraph's
 * `counters_since_delta_snapshot` metadata; a channel the checkpoint holds a value for needs nothing.
 */
async function carryDeltaHistory(
  i: SaverInternals,
  threadId: string,
  all: Located[],
  ids: Set<string>,
  recKeys: string[],
  recs: Array<CheckpointRecord | undefined>,
): Promise<StoreEntry[]> {
  const out: StoreEntry[] = [];
  for (let at = 0; at < all.length; at++) {
    const l = all[at]!;
    const rec = recs[at];
    if (ids.has(l.id) || rec === undefined || rec.p === null || !ids.has(rec.p)) continue;
    const metadata = (await i.decode(rec.m, threadId, l.id, recKeys[at]!, metadataBinding(threadId, l.ns, l.id))) as
      | Record<string, unknown>
      | undefined;
    const counters = metadata?.counters_since_delta_snapshot;
    const named = counters !== null && typeof counters === "object" ? Object.keys(counters) : [];
    if (named.length === 0) continue;
    const versioned = named.filter((c) => c in rec.cv);
    const stored = await i.store.getMany<unknown>(versioned.map((c) => keys.value(threadId, l.ns, c, rec.cv[c]!)));
    const hasValue = new Set(versioned.filter((_, k) => stored[k] !== undefined));
    const channels = named.filter((c) => !hasValue.has(c));
    if (channels.length === 0) continue;
    const history = await i.deltaHistory(threadId, l.ns, l.id, channels);
    out.push({ key: recKeys[at]!, value: { ...rec, dh: { ...rec.dh, ...Object.fromEntries(history) } } });
  }
  return out;
}

/** One checkpoint as retention policies see it: no values, only what decides whether to keep it. */
export interface CheckpointInfo {
  threadId: string;
  checkpointNs: string;
  checkpointId: string;
  parentId: string | null;
  /** the checkpoint's own timestamp (`checkpoint.ts`) */
  createdAt: Date;
  /** metadata `source` and `step` */
  source: string | undefined;
  step: number | undefined;
  /** channels of the pending writes stored against it (e.g. `__interrupt__`, `__error__`) */
  pendingWriteChannels: string[];
  /** the whole metadata as stored (e.g. `cost` from `withCostMetadata`, `writes`, `parents`) */
  metadata?: Record<string, unknown> | undefined;
  /** the checkpoint's `versions_seen` (which channel versions each node had seen): tells the nodes that ran */
  versionsSeen?: Record<string, Record<string, string | number>> | undefined;
}

export async function checkpointInfo(
  i: SaverInternals,
  threadId: string,
  decode: (blob: unknown, checkpointId: string, key: string, binding: SerdeBinding) => Promise<unknown>,
): Promise<CheckpointInfo[]> {
  const head = await i.readIndex(threadId);
  if (head === undefined) return [];
  const all = locateAll(await loadPages(i.store, threadId, head));
  const out: CheckpointInfo[] = [];
  for (let at = 0; at < all.length; at += 256) {
    const part = all.slice(at, at + 256);
    const recKeys = part.map((l) => keys.checkpoint(threadId, l.ns, l.id));
    const got = await i.store.getMany<unknown>([...recKeys, ...part.map((l) => keys.writes(threadId, l.ns, l.id))]);
    for (let j = 0; j < part.length; j++) {
      const rec = got[j] as CheckpointRecord | undefined;
      if (rec === undefined) continue;
      const l = part[j]!;
      const [cp, meta] = (await Promise.all([
        decode(rec.c, l.id, recKeys[j]!, checkpointBinding(threadId, l.ns, l.id)),
        decode(rec.m, l.id, recKeys[j]!, metadataBinding(threadId, l.ns, l.id)),
      ])) as [
        { ts?: string; versions_seen?: Record<string, Record<string, string | number>> },
        ({ source?: string; step?: number } & Record<string, unknown>) | undefined,
      ];
      const w = got[part.length + j];
      out.push({
        threadId,
        checkpointNs: l.ns,
        checkpointId: l.id,
        parentId: l.parent,
        createdAt: new Date(cp.ts ?? 0),
        source: meta?.source,
        step: meta?.step,
        pendingWriteChannels: Array.isArray(w) ? [...new Set((w as WriteRecord[]).map((r) => r[2]))] : [],
        metadata: meta,
        versionsSeen: cp.versions_seen,
      });
    }
  }
  return out;
}

export function copyThread(i: SaverInternals, from: string, to: string): Promise<number> {
  return i.lock.run(to, async () => {
    i.cache?.forget(to);
    const [srcHead, dst] = await Promise.all([i.readIndex(from), i.readIndex(to)]);
    if (dst !== undefined) throw new ThreadExistsError(to);
    if (srcHead === undefined) return 0;
    const src = await loadPages(i.store, from, srcHead);
    const all = locateAll(src);
    const got = await i.store.getMany<unknown>([
      ...all.map((l) => keys.checkpoint(from, l.ns, l.id)),
      ...all.map((l) => keys.writes(from, l.ns, l.id)),
    ]);
    // a binding-aware serde bound every payload to its thread: each is re-serialized for the new one
    const rebind = isBindingAware(i.serde)
      ? async (blob: unknown, binding: SerdeBinding, key: string, checkpointId?: string): Promise<unknown> =>
          isStoredBlob(blob)
            ? encodeBlob(
                i.serde,
                await i.decode(blob, from, checkpointId, key, { ...binding, threadId: from }),
                binding,
              )
            : blob
      : undefined;
    const out: StoreEntry[] = [];
    const values = new Map<string, { key: string; ns: string; channel: string; version: Version }>();
    for (let at = 0; at < all.length; at++) {
      const l = all[at]!;
      let rec = got[at] as CheckpointRecord | undefined;
      if (rec === undefined) continue;
      const recKey = keys.checkpoint(from, l.ns, l.id);
      const wKey = keys.writes(from, l.ns, l.id);
      let w = got[all.length + at];
      if (rebind) {
        rec = {
          ...rec,
          c: (await rebind(rec.c, checkpointBinding(to, l.ns, l.id), recKey, l.id)) as StoredBlob,
          m: (await rebind(rec.m, metadataBinding(to, l.ns, l.id), recKey, l.id)) as StoredBlob,
          dh: rec.dh && (await rebindHistory(rec.dh, to, l.ns, recKey, rebind)),
        };
        if (Array.isArray(w)) {
          w = await Promise.all(
            (w as WriteRecord[]).map(
              async (x): Promise<WriteRecord> => [
                x[0],
                x[1],
                x[2],
                (await rebind(x[3], writeBinding(to, l.ns, l.id, x), wKey, l.id)) as StoredBlob,
                x[4],
              ],
            ),
          );
        }
      }
      out.push({ key: keys.checkpoint(to, l.ns, l.id), value: rec });
      if (w !== undefined) out.push({ key: keys.writes(to, l.ns, l.id), value: w });
      for (const [channel, version] of valueRefs(rec)) {
        values.set(keys.value(from, l.ns, channel, version), {
          key: keys.value(to, l.ns, channel, version),
          ns: l.ns,
          channel,
          version,
        });
      }
    }
    const srcKeys = [...values.keys()];
    const vals = await i.store.getMany<unknown>(srcKeys);
    for (let at = 0; at < srcKeys.length; at++) {
      const v = vals[at];
      if (v === undefined) continue;
      const target = values.get(srcKeys[at]!)!;
      // a delta is a text diff of plain JSON, which no serde binds; whole values are re-bound
      const value =
        rebind && !isDeltaValue(v)
          ? await rebind(v, valueBinding(to, target.ns, target.channel, target.version), srcKeys[at]!)
          : v;
      out.push({ key: target.key, value });
    }
    const { pages } = repage(to, src, []);
    await i.store.setMany([...out, ...pages]);
    await i.registry.add(to);
    const now = Date.now();
    const x = i.ttl !== undefined ? now + i.ttl : undefined;
    const meta: ThreadMeta = { t: to, c: now, u: now, x };
    await i.store.setMany([
      { key: keys.meta(to), value: meta },
      { key: keys.index(to), value: i.indexValue(to, { ...src, t: to, c: now, u: now, x }) },
    ]);
    return all.length;
  });
}

/** A carried `DeltaChannel` history re-bound to another thread. */
async function rebindHistory(
  dh: Record<string, RawDeltaHistory>,
  to: string,
  ns: string,
  key: string,
  rebind: (blob: unknown, binding: SerdeBinding, key: string, checkpointId?: string) => Promise<unknown>,
): Promise<Record<string, RawDeltaHistory>> {
  const out: Record<string, RawDeltaHistory> = {};
  for (const [channel, h] of Object.entries(dh)) {
    const w: RawDeltaHistory["w"] = [];
    for (const [cid, x] of h.w) {
      w.push([
        cid,
        [x[0], x[1], x[2], (await rebind(x[3], writeBinding(to, ns, cid, x), key, cid)) as StoredBlob, x[4]],
      ]);
    }
    const s: RawDeltaHistory["s"] = h.s && [
      h.s[0],
      h.s[1],
      (await rebind(h.s[2], valueBinding(to, ns, channel, h.s[1]), key, h.s[0])) as StoredBlob,
    ];
    out[channel] = s ? { w, s } : { w };
  }
  return out;
}

export async function stats(i: SaverInternals, threadId?: string): Promise<SaverStats> {
  const ids = threadId !== undefined ? [threadId] : await i.registry.all();
  const total: SaverStats = { threads: 0, checkpoints: 0, values: 0, writes: 0, bytes: 0 };
  for (const tid of ids) {
    const head = await i.readIndex(tid);
    if (head === undefined) continue;
    total.threads += 1;
    const idx = await loadPages(i.store, tid, head);
    const all = locateAll(idx);
    total.checkpoints += all.length;
    total.bytes += JSON.stringify(idx).length;
    const got = await i.store.getMany<unknown>([
      ...all.map((l) => keys.checkpoint(tid, l.ns, l.id)),
      ...all.map((l) => keys.writes(tid, l.ns, l.id)),
    ]);
    const valueKeys = new Set<string>();
    all.forEach((l, at) => {
      const rec = got[at] as CheckpointRecord | undefined;
      if (rec === undefined) return;
      total.bytes += blobBytes(rec.c) + blobBytes(rec.m);
      for (const [c, v] of valueRefs(rec)) valueKeys.add(keys.value(tid, l.ns, c, v));
      const w = got[all.length + at] as WriteRecord[] | undefined;
      if (Array.isArray(w)) {
        total.writes += w.length;
        for (const r of w) total.bytes += blobBytes(r[3]);
      }
    });
    const vals = await i.store.getMany<StoredBlob>([...valueKeys]);
    for (const v of vals) {
      if (v === undefined) continue;
      total.values += 1;
      total.bytes += blobBytes(v as StoredBlob);
    }
  }
  return total;
}

export async function purgeExpired(i: SaverInternals): Promise<number> {
  const ids = await i.registry.all();
  let n = 0;
  const now = Date.now();
  for (let at = 0; at < ids.length; at += 500) {
    const part = ids.slice(at, at + 500);
    const metas = await i.store.getMany<ThreadMeta>(part.map((t) => keys.meta(t)));
    for (let j = 0; j < part.length; j++) {
      const m = metas[j] as ThreadMeta | undefined;
      if (m !== undefined && isExpired(m, now)) {
        await i.purgeIfExpired(part[j]!);
        n += 1;
      }
    }
  }
  return n;
}
