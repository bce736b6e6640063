import { createRequire } from "node:module";
import { AdapterNotInstalledError, InvalidArgumentError, UnsupportedUrlError } from "@graphkeep/core";
// the named export: under CommonJS a default import becomes the whole module object (`keyv.default is not a constructor`)
import { Keyv, type KeyvStoreAdapter } from "keyv";
import { KeyvSqlPool, type MysqlPoolLike, type PgPoolLike } from "./pool-store.js";
import { type BetterSqliteDatabase, KeyvBetterSqlite } from "./sqlite-store.js";
import type { KeyvSaverUrlOptions } from "./types.js";

const URL_DEFAULTS = {
  namespace: "graphkeep",
  table: "graphkeep_checkpoints",
  sqliteWal: true,
  durableCommits: false,
} as const;

async function load<T extends { default: unknown }>(name: string): Promise<T> {
  let mod: { default?: unknown };
  try {
    mod = (await import(name)) as { default?: unknown };
  } catch (e) {
    throw new AdapterNotInstalledError(name, e);
  }
  // from a CommonJS build the namespace's default can be the module object, whose own default is the class
  const inner = (mod.default as { default?: unknown } | undefined)?.default;
  return { ...mod, default: typeof mod.default === "function" ? mod.default : (inner ?? mod.default) } as T;
}

/** Requires `dep` as the adapter package `adapter` sees it (pnpm keeps dependencies private). */
function requireFrom(adapter: string, dep: string): unknown {
  const here = createRequire(import.meta.url);
  return createRequire(here.resolve(adapter))(dep);
}

function reportLater(e: unknown): void {
  // a dropped idle connection: the next operation reconnects or fails with StoreUnavailableError
  process.emitWarning(`graphkeep: store connection error: ${e instanceof Error ? e.message : String(e)}`, {
    code: "GRAPHKEEP_STORE_CONNECTION",
  });
}

interface EmitterLike {
  on(event: string, fn: (...a: unknown[]) => void): unknown;
}

/** Loads a driver the application installed, or the copy a keyv adapter brought (pnpm keeps those private). */
async function driver(name: string, viaAdapter: string): Promise<unknown> {
  try {
    return (await load<{ default: unknown }>(name)).default;
  } catch (e) {
    try {
      return requireFrom(viaAdapter, name);
    } catch {
      throw e;
    }
  }
}

/**
 * A pg pool of the saver's own: idle-connection errors reported instead of crashing the process (pg re-emits them
 * on the pool, and an `error` event nobody listens to is fatal), asynchronous commits unless `durableCommits`.
 */
async function pgPool(url: string, durableCommits: boolean): Promise<PgPoolLike> {
  const pg = (await driver("pg", "@keyv/postgres")) as { Pool: new (o: object) => PgPoolLike & EmitterLike };
  const pool = new pg.Pool({
    connectionString: url,
    // asynchronous commit: a commit does not wait for its WAL flush (see the durableCommits option)
    ...(durableCommits ? {} : { options: "-c synchronous_commit=off" }),
  });
  pool.on("error", reportLater);
  return pool;
}

/** A mysql2 pool of the saver's own, whose idle connections report a vanished server instead of crashing. */
async function mysqlPool(url: string): Promise<MysqlPoolLike> {
  const mysql = (await driver("mysql2/promise", "@keyv/mysql")) as {
    createPool(o: object): MysqlPoolLike & { pool?: EmitterLike } & EmitterLike;
  };
  // several statements per query: a commit is one transaction in one round trip (every value it sends is escaped)
  const pool = mysql.createPool({ uri: url, multipleStatements: true });
  (pool.pool ?? pool).on("connection", (conn) => (conn as EmitterLike).on("error", reportLater));
  return pool;
}

type Ctor = new (...args: never[]) => KeyvStoreAdapter & { query?: (sql: string) => Promise<unknown> };
interface Module {
  default: Ctor;
}

/** What `createCluster` needs: one root node per listed host, credentials and TLS shared by all nodes. */
interface ClusterOptions {
  rootNodes: Array<{ url: string }>;
  defaults: { username?: string; password?: string; socket?: { tls: true } };
}

/**
 * Parses `redis+cluster://[user:pass@]host:7000,host:7001[,…]` (or `rediss+cluster://` for TLS) into
 * `createCluster` options. Any listed node is enough to discover the others. @internal
 */
export function parseClusterUrl(url: string): ClusterOptions {
  const m = /^(rediss?)\+cluster:\/\/(?:([^@/]*)@)?([^/?#]+)(?:\/(\d*))?(?:[?#].*)?$/i.exec(url);
  if (!m) {
    throw new InvalidArgumentError(
      "KeyvSaver.fromUrl: a cluster URL looks like redis+cluster://host:7000,host:7001 (optionally user:password@ before the hosts)",
    );
  }
  const [, scheme, auth, hostList, db] = m;
  if (db !== undefined && db !== "" && db !== "0") {
    throw new InvalidArgumentError(`KeyvSaver.fromUrl: a Redis Cluster has only database 0, got /${db}`);
  }
  const rootNodes = hostList!.split(",").map((h) => {
    const host = h.trim();
    if (host === "") throw new InvalidArgumentError("KeyvSaver.fromUrl: empty host in the cluster URL's host list");
    const port = /:(\d+)$/.exec(host)?.[1];
    return { url: `redis://${port ? host : `${host}:6379`}` };
  });
  const defaults: ClusterOptions["defaults"] = {};
  if (auth) {
    const colon = auth.indexOf(":");
    const user = decodeURIComponent(colon < 0 ? auth : auth.slice(0, colon));
    const pass = colon < 0 ? undefined : decodeURIComponent(auth.slice(colon + 1));
    if (pass === undefined) defaults.password = user;
    else {
      if (user !== "") defaults.username = user;
      defaults.password = pass;
    }
  }
  if (scheme!.toLowerCase() === "rediss") defaults.socket = { tls: true };
  return { rootNodes, defaults };
}

/**
 * A client or pool the application already has, for `KeyvSaver.fromUrl`: a better-sqlite3 `Database`, a
 * node-redis client or cluster (`createClient` / `createCluster` of `redis` or `@redis/client`), a `pg.Pool`, or a
 * mysql2 pool. The saver never closes it: `close()` leaves it to the application.
 */
export type StoreClient = BetterSqliteDatabase | RedisClientLike | PgPoolLike | MysqlPoolLike;

/** What `fromUrl` recognises a node-redis client or cluster by. */
export interface RedisClientLike {
  sendCommand(...args: never[]): unknown;
  readonly isOpen: boolean;
}

const fn = (x: unknown, ...names: string[]) =>
  typeof x === "object" && x !== null && names.every((n) => typeof (x as Record<string, unknown>)[n] === "function");

/** A Keyv over a client or pool the application made (see {@link StoreClient}). */
async function keyvOverClient(client: StoreClient, opts: { namespace: string; table: string }): Promise<Keyv> {
  const namespace = opts.namespace;
  if (fn(client, "prepare", "pragma", "transaction")) {
    return new Keyv({
      store: new KeyvBetterSqlite({ db: client as BetterSqliteDatabase, table: opts.table }),
      namespace,
    });
  }
  if (fn(client, "sendCommand") && "isOpen" in (client as object)) {
    const { default: KeyvRedis } = await load<Module>("@keyv/redis");
    const store = new (KeyvRedis as unknown as new (c: unknown, o: object) => KeyvStoreAdapter)(client, {
      throwOnErrors: true,
    });
    // KeyvRedis.disconnect() would quit the application's client: leave it open
    (store as { disconnect(): Promise<void> }).disconnect = async () => undefined;
    return new Keyv({ store, namespace, useKeyPrefix: false });
  }
  if (fn(client, "query", "connect") && "totalCount" in (client as object)) {
    return new Keyv({ store: new KeyvSqlPool("postgres", client as PgPoolLike, { table: opts.table }), namespace });
  }
  if (fn(client, "query", "getConnection")) {
    const pool = fn(client, "promise") ? (client as unknown as { promise(): MysqlPoolLike }).promise() : client;
    return new Keyv({ store: new KeyvSqlPool("mysql", pool as MysqlPoolLike, { table: opts.table }), namespace });
  }
  throw new InvalidArgumentError(
    "KeyvSaver.fromUrl: expected a URL string, a better-sqlite3 Database, a node-redis client or cluster, a pg.Pool or a mysql2 pool",
  );
}

/** Opens a Keyv instance for a connection URL (or an existing client), loading the adapter on demand. @internal */
export async function openKeyv(url: string | StoreClient, options: KeyvSaverUrlOptions = {}): Promise<Keyv> {
  if (typeof url === "object" && url !== null) {
    const opts = { ...URL_DEFAULTS, ...options };
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(opts.table)) {
      throw new InvalidArgumentError(`KeyvSaver.fromUrl: table must be a plain SQL identifier, got "${opts.table}"`);
    }
    return keyvOverClient(url, opts);
  }
  if (typeof url !== "string" || url === "") {
    throw new InvalidArgumentError(
      "KeyvSaver.fromUrl: url must be a non-empty string such as sqlite://./checkpoints.sqlite",
    );
  }
  const opts = { ...URL_DEFAULTS, ...options };
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(opts.table)) {
    throw new InvalidArgumentError(`KeyvSaver.fromUrl: table must be a plain SQL identifier, got "${opts.table}"`);
  }
  const scheme = url.slice(0, url.indexOf(":") + 1).toLowerCase();
  const namespace = opts.namespace;
  switch (scheme) {
    case "memory:":
      return new Keyv({ namespace });
    case "sqlite:": {
      const store = new KeyvBetterSqlite({ uri: url, table: opts.table, wal: opts.sqliteWal });
      return new Keyv({ store, namespace });
    }
    case "redis:":
    case "rediss:": {
      const { default: KeyvRedis } = await load<Module>("@keyv/redis");
      // throwOnErrors: a failed command (OOM, READONLY replica) must fail the write, not read as done / not found
      const store = new (KeyvRedis as unknown as new (u: string, o: object) => KeyvStoreAdapter)(url, {
        throwOnErrors: true,
      });
      return new Keyv({ store, namespace, useKeyPrefix: false });
    }
    case "redis+cluster:":
    case "rediss+cluster:": {
      const { default: KeyvRedis } = await load<Module>("@keyv/redis");
      // an options object with rootNodes makes @keyv/redis call createCluster; it splits multi-key commands by slot.
      // throwOnErrors: its cluster setMany otherwise reports a failed write as success.
      // the saver connects it before the first command (backends/redis.ts)
      const store = new (KeyvRedis as unknown as new (o: ClusterOptions, x: object) => KeyvStoreAdapter)(
        parseClusterUrl(url),
        { throwOnErrors: true },
      );
      return new Keyv({ store, namespace, useKeyPrefix: false });
    }
    case "postgres:":
    case "postgresql:": {
      const pool = await pgPool(url, opts.durableCommits);
      return new Keyv({ store: new KeyvSqlPool("postgres", pool, { table: opts.table, owned: true }), namespace });
    }
    case "mysql:": {
      const pool = await mysqlPool(url);
      return new Keyv({
        store: new KeyvSqlPool("mysql", pool, { table: opts.table, owned: true, multipleStatements: true }),
        namespace,
      });
    }
    default:
      throw new UnsupportedUrlError(url);
  }
}
