import { keys, REGISTRY_SHARDS, registryShard } from "./keys.js";
import type { KeyedLock } from "./lock.js";
import type { Store } from "./store.js";

/** The thread registry: 16 shard keys listing thread ids, for `list` without a thread and `listThreads`. */
export class Registry {
  readonly #store: Store;
  readonly #lock: KeyedLock;
  readonly #known = new Set<string>();

  constructor(store: Store, lock: KeyedLock) {
    this.#store = store;
    this.#lock = lock;
  }

  async add(threadId: string): Promise<void> {
    if (this.#known.has(threadId)) return;
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
    this.#known.add(threadId);
  }

  async remove(threadId: string): Promise<void> {
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
