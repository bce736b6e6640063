// @ts-expect-error pg ships no type declarations and @types/pg is not a dependency; the little used here is typed below
import pgModule from "pg";

/** The part of a `pg.Pool` these tests use. */
export interface Pool {
  query(sql: string, params?: unknown[]): Promise<{ rows: Array<Record<string, unknown>> }>;
  end(): Promise<void>;
}

export function newPool(connectionString: string): Pool {
  const { Pool } = pgModule as { Pool: new (options: { connectionString: string }) => Pool };
  return new Pool({ connectionString });
}
