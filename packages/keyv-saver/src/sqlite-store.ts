import { EventEmitter } from "node:events";
import { createRequire } from "node:module";
import { AdapterNotInstalledError, InvalidArgumentError } from "@graphkeep/core";

/** The part of a better-sqlite3 `Database` this store uses. */
export interface BetterSqliteDatabase {
  prepare(sql: string): BetterSqliteStatement;
  exec(sql: string): unknown;
  pragma(sql: string, options?: { simple?: boolean }): unknown;
  transaction<A extends unknown[], R>(fn: (...args: A) => R): { immediate(...args: A): R };
  close(): unknown;
  readonly open: boolean;
  readonly readonly: boolean;
  readonly memory: boolean;
}

interface BetterSqliteStatement {
  run(...params: unknown[]): { changes: number };
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
  iterate(...params: unknown[]): IterableIterator<unknown>;
}

type DatabaseCtor = new (
  filename: string,
  options?: { readonly?: boolean; fileMustExist?: boolean; timeout?: number },
) => BetterSqliteDatabase;

/** Options of {@link KeyvBetterSqlite}. */
export interface KeyvBetterSqliteOptions {
  /**
   * `sqlite://<path>`, a plain path, or `sqlite://:memory:`.
   * @default "sqlite://:memory:"
   */
  uri?: string | undefined;
  /** An open better-sqlite3 `Database` to use instead of `uri`; `disconnect()` leaves it open. */
  db?: BetterSqliteDatabase | undefined;
  /**
   * Table name (a plain SQL identifier). The default is @keyv/sqlite's, so either adapter reads the other's file.
   * @default "keyv"
   */
  table?: string | undefined;
  /**
   * WAL journal with `synchronous=NORMAL`: writers never block readers, a commit costs no fsync (a power loss
   * can lose the last commits, never corrupt the file).
   * @default true
   */
  wal?: boolean | undefined;
  /**
   * Milliseconds to wait for another connection's write lock before failing with `SQLITE_BUSY`.
   * @default 5000
   */
  busyTimeout?: number | undefined;
  /**
   * Open the file read-only: nothing is created or changed (no table, no journal switch); a missing file is an
   * error instead of a new empty database.
   * @default false
   */
  readOnly?: boolean | undefined;
}

interface Row {
  key: string;
  value: string;
}

const load: () => unknown = () => {
  const req = typeof require === "function" ? require : createRequire(import.meta.url);
  try {
    return req("better-sqlite3");
  } catch (e) {
    throw new AdapterNotInstalledError("better-sqlite3", e);
  }
};

/**
 * A keyv store over better-sqlite3 (the driver LangGraph's own SqliteSaver uses): synchronous prepared statements,
 * WAL, and `setMany` / `getMany` / `deleteMany` each one transaction. Its table layout is @keyv/sqlite's, so files
 * written by either adapter are read by the other. `KeyvSaver.fromUrl("sqlite://…")` uses it.
 *
 * @throws {AdapterNotInstalledError} when `better-sqlite3` is not installed.
 * @example
 * const keyv = new Keyv({ store: new KeyvBetterSqlite({ uri: "sqlite://./checkpoints.db" }), namespace: "graphkeep" });
 * const saver = new KeyvSaver(keyv);
 */
export class KeyvBetterSqlite extends EventEmitter {
  /** keyv reads `opts.dialect` and `opts.url` to offer `keyv.iterator()`. */
  readonly opts: { dialect: "sqlite"; url: string; table: string };
  /** Set by Keyv to its namespace. */
  namespace?: string | undefined;
  readonly ttlSupport = false;
  readonly db: BetterSqliteDatabase;
  readonly #owned: boolean;
  readonly #sql: {
    get: BetterSqliteStatement;
    getMany: BetterSqliteStatement;
    upsert: BetterSqliteStatement;
    insertNew: BetterSqliteStatement;
    del: BetterSqliteStatement;
    delMany: BetterSqliteStatement;
    clearNs: BetterSqliteStatement;
    clearAll: BetterSqliteStatement;
    iterate: BetterSqliteStatement;
  };
  readonly #setMany: { immediate(rows: Array<{ key: string; value: string }>): void };
  readonly #commit: {
    immediate(
      rows: Array<{ key: string; value: string }>,
      index: { key: string; value: string },
      expect: string | null,
    ): boolean;
  };

  constructor(options: KeyvBetterSqliteOptions | string = {}) {
    super();
    const opts = typeof options === "string" ? { uri: options } : options;
    const table = opts.table ?? "keyv";
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(table)) {
      throw new InvalidArgumentError(`KeyvBetterSqlite: table must be a plain SQL identifier, got "${table}"`);
    }
    const uri = opts.uri ?? "sqlite://:memory:";
    if (opts.db !== undefined) {
      this.db = opts.db;
      this.#owned = false;
    } else {
      const file = uri.replace(/^sqlite:\/\//, "") || ":memory:";
      const Database = load() as DatabaseCtor;
      this.db = new Database(file, {
        readonly: opts.readOnly === true,
        fileMustExist: opts.readOnly === true,
        timeout: opts.busyTimeout ?? 5000,
      });
      this.#owned = true;
    }
    this.opts = { dialect: "sqlite", url: uri, table };
    if (!this.db.readonly) {
      if (opts.wal !== false && !this.db.memory) {
        this.db.pragma("journal_mode = WAL");
        this.db.pragma("synchronous = NORMAL");
      }
      this.db.exec(`CREATE TABLE IF NOT EXISTS ${table}(key VARCHAR(255) PRIMARY KEY, value TEXT)`);
    }
    const db = this.db;
    if (
      db.readonly &&
      db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(table) === undefined
    ) {
      if (this.#owned) db.close();
      throw new InvalidArgumentError(`KeyvBetterSqlite: the read-only database ${uri} has no table "${table}"`);
    }
    const prep = (sql: string) => db.prepare(sql);
    this.#sql = {
      get: prep(`SELECT value FROM ${table} WHERE key = ?`),
      getMany: prep(`SELECT key, value FROM ${table} WHERE key IN (SELECT value FROM json_each(?))`),
      upsert: prep(
        `INSERT INTO ${table} (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`,
      ),
      insertNew: prep(`INSERT INTO ${table} (key, value) VALUES (?, ?) ON CONFLICT(key) DO NOTHING`),
      del: prep(`DELETE FROM ${table} WHERE key = ?`),
      delMany: prep(`DELETE FROM ${table} WHERE key IN (SELECT value FROM json_each(?))`),
      clearNs: prep(`DELETE FROM ${table} WHERE substr(key, 1, ?) = ?`),
      clearAll: prep(`DELETE FROM ${table}`),
      iterate: prep(`SELECT key, value FROM ${table} WHERE substr(key, 1, ?) = ? ORDER BY key`),
    };
    const sql = this.#sql;
    this.#setMany = db.transaction((rows: Array<{ key: string; value: string }>) => {
      for (const r of rows) sql.upsert.run(r.key, r.value);
    });
    this.#commit = db.transaction(
      (rows: Array<{ key: string; value: string }>, index: { key: string; value: string }, expect: string | null) => {
        if (expect === null) {
          if (sql.insertNew.run(index.key, index.value).changes === 0) return false;
        } else {
          const cur = sql.get.get(index.key) as { value: string } | undefined;
          if (cur === undefined || !cur.value.startsWith(expect)) return false;
          sql.upsert.run(index.key, index.value);
        }
        for (const r of rows) sql.upsert.run(r.key, r.value);
        return true;
      },
    );
  }

  async get(key: string): Promise<string | undefined> {
    return (this.#sql.get.get(key) as { value: string } | undefined)?.value;
  }

  async getMany(keys: string[]): Promise<Array<string | undefined>> {
    const found = new Map<string, string>();
    for (const r of this.#sql.getMany.all(JSON.stringify(keys)) as Row[]) found.set(r.key, r.value);
    return keys.map((k) => found.get(k));
  }

  async set(key: string, value: string): Promise<boolean> {
    this.#sql.upsert.run(key, value);
    return true;
  }

  async setMany(entries: Array<{ key: string; value: string }>): Promise<boolean[]> {
    this.#setMany.immediate(entries);
    return entries.map(() => true);
  }

  async has(key: string): Promise<boolean> {
    return this.#sql.get.get(key) !== undefined;
  }

  async delete(key: string): Promise<boolean> {
    return this.#sql.del.run(key).changes > 0;
  }

  async deleteMany(keys: string[]): Promise<boolean> {
    return this.#sql.delMany.run(JSON.stringify(keys)).changes > 0;
  }

  async clear(): Promise<void> {
    if (this.namespace) {
      const prefix = `${this.namespace}:`;
      this.#sql.clearNs.run(prefix.length, prefix);
    } else this.#sql.clearAll.run();
  }

  async *iterator(namespace?: string): AsyncGenerator<[string, string]> {
    const prefix = namespace ? `${namespace}:` : "";
    for (const r of this.#sql.iterate.iterate(prefix.length, prefix) as IterableIterator<Row>) yield [r.key, r.value];
  }

  /**
   * Writes `rows` and the index row in one IMMEDIATE transaction, only when the stored index starts with `expect`
   * (`null`: only when there is no index row yet). Returns false, writing nothing, otherwise. @internal
   */
  commitBatch(
    rows: Array<{ key: string; value: string }>,
    index: { key: string; value: string },
    expect: string | null,
  ): boolean {
    return this.#commit.immediate(rows, index, expect);
  }

  /** Closes the database (a `db` passed in the options is left open). */
  async disconnect(): Promise<void> {
    if (this.#owned && this.db.open) this.db.close();
  }
}
