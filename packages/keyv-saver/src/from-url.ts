import Keyv, { type KeyvStoreAdapter } from "keyv";
import { AdapterNotInstalledError, InvalidArgumentError, UnsupportedUrlError } from "./errors.js";
import type { KeyvSaverUrlOptions } from "./types.js";

const URL_DEFAULTS = { namespace: "graphkeep", table: "graphkeep_checkpoints", sqliteWal: true } as const;

async function load<T>(name: string): Promise<T> {
  try {
    return (await import(name)) as T;
  } catch (e) {
    throw new AdapterNotInstalledError(name, e);
  }
}

type Ctor = new (...args: never[]) => KeyvStoreAdapter & { query?: (sql: string) => Promise<unknown> };
interface Module {
  default: Ctor;
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
      if (opts.sqliteWal && !/^sqlite:\/\/(:memory:)?$/.test(url)) {
        await store.query?.("PRAGMA journal_mode=WAL");
        await store.query?.("PRAGMA synchronous=NORMAL");
      }
      return new Keyv({ store, namespace });
    }
    case "redis:":
    case "rediss:": {
      const { default: KeyvRedis } = await load<Module>("@keyv/redis");
      const store = new (KeyvRedis as unknown as new (u: string) => KeyvStoreAdapter)(url);
      return new Keyv({ store, namespace, useKeyPrefix: false });
    }
    case "postgres:":
    case "postgresql:": {
      const { default: KeyvPostgres } = await load<Module>("@keyv/postgres");
      const store = new (KeyvPostgres as unknown as new (o: object) => KeyvStoreAdapter)({
        uri: url,
        table: opts.table,
      });
      return new Keyv({ store, namespace });
    }
    case "mysql:": {
      const { default: KeyvMysql } = await load<Module>("@keyv/mysql");
      const store = new (KeyvMysql as unknown as new (o: object) => InstanceType<Ctor>)({
        uri: url,
        table: opts.table,
      });
      // @keyv/mysql creates `value TEXT` (64 KB); checkpoints outgrow it
      const rows = (await store.query?.(
        `SELECT DATA_TYPE AS t FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '${opts.table}' AND COLUMN_NAME = 'value'`,
      )) as Array<{ t: string }> | undefined;
      if (rows?.[0] && rows[0].t.toLowerCase() !== "longtext") {
        await store.query?.(`ALTER TABLE \`${opts.table}\` MODIFY value LONGTEXT`);
      }
      return new Keyv({ store, namespace });
    }
    default:
      throw new UnsupportedUrlError(url);
  }
}
