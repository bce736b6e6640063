import { randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import KeyvMysql from "@keyv/mysql";
import KeyvPostgres from "@keyv/postgres";
import KeyvRedis from "@keyv/redis";
import KeyvSqlite from "@keyv/sqlite";
import Keyv from "keyv";
import { reachable } from "../../examples/lib/reachable.js";

export const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
export const POSTGRES_URL = process.env.POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";
export const MYSQL_URL = process.env.MYSQL_URL ?? "mysql://root@127.0.0.1:3306/test";
export const REQUIRE_SERVICES = process.env.GRAPHKEEP_REQUIRE_SERVICES === "1";

export { reachable };

export interface Backend {
  name: string;
  /** the URL `KeyvSaver.fromUrl` accepts for this backend (file path for SQLite) */
  url: string;
  /** undefined when usable; otherwise why the suite is skipped */
  skip: string | undefined;
  /** a Keyv over a fresh adapter instance, in a namespace of its own (clean storage) */
  keyv(namespace?: string): Keyv;
}

const dir = mkdtempSync(join(tmpdir(), "graphkeep-test-"));
export const sqliteFile = join(dir, "checkpoints.sqlite");

async function skipReason(name: string, url: string, port: number): Promise<string | undefined> {
  if (await reachable(url, port)) return undefined;
  const reason = `${name} not reachable at ${url} (set ${name.toUpperCase()}_URL or start the server; see DEVELOPERS.md)`;
  if (REQUIRE_SERVICES) throw new Error(`GRAPHKEEP_REQUIRE_SERVICES=1 but ${reason}`);
  console.warn(`skipping ${name} suites: ${reason}`);
  return reason;
}

/** @keyv/mysql creates `value TEXT` (64 KB); real checkpoints need LONGTEXT, as `KeyvSaver.fromUrl` sets up. */
async function widenMysqlTable(url: string): Promise<void> {
  const mysql = await import("mysql2/promise");
  const conn = await mysql.createConnection(url);
  try {
    await conn.query("CREATE TABLE IF NOT EXISTS keyv (id VARCHAR(255) PRIMARY KEY, value LONGTEXT)");
    await conn.query("ALTER TABLE keyv MODIFY value LONGTEXT");
  } finally {
    await conn.end();
  }
}

const ns = () => `t${randomUUID().replaceAll("-", "").slice(0, 12)}`;
/** A Keyv namespace no other test uses (clean storage). */
export const freshNamespace = ns;

export const backends: Backend[] = [
  { name: "memory", url: "memory:", skip: undefined, keyv: (n = ns()) => new Keyv({ namespace: n }) },
  {
    name: "sqlite",
    url: `sqlite://${sqliteFile}`,
    skip: undefined,
    keyv: (n = ns()) =>
      new Keyv({ store: new KeyvSqlite({ uri: `sqlite://${sqliteFile}`, busyTimeout: 5000 }), namespace: n }),
  },
  {
    name: "redis",
    url: REDIS_URL,
    skip: await skipReason("redis", REDIS_URL, 6379),
    keyv: (n = ns()) => new Keyv({ store: new KeyvRedis(REDIS_URL), namespace: n, useKeyPrefix: false }),
  },
  {
    name: "postgres",
    url: POSTGRES_URL,
    skip: await skipReason("postgres", POSTGRES_URL, 5432),
    keyv: (n = ns()) => new Keyv({ store: new KeyvPostgres({ uri: POSTGRES_URL }), namespace: n }),
  },
  {
    name: "mysql",
    url: MYSQL_URL,
    skip: await skipReason("mysql", MYSQL_URL, 3306).then(async (r) => {
      if (r === undefined) await widenMysqlTable(MYSQL_URL);
      return r;
    }),
    keyv: (n = ns()) => new Keyv({ store: new KeyvMysql({ uri: MYSQL_URL }), namespace: n }),
  },
];

/** Backends whose store lives outside the process (shared between processes). */
export const persistentBackends = backends.filter((b) => b.name !== "memory");
