import { InvalidArgumentError, InvalidConfigError, isBindingAware } from "@graphkeep/core";
import type { RunnableConfig } from "@langchain/core/runnables";
import {
  type ChannelVersions,
  type Checkpoint,
  type CheckpointMetadata,
  type PendingWrite,
  WRITES_IDX_MAP,
} from "@langchain/langgraph-checkpoint";
import * as admin from "./admin.js";
import { checkpointBinding, metadataBinding, valueBinding, writeBinding } from "./bindings.js";
import { encodeBlob, type StoredBlob } from "./codec.js";
import { checkpointIdOf, namespaceOf, threadIdOf } from "./config.js";
import { diff } from "./delta.js";
import type { CachedHead, CachedText } from "./delta-cache.js";
import { WriteConflictError } from "./errors.js";
import { keys } from "./keys.js";
import { ensureManifest } from "./manifest.js";
import { fitsHead, flushPages, loadPages, pageKeys, repage } from "./pages.js";
import type { ReadPath } from "./read-path.js";
import { checkRecord, insertEntry, isExpired, locateAll, nsIndex } from "./records.js";
import { type Head, newToken, type SaverState } from "./state.js";
import type { StoreEntry } from "./store.js";
import type { CheckpointRecord, ThreadIndex, ThreadMeta, WriteRecord } from "./types.js";
import { deltaValue, isDeltaValue, type StoredValue } from "./values.js";

type Version = string | number;

/**
 * The write path of `KeyvSaver`: `put` and `putWrites`. A `put` is one conditional commit (values, record, index
 * pages and the index, which must still carry the token this process last saw); `putWrites` is one write per
 * checkpoint and fence, merging concurrent calls.
 */
export class WritePath {
  constructor(
    readonly s: SaverState,
    readonly r: ReadPath,
  ) {}

  async put(
    config: RunnableConfig,
    checkpoint: Checkpoint,
    metadata: CheckpointMetadata,
    newVersions: ChannelVersions,
  ): Promise<RunnableConfig> {
    const threadId = threadIdOf(config, "put", true);
    const ns = namespaceOf(config, "put");
    const parent = checkpointIdOf(config, "put") ?? null;
    if (checkpoint === null || typeof checkpoint !== "object" || typeof checkpoint.id !== "string" || !checkpoint.id) {
      throw new InvalidArgumentError("KeyvSaver.put: checkpoint.id must be a non-empty string");
    }
    const cid = checkpoint.id;
    const { channel_values: channelValues = {}, ...rest } = checkpoint;
    const cv: Record<string, Version> = { ...(checkpoint.channel_versions ?? {}) };
    // the cached texts are those of the parent checkpoint when this put continues our own last write or read
    const cached = this.s.cache?.get(threadId, ns);
    const base: CachedHead | undefined =
      cached !== undefined && parent !== null && cached.checkpointId === parent ? cached : undefined;
    const texts = new Map<string, CachedText>();
    const binary = new Map<string, StoredBlob>();
    const ch: Record<string, Version[]> = {};
    const values: StoreEntry[] = [];
    const written: Array<[string, Version]> = [];
    await Promise.all(
      Object.entries(newVersions ?? {}).map(async ([channel, version]) => {
        if (!(channel in channelValues)) return;
        const blob = await encodeBlob(
          this.s.serde,
          (channelValues as Record<string, unknown>)[channel],
          valueBinding(threadId, ns, channel, version),
        );
        let stored: StoredValue = blob;
        if (blob.length === 3) binary.set(channel, blob);
        if (blob.length === 2) {
          texts.set(channel, { version, type: blob[0], text: blob[1] });
          const prev = base?.texts.get(channel);
          const chain = prev ? [...(base!.ch[channel] ?? []), prev.version] : [];
          if (prev && prev.type === blob[0] && prev.version !== version && chain.length < this.s.snapshotEvery) {
            const d = diff(prev.text, blob[1]);
            if (d) {
              stored = deltaValue(blob[0], d, prev.version);
              ch[channel] = chain;
            }
          }
        }
        values.push({ key: keys.value(threadId, ns, channel, version), value: stored });
        written.push([channel, version]);
      }),
    );
    // channels without a new version keep their value (and its delta chain) from the parent; a channel with a
    // new version but no value (`__start__`, `branch:to:*`) has nothing stored at all
    const inherited = Object.keys(cv).filter((c) => !(c in (newVersions ?? {})));
    // channels with no stored value: any other channel whose value is missing on a read was lost (evicted)
    const empty = new Set(Object.keys(newVersions ?? {}).filter((c) => c in cv && !(c in channelValues)));
    const unresolved: string[] = [];
    // every value of this checkpoint is known when its inherited values are: then it can be read from memory
    let allKnown = inherited.length === 0 || base?.whole !== undefined;
    for (const c of inherited) {
      if (base && base.cv[c] === cv[c]) {
        if (base.ch[c]) ch[c] = base.ch[c];
        const t = base.texts.get(c);
        if (t) texts.set(c, t);
        const b = base.whole?.binary.get(c);
        if (b) binary.set(c, b);
        // not known to have a value (a parent written before `e` existed): never reported as lost
        if (base.e === undefined || base.e.includes(c)) empty.add(c);
      } else {
        unresolved.push(c);
        allKnown = false;
      }
    }
    const [checkpointBlob, metadataBlob] = await Promise.all([
      // channel versions live once, plainly, in the record (`cv`)
      encodeBlob(
        this.s.serde,
        // channel versions live once, plainly, in the record (`cv`); a binding-aware serde also seals them here
        { ...rest, channel_values: {}, channel_versions: isBindingAware(this.s.serde) ? cv : {} },
        checkpointBinding(threadId, ns, cid),
      ),
      encodeBlob(this.s.serde, metadata ?? {}, metadataBinding(threadId, ns, cid)),
    ]);
    const makeRecord = (): CheckpointRecord => ({
      v: 1,
      p: parent,
      c: checkpointBlob,
      m: metadataBlob,
      cv,
      n: written,
      ch: Object.keys(ch).length > 0 ? ch : undefined,
      e: [...empty],
    });

    let record: CheckpointRecord | undefined;
    await this.s.lock.run(threadId, async () => {
      await this.s.fencing?.assertCurrent(threadId, config, "put");
      const rememberedHead = this.s.heads.get(threadId);
      // a thread this process has not seen is assumed new: the commit checks it (one round trip either way)
      let head: Head = rememberedHead ?? { token: null, idx: undefined };
      let needParent = unresolved.length > 0;
      let fresh = false;
      try {
        for (let attempt = 0; ; attempt++) {
          if (needParent) {
            const got = await this.s.store.getMany<unknown>([
              keys.index(threadId),
              ...(parent ? [keys.checkpoint(threadId, ns, parent)] : []),
            ]);
            head = this.s.headOf(got[0], threadId);
            await this.#resolveInherited(threadId, ns, parent, got[1], unresolved, cv, ch, empty);
            needParent = false;
          }
          const built = await this.#nextIndex(threadId, ns, cid, parent, cv, ch, head.idx);
          const token = newToken();
          const indexValue = { g: token, ...built.idx };
          const stored = makeRecord();
          record = stored;
          const entries: StoreEntry[] = [
            ...values,
            { key: keys.checkpoint(threadId, ns, cid), value: stored },
            ...built.pages,
            { key: keys.meta(threadId), value: built.meta },
          ];
          let ok: boolean;
          if (head.token === undefined) {
            // an index written before tokens existed: ordered, unconditional writes (the next put has a token)
            await this.s.store.setMany(entries);
            await this.s.store.setMany([{ key: keys.index(threadId), value: indexValue }]);
            ok = true;
          } else {
            [ok] = await Promise.all([
              this.s.store.commit({
                entries,
                index: { key: keys.index(threadId), value: indexValue, expect: head.token },
              }),
              this.s.registry.add(threadId),
              ensureManifest(this.s.store, this.s.serde),
            ]);
          }
          if (ok) {
            fresh = built.fresh;
            this.s.rememberHead(threadId, { token, idx: indexValue });
            if (built.stale.length > 0) await this.s.store.deleteMany(built.stale);
            break;
          }
          // another writer (or a late write) moved the index on: read it and build on what is stored
          if (attempt >= 4) {
            throw new WriteConflictError(
              threadId,
              `KeyvSaver.put: the index of thread "${threadId}" changed under every one of 5 attempts; is another process writing this thread? (use @graphkeep/lease for one writer per thread)`,
            );
          }
          head = this.s.headOf(await this.s.store.get(keys.index(threadId)), threadId);
        }
      } catch (e) {
        // the stored index is unknown now (a write may still land): read it before the next put
        this.s.heads.delete(threadId);
        throw e;
      }
      // a checkpoint this put created has no writes yet, unless putWrites raced ahead of it (async durability)
      const wKey = keys.writes(threadId, ns, cid);
      if (fresh && !this.s.touchedWrites.has(wKey)) this.s.rememberWrites(threadId, wKey, []);
    });
    this.s.cache?.set(threadId, ns, {
      checkpointId: cid,
      cv,
      ch,
      texts,
      e: [...empty],
      whole: allKnown && record !== undefined ? { record, binary } : undefined,
    });
    return { configurable: { thread_id: threadId, checkpoint_ns: ns, checkpoint_id: cid } };
  }

  /** The index after adding one checkpoint to `base` (copied, never changed), with the pages to write. */
  async #nextIndex(
    threadId: string,
    ns: string,
    cid: string,
    parent: string | null,
    cv: Record<string, Version>,
    ch: Record<string, Version[]>,
    base: ThreadIndex | undefined,
  ): Promise<{ idx: ThreadIndex; pages: StoreEntry[]; stale: string[]; meta: ThreadMeta; fresh: boolean }> {
    const now = Date.now();
    const expiresAt = this.s.ttl !== undefined ? now + this.s.ttl : undefined;
    let idx: ThreadIndex = base ? copyIndex(base) : { v: 1, t: threadId, ns: [], c: now, u: now };
    let nsEntry = nsIndex(idx, ns);
    if (nsEntry === undefined) {
      nsEntry = { e: [], cv: {} };
      idx.ns.push([ns, nsEntry]);
    }
    let before: string[] | undefined;
    if (!fitsHead(nsEntry, cid)) {
      // older than paged entries (rare: a put out of id order): load every page and page the index anew
      before = pageKeys(threadId, idx);
      idx = await loadPages(this.s.store, threadId, idx);
      nsEntry = nsIndex(idx, ns)!;
    }
    const fresh = !nsEntry.e.some(([id]) => id === cid);
    insertEntry(nsEntry, cid, parent, cv, ch);
    const repaged = before !== undefined ? repage(threadId, idx, before) : undefined;
    const pages = repaged?.pages ?? flushPages(threadId, idx);
    idx.u = now;
    idx.x = expiresAt;
    return { idx, pages, stale: repaged?.stale ?? [], meta: { t: threadId, c: idx.c, u: now, x: expiresAt }, fresh };
  }

  /** Finds the delta chains of channels a checkpoint inherits, from its parent's record or the values. */
  async #resolveInherited(
    threadId: string,
    ns: string,
    parent: string | null,
    rawParent: unknown,
    channels: string[],
    cv: Record<string, Version>,
    ch: Record<string, Version[]>,
    empty: Set<string>,
  ): Promise<void> {
    const parentRec =
      parent && rawParent !== undefined
        ? checkRecord(rawParent, threadId, parent, keys.checkpoint(threadId, ns, parent))
        : undefined;
    const walk: string[] = [];
    for (const c of channels) {
      if (parentRec && parentRec.cv[c] === cv[c]) {
        const chain = parentRec.ch?.[c];
        if (chain) ch[c] = chain;
        if (parentRec.e === undefined || parentRec.e.includes(c)) empty.add(c);
      } else {
        walk.push(c);
        empty.add(c);
      }
    }
    // rare (a parent record gone, or one written without chains): follow the stored values' base links
    for (const c of walk) {
      const chain: Version[] = [];
      let version: Version = cv[c]!;
      for (let i = 0; i < 10_000; i++) {
        const raw = await this.s.store.get<unknown>(keys.value(threadId, ns, c, version));
        if (!isDeltaValue(raw)) break;
        version = raw[5] as Version;
        chain.unshift(version);
      }
      if (chain.length > 0) ch[c] = chain;
    }
  }

  /**
   * Stores the pending writes of one task against a checkpoint (with its `taskPath`). Regular writes already
   * stored for the same task and index are kept; special writes (errors, interrupts) replace.
   * Concurrent calls for one checkpoint are merged into one read and one write.
   * @throws {InvalidConfigError} when `thread_id` or `checkpoint_id` is missing.
   */
  async putWrites(config: RunnableConfig, writes: PendingWrite[], taskId: string, taskPath = ""): Promise<void> {
    const threadId = threadIdOf(config, "putWrites", true);
    const ns = namespaceOf(config, "putWrites");
    const cid = checkpointIdOf(config, "putWrites");
    if (cid === undefined) {
      throw new InvalidConfigError(
        "KeyvSaver.putWrites: config.configurable.checkpoint_id is required (the checkpoint the writes belong to)",
      );
    }
    if (typeof taskId !== "string") throw new InvalidArgumentError("KeyvSaver.putWrites: taskId must be a string");
    if (!Array.isArray(writes)) throw new InvalidArgumentError("KeyvSaver.putWrites: writes must be an array");
    const encoded = await Promise.all(
      writes.map(async ([channel, value], i): Promise<WriteRecord> => {
        const idx = WRITES_IDX_MAP[channel] ?? i;
        const binding = writeBinding(threadId, ns, cid, [taskId, idx, channel, ["", ""], ""]);
        return [taskId, idx, channel, await encodeBlob(this.s.serde, value, binding), taskPath ?? ""];
      }),
    );
    const apply = (doc: WriteRecord[]) => {
      for (const w of encoded) {
        const at = doc.findIndex((d) => d[0] === w[0] && d[1] === w[1]);
        if (at === -1) doc.push(w);
        else if (w[1] < 0) doc[at] = w;
      }
    };
    const wKey = keys.writes(threadId, ns, cid);
    // the first writes for a checkpoint whose put has not landed yet (async durability: LangGraph calls putWrites
    // while that put still waits for the thread's lock) are most likely the first of that key
    const startsEmpty = !this.s.touchedWrites.has(wKey) && this.s.newerThanHead(threadId, ns, cid);
    this.s.touchedWrites.delete(wKey);
    this.s.touchedWrites.add(wKey);
    if (this.s.touchedWrites.size > 10_000) this.s.touchedWrites.delete(this.s.touchedWrites.values().next().value!);
    // calls merge only when they carry the same fencing token: each batch is checked against its own run's fence
    const batchKey = `${wKey}\u0000${JSON.stringify(config.configurable?.__graphkeep_fence ?? null)}`;
    let batch = this.s.writeBatches.get(batchKey);
    if (batch === undefined) {
      const ops: Array<(doc: WriteRecord[]) => void> = [];
      const done = this.s.lock.run(threadId, async () => {
        this.s.writeBatches.delete(batchKey);
        await this.s.fencing?.assertCurrent(threadId, config, "putWrites");
        const known = this.s.lastWrites.get(threadId);
        this.s.lastWrites.delete(threadId);
        let doc: WriteRecord[] | undefined;
        if (known?.key === wKey) doc = [...known.doc];
        else if (startsEmpty || this.s.newerThanHead(threadId, ns, cid)) {
          // most likely nothing is stored yet (a checkpoint whose put has not landed): create the key only if it
          // is absent, in one round trip; when it exists after all (another key of the thread was written since,
          // another process wrote it) read it and merge, so no stored write is ever replaced
          const fresh: WriteRecord[] = [];
          for (const op of ops) op(fresh);
          const created = await this.s.store.commit({
            entries: [],
            index: { key: wKey, value: fresh, expect: null },
          });
          if (created) {
            this.s.rememberWrites(threadId, wKey, fresh);
            return;
          }
        }
        if (doc === undefined) {
          const raw = await this.s.store.get<unknown>(wKey);
          doc = raw === undefined ? [] : this.r.orderedWrites(threadId, cid, wKey, raw);
        }
        for (const op of ops) op(doc);
        await this.s.store.setMany([{ key: wKey, value: doc }]);
        this.s.rememberWrites(threadId, wKey, doc);
      });
      batch = { ops, done };
      this.s.writeBatches.set(batchKey, batch);
    }
    batch.ops.push(apply);
    return batch.done;
  }
}

/** A copy of an index that `insertEntry` and the pagers may change (entries and page lists copied, no token). */
function copyIndex(base: ThreadIndex): ThreadIndex {
  const { g: _token, ...rest } = base;
  return { ...rest, ns: base.ns.map(([name, n]) => [name, { ...n, e: [...n.e], p: n.p ? [...n.p] : undefined }]) };
}

/** Deletes everything of a thread (its lock held by the caller); the index goes first. */
export async function deleteThreadLocked(s: SaverState, tid: string): Promise<void> {
  s.forget(tid);
  const raw = await s.store.get<unknown>(keys.index(tid));
  const head = raw === undefined ? undefined : (raw as ThreadIndex);
  const doomed = new Set<string>();
  if (head && Array.isArray(head.ns)) {
    for (const k of pageKeys(tid, head)) doomed.add(k);
    const located = locateAll(await loadPages(s.store, tid, head));
    const recKeys = located.map((l) => keys.checkpoint(tid, l.ns, l.id));
    const recs = await s.store.getMany<CheckpointRecord>(recKeys);
    located.forEach((l, i) => {
      doomed.add(recKeys[i]!);
      doomed.add(keys.writes(tid, l.ns, l.id));
      const rec = recs[i] as CheckpointRecord | undefined;
      if (rec && typeof rec.cv === "object" && Array.isArray(rec.n)) {
        for (const [ch, v] of admin.valueRefs(rec)) doomed.add(keys.value(tid, l.ns, ch, v));
      }
    });
  }
  // the index goes first: from then on the thread is invisible, whatever happens to the rest
  await s.store.deleteMany([keys.index(tid), keys.meta(tid)]);
  await s.store.deleteMany([...doomed]);
  await s.registry.remove(tid);
}

/** Deletes a thread whose ttl has run out (under its lock). */
export async function purgeIfExpired(s: SaverState, threadId: string): Promise<void> {
  await s.lock.run(threadId, async () => {
    const raw = (await s.store.get<ThreadIndex>(keys.index(threadId))) as ThreadIndex | undefined;
    if (raw !== undefined && isExpired(raw)) await deleteThreadLocked(s, threadId);
  });
}
