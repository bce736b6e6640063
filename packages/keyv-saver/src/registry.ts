import { keys, REGISTRY_SHARDS, registryShard } from "./keys.js";
import type { KeyedLock } from "./lock.js";
import type { Store } from "./store.js";

/** Delays of the re-checks after this process last wrote a thread into its shard. */
const RECHECK_MS = [100, 1000];

/**
 * The thread registry: 16 shard keys listing thread ids, for `list` without a thread and `listThreads`.
 *
 * A shard is rewritten whole (keyv has no atomic append), so another process that read the shard just before
 * our write can overwrite it with a list missing our thread. Re-reading right after the write cannot see that
 * later write: the shard is re-checked 100 ms and 1 s after our last write of it, and the thread re-added if it
 * is gone; `close()` runs the pending re-checks at once.
 */
export class Registry {
  readonly #store: Store;
  readonly #lock: KeyedLock;
  readonly #known = new Set<string>();
  readonly #rechecks = new Map<string, { timer: NodeJS.Timeout; round: number }>();

  constructor(store: Store, lock: KeyedLock) {
    this.#store = store;
    this.#lock = lock;
  }

  async add(threadId: string): Promise<void> {
    if (this.#known.has(threadId)) return;
    if (await this.#ensure(threadId)) this.#schedule(threadId, 0);
    this.#known.add(threadId);
  }

  /** Adds the thread to its shard when it is missing; resolves true when it wrote. */
  #ensure(threadId: string): Promise<boolean> {
    const shard = keys.registry(registryShard(threadId));
    return this.#lock.run(shard, async () => {
      let wrote = false;
      for (let attempt = 0; attempt < 3; attempt++) {
        const list = ((await this.#store.get<string[]>(shard)) ?? []) as string[];
        if (list.includes(threadId)) break;
        await this.#store.setMany([{ key: shard, value: [...list, threadId] }]);
        wrote = true;
        // another process may have rewritten the shard at the same time: verify
        const check = ((await this.#store.get<string[]>(shard)) ?? []) as string[];
        if (check.includes(threadId)) break;
      }
      return wrote;
    });
  }

  #schedule(threadId: string, round: number): void {
    clearTimeout(this.#rechecks.get(threadId)?.timer);
    if (round >= RECHECK_MS.length) {
      this.#rechecks.delete(threadId);
      return;
    }
    const timer = setTimeout(() => void this.#recheck(threadId, round), RECHECK_MS[round]);
    timer.unref?.();
    this.#rechecks.set(threadId, { timer, round });
  }

  async #recheck(threadId: string, round: number): Promise<void> {
    try {
      // a re-add starts the re-checks over: our write may in turn have overwritten another process's add
      this.#schedule(threadId, (await this.#ensure(threadId)) ? 0 : round + 1);
    } catch {
      // the store is down or closed: the next process that writes the thread registers it again
      this.#rechecks.delete(threadId);
      this.#known.delete(threadId);
    }
  }

  /** Runs the pending re-checks now (before the store is closed). */
  async flush(): Promise<void> {
    const pending = [...this.#rechecks.keys()];
    for (const { timer } of this.#rechecks.values()) clearTimeout(timer);
    this.#rechecks.clear();
    await Promise.all(pending.map((t) => this.#ensure(t).catch(() => false)));
  }

  async remove(threadId: string): Promise<void> {
    clearTimeout(this.#rechecks.get(threadId)?.timer);
    this.#rechecks.delete(threadId);
    this.#known.delete(threadId);
    const shard = keys.registry(registryShard(threadId));
    await this.#lock.run(shard, async () => {
      const list = ((await this.#store.get<string[]>(shard)) ?? []) as string[];
      if (!list.includes(threadId)) return;
      await this.#store.setMany([{ key: shard, value: list.filter((t) => t !== threadId) }]);
    });
  }

  async all(): Promise<string[]> {
    const shards = Array.from({ length: REGISTRY_SHARDS }, (_, i) => keys.registry(i));
    const lists = await this.#store.getMany<string[]>(shards);
    const out: string[] = [];
    for (const l of lists) if (Array.isArray(l)) out.push(...l.filter((t) => typeof t === "string"));
    return out.sort();
  }
}
