import { existsSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { AdapterNotInstalledError, GraphkeepError, StoreUnavailableError } from "@graphkeep/core";
import { type BetterSqliteDatabase, KeyvBetterSqlite, KeyvSaver, type PgPoolLike } from "@graphkeep/keyv-saver";
import type { BaseCheckpointSaver } from "@langchain/langgraph-checkpoint";
import { Keyv } from "keyv";
import { ForeignStoreError, ReadOnlyStoreError, StoreNotFoundError, UsageError } from "./errors.js";
import { type StoreOptions, serdeFor } from "./open.js";

/** What wrote the store: graphkeep's `KeyvSaver`, or one of LangGraph's official savers. */
export type StoreKind = "graphkeep" | "SqliteSaver" | "PostgresSaver";

/** One thread of a store, as the `threads` command lists it. */
export interface ThreadRef {
  threadId: string;
  updatedAt: Date | undefined;
}

/** An opened store: a checkpoint reader for every kind, the `KeyvSaver` only for graphkeep's own layout. */
export interface Source {
  readonly kind: StoreKind;
  /** checkpoint reads (`getTuple`, `list`) */
  readonly reader: BaseCheckpointSaver;
  /** graphkeep stores only */
  readonly saver: KeyvSaver | undefined;
  /** where the threads are when the namespace read holds none (other namespaces of the same table) */
  readonly hint?: string | undefined;
  /** what a graphkeep store says about itself (`graphkeep:manifest`), when it has a manifest */
  manifest?: Record<string, unknown> | undefined;
  threads(): AsyncIterable<ThreadRef>;
  close(): Promise<void>;
}

/** How a command uses the store. */
export interface OpenMode {
  /** the command writes (fork, prune, delete): official layouts are refused */
  write: boolean;
  /** where to say which namespace or table was picked when none was given */
  notice(text: string): void;
}

const DEFAULT_TABLE = "graphkeep_checkpoints";
const DEFAULT_NAMESPACE = "graphkeep";
/** Tables a KeyvSaver store can live in: fromUrl's default, then keyv's own default (`new KeyvSqlite(file)`). */
const KEYV_TABLES = [DEFAULT_TABLE, "keyv"];
const SQLITE_SAVER_TABLES = ["checkpoints", "writes"];
const POSTGRES_SAVER_TABLES = ["checkpoints", "checkpoint_blobs", "checkpoint_writes", "checkpoint_migrations"];
/** The key `KeyvSaver` describes its store under (keyv-saver's manifest.ts), relative to the Keyv namespace. */
const MANIFEST = "graphkeep:manifest";
const WRITES_REFUSED = "graphkeep never writes to it (fork, prune and delete work on graphkeep stores only)";

/** Every write method of a Keyv made to fail: read-only commands never change the store, whatever the engine. */
function readOnly(keyv: Keyv): Keyv {
  for (const m of ["set", "setMany", "delete", "deleteMany", "clear"] as const) {
    (keyv as unknown as Record<string, unknown>)[m] = async () => {
      throw new ReadOnlyStoreError(m);
    };
  }
  return keyv;
}

/** Key prefixes before `threads:<shard>` (the saver's registry) in a key list: the namespaces holding threads. */
function namespacesOf(registryKeys: string[]): string[] {
  const out = new Set<string>();
  for (const k of registryKeys) {
    const m = /^(.*):(?:threads:[0-9a-f]|graphkeep:manifest)$/.exec(k);
    if (m && m[1] !== undefined && m[1] !== "" && !m[1].includes("{")) out.add(m[1]);
  }
  return [...out].sort();
}

const some = (xs: string[], n = 5) =>
  xs.length <= n ? xs.join(", ") : `${xs.slice(0, n).join(", ")} and ${xs.length - n} more`;

/**
 * Picks the namespace to read: the one asked for; else the default when it holds threads (or nothing does); else the
 * only one that does. Several and none asked: an error naming the flags to pass. `hint` tells, for an empty listing,
 * where the threads are.
 */
function pickNamespace(
  found: string[],
  asked: string | undefined,
  where: string,
  mode: OpenMode,
  flag: (ns: string) => string,
): { namespace: string; hint: string | undefined } {
  const namespace = asked ?? DEFAULT_NAMESPACE;
  const elsewhere = found.filter((n) => n !== namespace);
  const hint =
    found.includes(namespace) || elsewhere.length === 0
      ? undefined
      : `threads are in namespace ${some(elsewhere.map((n) => `"${n}"`))} of ${where}: pass ${some(elsewhere.map(flag), 3)}`;
  if (asked !== undefined || found.length === 0 || found.includes(DEFAULT_NAMESPACE)) return { namespace, hint };
  if (found.length === 1) {
    mode.notice(`reading namespace "${found[0]}" of ${where} (the only one graphkeep has written to)`);
    return { namespace: found[0] as string, hint: undefined };
  }
  throw new StoreNotFoundError(`no threads in namespace "${DEFAULT_NAMESPACE}"; ${hint}`);
}

// ------------------------------------------------------------------------------------------------ SQLite

function loadBetterSqlite(): new (
  file: string,
  o: { readonly: boolean; fileMustExist: boolean },
) => BetterSqliteDatabase {
  try {
    return createRequire(import.meta.url)("better-sqlite3");
  } catch (e) {
    throw new AdapterNotInstalledError("better-sqlite3", e);
  }
}

async function openSqlite(url: string, o: StoreOptions, env: NodeJS.ProcessEnv, mode: OpenMode): Promise<Source> {
  const file = url.replace(/^sqlite:\/\//i, "");
  if (file === "" || file === ":memory:") throw new UsageError("--store sqlite:// needs a file path");
  if (!existsSync(file)) {
    throw new StoreNotFoundError(
      `no SQLite file at ${file} (mistyped path?); graphkeep opens existing stores only and never creates one`,
    );
  }
  if (statSync(file).isDirectory()) throw new StoreNotFoundError(`${file} is a directory, not a SQLite file`);
  const Database = loadBetterSqlite();
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>)
      .map((r) => r.name)
      .sort();
    const table = o.table ?? KEYV_TABLES.find((t) => tables.includes(t));
    if (table === undefined || !tables.includes(table)) {
      if (o.table === undefined && SQLITE_SAVER_TABLES.every((t) => tables.includes(t))) {
        if (mode.write) {
          throw new ForeignStoreError(
            "SqliteSaver",
            `${file} was written by LangGraph's official SqliteSaver (tables checkpoints, writes); ${WRITES_REFUSED}`,
          );
        }
        mode.notice(`${file} is an official LangGraph SqliteSaver database: reading it through SqliteSaver`);
        const source = await sqliteSaverSource(db);
        return source;
      }
      throw new StoreNotFoundError(
        `${file} has no table "${table ?? DEFAULT_TABLE}"${tables.length ? ` (tables: ${tables.join(", ")}; pass --table NAME)` : " (an empty database)"}`,
      );
    }
    if (o.table === undefined && table !== DEFAULT_TABLE) mode.notice(`reading table "${table}" of ${file}`);
    const keys = (
      db
        .prepare(
          `SELECT DISTINCT substr(key, 1, length(key) - 1) AS k FROM "${table}" WHERE (key GLOB '*:threads:[0-9a-f]' OR key GLOB '*:${MANIFEST}') AND instr(key, '{') = 0`,
        )
        .all() as Array<{ k: string }>
    ).map((r) => (r.k.endsWith(MANIFEST.slice(0, -1)) ? `${r.k}t` : `${r.k}0`));
    const { namespace, hint } = pickNamespace(
      namespacesOf(keys),
      o.namespace,
      `table "${table}" of ${file}`,
      mode,
      (n) => (table === DEFAULT_TABLE ? `--namespace ${n}` : `--table ${table} --namespace ${n}`),
    );
    const serde = serdeFor(o, env);
    if (mode.write) {
      db.close();
      // sqliteWal false: the CLI never switches the journal mode of a file the application owns
      const saver = await KeyvSaver.fromUrl(url, { table, namespace, serde, sqliteWal: false, ...timeout(o) });
      return keyvSource(saver, hint, async () => undefined);
    }
    const store = new KeyvBetterSqlite({ db, table, readOnly: true });
    const saver = new KeyvSaver(readOnly(new Keyv({ store, namespace })), { serde, ...timeout(o) });
    return keyvSource(saver, hint, async () => {
      db.close();
    });
  } catch (e) {
    if (db.open) db.close();
    throw e;
  }
}

/** The official SqliteSaver over a read-only handle: its setup (journal switch, CREATE TABLE) made a no-op. */
async function sqliteSaverSource(db: BetterSqliteDatabase): Promise<Source> {
  const { SqliteSaver } = await importOfficial<typeof import("@langchain/langgraph-checkpoint-sqlite")>(
    "@langchain/langgraph-checkpoint-sqlite",
  );
  const quiet = new Proxy(db, {
    get(target, prop) {
      if (prop === "pragma" || prop === "exec") return () => undefined;
      const v = Reflect.get(target, prop);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
  const reader = new SqliteSaver(quiet as never);
  return {
    kind: "SqliteSaver",
    reader,
    saver: undefined,
    async *threads() {
      const rows = db
        .prepare("SELECT DISTINCT thread_id FROM checkpoints WHERE checkpoint_ns = '' ORDER BY thread_id")
        .all() as Array<{ thread_id: string }>;
      for (const r of rows) yield { threadId: r.thread_id, updatedAt: undefined };
    },
    async close() {
      if (db.open) db.close();
    },
  };
}

async function importOfficial<T>(name: string): Promise<T> {
  try {
    return (await import(name)) as T;
  } catch (e) {
    throw new AdapterNotInstalledError(name, e);
  }
}

// ------------------------------------------------------------------------------------------------ PostgreSQL

interface PgPool extends PgPoolLike {
  end(): Promise<void>;
  connect(): Promise<unknown>;
  readonly totalCount: number;
  on(event: "error", fn: (e: unknown) => void): unknown;
}

function loadPg(): { Pool: new (o: object) => PgPool } {
  const req = createRequire(import.meta.url);
  try {
    return req("pg");
  } catch {
    try {
      return createRequire(req.resolve("@keyv/postgres"))("pg");
    } catch (e) {
      throw new AdapterNotInstalledError("pg", e);
    }
  }
}

async function openPostgres(url: string, o: StoreOptions, env: NodeJS.ProcessEnv, mode: OpenMode): Promise<Source> {
  const { Pool } = loadPg();
  // read-only commands: the server itself refuses any write of this session
  const pool = new Pool({
    connectionString: url,
    connectionTimeoutMillis: Number(o.timeout ?? 5000),
    ...(mode.write ? {} : { options: "-c default_transaction_read_only=on" }),
  });
  pool.on("error", () => undefined);
  try {
    let tables: string[];
    try {
      const r = await pool.query(
        "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
      );
      tables = r.rows.map((x) => String(x.t));
    } catch (e) {
      throw new StoreUnavailableError("connect", `cannot reach the PostgreSQL store: ${(e as Error).message}`, {
        cause: e,
      });
    }
    const table = o.table ?? KEYV_TABLES.find((t) => tables.includes(t));
    if (table === undefined || !tables.includes(table)) {
      if (o.table === undefined && POSTGRES_SAVER_TABLES.every((t) => tables.includes(t))) {
        if (mode.write) {
          throw new ForeignStoreError(
            "PostgresSaver",
            `this database holds LangGraph's official PostgresSaver tables (${POSTGRES_SAVER_TABLES.join(", ")}); ${WRITES_REFUSED}`,
          );
        }
        mode.notice("an official LangGraph PostgresSaver schema: reading it through PostgresSaver");
        const { PostgresSaver } = await importOfficial<typeof import("@langchain/langgraph-checkpoint-postgres")>(
          "@langchain/langgraph-checkpoint-postgres",
        );
        const reader = new PostgresSaver(pool as never);
        return {
          kind: "PostgresSaver",
          reader,
          saver: undefined,
          async *threads() {
            const r = await pool.query(
              "SELECT DISTINCT thread_id AS t FROM checkpoints WHERE checkpoint_ns = '' ORDER BY 1",
            );
            for (const x of r.rows) yield { threadId: String(x.t), updatedAt: undefined };
          },
          close: () => pool.end(),
        };
      }
      throw new StoreNotFoundError(
        `this database has no table "${table ?? DEFAULT_TABLE}" in schema public${tables.length ? ` (tables: ${tables.join(", ")}; pass --table NAME)` : ""}; graphkeep does not create it`,
      );
    }
    if (o.table === undefined && table !== DEFAULT_TABLE) mode.notice(`reading table "${table}"`);
    const keys = (
      await pool.query(
        `SELECT DISTINCT left(key, -1) AS k FROM "${table}" WHERE (key ~ ':threads:[0-9a-f]$' OR right(key, ${MANIFEST.length + 1}) = ':${MANIFEST}') AND position('{' in key) = 0`,
      )
    ).rows.map((x) => (String(x.k).endsWith(MANIFEST.slice(0, -1)) ? `${x.k}t` : `${x.k}0`));
    const { namespace, hint } = pickNamespace(namespacesOf(keys), o.namespace, `table "${table}"`, mode, (n) =>
      table === DEFAULT_TABLE ? `--namespace ${n}` : `--table ${table} --namespace ${n}`,
    );
    // the table exists: skip the store's CREATE TABLE IF NOT EXISTS (a read-only session refuses even that)
    const shared = {
      query: (sql: string, params?: unknown[]) =>
        /^\s*CREATE TABLE IF NOT EXISTS/i.test(sql) ? Promise.resolve({ rows: [] }) : pool.query(sql, params),
      connect: () => pool.connect(),
      get totalCount() {
        return pool.totalCount;
      },
    };
    const saver = await KeyvSaver.fromUrl(shared as never, {
      table,
      namespace,
      serde: serdeFor(o, env),
      ...timeout(o),
    });
    if (!mode.write) readOnly(saver.keyv);
    return keyvSource(saver, hint, () => pool.end());
  } catch (e) {
    await pool.end().catch(() => undefined);
    throw e;
  }
}

// ------------------------------------------------------------------------------------------------ MySQL

interface MysqlPool {
  query(sql: string, params?: unknown[]): Promise<[unknown, unknown]>;
  getConnection(): Promise<unknown>;
  escape(value: unknown): string;
  end(): Promise<void>;
}

function loadMysql(): { createPool(o: object): MysqlPool } {
  const req = createRequire(import.meta.url);
  try {
    return req("mysql2/promise");
  } catch {
    try {
      return createRequire(req.resolve("@keyv/mysql"))("mysql2/promise");
    } catch (e) {
      throw new AdapterNotInstalledError("mysql2", e);
    }
  }
}

/**
 * MySQL / MariaDB: like PostgreSQL, the table is looked up first (nothing is created). Read-only commands skip the
 * store's CREATE TABLE and the saver's one-time ALTER TABLE of a hand-built @keyv/mysql table (key collation), and
 * their sessions are read-only.
 */
async function openMysql(url: string, o: StoreOptions, env: NodeJS.ProcessEnv, mode: OpenMode): Promise<Source> {
  const pool = loadMysql().createPool({ uri: url, connectTimeout: Number(o.timeout ?? 5000) });
  if (!mode.write) {
    // every connection of a read-only command refuses writes (DML) at the server
    const raw = (
      pool as unknown as { pool?: { on(e: "connection", fn: (c: { query(sql: string): unknown }) => void): unknown } }
    ).pool;
    raw?.on("connection", (c) => c.query("SET SESSION TRANSACTION READ ONLY"));
  }
  try {
    let tables: string[];
    try {
      const [rows] = await pool.query(
        "SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() ORDER BY 1",
      );
      tables = (rows as Array<{ t: string }>).map((x) => String(x.t));
    } catch (e) {
      throw new StoreUnavailableError("connect", `cannot reach the MySQL store: ${(e as Error).message}`, {
        cause: e,
      });
    }
    const table = o.table ?? KEYV_TABLES.find((t) => tables.includes(t));
    if (table === undefined || !tables.includes(table)) {
      throw new StoreNotFoundError(
        `this database has no table "${table ?? DEFAULT_TABLE}"${tables.length ? ` (tables: ${some(tables, 10)}; pass --table NAME)` : ""}; graphkeep does not create it`,
      );
    }
    if (o.table === undefined && table !== DEFAULT_TABLE) mode.notice(`reading table "${table}"`);
    const [found] = await pool.query(
      `SELECT DISTINCT LEFT(id, CHAR_LENGTH(id) - 1) AS k FROM \`${table}\` WHERE (id REGEXP ':threads:[0-9a-f]$' OR id LIKE '%:${MANIFEST}') AND LOCATE('{', id) = 0`,
    );
    const keys = (found as Array<{ k: string }>).map((x) =>
      String(x.k).endsWith(MANIFEST.slice(0, -1)) ? `${x.k}t` : `${x.k}0`,
    );
    const { namespace, hint } = pickNamespace(namespacesOf(keys), o.namespace, `table "${table}"`, mode, (n) =>
      table === DEFAULT_TABLE ? `--namespace ${n}` : `--table ${table} --namespace ${n}`,
    );
    const skip = mode.write ? /^\s*CREATE TABLE IF NOT EXISTS/i : /^\s*(CREATE TABLE IF NOT EXISTS|ALTER TABLE)/i;
    const shared = {
      query: (sql: string, params?: unknown[]) =>
        skip.test(sql) ? Promise.resolve([[], []] as [unknown, unknown]) : pool.query(sql, params),
      getConnection: () => pool.getConnection(),
      escape: (v: unknown) => pool.escape(v),
    };
    const saver = await KeyvSaver.fromUrl(shared as never, {
      table,
      namespace,
      serde: serdeFor(o, env),
      ...timeout(o),
    });
    if (!mode.write) readOnly(saver.keyv);
    return keyvSource(saver, hint, () => pool.end());
  } catch (e) {
    await pool.end().catch(() => undefined);
    throw e;
  }
}

// ------------------------------------------------------------------------------------------------ others

function timeout(o: StoreOptions): { operationTimeout: number } {
  const t = o.timeout === undefined ? 5000 : Number(o.timeout);
  if (!Number.isFinite(t) || t <= 0) throw new UsageError("--timeout must be a positive number of ms");
  return { operationTimeout: t };
}

/**
 * What the store's manifest says, when it has one. An encrypted store read without a key fails here, with what to
 * pass, instead of on the first value.
 */
async function checkManifest(saver: KeyvSaver, o: StoreOptions): Promise<Record<string, unknown> | undefined> {
  const m = (await saver.keyv.get(MANIFEST).catch(() => undefined)) as Record<string, unknown> | undefined;
  if (m === undefined || m === null || typeof m !== "object") return undefined;
  if (typeof m.serde === "string" && m.serde.endsWith("+aes") && o.keyEnv === undefined && o.keyFile === undefined) {
    throw new GraphkeepError(
      "MISSING_KEY",
      `this store is encrypted (its manifest says values are "${m.serde}"): pass its key with --key-env VAR or --key-file PATH`,
    );
  }
  return m;
}

function keyvSource(saver: KeyvSaver, hint: string | undefined, after: () => Promise<void>): Source {
  return {
    kind: "graphkeep",
    hint,
    reader: saver,
    saver,
    async *threads() {
      for await (const t of saver.listThreads()) yield { threadId: t.threadId, updatedAt: t.updatedAt };
    },
    async close() {
      try {
        await saver.close();
      } finally {
        await after();
      }
    },
  };
}

/** Opens memory stores (and any other URL `fromUrl` takes) through `KeyvSaver.fromUrl`; read-only commands get a Keyv that never writes. */
async function openOther(url: string, o: StoreOptions, env: NodeJS.ProcessEnv, mode: OpenMode): Promise<Source> {
  const saver = await KeyvSaver.fromUrl(url, {
    serde: serdeFor(o, env),
    ...timeout(o),
    ...(o.namespace === undefined ? {} : { namespace: o.namespace }),
    ...(o.table === undefined ? {} : { table: o.table }),
  });
  if (!mode.write) readOnly(saver.keyv);
  return keyvSource(saver, undefined, async () => undefined);
}

interface ScanClient {
  scan(cursor: string, o: { MATCH: string; COUNT: number }): Promise<{ cursor: unknown; keys: string[] }>;
}

/**
 * Redis: `fromUrl` keys are `<ns>::<key>`; a Keyv built by hand over `new KeyvRedis(url)` adds its own prefix,
 * `<ns>::<ns>:<key>`. The registry keys (`threads:<shard>`) tell which namespaces hold threads, in which layout.
 */
async function openRedis(url: string, o: StoreOptions, env: NodeJS.ProcessEnv, mode: OpenMode): Promise<Source> {
  const serde = serdeFor(o, env);
  const saver = await KeyvSaver.fromUrl(url, {
    serde,
    ...timeout(o),
    ...(o.namespace === undefined ? {} : { namespace: o.namespace }),
  });
  try {
    const store = saver.keyv.store as { getMasterNodes?: () => Promise<ScanClient[]> };
    const layouts = new Map<string, "url" | "hand">();
    for (const client of (await store.getMasterNodes?.()) ?? []) {
      let cursor = "0";
      do {
        const r = await client.scan(cursor, { MATCH: "*:threads:?", COUNT: 1000 });
        cursor = String(r.cursor);
        for (const k of r.keys) {
          const m = /^(.+?)::(?:(.+):)?threads:[0-9a-f]$/.exec(k);
          if (!m || m[1] === undefined || m[1].includes("{")) continue;
          if (m[2] === undefined) layouts.set(m[1], "url");
          else if (m[2] === m[1] && !layouts.has(m[1])) layouts.set(m[1], "hand");
        }
      } while (cursor !== "0");
    }
    const { namespace, hint } = pickNamespace(
      [...layouts.keys()].sort(),
      o.namespace,
      "this Redis",
      mode,
      (n) => `--namespace ${n}`,
    );
    if (layouts.get(namespace) === "hand") {
      // the application's own `new Keyv({ store: new KeyvRedis(…), namespace })`: read it the same way, over the
      // client (or cluster) fromUrl connected; that saver stays open underneath and closes it at the end
      const { default: KeyvRedis } = (await import("@keyv/redis")) as unknown as {
        default: new (client: unknown, o: object) => import("keyv").KeyvStoreAdapter & { disconnect(): Promise<void> };
      };
      const client = await (saver.keyv.store as unknown as { getClient(): Promise<unknown> }).getClient();
      const store = new KeyvRedis(client, { throwOnErrors: true });
      store.disconnect = async () => undefined;
      const keyv = new Keyv({ store, namespace });
      const own = new KeyvSaver(mode.write ? keyv : readOnly(keyv), { serde, ...timeout(o) });
      return keyvSource(own, hint, () => saver.close());
    }
    if (namespace !== (o.namespace ?? DEFAULT_NAMESPACE)) {
      await saver.close();
      const other = await KeyvSaver.fromUrl(url, { serde, ...timeout(o), namespace });
      if (!mode.write) readOnly(other.keyv);
      return keyvSource(other, hint, async () => undefined);
    }
    if (!mode.write) readOnly(saver.keyv);
    return keyvSource(saver, hint, async () => undefined);
  } catch (e) {
    await saver.close().catch(() => undefined);
    throw e;
  }
}

/**
 * Opens the store named by `--store` or `GRAPHKEEP_STORE` for one command. SQLite files and PostgreSQL databases
 * are inspected first: a missing file or table is an error (nothing is created), an official SqliteSaver or
 * PostgresSaver layout is read through that saver (or refused for writing commands), and the namespace holding the
 * threads is found when none is given. Read-only commands open SQLite read-only and PostgreSQL in read-only sessions.
 *
 * @throws {StoreNotFoundError} for a missing file, or a database without graphkeep's table.
 * @throws {ForeignStoreError} when a writing command meets an official saver's layout.
 * @throws {UsageError} when no store is given.
 */
export async function openSource(options: StoreOptions, env: NodeJS.ProcessEnv, mode: OpenMode): Promise<Source> {
  const url = options.store ?? env.GRAPHKEEP_STORE;
  if (url === undefined || url === "") {
    throw new UsageError(
      "no store: pass --store <url> or set GRAPHKEEP_STORE (sqlite://./checkpoints.db, redis://…, postgres://…, mysql://…)",
    );
  }
  timeout(options);
  const scheme = url.slice(0, url.indexOf(":") + 1).toLowerCase();
  const source =
    scheme === "sqlite:"
      ? await openSqlite(url, options, env, mode)
      : scheme === "postgres:" || scheme === "postgresql:"
        ? await openPostgres(url, options, env, mode)
        : scheme === "mysql:"
          ? await openMysql(url, options, env, mode)
          : /^rediss?(\+cluster)?:$/.test(scheme)
            ? await openRedis(url, options, env, mode)
            : await openOther(url, options, env, mode);
  if (source.saver !== undefined) {
    try {
      source.manifest = await checkManifest(source.saver, options);
    } catch (e) {
      await source.close().catch(() => undefined);
      throw e;
    }
  }
  return source;
}

/** The `KeyvSaver` of a graphkeep store, for commands that need graphkeep's layout. */
export function graphkeepSaver(source: Source, command: string): KeyvSaver {
  if (source.saver === undefined) {
    throw new ForeignStoreError(
      source.kind as "SqliteSaver" | "PostgresSaver",
      `this store was written by LangGraph's official ${source.kind}: \`${command}\` works on graphkeep stores only (threads, history, show, diff and cost read it)`,
    );
  }
  return source.saver;
}
