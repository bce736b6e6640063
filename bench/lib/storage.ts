/** Where a saver keeps its data, the bytes the backend reports for it, and cleanup. */
import { existsSync, rmSync, statSync } from "node:fs";
import { reachable } from "../../examples/lib/reachable.js";
import type { SaverName, Urls } from "./args.js";
import { openSqlite, scanKeys, withMysql, withPg, withRedis } from "./clients.js";

export type Location =
  | { kind: "memory" }
  | { kind: "sqlite"; file: string }
  /** official PostgresSaver: all tables of its own schema */
  | { kind: "pg-schema"; url: string; schema: string }
  /** KeyvSaver on @keyv/postgres: one table in `public` */
  | { kind: "pg-table"; url: string; table: string }
  | { kind: "redis"; url: string; prefix: string }
  | { kind: "mysql"; url: string; table: string };

const ABBREV: Record<SaverName, string> = {
  none: "none",
  memory: "mem",
  sqlite: "sql",
  postgres: "pg",
  "keyv-memory": "kmem",
  "keyv-sqlite": "ksql",
  "keyv-sqlite-hand": "ksqh",
  "keyv-sqlite-keyv": "ksqk",
  "keyv-redis": "krds",
  "keyv-postgres": "kpg",
  "keyv-mysql": "kmy",
};

/** A lowercase SQL/Redis-safe name unique to this run, workload and saver (none is a prefix of another). */
export function storageId(runId: string, workload: string, saver: SaverName, warmUp = false): string {
  return `${runId}_${warmUp ? "w" : ""}${workload}_${ABBREV[saver]}`;
}

export function locationOf(saver: SaverName, id: string, tmpDir: string, urls: Urls): Location {
  switch (saver) {
    case "none":
    case "memory":
    case "keyv-memory":
      return { kind: "memory" };
    case "sqlite":
    case "keyv-sqlite":
    case "keyv-sqlite-hand":
    case "keyv-sqlite-keyv":
      return { kind: "sqlite", file: `${tmpDir}/${id}.sqlite` };
    case "postgres":
      return { kind: "pg-schema", url: urls.postgres, schema: id };
    case "keyv-postgres":
      return { kind: "pg-table", url: urls.postgres, table: id };
    case "keyv-redis":
      // keyv + @keyv/redis store keys as `<namespace>::<key>`
      return { kind: "redis", url: urls.redis, prefix: `${id}::` };
    case "keyv-mysql":
      return { kind: "mysql", url: urls.mysql, table: id };
  }
}

/** Which server a saver needs, if any. */
export function serverOf(saver: SaverName): keyof Urls | undefined {
  if (saver === "postgres" || saver === "keyv-postgres") return "postgres";
  if (saver === "keyv-redis") return "redis";
  if (saver === "keyv-mysql") return "mysql";
  return undefined;
}

export { reachable };

// ---------------------------------------------------------------- measuring

const fileSize = (f: string) => (existsSync(f) ? statSync(f).size : 0);

/** Bytes the backend reports for a saver's data; undefined for in-process savers. */
export async function storedBytes(loc: Location): Promise<number | undefined> {
  switch (loc.kind) {
    case "memory":
      return undefined;
    case "sqlite": {
      if (!existsSync(loc.file)) return 0;
      const db = openSqlite(loc.file);
      try {
        db.pragma("wal_checkpoint(TRUNCATE)");
      } finally {
        db.close();
      }
      return fileSize(loc.file) + fileSize(`${loc.file}-wal`);
    }
    case "pg-schema":
      return withPg(loc.url, async (c) => {
        const r = await c.query(
          `SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::bigint AS n
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'm')`,
          [loc.schema],
        );
        return Number(r.rows[0]?.n ?? 0);
      });
    case "pg-table":
      return withPg(loc.url, async (c) => {
        const r = await c.query("SELECT COALESCE(pg_total_relation_size(to_regclass($1)), 0)::bigint AS n", [
          `public.${loc.table}`,
        ]);
        return Number(r.rows[0]?.n ?? 0);
      });
    case "redis":
      return withRedis(loc.url, async (c) => {
        const keys = await scanKeys(c, loc.prefix);
        let total = 0;
        for (let i = 0; i < keys.length; i += 500) {
          const part = keys.slice(i, i + 500);
          const sizes = await Promise.all(part.map((k) => c.sendCommand(["MEMORY", "USAGE", k, "SAMPLES", "0"])));
          for (const s of sizes) total += typeof s === "number" ? s : 0;
        }
        return total;
      });
    case "mysql":
      return withMysql(loc.url, async (q) => {
        await q(`ANALYZE TABLE \`${loc.table}\``);
        const rows = await q(
          "SELECT DATA_LENGTH + INDEX_LENGTH AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?",
          [loc.table],
        );
        return Number(rows[0]?.n ?? 0);
      });
  }
}

// ---------------------------------------------------------------- cleanup

export async function cleanup(loc: Location): Promise<void> {
  switch (loc.kind) {
    case "memory":
      return;
    case "sqlite":
      for (const suffix of ["", "-wal", "-shm", "-journal"]) rmSync(`${loc.file}${suffix}`, { force: true });
      return;
    case "pg-schema":
      await withPg(loc.url, (c) => c.query(`DROP SCHEMA IF EXISTS "${loc.schema}" CASCADE`));
      return;
    case "pg-table":
      await withPg(loc.url, (c) => c.query(`DROP TABLE IF EXISTS public."${loc.table}"`));
      return;
    case "redis":
      await withRedis(loc.url, async (c) => {
        const keys = await scanKeys(c, loc.prefix);
        for (let i = 0; i < keys.length; i += 500) await c.sendCommand(["UNLINK", ...keys.slice(i, i + 500)]);
      });
      return;
    case "mysql":
      await withMysql(loc.url, (q) => q(`DROP TABLE IF EXISTS \`${loc.table}\``));
      return;
  }
}

/**
 * Removes everything a run may have left (a child that crashed or timed out): schemas, tables and keys whose
 * name starts with `runId`, and the temp dir. Returns what it removed or failed to remove (empty when the
 * children cleaned up after themselves).
 */
export async function sweep(runId: string, tmpDir: string, urls: Urls, servers: Set<keyof Urls>): Promise<string[]> {
  const removed: string[] = [];
  const attempt = async (what: string, fn: () => Promise<void>) => {
    try {
      await fn();
    } catch (e) {
      removed.push(`${what} cleanup failed (${e instanceof Error ? e.message : String(e)})`);
    }
  };
  if (servers.has("postgres")) {
    await attempt("postgres", () =>
      withPg(urls.postgres, async (c) => {
        const schemas = await c.query("SELECT nspname FROM pg_namespace WHERE left(nspname, length($1)) = $1", [runId]);
        for (const r of schemas.rows) {
          await c.query(`DROP SCHEMA IF EXISTS "${r.nspname}" CASCADE`);
          removed.push(`dropped postgres schema ${r.nspname}`);
        }
        const tables = await c.query(
          "SELECT schemaname, tablename FROM pg_tables WHERE left(tablename, length($1)) = $1",
          [runId],
        );
        for (const r of tables.rows) {
          await c.query(`DROP TABLE IF EXISTS "${r.schemaname}"."${r.tablename}"`);
          removed.push(`dropped postgres table ${r.schemaname}.${r.tablename}`);
        }
      }),
    );
  }
  if (servers.has("mysql")) {
    await attempt("mysql", () =>
      withMysql(urls.mysql, async (q) => {
        const rows = await q(
          "SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND LEFT(TABLE_NAME, ?) = ?",
          [runId.length, runId],
        );
        for (const r of rows) {
          await q(`DROP TABLE IF EXISTS \`${String(r.t)}\``);
          removed.push(`dropped mysql table ${String(r.t)}`);
        }
      }),
    );
  }
  if (servers.has("redis")) {
    await attempt("redis", () =>
      withRedis(urls.redis, async (c) => {
        const keys = await scanKeys(c, runId);
        for (let i = 0; i < keys.length; i += 500) await c.sendCommand(["UNLINK", ...keys.slice(i, i + 500)]);
        if (keys.length > 0) removed.push(`deleted ${keys.length} redis keys`);
      }),
    );
  }
  rmSync(tmpDir, { recursive: true, force: true });
  return removed;
}

/** Server versions, for the report header. */
export async function serverVersions(urls: Urls, servers: Set<keyof Urls>): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const tryGet = async (name: keyof Urls, fn: () => Promise<string>) => {
    if (!servers.has(name)) return;
    try {
      out[name] = await fn();
    } catch (e) {
      out[name] = `unknown (${e instanceof Error ? e.message : String(e)})`;
    }
  };
  await tryGet("postgres", () =>
    withPg(urls.postgres, async (c) => String((await c.query("SHOW server_version")).rows[0]?.server_version)),
  );
  await tryGet("redis", () =>
    withRedis(urls.redis, async (c) => {
      const info = String(await c.sendCommand(["INFO", "server"]));
      return /redis_version:(\S+)/.exec(info)?.[1] ?? "?";
    }),
  );
  await tryGet("mysql", () => withMysql(urls.mysql, async (q) => String((await q("SELECT VERSION() AS v"))[0]?.v)));
  return out;
}
