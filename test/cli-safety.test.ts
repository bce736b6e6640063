import { randomBytes, randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "@graphkeep/cli";
import { KeyvSaver } from "@graphkeep/keyv-saver";
import { compressed, encrypted } from "@graphkeep/serde";
import { Annotation, END, START, StateGraph } from "@langchain/langgraph";
import { type BaseCheckpointSaver, JsonPlusSerializer } from "@langchain/langgraph-checkpoint";
import { PostgresSaver } from "@langchain/langgraph-checkpoint-postgres";
import { SqliteSaver } from "@langchain/langgraph-checkpoint-sqlite";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backends, POSTGRES_URL } from "./helpers/backends.js";

const State = Annotation.Root({
  log: Annotation<string[]>({ reducer: (a, b) => a.concat(b), default: () => [] }),
  draft: Annotation<string>({ reducer: (_, b) => b, default: () => "" }),
});

function graph(saver: BaseCheckpointSaver) {
  return new StateGraph(State)
    .addNode("plan", () => ({ log: ["planned"], draft: "outline" }))
    .addNode("write", (s) => ({ log: ["written"], draft: `${s.draft} + text` }))
    .addEdge(START, "plan")
    .addEdge("plan", "write")
    .addEdge("write", END)
    .compile({ checkpointer: saver });
}

async function cli(argv: string[], env: NodeJS.ProcessEnv = {}) {
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
    env,
  });
  const parse = (s: string) => {
    try {
      return JSON.parse(s);
    } catch {
      throw new Error(`not JSON (exit ${code}): ${stdout} ${stderr}`);
    }
  };
  return { code, stdout, stderr, json: () => parse(stdout), error: () => parse(stderr).error };
}

// better-sqlite3 as the CLI loads it (a dependency of @graphkeep/cli, not of the workspace root)
interface SqliteDb {
  exec(sql: string): unknown;
  prepare(sql: string): { all(): unknown[] };
  pragma(sql: string, o: { simple: true }): unknown;
  close(): unknown;
}
const Database = createRequire(new URL("../packages/cli/package.json", import.meta.url))("better-sqlite3") as new (
  file: string,
  o?: { readonly?: boolean },
) => SqliteDb;

const dir = mkdtempSync(join(tmpdir(), "graphkeep-cli-safety-"));
const fileState = (file: string) => ({ bytes: readFileSync(file).toString("base64"), mtime: statSync(file).mtimeMs });

describe("the CLI reads encrypted stores strictly (issue 15.14)", () => {
  const file = join(dir, "secret.db");
  const store = `sqlite://${file}`;
  const key = randomBytes(32).toString("base64");
  const env = { GK_KEY: `k1:${key}` };
  let forgedAt: string;

  beforeAll(async () => {
    const serde = encrypted(compressed(new JsonPlusSerializer()), { keys: { k1: key }, activeKeyId: "k1" });
    const app = await KeyvSaver.fromUrl(store, { serde });
    await graph(app).invoke({}, { configurable: { thread_id: "alice" } });
    const head = await app.getTuple({ configurable: { thread_id: "alice" } });
    await app.close();
    // someone with write access to the store but no key adds a checkpoint whose value is plaintext
    const forger = await KeyvSaver.fromUrl(store, { serde: compressed(new JsonPlusSerializer()), delta: false });
    const cp = head!.checkpoint;
    const version = Number(cp.channel_versions.draft) + 1;
    const forged = {
      ...cp,
      id: `${cp.id.slice(0, -4)}ffff`,
      ts: new Date().toISOString(),
      channel_values: { ...cp.channel_values, draft: "wire $10,000 to mallory" },
      channel_versions: { ...cp.channel_versions, draft: version },
    };
    const config = await forger.put(head!.config, forged, { source: "update", step: 3, parents: {} } as never, {
      draft: version,
    });
    forgedAt = config.configurable?.checkpoint_id as string;
    await forger.close();
  });

  it("show refuses a plaintext value forged into an encrypted store: CHECKPOINT_INTEGRITY, exit 1, nothing printed", async () => {
    const r = await cli(["show", "alice", "--store", store, "--key-env", "GK_KEY", "--json"], env);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.error().code).toBe("CHECKPOINT_INTEGRITY");
    expect(r.stderr).not.toContain("mallory");
  });

  it("fork refuses to copy (and re-encrypt) a forged plaintext value into a new thread", async () => {
    const r = await cli(
      ["fork", "alice", "--at", forgedAt, "--to", "alice-2", "--store", store, "--key-env", "GK_KEY"],
      env,
    );
    expect(r.code).toBe(1);
    const check = await cli(["threads", "--store", store, "--key-env", "GK_KEY", "--json"], env);
    expect(check.stdout).not.toContain("alice-2");
  });

  it("--allow-plaintext reads it for a migration, with a warning on stderr", async () => {
    const r = await cli(
      ["show", "alice", "--store", store, "--key-env", "GK_KEY", "--allow-plaintext", "--channel", "draft"],
      env,
    );
    expect(r.code).toBe(0);
    expect(r.json()).toBe("wire $10,000 to mallory");
    expect(r.stderr).toMatch(/warning: --allow-plaintext/);
  });
});

describe("read-only commands never change the SQLite file they read (issue 15.16)", () => {
  const file = join(dir, "plain.db");
  const store = `sqlite://${file}`;
  let ids: string[];

  beforeAll(async () => {
    // a rollback-journal file, as an application that turned WAL off (or @keyv/sqlite) leaves it
    const app = await KeyvSaver.fromUrl(store, { sqliteWal: false });
    await graph(app).invoke({}, { configurable: { thread_id: "t1" } });
    ids = [];
    for await (const t of app.list({ configurable: { thread_id: "t1" } })) ids.push(t.checkpoint.id);
    await app.close();
  });

  it("threads, history, show, diff, cost and stats leave its bytes, mtime and journal mode as they were", async () => {
    const before = fileState(file);
    const files = readdirSync(dir).sort();
    for (const argv of [
      ["threads"],
      ["history", "t1"],
      ["show", "t1"],
      ["diff", "t1", ids[2] as string, ids[0] as string],
      ["cost"],
      ["stats"],
    ]) {
      const r = await cli([...argv, "--store", store]);
      expect(r.code, `${argv[0]}: ${r.stderr}`).toBe(0);
      expect(fileState(file), argv[0]).toEqual(before);
      expect(readdirSync(dir).sort(), argv[0]).toEqual(files);
    }
    const db = new Database(file, { readonly: true });
    expect(db.pragma("journal_mode", { simple: true })).toBe("delete");
    db.close();
  });

  it("a mistyped path is STORE_NOT_FOUND with a hint, and no file is created", async () => {
    const typo = join(dir, "plian.db");
    const r = await cli(["threads", "--store", `sqlite://${typo}`, "--json"]);
    expect(r.code).toBe(1);
    expect(r.error()).toMatchObject({ code: "STORE_NOT_FOUND", hint: expect.stringMatching(/path/) });
    expect(r.error().message).toMatch(/mistyped path/);
    expect(existsSync(typo)).toBe(false);
    const text = await cli(["history", "t1", "--store", `sqlite://${typo}`]);
    expect(text.code).toBe(1);
    expect(text.stderr).toMatch(/hint: /);
    expect(existsSync(typo)).toBe(false);
  });

  it("a SQLite file of another application is not given a table: STORE_NOT_FOUND naming its tables", async () => {
    const other = join(dir, "other.db");
    const db = new Database(other);
    db.exec("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)");
    db.close();
    const before = fileState(other);
    const r = await cli(["threads", "--store", `sqlite://${other}`, "--json"]);
    expect(r.code).toBe(1);
    expect(r.error().code).toBe("STORE_NOT_FOUND");
    expect(r.error().message).toMatch(/tables: invoices/);
    expect(fileState(other)).toEqual(before);
  });

  it("writing commands open it read-write but never switch its journal mode", async () => {
    const r = await cli(["fork", "t1", "--at", ids[1] as string, "--to", "t1-fork", "--store", store]);
    expect(r.code, r.stderr).toBe(0);
    const db = new Database(file, { readonly: true });
    expect(db.pragma("journal_mode", { simple: true })).toBe("delete");
    db.close();
  });
});

for (const b of backends.filter((x) => x.name === "redis" || x.name === "postgres" || x.name === "mysql")) {
  describe.skipIf(!!b.skip)(
    `read-only commands on ${b.name}${b.skip ? ` — skipped: ${b.skip}` : ""} (issue 15.16)`,
    () => {
      it("never delete anything, not even an expired thread a read would otherwise purge", async () => {
        const namespace = `ro${randomUUID().slice(0, 8)}`;
        const app = await KeyvSaver.fromUrl(b.url, { namespace, ttl: 50 });
        await graph(app).invoke({}, { configurable: { thread_id: "gone" } });
        await app.close();
        await new Promise((r) => setTimeout(r, 120));
        const at = ["--store", b.url, "--namespace", namespace];
        for (const argv of [["threads"], ["show", "gone"], ["history", "gone"], ["cost"], ["stats"]]) {
          await cli([...argv, ...at]);
        }
        await new Promise((r) => setTimeout(r, 100));
        const check = await KeyvSaver.fromUrl(b.url, { namespace });
        try {
          // the expired thread reads as absent, but its keys are still there: only a writing command reclaims them
          expect(await check.keyv.get("{gone}:idx")).toBeDefined();
          expect(await check.keyv.get("{gone}:meta")).toBeDefined();
          expect(await check.getTuple({ configurable: { thread_id: "gone" } })).toBeUndefined();
        } finally {
          await check.purgeExpired().catch(() => undefined);
          await check.close();
        }
      });
    },
  );
}

describe("official LangGraph stores are recognised, read, and never written (issue 18.5)", () => {
  it("a SqliteSaver database: threads, history, show and diff read it; fork, prune and delete refuse; the file is unchanged", async () => {
    const file = join(dir, "official.db");
    const official = SqliteSaver.fromConnString(file);
    await graph(official).invoke({}, { configurable: { thread_id: "o1" } });
    official.db.close();
    const before = fileState(file);
    const store = ["--store", `sqlite://${file}`];

    const threads = await cli(["threads", ...store, "--json"]);
    expect(threads.code, threads.stderr).toBe(0);
    expect(threads.stderr).toMatch(/official LangGraph SqliteSaver/);
    expect(threads.json()).toEqual([expect.objectContaining({ threadId: "o1", status: "done", checkpoints: 4 })]);
    const history = (await cli(["history", "o1", ...store, "--json"])).json();
    expect(history.map((r: { nodes: string[] }) => r.nodes)).toEqual([["write"], ["plan"], [], ["(input)"]]);
    const show = (await cli(["show", "o1", ...store])).json();
    expect(show.values).toEqual({ log: ["planned", "written"], draft: "outline + text" });
    const diff = (await cli(["diff", "o1", "1", "2", ...store, "--json"])).json();
    expect(diff.changes.map((c: { channel: string }) => c.channel)).toEqual(["draft", "log"]);

    for (const argv of [
      ["fork", "o1", "--at", "1", "--to", "o2"],
      ["prune", "--keep-latest", "1", "--yes"],
      ["delete", "o1", "--yes"],
    ]) {
      const r = await cli([...argv, ...store, "--json"]);
      expect(r.code, argv[0]).toBe(1);
      expect(r.error().code).toBe("FOREIGN_STORE");
      expect(r.error().message).toMatch(/SqliteSaver/);
    }
    expect(fileState(file)).toEqual(before);
    const db = new Database(file, { readonly: true });
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY 1").all();
    db.close();
    expect(tables).toEqual([{ name: "checkpoints" }, { name: "writes" }]);
  });

  const pgBackend = backends.find((b) => b.name === "postgres");
  describe.skipIf(!!pgBackend?.skip)(`PostgreSQL${pgBackend?.skip ? ` — skipped: ${pgBackend.skip}` : ""}`, () => {
    const name = `gk_cli_${randomUUID().replaceAll("-", "").slice(0, 10)}`;
    const url = new URL(POSTGRES_URL);
    url.pathname = `/${name}`;
    const admin = new pg.Pool({ connectionString: POSTGRES_URL });
    const tables = async () => {
      const c = new pg.Client({ connectionString: url.toString() });
      await c.connect();
      const r = await c.query(
        "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
      );
      await c.end();
      return r.rows.map((x) => x.t as string);
    };

    beforeAll(async () => {
      await admin.query(`CREATE DATABASE ${name}`);
    });
    afterAll(async () => {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    });

    it("a database without graphkeep's table is STORE_NOT_FOUND and gets no table", async () => {
      const r = await cli(["threads", "--store", url.toString(), "--json"]);
      expect(r.code).toBe(1);
      expect(r.error().code).toBe("STORE_NOT_FOUND");
      expect(await tables()).toEqual([]);
    });

    it("a PostgresSaver schema: threads, history and show read it; fork and prune refuse; no table is added", async () => {
      const official = PostgresSaver.fromConnString(url.toString());
      await official.setup();
      await graph(official).invoke({}, { configurable: { thread_id: "p1" } });
      await official.end();
      const before = await tables();
      const store = ["--store", url.toString()];
      const threads = await cli(["threads", ...store, "--json"]);
      expect(threads.code, threads.stderr).toBe(0);
      expect(threads.stderr).toMatch(/PostgresSaver/);
      expect(threads.json()).toEqual([expect.objectContaining({ threadId: "p1", status: "done", checkpoints: 4 })]);
      const history = (await cli(["history", "p1", ...store, "--json"])).json();
      expect(history.map((r: { nodes: string[] }) => r.nodes)).toEqual([["write"], ["plan"], [], ["(input)"]]);
      expect((await cli(["show", "p1", ...store, "--channel", "draft"])).json()).toBe("outline + text");
      for (const argv of [
        ["fork", "p1", "--at", "1", "--to", "p2"],
        ["prune", "--keep-latest", "1", "--yes"],
      ]) {
        const r = await cli([...argv, ...store, "--json"]);
        expect(r.code, argv[0]).toBe(1);
        expect(r.error().code).toBe("FOREIGN_STORE");
      }
      expect(await tables()).toEqual(before);
    });
  });
});
