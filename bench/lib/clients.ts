/** Short-lived connections to the backends, for measuring and cleanup. Drivers load on demand (children stay light). */
import { createRequire } from "node:module";

export type Row = Record<string, unknown>;

/** The part of node-postgres used here (the workspace has no @types/pg). */
export interface PgClient {
  connect(): Promise<void>;
  query(sql: string, params?: unknown[]): Promise<{ rows: Row[] }>;
  end(): Promise<void>;
}
interface PgModule {
  Client: new (options: { connectionString: string }) => PgClient;
}

export async function withPg<T>(url: string, fn: (c: PgClient) => Promise<T>): Promise<T> {
  const pgModule = createRequire(import.meta.url)("pg") as PgModule;
  const c = new pgModule.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

export async function withMysql<T>(
  url: string,
  fn: (q: (sql: string, params?: unknown[]) => Promise<Row[]>) => Promise<T>,
) {
  const { default: mysql } = await import("mysql2/promise");
  const c = await mysql.createConnection(url);
  const q = async (sql: string, params: unknown[] = []): Promise<Row[]> => {
    const [rows] = await c.query(sql, params);
    return Array.isArray(rows) ? (rows as Row[]) : [];
  };
  try {
    return await fn(q);
  } finally {
    await c.end();
  }
}

export interface RedisClient {
  connect(): Promise<unknown>;
  sendCommand(args: string[]): Promise<unknown>;
  close(): Promise<void>;
  on(event: "error", listener: (e: unknown) => void): unknown;
}

export async function withRedis<T>(url: string, fn: (c: RedisClient) => Promise<T>): Promise<T> {
  const redis = await import("@keyv/redis");
  const c: RedisClient = redis.createClient({ url });
  c.on("error", () => undefined);
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.close();
  }
}

export async function scanKeys(c: RedisClient, prefix: string): Promise<string[]> {
  const out: string[] = [];
  let cursor = "0";
  do {
    const reply: unknown = await c.sendCommand(["SCAN", cursor, "MATCH", `${prefix}*`, "COUNT", "1000"]);
    if (!Array.isArray(reply) || reply.length !== 2) throw new Error("unexpected SCAN reply");
    cursor = String(reply[0]);
    for (const k of reply[1] as unknown[]) out.push(String(k));
  } while (cursor !== "0");
  return out;
}

/** better-sqlite3 is a dependency of the official SQLite saver, not of the workspace root: load it from there. */
interface SqliteDb {
  pragma(sql: string): unknown;
  close(): void;
}
export function openSqlite(file: string): SqliteDb {
  const entry = createRequire(import.meta.url).resolve("@langchain/langgraph-checkpoint-sqlite");
  const Database: unknown = createRequire(entry)("better-sqlite3");
  if (typeof Database !== "function") throw new Error("better-sqlite3 did not load");
  return new (Database as new (f: string) => SqliteDb)(file);
}
