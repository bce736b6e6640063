import { randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AdapterNotInstalledError, InvalidArgumentError, KeyvSaver, UnsupportedUrlError } from "@graphkeep/keyv-saver";
import { emptyCheckpoint, uuid6 } from "@langchain/langgraph-checkpoint";
import { createClient } from "@redis/client";
import { createPool as createMysqlPool } from "mysql2/promise";
import pg from "pg";
import { backends, freshNamespace } from "../../../test/helpers/backends.js";

const META = { source: "loop" as const, step: 0, parents: {} };
const tricky = [
  'it\'s "quoted"',
  "back\\slash",
  "ünïcødé 😀",
  "line\nbreak",
  "nul\u0000char",
  "%_like",
  "'; DROP TABLE x; --",
];

const urls = backends
  .filter((b) => ["sqlite", "redis", "postgres", "mysql"].includes(b.name))
  .map((b) => ({
    ...b,
    url: b.name === "sqlite" ? `sqlite://${join(mkdtempSync(join(tmpdir(), "gk-url-")), "cp.sqlite")}` : b.url,
  }));

for (const backend of urls) {
  describe.skipIf(!!backend.skip)(`KeyvSaver.fromUrl on ${backend.name}`, () => {
    it("stores a checkpoint with hundreds of channels, awkward text and a 5 MB value, and reads it back exactly", async () => {
      const saver = await KeyvSaver.fromUrl(backend.url, { namespace: `u${randomUUID().slice(0, 8)}` });
      try {
        const values: Record<string, unknown> = { big: "x".repeat(5_000_000) };
        for (let i = 0; i < 450; i++) values[`ch${i}`] = `${tricky[i % tricky.length]} #${i}`;
        const versions = Object.fromEntries(Object.keys(values).map((k) => [k, 1]));
        const cp = { ...emptyCheckpoint(), id: uuid6(-1), channel_values: values, channel_versions: versions };
        await saver.put({ configurable: { thread_id: "t" } }, cp, META, versions);
        const fresh = await KeyvSaver.fromUrl(backend.url, { namespace: saver.keyv.namespace });
        const back = await fresh.getTuple({ configurable: { thread_id: "t" } });
        expect(back?.checkpoint.channel_values).toEqual(values);
        await saver.keyv.clear();
      } finally {
        await saver.close();
      }
    }, 60_000);
  });
}

describe("KeyvSaver.fromUrl input", () => {
  it("rejects an unknown scheme with UnsupportedUrlError that hides the password", async () => {
    const err = await KeyvSaver.fromUrl("mongodb://user:secret@host/db").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnsupportedUrlError);
    expect((err as Error).message).not.toContain("secret");
    expect((err as Error).message).toContain("sqlite://");
  });

  it("opens memory: without any adapter", async () => {
    const saver = await KeyvSaver.fromUrl("memory:");
    const cp = { ...emptyCheckpoint(), id: uuid6(-1), channel_values: { a: 1 }, channel_versions: { a: 1 } };
    await saver.put({ configurable: { thread_id: "t" } }, cp, META, { a: 1 });
    expect((await saver.getTuple({ configurable: { thread_id: "t" } }))?.checkpoint.channel_values).toEqual({ a: 1 });
  });

  it("names the package to install when an adapter is missing", () => {
    const err = new AdapterNotInstalledError("@keyv/redis", new Error("Cannot find module"));
    expect(err.code).toBe("ADAPTER_NOT_INSTALLED");
    expect(err.message).toContain("pnpm add @keyv/redis");
  });
});

describe("KeyvSaver.fromUrl with a client or pool the application already has", () => {
  const pgUrl = backends.find((b) => b.name === "postgres")!;
  const myUrl = backends.find((b) => b.name === "mysql")!;
  const rdUrl = backends.find((b) => b.name === "redis")!;
  const roundTrip = async (saver: KeyvSaver) => {
    const cp = { ...emptyCheckpoint(), id: uuid6(-1), channel_values: { a: 1 }, channel_versions: { a: 1 } };
    await saver.put({ configurable: { thread_id: "t" } }, cp, { source: "loop", step: 0, parents: {} }, { a: 1 });
    expect((await saver.getTuple({ configurable: { thread_id: "t" } }))?.checkpoint.channel_values).toEqual({ a: 1 });
    await saver.keyv.clear();
    await saver.close();
  };

  it.skipIf(!!pgUrl.skip)("shares a pg.Pool and leaves it open on close()", async () => {
    const pool = new pg.Pool({ connectionString: pgUrl.url, max: 2 });
    try {
      await roundTrip(await KeyvSaver.fromUrl(pool, { namespace: freshNamespace(), table: "graphkeep_pool_test" }));
      expect((await pool.query("SELECT 1 AS one")).rows[0]).toEqual({ one: 1 });
    } finally {
      await pool.end();
    }
  });

  it.skipIf(!!myUrl.skip)("shares a mysql2 pool and leaves it open on close()", async () => {
    const pool = createMysqlPool({ uri: myUrl.url, connectionLimit: 2 });
    try {
      await roundTrip(await KeyvSaver.fromUrl(pool, { namespace: freshNamespace(), table: "graphkeep_pool_test" }));
      expect(((await pool.query("SELECT 1 AS one")) as [Array<{ one: number }>, unknown])[0][0]).toEqual({ one: 1 });
    } finally {
      await pool.end();
    }
  });

  it.skipIf(!!rdUrl.skip)("shares a node-redis client and leaves it open on close()", async () => {
    const client = await createClient({ url: rdUrl.url }).connect();
    try {
      await roundTrip(await KeyvSaver.fromUrl(client, { namespace: freshNamespace() }));
      expect(client.isOpen).toBe(true);
      expect(await client.ping()).toBe("PONG");
    } finally {
      client.destroy();
    }
  });

  it("refuses something that is neither a URL nor a known client with InvalidArgumentError", async () => {
    await expect(KeyvSaver.fromUrl({} as never)).rejects.toBeInstanceOf(InvalidArgumentError);
  });
});

describe.skipIf(!!backends.find((b) => b.name === "postgres")!.skip)("KeyvSaver.fromUrl on PostgreSQL commits", () => {
  const url = backends.find((b) => b.name === "postgres")!.url;
  const setting = async (saver: KeyvSaver) => {
    const store = saver.keyv.store as { query(sql: string): Promise<Array<{ synchronous_commit: string }>> };
    return (await store.query("SHOW synchronous_commit"))[0]?.synchronous_commit;
  };
  it("asynchronously by default, and waits for the WAL flush with durableCommits", async () => {
    const fast = await KeyvSaver.fromUrl(url, { namespace: freshNamespace() });
    expect(await setting(fast)).toBe("off");
    await fast.close();
    const durable = await KeyvSaver.fromUrl(url, { namespace: freshNamespace(), durableCommits: true });
    expect(await setting(durable)).toBe("on");
    await durable.close();
  });
});

describe.skipIf(!!backends.find((b) => b.name === "postgres")!.skip)(
  "one PostgreSQL URL shared by the saver and other stores",
  () => {
    it("closing the saver leaves a cache or cost store on the same URL working, and each closes once", async () => {
      const url = backends.find((b) => b.name === "postgres")!.url;
      const { default: KeyvPostgres } = await import("@keyv/postgres");
      const { default: Keyv } = await import("keyv");
      const costs = new Keyv({ store: new KeyvPostgres({ uri: url }), namespace: freshNamespace() });
      await costs.set("total", 1.5);
      const saver = await KeyvSaver.fromUrl(url, { namespace: freshNamespace() });
      const cp = { ...emptyCheckpoint(), id: uuid6(-1), channel_values: { a: 1 }, channel_versions: { a: 1 } };
      await saver.put({ configurable: { thread_id: "t" } }, cp, META, { a: 1 });
      await saver.keyv.clear();
      await saver.close();
      expect(await costs.get("total")).toBe(1.5);
      await costs.clear();
      await expect(costs.disconnect()).resolves.toBeUndefined();
    });
  },
);
