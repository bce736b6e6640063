// Lease stores for the tests: memory, and Redis / PostgreSQL when reachable, each with keys / a table of its own.
import { randomUUID } from "node:crypto";
import { createClient } from "@redis/client";
import pg from "pg";
import { backends, POSTGRES_URL, REDIS_URL } from "../../../test/helpers/backends.js";
import { type LeaseOptions, type LeaseStore, memoryLease, postgresLease, redisLease } from "../src/index.js";

export const suffix = () => randomUUID().replaceAll("-", "").slice(0, 10);
export const skipOf = (name: string) => backends.find((b) => b.name === name)?.skip;

export interface LeaseBackend {
  name: "memory" | "redis" | "postgres";
  skip: string | undefined;
  url: string;
  /** a new lease store, in a key prefix / table unique to `space` */
  make(space: string, options?: LeaseOptions): LeaseStore;
  /** removes what `make(space)` stored */
  cleanup(space: string): Promise<void>;
}

export async function dropRedisPrefix(prefix: string): Promise<void> {
  const c = createClient({ url: REDIS_URL });
  await c.connect();
  try {
    const doomed: string[] = [];
    for await (const batch of c.scanIterator({ MATCH: `${prefix}:*`, COUNT: 500 })) doomed.push(...batch);
    if (doomed.length > 0) await c.del(doomed);
  } finally {
    c.destroy();
  }
}

export async function dropPgTable(table: string): Promise<void> {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    await client.query(`DROP TABLE IF EXISTS "${table}"`);
  } finally {
    await client.end();
  }
}

export const leaseBackends: LeaseBackend[] = [
  {
    name: "memory",
    skip: undefined,
    url: "memory:",
    make: (_space, o = {}) => memoryLease(o),
    cleanup: async () => undefined,
  },
  {
    name: "redis",
    skip: skipOf("redis"),
    url: REDIS_URL,
    make: (space, o = {}) => redisLease({ url: REDIS_URL, keyPrefix: `gklease:${space}`, ...o }),
    cleanup: (space) => dropRedisPrefix(`gklease:${space}`),
  },
  {
    name: "postgres",
    skip: skipOf("postgres"),
    url: POSTGRES_URL,
    make: (space, o = {}) => postgresLease({ url: POSTGRES_URL, table: `gklease_${space}`, ...o }),
    cleanup: (space) => dropPgTable(`gklease_${space}`),
  },
];

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
