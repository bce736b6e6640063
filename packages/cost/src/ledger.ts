import type Keyv from "keyv";
import { addFlat, type Flat } from "./counters.js";

/** How a ledger makes increments safe; reported by {@link CostTracker.atomicity}. */
export type Atomicity =
  /** `HINCRBYFLOAT` in one `MULTI` per scope on Redis: exact across processes. */
  | "redis-atomic"
  /** One record per writer per scope, written only by its writer: exact within a process; see README for several processes. */
  | "per-writer";

/** @internal where counters live. */
export interface Ledger {
  readonly atomicity: Atomicity;
  add(scopes: readonly string[], delta: Flat): Promise<void>;
  read(scope: string): Promise<Flat>;
}

interface HashClient {
  multi(): { hIncrByFloat(key: string, field: string, by: number): unknown; exec(): Promise<unknown> };
  hGetAll(key: string): Promise<Record<string, string>>;
}

interface RedisAdapter {
  getClient(): Promise<HashClient>;
}

function redisAdapter(keyv: Keyv): RedisAdapter | undefined {
  const store = keyv.store as Partial<RedisAdapter> & { client?: Partial<HashClient> };
  if (typeof store?.getClient !== "function") return undefined;
  const client = store.client;
  return typeof client?.multi === "function" && typeof client.hGetAll === "function"
    ? (store as RedisAdapter)
    : undefined;
}

/** Picks the Redis hash ledger when `keyv.store` is `@keyv/redis`, else the per-writer keyv ledger. */
export function createLedger(keyv: Keyv, namespace: string, writerId: string): Ledger {
  const redis = redisAdapter(keyv);
  const prefix = `${keyv.namespace ? `${keyv.namespace}:` : ""}${namespace}`;
  return redis ? new RedisLedger(redis, prefix) : new KeyvLedger(keyv, namespace, writerId);
}

class RedisLedger implements Ledger {
  readonly atomicity = "redis-atomic" as const;
  constructor(
    readonly adapter: RedisAdapter,
    readonly prefix: string,
  ) {}

  async add(scopes: readonly string[], delta: Flat): Promise<void> {
    const client = await this.adapter.getClient();
    await Promise.all(
      scopes.map((scope) => {
        const m = client.multi();
        for (const [field, by] of Object.entries(delta)) m.hIncrByFloat(`${this.prefix}:${scope}`, field, by);
        return m.exec();
      }),
    );
  }

  async read(scope: string): Promise<Flat> {
    const client = await this.adapter.getClient();
    const raw = await client.hGetAll(`${this.prefix}:${scope}`);
    return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, Number(v)]));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

class KeyvLedger implements Ledger {
  readonly atomicity = "per-writer" as const;
  readonly #chains = new Map<string, Promise<void>>();

  constructor(
    readonly keyv: Keyv,
    readonly namespace: string,
    readonly writerId: string,
  ) {}

  #shard(scope: string, writer = this.writerId): string {
    return `${this.namespace}:${scope}:w:${writer}`;
  }
  #registry(scope: string): string {
    return `${this.namespace}:${scope}:writers`;
  }

  /** Serializes the writes of this writer to one scope, so no increment of this process is ever lost. */
  #serial(scope: string, work: () => Promise<void>): Promise<void> {
    const prev = this.#chains.get(scope) ?? Promise.resolve();
    const next = prev.then(work, work);
    this.#chains.set(scope, next);
    void next
      .finally(() => {
        if (this.#chains.get(scope) === next) this.#chains.delete(scope);
      })
      .catch(() => undefined);
    return next;
  }

  add(scopes: readonly string[], delta: Flat): Promise<void> {
    return Promise.all(
      scopes.map((scope) =>
        this.#serial(scope, async () => {
          const [shard, writers] = await this.keyv.getMany<unknown>([this.#shard(scope), this.#registry(scope)]);
          await this.keyv.set(this.#shard(scope), addFlat(asFlat(shard), delta));
          if (!asList(writers).includes(this.writerId)) await this.#register(scope);
        }),
      ),
    ).then(() => undefined);
  }

  /** Adds this writer to the scope's writer list, re-reading after a jitter to repair a concurrent overwrite. */
  async #register(scope: string): Promise<void> {
    for (let attempt = 0; attempt < 8; attempt++) {
      const writers = asList(await this.keyv.get<unknown>(this.#registry(scope)));
      if (attempt > 0 && writers.includes(this.writerId)) return;
      if (!writers.includes(this.writerId)) await this.keyv.set(this.#registry(scope), [...writers, this.writerId]);
      await sleep(5 + Math.random() * 20);
    }
  }

  async read(scope: string): Promise<Flat> {
    await this.#chains.get(scope)?.catch(() => undefined);
    const writers = new Set(asList(await this.keyv.get<unknown>(this.#registry(scope))));
    writers.add(this.writerId);
    const shards = await this.keyv.getMany<unknown>([...writers].map((w) => this.#shard(scope, w)));
    const total: Flat = {};
    for (const s of shards) addFlat(total, asFlat(s));
    return total;
  }
}

function asFlat(v: unknown): Flat {
  const parsed: unknown = typeof v === "string" ? JSON.parse(v) : v;
  return typeof parsed === "object" && parsed !== null ? (parsed as Flat) : {};
}

function asList(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
}
