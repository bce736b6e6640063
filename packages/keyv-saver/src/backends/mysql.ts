import { createRequire } from "node:module";
import { InvalidConfigError } from "@graphkeep/core";
import type Keyv from "keyv";
import { type Backend, type CommitBatch, type RawCodec, rawCodec, tokenPrefix } from "./types.js";

interface KeyvMysqlLike {
  opts: { table?: string; keySize?: number };
  query(sql: string): Promise<unknown>;
  setMany?: unknown;
  /** the pool's escaping, when the store has one (graphkeep's pool store) */
  escape?: ((value: unknown) => string) | undefined;
  /** several statements in one round trip (graphkeep's pool store over a pool it made) */
  script?: ((sql: string) => Promise<unknown[]>) | undefined;
}

type Escape = (v: unknown) => string;

function mysqlEscape(): Escape {
  const req = typeof require === "function" ? require : createRequire(import.meta.url);
  const here = createRequire(req.resolve("@keyv/mysql"));
  return (here("mysql2") as { escape: Escape }).escape;
}

/**
 * @keyv/mysql: keys made case-sensitive (`utf8mb4_bin`; keyv creates them `utf8mb4_general_ci`, so threads
 * `Alice` and `alice` would share rows), values widened to LONGTEXT, a multi-row `setMany`, and a conditional
 * commit: the values and records, then the index only if its token still matches. Over a pool the saver made
 * (`fromUrl("mysql://…")`) both go in one transaction sent as one multi-statement query (one round trip, one log
 * flush); over another pool as two ordered statements, where a crash between them leaves unreferenced rows.
 */
export function mysqlBackend(keyv: Keyv, store: KeyvMysqlLike): Backend {
  const table = `\`${(store.opts.table ?? "keyv").replace(/`/g, "``")}\``;
  const rawTable = store.opts.table ?? "keyv";
  const sqlValue = typeof store.escape === "function" ? store.escape : mysqlEscape();
  let codec: RawCodec | undefined;
  return {
    name: "mysql",
    commitRoundTrips: typeof store.script === "function" ? 1 : 2,
    async prepare() {
      // every statement is built with mysql2's escaping, which relies on backslash escapes
      const [mode] = (await store.query("SELECT @@SESSION.sql_mode AS m")) as Array<{ m: string }>;
      if (/NO_BACKSLASH_ESCAPES/i.test(mode?.m ?? "")) {
        throw new InvalidConfigError(
          "KeyvSaver: the MySQL/MariaDB server runs with sql_mode NO_BACKSLASH_ESCAPES, which the saver's escaping (mysql2's) does not support; remove it from sql_mode for the saver's connections",
        );
      }
      const cols = (await store.query(
        `SELECT COLUMN_NAME AS c, DATA_TYPE AS t, COLLATION_NAME AS k FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ${sqlValue(rawTable)}`,
      )) as Array<{ c: string; t: string; k: string | null }>;
      const id = cols.find((x) => x.c === "id");
      const value = cols.find((x) => x.c === "value");
      if (id && id.k !== "utf8mb4_bin") {
        await store.query(
          `ALTER TABLE ${table} MODIFY id VARCHAR(${Number(store.opts.keySize ?? 255)}) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL`,
        );
      }
      if (value && value.t.toLowerCase() !== "longtext")
        await store.query(`ALTER TABLE ${table} MODIFY value LONGTEXT`);
      store.setMany = async (entries: Array<{ key: string; value: string }>) => upsert(entries);
      // open the two connections a step uses (its checkpoint and its writes) now, not during the first steps
      await Promise.all([store.query("SELECT 1"), store.query("SELECT 1")]);
      codec = await rawCodec(keyv);
    },
    get commit() {
      return codec === undefined ? undefined : commit;
    },
  };

  async function upsert(entries: Array<{ key: string; value: string }>): Promise<void> {
    let rows: string[] = [];
    let bytes = 0;
    const flush = async () => {
      if (rows.length === 0) return;
      await store.query(
        `INSERT INTO ${table} (id, value) VALUES ${rows.join(", ")} ON DUPLICATE KEY UPDATE value = VALUES(value)`,
      );
      rows = [];
      bytes = 0;
    };
    for (const e of entries) {
      const row = `(${sqlValue(e.key)}, ${sqlValue(e.value)})`;
      const rowBytes = Buffer.byteLength(row);
      // stay well under max_allowed_packet (16 MB by default on MariaDB, 64 MB on MySQL 8)
      if (bytes + rowBytes > 4_000_000) await flush();
      rows.push(row);
      bytes += rowBytes;
    }
    await flush();
  }

  async function commit(batch: CommitBatch): Promise<boolean> {
    const c = codec!;
    const rows = await Promise.all(
      batch.entries.map(async (e) => ({ key: c.key(e.key), value: await c.value(e.value) })),
    );
    const indexKey = sqlValue(c.key(batch.index.key));
    const indexValue = sqlValue(await c.value(batch.index.value));
    const { expect } = batch.index;
    const values = rows.map((e) => [sqlValue(e.key), sqlValue(e.value)] as const);
    const size = values.reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v) + 24, 0);
    // one query must stay under max_allowed_packet (16 MB by default on MariaDB): larger commits take two
    if (store.script && size + Buffer.byteLength(indexValue) < 8_000_000) {
      // the index first: the rows go in only when it did (found rows, as mysql2 connects with CLIENT_FOUND_ROWS),
      // so a writer that lost the race writes nothing — not even an index page the current index points to
      const indexStatement =
        expect === null
          ? `INSERT IGNORE INTO ${table} (id, value) VALUES (${indexKey}, ${indexValue})`
          : `UPDATE ${table} SET value = ${indexValue} WHERE id = ${indexKey} AND LEFT(value, ${tokenPrefix(expect).length}) = ${sqlValue(tokenPrefix(expect))}`;
      const statements = ["START TRANSACTION", indexStatement, "SET @graphkeep_ok = ROW_COUNT()"];
      if (values.length > 0) {
        const source = values.map(([k, v], i) => (i === 0 ? `SELECT ${k} AS id, ${v} AS value` : `SELECT ${k}, ${v}`));
        statements.push(
          `INSERT INTO ${table} (id, value) SELECT x.id, x.value FROM (${source.join(" UNION ALL ")}) AS x WHERE @graphkeep_ok = 1 ON DUPLICATE KEY UPDATE value = VALUES(value)`,
        );
      }
      statements.push("COMMIT");
      const results = await store.script(statements.join(";\n"));
      return (results[1] as { affectedRows?: number }).affectedRows === 1;
    }
    await upsert(rows);
    if (expect === null) {
      // a plain INSERT: a duplicate key means the index exists. (ON DUPLICATE KEY UPDATE id = id cannot tell: mysql2
      // connects with CLIENT_FOUND_ROWS, so an untouched existing row also counts as one affected row.)
      try {
        await store.query(`INSERT INTO ${table} (id, value) VALUES (${indexKey}, ${indexValue})`);
        return true;
      } catch (e) {
        if ((e as { errno?: number }).errno === 1062) return false;
        throw e;
      }
    }
    const prefix = tokenPrefix(expect);
    const r = (await store.query(
      `UPDATE ${table} SET value = ${indexValue} WHERE id = ${indexKey} AND LEFT(value, ${prefix.length}) = ${sqlValue(prefix)}`,
    )) as { affectedRows: number };
    return r.affectedRows === 1;
  }
}
