import {
  CheckpointCorruptError,
  CheckpointIntegrityError,
  InvalidArgumentError,
  InvalidConfigError,
  isGraphkeepError,
  type SerdeBinding,
} from "@graphkeep/core";
import type { RunnableConfig } from "@langchain/core/runnables";
import {
  type Checkpoint,
  type CheckpointListOptions,
  type CheckpointMetadata,
  type CheckpointPendingWrite,
  type CheckpointTuple,
  compareWritesSortKeys,
  type DeltaChannelHistory,
  maxChannelVersion,
  TASKS,
  writesSortKey,
} from "@langchain/langgraph-checkpoint";
import { checkpointBinding, metadataBinding, valueBinding, writeBinding } from "./bindings.js";
import { decodeBlob, isStoredBlob, type StoredBlob } from "./codec.js";
import { checkpointIdOf, namespaceOf, threadIdOf } from "./config.js";
import type { CachedHead, CachedText } from "./delta-cache.js";
import { keys } from "./keys.js";
import { inPages, loadPages } from "./pages.js";
import {
  checkIndex,
  checkRecord,
  describeValue as describe,
  isExpired,
  type Located,
  locateAll,
  matchesFilter,
  neededValueKeys,
  nsIndex,
  sameVersions,
} from "./records.js";
import type { SaverState } from "./state.js";
import type { CheckpointRecord, RawDeltaHistory, ThreadIndex, WriteRecord } from "./types.js";
import { BrokenValueError, materialize } from "./values.js";
import { purgeIfExpired } from "./write-path.js";

/** Checkpoints read per round trip by `list` and `getDeltaChannelHistory`. */
const PAGE = 32;

type Version = string | number;

/**
 * The read path of `KeyvSaver`: `getTuple`, `list`, `getDeltaChannelHistory` and the decoding they share. Reads
 * never scan the store: the thread index names every key a read needs, so most reads are one or two round trips.
 */
export class ReadPath {
  constructor(readonly s: SaverState) {}

  async readIndex(threadId: string): Promise<ThreadIndex | undefined> {
    return this.liveIndex(await this.s.store.get(keys.index(threadId)), threadId);
  }

  liveIndex(raw: unknown, threadId: string): ThreadIndex | undefined {
    const idx = checkIndex(raw, threadId);
    if (idx !== undefined && isExpired(idx)) {
      // expired: read as absent, and reclaim in the background
      void purgeIfExpired(this.s, threadId).catch(() => undefined);
      return undefined;
    }
    return idx;
  }

  async decode(
    blob: unknown,
    threadId: string,
    checkpointId: string | undefined,
    key: string,
    binding?: SerdeBinding,
  ): Promise<unknown> {
    const where = `thread "${threadId}"${checkpointId ? `, checkpoint "${checkpointId}"` : ""}`;
    if (!isStoredBlob(blob)) {
      throw new CheckpointCorruptError(
        { threadId, checkpointId, key },
        `KeyvSaver: the value at key "${key}" (${where}) is not a graphkeep record`,
      );
    }
    try {
      return await decodeBlob(this.s.serde, blob, binding);
    } catch (e) {
      // a graphkeep serde says precisely what is wrong (tampered value, missing key id): pass it on as is
      if (isGraphkeepError(e)) throw e;
      throw new CheckpointCorruptError(
        { threadId, checkpointId, key },
        `KeyvSaver: cannot deserialize key "${key}" (${where}): ${e instanceof Error ? e.message : String(e)}; was it written with another serde?`,
        { cause: e },
      );
    }
  }

  /** Whole values of a checkpoint's channels, rebuilt from `fetched` (reading missing delta links). */
  async values(
    threadId: string,
    ns: string,
    checkpointId: string,
    cv: Record<string, Version>,
    fetched: Map<string, unknown>,
    empty?: string[],
  ): Promise<Map<string, StoredBlob>> {
    let whole: Map<string, StoredBlob>;
    try {
      whole = await materialize(
        Object.entries(cv),
        (channel, version) => keys.value(threadId, ns, channel, version),
        fetched,
        (ks) => this.s.store.getMany<unknown>(ks),
      );
    } catch (e) {
      if (!(e instanceof BrokenValueError)) throw e;
      throw new CheckpointCorruptError(
        { threadId, checkpointId, key: e.key },
        `KeyvSaver: ${e.message} (thread "${threadId}", checkpoint "${checkpointId}")`,
      );
    }
    if (empty !== undefined) {
      // the record says which channels have no value: a missing one was deleted behind the saver's back
      for (const [channel, version] of Object.entries(cv)) {
        if (whole.has(channel) || empty.includes(channel)) continue;
        const key = keys.value(threadId, ns, channel, version);
        throw new CheckpointCorruptError(
          { threadId, checkpointId, key },
          `KeyvSaver: the value of channel "${channel}" at key "${key}" (thread "${threadId}", checkpoint "${checkpointId}") is missing from the store; was it evicted (Redis maxmemory-policy allkeys-*) or deleted by hand?`,
        );
      }
    }
    return whole;
  }

  async buildTuple(
    threadId: string,
    ns: string,
    checkpointId: string,
    record: CheckpointRecord,
    writesDoc: unknown,
    values: Map<string, unknown> | { whole: Map<string, StoredBlob> },
    remember = false,
  ): Promise<CheckpointTuple> {
    const recKey = keys.checkpoint(threadId, ns, checkpointId);
    const [checkpoint, metadata, whole] = (await Promise.all([
      this.decode(record.c, threadId, checkpointId, recKey, checkpointBinding(threadId, ns, checkpointId)),
      this.decode(record.m, threadId, checkpointId, recKey, metadataBinding(threadId, ns, checkpointId)),
      values instanceof Map ? this.values(threadId, ns, checkpointId, record.cv, values, record.e) : values.whole,
    ])) as [Checkpoint, CheckpointMetadata, Map<string, StoredBlob>];
    const channelValues: Record<string, unknown> = {};
    for (const [channel, blob] of whole) {
      channelValues[channel] = await this.decode(
        blob,
        threadId,
        checkpointId,
        keys.value(threadId, ns, channel, record.cv[channel]!),
        valueBinding(threadId, ns, channel, record.cv[channel]!),
      );
    }
    checkpoint.channel_values = channelValues;
    // a binding-aware serde sealed the versions inside the checkpoint: the plain ones in the record must agree, or
    // someone pointed a channel at another (older) version
    const sealed = checkpoint.channel_versions;
    if (sealed && Object.keys(sealed).length > 0 && !sameVersions(sealed, record.cv)) {
      throw new CheckpointIntegrityError(
        "binding",
        `KeyvSaver: the channel versions stored beside checkpoint "${checkpointId}" of thread "${threadId}" differ from the ones sealed in it; a channel was pointed at another version`,
      );
    }
    checkpoint.channel_versions = { ...record.cv };
    if (remember && this.s.cache) {
      const texts = new Map<string, CachedText>();
      const binary = new Map<string, StoredBlob>();
      for (const [channel, blob] of whole) {
        if (blob.length === 2) texts.set(channel, { version: record.cv[channel]!, type: blob[0], text: blob[1] });
        else binary.set(channel, blob);
      }
      this.s.cache.set(threadId, ns, {
        checkpointId,
        cv: record.cv,
        ch: record.ch ?? {},
        texts,
        e: record.e,
        whole: { record, binary },
      });
    }
    const pendingWrites = await this.decodeWrites(threadId, ns, checkpointId, writesDoc);
    if (checkpoint.v < 4 && record.p !== null) await this.migratePendingSends(checkpoint, threadId, ns, record.p);
    const tuple: CheckpointTuple = {
      config: { configurable: { thread_id: threadId, checkpoint_ns: ns, checkpoint_id: checkpointId } },
      checkpoint,
      metadata,
      pendingWrites,
    };
    if (record.p !== null) {
      tuple.parentConfig = { configurable: { thread_id: threadId, checkpoint_ns: ns, checkpoint_id: record.p } };
    }
    return tuple;
  }

  orderedWrites(threadId: string, checkpointId: string, key: string, doc: unknown): WriteRecord[] {
    if (doc === undefined || doc === null) return [];
    if (!Array.isArray(doc)) {
      throw new CheckpointCorruptError(
        { threadId, checkpointId, key },
        `KeyvSaver: the pending writes at key "${key}" (thread "${threadId}", checkpoint "${checkpointId}") are malformed`,
      );
    }
    return (doc as WriteRecord[])
      .map((w) => ({ w, k: writesSortKey(w[4] ?? "", w[0], w[1]) }))
      .sort((a, b) => compareWritesSortKeys(a.k, b.k))
      .map(({ w }) => w);
  }

  async decodeWrites(
    threadId: string,
    ns: string,
    checkpointId: string,
    doc: unknown,
  ): Promise<CheckpointPendingWrite[]> {
    const key = keys.writes(threadId, ns, checkpointId);
    const rows = this.orderedWrites(threadId, checkpointId, key, doc);
    return Promise.all(
      rows.map(
        async (w) =>
          [
            w[0],
            w[2],
            await this.decode(w[3], threadId, checkpointId, key, writeBinding(threadId, ns, checkpointId, w)),
          ] as CheckpointPendingWrite,
      ),
    );
  }

  async migratePendingSends(checkpoint: Checkpoint, threadId: string, ns: string, parentId: string): Promise<void> {
    const key = keys.writes(threadId, ns, parentId);
    const doc = await this.s.store.get(key);
    const rows = this.orderedWrites(threadId, parentId, key, doc).filter((w) => w[2] === TASKS);
    const sends = await Promise.all(
      rows.map((w) => this.decode(w[3], threadId, parentId, key, writeBinding(threadId, ns, parentId, w))),
    );
    checkpoint.channel_values ??= {};
    checkpoint.channel_values[TASKS] = sends;
    checkpoint.channel_versions ??= {};
    checkpoint.channel_versions[TASKS] =
      Object.keys(checkpoint.channel_versions).length > 0
        ? maxChannelVersion(...Object.values(checkpoint.channel_versions))
        : this.s.nextVersion(undefined);
  }

  async fetch(ks: string[]): Promise<Map<string, unknown>> {
    const unique = [...new Set(ks)];
    const got = await this.s.store.getMany<unknown>(unique);
    const m = new Map<string, unknown>();
    unique.forEach((k, i) => {
      m.set(k, got[i]);
    });
    return m;
  }

  /** Loads the tuples of `located` (one thread) in two round trips: records + writes, then values. */
  async loadMany(threadId: string, located: Located[], filter?: Record<string, unknown>): Promise<CheckpointTuple[]> {
    if (located.length === 0) return [];
    const recKeys = located.map((l) => keys.checkpoint(threadId, l.ns, l.id));
    const wKeys = located.map((l) => keys.writes(threadId, l.ns, l.id));
    const got = await this.s.store.getMany<unknown>([...recKeys, ...wKeys]);
    const chosen: Array<{ l: Located; rec: CheckpointRecord; writes: unknown }> = [];
    for (let i = 0; i < located.length; i++) {
      const raw = got[i];
      if (raw === undefined) continue; // deleted concurrently
      const l = located[i]!;
      const rec = checkRecord(raw, threadId, l.id, recKeys[i]!);
      if (filter && Object.keys(filter).length > 0) {
        const metadata = (await this.decode(
          rec.m,
          threadId,
          l.id,
          recKeys[i]!,
          metadataBinding(threadId, l.ns, l.id),
        )) as Record<string, unknown>;
        if (!matchesFilter(metadata, filter)) continue;
      }
      chosen.push({ l, rec, writes: got[located.length + i] });
    }
    const fetched = await this.fetch(chosen.flatMap((c) => neededValueKeys(threadId, c.l.ns, c.rec.cv, c.rec.ch)));
    return Promise.all(chosen.map((c) => this.buildTuple(threadId, c.l.ns, c.l.id, c.rec, c.writes, fetched)));
  }

  /**
   * Fetches a checkpoint tuple: the one named by `checkpoint_id`, or the newest of the thread/namespace.
   * Returns `undefined` when there is none (or `thread_id` is not given).
   * @throws {StoreUnavailableError} when the store fails; never reads a failure as "not found".
   * @throws {CheckpointCorruptError} when a stored record cannot be deserialized.
   */
  async getTuple(config: RunnableConfig): Promise<CheckpointTuple | undefined> {
    const threadId = threadIdOf(config, "getTuple", false);
    if (threadId === undefined) return undefined;
    const ns = namespaceOf(config, "getTuple");
    const checkpointId = checkpointIdOf(config, "getTuple");
    if (checkpointId !== undefined) {
      const recKey = keys.checkpoint(threadId, ns, checkpointId);
      const wKey = keys.writes(threadId, ns, checkpointId);
      const [rawIdx, rawRec, writes] = await this.s.store.getMany<unknown>([keys.index(threadId), recKey, wKey]);
      const idx = this.liveIndex(rawIdx, threadId);
      this.s.noteHead(rawIdx, threadId);
      if (idx === undefined || rawRec === undefined) return undefined;
      // a record without an index entry is a put that did not finish: it does not exist
      const nsEntry = nsIndex(idx, ns);
      if (!nsEntry || !(nsEntry.e.some(([id]) => id === checkpointId) || inPages(nsEntry, checkpointId)))
        return undefined;
      const rec = checkRecord(rawRec, threadId, checkpointId, recKey);
      const fetched = await this.fetch(neededValueKeys(threadId, ns, rec.cv, rec.ch));
      return this.buildTuple(threadId, ns, checkpointId, rec, writes, fetched, true);
    }
    // the checkpoint this process wrote or read last is served from memory while the index still carries the token
    // this process wrote: then only the index and the checkpoint's writes are read (one round trip)
    const cached = this.s.cache?.get(threadId, ns);
    const known = this.s.heads.get(threadId);
    let rawIdx: unknown;
    if (cached?.whole && typeof known?.token === "string") {
      const wKey = keys.writes(threadId, ns, cached.checkpointId);
      const [gotIdx, writes] = await this.s.store.getMany<unknown>([keys.index(threadId), wKey]);
      rawIdx = gotIdx;
      const idx = this.liveIndex(rawIdx, threadId);
      const nsEntry = idx && nsIndex(idx, ns);
      if (idx?.g === known.token && nsEntry?.e[nsEntry.e.length - 1]?.[0] === cached.checkpointId) {
        return this.buildTuple(threadId, ns, cached.checkpointId, cached.whole.record, writes, {
          whole: wholeValues(cached),
        });
      }
    } else rawIdx = await this.s.store.get(keys.index(threadId));
    const idx = this.liveIndex(rawIdx, threadId);
    this.s.noteHead(rawIdx, threadId);
    const nsEntry = idx && nsIndex(idx, ns);
    const head = nsEntry?.e[nsEntry.e.length - 1];
    if (nsEntry === undefined || head === undefined) return undefined;
    const headId = head[0];
    const recKey = keys.checkpoint(threadId, ns, headId);
    const wKey = keys.writes(threadId, ns, headId);
    // the index carries the newest checkpoint's versions and chains: record, writes and values in one round trip
    const vk = [...new Set(neededValueKeys(threadId, ns, nsEntry.cv, nsEntry.ch))];
    const got = await this.s.store.getMany<unknown>([recKey, wKey, ...vk]);
    if (got[0] === undefined) return undefined;
    const rec = checkRecord(got[0], threadId, headId, recKey);
    if (!sameVersions(rec.cv, nsEntry.cv)) {
      // index written by an older version or repaired: load the values the record names
      const fetched = await this.fetch(neededValueKeys(threadId, ns, rec.cv, rec.ch));
      return this.buildTuple(threadId, ns, headId, rec, got[1], fetched, true);
    }
    const fetched = new Map<string, unknown>();
    vk.forEach((k, i) => {
      fetched.set(k, got[i + 2]);
    });
    return this.buildTuple(threadId, ns, headId, rec, got[1], fetched, true);
  }

  /**
   * Lists checkpoints, newest first: of one thread (`thread_id`), or of all threads when it is absent.
   * Honors `checkpoint_ns`, `checkpoint_id`, `before`, `limit` and a metadata `filter` (deep equality per key).
   * Reads only the thread index and the checkpoints it yields (in pages of 32).
   */
  async *list(config: RunnableConfig, options?: CheckpointListOptions): AsyncGenerator<CheckpointTuple> {
    const { before, filter } = options ?? {};
    let limit = options?.limit;
    if (limit !== undefined && !(typeof limit === "number" && (Number.isInteger(limit) || limit === Infinity))) {
      throw new InvalidArgumentError(`KeyvSaver.list: options.limit must be an integer, got ${describe(limit)}`);
    }
    const threadId = threadIdOf(config, "list", false);
    const nsFilter: unknown = config.configurable?.checkpoint_ns;
    if (nsFilter !== undefined && typeof nsFilter !== "string") {
      throw new InvalidConfigError(
        `KeyvSaver.list: config.configurable.checkpoint_ns must be a string, got ${describe(nsFilter)}`,
      );
    }
    const idFilter = checkpointIdOf(config, "list");
    const beforeId: unknown = before?.configurable?.checkpoint_id;
    if (beforeId !== undefined && typeof beforeId !== "string") {
      throw new InvalidArgumentError("KeyvSaver.list: options.before.configurable.checkpoint_id must be a string");
    }
    if (limit !== undefined && limit <= 0) return;
    const threadIds = threadId !== undefined ? [threadId] : await this.s.registry.all();
    // indexes are read 64 threads per round trip
    let indexes = new Map<string, unknown>();
    for (let t = 0; t < threadIds.length; t++) {
      const tid = threadIds[t]!;
      if (!indexes.has(tid)) {
        const batch = threadIds.slice(t, t + 64);
        indexes = await this.fetch(batch.map((b) => keys.index(b))).then(
          (m) => new Map(batch.map((b) => [b, m.get(keys.index(b))])),
        );
      }
      const head = this.liveIndex(indexes.get(tid), tid);
      if (head === undefined) continue;
      const select = (idx: ThreadIndex) =>
        locateAll(idx)
          .filter(
            (l) =>
              (nsFilter === undefined || l.ns === nsFilter) &&
              (idFilter === undefined || l.id === idFilter) &&
              (beforeId === undefined || l.id < beforeId),
          )
          .sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : a.ns < b.ns ? -1 : 1));
      let located = select(head);
      // older entries live in index pages: read them only when the newest ones cannot answer
      const pagedNewest = head.ns.reduce((m, [, nsEntry]) => {
        const last = nsEntry.p?.[nsEntry.p.length - 1]?.[2];
        return last !== undefined && last > m ? last : m;
      }, "");
      if (pagedNewest !== "") {
        const enough =
          limit !== undefined && !filter && located.length >= limit && located[limit - 1]!.id > pagedNewest;
        if (!enough) located = select(await loadPages(this.s.store, tid, head));
      }
      for (let i = 0; i < located.length; ) {
        const size = limit !== undefined && !filter ? Math.min(limit, PAGE) : PAGE;
        const page = located.slice(i, i + size);
        i += page.length;
        for (const tuple of await this.loadMany(tid, page, filter)) {
          yield tuple;
          if (limit !== undefined) {
            limit -= 1;
            if (limit <= 0) return;
          }
        }
      }
    }
  }

  /**
   * Stores a checkpoint: the values of the channels named in `newVersions` (one key per channel version, as a
   * delta when it extends the previous version), then the checkpoint record, then the thread index. A crash in
   * between leaves no half-written checkpoint visible.
   * @throws {InvalidConfigError} when `thread_id` is missing.

  /**
   * Per-channel writes and seed for rebuilding `DeltaChannel` state (see `BaseCheckpointSaver`). Walks the
   * parent chain through the thread index, reading ancestors in pages of 32 (records + writes in one round trip,
   * then only the values that end a channel's walk), instead of one full `getTuple` per ancestor.
   */
  async getDeltaChannelHistory(options: {
    config: RunnableConfig;
    channels: string[];
  }): Promise<Record<string, DeltaChannelHistory>> {
    const { config, channels } = options;
    if (channels.length === 0) return {};
    const threadId = threadIdOf(config, "getDeltaChannelHistory", false);
    const ns = threadId === undefined ? "" : namespaceOf(config, "getDeltaChannelHistory");
    const target = checkpointIdOf(config, "getDeltaChannelHistory");
    const raw = threadId === undefined ? new Map() : await this.deltaHistory(threadId, ns, target, channels);
    const out: Record<string, DeltaChannelHistory> = {};
    for (const c of channels) {
      const h: RawDeltaHistory = raw.get(c) ?? { w: [] };
      const writes = await Promise.all(
        h.w.map(
          async ([cid, w]) =>
            [
              w[0],
              w[2],
              await this.decode(
                w[3],
                threadId!,
                cid,
                keys.writes(threadId!, ns, cid),
                writeBinding(threadId!, ns, cid, w),
              ),
            ] as CheckpointPendingWrite,
        ),
      );
      const entry: DeltaChannelHistory = { writes };
      if (h.s !== undefined) {
        const [cid, version, blob] = h.s;
        entry.seed = await this.decode(
          blob,
          threadId!,
          cid,
          keys.value(threadId!, ns, c, version),
          valueBinding(threadId!, ns, c, version),
        );
      }
      out[c] = entry;
    }
    return out;
  }

  /**
   * The history `getDeltaChannelHistory` returns, as stored (not deserialized): per channel the writes since the
   * nearest ancestor that has a value (oldest first) and that value. A checkpoint whose ancestors were pruned
   * carries their history in its record (`dh`): the walk ends there.
   */
  async deltaHistory(
    threadId: string,
    ns: string,
    checkpointId: string | undefined,
    channels: string[],
  ): Promise<Map<string, RawDeltaHistory>> {
    const collected = new Map<string, Array<[string, WriteRecord]>>(channels.map((c) => [c, []]));
    const seeds = new Map<string, [string, Version, StoredBlob]>();
    const result = () => {
      const out = new Map<string, RawDeltaHistory>();
      for (const c of channels) {
        const h: RawDeltaHistory = { w: collected.get(c)!.slice().reverse() };
        const seed = seeds.get(c);
        if (seed) h.s = seed;
        out.set(c, h);
      }
      return out;
    };
    const head = await this.readIndex(threadId);
    const idx = head && (await loadPages(this.s.store, threadId, head));
    const nsEntry = idx && nsIndex(idx, ns);
    if (nsEntry === undefined || nsEntry.e.length === 0) return result();
    const parentOf = new Map(nsEntry.e);
    const target = checkpointId ?? nsEntry.e[nsEntry.e.length - 1]![0];
    if (!parentOf.has(target)) return result();
    const chain: string[] = [];
    for (let p = parentOf.get(target) ?? null; p !== null && parentOf.has(p) && chain.length <= nsEntry.e.length; ) {
      chain.push(p);
      p = parentOf.get(p) ?? null;
    }
    const remaining = new Set(channels);
    /** a record's carried history ends the walk of the channels it names */
    const takeCarried = (rec: CheckpointRecord) => {
      for (const [c, h] of Object.entries(rec.dh ?? {})) {
        if (!remaining.has(c)) continue;
        const list = collected.get(c)!;
        for (let j = h.w.length - 1; j >= 0; j--) list.push(h.w[j]!);
        if (h.s) seeds.set(c, h.s);
        remaining.delete(c);
      }
    };
    const targetKey = keys.checkpoint(threadId, ns, target);
    for (let at = 0; (at === 0 || at < chain.length) && remaining.size > 0; at += PAGE) {
      const page = chain.slice(at, at + PAGE);
      const recKeys = page.map((id) => keys.checkpoint(threadId, ns, id));
      // the first round trip also reads the target's own record: it may carry its pruned ancestors' history
      const extra = at === 0 ? [targetKey] : [];
      const got = await this.s.store.getMany<unknown>([
        ...extra,
        ...recKeys,
        ...page.map((id) => keys.writes(threadId, ns, id)),
      ]);
      if (at === 0 && got[0] !== undefined) takeCarried(checkRecord(got[0], threadId, target, targetKey));
      const off = extra.length;
      const recs = page.map((id, i) =>
        got[off + i] === undefined ? undefined : checkRecord(got[off + i], threadId, id, recKeys[i]!),
      );
      const wanted = new Set<string>();
      recs.forEach((rec) => {
        if (rec) for (const c of remaining) if (c in rec.cv) wanted.add(c);
      });
      const fetched = await this.fetch(
        recs.flatMap((rec) => {
          if (!rec) return [];
          const cv = Object.fromEntries(Object.entries(rec.cv).filter(([c]) => wanted.has(c)));
          return neededValueKeys(threadId, ns, cv, rec.ch);
        }),
      );
      for (let i = 0; i < page.length && remaining.size > 0; i++) {
        const rec = recs[i];
        const id = page[i]!;
        if (rec === undefined) return result(); // the chain is broken here, as a missing getTuple would be
        const wKey = keys.writes(threadId, ns, id);
        const rows = this.orderedWrites(threadId, id, wKey, got[off + page.length + i]);
        const perChannel = new Map<string, WriteRecord[]>();
        for (const w of rows) if (remaining.has(w[2])) perChannel.set(w[2], [...(perChannel.get(w[2]) ?? []), w]);
        for (const [c, block] of perChannel)
          for (let j = block.length - 1; j >= 0; j--) collected.get(c)!.push([id, block[j]!]);
        const cv = Object.fromEntries(Object.entries(rec.cv).filter(([c]) => remaining.has(c)));
        const whole = await this.values(threadId, ns, id, cv, fetched, rec.e);
        for (const [c, blob] of whole) {
          seeds.set(c, [id, rec.cv[c]!, blob]);
          remaining.delete(c);
        }
        takeCarried(rec);
      }
    }
    return result();
  }
}

/** Every value of a cached checkpoint, as stored whole (texts and binary). */
function wholeValues(head: CachedHead): Map<string, StoredBlob> {
  const out = new Map<string, StoredBlob>(head.whole?.binary);
  for (const [channel, t] of head.texts) if (head.cv[channel] === t.version) out.set(channel, [t.type, t.text]);
  return out;
}
