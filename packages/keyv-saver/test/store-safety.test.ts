import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isStoreUnavailableError, KeyvBetterSqlite, KeyvSaver, StoreUnavailableError } from "@graphkeep/keyv-saver";
import KeyvMysql from "@keyv/mysql";
import KeyvRedis, { createCluster } from "@keyv/redis";
import KeyvSqlite from "@keyv/sqlite";
import { type Checkpoint, emptyCheckpoint, uuid6 } from "@langchain/langgraph-checkpoint";
import { createClient } from "@redis/client";
import Keyv from "keyv";
import { backends, freshNamespace, MYSQL_URL } from "../../../test/helpers/backends.js";
import { CLUSTER_URL, clusterNodes, clusterSkip } from "../../../test/helpers/cluster.js";
import { TcpProxy } from "../../../test/helpers/proxy.js";

// The five ways a store built by hand (or a store that misbehaves) used to lose or mix up checkpoints. Each test
// builds the store the way a user would and checks what the user relies on.

const backend = (name: string) => backends.find((b) => b.name === name)!;
const redis = backend("redis");
const postgres = backend("postgres");
const mysql = backend("mysql");

/** Puts one checkpoint holding `values` after `parent`; returns its id. */
async function put(saver: KeyvSaver, threadId: string, values: Record<string, unknown>, parent?: string) {
  const versions = Object.fromEntries(Object.keys(values).map((k) => [k, saver.getNextVersion(undefined)]));
  const cp: Checkpoint = { ...emptyCheckpoint(), id: uuid6(-1), channel_values: values, channel_versions: versions };
  await saver.put(
    { configurable: { thread_id: threadId, checkpoint_ns: "", checkpoint_id: parent } },
    cp,
    { source: "loop", step: 0, parents: {} },
    versions,
  );
  return cp.id;
}

const latest = async (saver: KeyvSaver, threadId: string) =>
  saver.getTuple({ configurable: { thread_id: threadId, checkpoint_ns: "" } });

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** A redis-server of this test's own, so the shared server's configuration is never changed. */
async function privateRedis(): Promise<{
  url: string;
  close(): Promise<void>;
  config(k: string, v: string): Promise<void>;
}> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "graphkeep-redis-"));
  const child = spawn(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir],
    {
      stdio: "ignore",
    },
  );
  const url = `redis://127.0.0.1:${port}`;
  const admin = createClient({ url, socket: { reconnectStrategy: false } });
  admin.on("error", () => undefined); // the server is killed at the end
  for (let i = 0; ; i++) {
    try {
      await admin.connect();
      break;
    } catch (e) {
      if (i > 50) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    url,
    async config(k, v) {
      await admin.configSet(k, v);
    },
    async close() {
      admin.destroy();
      child.kill("SIGKILL");
    },
  };
}

describe.skipIf(!!redis.skip)("a Redis that refuses writes (OOM under maxmemory)", () => {
  let server: Awaited<ReturnType<typeof privateRedis>>;
  beforeAll(async () => {
    server = await privateRedis();
  });
  afterAll(async () => {
    await server?.close();
  });

  const ways = {
    // as the @keyv/redis README shows: no throwOnErrors on the adapter
    "a hand-built KeyvRedis": () =>
      new KeyvSaver(new Keyv({ store: new KeyvRedis(server.url), namespace: freshNamespace(), useKeyPrefix: false })),
    "a hand-built KeyvRedis with keyv's own prefix": () =>
      new KeyvSaver(new Keyv({ store: new KeyvRedis(server.url), namespace: freshNamespace() })),
    fromUrl: () => KeyvSaver.fromUrl(server.url, { namespace: freshNamespace() }),
  };
  for (const [how, open] of Object.entries(ways)) {
    it(`fails the put with StoreUnavailableError and keeps the last checkpoint (${how})`, async () => {
      const saver = await open();
      try {
        const first = await put(saver, "t", { a: 1 });
        await server.config("maxmemory", "1");
        try {
          const err = await put(saver, "t", { a: 2 }, first).then(
            () => undefined,
            (e: unknown) => e,
          );
          expect(err).toBeInstanceOf(StoreUnavailableError);
          expect((err as Error).message).toMatch(/OOM/);
        } finally {
          await server.config("maxmemory", "0");
        }
        expect((await latest(saver, "t"))?.checkpoint.id).toBe(first);
      } finally {
        await saver.close();
      }
    });
  }
});

const clusterSkipReason = await clusterSkip();

describe.skipIf(!!clusterSkipReason)("a Redis Cluster built by hand with createCluster", () => {
  it("keeps the first checkpoint of a new thread written right after construction", async () => {
    // @keyv/redis connects lazily; the saver must connect the cluster before its first command
    const saver = new KeyvSaver(
      new Keyv({
        store: new KeyvRedis(createCluster({ rootNodes: clusterNodes(CLUSTER_URL) }) as never),
        namespace: freshNamespace(),
        useKeyPrefix: false,
      }),
    );
    try {
      const threads = ["a", "b", "c", "d"];
      const ids = await Promise.all(threads.map((t) => put(saver, t, { v: t })));
      for (const [i, t] of threads.entries()) {
        const tuple = await latest(saver, t);
        expect(tuple?.checkpoint.id).toBe(ids[i]);
        expect(tuple?.checkpoint.channel_values).toEqual({ v: t });
      }
    } finally {
      await saver.close();
    }
  });
});

describe.skipIf(!!mysql.skip)("MySQL/MariaDB keys are case-sensitive", () => {
  // tables of this run only: keyv creates them case-insensitive, and the saver must fix that itself
  const tables: string[] = [];
  const table = () => {
    tables.push(`case_${randomUUID().replaceAll("-", "").slice(0, 12)}`);
    return tables[tables.length - 1]!;
  };
  afterAll(async () => {
    const { createConnection } = await import("mysql2/promise");
    const conn = await createConnection(MYSQL_URL);
    for (const t of tables) await conn.query(`DROP TABLE IF EXISTS \`${t}\``);
    await conn.end();
  });
  const ways = {
    fromUrl: () => KeyvSaver.fromUrl(MYSQL_URL, { namespace: freshNamespace(), table: table() }),
    "a hand-built KeyvMysql": () =>
      new KeyvSaver(
        new Keyv({ store: new KeyvMysql({ uri: MYSQL_URL, table: table() }), namespace: freshNamespace() }),
      ),
  };
  for (const [how, open] of Object.entries(ways)) {
    it(`keeps threads "Alice" and "alice" apart (${how})`, async () => {
      const saver = await open();
      try {
        const upper = await put(saver, "Alice", { who: "Alice" });
        const lower = await put(saver, "alice", { who: "alice" });
        expect((await latest(saver, "Alice"))?.checkpoint).toMatchObject({
          id: upper,
          channel_values: { who: "Alice" },
        });
        expect((await latest(saver, "alice"))?.checkpoint).toMatchObject({
          id: lower,
          channel_values: { who: "alice" },
        });
        await saver.deleteThread("alice");
        expect((await latest(saver, "Alice"))?.checkpoint.id).toBe(upper);
        expect(await latest(saver, "alice")).toBeUndefined();
      } finally {
        await saver.close();
      }
    });
  }
});

describe("SQLite built by hand runs in WAL mode", () => {
  const journal = (file: string) => {
    const reader = new KeyvBetterSqlite({ uri: `sqlite://${file}`, readOnly: true });
    try {
      return reader.db.pragma("journal_mode", { simple: true });
    } finally {
      void reader.disconnect();
    }
  };
  const ways = {
    "@keyv/sqlite (as the keyv docs show)": (file: string) =>
      new KeyvSaver(new Keyv({ store: new KeyvSqlite({ uri: `sqlite://${file}` }), namespace: "g" })),
    KeyvBetterSqlite: (file: string) =>
      new KeyvSaver(new Keyv({ store: new KeyvBetterSqlite({ uri: `sqlite://${file}` }), namespace: "g" })),
  };
  for (const [how, open] of Object.entries(ways)) {
    it(`switches the file to WAL before the first write (${how})`, async () => {
      const file = join(mkdtempSync(join(tmpdir(), "graphkeep-wal-")), "c.sqlite");
      const saver = open(file);
      try {
        await put(saver, "t", { a: 1 });
        expect(journal(file)).toBe("wal");
      } finally {
        await saver.close();
      }
    });
  }
});

describe.skipIf(!!postgres.skip)("a store write that times out and lands later", () => {
  it("never overwrites a newer index: the checkpoint written after the timeout stays", async () => {
    const u = new URL(postgres.url);
    const proxy = new TcpProxy(u.hostname, Number(u.port));
    await proxy.start();
    const saver = await KeyvSaver.fromUrl(proxy.url(postgres.url), {
      namespace: freshNamespace(),
      operationTimeoutMs: 200,
    });
    try {
      const thread = `late-${randomUUID()}`;
      const first = await put(saver, thread, { step: 1 });
      // hold back the next request that writes the thread's index for 600 ms: it reaches the server after the
      // saver gave up on it (and after the next checkpoint was written on another pooled connection)
      let armed = true;
      proxy.holdRequest = (chunk) => {
        // a write (not a read) of the index: the commit, or the ordered index write of older versions
        if (!armed || !chunk.includes(":idx") || !/INSERT|UPDATE/.test(chunk.toString("latin1"))) return 0;
        armed = false;
        return 600;
      };
      const err = await put(saver, thread, { step: 2 }, first).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isStoreUnavailableError(err)).toBe(true);
      const third = await put(saver, thread, { step: 3 }, first);
      await new Promise((r) => setTimeout(r, 900)); // the held write has landed
      const tuple = await latest(saver, thread);
      expect(tuple?.checkpoint.id).toBe(third);
      const ids: string[] = [];
      for await (const t of saver.list({ configurable: { thread_id: thread } })) ids.push(t.checkpoint.id);
      expect(ids).toContain(third);
      expect(ids).toContain(first);
      // and a fresh process reads the same
      const other = await KeyvSaver.fromUrl(postgres.url, { namespace: saver.keyv.namespace });
      try {
        expect((await latest(other, thread))?.checkpoint.id).toBe(third);
      } finally {
        await other.close();
      }
    } finally {
      await saver.keyv.clear().catch(() => undefined);
      await saver.close().catch(() => undefined);
      await proxy.stop();
    }
  });
});

for (const b of backends) {
  describe.skipIf(!!b.skip)(`the write path on ${b.name}`, () => {
    it("a put of a known thread is one commit and no read; its checkpoint reads back in one round trip", async () => {
      const saver = new KeyvSaver(b.keyv());
      try {
        let parent = await put(saver, "t", { a: 1 });
        for (let i = 2; i <= 5; i++) {
          const before = saver.storeOperations;
          parent = await put(saver, "t", { a: i }, parent);
          const after = saver.storeOperations;
          expect(after.commit - before.commit).toBe(1);
          expect(after.get + after.getMany - before.get - before.getMany).toBe(0);
          const tuple = await latest(saver, "t");
          expect(saver.storeOperations.getMany - after.getMany).toBe(1);
          expect(saver.storeOperations.get - after.get).toBe(0);
          expect(tuple?.checkpoint).toMatchObject({ id: parent, channel_values: { a: i } });
        }
      } finally {
        await saver.keyv.clear().catch(() => undefined);
        await saver.close();
      }
    });

    it("a checkpoint another process wrote since is read from the store, and the next put builds on it", async () => {
      const keyv = b.keyv();
      const mine = new KeyvSaver(keyv);
      const other = new KeyvSaver(keyv);
      try {
        const first = await put(mine, "t", { a: 1 });
        expect((await latest(mine, "t"))?.checkpoint.id).toBe(first);
        const second = await put(other, "t", { a: 2 }, first);
        expect((await latest(mine, "t"))?.checkpoint).toMatchObject({ id: second, channel_values: { a: 2 } });
        // mine still remembers the index before other's put: its commit is refused, it reads and retries
        const third = await put(mine, "t", { a: 3 }, second);
        const ids: string[] = [];
        for await (const t of other.list({ configurable: { thread_id: "t" } })) ids.push(t.checkpoint.id);
        expect(ids).toEqual([third, second, first]);
      } finally {
        await keyv.clear().catch(() => undefined);
        await mine.close();
      }
    });
  });
}
