import { StoreUnavailableError } from "@graphkeep/core";
import type Keyv from "keyv";
import { type Backend, type CommitBatch, type RawCodec, rawCodec, tokenPrefix } from "./types.js";

interface RedisClientLike {
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
  configGet?(parameter: string): Promise<Record<string, string>>;
}

/** What the saver uses of @keyv/redis's `KeyvRedis`. */
export interface KeyvRedisLike {
  namespace?: string | undefined;
  throwOnErrors: boolean;
  createKeyPrefix(key: string, namespace?: string): string;
  getClient(): Promise<unknown>;
  isCluster(): boolean;
  disconnect(force?: boolean): Promise<void>;
  on(event: string, fn: (e: unknown) => void): unknown;
  off?(event: string, fn: (e: unknown) => void): unknown;
}

/**
 * Checks the index token and writes every key in one script: atomic on one server, and on a cluster too since every
 * key of a thread carries the thread's hash tag (one slot).
 */
const COMMIT = `local cur = redis.call('GET', KEYS[1])
if ARGV[1] == '' then
  if cur then return 0 end
elseif (not cur) or string.sub(cur, 1, #ARGV[1]) ~= ARGV[1] then
  return 0
end
for i = 2, #KEYS do redis.call('SET', KEYS[i], ARGV[i + 1]) end
redis.call('SET', KEYS[1], ARGV[2])
return 1`;

const warned = new Set<string>();

/**
 * @keyv/redis, built by `fromUrl` or by hand: error replies (OOM under `maxmemory`, READONLY replica) made to
 * throw on the adapter itself (keyv's own `throwOnErrors` does not reach them), a cluster connected and its slot map
 * loaded before the first command, and a warning when the server may evict keys.
 */
export function redisBackend(keyv: Keyv, store: KeyvRedisLike, connectTimeoutMs: number): Backend {
  let codec: RawCodec | undefined;
  let client: RedisClientLike | undefined;
  const cluster = store.isCluster();
  return {
    name: cluster ? "redis-cluster" : "redis",
    async prepare() {
      store.throwOnErrors = true;
      client = (await connect(store, connectTimeoutMs, cluster)) as RedisClientLike;
      if (!cluster) await warnIfEvicting(client);
      codec = await rawCodec(keyv, (k) => store.createKeyPrefix(k, store.namespace));
    },
    get commit() {
      return codec === undefined ? undefined : commit;
    },
  };

  async function commit(batch: CommitBatch): Promise<boolean> {
    const c = codec!;
    const ks = [c.key(batch.index.key)];
    const args = [batch.index.expect === null ? "" : tokenPrefix(batch.index.expect), await c.value(batch.index.value)];
    for (const e of batch.entries) {
      ks.push(c.key(e.key));
      args.push(await c.value(e.value));
    }
    return (await client!.eval(COMMIT, { keys: ks, arguments: args })) === 1;
  }
}

/**
 * Connects before the first command: @keyv/redis connects lazily, and on a cluster, commands issued together
 * before the slot map is loaded fail (`reading 'master'`) or are lost.
 */
async function connect(store: KeyvRedisLike, timeoutMs: number, cluster: boolean): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  let failure: unknown;
  const onError = (e: unknown) => {
    failure = e;
  };
  store.on("error", onError);
  const what = cluster ? "the Redis Cluster" : "Redis";
  try {
    const client = await Promise.race([
      store.getClient(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    if (failure !== undefined || !(client as { isOpen?: boolean }).isOpen) throw failure ?? new Error("not connected");
    return client;
  } catch (e) {
    await store.disconnect(true).catch(() => undefined);
    const msg = e instanceof Error ? e.message : String(e);
    throw new StoreUnavailableError("connect", `KeyvSaver: could not connect to ${what}: ${msg}`, {
      cause: failure ?? e,
    });
  } finally {
    clearTimeout(timer);
    store.off?.("error", onError);
  }
}

async function warnIfEvicting(client: RedisClientLike): Promise<void> {
  let policy: string | undefined;
  try {
    policy = (await client.configGet?.("maxmemory-policy"))?.["maxmemory-policy"];
  } catch {
    return; // CONFIG is often disabled on managed Redis
  }
  if (policy === undefined || !policy.startsWith("allkeys-") || warned.has(policy)) return;
  warned.add(policy);
  process.emitWarning(
    `graphkeep: Redis maxmemory-policy is "${policy}": the server may evict checkpoint keys under memory pressure (an evicted value then fails reads with CheckpointCorruptError). Use "noeviction" or a volatile-* policy for a checkpoint store.`,
    { code: "GRAPHKEEP_REDIS_EVICTION" },
  );
}
