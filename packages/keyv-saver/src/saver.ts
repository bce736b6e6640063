import { randomBytes } from "node:crypto";
import { CheckpointCorruptError, InvalidArgumentError, InvalidConfigError, isGraphkeepError } from "@graphkeep/core";
import type { RunnableConfig } from "@langchain/core/runnables";
import {
  BaseCheckpointSaver,
  type ChannelVersions,
  type Checkpoint,
  type CheckpointListOptions,
  type CheckpointMetadata,
  type CheckpointPendingWrite,
  type CheckpointTuple,
  compareWritesSortKeys,
  type DeltaChannelHistory,
  getCheckpointId,
  maxChannelVersion,
  type PendingWrite,
  TASKS,
  WRITES_IDX_MAP,
  writesSortKey,
} from "@langchain/langgraph-checkpoint";
import type Keyv from "keyv";
import type { CheckpointInfo, PruneResult } from "./admin.js";
import * as admin from "./admin.js";
import { decodeBlob, encodeBlob, isStoredBlob, type StoredBlob } from "./codec.js";
import { diff } from "./delta.js";
import { type CachedHead, type CachedText, DeltaCache } from "./delta-cache.js";
import { WriteConflictError } from "./errors.js";
import type { StoreClient } from "./from-url.js";
import { keys } from "./keys.js";
import { KeyedLock } from "./lock.js";
import { fitsHead, flushPages, inPages, loadPages, pageKeys, repage } from "./pages.js";
import {
  checkIndex,
  checkRecord,
  describeValue as describe,
  insertEntry,
  isExpired,
  type Located,
  locateAll,
  matchesFilter,
  neededValueKeys,
  nsIndex,
  sameVersions,
} from "./records.js";
import { Registry } from "./registry.js";
import { type RewritePayload, rewriteValues } from "./rewrite.js";
import { Store, type StoreEntry, type StoreOperationCounts } from "./store.js";
import type {
  CheckpointRecord,
  FencingGuard,
  KeyvSaverOptions,
  KeyvSaverUrlOptions,
  SaverStats,
  ThreadIndex,
  ThreadInfo,
  ThreadMeta,
  WriteRecord,
} from "./types.js";
import { BrokenValueError, deltaValue, isDeltaValue, materialize, type StoredValue } from "./values.js";

const DEFAULTS = { operationTimeout: 5000 } as const;
const DELTA_DEFAULTS = { snapshotEvery: 64, cacheBytes: 64 * 1024 * 1024 } as const;
/** Checkpoints read per round trip by `list`. */
const PAGE = 32;

type Version = string | number;

/**
 * A LangGraph.js checkpoint saver over any Keyv store: in-memory, SQLite, Redis (plain Redis/Valkey, Cluster),
 * PostgreSQL, MySQL/MariaDB. Channel values are stored once per channel version (as deltas when they extend
 * the previous version), so a step stores only what it changed; reads never scan the store.
 *
 * Store failures surface as `StoreUnavailableError` (never as "no checkpoint"). The saver sets
 * `throwOnErrors = true` on the Keyv instance it is given.
 *
 * @example
 * const saver = new KeyvSaver(new Keyv(new KeyvRedis("redis://127.0.0.1:6379")));
 * const graph = workflow.compile({ checkpointer: saver });
 */
export class KeyvSaver extends BaseCheckpointSaver<number> {
  readonly #store: Store;
  readonly #ttl: number | undefined;
  readonly #lock = new KeyedLock();
  readonly #registry: Registry;
  readonly #snapshotEvery: number;
  readonly #cache: DeltaCache | undefined;
  readonly #writeBatches = new Map<string, { ops: Array<(doc: WriteRecord[]) => void>; done: Promise<void> }>();
  /** the pending writes this process last stored, per thread: the next call for that checkpoint needs no read */
  readonly #lastWrites = new Map<string, { key: string; doc: WriteRecord[] }>();
  /** writes keys `putWrites` was called for recently: a checkpoint `put` after them is not known to be empty */
  readonly #touchedWrites = new Set<string>();
  readonly #internals: admin.SaverInternals;
  readonly #fencing: FencingGuard | undefined;
  /** the index of each thread as this process last wrote or read it: a put needs no read, the commit checks it */
  readonly #heads = new Map<string, Head>();

  /**
   * @param keyv A Keyv instance over any store. Give it its own namespace if it also holds other data.
   * @param options `ttl`, `serde`, `operationTimeout`, `delta`, `fencing`.
   * @throws {InvalidArgumentError} when `keyv` is not a Keyv instance or an option is out of range.
   */
  constructor(keyv: Keyv, options: KeyvSaverOptions = {}) {
    super(options.serde);
    const opts = { ...DEFAULTS, ...options };
    if (keyv === null || typeof keyv !== "object" || typeof (keyv as Keyv).getMany !== "function") {
      throw new InvalidArgumentError("KeyvSaver: the first argument must be a Keyv instance, e.g. new Keyv()");
    }
    if (!(Number.isFinite(opts.operationTimeout) && opts.operationTimeout > 0)) {
      throw new InvalidArgumentError("KeyvSaver: operationTimeout must be a positive number of milliseconds");
    }
    if (opts.ttl !== undefined && !(Number.isFinite(opts.ttl) && opts.ttl > 0)) {
      throw new InvalidArgumentError("KeyvSaver: ttl must be a positive number of milliseconds (or undefined)");
    }
    const delta = opts.delta === false ? undefined : { ...DELTA_DEFAULTS, ...(opts.delta ?? {}) };
    if (delta && !(Number.isInteger(delta.snapshotEvery) && delta.snapshotEvery >= 1 && delta.snapshotEvery <= 1024)) {
      // a read rebuilds up to snapshotEvery links: more would make reads slow without saving much space
      throw new InvalidArgumentError("KeyvSaver: delta.snapshotEvery must be an integer from 1 to 1024");
    }
    if (delta && !(Number.isFinite(delta.cacheBytes) && delta.cacheBytes >= 0)) {
      throw new InvalidArgumentError("KeyvSaver: delta.cacheBytes must be a number of bytes >= 0");
    }
    if (
      opts.fencing !== undefined &&
      (opts.fencing === null || typeof (opts.fencing as FencingGuard).assertCurrent !== "function")
    ) {
      throw new InvalidArgumentError("KeyvSaver: fencing must have an assertCurrent method (e.g. a lease store)");
    }
    this.#fencing = opts.fencing;
    this.#store = new Store(keyv, opts.operationTimeout);
    this.#ttl = opts.ttl;
    // shard keys get a lock table of their own: a thread id shaped like a shard key must never share its lock
    this.#registry = new Registry(this.#store, new KeyedLock());
    this.#snapshotEvery = delta?.snapshotEvery ?? 1;
    this.#cache = delta && delta.cacheBytes > 0 ? new DeltaCache(delta.cacheBytes) : undefined;
    this.#internals = {
      store: this.#store,
      lock: this.#lock,
      registry: this.#registry,
      cache: this.#cache,
      ttl: this.#ttl,
      readIndex: (t) => this.#readIndex(t),
      indexValue: (t, idx) => {
        // a new token: a process that remembers the old index must read this one before it writes
        this.#heads.delete(t);
        const { g: _old, ...rest } = idx;
        return { g: newToken(), ...rest };
      },
      deleteThreadLocked: (t) => this.#deleteThreadLocked(t),
      purgeIfExpired: (t) => this.#purgeIfExpired(t),
    };
  }

  /**
   * Opens a saver from a connection URL, loading the matching keyv adapter on demand.
   * `memory:`, `sqlite://<path>`, `redis://`, `rediss://`, `postgres://`, `postgresql://`, `mysql://`, and a
   * Redis Cluster as `redis+cluster://host:7000,host:7001` (`rediss+cluster://` for TLS; any node is enough).
   * Instead of a URL it takes a client or pool the application already has (a better-sqlite3 `Database`, a
   * node-redis client or cluster, a `pg.Pool`, a mysql2 pool): the saver shares it and never closes it.
   * The store is connected and prepared before this resolves, so a bad URL or an unreachable server fails here.
   *
   * @throws {UnsupportedUrlError} for another scheme.
   * @throws {AdapterNotInstalledError} when the adapter package (`@keyv/redis`…) is not installed.
   * @throws {InvalidArgumentError} for a malformed cluster URL.
   * @example
   * const saver = await KeyvSaver.fromUrl("sqlite://./checkpoints.sqlite");
   */
  static async fromUrl(url: string | StoreClient, options: KeyvSaverUrlOptions = {}): Promise<KeyvSaver> {
    const { openKeyv } = await import("./from-url.js");
    const keyv = await openKeyv(url, options);
    const saver = new KeyvSaver(keyv, options);
    try {
      // connect (a cluster loads its slot map) and fix up the adapter now: a bad store fails here, not mid-run
      await saver.#store.ready();
    } catch (e) {
      await keyv.disconnect().catch(() => undefined);
      throw e;
    }
    return saver;
  }

  /** The Keyv instance this saver writes to. */
  get keyv(): Keyv {
    return this.#store.keyv;
  }

  /** Store operations issued so far (each `getMany`/`setMany` counts once). */
  get storeOperations(): Readonly<StoreOperationCounts> {
    return { ...this.#store.counts };
  }

  /**
   * Disconnects the underlying Keyv store. Note: `@keyv/postgres` and `@keyv/mysql` share one pool per URL
   * in a process, so this also ends the pool of other savers on the same URL.
   */
  async close(): Promise<void> {
    await this.#registry.flush();
    await this.#store.disconnect();
  }

  // ---------------------------------------------------------------- config parsing

  #threadId(config: RunnableConfig | undefined, method: string, required: true): string;
  #threadId(config: RunnableConfig | undefined, method: string, required: false): string | undefined;
  #threadId(config: RunnableConfig | undefined, method: string, required: boolean): string | undefined {
    if (config === null || typeof config !== "object") {
      throw new InvalidConfigError(
        `KeyvSaver.${method}: config must be an object like { configurable: { thread_id: "..." } }, got ${describe(config)}`,
      );
    }
    const c = config.configurable;
    if (c === undefined && !required) return undefined;
    if (c === null || typeof c !== "object") {
      throw new InvalidConfigError(
        `KeyvSaver.${method}: config.configurable is required, e.g. { configurable: { thread_id: "user-42" } }`,
      );
    }
    const t: unknown = c.thread_id;
    if (t === undefined && !required) return undefined;
    if (typeof t === "string" && t.length > 0) return t;
    if (typeof t === "number" && Number.isFinite(t)) return String(t);
    throw new InvalidConfigError(
      `KeyvSaver.${method}: config.configurable.thread_id is required (a non-empty string), got ${describe(t)}; pass { configurable: { thread_id: "user-42" } }`,
    );
  }

  #ns(config: RunnableConfig, method: string): string {
    const ns: unknown = config.configurable?.checkpoint_ns;
    if (ns === undefined || ns === null) return "";
    if (typeof ns !== "string") {
      throw new InvalidConfigError(
        `KeyvSaver.${method}: config.configurable.checkpoint_ns must be a string, got ${describe(ns)}`,
      );
    }
    return ns;
  }

  #checkpointId(config: RunnableConfig, method: string): string | undefined {
    const id: unknown = getCheckpointId(config);
    if (id === undefined || id === null || id === "") return undefined;
    if (typeof id !== "string") {
      throw new InvalidConfigError(
        `KeyvSaver.${method}: config.configurable.checkpoint_id must be a string, got ${describe(id)}`,
      );
    }
    return id;
  }

  // ---------------------------------------------------------------- reading

  async #readIndex(threadId: string): Promise<ThreadIndex | undefined> {
    return this.#liveIndex(await this.#store.get(keys.index(threadId)), threadId);
  }

  #liveIndex(raw: unknown, threadId: string): ThreadIndex | undefined {
    const idx = checkIndex(raw, threadId);
    if (idx !== undefined && isExpired(idx)) {
      // expired: read as absent, and reclaim in the background
      void this.#purgeIfExpired(threadId).catch(() => undefined);
      return undefined;
    }
    return idx;
  }

  async #decode(blob: unknown, threadId: string, checkpointId: string | undefined, key: string): Promise<unknown> {
    const where = `thread "${threadId}"${checkpointId ? `, checkpoint "${checkpointId}"` : ""}`;
    if (!isStoredBlob(blob)) {
      throw new CheckpointCorruptError(
        { threadId, checkpointId, key },
        `KeyvSaver: the value at key "${key}" (${where}) is not a graphkeep record`,
      );
    }
    try {
      return await decodeBlob(this.serde, blob);
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
  async #values(
    threadId: string,
    ns: string,
    checkpointId: string,
    cv: Record<string, Version>,
    fetched: Map<string, unknown>,
  ): Promise<Map<string, StoredBlob>> {
    try {
      return await materialize(
        Object.entries(cv),
        (channel, version) => keys.value(threadId, ns, channel, version),
        fetched,
        (ks) => this.#store.getMany<unknown>(ks),
      );
    } catch (e) {
      if (!(e instanceof BrokenValueError)) throw e;
      throw new CheckpointCorruptError(
        { threadId, checkpointId, key: e.key },
        `KeyvSaver: ${e.message} (thread "${threadId}", checkpoint "${checkpointId}")`,
      );
    }
  }

  async #buildTuple(
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
      this.#decode(record.c, threadId, checkpointId, recKey),
      this.#decode(record.m, threadId, checkpointId, recKey),
      values instanceof Map ? this.#values(threadId, ns, checkpointId, record.cv, values) : values.whole,
    ])) as [Checkpoint, CheckpointMetadata, Map<string, StoredBlob>];
    const channelValues: Record<string, unknown> = {};
    for (const [channel, blob] of whole) {
      channelValues[channel] = await this.#decode(
        blob,
        threadId,
        checkpointId,
        keys.value(threadId, ns, channel, record.cv[channel]!),
      );
    }
    checkpoint.channel_values = channelValues;
    checkpoint.channel_versions = { ...record.cv };
    if (remember && this.#cache) {
      const texts = new Map<string, CachedText>();
      const binary = new Map<string, StoredBlob>();
      for (const [channel, blob] of whole) {
        if (blob.length === 2) texts.set(channel, { version: record.cv[channel]!, type: blob[0], text: blob[1] });
        else binary.set(channel, blob);
      }
      this.#cache.set(threadId, ns, {
        checkpointId,
        cv: record.cv,
        ch: record.ch ?? {},
        texts,
        whole: { record, binary },
      });
    }
    const pendingWrites = await this.#decodeWrites(threadId, ns, checkpointId, writesDoc);
    if (checkpoint.v < 4 && record.p !== null) await this.#migratePendingSends(checkpoint, threadId, ns, record.p);
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

  #orderedWrites(threadId: string, checkpointId: string, key: string, doc: unknown): WriteRecord[] {
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

  async #decodeWrites(
    threadId: string,
    ns: string,
    checkpointId: string,
    doc: unknown,
  ): Promise<CheckpointPendingWrite[]> {
    const key = keys.writes(threadId, ns, checkpointId);
    const rows = this.#orderedWrites(threadId, checkpointId, key, doc);
    return Promise.all(
      rows.map(
        async (w) => [w[0], w[2], await this.#decode(w[3], threadId, checkpointId, key)] as CheckpointPendingWrite,
      ),
    );
  }

  async #migratePendingSends(checkpoint: Checkpoint, threadId: string, ns: string, parentId: string): Promise<void> {
    const key = keys.writes(threadId, ns, parentId);
    const doc = await this.#store.get(key);
    const rows = this.#orderedWrites(threadId, parentId, key, doc).filter((w) => w[2] === TASKS);
    const sends = await Promise.all(rows.map((w) => this.#decode(w[3], threadId, parentId, key)));
    checkpoint.channel_values ??= {};
    checkpoint.channel_values[TASKS] = sends;
    checkpoint.channel_versions ??= {};
    checkpoint.channel_versions[TASKS] =
      Object.keys(checkpoint.channel_versions).length > 0
        ? maxChannelVersion(...Object.values(checkpoint.channel_versions))
        : this.getNextVersion(undefined);
  }

  async #fetch(ks: string[]): Promise<Map<string, unknown>> {
    const unique = [...new Set(ks)];
    const got = await this.#store.getMany<unknown>(unique);
    const m = new Map<string, unknown>();
    unique.forEach((k, i) => {
      m.set(k, got[i]);
    });
    return m;
  }

  /** Loads the tuples of `located` (one thread) in two round trips: records + writes, then values. */
  async #loadMany(threadId: string, located: Located[], filter?: Record<string, unknown>): Promise<CheckpointTuple[]> {
    if (located.length === 0) return [];
    const recKeys = located.map((l) => keys.checkpoint(threadId, l.ns, l.id));
    const wKeys = located.map((l) => keys.writes(threadId, l.ns, l.id));
    const got = await this.#store.getMany<unknown>([...recKeys, ...wKeys]);
    const chosen: Array<{ l: Located; rec: CheckpointRecord; writes: unknown }> = [];
    for (let i = 0; i < located.length; i++) {
      const raw = got[i];
      if (raw === undefined) continue; // deleted concurrently
      const l = located[i]!;
      const rec = checkRecord(raw, threadId, l.id, recKeys[i]!);
      if (filter && Object.keys(filter).length > 0) {
        const metadata = (await this.#decode(rec.m, threadId, l.id, recKeys[i]!)) as Record<string, unknown>;
        if (!matchesFilter(metadata, filter)) continue;
      }
      chosen.push({ l, rec, writes: got[located.length + i] });
    }
    const fetched = await this.#fetch(chosen.flatMap((c) => neededValueKeys(threadId, c.l.ns, c.rec.cv, c.rec.ch)));
    return Promise.all(chosen.map((c) => this.#buildTuple(threadId, c.l.ns, c.l.id, c.rec, c.writes, fetched)));
  }

  // ---------------------------------------------------------------- BaseCheckpointSaver

  /**
   * Fetches a checkpoint tuple: the one named by `checkpoint_id`, or the newest of the thread/namespace.
   * Returns `undefined` when there is none (or `thread_id` is not given).
   * @throws {StoreUnavailableError} when the store fails; never reads a failure as "not found".
   * @throws {CheckpointCorruptError} when a stored record cannot be deserialized.
   */
  async getTuple(config: RunnableConfig): Promise<CheckpointTuple | undefined> {
    const threadId = this.#threadId(config, "getTuple", false);
    if (threadId === undefined) return undefined;
    const ns = this.#ns(config, "getTuple");
    const checkpointId = this.#checkpointId(config, "getTuple");
    if (checkpointId !== undefined) {
      const recKey = keys.checkpoint(threadId, ns, checkpointId);
      const wKey = keys.writes(threadId, ns, checkpointId);
      const [rawIdx, rawRec, writes] = await this.#store.getMany<unknown>([keys.index(threadId), recKey, wKey]);
      const idx = this.#liveIndex(rawIdx, threadId);
      this.#noteHead(rawIdx, threadId);
      if (idx === undefined || rawRec === undefined) return undefined;
      // a record without an index entry is a put that did not finish: it does not exist
      const n = nsIndex(idx, ns);
      if (!n || !(n.e.some(([id]) => id === checkpointId) || inPages(n, checkpointId))) return undefined;
      const rec = checkRecord(rawRec, threadId, checkpointId, recKey);
      const fetched = await this.#fetch(neededValueKeys(threadId, ns, rec.cv, rec.ch));
      return this.#buildTuple(threadId, ns, checkpointId, rec, writes, fetched, true);
    }
    // the checkpoint this process wrote or read last is served from memory while the index still carries the token
    // this process wrote: then only the index and the checkpoint's writes are read (one round trip)
    const cached = this.#cache?.get(threadId, ns);
    const known = this.#heads.get(threadId);
    let rawIdx: unknown;
    if (cached?.whole && typeof known?.token === "string") {
      const wKey = keys.writes(threadId, ns, cached.checkpointId);
      const [gotIdx, writes] = await this.#store.getMany<unknown>([keys.index(threadId), wKey]);
      rawIdx = gotIdx;
      const idx = this.#liveIndex(rawIdx, threadId);
      const n = idx && nsIndex(idx, ns);
      if (idx?.g === known.token && n?.e[n.e.length - 1]?.[0] === cached.checkpointId) {
        return this.#buildTuple(threadId, ns, cached.checkpointId, cached.whole.record, writes, {
          whole: wholeValues(cached),
        });
      }
    } else rawIdx = await this.#store.get(keys.index(threadId));
    const idx = this.#liveIndex(rawIdx, threadId);
    this.#noteHead(rawIdx, threadId);
    const n = idx && nsIndex(idx, ns);
    const head = n?.e[n.e.length - 1];
    if (n === undefined || head === undefined) return undefined;
    const headId = head[0];
    const recKey = keys.checkpoint(threadId, ns, headId);
    const wKey = keys.writes(threadId, ns, headId);
    // the index carries the newest checkpoint's versions and chains: record, writes and values in one round trip
    const vk = [...new Set(neededValueKeys(threadId, ns, n.cv, n.ch))];
    const got = await this.#store.getMany<unknown>([recKey, wKey, ...vk]);
    if (got[0] === undefined) return undefined;
    const rec = checkRecord(got[0], threadId, headId, recKey);
    if (!sameVersions(rec.cv, n.cv)) {
      // index written by an older version or repaired: load the values the record names
      const fetched = await this.#fetch(neededValueKeys(threadId, ns, rec.cv, rec.ch));
      return this.#buildTuple(threadId, ns, headId, rec, got[1], fetched, true);
    }
    const fetched = new Map<string, unknown>();
    vk.forEach((k, i) => {
      fetched.set(k, got[i + 2]);
    });
    return this.#buildTuple(threadId, ns, headId, rec, got[1], fetched, true);
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
    const threadId = this.#threadId(config, "list", false);
    const nsFilter: unknown = config.configurable?.checkpoint_ns;
    if (nsFilter !== undefined && typeof nsFilter !== "string") {
      throw new InvalidConfigError(
        `KeyvSaver.list: config.configurable.checkpoint_ns must be a string, got ${describe(nsFilter)}`,
      );
    }
    const idFilter = this.#checkpointId(config, "list");
    const beforeId: unknown = before?.configurable?.checkpoint_id;
    if (beforeId !== undefined && typeof beforeId !== "string") {
      throw new InvalidArgumentError("KeyvSaver.list: options.before.configurable.checkpoint_id must be a string");
    }
    if (limit !== undefined && limit <= 0) return;
    const threadIds = threadId !== undefined ? [threadId] : await this.#registry.all();
    // indexes are read 64 threads per round trip
    let indexes = new Map<string, unknown>();
    for (let t = 0; t < threadIds.length; t++) {
      const tid = threadIds[t]!;
      if (!indexes.has(tid)) {
        const batch = threadIds.slice(t, t + 64);
        indexes = await this.#fetch(batch.map((b) => keys.index(b))).then(
          (m) => new Map(batch.map((b) => [b, m.get(keys.index(b))])),
        );
      }
      const head = this.#liveIndex(indexes.get(tid), tid);
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
      const pagedNewest = head.ns.reduce((m, [, n]) => {
        const last = n.p?.[n.p.length - 1]?.[2];
        return last !== undefined && last > m ? last : m;
      }, "");
      if (pagedNewest !== "") {
        const enough =
          limit !== undefined && !filter && located.length >= limit && located[limit - 1]!.id > pagedNewest;
        if (!enough) located = select(await loadPages(this.#store, tid, head));
      }
      for (let i = 0; i < located.length; ) {
        const size = limit !== undefined && !filter ? Math.min(limit, PAGE) : PAGE;
        const page = located.slice(i, i + size);
        i += page.length;
        for (const tuple of await this.#loadMany(tid, page, filter)) {
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
   */
  async put(
    config: RunnableConfig,
    checkpoint: Checkpoint,
    metadata: CheckpointMetadata,
    newVersions: ChannelVersions,
  ): Promise<RunnableConfig> {
    const threadId = this.#threadId(config, "put", true);
    const ns = this.#ns(config, "put");
    const parent = this.#checkpointId(config, "put") ?? null;
    if (checkpoint === null || typeof checkpoint !== "object" || typeof checkpoint.id !== "string" || !checkpoint.id) {
      throw new InvalidArgumentError("KeyvSaver.put: checkpoint.id must be a non-empty string");
    }
    const cid = checkpoint.id;
    const { channel_values: channelValues = {}, ...rest } = checkpoint;
    const cv: Record<string, Version> = { ...(checkpoint.channel_versions ?? {}) };
    // the cached texts are those of the parent checkpoint when this put continues our own last write or read
    const cached = this.#cache?.get(threadId, ns);
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
        const blob = await encodeBlob(this.serde, (channelValues as Record<string, unknown>)[channel]);
        let stored: StoredValue = blob;
        if (blob.length === 3) binary.set(channel, blob);
        if (blob.length === 2) {
          texts.set(channel, { version, type: blob[0], text: blob[1] });
          const prev = base?.texts.get(channel);
          const chain = prev ? [...(base!.ch[channel] ?? []), prev.version] : [];
          if (prev && prev.type === blob[0] && prev.version !== version && chain.length < this.#snapshotEvery) {
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
      } else {
        unresolved.push(c);
        allKnown = false;
      }
    }
    const [c, m] = await Promise.all([
      // channel versions live once, plainly, in the record (`cv`)
      encodeBlob(this.serde, { ...rest, channel_values: {}, channel_versions: {} }),
      encodeBlob(this.serde, metadata ?? {}),
    ]);
    const makeRecord = (): CheckpointRecord => ({
      v: 1,
      p: parent,
      c,
      m,
      cv,
      n: written,
      ch: Object.keys(ch).length > 0 ? ch : undefined,
    });

    let record: CheckpointRecord | undefined;
    await this.#lock.run(threadId, async () => {
      await this.#fencing?.assertCurrent(threadId, config, "put");
      const rememberedHead = this.#heads.get(threadId);
      // a thread this process has not seen is assumed new: the commit checks it (one round trip either way)
      let head: Head = rememberedHead ?? { token: null, idx: undefined };
      let needParent = unresolved.length > 0;
      let fresh = false;
      try {
        for (let attempt = 0; ; attempt++) {
          if (needParent) {
            const got = await this.#store.getMany<unknown>([
              keys.index(threadId),
              ...(parent ? [keys.checkpoint(threadId, ns, parent)] : []),
            ]);
            head = this.#headOf(got[0], threadId);
            await this.#resolveInherited(threadId, ns, parent, got[1], unresolved, cv, ch);
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
            await this.#store.setMany(entries);
            await this.#store.setMany([{ key: keys.index(threadId), value: indexValue }]);
            ok = true;
          } else {
            [ok] = await Promise.all([
              this.#store.commit({
                entries,
                index: { key: keys.index(threadId), value: indexValue, expect: head.token },
              }),
              this.#registry.add(threadId),
            ]);
          }
          if (ok) {
            fresh = built.fresh;
            this.#rememberHead(threadId, { token, idx: indexValue });
            if (built.stale.length > 0) await this.#store.deleteMany(built.stale);
            break;
          }
          // another writer (or a late write) moved the index on: read it and build on what is stored
          if (attempt >= 4) {
            throw new WriteConflictError(
              threadId,
              `KeyvSaver.put: the index of thread "${threadId}" changed under every one of 5 attempts; is another process writing this thread? (use @graphkeep/lease for one writer per thread)`,
            );
          }
          head = this.#headOf(await this.#store.get(keys.index(threadId)), threadId);
        }
      } catch (e) {
        // the stored index is unknown now (a write may still land): read it before the next put
        this.#heads.delete(threadId);
        throw e;
      }
      // a checkpoint this put created has no writes yet, unless putWrites raced ahead of it (async durability)
      const wKey = keys.writes(threadId, ns, cid);
      if (fresh && !this.#touchedWrites.has(wKey)) this.#rememberWrites(threadId, wKey, []);
    });
    this.#cache?.set(threadId, ns, {
      checkpointId: cid,
      cv,
      ch,
      texts,
      whole: allKnown && record !== undefined ? { record, binary } : undefined,
    });
    return { configurable: { thread_id: threadId, checkpoint_ns: ns, checkpoint_id: cid } };
  }

  /** The token and live content of a stored index (`token: undefined` for an index written before tokens). */
  #headOf(raw: unknown, threadId: string): Head {
    const idx = checkIndex(raw, threadId);
    if (idx === undefined) return { token: null, idx: undefined };
    return { token: typeof idx.g === "string" ? idx.g : undefined, idx: isExpired(idx) ? undefined : idx };
  }

  /**
   * True when `checkpointId` is newer than every checkpoint of the thread's known index: its put has not landed
   * (async durability writes a step's writes before its checkpoint), so it can have no stored writes yet.
   */
  #newerThanHead(threadId: string, ns: string, checkpointId: string): boolean {
    const head = this.#heads.get(threadId);
    if (head === undefined || typeof head.token !== "string" || head.idx === undefined) return false;
    const n = nsIndex(head.idx, ns);
    const newest = n?.e[n.e.length - 1]?.[0];
    return newest !== undefined && checkpointId > newest;
  }

  /** A read index becomes the known head of a thread this process has none for (a resumed thread's first put). */
  #noteHead(raw: unknown, threadId: string): void {
    if (!this.#heads.has(threadId)) this.#rememberHead(threadId, this.#headOf(raw, threadId));
  }

  #rememberHead(threadId: string, head: Head): void {
    this.#heads.delete(threadId);
    this.#heads.set(threadId, head);
    // bounded: the least recently written threads are forgotten first (their next put reads the index)
    if (this.#heads.size > 10_000) this.#heads.delete(this.#heads.keys().next().value!);
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
    const x = this.#ttl !== undefined ? now + this.#ttl : undefined;
    let idx: ThreadIndex = base ? copyIndex(base) : { v: 1, t: threadId, ns: [], c: now, u: now };
    let n = nsIndex(idx, ns);
    if (n === undefined) {
      n = { e: [], cv: {} };
      idx.ns.push([ns, n]);
    }
    let before: string[] | undefined;
    if (!fitsHead(n, cid)) {
      // older than paged entries (rare: a put out of id order): load every page and page the index anew
      before = pageKeys(threadId, idx);
      idx = await loadPages(this.#store, threadId, idx);
      n = nsIndex(idx, ns)!;
    }
    const fresh = !n.e.some(([id]) => id === cid);
    insertEntry(n, cid, parent, cv, ch);
    const repaged = before !== undefined ? repage(threadId, idx, before) : undefined;
    const pages = repaged?.pages ?? flushPages(threadId, idx);
    idx.u = now;
    idx.x = x;
    return { idx, pages, stale: repaged?.stale ?? [], meta: { t: threadId, c: idx.c, u: now, x }, fresh };
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
      } else walk.push(c);
    }
    // rare (a parent record gone, or one written without chains): follow the stored values' base links
    for (const c of walk) {
      const chain: Version[] = [];
      let version: Version = cv[c]!;
      for (let i = 0; i < 10_000; i++) {
        const raw = await this.#store.get<unknown>(keys.value(threadId, ns, c, version));
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
    const threadId = this.#threadId(config, "putWrites", true);
    const ns = this.#ns(config, "putWrites");
    const cid = this.#checkpointId(config, "putWrites");
    if (cid === undefined) {
      throw new InvalidConfigError(
        "KeyvSaver.putWrites: config.configurable.checkpoint_id is required (the checkpoint the writes belong to)",
      );
    }
    if (typeof taskId !== "string") throw new InvalidArgumentError("KeyvSaver.putWrites: taskId must be a string");
    if (!Array.isArray(writes)) throw new InvalidArgumentError("KeyvSaver.putWrites: writes must be an array");
    const encoded = await Promise.all(
      writes.map(
        async ([channel, value], i): Promise<WriteRecord> => [
          taskId,
          WRITES_IDX_MAP[channel] ?? i,
          channel,
          await encodeBlob(this.serde, value),
          taskPath ?? "",
        ],
      ),
    );
    const apply = (doc: WriteRecord[]) => {
      for (const w of encoded) {
        const at = doc.findIndex((d) => d[0] === w[0] && d[1] === w[1]);
        if (at === -1) doc.push(w);
        else if (w[1] < 0) doc[at] = w;
      }
    };
    const wKey = keys.writes(threadId, ns, cid);
    this.#touchedWrites.delete(wKey);
    this.#touchedWrites.add(wKey);
    if (this.#touchedWrites.size > 10_000) this.#touchedWrites.delete(this.#touchedWrites.values().next().value!);
    // calls merge only when they carry the same fencing token: each batch is checked against its own run's fence
    const batchKey = `${wKey}\u0000${JSON.stringify(config.configurable?.__graphkeep_fence ?? null)}`;
    let batch = this.#writeBatches.get(batchKey);
    if (batch === undefined) {
      const ops: Array<(doc: WriteRecord[]) => void> = [];
      const done = this.#lock.run(threadId, async () => {
        this.#writeBatches.delete(batchKey);
        await this.#fencing?.assertCurrent(threadId, config, "putWrites");
        const known = this.#lastWrites.get(threadId);
        let doc: WriteRecord[];
        if (known?.key === wKey) doc = [...known.doc];
        else if (this.#newerThanHead(threadId, ns, cid)) doc = [];
        else {
          const raw = await this.#store.get<unknown>(wKey);
          doc = raw === undefined ? [] : this.#orderedWrites(threadId, cid, wKey, raw);
        }
        for (const op of ops) op(doc);
        this.#lastWrites.delete(threadId);
        await this.#store.setMany([{ key: wKey, value: doc }]);
        this.#rememberWrites(threadId, wKey, doc);
      });
      batch = { ops, done };
      this.#writeBatches.set(batchKey, batch);
    }
    batch.ops.push(apply);
    return batch.done;
  }

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
    const collected = new Map<string, CheckpointPendingWrite[]>(channels.map((c) => [c, []]));
    const seeds = new Map<string, unknown>();
    const result = () => {
      const out: Record<string, DeltaChannelHistory> = {};
      for (const c of channels) {
        const entry: DeltaChannelHistory = { writes: collected.get(c)!.slice().reverse() };
        if (seeds.has(c)) entry.seed = seeds.get(c);
        out[c] = entry;
      }
      return out;
    };
    const threadId = this.#threadId(config, "getDeltaChannelHistory", false);
    if (threadId === undefined) return result();
    const ns = this.#ns(config, "getDeltaChannelHistory");
    const head = await this.#readIndex(threadId);
    const idx = head && (await loadPages(this.#store, threadId, head));
    const n = idx && nsIndex(idx, ns);
    if (n === undefined || n.e.length === 0) return result();
    const parentOf = new Map(n.e);
    const target = this.#checkpointId(config, "getDeltaChannelHistory") ?? n.e[n.e.length - 1]![0];
    if (!parentOf.has(target)) return result();
    const chain: string[] = [];
    for (let p = parentOf.get(target) ?? null; p !== null && parentOf.has(p) && chain.length <= n.e.length; ) {
      chain.push(p);
      p = parentOf.get(p) ?? null;
    }
    const remaining = new Set(channels);
    for (let at = 0; at < chain.length && remaining.size > 0; at += PAGE) {
      const page = chain.slice(at, at + PAGE);
      const recKeys = page.map((id) => keys.checkpoint(threadId, ns, id));
      const got = await this.#store.getMany<unknown>([...recKeys, ...page.map((id) => keys.writes(threadId, ns, id))]);
      const recs = page.map((id, i) =>
        got[i] === undefined ? undefined : checkRecord(got[i], threadId, id, recKeys[i]!),
      );
      const wanted = new Set<string>();
      recs.forEach((rec) => {
        if (rec) for (const c of remaining) if (c in rec.cv) wanted.add(c);
      });
      const fetched = await this.#fetch(
        recs.flatMap((rec) => {
          if (!rec) return [];
          const cv = Object.fromEntries(Object.entries(rec.cv).filter(([c]) => wanted.has(c)));
          return neededValueKeys(threadId, ns, cv, rec.ch);
        }),
      );
      for (let i = 0; i < page.length && remaining.size > 0; i++) {
        const rec = recs[i];
        if (rec === undefined) return result(); // the chain is broken here, as a missing getTuple would be
        const writes = await this.#decodeWrites(threadId, ns, page[i]!, got[page.length + i]);
        const perChannel = new Map<string, CheckpointPendingWrite[]>();
        for (const w of writes) if (remaining.has(w[1])) perChannel.set(w[1], [...(perChannel.get(w[1]) ?? []), w]);
        for (const [c, block] of perChannel)
          for (let j = block.length - 1; j >= 0; j--) collected.get(c)!.push(block[j]!);
        const cv = Object.fromEntries(Object.entries(rec.cv).filter(([c]) => remaining.has(c)));
        const whole = await this.#values(threadId, ns, page[i]!, cv, fetched);
        for (const [c, blob] of whole) {
          seeds.set(c, await this.#decode(blob, threadId, page[i], keys.value(threadId, ns, c, rec.cv[c]!)));
          remaining.delete(c);
        }
      }
    }
    return result();
  }

  #rememberWrites(threadId: string, key: string, doc: WriteRecord[]): void {
    this.#lastWrites.delete(threadId);
    this.#lastWrites.set(threadId, { key, doc });
    // bounded: the oldest threads are forgotten first
    if (this.#lastWrites.size > 10_000) this.#lastWrites.delete(this.#lastWrites.keys().next().value!);
  }

  /** Deletes everything of a thread: checkpoints, values, writes, index and registry entry. */
  async deleteThread(threadId: string): Promise<void> {
    if (typeof threadId !== "string" && typeof threadId !== "number") {
      throw new InvalidArgumentError(`KeyvSaver.deleteThread: threadId must be a string, got ${describe(threadId)}`);
    }
    const tid = String(threadId);
    await this.#lock.run(tid, async () => {
      await this.#fencing?.assertCurrent(tid, undefined, "deleteThread");
      await this.#deleteThreadLocked(tid);
    });
  }

  async #deleteThreadLocked(tid: string): Promise<void> {
    this.#cache?.forget(tid);
    this.#lastWrites.delete(tid);
    this.#heads.delete(tid);
    const raw = await this.#store.get<unknown>(keys.index(tid));
    const head = raw === undefined ? undefined : (raw as ThreadIndex);
    const doomed = new Set<string>();
    if (head && Array.isArray(head.ns)) {
      for (const k of pageKeys(tid, head)) doomed.add(k);
      const located = locateAll(await loadPages(this.#store, tid, head));
      const recKeys = located.map((l) => keys.checkpoint(tid, l.ns, l.id));
      const recs = await this.#store.getMany<CheckpointRecord>(recKeys);
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
    await this.#store.deleteMany([keys.index(tid), keys.meta(tid)]);
    await this.#store.deleteMany([...doomed]);
    await this.#registry.remove(tid);
  }

  async #purgeIfExpired(threadId: string): Promise<void> {
    await this.#lock.run(threadId, async () => {
      const raw = (await this.#store.get<ThreadIndex>(keys.index(threadId))) as ThreadIndex | undefined;
      if (raw !== undefined && isExpired(raw)) await this.#deleteThreadLocked(threadId);
    });
  }

  /**
   * Next channel version: `floor(current) + 1` plus a random fraction, so two branches forked from one
   * checkpoint never produce the same version (and never overwrite each other's values). See langgraph #1812.
   */
  getNextVersion(current: number | undefined): number {
    const c = current as unknown;
    let base = 0;
    if (typeof c === "number" && Number.isFinite(c)) base = Math.floor(c);
    else if (typeof c === "string") base = Number.parseInt(c.split(".")[0] ?? "0", 10) || 0;
    return base + 1 + Math.floor(Math.random() * 1e9 + 1) / 1e10;
  }

  // ---------------------------------------------------------------- graphkeep capabilities

  /**
   * Every thread in the store with its creation and last-update time, most recently updated first.
   * @example
   * for await (const t of saver.listThreads()) console.log(t.threadId, t.updatedAt);
   */
  listThreads(): AsyncGenerator<ThreadInfo> {
    return admin.listThreads(this.#internals);
  }

  /**
   * Deletes some checkpoints of a thread (any namespace) with their writes, and the channel values no kept
   * checkpoint still uses (a value a kept checkpoint's delta chain needs is kept). Returns how many were deleted.
   * @throws {InvalidArgumentError} when `threadId` is not a non-empty string.
   */
  async deleteCheckpoints(threadId: string, checkpointIds: Iterable<string>): Promise<number> {
    if (typeof threadId !== "string" || threadId === "") {
      throw new InvalidArgumentError("KeyvSaver.deleteCheckpoints: threadId must be a non-empty string");
    }
    const ids = new Set(checkpointIds);
    if (ids.size === 0) return 0;
    this.#lastWrites.delete(threadId);
    return (await admin.pruneCheckpoints(this.#internals, threadId, ids, false)).checkpoints;
  }

  /**
   * Like {@link deleteCheckpoints}, and reports what was (or, with `dryRun`, would be) freed. A dry run changes
   * nothing and reports the same counts a real run would.
   * @example
   * const freed = await saver.pruneCheckpoints("user-42", oldIds, { dryRun: true });
   */
  async pruneCheckpoints(
    threadId: string,
    checkpointIds: Iterable<string>,
    options: { dryRun?: boolean } = {},
  ): Promise<PruneResult> {
    if (typeof threadId !== "string" || threadId === "") {
      throw new InvalidArgumentError("KeyvSaver.pruneCheckpoints: threadId must be a non-empty string");
    }
    const ids = new Set(checkpointIds);
    if (ids.size === 0) return { checkpoints: 0, values: 0, writes: 0, bytes: 0 };
    if (!options.dryRun) this.#lastWrites.delete(threadId);
    return admin.pruneCheckpoints(this.#internals, threadId, ids, options.dryRun === true);
  }

  /**
   * Every checkpoint of a thread without its values: ids, parent, timestamp, metadata source/step and the
   * channels of its pending writes (what retention policies decide on). Oldest first, per namespace.
   */
  checkpointInfo(threadId: string): Promise<CheckpointInfo[]> {
    if (typeof threadId !== "string" || threadId === "") {
      throw new InvalidArgumentError("KeyvSaver.checkpointInfo: threadId must be a non-empty string");
    }
    return admin.checkpointInfo(this.#internals, threadId, (blob, id, key) => this.#decode(blob, threadId, id, key));
  }

  /**
   * Copies every checkpoint, value and write of a thread to a new thread id (for forking a conversation).
   * Returns how many checkpoints were copied.
   * @throws {ThreadExistsError} when the target thread already has checkpoints.
   */
  async copyThread(fromThreadId: string, toThreadId: string): Promise<number> {
    for (const [name, v] of [
      ["fromThreadId", fromThreadId],
      ["toThreadId", toThreadId],
    ] as const) {
      if (typeof v !== "string" || v === "") {
        throw new InvalidArgumentError(`KeyvSaver.copyThread: ${name} must be a non-empty string`);
      }
    }
    if (fromThreadId === toThreadId) {
      throw new InvalidArgumentError("KeyvSaver.copyThread: source and target are the same thread");
    }
    this.#lastWrites.delete(toThreadId);
    return admin.copyThread(this.#internals, fromThreadId, toThreadId);
  }

  /**
   * Counts checkpoints, channel values, pending writes and payload bytes of one thread, or of every thread.
   * Reads everything it counts: a diagnostic, not a hot-path call.
   */
  stats(threadId?: string): Promise<SaverStats> {
    return admin.stats(this.#internals, threadId);
  }

  /**
   * Passes every serialized payload of a thread (checkpoints, metadata, channel values, pending writes) through
   * `rewrite` and stores each replacement in place, under the thread's lock. `rewrite` gets `[type, bytes]` as the
   * serde wrote them (delta-encoded values materialized) and returns the replacement, or `undefined` to keep it.
   * Each store key is replaced by one write, so a crash leaves every key as it was or rewritten; a replaced value is
   * stored whole, after every delta built on it. Resolves to the number of payloads replaced. Used by `rotate()` of
   * `@graphkeep/serde` to re-encrypt a store.
   * @throws {InvalidArgumentError} when `threadId` is not a non-empty string or `rewrite` not a function.
   * @throws whatever `rewrite` throws; keys already replaced stay replaced.
   */
  async rewriteValues(threadId: string, rewrite: RewritePayload): Promise<number> {
    if (typeof threadId !== "string" || threadId === "") {
      throw new InvalidArgumentError("KeyvSaver.rewriteValues: threadId must be a non-empty string");
    }
    if (typeof rewrite !== "function") {
      throw new InvalidArgumentError("KeyvSaver.rewriteValues: rewrite must be a function");
    }
    this.#lastWrites.delete(threadId);
    try {
      return await rewriteValues(this.#internals, threadId, rewrite);
    } finally {
      this.#lastWrites.delete(threadId);
    }
  }

  /** Deletes every thread whose `ttl` has run out. Returns how many were deleted. */
  purgeExpired(): Promise<number> {
    return admin.purgeExpired(this.#internals);
  }
}

/** What this process knows of a thread's stored index: its token (`null`: absent) and live content. */
interface Head {
  /** `null`: no index is stored; `undefined`: an index written before tokens */
  token: string | null | undefined;
  idx: ThreadIndex | undefined;
}

/** Every value of a cached checkpoint, as stored whole (texts and binary). */
function wholeValues(head: CachedHead): Map<string, StoredBlob> {
  const out = new Map<string, StoredBlob>(head.whole?.binary);
  for (const [channel, t] of head.texts) if (head.cv[channel] === t.version) out.set(channel, [t.type, t.text]);
  return out;
}

/** This process's token prefix: random, so two processes never make the same token. */
const TOKEN_PREFIX = randomBytes(9).toString("base64url");
let tokenCount = 0;

/** A new index token: every index write gets one, so a conditional write can tell a moved index. */
function newToken(): string {
  tokenCount += 1;
  return `${TOKEN_PREFIX}${tokenCount.toString(36)}`;
}

/** A copy of an index that `insertEntry` and the pagers may change (entries and page lists copied, no token). */
function copyIndex(base: ThreadIndex): ThreadIndex {
  const { g: _token, ...rest } = base;
  return { ...rest, ns: base.ns.map(([name, n]) => [name, { ...n, e: [...n.e], p: n.p ? [...n.p] : undefined }]) };
}

export type { KeyvSaverOptions, KeyvSaverUrlOptions };
