import type { StoredBlob } from "./codec.js";
import type { CheckpointRecord } from "./types.js";

/** One serialized channel value as text, kept so the next version can be stored as a delta against it. */
export interface CachedText {
  version: string | number;
  type: string;
  text: string;
}

/**
 * What the saver last wrote or read for one thread/namespace: the texts of one checkpoint's values, and, when every
 * value of that checkpoint is known, its record and binary values, so reading it back needs none of its keys.
 */
export interface CachedHead {
  checkpointId: string;
  cv: Record<string, string | number>;
  ch: Record<string, Array<string | number>>;
  texts: Map<string, CachedText>;
  /** channels of `cv` with no stored value (`undefined`: not known) */
  e?: string[] | undefined;
  /** the checkpoint as stored: its record and its binary (non-text) values; absent when some value is unknown */
  whole?: { record: CheckpointRecord; binary: Map<string, StoredBlob> } | undefined;
}

function sizeOf(h: CachedHead): number {
  let n = 0;
  for (const t of h.texts.values()) n += t.text.length;
  for (const b of h.whole?.binary.values() ?? []) n += b[1].length;
  return n;
}

/** Bounded LRU of {@link CachedHead} per thread and namespace, by total text length. */
export class DeltaCache {
  readonly #max: number;
  #bytes = 0;
  readonly #threads = new Map<string, Map<string, { head: CachedHead; size: number }>>();

  constructor(maxBytes: number) {
    this.#max = maxBytes;
  }

  get(threadId: string, ns: string): CachedHead | undefined {
    const t = this.#threads.get(threadId);
    const e = t?.get(ns);
    if (t === undefined || e === undefined) return undefined;
    this.#threads.delete(threadId);
    this.#threads.set(threadId, t);
    return e.head;
  }

  set(threadId: string, ns: string, head: CachedHead): void {
    const size = sizeOf(head);
    let t = this.#threads.get(threadId);
    const old = t?.get(ns);
    if (old) this.#bytes -= old.size;
    if (size > this.#max) {
      t?.delete(ns);
      return;
    }
    if (t === undefined) t = new Map();
    this.#threads.delete(threadId);
    this.#threads.set(threadId, t);
    t.set(ns, { head, size });
    this.#bytes += size;
    for (const [id, entries] of this.#threads) {
      if (this.#bytes <= this.#max || id === threadId) break;
      for (const e of entries.values()) this.#bytes -= e.size;
      this.#threads.delete(id);
    }
  }

  forget(threadId: string): void {
    const t = this.#threads.get(threadId);
    if (t === undefined) return;
    for (const e of t.values()) this.#bytes -= e.size;
    this.#threads.delete(threadId);
  }
}
