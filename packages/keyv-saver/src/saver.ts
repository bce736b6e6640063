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
  getCheckpointId,
  maxChannelVersion,
  type PendingWrite,
  type SerializerProtocol,
  TASKS,
  WRITES_IDX_MAP,
  writesSortKey,
} from "@langchain/langgraph-checkpoint";
import type Keyv from "keyv";
import { blobBytes, decodeBlob, encodeBlob, isStoredBlob, type StoredBlob } from "./codec.js";
import { CheckpointCorruptError, InvalidArgumentError, InvalidConfigError, ThreadExistsError } from "./errors.js";
import { keys, REGISTRY_SHARDS, registryShard } from "./keys.js";
import { KeyedLock } from "./lock.js";
import { Store, type StoreEntry, type StoreOperationCounts } from "./store.js";
import type {
  CheckpointRecord,
  KeyvSaverOptions,
  KeyvSaverUrlOptions,
  NamespaceIndex,
  SaverStats,
  ThreadIndex,
  ThreadInfo,
  ThreadMeta,
  WriteRecord,
} from "./types.js";

const DEFAULTS = { operationTimeout: 5000 } as const;
/** Checkpoints read per round trip by `list`. */
const PAGE = 32;

type Version = string | number;
interface Located {
  ns: string;
  id: string;
  parent: string | null;
}

function describe(x: unknown): string {
  if (x === null) return "null";
  if (Array.isArray(x)) return "an array";
  return typeof x === "string" ? `"${x}"` : typeof x;
}

/**
 * A LangGraph.js checkpoint saver over any Keyv store: in-memory, SQLite, Redis (plain Redis/Valkey, Cluster),
 * PostgreSQL, MySQL/MariaDB. Channel values are stored once per channel version, so a step stores only the
 * channels it changed; reads never scan the store.
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
  readonly #registered = new Set<string>();
  readonly #writeBatches = new Map<string, { ops: Array<(doc: WriteRecord[]) => void>; done: Promise<void> }>();

  /**
   * @param keyv A Keyv instance over any store. Give it its own namespace if it also holds other data.
   * @param options `ttl`, `serde`, `operationTimeout`.
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
    this.#store = new Store(keyv, opts.operationTimeout);
    this.#ttl = opts.ttl;
  }

  /**
   * Opens a saver from a connection URL, loading the matching keyv adapter on demand.
   * `memory:`, `sqlite://<path>`, `redis://`, `rediss://`, `postgres://`, `postgresql://`, `mysql://`.
   *
   * @throws {UnsupportedUrlError} for another scheme.
   * @throws {AdapterNotInstalledError} when the adapter package (`@keyv/redis`…) is not installed.
   * @example
   * const saver = await KeyvSaver.fromUrl("sqlite://./checkpoints.sqlite");
   */
  static async fromUrl(url: string, options: KeyvSaverUrlOptions = {}): Promise<KeyvSaver> {
    const { openKeyv } = await import("./from-url.js");
    const keyv = await openKeyv(url, options);
    return new KeyvSaver(keyv, options);
  }

  /** The Keyv instance this saver writes to. */
  get keyv(): Keyv {
    return this.#store.keyv;
  }

  /** Store operations issued so far (each `getMany`/`setMany` counts once). */
  get storeOperations(): Readonly<StoreOperationCounts> {
    return { ...this.#store.counts };
  }

  /** Disconnects the underlying Keyv store. */
  async close(): Promise<void> {
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

  // ---------------------------------------------------------------- decoding helpers

  async #decode(blob: unknown, threadId: string, checkpointId: string | undefined, key: string): Promise<unknown> {
    if (!isStoredBlob(blob)) {
      throw new CheckpointCorruptError(
        { threadId, checkpointId, key },
        `KeyvSaver: the value at key "${key}" (thread "${threadId}"${checkpointId ? `, checkpoint "${checkpointId}"` : ""}) is not a graphkeep record`,
      );
    }
    try {
      return await decodeBlob(this.serde, blob);
    } catch (e) {
      throw new CheckpointCorruptError(
        { threadId, checkpointId, key },
        `KeyvSaver: cannot deserialize key "${key}" (thread "${threadId}"${checkpointId ? `, checkpoint "${checkpointId}"` : ""}): ${e instanceof Error ? e.message : String(e)}; was it written with another serde?`,
        { cause: e },
      );
    }
  }

  #checkRecord(rec: unknown, threadId: string, checkpointId: string, key: string): CheckpointRecord {
    const r = rec as CheckpointRecord | undefined;
    if (
      r === null ||
      typeof r !== "object" ||
      r.v !== 1 ||
      !isStoredBlob(r.c) ||
      !isStoredBlob(r.m) ||
      typeof r.cv !== "object" ||
      r.cv === null ||
      !Array.isArray(r.n)
    ) {
      throw new CheckpointCorruptError(
        { threadId, checkpointId, key },
        `KeyvSaver: the checkpoint record at key "${key}" (thread "${threadId}", checkpoint "${checkpointId}") is malformed`,
      );
    }
    return r;
  }

  #checkIndex(idx: unknown, threadId: string): ThreadIndex | undefined {
    if (idx === undefined || idx === null) return undefined;
    const i = idx as ThreadIndex;
    if (typeof i !== "object" || i.v !== 1 || !Array.isArray(i.ns)) {
      throw new CheckpointCorruptError(
        { threadId, key: keys.index(threadId) },
        `KeyvSaver: the index of thread "${threadId}" at key "${keys.index(threadId)}" is malformed`,
      );
    }
    if (i.x !== undefined && i.x <= Date.now()) {
      // expired: read as absent, and reclaim in the background
      void this.#purgeIfExpired(threadId).catch(() => undefined);
      return undefined;
    }
    return i;
  }

  #nsIndex(idx: ThreadIndex, ns: string): NamespaceIndex | undefined {
    for (const [name, v] of idx.ns) if (name === ns) return v;
    return undefined;
  }

  #valueKeys(threadId: string, ns: string, cv: Record<string, Version>): Array<[string, string]> {
    const out: Array<[string, string]> = [];
    for (const [channel, version] of Object.entries(cv))
      out.push([channel, keys.value(threadId, ns, channel, version)]);
    return out;
  }

  async #buildTuple(
    threadId: string,
    ns: string,
    checkpointId: string,
    record: CheckpointRecord,
    writesDoc: unknown,
    values: Map<string, unknown>,
  ): Promise<CheckpointTuple> {
    const recKey = keys.checkpoint(threadId, ns, checkpointId);
    const [checkpoint, metadata] = (await Promise.all([
      this.#decode(record.c, threadId, checkpointId, recKey),
      this.#decode(record.m, threadId, checkpointId, recKey),
    ])) as [Checkpoint, CheckpointMetadata];
    const channelValues: Record<string, unknown> = {};
    for (const [channel, key] of this.#valueKeys(threadId, ns, record.cv)) {
      const blob = values.get(key);
      if (blob !== undefined) channelValues[channel] = await this.#decode(blob, threadId, checkpointId, key);
    }
    checkpoint.channel_values = channelValues;
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
    const rows = doc as WriteRecord[];
    return rows
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
      const rec = this.#checkRecord(raw, threadId, l.id, recKeys[i]!);
      if (filter && Object.keys(filter).length > 0) {
        const metadata = (await this.#decode(rec.m, threadId, l.id, recKeys[i]!)) as Record<string, unknown>;
        if (!matchesFilter(metadata, filter)) continue;
      }
      chosen.push({ l, rec, writes: got[located.length + i] });
    }
    const valueKeys = new Set<string>();
    for (const c of chosen) for (const [, k] of this.#valueKeys(threadId, c.l.ns, c.rec.cv)) valueKeys.add(k);
    const vk = [...valueKeys];
    const vals = await this.#store.getMany<unknown>(vk);
    const values = new Map<string, unknown>();
    vk.forEach((k, i) => {
      if (vals[i] !== undefined) values.set(k, vals[i]);
    });
    return Promise.all(chosen.map((c) => this.#buildTuple(threadId, c.l.ns, c.l.id, c.rec, c.writes, values)));
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
      const idx = this.#checkIndex(rawIdx, threadId);
      if (idx === undefined || rawRec === undefined) return undefined;
      // a record without an index entry is a put that did not finish: it does not exist
      if (!this.#nsIndex(idx, ns)?.e.some(([id]) => id === checkpointId)) return undefined;
      const rec = this.#checkRecord(rawRec, threadId, checkpointId, recKey);
      const vk = this.#valueKeys(threadId, ns, rec.cv).map(([, k]) => k);
      const vals = await this.#store.getMany<unknown>(vk);
      const values = new Map<string, unknown>();
      vk.forEach((k, i) => {
        if (vals[i] !== undefined) values.set(k, vals[i]);
      });
      return this.#buildTuple(threadId, ns, checkpointId, rec, writes, values);
    }
    const idx = this.#checkIndex(await this.#store.get(keys.index(threadId)), threadId);
    const nsIdx = idx && this.#nsIndex(idx, ns);
    const head = nsIdx?.e[nsIdx.e.length - 1];
    if (nsIdx === undefined || head === undefined) return undefined;
    const headId = head[0];
    const recKey = keys.checkpoint(threadId, ns, headId);
    const wKey = keys.writes(threadId, ns, headId);
    // the index carries the newest checkpoint's channel versions: record, writes and values in one round trip
    const vk = this.#valueKeys(threadId, ns, nsIdx.cv).map(([, k]) => k);
    const got = await this.#store.getMany<unknown>([recKey, wKey, ...vk]);
    if (got[0] === undefined) return undefined;
    const rec = this.#checkRecord(got[0], threadId, headId, recKey);
    const values = new Map<string, unknown>();
    vk.forEach((k, i) => {
      if (got[i + 2] !== undefined) values.set(k, got[i + 2]);
    });
    if (!sameVersions(rec.cv, nsIdx.cv)) {
      // index written by an older version or repaired: load the values the record names
      return (await this.#loadMany(threadId, [{ ns, id: headId, parent: head[1] }]))[0];
    }
    return this.#buildTuple(threadId, ns, headId, rec, got[1], values);
  }

  /**
   * Lists checkpoints, newest first: of one thread (`thread_id`), or of all threads when it is absent.
   * Honors `checkpoint_ns`, `checkpoint_id`, `before`, `limit` and a metadata `filter` (deep equality per key).
   * Reads only the thread index and the checkpoints it yields (in pages of 32).
   */
  async *list(config: RunnableConfig, options?: CheckpointListOptions): AsyncGenerator<CheckpointTuple> {
    const { before, filter } = options ?? {};
    let limit = options?.limit;
    if (limit !== undefined && (typeof limit !== "number" || Number.isNaN(limit))) {
      throw new InvalidArgumentError(`KeyvSaver.list: options.limit must be a number, got ${describe(limit)}`);
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
      throw new InvalidArgumentError(`KeyvSaver.list: options.before.configurable.checkpoint_id must be a string`);
    }
    if (limit !== undefined && limit <= 0) return;
    const threadIds = threadId !== undefined ? [threadId] : await this.#allThreadIds();
    for (const tid of threadIds) {
      const idx = this.#checkIndex(await this.#store.get(keys.index(tid)), tid);
      if (idx === undefined) continue;
      const located: Located[] = [];
      for (const [ns, nsIdx] of idx.ns) {
        if (nsFilter !== undefined && ns !== nsFilter) continue;
        for (const [id, parent] of nsIdx.e) {
          if (idFilter !== undefined && id !== idFilter) continue;
          if (beforeId !== undefined && !(id < beforeId)) continue;
          located.push({ ns, id, parent });
        }
      }
      located.sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : a.ns < b.ns ? -1 : 1));
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
   * Stores a checkpoint: the values of the channels named in `newVersions` (one key per channel version), then
   * the checkpoint record, then the thread index. A crash in between leaves no half-written checkpoint visible.
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
    if (
      checkpoint === null ||
      typeof checkpoint !== "object" ||
      typeof checkpoint.id !== "string" ||
      checkpoint.id === ""
    ) {
      throw new InvalidArgumentError("KeyvSaver.put: checkpoint.id must be a non-empty string");
    }
    const cid = checkpoint.id;
    const { channel_values: channelValues = {}, ...rest } = checkpoint;
    const cv: Record<string, Version> = { ...(checkpoint.channel_versions ?? {}) };
    const entries: StoreEntry[] = [];
    const written: Array<[string, Version]> = [];
    await Promise.all(
      Object.entries(newVersions ?? {}).map(async ([channel, version]) => {
        if (!(channel in channelValues)) return;
        const blob = await encodeBlob(this.serde, (channelValues as Record<string, unknown>)[channel]);
        entries.push({ key: keys.value(threadId, ns, channel, version), value: blob });
        written.push([channel, version]);
      }),
    );
    const [c, m] = await Promise.all([
      encodeBlob(this.serde, { ...rest, channel_values: {} }),
      encodeBlob(this.serde, metadata ?? {}),
    ]);
    const record: CheckpointRecord = { v: 1, p: parent, c, m, cv, n: written };
    entries.push({ key: keys.checkpoint(threadId, ns, cid), value: record });

    await this.#lock.run(threadId, async () => {
      const now = Date.now();
      const expires = this.#ttl !== undefined ? now + this.#ttl : undefined;
      const [, rawIdx] = await Promise.all([
        this.#store.setMany(entries),
        this.#store.get(keys.index(threadId)),
        this.#register(threadId),
      ]);
      const idx: ThreadIndex = this.#checkIndex(rawIdx, threadId) ?? { v: 1, t: threadId, ns: [], c: now, u: now };
      let nsIdx = this.#nsIndex(idx, ns);
      if (nsIdx === undefined) {
        nsIdx = { e: [], cv: {} };
        idx.ns.push([ns, nsIdx]);
      }
      insertEntry(nsIdx, cid, parent, cv);
      idx.u = now;
      idx.x = expires;
      const meta: ThreadMeta = { t: threadId, c: idx.c, u: now, x: expires };
      // meta first: a crash here leaves the index as it was
      await this.#store.setMany([
        { key: keys.meta(threadId), value: meta },
        { key: keys.index(threadId), value: idx },
      ]);
    });
    return { configurable: { thread_id: threadId, checkpoint_ns: ns, checkpoint_id: cid } };
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
      writes.map(async ([channel, value], i): Promise<WriteRecord> => {
        const idx = WRITES_IDX_MAP[channel] ?? i;
        return [taskId, idx, channel, await encodeBlob(this.serde, value), taskPath ?? ""];
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
    let batch = this.#writeBatches.get(wKey);
    if (batch === undefined) {
      const ops: Array<(doc: WriteRecord[]) => void> = [];
      const done = this.#lock.run(threadId, async () => {
        this.#writeBatches.delete(wKey);
        const raw = await this.#store.get<unknown>(wKey);
        const doc = raw === undefined ? [] : this.#orderedWrites(threadId, cid, wKey, raw);
        for (const op of ops) op(doc);
        await this.#store.setMany([{ key: wKey, value: doc }]);
      });
      batch = { ops, done };
      this.#writeBatches.set(wKey, batch);
    }
    batch.ops.push(apply);
    return batch.done;
  }

  /** Deletes everything of a thread: checkpoints, values, writes, index and registry entry. */
  async deleteThread(threadId: string): Promise<void> {
    if (typeof threadId !== "string" && typeof threadId !== "number") {
      throw new InvalidArgumentError(`KeyvSaver.deleteThread: threadId must be a string, got ${describe(threadId)}`);
    }
    const tid = String(threadId);
    await this.#lock.run(tid, () => this.#deleteThreadLocked(tid));
  }

  async #deleteThreadLocked(tid: string): Promise<void> {
    const raw = await this.#store.get<unknown>(keys.index(tid));
    const idx = raw === undefined ? undefined : (raw as ThreadIndex);
    const doomed = new Set<string>();
    if (idx && Array.isArray(idx.ns)) {
      const located: Located[] = [];
      for (const [ns, nsIdx] of idx.ns) for (const [id, parent] of nsIdx.e) located.push({ ns, id, parent });
      const recKeys = located.map((l) => keys.checkpoint(tid, l.ns, l.id));
      const recs = await this.#store.getMany<CheckpointRecord>(recKeys);
      located.forEach((l, i) => {
        doomed.add(recKeys[i]!);
        doomed.add(keys.writes(tid, l.ns, l.id));
        const rec = recs[i];
        if (rec && Array.isArray(rec.n)) for (const [ch, v] of rec.n) doomed.add(keys.value(tid, l.ns, ch, v));
      });
    }
    // the index goes first: from then on the thread is invisible, whatever happens to the rest
    await this.#store.deleteMany([keys.index(tid), keys.meta(tid)]);
    await this.#store.deleteMany([...doomed]);
    await this.#unregister(tid);
  }

  async #purgeIfExpired(threadId: string): Promise<void> {
    await this.#lock.run(threadId, async () => {
      const raw = (await this.#store.get<ThreadIndex>(keys.index(threadId))) as ThreadIndex | undefined;
      if (raw?.x !== undefined && raw.x <= Date.now()) await this.#deleteThreadLocked(threadId);
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

  // ---------------------------------------------------------------- registry

  async #register(threadId: string): Promise<void> {
    if (this.#registered.has(threadId)) return;
    const shard = keys.registry(registryShard(threadId));
    await this.#lock.run(shard, async () => {
      for (let attempt = 0; attempt < 3; attempt++) {
        const list = ((await this.#store.get<string[]>(shard)) ?? []) as string[];
        if (list.includes(threadId)) break;
        await this.#store.setMany([{ key: shard, value: [...list, threadId] }]);
        // another process may have rewritten the shard at the same time: verify
        const check = ((await this.#store.get<string[]>(shard)) ?? []) as string[];
        if (check.includes(threadId)) break;
      }
    });
    this.#registered.add(threadId);
  }

  async #unregister(threadId: string): Promise<void> {
    this.#registered.delete(threadId);
    const shard = keys.registry(registryShard(threadId));
    await this.#lock.run(shard, async () => {
      const list = ((await this.#store.get<string[]>(shard)) ?? []) as string[];
      if (!list.includes(threadId)) return;
      await this.#store.setMany([{ key: shard, value: list.filter((t) => t !== threadId) }]);
    });
  }

  async #allThreadIds(): Promise<string[]> {
    const shards = Array.from({ length: REGISTRY_SHARDS }, (_, i) => keys.registry(i));
    const lists = await this.#store.getMany<string[]>(shards);
    const out: string[] = [];
    for (const l of lists) if (Array.isArray(l)) out.push(...l);
    return out.sort();
  }

  // ---------------------------------------------------------------- graphkeep capabilities

  /**
   * Every thread in the store with its creation and last-update time, most recently updated first.
   * @example
   * for await (const t of saver.listThreads()) console.log(t.threadId, t.updatedAt);
   */
  async *listThreads(): AsyncGenerator<ThreadInfo> {
    const ids = await this.#allThreadIds();
    const infos: ThreadInfo[] = [];
    for (let i = 0; i < ids.length; i += 500) {
      const part = ids.slice(i, i + 500);
      const metas = await this.#store.getMany<ThreadMeta>(part.map((t) => keys.meta(t)));
      part.forEach((t, j) => {
        const m = metas[j] as ThreadMeta | undefined;
        if (m === undefined || (m.x !== undefined && m.x <= Date.now())) return;
        infos.push({ threadId: t, createdAt: new Date(m.c), updatedAt: new Date(m.u) });
      });
    }
    infos.sort((a, b) => b.updatedAt.getTime() - a.updatedAt.getTime());
    yield* infos;
  }

  /**
   * Deletes some checkpoints of a thread (any namespace) with their writes, and the channel values no kept
   * checkpoint still uses. Returns how many checkpoints were deleted.
   */
  async deleteCheckpoints(threadId: string, checkpointIds: Iterable<string>): Promise<number> {
    if (typeof threadId !== "string" || threadId === "") {
      throw new InvalidArgumentError("KeyvSaver.deleteCheckpoints: threadId must be a non-empty string");
    }
    const ids = new Set(checkpointIds);
    if (ids.size === 0) return 0;
    return this.#lock.run(threadId, async () => {
      const idx = this.#checkIndex(await this.#store.get(keys.index(threadId)), threadId);
      if (idx === undefined) return 0;
      const all: Located[] = [];
      for (const [ns, nsIdx] of idx.ns) for (const [id, parent] of nsIdx.e) all.push({ ns, id, parent });
      const gone = all.filter((l) => ids.has(l.id));
      if (gone.length === 0) return 0;
      const recKeys = all.map((l) => keys.checkpoint(threadId, l.ns, l.id));
      const recs = await this.#store.getMany<CheckpointRecord>(recKeys);
      const keep = new Set<string>();
      const maybe = new Set<string>();
      const doomed = new Set<string>();
      const cvOf = new Map<string, Record<string, Version>>();
      all.forEach((l, i) => {
        const rec = recs[i] as CheckpointRecord | undefined;
        if (rec === undefined) return;
        cvOf.set(`${l.ns}\u0000${l.id}`, rec.cv);
        if (ids.has(l.id)) {
          doomed.add(recKeys[i]!);
          doomed.add(keys.writes(threadId, l.ns, l.id));
          for (const [ch, v] of rec.n ?? []) maybe.add(keys.value(threadId, l.ns, ch, v));
        } else {
          for (const [ch, v] of Object.entries(rec.cv)) keep.add(keys.value(threadId, l.ns, ch, v));
        }
      });
      for (const k of maybe) if (!keep.has(k)) doomed.add(k);
      for (const [ns, nsIdx] of idx.ns) {
        nsIdx.e = nsIdx.e.filter(([id]) => !ids.has(id));
        const head = nsIdx.e[nsIdx.e.length - 1];
        nsIdx.cv = head ? (cvOf.get(`${ns}\u0000${head[0]}`) ?? {}) : {};
      }
      idx.ns = idx.ns.filter(([, nsIdx]) => nsIdx.e.length > 0);
      if (idx.ns.length === 0) {
        await this.#deleteThreadLocked(threadId);
        return gone.length;
      }
      // index first, so no visible checkpoint ever points at a deleted key
      await this.#store.setMany([{ key: keys.index(threadId), value: idx }]);
      await this.#store.deleteMany([...doomed]);
      return gone.length;
    });
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
    if (fromThreadId === toThreadId)
      throw new InvalidArgumentError("KeyvSaver.copyThread: source and target are the same thread");
    return this.#lock.run(toThreadId, async () => {
      const [rawSrc, rawDst] = await this.#store.getMany<unknown>([keys.index(fromThreadId), keys.index(toThreadId)]);
      if (this.#checkIndex(rawDst, toThreadId) !== undefined) throw new ThreadExistsError(toThreadId);
      const src = this.#checkIndex(rawSrc, fromThreadId);
      if (src === undefined) return 0;
      const all: Located[] = [];
      for (const [ns, nsIdx] of src.ns) for (const [id, parent] of nsIdx.e) all.push({ ns, id, parent });
      const recKeys = all.map((l) => keys.checkpoint(fromThreadId, l.ns, l.id));
      const wKeys = all.map((l) => keys.writes(fromThreadId, l.ns, l.id));
      const got = await this.#store.getMany<unknown>([...recKeys, ...wKeys]);
      const out: StoreEntry[] = [];
      const srcValueKeys: string[] = [];
      const dstValueKeys: string[] = [];
      all.forEach((l, i) => {
        const rec = got[i] as CheckpointRecord | undefined;
        if (rec === undefined) return;
        out.push({ key: keys.checkpoint(toThreadId, l.ns, l.id), value: rec });
        const w = got[all.length + i];
        if (w !== undefined) out.push({ key: keys.writes(toThreadId, l.ns, l.id), value: w });
        for (const [ch, v] of rec.n ?? []) {
          srcValueKeys.push(keys.value(fromThreadId, l.ns, ch, v));
          dstValueKeys.push(keys.value(toThreadId, l.ns, ch, v));
        }
      });
      const vals = await this.#store.getMany<unknown>(srcValueKeys);
      vals.forEach((v, i) => {
        if (v !== undefined) out.push({ key: dstValueKeys[i]!, value: v });
      });
      await this.#store.setMany(out);
      await this.#register(toThreadId);
      const now = Date.now();
      const expires = this.#ttl !== undefined ? now + this.#ttl : undefined;
      const idx: ThreadIndex = { ...src, t: toThreadId, c: now, u: now, x: expires };
      await this.#store.setMany([
        { key: keys.meta(toThreadId), value: { t: toThreadId, c: now, u: now, x: expires } satisfies ThreadMeta },
        { key: keys.index(toThreadId), value: idx },
      ]);
      return all.length;
    });
  }

  /**
   * Counts checkpoints, channel values, pending writes and payload bytes of one thread, or of every thread.
   * Reads everything it counts: a diagnostic, not a hot-path call.
   */
  async stats(threadId?: string): Promise<SaverStats> {
    const ids = threadId !== undefined ? [threadId] : await this.#allThreadIds();
    const total: SaverStats = { threads: 0, checkpoints: 0, values: 0, writes: 0, bytes: 0 };
    for (const tid of ids) {
      const idx = this.#checkIndex(await this.#store.get(keys.index(tid)), tid);
      if (idx === undefined) continue;
      total.threads += 1;
      const all: Located[] = [];
      for (const [ns, nsIdx] of idx.ns) for (const [id, parent] of nsIdx.e) all.push({ ns, id, parent });
      total.checkpoints += all.length;
      total.bytes += JSON.stringify(idx).length;
      const got = await this.#store.getMany<unknown>([
        ...all.map((l) => keys.checkpoint(tid, l.ns, l.id)),
        ...all.map((l) => keys.writes(tid, l.ns, l.id)),
      ]);
      const valueKeys = new Set<string>();
      all.forEach((l, i) => {
        const rec = got[i] as CheckpointRecord | undefined;
        if (rec === undefined) return;
        total.bytes += blobBytes(rec.c) + blobBytes(rec.m);
        for (const [ch, v] of rec.n ?? []) valueKeys.add(keys.value(tid, l.ns, ch, v));
        const w = got[all.length + i] as WriteRecord[] | undefined;
        if (Array.isArray(w)) {
          total.writes += w.length;
          for (const r of w) total.bytes += blobBytes(r[3]);
        }
      });
      const vals = await this.#store.getMany<StoredBlob>([...valueKeys]);
      for (const v of vals) {
        if (v === undefined) continue;
        total.values += 1;
        total.bytes += blobBytes(v as StoredBlob);
      }
    }
    return total;
  }

  /** Deletes every thread whose `ttl` has run out. Returns how many were deleted. */
  async purgeExpired(): Promise<number> {
    const ids = await this.#allThreadIds();
    let n = 0;
    const now = Date.now();
    for (let i = 0; i < ids.length; i += 500) {
      const part = ids.slice(i, i + 500);
      const metas = await this.#store.getMany<ThreadMeta>(part.map((t) => keys.meta(t)));
      for (let j = 0; j < part.length; j++) {
        const m = metas[j] as ThreadMeta | undefined;
        if (m?.x !== undefined && m.x <= now) {
          await this.#purgeIfExpired(part[j]!);
          n += 1;
        }
      }
    }
    return n;
  }
}

function insertEntry(nsIdx: NamespaceIndex, id: string, parent: string | null, cv: Record<string, Version>): void {
  const e = nsIdx.e;
  const last = e[e.length - 1];
  if (last === undefined || last[0] < id) {
    e.push([id, parent]);
    nsIdx.cv = cv;
    return;
  }
  const at = e.findIndex(([x]) => x >= id);
  if (e[at]![0] === id) e[at] = [id, parent];
  else e.splice(at, 0, [id, parent]);
  if (e[e.length - 1]![0] === id) nsIdx.cv = cv;
}

function sameVersions(a: Record<string, Version>, b: Record<string, Version>): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => a[k] === b[k]);
}

function matchesFilter(metadata: Record<string, unknown>, filter: Record<string, unknown>): boolean {
  return Object.entries(filter).every(([k, v]) => deepEqual(metadata?.[k], v));
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

export type { KeyvSaverOptions, KeyvSaverUrlOptions, SerializerProtocol };
