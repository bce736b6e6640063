import pg from "pg";

export type Pool = pg.Pool;

export function newPool(connectionString: string): Pool {
  return new pg.Pool({ connectionString });
}
