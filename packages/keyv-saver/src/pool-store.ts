import { EventEmitter } from "node:events";
import { InvalidArgumentError } from "@graphkeep/core";

/** What this store uses of a `pg.Pool` (or `pg.Client`). */
export interface PgPoolLike {
  query(sql: string, params?: unknown[]): Promise<{ rows: Array<Record<string, unknown>> }>;
  end?(): Promise<void>;
}

/** What this store uses of a mysql2 pool (`mysql2/promise` or a callback pool's `.promise()`). */
export interface MysqlPoolLike {
  query(sql: string, params?: unknown[]): Promise<[unknown, unknown]>;
  escape?(value: unknown): string;
  end?(): Promise<void>;
  getConnection?(): Promise<MysqlConnectionLike>;
}

/** One connection of a mysql2 pool. */
interface MysqlConnectionLike {
  query(sql: string): Promise<[unknown, unknown]>;
  release(): void;
  destroy?(): void;
}

/** Options of {@link KeyvSqlPool}. */
export interface KeyvSqlPoolOptions {
  /** Table (a plain SQL identifier), created when missing with the layout of @keyv/postgres / @keyv/mysql. */
  table: string;
  /** PostgreSQL schema. @default "public" */
  schema?: string | undefined;
  /** The store made the pool (`fromUrl` with a URL): `disconnect()` ends it. @default false */
  owned?: boolean | undefined;
  /**
   * MySQL: the pool was created with `multipleStatements: true` (only a pool the saver made for a URL), so a
   * commit can send its statements in one transaction, one round trip. @default false
   */
  multipleStatements?: boolean | undefined;
}

type Dialect = "postgres" | "mysql";

/**
 * A keyv store over a connection pool the application already has (`pg.Pool`, a mysql2 pool), with the table
 * layout of @keyv/postgres and @keyv/mysql, so either reads the other's rows. `KeyvSaver.fromUrl` builds one over the
 * application's pool (`disconnect()` leaves it open) or over a pool of its own for a URL (`disconnect()` ends that
 * pool only: other savers, caches and trackers on the same URL keep theirs). @internal
 */
export class KeyvSqlPool extends EventEmitter {
  readonly opts: { dialect: Dialect; url: string; table: string; schema: string };
  namespace?: string | undefined;
  readonly ttlSupport = false;
  readonly #run: (sql: string, params: unknown[]) => Promise<unknown>;
  readonly #ready: Promise<void>;
  readonly #t: string;
  readonly #k: string;
  #end: (() => Promise<void>) | undefined;
  /** MySQL only: the pool's own value escaping (for statements built as text). */
  readonly escape?: ((value: unknown) => string) | undefined;
  /**
   * MySQL with `multipleStatements` only: runs several `;`-separated statements (values escaped by the caller)
   * on one connection in one round trip and resolves to one result per statement. A failure rolls back what the
   * script's transaction began before the connection goes back to the pool.
   */
  readonly script?: ((sql: string) => Promise<unknown[]>) | undefined;

  constructor(dialect: Dialect, pool: PgPoolLike | MysqlPoolLike, options: KeyvSqlPoolOptions) {
    super();
    const { table, schema = "public", owned = false } = options;
    if (owned && typeof pool.end === "function") this.#end = () => pool.end!();
    for (const [name, v] of [
      ["table", table],
      ["schema", schema],
    ] as const) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(v)) {
        throw new InvalidArgumentError(`KeyvSaver.fromUrl: ${name} must be a plain SQL identifier, got "${v}"`);
      }
    }
    this.opts = { dialect, url: `${dialect}://(pool)`, table, schema };
    if (dialect === "postgres") {
      const pg = pool as PgPoolLike;
      this.#t = `"${schema}"."${table}"`;
      this.#k = "key";
      this.#run = async (sql, params) => (await pg.query(sql, params)).rows;
      this.#ready = this.#run(
        `CREATE TABLE IF NOT EXISTS ${this.#t} (key VARCHAR(255) PRIMARY KEY, value TEXT)`,
        [],
      ).then(() => undefined);
    } else {
      const my = pool as MysqlPoolLike;
      if (typeof my.escape === "function") this.escape = (v) => my.escape!(v);
      if (options.multipleStatements === true && typeof my.getConnection === "function") {
        this.script = async (sql) => {
          await this.#ready;
          const conn = await my.getConnection!();
          try {
            const [results] = await conn.query(sql);
            conn.release();
            return results as unknown[];
          } catch (e) {
            // never hand back a connection inside an open transaction
            await conn.query("ROLLBACK").then(
              () => conn.release(),
              () => (conn.destroy ? conn.destroy() : conn.release()),
            );
            throw e;
          }
        };
      }
      this.#t = `\`${table}\``;
      this.#k = "id";
      this.#run = async (sql, params) => (await my.query(sql, params))[0];
      this.#ready = this.#run(
        `CREATE TABLE IF NOT EXISTS ${this.#t} (id VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PRIMARY KEY, value LONGTEXT)`,
        [],
      ).then(() => undefined);
    }
    this.#ready.catch((e: unknown) => this.emit("error", e));
  }

  /** Runs one statement (`$1` placeholders on PostgreSQL, `?` on MySQL); resolves to its rows or result header. */
  async query(sql: string, params: unknown[] = []): Promise<Array<Record<string, unknown>>> {
    await this.#ready;
    return (await this.#run(sql, params)) as Array<Record<string, unknown>>;
  }

  #p(i: number): string {
    return this.opts.dialect === "postgres" ? `$${i}` : "?";
  }

  async get(key: string): Promise<string | undefined> {
    const rows = await this.query(`SELECT value FROM ${this.#t} WHERE ${this.#k} = ${this.#p(1)}`, [key]);
    return rows[0]?.value as string | undefined;
  }

  async getMany(keys: string[]): Promise<Array<string | undefined>> {
    if (keys.length === 0) return [];
    const rows =
      this.opts.dialect === "postgres"
        ? await this.query(`SELECT key, value FROM ${this.#t} WHERE key = ANY($1)`, [keys])
        : await this.query(`SELECT id AS \`key\`, value FROM ${this.#t} WHERE id IN (?)`, [keys]);
    const found = new Map(rows.map((r) => [r.key as string, r.value as string]));
    return keys.map((k) => found.get(k));
  }

  async set(key: string, value: string): Promise<boolean> {
    await this.setMany([{ key, value }]);
    return true;
  }

  async setMany(entries: Array<{ key: string; value: string }>): Promise<boolean[]> {
    if (entries.length === 0) return [];
    if (this.opts.dialect === "postgres") {
      await this.query(
        `INSERT INTO ${this.#t} (key, value) SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
        [entries.map((e) => e.key), entries.map((e) => e.value)],
      );
    } else {
      await this.query(`INSERT INTO ${this.#t} (id, value) VALUES ? ON DUPLICATE KEY UPDATE value = VALUES(value)`, [
        entries.map((e) => [e.key, e.value]),
      ]);
    }
    return entries.map(() => true);
  }

  async has(key: string): Promise<boolean> {
    return (await this.get(key)) !== undefined;
  }

  async delete(key: string): Promise<boolean> {
    return this.deleteMany([key]);
  }

  async deleteMany(keys: string[]): Promise<boolean> {
    if (keys.length === 0) return false;
    const r =
      this.opts.dialect === "postgres"
        ? await this.query(`DELETE FROM ${this.#t} WHERE key = ANY($1) RETURNING 1`, [keys])
        : ((await this.query(`DELETE FROM ${this.#t} WHERE id IN (?)`, [keys])) as unknown as { affectedRows: number });
    return Array.isArray(r) ? r.length > 0 : r.affectedRows > 0;
  }

  async clear(): Promise<void> {
    const prefix = this.namespace ? `${this.namespace}:` : "";
    await this.query(
      `DELETE FROM ${this.#t} WHERE ${this.opts.dialect === "postgres" ? "left(key, $1) = $2" : "LEFT(id, ?) = ?"}`,
      [prefix.length, prefix],
    );
  }

  /** Ends the pool when this store made it (once); a pool the application gave stays open. */
  async disconnect(): Promise<void> {
    const end = this.#end;
    this.#end = undefined;
    await end?.();
  }
}
