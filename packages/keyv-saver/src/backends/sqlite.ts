import type Keyv from "keyv";
import { KeyvBetterSqlite } from "../sqlite-store.js";
import { type Backend, type CommitBatch, type RawCodec, rawCodec, tokenPrefix } from "./types.js";

/** graphkeep's own better-sqlite3 store: one IMMEDIATE transaction per checkpoint. */
export function betterSqliteBackend(keyv: Keyv, store: KeyvBetterSqlite): Backend {
  let codec: RawCodec | undefined;
  return {
    name: "sqlite",
    async prepare() {
      codec = await rawCodec(keyv);
    },
    get commit() {
      return codec === undefined ? undefined : commit;
    },
  };

  async function commit(batch: CommitBatch): Promise<boolean> {
    const c = codec!;
    const rows = await Promise.all(
      batch.entries.map(async (e) => ({ key: c.key(e.key), value: await c.value(e.value) })),
    );
    const index = { key: c.key(batch.index.key), value: await c.value(batch.index.value) };
    const { expect } = batch.index;
    return store.commitBatch(rows, index, expect === null ? null : tokenPrefix(expect));
  }
}

interface KeyvSqliteLike {
  opts: { table?: string; db?: string };
  query(sql: string, ...params: unknown[]): Promise<unknown>;
  setMany?: unknown;
}

/**
 * @keyv/sqlite (node `sqlite3`): switched to WAL (13x faster writes), given a one-statement `setMany`, and a
 * commit of two ordered statements (the values and records, then the index only if its token still matches):
 * the driver has no transaction API, but a crash between the two leaves only unreferenced rows.
 */
export function keyvSqliteBackend(keyv: Keyv, store: KeyvSqliteLike): Backend {
  const table = store.opts.table ?? "keyv";
  let codec: RawCodec | undefined;
  return {
    name: "sqlite",
    commitRoundTrips: 2,
    async prepare() {
      const file = store.opts.db ?? "";
      if (file !== "" && file !== ":memory:") {
        await store.query("PRAGMA journal_mode=WAL");
        await store.query("PRAGMA synchronous=NORMAL");
      }
      store.setMany = async (entries: Array<{ key: string; value: string }>) => {
        for (let at = 0; at < entries.length; at += 400) await upsert(entries.slice(at, at + 400));
      };
      codec = await rawCodec(keyv);
    },
    get commit() {
      return codec === undefined ? undefined : commit;
    },
  };

  async function upsert(rows: Array<{ key: string; value: string }>): Promise<void> {
    if (rows.length === 0) return;
    await store.query(
      `INSERT INTO ${table} (key, value) VALUES ${rows.map(() => "(?, ?)").join(", ")} ON CONFLICT(key) DO UPDATE SET value = excluded.value`,
      ...rows.flatMap((r) => [r.key, r.value]),
    );
  }

  async function commit(batch: CommitBatch): Promise<boolean> {
    const c = codec!;
    const rows = await Promise.all(
      batch.entries.map(async (e) => ({ key: c.key(e.key), value: await c.value(e.value) })),
    );
    const indexKey = c.key(batch.index.key);
    const indexValue = await c.value(batch.index.value);
    for (let at = 0; at < rows.length; at += 400) await upsert(rows.slice(at, at + 400));
    const { expect } = batch.index;
    const done = (
      expect === null
        ? await store.query(
            `INSERT INTO ${table} (key, value) VALUES (?, ?) ON CONFLICT(key) DO NOTHING RETURNING key`,
            indexKey,
            indexValue,
          )
        : await store.query(
            `UPDATE ${table} SET value = ? WHERE key = ? AND substr(value, 1, ?) = ? RETURNING key`,
            indexValue,
            indexKey,
            tokenPrefix(expect).length,
            tokenPrefix(expect),
          )
    ) as unknown[];
    return done.length > 0;
  }
}

export { KeyvBetterSqlite };
