import type Keyv from "keyv";
import { type Backend, type CommitBatch, type RawCodec, rawCodec, tokenPrefix } from "./types.js";

interface KeyvPostgresLike {
  opts: { table?: string; schema?: string };
  query(sql: string, params?: unknown[]): Promise<Array<Record<string, unknown>>>;
}

const ident = (s: string) => `"${s.replace(/"/g, '""')}"`;

/**
 * @keyv/postgres: a checkpoint is one statement — the index row is updated only while it still carries the
 * expected token (or inserted only when absent), and the values and records are written in the same statement
 * only when it was. One round trip, one transaction.
 */
export function postgresBackend(keyv: Keyv, store: KeyvPostgresLike): Backend {
  const table = `${ident(store.opts.schema ?? "public")}.${ident(store.opts.table ?? "keyv")}`;
  const rest = `, w AS (
    INSERT INTO ${table} (key, value) SELECT k, v FROM unnest($3::text[], $4::text[]) AS u(k, v)
    WHERE EXISTS (SELECT 1 FROM g)
    ON CONFLICT (key) DO UPDATE SET value = excluded.value
  ) SELECT count(*)::int AS ok FROM g`;
  const whenCurrent = `WITH g AS (
    UPDATE ${table} SET value = $2 WHERE key = $1 AND starts_with(value, $5) RETURNING 1
  )${rest}`;
  const whenNew = `WITH g AS (
    INSERT INTO ${table} (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING RETURNING 1
  )${rest}`;
  let codec: RawCodec | undefined;
  return {
    name: "postgres",
    async prepare() {
      // open the two connections a step uses (its checkpoint and its writes) now, not during the first steps
      await Promise.all([store.query("SELECT 1"), store.query("SELECT 1")]);
      codec = await rawCodec(keyv);
    },
    get commit() {
      return codec === undefined ? undefined : commit;
    },
  };

  async function commit(batch: CommitBatch): Promise<boolean> {
    const c = codec!;
    const ks: string[] = [];
    const vs: string[] = [];
    for (const e of batch.entries) {
      ks.push(c.key(e.key));
      vs.push(await c.value(e.value));
    }
    const indexKey = c.key(batch.index.key);
    const indexValue = await c.value(batch.index.value);
    const { expect } = batch.index;
    const rows =
      expect === null
        ? await store.query(whenNew, [indexKey, indexValue, ks, vs])
        : await store.query(whenCurrent, [indexKey, indexValue, ks, vs, tokenPrefix(expect)]);
    return rows[0]?.ok === 1;
  }
}
