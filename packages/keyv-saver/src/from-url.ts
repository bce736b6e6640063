import { createRequire } from "node:module";
import {
  AdapterNotInstalledError,
  InvalidArgumentError,
  StoreUnavailableError,
  UnsupportedUrlError,
} from "@graphkeep/core";
import Keyv, { type KeyvStoreAdapter } from "keyv";
import type { KeyvSaverUrlOptions } from "./types.js";

const URL_DEFAULTS = { namespace: "graphkeep", table: "graphkeep_checkpoints", sqliteWal: true } as const;

async function load<T>(name: string): Promise<T> {
  try {
    return (await import(name)) as T;
  } catch (e) {
    throw new AdapterNotInstalledError(name, e);
  }
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

/**
 * pg's Pool re-emits an idle client's error on itself and crashes the process when nobody listens, and
 * @keyv/postgres never listens: a PostgreSQL restart would kill the app. This client swallows that re-emit.
 */
function safePgClient(): unknown {
  const pg = requireFrom("@keyv/postgres", "pg") as {
    Client: new (...a: unknown[]) => { emit(...a: unknown[]): boolean };
  };
  return class SafeClient extends pg.Client {
    override emit(event: unknown, ...args: unknown[]): boolean {
      if (event !== "error") return super.emit(event, ...args);
      try {
        return super.emit(event, ...args);
      } catch (e) {
        reportLater(e);
        return true;
      }
    }
  };
}

interface EmitterLike {
  on(event: string, fn: (...a: unknown[]) => void): unknown;
}

/**
 * mysql2 pool connections emit `error` when the server goes away while idle, and @keyv/mysql never listens:
 * the process would crash. Creates the adapter while mysql2's createPool adds that listener.
 */
function withSafeMysqlPool<T>(create: () => T): T {
  const mysql2 = requireFrom("@keyv/mysql", "mysql2") as { createPool: (...a: unknown[]) => EmitterLike };
  const original = mysql2.createPool;
  mysql2.createPool = (...args: unknown[]) => {
    const pool = original(...args);
    pool.on("connection", (conn) => (conn as EmitterLike).on("error", reportLater));
    return pool;
  };
  try {
    return create();
  } finally {
    mysql2.createPool = original;
  }
}

interface SerializedEntry {
  key: string;
  value: unknown;
}

/**
 * @keyv/sqlite and @keyv/mysql have no `setMany`: keyv then sends one autocommitted statement per key (slow, and
 * a batch is not atomic). This gives them one multi-row upsert per batch: one statement, one transaction.
 */
function addSqliteSetMany(store: {
  query?: (sql: string, ...p: unknown[]) => Promise<unknown>;
  opts?: { table?: string };
}) {
  const table = store.opts?.table ?? "keyv";
  (store as { setMany?: unknown }).setMany = async (entries: SerializedEntry[]) => {
    for (let at = 0; at < entries.length; at += 400) {
      const part = entries.slice(at, at + 400);
      await store.query?.(
        `INSERT INTO ${table} (key, value) VALUES ${part.map(() => "(?, ?)").join(", ")} ON CONFLICT(key) DO UPDATE SET value = excluded.value`,
        ...part.flatMap((e) => [e.key, e.value]),
      );
    }
  };
}

function addMysqlSetMany(store: { query?: (sql: string) => Promise<unknown>; opts?: { table?: string } }) {
  const table = store.opts?.table ?? "keyv";
  const sqlEscape = (requireFrom("@keyv/mysql", "mysql2") as { escape: (v: unknown) => string }).escape;
  (store as { setMany?: unknown }).setMany = async (entries: SerializedEntry[]) => {
    let rows: string[] = [];
    let bytes = 0;
    const flush = async () => {
      if (rows.length === 0) return;
      await store.query?.(
        `INSERT INTO \`${table}\` (id, value) VALUES ${rows.join(", ")} ON DUPLICATE KEY UPDATE value = VALUES(value)`,
      );
      rows = [];
      bytes = 0;
    };
    for (const e of entries) {
      const row = `(${sqlEscape(e.key)}, ${sqlEscape(e.value)})`;
      // stay well under max_allowed_packet (16 MB by default on MariaDB, 64 MB on MySQL 8)
      if (bytes + row.length > 4_000_000) await flush();
      rows.push(row);
      bytes += row.length;
    }
    await flush();
  };
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

type ClusterAdapter = KeyvStoreAdapter & { getClient(): Promise<unknown>; disconnect(force?: boolean): Promise<void> };

/**
 * Connects before the first command: @keyv/redis connects lazily, and commands issued together before the
 * cluster's slot map is loaded fail (`reading 'master'`) or are lost.
 */
async function connectCluster(store: ClusterAdapter, timeout: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  let failure: unknown;
  store.on("error", (e: unknown) => {
    failure = e;
  });
  try {
    await Promise.race([
      store.getClient(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeout} ms`)), timeout);
      }),
    ]);
  } catch (e) {
    await store.disconnect(true).catch(() => undefined);
    const msg = e instanceof Error ? e.message : String(e);
    throw new StoreUnavailableError("connect", `KeyvSaver.fromUrl: could not connect to the Redis Cluster: ${msg}`, {
      cause: failure ?? e,
    });
  } finally {
    clearTimeout(timer);
  }
  if (failure !== undefined) {
    await store.disconnect(true).catch(() => undefined);
    const msg = failure instanceof Error ? failure.message : String(failure);
    throw new StoreUnavailableError("connect", `KeyvSaver.fromUrl: could not connect to the Redis Cluster: ${msg}`, {
      cause: failure,
    });
  }
}

/** Opens a Keyv instance for a connection URL, loading the adapter on demand. @internal */
export async function openKeyv(url: string, options: KeyvSaverUrlOptions = {}): Promise<Keyv> {
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
      const { default: KeyvSqlite } = await load<Module>("@keyv/sqlite");
      const store = new (KeyvSqlite as unknown as new (o: object) => InstanceType<Ctor>)({
        uri: url,
        table: opts.table,
        busyTimeout: 5000,
      });
      addSqliteSetMany(store);
      if (opts.sqliteWal && !/^sqlite:\/\/(:memory:)?$/.test(url)) {
        await store.query?.("PRAGMA journal_mode=WAL");
        await store.query?.("PRAGMA synchronous=NORMAL");
      }
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
      const store = new (KeyvRedis as unknown as new (o: ClusterOptions, x: object) => ClusterAdapter)(
        parseClusterUrl(url),
        { throwOnErrors: true },
      );
      await connectCluster(store, options.operationTimeout ?? 5000);
      return new Keyv({ store, namespace, useKeyPrefix: false });
    }
    case "postgres:":
    case "postgresql:": {
      const { default: KeyvPostgres } = await load<Module>("@keyv/postgres");
      const store = new (KeyvPostgres as unknown as new (o: object) => KeyvStoreAdapter)({
        uri: url,
        table: opts.table,
        Client: safePgClient(),
      });
      return new Keyv({ store, namespace });
    }
    case "mysql:": {
      const { default: KeyvMysql } = await load<Module>("@keyv/mysql");
      const store = withSafeMysqlPool(
        () => new (KeyvMysql as unknown as new (o: object) => InstanceType<Ctor>)({ uri: url, table: opts.table }),
      );
      // @keyv/mysql creates `value TEXT` (64 KB); checkpoints outgrow it
      const rows = (await store.query?.(
        `SELECT DATA_TYPE AS t FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '${opts.table}' AND COLUMN_NAME = 'value'`,
      )) as Array<{ t: string }> | undefined;
      if (rows?.[0] && rows[0].t.toLowerCase() !== "longtext") {
        await store.query?.(`ALTER TABLE \`${opts.table}\` MODIFY value LONGTEXT`);
      }
      addMysqlSetMany(store);
      return new Keyv({ store, namespace });
    }
    default:
      throw new UnsupportedUrlError(url);
  }
}
