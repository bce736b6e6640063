import type { Duration } from "@graphkeep/core";
import type { RunnableConfig } from "@langchain/core/runnables";
import type { SerializerProtocol } from "@langchain/langgraph-checkpoint";
import type { StoredBlob } from "./codec.js";

/**
 * A fencing check the saver runs before each write of a thread (`put`, `putWrites`, `deleteThread`): it
 * resolves to allow the write and rejects (e.g. with `LeaseLostError`) to refuse it. Any lease store of
 * `@graphkeep/lease` is one: it compares the run's fencing token (`configurable.__graphkeep_fence`) with the
 * thread's current lease.
 */
export interface FencingGuard {
  assertCurrent(
    threadId: string,
    config: RunnableConfig | undefined,
    operation: "put" | "putWrites" | "deleteThread",
  ): Promise<void>;
}

/** Options of {@link KeyvSaver}. */
export interface KeyvSaverOptions {
  /**
   * Fencing: checked before every write of a thread, inside the saver's per-thread lock, right before the
   * first store write. It is a separate read on the lease store, so a writer that stalls between that check and
   * its write can still land one write after losing its lease (one store round trip of window).
   * @default undefined (no check)
   */
  fencing?: FencingGuard | undefined;
  /**
   * Idle lifetime of a thread: milliseconds or a duration string (`"30d"`, `"12h"`). A thread not written for
   * that long reads as absent and is deleted the next time it is read or by `purgeExpired()`. Every `put`
   * extends it.
   * @default undefined (threads never expire)
   */
  ttl?: Duration | undefined;
  /**
   * Serializer for checkpoints, metadata, channel values and writes (any LangGraph `SerializerProtocol`, such as
   * the compressing/encrypting serde of `@graphkeep/serde`).
   * @default new JsonPlusSerializer()
   */
  serde?: SerializerProtocol | undefined;
  /**
   * Milliseconds after which a store operation that has not answered fails with `StoreUnavailableError`
   * (a Redis client that lost its server keeps reconnecting and never answers).
   * @default 5000
   */
  operationTimeoutMs?: number | undefined;
  /** @deprecated since 0.2: use `operationTimeoutMs` (same meaning; removed in 0.3). */
  operationTimeout?: number | undefined;
  /**
   * Delta encoding of channel values: a new version that extends or edits the previous one (appended
   * messages, a document with small edits) is stored as the changed part plus a reference to its base, with a
   * whole value every `snapshotEvery` versions so a read touches a bounded number of keys. `false` stores
   * every version whole. `cacheBytes` bounds the in-process copy of the last values a delta is computed from.
   * `snapshotEvery` is at most 1024.
   * @default { snapshotEvery: 64, cacheBytes: 64 MiB }
   */
  delta?: false | { snapshotEvery?: number | undefined; cacheBytes?: number | undefined } | undefined;
}

/** Options of {@link KeyvSaver.fromUrl}: saver options plus how to reach the store. */
export interface KeyvSaverUrlOptions extends KeyvSaverOptions {
  /**
   * Keyv namespace: prefix of every key (Redis, memory) or of every row key (SQL tables).
   * @default "graphkeep"
   */
  namespace?: string | undefined;
  /**
   * Table for SQL stores (SQLite, PostgreSQL, MySQL).
   * @default "graphkeep_checkpoints"
   */
  table?: string | undefined;
  /**
   * For `sqlite://` stores: switch the file to WAL journal with `synchronous=NORMAL` (about 6x faster writes;
   * a crash can lose the last transactions, never corrupt the file).
   * @default true
   */
  sqliteWal?: boolean | undefined;
  /**
   * For `postgres://` stores: wait for each commit's WAL flush (`synchronous_commit=on`). By default the saver's
   * connections commit asynchronously: a commit returns before its WAL is flushed, so a crash of the PostgreSQL
   * server (not of the application) can lose the last few hundred milliseconds of checkpoints, never corrupt
   * them — the same trade as SQLite's WAL with `synchronous=NORMAL`, and it makes each step several times
   * cheaper, which is what keeps LangGraph's async durability from building a backlog an application crash loses.
   * @default false
   */
  durableCommits?: boolean | undefined;
}

/** One thread as listed by `listThreads()`. */
export interface ThreadInfo {
  threadId: string;
  /** When the thread's first checkpoint was written. */
  createdAt: Date;
  /** When the thread's latest checkpoint was written. */
  updatedAt: Date;
}

/** What `stats()` counts. `bytes` is the size of the serialized payloads graphkeep wrote. */
export interface SaverStats {
  threads: number;
  checkpoints: number;
  values: number;
  writes: number;
  bytes: number;
}

/** @internal checkpoint record stored under `{t}:c:<ns>:<id>`. */
export interface CheckpointRecord {
  v: 1;
  /** parent checkpoint id */
  p: string | null;
  /** checkpoint without channel_values */
  c: StoredBlob;
  /** metadata */
  m: StoredBlob;
  /** channel_versions, plain, so that deletes need no deserialization */
  cv: Record<string, string | number>;
  /** channel versions whose value this checkpoint wrote */
  n: Array<[channel: string, version: string | number]>;
  /** for channels whose value is a delta: the versions of its chain, whole value first */
  ch?: Record<string, Array<string | number>> | undefined;
  /**
   * channels of `cv` that had no value when it was written (a `DeltaChannel` between snapshots, triggers): any
   * other channel of `cv` whose value is missing was lost from the store. Absent in records written before 0.2.
   */
  e?: string[] | undefined;
  /** the `DeltaChannel` history of ancestors pruned away, per channel (written by `pruneCheckpoints`) */
  dh?: Record<string, RawDeltaHistory> | undefined;
}

/** @internal the history of one `DeltaChannel` as stored: the writes since its seed, oldest first, and the seed. */
export interface RawDeltaHistory {
  /** `[checkpointId, write]` pairs, oldest first */
  w: Array<[string, WriteRecord]>;
  /** the nearest stored value: `[checkpointId, version, value]` */
  s?: [string, string | number, StoredBlob] | undefined;
}

/** @internal a full, immutable page of older index entries: `[pageNo, firstId, lastId]`. */
export type PageRef = [no: number, first: string, last: string];

/** @internal one namespace of a thread index. */
export interface NamespaceIndex {
  /** the newest `[checkpointId, parentId]`, ascending by checkpoint id (older ones live in pages) */
  e: Array<[string, string | null]>;
  /** pages of older entries, oldest first */
  p?: PageRef[] | undefined;
  /** next page number (page keys are never reused) */
  pn?: number | undefined;
  /** channel_versions of the newest checkpoint, so the latest tuple loads in one round trip */
  cv: Record<string, string | number>;
  /** delta chains of the newest checkpoint's values */
  ch?: Record<string, Array<string | number>> | undefined;
}

/** @internal thread index stored under `{t}:idx`. */
export interface ThreadIndex {
  /** token of this write of the index (first field: engines check it in the stored text); absent before 0.2 */
  g?: string | undefined;
  v: 1;
  /** thread id, as given */
  t: string;
  /** namespaces (array of pairs: namespace strings are untrusted and must not become object keys) */
  ns: Array<[string, NamespaceIndex]>;
  /** created at (ms) */
  c: number;
  /** updated at (ms) */
  u: number;
  /** expires at (ms), when a ttl is set */
  x?: number | undefined;
}

/** @internal thread meta stored under `{t}:meta`. */
export interface ThreadMeta {
  t: string;
  c: number;
  u: number;
  x?: number | undefined;
}

/** @internal one pending write: `[taskId, idx, channel, value, taskPath]`. */
export type WriteRecord = [taskId: string, idx: number, channel: string, value: StoredBlob, taskPath: string];
