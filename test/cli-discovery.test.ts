import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "@graphkeep/cli";
import { KeyvSaver } from "@graphkeep/keyv-saver";
import { compressed, encrypted } from "@graphkeep/serde";
import KeyvMysql from "@keyv/mysql";
import KeyvPostgres from "@keyv/postgres";
import KeyvRedis, { createCluster } from "@keyv/redis";
import KeyvSqlite from "@keyv/sqlite";
import { Annotation, END, START, StateGraph } from "@langchain/langgraph";
import { type BaseCheckpointSaver, JsonPlusSerializer } from "@langchain/langgraph-checkpoint";
import Keyv from "keyv";
import mysql from "mysql2/promise";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { backends, MYSQL_URL, POSTGRES_URL, REDIS_URL } from "./helpers/backends.js";
import { CLUSTER_URL, clusterNodes, clusterSkip } from "./helpers/cluster.js";

const State = Annotation.Root({
  log: Annotation<string[]>({ reducer: (a, b) => a.concat(b), default: () => [] }),
});

function graph(saver: BaseCheckpointSaver) {
  return new StateGraph(State)
    .addNode("plan", () => ({ log: ["planned"] }))
    .addNode("write", () => ({ log: ["written"] }))
    .addEdge(START, "plan")
    .addEdge("plan", "write")
    .addEdge("write", END)
    .compile({ checkpointer: saver });
}

async function run(keyv: Keyv, threadId: string) {
  const saver = new KeyvSaver(keyv);
  await graph(saver).invoke({}, { configurable: { thread_id: threadId } });
  await saver.close();
}

async function cli(...argv: string[]) {
  let stdout = "";
  let stderr = "";
  const code = await main(argv, {
    out: (s) => {
      stdout += s;
    },
    err: (s) => {
      stderr += s;
    },
    isTTY: false,
    env: {},
  });
  // with --json, what the CLI found out on its own comes as {"notice": …} lines on stderr
  const notices = () =>
    stderr
      .split("\n")
      .filter((l) => l.startsWith('{"notice"'))
      .map((l) => JSON.parse(l).notice as string)
      .join("\n");
  return { code, stdout, stderr, json: () => JSON.parse(stdout), notices };
}

const noCluster = await clusterSkip();
const dir = mkdtempSync(join(tmpdir(), "graphkeep-cli-find-"));

describe("graphkeep finds the threads of a store built by hand, without flags (issue 18.4)", () => {
  it("new KeyvSqlite(file) with keyv's table and namespace 'costs': threads, history and show need only --store", async () => {
    const file = join(dir, "hand.db");
    await run(new Keyv({ store: new KeyvSqlite({ uri: `sqlite://${file}` }), namespace: "costs" }), "h1");
    const store = `sqlite://${file}`;
    const threads = await cli("threads", "--store", store, "--json");
    expect(threads.code, threads.stderr).toBe(0);
    expect(threads.json()).toEqual([expect.objectContaining({ threadId: "h1", status: "done", checkpoints: 4 })]);
    expect(threads.notices()).toMatch(/table "keyv"/);
    expect(threads.notices()).toMatch(/namespace "costs"/);
    const history = (await cli("history", "h1", "--store", store, "--json")).json();
    expect(history.map((r: { nodes: string[] }) => r.nodes)).toEqual([["write"], ["plan"], [], ["(input)"]]);
    expect((await cli("show", "h1", "--store", store, "--channel", "log")).json()).toEqual(["planned", "written"]);
  });

  it("a Keyv without a namespace (keyv's default 'keyv') is found too", async () => {
    const file = join(dir, "bare.db");
    await run(new Keyv({ store: new KeyvSqlite({ uri: `sqlite://${file}` }) }), "b1");
    const threads = await cli("threads", "--store", `sqlite://${file}`, "--json");
    expect(threads.json()).toEqual([expect.objectContaining({ threadId: "b1" })]);
  });

  it("threads in several namespaces: an error that names the exact flags; with them, each namespace reads", async () => {
    const file = join(dir, "two.db");
    await run(new Keyv({ store: new KeyvSqlite({ uri: `sqlite://${file}` }), namespace: "eu" }), "e1");
    await run(new Keyv({ store: new KeyvSqlite({ uri: `sqlite://${file}` }), namespace: "us" }), "u1");
    const store = `sqlite://${file}`;
    const r = await cli("threads", "--store", store, "--json");
    expect(r.code).toBe(1);
    const { error } = JSON.parse(r.stderr.trim().split("\n").at(-1) as string);
    expect(error.code).toBe("STORE_NOT_FOUND");
    expect(error.message).toContain("--table keyv --namespace eu");
    expect(error.message).toContain("--table keyv --namespace us");
    const eu = await cli("threads", "--store", store, "--table", "keyv", "--namespace", "eu", "--json");
    expect(eu.json()).toEqual([expect.objectContaining({ threadId: "e1" })]);
    const wrong = await cli("threads", "--store", store, "--namespace", "asia");
    expect(wrong.code).toBe(0);
    expect(wrong.stdout).toMatch(/no threads in this store \(threads are in namespace "eu", "us" .*--namespace eu/);
    const missing = await cli("show", "e1", "--store", store, "--namespace", "asia");
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/unknown thread "e1" .*threads are in namespace "eu", "us"/);
  });

  it("the saver describes its store once in a manifest: namespace, table, adapter and serde, shown by stats", async () => {
    const file = join(dir, "described.db");
    await run(new Keyv({ store: new KeyvSqlite({ uri: `sqlite://${file}` }), namespace: "costs" }), "d1");
    await run(new Keyv({ store: new KeyvSqlite({ uri: `sqlite://${file}` }), namespace: "costs" }), "d2");
    const stats = (await cli("stats", "--store", `sqlite://${file}`, "--json")).json();
    expect(stats).toMatchObject({
      threads: 2,
      manifest: {
        by: "@graphkeep/keyv-saver",
        layout: 1,
        namespace: "costs",
        table: "keyv",
        adapter: "sqlite",
        serde: "json",
      },
    });
    const raw = new Keyv({ store: new KeyvSqlite({ uri: `sqlite://${file}` }), namespace: "costs" });
    expect(await raw.get("graphkeep:manifest")).toEqual(stats.manifest);
    await raw.disconnect();
  });

  it("an encrypted store read without a key says so up front, from its manifest", async () => {
    const file = join(dir, "sealed.db");
    const serde = encrypted(compressed(new JsonPlusSerializer()), {
      keys: { k1: randomBytes(32).toString("base64") },
      activeKeyId: "k1",
    });
    const saver = await KeyvSaver.fromUrl(`sqlite://${file}`, { serde });
    await graph(saver).invoke({}, { configurable: { thread_id: "s1" } });
    await saver.close();
    const r = await cli("threads", "--store", `sqlite://${file}`, "--json");
    expect(r.code).toBe(1);
    const { error } = JSON.parse(r.stderr.trim().split("\n").at(-1) as string);
    expect(error.code).toBe("MISSING_KEY");
    expect(error.message).toMatch(/this store is encrypted .*--key-env/);
  });

  const pgBackend = backends.find((b) => b.name === "postgres");
  describe.skipIf(!!pgBackend?.skip)(`PostgreSQL${pgBackend?.skip ? ` — skipped: ${pgBackend.skip}` : ""}`, () => {
    const name = `gk_find_${randomUUID().replaceAll("-", "").slice(0, 10)}`;
    const url = new URL(POSTGRES_URL);
    url.pathname = `/${name}`;
    const admin = new pg.Pool({ connectionString: POSTGRES_URL });
    beforeAll(async () => {
      await admin.query(`CREATE DATABASE ${name}`);
    });
    afterAll(async () => {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    });

    it("new KeyvPostgres({ uri }) in namespace 'costs' (table keyv) is found with only --store", async () => {
      await run(new Keyv({ store: new KeyvPostgres({ uri: url.toString() }), namespace: "costs" }), "p1");
      const threads = await cli("threads", "--store", url.toString(), "--json");
      expect(threads.code, threads.stderr).toBe(0);
      expect(threads.json()).toEqual([expect.objectContaining({ threadId: "p1", checkpoints: 4 })]);
      expect(threads.notices()).toMatch(/namespace "costs"/);
    });
  });

  const mysqlBackend = backends.find((b) => b.name === "mysql");
  describe.skipIf(!!mysqlBackend?.skip)(`MySQL${mysqlBackend?.skip ? ` — skipped: ${mysqlBackend.skip}` : ""}`, () => {
    const name = `gk_find_${randomUUID().replaceAll("-", "").slice(0, 10)}`;
    const url = new URL(MYSQL_URL);
    url.pathname = `/${name}`;
    const admin = () => mysql.createConnection(MYSQL_URL);
    const tables = async () => {
      const c = await mysql.createConnection(url.toString());
      const [rows] = await c.query("SHOW TABLES");
      await c.end();
      return (rows as Array<Record<string, string>>).map((r) => Object.values(r)[0]);
    };
    it("new KeyvMysql({ uri }) in namespace 'costs' (table keyv) is found with only --store, and no table is added", async () => {
      const c = await admin();
      await c.query(`CREATE DATABASE ${name}`);
      await c.end();
      onTestFinished(async () => {
        const d = await admin();
        await d.query(`DROP DATABASE IF EXISTS ${name}`);
        await d.end();
      });
      const keyv = new Keyv({ store: new KeyvMysql({ uri: url.toString() }), namespace: "costs" });
      await run(keyv, "m1");
      const before = await tables();
      const threads = await cli("threads", "--store", url.toString(), "--json");
      expect(threads.code, threads.stderr).toBe(0);
      expect(threads.json()).toEqual([expect.objectContaining({ threadId: "m1", checkpoints: 4 })]);
      expect(threads.notices()).toMatch(/namespace "costs"/);
      expect((await cli("show", "m1", "--store", url.toString(), "--channel", "log")).json()).toEqual([
        "planned",
        "written",
      ]);
      expect(await tables()).toEqual(before);
    });
  });

  describe.skipIf(!!noCluster)(`Redis Cluster${noCluster ? ` — skipped: ${noCluster}` : ""}`, () => {
    it("a store built by hand over createCluster is read from the cluster URL", async () => {
      const hand = `hand${randomUUID().slice(0, 8)}`;
      const cluster = createCluster({ rootNodes: clusterNodes(CLUSTER_URL) });
      await cluster.connect();
      const keyv = new Keyv({ store: new KeyvRedis(cluster as never), namespace: hand });
      const saver = new KeyvSaver(keyv);
      await graph(saver).invoke({}, { configurable: { thread_id: "k1" } });
      const threads = await cli("threads", "--store", CLUSTER_URL, "--namespace", hand, "--json");
      expect(threads.code, threads.stderr).toBe(0);
      expect(threads.json()).toEqual([expect.objectContaining({ threadId: "k1", checkpoints: 4 })]);
      const show = await cli("show", "k1", "--store", CLUSTER_URL, "--namespace", hand, "--channel", "log");
      expect(show.json()).toEqual(["planned", "written"]);
      await saver.deleteThread("k1");
      await saver.close();
    });
  });

  const redis = backends.find((b) => b.name === "redis");
  describe.skipIf(!!redis?.skip)(`Redis${redis?.skip ? ` — skipped: ${redis.skip}` : ""}`, () => {
    it("new Keyv({ store: new KeyvRedis(url), namespace }) is read with --namespace, though its keys carry the prefix twice", async () => {
      const namespace = `hand${randomUUID().slice(0, 8)}`;
      await run(new Keyv({ store: new KeyvRedis(REDIS_URL), namespace }), "r1");
      const threads = await cli("threads", "--store", REDIS_URL, "--namespace", namespace, "--json");
      expect(threads.code, threads.stderr).toBe(0);
      expect(threads.json()).toEqual([expect.objectContaining({ threadId: "r1", checkpoints: 4 })]);
      expect(
        (await cli("show", "r1", "--store", REDIS_URL, "--namespace", namespace, "--channel", "log")).json(),
      ).toEqual(["planned", "written"]);
      const cleanup = new KeyvSaver(new Keyv({ store: new KeyvRedis(REDIS_URL), namespace }));
      await cleanup.deleteThread("r1");
      await cleanup.close();
    });
  });
});
