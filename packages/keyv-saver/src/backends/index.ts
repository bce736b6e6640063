import type Keyv from "keyv";
import { KeyvBetterSqlite } from "../sqlite-store.js";
import { memoryBackend } from "./memory.js";
import { mysqlBackend } from "./mysql.js";
import { postgresBackend } from "./postgres.js";
import { type KeyvRedisLike, redisBackend } from "./redis.js";
import { betterSqliteBackend, keyvSqliteBackend } from "./sqlite.js";
import type { Backend } from "./types.js";

export type { Backend, BatchEntry, CommitBatch } from "./types.js";

const has = (o: unknown, ...fns: string[]) =>
  o !== null && typeof o === "object" && fns.every((f) => typeof (o as Record<string, unknown>)[f] === "function");

/**
 * Recognises the adapter under a Keyv (however it was built) and returns what the saver needs to use it safely.
 * An adapter it does not know gets the generic path: ordered writes through Keyv.
 */
export function detectBackend(keyv: Keyv, connectTimeoutMs: number): Backend {
  const store: unknown = keyv.store;
  const dialect = (store as { opts?: { dialect?: unknown } } | undefined)?.opts?.dialect;
  if (store instanceof Map) return memoryBackend(keyv, store);
  if (store instanceof KeyvBetterSqlite || has(store, "commitBatch")) {
    return betterSqliteBackend(keyv, store as KeyvBetterSqlite);
  }
  if (dialect === "redis" && has(store, "createKeyPrefix", "getClient", "isCluster")) {
    return redisBackend(keyv, store as KeyvRedisLike, connectTimeoutMs);
  }
  if (dialect === "postgres" && has(store, "query")) return postgresBackend(keyv, store as never);
  if (dialect === "mysql" && has(store, "query")) return mysqlBackend(keyv, store as never);
  if (dialect === "sqlite" && has(store, "query")) return keyvSqliteBackend(keyv, store as never);
  return { name: "generic", prepare: async () => undefined };
}
