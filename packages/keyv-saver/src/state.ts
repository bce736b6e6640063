import { randomBytes } from "node:crypto";
import type { SerializerProtocol } from "@langchain/langgraph-checkpoint";
import type { DeltaCache } from "./delta-cache.js";
import { KeyedLock } from "./lock.js";
import { checkIndex, isExpired, nsIndex } from "./records.js";
import type { Registry } from "./registry.js";
import type { Store } from "./store.js";
import type { FencingGuard, ThreadIndex, WriteRecord } from "./types.js";

/** What this process knows of a thread's stored index: its token (`null`: absent) and live content. */
export interface Head {
  /** `null`: no index is stored; `undefined`: an index written before tokens */
  token: string | null | undefined;
  idx: ThreadIndex | undefined;
}

/** The settings and in-process memory one saver's read and write paths share. */
export interface SaverSettings {
  store: Store;
  registry: Registry;
  cache: DeltaCache | undefined;
  ttl: number | undefined;
  snapshotEvery: number;
  fencing: FencingGuard | undefined;
  serde: SerializerProtocol;
  /** the saver's `getNextVersion` */
  nextVersion(current: number | undefined): number;
}

/**
 * A saver's shared state: the store and options, the per-thread lock, and what this process remembers of each
 * thread (its index head, its last pending writes) so the write path needs no reads.
 */
export class SaverState {
  readonly store: Store;
  readonly registry: Registry;
  readonly cache: DeltaCache | undefined;
  readonly ttl: number | undefined;
  readonly snapshotEvery: number;
  readonly fencing: FencingGuard | undefined;
  readonly serde: SerializerProtocol;
  readonly nextVersion: (current: number | undefined) => number;
  /** one writer per thread in this process */
  readonly lock = new KeyedLock();
  /** the index of each thread as this process last wrote or read it: a put needs no read, the commit checks it */
  readonly heads = new Map<string, Head>();
  /** the pending writes this process last stored, per thread: the next call for that checkpoint needs no read */
  readonly lastWrites = new Map<string, { key: string; doc: WriteRecord[] }>();
  /** writes keys `putWrites` was called for recently: a checkpoint `put` after them is not known to be empty */
  readonly touchedWrites = new Set<string>();
  /** `putWrites` calls for one checkpoint (and fence) waiting to be stored together */
  readonly writeBatches = new Map<string, { ops: Array<(doc: WriteRecord[]) => void>; done: Promise<void> }>();

  constructor(settings: SaverSettings) {
    this.store = settings.store;
    this.registry = settings.registry;
    this.cache = settings.cache;
    this.ttl = settings.ttl;
    this.snapshotEvery = settings.snapshotEvery;
    this.fencing = settings.fencing;
    this.serde = settings.serde;
    this.nextVersion = settings.nextVersion;
  }

  /** Forgets everything this process remembers of a thread (its next put reads the stored index). */
  forget(threadId: string): void {
    this.cache?.forget(threadId);
    this.lastWrites.delete(threadId);
    this.heads.delete(threadId);
  }

  /** The token and live content of a stored index (`token: undefined` for an index written before tokens). */
  headOf(raw: unknown, threadId: string): Head {
    const idx = checkIndex(raw, threadId);
    if (idx === undefined) return { token: null, idx: undefined };
    return { token: typeof idx.g === "string" ? idx.g : undefined, idx: isExpired(idx) ? undefined : idx };
  }

  /**
   * True when `checkpointId` is newer than every checkpoint of the thread's known index: its put has not landed
   * (async durability writes a step's writes before its checkpoint), so it can have no stored writes yet.
   */
  newerThanHead(threadId: string, ns: string, checkpointId: string): boolean {
    const head = this.heads.get(threadId);
    if (head === undefined || typeof head.token !== "string" || head.idx === undefined) return false;
    const entries = nsIndex(head.idx, ns)?.e;
    const newest = entries?.[entries.length - 1]?.[0];
    return newest !== undefined && checkpointId > newest;
  }

  /** A read index becomes the known head of a thread this process has none for (a resumed thread's first put). */
  noteHead(raw: unknown, threadId: string): void {
    if (!this.heads.has(threadId)) this.rememberHead(threadId, this.headOf(raw, threadId));
  }

  rememberHead(threadId: string, head: Head): void {
    this.heads.delete(threadId);
    this.heads.set(threadId, head);
    // bounded: the least recently written threads are forgotten first (their next put reads the index)
    if (this.heads.size > 10_000) this.heads.delete(this.heads.keys().next().value!);
  }

  rememberWrites(threadId: string, key: string, doc: WriteRecord[]): void {
    this.lastWrites.delete(threadId);
    this.lastWrites.set(threadId, { key, doc });
    // bounded: the oldest threads are forgotten first
    if (this.lastWrites.size > 10_000) this.lastWrites.delete(this.lastWrites.keys().next().value!);
  }
}

/** This process's token prefix: random, so two processes never make the same token. */
const TOKEN_PREFIX = randomBytes(9).toString("base64url");
let tokenCount = 0;

/** A new index token: every index write gets one, so a conditional write can tell a moved index. */
export function newToken(): string {
  tokenCount += 1;
  return `${TOKEN_PREFIX}${tokenCount.toString(36)}`;
}
