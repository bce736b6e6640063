import { spawnSync } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { main } from "@graphkeep/cli";
import { KeyvSaver } from "@graphkeep/keyv-saver";
import { compressed, encrypted } from "@graphkeep/serde";
import { Annotation, END, interrupt, Send, START, StateGraph } from "@langchain/langgraph";
import { type BaseCheckpointSaver, JsonPlusSerializer } from "@langchain/langgraph-checkpoint";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backends } from "../../../test/helpers/backends.js";

const State = Annotation.Root({
  log: Annotation<string[]>({ reducer: (a, b) => a.concat(b), default: () => [] }),
  draft: Annotation<string>({ reducer: (_, b) => b, default: () => "" }),
  mode: Annotation<string>({ reducer: (_, b) => b, default: () => "ok" }),
});

function graph(saver: BaseCheckpointSaver) {
  return new StateGraph(State)
    .addNode("plan", () => ({ log: ["planned"], draft: "outline" }))
    .addNode("write", (s) => ({ log: ["written"], draft: `${s.draft} + text` }))
    .addNode("review", (s) => {
      if (s.mode === "fail") throw new Error("reviewer crashed");
      if (s.mode === "ask") return { log: [`approved: ${interrupt("approve?") as string}`] };
      return { log: ["reviewed"] };
    })
    .addEdge(START, "plan")
    .addEdge("plan", "write")
    .addEdge("write", "review")
    .addEdge("review", END)
    .compile({ checkpointer: saver });
}

/** Adds `metadata.cost` the way `withCostMetadata` of @graphkeep/cost does: $0.01 per step. */
function withFakeCost(saver: KeyvSaver): KeyvSaver {
  const totals = new Map<string, number>();
  return new Proxy(saver, {
    get(t, prop) {
      if (prop === "put") {
        return (config: never, checkpoint: never, metadata: Record<string, unknown>, versions: never) => {
          const tid = (config as { configurable: { thread_id: string } }).configurable.thread_id;
          const total = (totals.get(tid) ?? 0) + 0.01;
          totals.set(tid, total);
          const step = { usd: 0.01, tokens: 100, byModel: { "gpt-4o": 0.006, "gpt-4o-mini": 0.004 }, tenant: "acme" };
          const cost = { step, total: { usd: total, tokens: Math.round(total * 10_000) } };
          return t.put(config, checkpoint, { ...metadata, cost } as never, versions);
        };
      }
      const v = Reflect.get(t, prop);
      return typeof v === "function" ? v.bind(t) : v;
    },
  });
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
  return {
    code,
    stdout,
    stderr,
    json: () => {
      try {
        return JSON.parse(stdout);
      } catch {
        throw new Error(`not JSON (exit ${code}): ${stdout} ${stderr}`);
      }
    },
  };
}

const dir = mkdtempSync(join(tmpdir(), "graphkeep-cli-"));

describe("graphkeep CLI on a SQLite store written by a real graph", () => {
  const store = `sqlite://${join(dir, "app.db")}`;
  const ids = { done: "t-done", asked: "t-asked", failed: "t-failed" };
  let saver: KeyvSaver;

  beforeAll(async () => {
    saver = await KeyvSaver.fromUrl(store);
    const g = graph(withFakeCost(saver));
    await g.invoke({ mode: "ok" }, { configurable: { thread_id: ids.done } });
    await g.invoke({ mode: "ask" }, { configurable: { thread_id: ids.asked } });
    await expect(g.invoke({ mode: "fail" }, { configurable: { thread_id: ids.failed } })).rejects.toThrow(
      "reviewer crashed",
    );
  });
  afterAll(async () => {
    await saver.close();
  });

  const history = async (thread: string) => (await cli("history", thread, "--store", store, "--json")).json();

  it("threads lists every thread with its checkpoints, last step, size, cost and status", async () => {
    const r = await cli("threads", "--store", store, "--json");
    expect(r.code).toBe(0);
    const rows = r.json() as Array<Record<string, unknown>>;
    const by = Object.fromEntries(rows.map((x) => [x.threadId, x]));
    expect(by[ids.done]).toMatchObject({
      status: "done",
      checkpoints: 5,
      lastStep: 3,
      costUsd: expect.closeTo(0.05, 6),
    });
    expect(by[ids.asked]).toMatchObject({ status: "interrupted" });
    expect(by[ids.failed]).toMatchObject({ status: "failed" });
    expect(by[ids.done]?.bytes).toBeGreaterThan(0);
    // without --json and without a terminal: tab-separated, header first
    const plainOut = await cli("threads", "--store", store);
    expect(plainOut.stdout.split("\n")[0]).toMatch(
      /^thread\tcheckpoints\tlast step\tupdated \(UTC[^)]*\)\tsize\tcost\tstatus$/,
    );
  });

  it("history shows step, source, the node that wrote each checkpoint, and the step cost with its running total", async () => {
    const rows = await history(ids.done);
    expect(rows.map((r: { step: number }) => r.step)).toEqual([3, 2, 1, 0, -1]);
    expect(rows.map((r: { nodes: string[] }) => r.nodes)).toEqual([["review"], ["write"], ["plan"], [], ["(input)"]]);
    expect(rows.map((r: { source: string }) => r.source)).toEqual(["loop", "loop", "loop", "loop", "input"]);
    expect(rows[0]).toMatchObject({ stepUsd: 0.01, totalUsd: expect.closeTo(0.05, 6) });
    expect((await cli("history", ids.done, "--store", store, "--limit", "2", "--json")).json()).toHaveLength(2);
  });

  it("show prints the state (or one channel) at the latest or a given checkpoint", async () => {
    const latest = (await cli("show", ids.done, "--store", store)).json();
    expect(latest.values).toEqual({ log: ["planned", "written", "reviewed"], draft: "outline + text", mode: "ok" });
    const rows = await history(ids.done);
    const afterPlan = rows.find((r: { nodes: string[] }) => r.nodes.includes("plan")).checkpointId;
    const draft = await cli("show", ids.done, "--store", store, "--checkpoint", afterPlan, "--channel", "draft");
    expect(draft.json()).toBe("outline");
  });

  it("diff tells per channel what changed between two checkpoints", async () => {
    const rows = await history(ids.done);
    const [afterReview, , afterPlan] = rows.map((r: { checkpointId: string }) => r.checkpointId);
    const r = (await cli("diff", ids.done, afterPlan, afterReview, "--store", store, "--json")).json();
    expect(r.changes).toEqual([
      expect.objectContaining({ channel: "draft", change: "changed", before: "outline", after: "outline + text" }),
      expect.objectContaining({ channel: "log", change: "appended", after: ["written", "reviewed"] }),
    ]);
  });

  it("fork branches a thread at a checkpoint; the new thread resumes from there and the old one is untouched", async () => {
    const rows = await history(ids.done);
    const afterPlan = rows.find((r: { nodes: string[] }) => r.nodes.includes("plan")).checkpointId;
    const to = `fork-${randomUUID()}`;
    const r = await cli("fork", ids.done, "--at", afterPlan, "--to", to, "--store", store, "--json");
    expect(r.code).toBe(0);
    expect(r.json()).toMatchObject({ to, checkpoints: 3 });
    const g = graph(saver);
    const forked = await g.getState({ configurable: { thread_id: to } });
    expect(forked.values).toMatchObject({ log: ["planned"], draft: "outline" });
    expect(forked.next).toEqual(["write"]);
    await g.updateState({ configurable: { thread_id: to } }, { draft: "a what-if outline" });
    const resumed = await g.invoke(null, { configurable: { thread_id: to } });
    expect(resumed.log).toEqual(["planned", "written", "reviewed"]);
    expect(resumed.draft).toBe("a what-if outline + text");
    expect((await history(ids.done)).length).toBe(5);
    // the fork has spent nothing: recorded cost stays with the source, the origin is noted
    const forkRows = (await history(to)) as Array<{ totalUsd?: number }>;
    expect(forkRows.filter((r) => r.totalUsd !== undefined)).toEqual([]);
    // forking onto an existing thread is refused, nothing is overwritten
    const again = await cli("fork", ids.done, "--at", afterPlan, "--to", to, "--store", store);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already has checkpoints/);
  });

  it("cost totals the recorded spend by thread, model, node and tenant", async () => {
    const r = (await cli("cost", ids.done, "--store", store, "--json")).json();
    expect(r.usd).toBeCloseTo(0.05, 6);
    expect(r.byNode).toMatchObject({ plan: 0.01, write: 0.01, review: 0.01 });
    expect(r.byModel["gpt-4o"]).toBeCloseTo(0.03, 9);
    expect(r.byModel["gpt-4o-mini"]).toBeCloseTo(0.02, 9);
    expect(r.byTenant.acme).toBeCloseTo(0.05, 9);
  });

  it("a run paused before a join node or before Send tasks has work left: status running, not done", async () => {
    const S = Annotation.Root({ items: Annotation<string[]>({ reducer: (a, b) => a.concat(b), default: () => [] }) });
    const join = new StateGraph(S)
      .addNode("a", () => ({ items: ["a"] }))
      .addNode("x", () => ({ items: ["x"] }))
      .addNode("b", () => ({ items: ["b"] }))
      .addEdge(START, "a")
      .addEdge(START, "x")
      .addEdge(["a", "x"], "b")
      .addEdge("b", END)
      .compile({ checkpointer: saver, interruptBefore: ["b"] });
    await join.invoke({}, { configurable: { thread_id: "t-join" } });
    const fan = new StateGraph(S)
      .addNode("plan", () => ({ items: ["plan"] }))
      .addNode("w", (s: { i?: number }) => ({ items: [`w${s.i}`] }))
      .addEdge(START, "plan")
      .addConditionalEdges("plan", () => [new Send("w", { i: 1 }), new Send("w", { i: 2 })])
      .addEdge("w", END)
      .compile({ checkpointer: saver, interruptBefore: ["w"] });
    await fan.invoke({}, { configurable: { thread_id: "t-send" } });
    expect((await join.getState({ configurable: { thread_id: "t-join" } })).next).toEqual(["b"]);
    const rows = (await cli("threads", "--store", store, "--json")).json() as Array<{
      threadId: string;
      status: string;
    }>;
    expect(rows.find((r) => r.threadId === "t-join")?.status).toBe("running");
    expect(rows.find((r) => r.threadId === "t-send")?.status).toBe("running");
  });

  it("unknown threads and checkpoints are errors (exit 1); bad usage exits 2", async () => {
    const unknown = await cli("show", "nope", "--store", store);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/unknown thread "nope"/);
    const badCp = await cli("show", ids.done, "--store", store, "--checkpoint", "1ef-nope");
    expect(badCp.code).toBe(1);
    expect(badCp.stderr).toMatch(/has no checkpoint "1ef-nope"/);
    expect((await cli("show", ids.done, "--store", store, "--channel", "nope")).stderr).toMatch(
      /has no channel "nope"; channels: /,
    );
    expect((await cli("threads")).code).toBe(2); // no store
    expect((await cli("frobnicate", "--store", store)).code).toBe(2);
    expect((await cli("fork", ids.done, "--store", store)).code).toBe(2); // missing --at/--to
    expect((await cli("prune", "--store", store)).code).toBe(2);
    expect((await cli("--help")).code).toBe(0);
  });

  it("bad store URLs and unreachable stores are clear errors", async () => {
    const bad = await cli("threads", "--store", "ftp://example.com/x");
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/hint: use sqlite:\/\//);
    const down = await cli("threads", "--store", "redis://127.0.0.1:1", "--timeout", "300", "--json");
    expect(down.code).toBe(1);
    expect(JSON.parse(down.stderr).error.code).toBe("STORE_UNAVAILABLE");
  });

  it("prune --dry-run reports without deleting; prune deletes and reports bytes freed", async () => {
    const before = (await cli("stats", "--store", store, "--json")).json();
    const dry = (
      await cli("prune", "--keep-latest", "1", "--thread", ids.done, "--dry-run", "--store", store, "--json")
    ).json();
    expect(dry.checkpointsDeleted).toBeGreaterThan(0);
    expect((await cli("stats", "--store", store, "--json")).json()).toEqual(before);
    const real = (await cli("prune", "--keep-latest", "1", "--thread", ids.done, "--store", store, "--json")).json();
    expect(real.checkpointsDeleted).toBe(dry.checkpointsDeleted);
    expect(real.bytesFreed).toBeGreaterThan(0);
    const after = (await cli("stats", "--store", store, "--json")).json();
    expect(after.checkpoints).toBe(before.checkpoints - real.checkpointsDeleted);
    expect((await graph(saver).getState({ configurable: { thread_id: ids.done } })).values.log).toHaveLength(3);
  });

  it("the built binary runs as a program: JSON on stdout, exit code 0", () => {
    const bin = fileURLToPath(new URL("../dist/bin.mjs", import.meta.url));
    if (!existsSync(bin)) throw new Error("packages/cli is not built: run pnpm build first");
    const r = spawnSync(process.execPath, [bin, "stats", "--json"], {
      env: { ...process.env, GRAPHKEEP_STORE: store },
      encoding: "utf8",
    });
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ threads: expect.any(Number) });
  });
});

describe("graphkeep CLI on an encrypted store", () => {
  const store = `sqlite://${join(dir, "secret.db")}`;
  const key = randomBytes(32).toString("base64");
  it("reads with the key from an env var or file, and explains a missing or wrong key", async () => {
    const serde = encrypted(compressed(new JsonPlusSerializer()), { keys: { k1: key }, activeKeyId: "k1" });
    const saver = await KeyvSaver.fromUrl(store, { serde });
    await graph(saver).invoke({ mode: "ok" }, { configurable: { thread_id: "secret" } });
    await saver.close();
    const ok = await main(["show", "secret", "--store", store, "--key-env", "GK_KEY"], {
      out: () => undefined,
      err: () => undefined,
      isTTY: false,
      env: { GK_KEY: `k1:${key}` },
    });
    expect(ok).toBe(0);
    const noKey = await cli("show", "secret", "--store", store);
    expect(noKey.code).toBe(1);
    expect(noKey.stderr).toMatch(/hint: .*key/);
    let err = "";
    const wrong = await main(["show", "secret", "--store", store, "--key-env", "GK_KEY"], {
      out: () => undefined,
      err: (s) => {
        err += s;
      },
      isTTY: false,
      env: { GK_KEY: `k1:${randomBytes(32).toString("base64")}` },
    });
    expect(wrong).toBe(1);
    expect(err).toMatch(/key/i);
    expect((await cli("show", "secret", "--store", store, "--key-env", "UNSET_VAR")).code).toBe(2);
  });
});

for (const b of backends.filter((x) => x.name === "redis" || x.name === "postgres")) {
  describe.skipIf(!!b.skip)(`graphkeep CLI on ${b.name}${b.skip ? ` — skipped: ${b.skip}` : ""}`, () => {
    it("every command works on a server store: threads, history, show, diff, fork, cost, prune, stats", async () => {
      const namespace = `cli${randomUUID().slice(0, 8)}`;
      const at = ["--store", b.url, "--namespace", namespace];
      // @keyv/postgres shares one pool per URL and the CLI closes its saver: write, close, then run the CLI
      const saver = await KeyvSaver.fromUrl(b.url, { namespace });
      await graph(withFakeCost(saver)).invoke({ mode: "ok" }, { configurable: { thread_id: "remote" } });
      await saver.close();
      const t = await cli("threads", ...at, "--json");
      expect(t.json()).toEqual([expect.objectContaining({ threadId: "remote", status: "done", checkpoints: 5 })]);
      const h = (await cli("history", "remote", ...at, "--json")).json();
      expect(h.map((r: { nodes: string[] }) => r.nodes)).toEqual([["review"], ["write"], ["plan"], [], ["(input)"]]);
      expect((await cli("show", "remote", ...at, "--channel", "draft")).json()).toBe("outline + text");
      const diff = (await cli("diff", "remote", h[2].checkpointId, h[0].checkpointId, ...at, "--json")).json();
      expect(diff.changes.map((c: { channel: string }) => c.channel)).toEqual(["draft", "log"]);
      const fork = await cli("fork", "remote", "--at", h[2].checkpointId, "--to", "remote-fork", ...at, "--json");
      expect(fork.json()).toMatchObject({ checkpoints: 3 });
      expect((await cli("show", "remote-fork", ...at)).json().values.log).toEqual(["planned"]);
      expect((await cli("cost", "remote", ...at, "--json")).json().usd).toBeCloseTo(0.05, 6);
      const pruned = (await cli("prune", "--keep-latest", "1", "--thread", "remote", ...at, "--json")).json();
      expect(pruned.checkpointsDeleted).toBeGreaterThan(0);
      expect((await cli("stats", ...at, "--json")).json()).toMatchObject({ threads: 2 });
      const cleanup = await KeyvSaver.fromUrl(b.url, { namespace });
      await cleanup.deleteThread("remote");
      await cleanup.deleteThread("remote-fork");
      await cleanup.close();
    });
  });
}
