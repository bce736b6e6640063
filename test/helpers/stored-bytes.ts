import type Keyv from "keyv";

interface SqlStore {
  query(sql: string, ...params: unknown[]): Promise<unknown>;
  opts?: { dialect?: string; table?: string };
}
interface RedisStore {
  client: {
    scanIterator(o: { MATCH: string; COUNT: number }): AsyncIterable<string | string[]>;
    strLen(k: string): Promise<number>;
  };
  namespace?: string;
  keyPrefixSeparator?: string;
}

/** Bytes of every value stored under a Keyv instance's namespace, as the backend itself counts them. */
export async function storedBytes(backend: string, keyv: Keyv): Promise<number> {
  const ns = keyv.namespace ?? "";
  const store = keyv.store as unknown;
  switch (backend) {
    case "memory": {
      let n = 0;
      for (const [k, v] of store as Map<string, unknown>) if (k.startsWith(`${ns}:`)) n += String(v).length;
      return n;
    }
    case "sqlite": {
      const rows = (await (store as SqlStore).query(
        "SELECT COALESCE(SUM(LENGTH(value)), 0) AS n FROM keyv WHERE key LIKE ?",
        `${ns}:%`,
      )) as Array<{ n: number }>;
      return Number(rows[0]?.n ?? 0);
    }
    case "postgres": {
      const rows = (await (store as SqlStore).query(
        "SELECT COALESCE(SUM(OCTET_LENGTH(value)), 0) AS n FROM keyv WHERE key LIKE $1",
        [`${ns}:%`],
      )) as Array<{ n: string }>;
      return Number(rows[0]?.n ?? 0);
    }
    case "mysql": {
      if (!/^[A-Za-z0-9_]+$/.test(ns)) throw new Error(`unexpected namespace ${ns}`);
      const rows = (await (store as SqlStore).query(
        `SELECT COALESCE(SUM(LENGTH(value)), 0) AS n FROM keyv WHERE id LIKE '${ns}:%'`,
      )) as Array<{ n: string }>;
      return Number(rows[0]?.n ?? 0);
    }
    case "redis": {
      const r = store as RedisStore;
      let n = 0;
      for await (const batch of r.client.scanIterator({ MATCH: `${ns}*`, COUNT: 500 })) {
        for (const k of Array.isArray(batch) ? batch : [batch]) n += await r.client.strLen(k);
      }
      return n;
    }
    default:
      throw new Error(`unknown backend ${backend}`);
  }
}
