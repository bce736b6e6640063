import { InvalidArgumentError, redactUrl } from "@graphkeep/core";
import type { Pool } from "pg";
import { type AcquireResult, Lease, type LeaseBackend, resolveOptions } from "./lease.js";
import type { LeaseInfo, LeaseOptions, LeaseStore, ReleaseOutcome } from "./types.js";

/** Options of {@link postgresLease}. */
export interface PostgresLeaseOptions extends LeaseOptions {
  /** PostgreSQL URL; the store opens its own `pg.Pool` (4 connections). Give `url` or `pool`. */
  url?: string | undefined;
  /** A `pg.Pool` to use; the store never ends it. */
  pool?: Pool | undefined;
  /**
   * The lease table, created (with its index) when missing. `schema.table` is accepted.
   * @default "graphkeep_leases"
   */
  table?: string | undefined;
}

const NOW = "clock_timestamp()";
const TTL = "($3::bigint * interval '1 millisecond')";

interface Row {
  owner: string;
  token: string;
  state: LeaseInfo["state"];
  attempts: number;
  expires_at: Date;
  live: boolean;
}

class PostgresBackend implements LeaseBackend {
  readonly kind = "postgres";
  readonly #table: string;
  readonly #tableName: string;
  readonly #given: Pool | undefined;
  readonly #url: string | undefined;
  readonly #timeout: number;
  readonly #connectTimeout: number;
  readonly #lateAnswerMs: number;
  #pool: Promise<Pool> | undefined;

  constructor(opts: PostgresLeaseOptions, timeout: number, connectTimeout: number, ttlMs: number) {
    this.#connectTimeout = connectTimeout;
    this.#lateAnswerMs = Math.max(60_000, ttlMs);
    this.#tableName = opts.table ?? "graphkeep_leases";
    this.#table = this.#tableName
      .split(".")
      .map((p) => `"${p}"`)
      .join(".");
    this.#given = opts.pool;
    this.#url = opts.url;
    this.#timeout = timeout;
  }

  #ready(): Promise<Pool> {
    this.#pool ??= (async () => {
      let pool = this.#given;
      if (!pool) {
        const pg = await import("pg");
        const PoolCtor = (pg.default ?? pg).Pool;
        pool = new PoolCtor({
          connectionString: this.#url,
          max: 4,
          connectionTimeoutMillis: this.#connectTimeout,
          query_timeout: this.#timeout,
          // the server cancels a statement that runs longer than a caller waits (e.g. behind a row lock), so it
          // never commits after the caller gave up
          statement_timeout: this.#timeout,
        });
        pool.on("error", () => undefined);
      }
      const client = await pool.connect();
      // preparing the table is bounded by the connect timeout, not the (shorter) operation timeout
      const ddl = (text: string, values: unknown[] = []) =>
        client.query({ text, values, query_timeout: this.#connectTimeout } as { text: string; values: unknown[] });
      try {
        // one creator at a time: concurrent CREATE ... IF NOT EXISTS can still collide on the catalog
        await ddl("BEGIN");
        await ddl(`SET LOCAL statement_timeout = ${Math.floor(this.#connectTimeout)}`);
        await ddl("SELECT pg_advisory_xact_lock(hashtext($1))", [`graphkeep_lease:${this.#tableName}`]);
        await ddl(`CREATE TABLE IF NOT EXISTS ${this.#table} (
          thread_id text PRIMARY KEY,
          owner text NOT NULL,
          token bigint NOT NULL,
          state text NOT NULL,
          attempts integer NOT NULL DEFAULT 0,
          expires_at timestamptz NOT NULL
        )`);
        const index = `"${this.#tableName.replaceAll(".", "_")}_stalled"`;
        await ddl(`CREATE INDEX IF NOT EXISTS ${index} ON ${this.#table} (expires_at) WHERE state = 'running'`);
        await ddl("COMMIT");
      } catch (e) {
        await client.query("ROLLBACK").catch(() => undefined);
        if (!this.#given) await pool.end().catch(() => undefined);
        throw e;
      } finally {
        client.release();
      }
      return pool;
    })();
    const p = this.#pool;
    p.catch(() => {
      if (this.#pool === p) this.#pool = undefined;
    });
    return p;
  }

  ready(): Promise<unknown> {
    return this.#ready();
  }

  async #query<R>(sql: string, params: unknown[], queryTimeout?: number): Promise<R[]> {
    const pool = await this.#ready();
    const r = await (queryTimeout === undefined
      ? pool.query(sql, params)
      : pool.query({ text: sql, values: params, query_timeout: queryTimeout } as { text: string; values: unknown[] }));
    return r.rows as R[];
  }

  async acquire(threadId: string, owner: string, ttlMs: number, mode: "run" | "takeover"): Promise<AcquireResult> {
    const takeover = mode === "takeover";
    for (let i = 0; i < 3; i++) {
      const rows = await this.#query<{
        token: string;
        attempts: number;
        expires_at: Date;
        previous: LeaseInfo["state"] | null;
      }>(
        takeover
          ? `UPDATE ${this.#table} SET owner = $2, token = token + 1, attempts = attempts + 1, expires_at = ${NOW} + ${TTL}
             WHERE thread_id = $1 AND state = 'running' AND expires_at <= ${NOW}
             RETURNING token, attempts, expires_at, 'running' AS previous`
          : `WITH prev AS (SELECT state FROM ${this.#table} WHERE thread_id = $1)
             INSERT INTO ${this.#table} AS l (thread_id, owner, token, state, attempts, expires_at)
             VALUES ($1, $2, 1, 'running', 0, ${NOW} + ${TTL})
             ON CONFLICT (thread_id) DO UPDATE SET owner = EXCLUDED.owner, token = l.token + 1, state = 'running',
               attempts = 0, expires_at = EXCLUDED.expires_at
             WHERE l.state <> 'running' OR l.expires_at <= ${NOW}
             RETURNING token, attempts, expires_at, (SELECT state FROM prev) AS previous`,
        [threadId, owner, ttlMs],
        // the client keeps waiting for the answer after the caller's timeout, so that a late commit is seen and
        // handed back (pg's query_timeout would drop it and leave a ghost lease); statement_timeout bounds the server
        this.#lateAnswerMs,
      );
      const row = rows[0];
      if (row) {
        return {
          ok: true,
          token: Number(row.token),
          attempts: row.attempts,
          expiresAt: row.expires_at,
          previous: row.previous ?? undefined,
        };
      }
      if (takeover) return { ok: false, holder: undefined };
      const info = await this.info(threadId);
      if (info?.live) return { ok: false, holder: { owner: info.owner, expiresAt: info.expiresAt } };
      // released between the two statements: try again
    }
    return { ok: false, holder: undefined };
  }

  async extend(threadId: string, owner: string, token: number, ttlMs: number): Promise<Date | undefined> {
    const rows = await this.#query<{ expires_at: Date }>(
      `UPDATE ${this.#table} SET expires_at = ${NOW} + ${TTL}
       WHERE thread_id = $1 AND owner = $2 AND token = $4 AND state = 'running' AND expires_at > ${NOW}
       RETURNING expires_at`,
      [threadId, owner, ttlMs, token],
    );
    return rows[0]?.expires_at;
  }

  async release(threadId: string, owner: string, token: number, outcome: ReleaseOutcome): Promise<boolean> {
    const retry = outcome.state === "retry";
    const rows = await this.#query<{ token: string }>(
      `UPDATE ${this.#table} SET state = $5, expires_at = ${NOW} + ${TTL}
       WHERE thread_id = $1 AND owner = $2 AND token = $4 AND state = 'running'
       RETURNING token`,
      [threadId, owner, retry ? outcome.retryInMs : 0, token, retry ? "running" : outcome.state],
    );
    return rows.length === 1;
  }

  async info(threadId: string): Promise<LeaseInfo | undefined> {
    const rows = await this.#query<Row>(
      `SELECT owner, token, state, attempts, expires_at, (state = 'running' AND expires_at > ${NOW}) AS live
       FROM ${this.#table} WHERE thread_id = $1`,
      [threadId],
    );
    const r = rows[0];
    if (!r) return undefined;
    return {
      owner: r.owner,
      token: Number(r.token),
      state: r.state,
      live: r.live,
      expiresAt: r.expires_at,
      attempts: r.attempts,
    };
  }

  async stalled(limit: number): Promise<string[]> {
    const rows = await this.#query<{ thread_id: string }>(
      `SELECT thread_id FROM ${this.#table} WHERE state = 'running' AND expires_at <= ${NOW}
       ORDER BY expires_at LIMIT $1`,
      [limit],
    );
    return rows.map((r) => r.thread_id);
  }

  async close(): Promise<void> {
    const p = this.#pool;
    this.#pool = undefined;
    if (!p || this.#given) return;
    const pool = await p.catch(() => undefined);
    await pool?.end().catch(() => undefined);
  }
}

/**
 * A lease store on PostgreSQL: one row per thread in a lease table, taken and extended by conditional
 * `INSERT … ON CONFLICT DO UPDATE … WHERE` / `UPDATE … WHERE token = $n`, on the database's clock.
 * The table is created when missing.
 *
 * @throws {InvalidArgumentError} when neither `url` nor `pool` is given, `table` is not an identifier, or
 * `ttlMs <= heartbeatMs`.
 * @example
 * const lease = postgresLease({ url: "postgres://app@db/app", ttlMs: 30_000 });
 */
export function postgresLease(options: PostgresLeaseOptions): LeaseStore {
  const opts = resolveOptions("postgresLease", options ?? {});
  if (!options?.url && !options?.pool) {
    throw new InvalidArgumentError('postgresLease: pass { url: "postgres://…" } or { pool } (a pg.Pool)');
  }
  if (options.url && !/^postgres(ql)?:\/\//.test(options.url)) {
    throw new InvalidArgumentError(
      `postgresLease: url must start with postgres:// or postgresql://, got ${redactUrl(options.url)}`,
    );
  }
  if (
    options.table !== undefined &&
    !/^[A-Za-z_][A-Za-z0-9_]{0,50}(\.[A-Za-z_][A-Za-z0-9_]{0,50})?$/.test(options.table)
  ) {
    throw new InvalidArgumentError(
      `postgresLease: table must be an identifier like "graphkeep_leases" or "app.leases", got ${options.table}`,
    );
  }
  return new Lease(new PostgresBackend(options, opts.operationTimeoutMs, opts.connectTimeoutMs, opts.ttlMs), opts);
}
