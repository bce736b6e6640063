import { InvalidArgumentError, parseDuration } from "@graphkeep/core";
import type { RunnableConfig } from "@langchain/core/runnables";
import {
  BaseCheckpointSaver,
  type ChannelVersions,
  type Checkpoint,
  type CheckpointListOptions,
  type CheckpointMetadata,
  type CheckpointTuple,
  type DeltaChannelHistory,
  type PendingWrite,
} from "@langchain/langgraph-checkpoint";
import type Keyv from "keyv";
import type { CheckpointInfo, PruneResult } from "./admin.js";
import * as admin from "./admin.js";
import { DeltaCache } from "./delta-cache.js";
import type { StoreClient } from "./from-url.js";
import { KeyedLock } from "./lock.js";
import { ReadPath } from "./read-path.js";
import { describeValue as describe } from "./records.js";
import { Registry } from "./registry.js";
import { type RewritePayload, rewriteValues } from "./rewrite.js";
import { newToken, SaverState } from "./state.js";
import { Store, type StoreOperationCounts } from "./store.js";
import type { FencingGuard, KeyvSaverOptions, KeyvSaverUrlOptions, SaverStats, ThreadInfo } from "./types.js";
import { deleteThreadLocked, purgeIfExpired, WritePath } from "./write-path.js";

const DEFAULTS = { operationTimeoutMs: 5000 } as const;
const DELTA_DEFAULTS = { snapshotEvery: 64, cacheBytes: 64 * 1024 * 1024 } as const;

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
  readonly #state: SaverState;
  readonly #read: ReadPath;
  readonly #write: WritePath;
  readonly #internals: admin.SaverInternals;

  /**
   * @param keyv A Keyv instance over any store. Give it its own namespace if it also holds other data.
   * @param options `ttl`, `serde`, `operationTimeoutMs`, `delta`, `fencing`.
   * @throws {InvalidArgumentError} when `keyv` is not a Keyv instance or an option is out of range.
   */
  constructor(keyv: Keyv, options: KeyvSaverOptions = {}) {
    super(options.serde);
    const { operationTimeout: legacyTimeout, ...given } = options;
    const opts = {
      ...DEFAULTS,
      ...(legacyTimeout === undefined ? {} : { operationTimeoutMs: legacyTimeout }),
      ...Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)),
    } as KeyvSaverOptions & typeof DEFAULTS;
    if (keyv === null || typeof keyv !== "object" || typeof (keyv as Keyv).getMany !== "function") {
      throw new InvalidArgumentError("KeyvSaver: the first argument must be a Keyv instance, e.g. new Keyv()");
    }
    if (!(Number.isFinite(opts.operationTimeoutMs) && opts.operationTimeoutMs > 0)) {
      throw new InvalidArgumentError("KeyvSaver: operationTimeoutMs must be a positive number of milliseconds");
    }
    const ttlMs = opts.ttl === undefined ? undefined : parseDuration(opts.ttl, "KeyvSaver: ttl");
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
    this.#store = new Store(keyv, opts.operationTimeoutMs);
    const state = new SaverState({
      store: this.#store,
      // shard keys get a lock table of their own: a thread id shaped like a shard key must never share its lock
      registry: new Registry(this.#store, new KeyedLock()),
      cache: delta && delta.cacheBytes > 0 ? new DeltaCache(delta.cacheBytes) : undefined,
      ttl: ttlMs,
      snapshotEvery: delta?.snapshotEvery ?? 1,
      fencing: opts.fencing,
      serde: this.serde,
      nextVersion: (current) => this.getNextVersion(current),
    });
    this.#state = state;
    this.#read = new ReadPath(state);
    this.#write = new WritePath(state, this.#read);
    this.#internals = {
      store: state.store,
      lock: state.lock,
      registry: state.registry,
      cache: state.cache,
      ttl: state.ttl,
      readIndex: (t) => this.#read.readIndex(t),
      indexValue: (t, idx) => {
        // a new token: a process that remembers the old index must read this one before it writes
        state.heads.delete(t);
        const { g: _old, ...rest } = idx;
        return { g: newToken(), ...rest };
      },
      deleteThreadLocked: (t) => deleteThreadLocked(state, t),
      purgeIfExpired: (t) => purgeIfExpired(state, t),
      serde: this.serde,
      decode: (blob, t, id, key, binding) => this.#read.decode(blob, t, id, key, binding),
      deltaHistory: (t, ns, id, channels) => this.#read.deltaHistory(t, ns, id, channels),
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
    await this.#state.registry.flush();
    await this.#store.disconnect();
  }

  // ---------------------------------------------------------------- BaseCheckpointSaver

  /**
   * Fetches a checkpoint tuple: the one named by `checkpoint_id`, or the newest of the thread/namespace.
   * Returns `undefined` when there is none (or `thread_id` is not given).
   * @throws {StoreUnavailableError} when the store fails; never reads a failure as "not found".
   * @throws {CheckpointCorruptError} when a stored record cannot be deserialized.
   */
  getTuple(config: RunnableConfig): Promise<CheckpointTuple | undefined> {
    return this.#read.getTuple(config);
  }

  /**
   * Lists checkpoints, newest first: of one thread (`thread_id`), or of all threads when it is absent.
   * Honors `checkpoint_ns`, `checkpoint_id`, `before`, `limit` and a metadata `filter` (deep equality per key).
   * Reads only the thread index and the checkpoints it yields (in pages of 32).
   */
  list(config: RunnableConfig, options?: CheckpointListOptions): AsyncGenerator<CheckpointTuple> {
    return this.#read.list(config, options);
  }

  /**
   * Stores a checkpoint: the values of the channels named in `newVersions` (one key per channel version, as a
   * delta when it extends the previous version), then the checkpoint record, then the thread index. A crash in
   * between leaves no half-written checkpoint visible.
   * @throws {InvalidConfigError} when `thread_id` is missing.
   */
  put(
    config: RunnableConfig,
    checkpoint: Checkpoint,
    metadata: CheckpointMetadata,
    newVersions: ChannelVersions,
  ): Promise<RunnableConfig> {
    return this.#write.put(config, checkpoint, metadata, newVersions);
  }

  /**
   * Stores the pending writes of one task against a checkpoint (with its `taskPath`). Regular writes already
   * stored for the same task and index are kept; special writes (errors, interrupts) replace.
   * Concurrent calls for one checkpoint are merged into one read and one write.
   * @throws {InvalidConfigError} when `thread_id` or `checkpoint_id` is missing.
   */
  putWrites(config: RunnableConfig, writes: PendingWrite[], taskId: string, taskPath = ""): Promise<void> {
    return this.#write.putWrites(config, writes, taskId, taskPath);
  }

  /**
   * Per-channel writes and seed for rebuilding `DeltaChannel` state (see `BaseCheckpointSaver`). Walks the
   * parent chain through the thread index, reading ancestors in pages of 32 (records + writes in one round trip,
   * then only the values that end a channel's walk), instead of one full `getTuple` per ancestor.
   */
  getDeltaChannelHistory(options: {
    config: RunnableConfig;
    channels: string[];
  }): Promise<Record<string, DeltaChannelHistory>> {
    return this.#read.getDeltaChannelHistory(options);
  }

  /** Deletes everything of a thread: checkpoints, values, writes, index and registry entry. */
  async deleteThread(threadId: string): Promise<void> {
    if (typeof threadId !== "string" && typeof threadId !== "number") {
      throw new InvalidArgumentError(`KeyvSaver.deleteThread: threadId must be a string, got ${describe(threadId)}`);
    }
    const tid = String(threadId);
    const state = this.#state;
    await state.lock.run(tid, async () => {
      await state.fencing?.assertCurrent(tid, undefined, "deleteThread");
      await deleteThreadLocked(state, tid);
    });
  }

  /**
   * Next channel version: `floor(current) + 1` plus a random fraction, so two branches forked from one
   * checkpoint never produce the same version (and never overwrite each other's values). See langgraph #1812.
   */
  getNextVersion(current: number | undefined): number {
    const value = current as unknown;
    let base = 0;
    if (typeof value === "number" && Number.isFinite(value)) base = Math.floor(value);
    else if (typeof value === "string") base = Number.parseInt(value.split(".")[0] ?? "0", 10) || 0;
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
    this.#state.lastWrites.delete(threadId);
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
    if (!options.dryRun) this.#state.lastWrites.delete(threadId);
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
    return admin.checkpointInfo(this.#internals, threadId, (blob, id, key, binding) =>
      this.#read.decode(blob, threadId, id, key, binding),
    );
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
    this.#state.lastWrites.delete(toThreadId);
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
    this.#state.lastWrites.delete(threadId);
    try {
      return await rewriteValues(this.#internals, threadId, rewrite);
    } finally {
      this.#state.lastWrites.delete(threadId);
    }
  }

  /** Deletes every thread whose `ttl` has run out. Returns how many were deleted. */
  purgeExpired(): Promise<number> {
    return admin.purgeExpired(this.#internals);
  }
}

export type { KeyvSaverOptions, KeyvSaverUrlOptions };
