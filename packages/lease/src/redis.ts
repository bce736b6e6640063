import { InvalidArgumentError, redactUrl } from "@graphkeep/core";
import { type AcquireResult, Lease, type LeaseBackend, resolveOptions } from "./lease.js";
import type { LeaseInfo, LeaseOptions, LeaseStore, ReleaseOutcome } from "./types.js";

/**
 * The one Redis command the lease store sends: `EVAL`. A `@redis/client` v5 client or cluster
 * (`createClient()` / `createCluster()`, connected) fits.
 */
export interface RedisEvalClient {
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
}

/** Options of {@link redisLease}. */
export interface RedisLeaseOptions extends LeaseOptions {
  /** Redis URL (`redis://`, `rediss://`); the store opens its own client. Give `url` or `client`. */
  url?: string | undefined;
  /** A connected `@redis/client` client or cluster; the store never closes it. */
  client?: RedisEvalClient | undefined;
  /**
   * With `url`: connect with `createCluster({ rootNodes: [{ url }] })`.
   * @default false
   */
  cluster?: boolean | undefined;
  /**
   * Prefix of every key. Must not contain `{` or `}` (the thread id is the hash tag).
   * @default "graphkeep:lease"
   */
  keyPrefix?: string | undefined;
}

const NOW = "local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)";

// KEYS: lease, fence, run. ARGV: owner, ttl, mode
const ACQUIRE = `${NOW}
local ttl = tonumber(ARGV[2])
if ARGV[3] == 'takeover' then
  if redis.call('HGET', KEYS[3], 'state') ~= 'running' or redis.call('EXISTS', KEYS[1]) == 1 then return {0, '', -2, now} end
end
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ttl) then
  return {0, redis.call('GET', KEYS[1]) or '', redis.call('PTTL', KEYS[1]), now}
end
local previous = redis.call('HGET', KEYS[3], 'state') or ''
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], token .. '|' .. ARGV[1], 'PX', ttl)
local attempts = 0
if ARGV[3] == 'takeover' then attempts = redis.call('HINCRBY', KEYS[3], 'attempts', 1) end
redis.call('HSET', KEYS[3], 'owner', ARGV[1], 'token', token, 'state', 'running', 'attempts', attempts, 'exp', now + ttl)
return {1, token, attempts, now + ttl, previous}`;

// KEYS: lease, run. ARGV: token|owner, ttl — compare-and-extend
const EXTEND = `${NOW}
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('HSET', KEYS[2], 'exp', now + tonumber(ARGV[2]))
return now + tonumber(ARGV[2])`;

// KEYS: lease, run. ARGV: token|owner, token, state, retryMs — compare-and-delete
const RELEASE = `${NOW}
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('HGET', KEYS[2], 'token') ~= ARGV[2]
    or redis.call('HGET', KEYS[2], 'state') ~= 'running' then return 0 end
end
if ARGV[3] == 'retry' then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[4])
  redis.call('HSET', KEYS[2], 'exp', now + tonumber(ARGV[4]))
else
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[2], 'state', ARGV[3], 'exp', now)
end
return 1`;

// KEYS: lease, run
const INFO = `${NOW}
local h = redis.call('HMGET', KEYS[2], 'owner', 'token', 'state', 'attempts', 'exp')
return {h[1] or '', h[2] or '', h[3] or '', h[4] or '0', h[5] or '0', redis.call('GET', KEYS[1]) or '', redis.call('PTTL', KEYS[1]), now}`;

// KEYS: runs. ARGV: op, member, score
// scores are the server's clock: 'addin' schedules ARGV[3] ms from now, 'range' lists what is due now, so a
// worker's clock never decides when a run counts as stalled
const RUNS = `${NOW}
if ARGV[1] == 'add' then return redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2]) end
if ARGV[1] == 'addin' then return redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[2]) end
if ARGV[1] == 'rem' then return redis.call('ZREM', KEYS[1], ARGV[2]) end
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))`;

interface Closable {
  close?: () => Promise<unknown>;
  quit?: () => Promise<unknown>;
  on?: (event: string, fn: (e: unknown) => void) => unknown;
  connect?: () => Promise<unknown>;
  destroy?: () => void;
}

class RedisBackend implements LeaseBackend {
  readonly kind = "redis";
  readonly #prefix: string;
  readonly #given: RedisEvalClient | undefined;
  readonly #url: string | undefined;
  readonly #cluster: boolean;
  readonly #connectTimeout: number;
  #client: Promise<RedisEvalClient> | undefined;

  constructor(opts: RedisLeaseOptions, connectTimeout: number) {
    this.#prefix = opts.keyPrefix ?? "graphkeep:lease";
    this.#given = opts.client;
    this.#url = opts.url;
    this.#cluster = opts.cluster ?? false;
    this.#connectTimeout = connectTimeout;
  }

  #keys(t: string) {
    const base = `${this.#prefix}:{${t}}`;
    return { lease: `${base}:lease`, fence: `${base}:fence`, run: `${base}:run` };
  }

  get #runs(): string {
    return `${this.#prefix}:runs`;
  }

  #connect(): Promise<RedisEvalClient> {
    if (this.#given) return Promise.resolve(this.#given);
    this.#client ??= (async () => {
      const redis = await import("@redis/client");
      const socket = {
        connectTimeout: this.#connectTimeout,
        reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 2000),
      };
      const client = (this.#cluster
        ? redis.createCluster({ rootNodes: [{ url: this.#url!, socket }] })
        : redis.createClient({ url: this.#url!, socket, disableOfflineQueue: true })) as unknown as RedisEvalClient &
        Closable;
      client.on?.("error", () => undefined);
      let timer: NodeJS.Timeout | undefined;
      try {
        // a client that cannot reach its server keeps reconnecting and never settles connect(): bound it
        await Promise.race([
          client.connect?.(),
          new Promise((_, reject) => {
            timer = setTimeout(
              () =>
                reject(new Error(`could not connect to ${redactUrl(this.#url!)} within ${this.#connectTimeout} ms`)),
              this.#connectTimeout,
            );
          }),
        ]);
      } catch (e) {
        try {
          client.destroy?.();
        } catch {
          // already closed
        }
        throw e;
      } finally {
        clearTimeout(timer);
      }
      return client;
    })();
    const p = this.#client;
    p.catch(() => {
      if (this.#client === p) this.#client = undefined;
    });
    return p;
  }

  ready(): Promise<unknown> {
    return this.#connect();
  }

  async #eval(script: string, keys: string[], args: Array<string | number>): Promise<unknown> {
    const client = await this.#connect();
    return client.eval(script, { keys, arguments: args.map(String) });
  }

  async #runsOp(op: "add" | "addin" | "rem", threadId: string, score = 0): Promise<void> {
    await this.#eval(RUNS, [this.#runs], [op, threadId, score]);
  }

  async acquire(threadId: string, owner: string, ttlMs: number, mode: "run" | "takeover"): Promise<AcquireResult> {
    const k = this.#keys(threadId);
    const r = (await this.#eval(ACQUIRE, [k.lease, k.fence, k.run], [owner, ttlMs, mode])) as Array<string | number>;
    if (Number(r[0]) !== 1) {
      const [, value, pttl, now] = r;
      const holder = String(value ?? "");
      const at = holder.indexOf("|");
      if (holder === "" || Number(pttl) < 0) return { ok: false, holder: undefined };
      return {
        ok: false,
        holder: { owner: at >= 0 ? holder.slice(at + 1) : holder, expiresAt: new Date(Number(now) + Number(pttl)) },
      };
    }
    const expires = Number(r[3]);
    await this.#runsOp("add", threadId, expires);
    const previous = String(r[4] ?? "");
    return {
      ok: true,
      token: Number(r[1]),
      attempts: Number(r[2]),
      expiresAt: new Date(expires),
      previous: previous === "" ? undefined : (previous as LeaseInfo["state"]),
    };
  }

  async extend(threadId: string, owner: string, token: number, ttlMs: number): Promise<Date | undefined> {
    const k = this.#keys(threadId);
    const r = Number(await this.#eval(EXTEND, [k.lease, k.run], [`${token}|${owner}`, ttlMs]));
    if (r === 0) return undefined;
    await this.#runsOp("add", threadId, r);
    return new Date(r);
  }

  async release(threadId: string, owner: string, token: number, outcome: ReleaseOutcome): Promise<boolean> {
    const k = this.#keys(threadId);
    const retry = outcome.state === "retry" ? outcome.retryInMs : 0;
    const ok = Number(await this.#eval(RELEASE, [k.lease, k.run], [`${token}|${owner}`, token, outcome.state, retry]));
    if (ok !== 1) return false;
    if (outcome.state === "retry") await this.#runsOp("addin", threadId, retry);
    else await this.#runsOp("rem", threadId);
    return true;
  }

  async info(threadId: string): Promise<LeaseInfo | undefined> {
    const k = this.#keys(threadId);
    const r = (await this.#eval(INFO, [k.lease, k.run], [])) as Array<string | number>;
    const [owner, token, state, attempts, exp, value, pttl, now] = r.map(String) as string[];
    if (!state) return undefined;
    const live = value === `${token}|${owner}` && Number(pttl) > 0;
    return {
      owner: owner!,
      token: Number(token),
      state: state as LeaseInfo["state"],
      live,
      expiresAt: new Date(live ? Number(now) + Number(pttl) : Number(exp)),
      attempts: Number(attempts),
    };
  }

  async stalled(limit: number): Promise<string[]> {
    const out: string[] = [];
    // a few rounds: entries that are stale (run done, or heartbeated with a lost score update) are fixed and skipped
    for (let round = 0; round < 3 && out.length < limit; round++) {
      const ids = (await this.#eval(RUNS, [this.#runs], ["range", limit * 2, 0])) as string[];
      if (ids.length === 0) break;
      let fixed = 0;
      for (const id of ids) {
        if (out.includes(id)) continue;
        const info = await this.info(id);
        if (info?.state === "running" && !info.live) out.push(id);
        else {
          fixed++;
          if (info?.state === "running") await this.#runsOp("add", id, info.expiresAt.getTime());
          else await this.#runsOp("rem", id);
        }
        if (out.length >= limit) break;
      }
      if (fixed === 0) break;
    }
    return out;
  }

  async close(): Promise<void> {
    const p = this.#client;
    this.#client = undefined;
    if (!p) return;
    const client = (await p.catch(() => undefined)) as (RedisEvalClient & Closable) | undefined;
    if (!client) return;
    if (client.close) await client.close().catch(() => client.destroy?.());
    else await client.quit?.().catch(() => client.destroy?.());
  }
}

/**
 * A lease store on Redis (plain Redis, Valkey or Redis Cluster): `SET NX PX` inside Lua scripts that also
 * `INCR` a per-thread fencing counter, compare-and-extend and compare-and-delete. A thread's keys share the
 * `{threadId}` hash tag, so every script touches one slot.
 *
 * @throws {InvalidArgumentError} when neither `url` nor `client` is given, `keyPrefix` holds `{`/`}`, or
 * `ttlMs <= heartbeatMs`.
 * @example
 * const lease = redisLease({ url: "redis://127.0.0.1:6379", ttlMs: 30_000 });
 */
export function redisLease(options: RedisLeaseOptions): LeaseStore {
  const opts = resolveOptions("redisLease", options ?? {});
  if (!options?.url && !options?.client) {
    throw new InvalidArgumentError('redisLease: pass { url: "redis://…" } or { client } (a connected @redis/client)');
  }
  if (options.url && !/^rediss?:\/\//.test(options.url)) {
    throw new InvalidArgumentError(
      `redisLease: url must start with redis:// or rediss://, got ${redactUrl(options.url)}`,
    );
  }
  if (options.client && typeof options.client.eval !== "function") {
    throw new InvalidArgumentError("redisLease: client must be a @redis/client client or cluster (with eval)");
  }
  if (options.keyPrefix !== undefined && (options.keyPrefix === "" || /[{}]/.test(options.keyPrefix))) {
    throw new InvalidArgumentError("redisLease: keyPrefix must be non-empty and contain no { or }");
  }
  return new Lease(new RedisBackend(options, opts.connectTimeoutMs), opts);
}
