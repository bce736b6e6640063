import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "@graphkeep/cli";
import { CostTracker, withCostMetadata } from "@graphkeep/cost";
import { KeyvSaver } from "@graphkeep/keyv-saver";
import { KeyvLLMCache } from "@graphkeep/llm-cache";
import { AIMessage, HumanMessage } from "@langchain/core/messages";
import { Annotation, END, MessagesAnnotation, START, StateGraph } from "@langchain/langgraph";
import type { BaseCheckpointSaver } from "@langchain/langgraph-checkpoint";
import { ChatOpenAI } from "@langchain/openai";
import Keyv from "keyv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeOpenAI, startFakeOpenAI } from "./helpers/fake-openai.js";

const State = Annotation.Root({
  log: Annotation<string[]>({ reducer: (a, b) => a.concat(b), default: () => [] }),
  draft: Annotation<string>({ reducer: (_, b) => b, default: () => "" }),
});

function graph(saver: BaseCheckpointSaver) {
  return new StateGraph(State)
    .addNode("plan", () => ({ log: ["planned"], draft: "outline" }))
    .addNode("research", () => ({ log: ["researched"] }))
    .addNode("write", (s) => ({ log: ["written"], draft: `${s.draft} + text` }))
    .addEdge(START, "plan")
    .addEdge("plan", "research")
    .addEdge("research", "write")
    .addEdge("write", END)
    .compile({ checkpointer: saver });
}

/** Adds `metadata.cost` the way `withCostMetadata` records it: $0.01 and 100 tokens per step, split by model. */
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

interface Run {
  isTTY?: boolean;
  columns?: number;
  answers?: string[];
}

async function cli(argv: string[], run: Run = {}) {
  let stdout = "";
  let stderr = "";
  const questions: string[] = [];
  const answers = [...(run.answers ?? [])];
  const code = await main(argv, {
    out: (s) => {
      stdout += s;
    },
    err: (s) => {
      stderr += s;
    },
    isTTY: run.isTTY ?? false,
    env: { NO_COLOR: "1" },
    columns: run.columns,
    prompt: async (q) => {
      questions.push(q);
      return answers.shift() ?? "";
    },
  });
  return { code, stdout, stderr, questions, json: () => JSON.parse(stdout) };
}

const dir = mkdtempSync(join(tmpdir(), "graphkeep-cli-tty-"));
const store = `sqlite://${join(dir, "app.db")}`;
const LONG = "customer-support-conversation-with-a-rather-long-identifier-0001";
let saver: KeyvSaver;

beforeAll(async () => {
  saver = await KeyvSaver.fromUrl(store);
  for (const id of [LONG, "t2", "doomed", "pruned"]) {
    await graph(withFakeCost(saver)).invoke({}, { configurable: { thread_id: id } });
  }
});
afterAll(async () => {
  await saver.close();
});

const history = async (thread: string) =>
  (await cli(["history", thread, "--store", store, "--json"])).json() as Array<{
    step: number;
    checkpointId: string;
    nodes: string[];
    branch: number;
    children: number;
  }>;

describe("graphkeep in a terminal (issue 18.7)", () => {
  it("on an 80-column terminal every table line fits, ids are shortened, and rows have no separator lines", async () => {
    for (const argv of [["threads"], ["history", LONG], ["cost"], ["stats"]]) {
      const r = await cli([...argv, "--store", store], { isTTY: true, columns: 80 });
      expect(r.code, r.stderr).toBe(0);
      const lines = r.stdout.split("\n");
      for (const l of lines) expect([...l].length, `${argv[0]}: ${l}`).toBeLessThanOrEqual(80);
      // one rule under each table's header, none between rows
      const rules = lines.filter((l) => /^[─┼├┤\-+|│\s]+$/.test(l) && l.includes("─"));
      const headers = lines.filter((l) => /^(thread|step|model|node|tenant|threads)\b/.test(l));
      expect(rules.length, argv[0]).toBe(headers.length);
    }
    const h = await cli(["history", LONG, "--store", store], { isTTY: true, columns: 80 });
    const ids = (await history(LONG)).map((r) => r.checkpointId);
    expect(h.stdout).not.toContain(ids[0]);
    expect(h.stdout).toContain(ids[0]?.slice(0, 8));
  });

  it("checkpoints are named by step number or unique id prefix in show, diff and fork; an ambiguous prefix lists the candidates", async () => {
    const rows = await history("t2");
    const step1 = rows.find((r) => r.step === 1)!;
    expect((await cli(["show", "t2", "--store", store, "--checkpoint", "1", "--channel", "draft"])).json()).toBe(
      "outline",
    );
    const prefix = step1.checkpointId.slice(0, 30);
    expect((await cli(["show", "t2", "--store", store, "-c", prefix, "--channel", "log"])).json()).toEqual(["planned"]);
    const d = (await cli(["diff", "t2", "1", "3", "--store", store, "--json"])).json();
    expect(d).toMatchObject({ from: step1.checkpointId, to: rows.find((r) => r.step === 3)?.checkpointId });
    expect(d.changes.map((c: { channel: string }) => c.channel)).toEqual(["draft", "log"]);
    const f = await cli(["fork", "t2", "--at", "2", "--to", "t2-what-if", "--store", store, "--json"]);
    expect(f.code, f.stderr).toBe(0);
    expect(f.json()).toMatchObject({ at: rows.find((r) => r.step === 2)?.checkpointId, checkpoints: 4 });
    const forked = await cli(["history", "t2-what-if", "--store", store]);
    expect(forked.stdout).toContain(`  forked from t2 at step 2 (${rows.find((r) => r.step === 2)?.checkpointId})\n`);
    const shared = rows[0]!.checkpointId.slice(0, 8);
    const amb = await cli(["show", "t2", "--store", store, "-c", shared]);
    expect(amb.code).toBe(1);
    expect(amb.stderr).toMatch(/ambiguous: .*,/);
    expect((await cli(["show", "t2", "--store", store, "-c", "42"])).stderr).toMatch(/has no step 42/);
  });

  it("diff shows appended messages as messages: role, text and tool calls", async () => {
    const chat = new StateGraph(MessagesAnnotation)
      .addNode("agent", () => ({
        messages: [
          new AIMessage({
            content: "Let me compute that.",
            tool_calls: [{ id: "call_1", name: "calculator", args: { expression: "2+2" } }],
          }),
        ],
      }))
      .addEdge(START, "agent")
      .addEdge("agent", END)
      .compile({ checkpointer: saver });
    await chat.invoke({ messages: [new HumanMessage("What is 2+2?")] }, { configurable: { thread_id: "chat" } });
    const r = await cli(["diff", "chat", "-1", "1", "--store", store]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("messages  added");
    const again = await cli(["diff", "chat", "0", "1", "--store", store]);
    expect(again.stdout).toContain("messages  appended 1\n");
    expect(again.stdout).toContain('  + [ai] Let me compute that.  → calculator({"expression":"2+2"})\n');
    expect(r.stdout).toContain("  + [human] What is 2+2?");
  });

  it("history draws branches as a tree: a fork point and the branch an updateState on an older checkpoint made", async () => {
    const g = graph(saver);
    const rows = await history("t2");
    const afterPlan = rows.find((r) => r.step === 1)!.checkpointId;
    const branched = await g.updateState(
      { configurable: { thread_id: "t2", checkpoint_id: afterPlan } },
      { draft: "a different outline" },
    );
    await g.invoke(null, branched);
    const tree = await history("t2");
    expect(tree.find((r) => r.checkpointId === afterPlan)).toMatchObject({ children: 2 });
    // the newest line first at depth 0, the old continuation as a branch one level in, above its fork point
    expect(tree[0]).toMatchObject({ branch: 0 });
    const old = tree.filter((r) => r.branch === 1);
    expect(old.map((r) => r.step)).toEqual([3, 2]);
    const at = tree.findIndex((r) => r.checkpointId === afterPlan);
    expect(tree.findIndex((r) => r.branch === 1)).toBeLessThan(at);
    // a step both branches reached names the one on the newest line
    const step3 = tree.find((r) => r.step === 3 && r.branch === 0)!;
    expect((await cli(["show", "t2", "--store", store, "-c", "3", "--json"])).json().checkpointId).toBe(
      step3.checkpointId,
    );
    const text = await cli(["history", "t2", "--store", store], { isTTY: true, columns: 100 });
    expect(text.stdout).toMatch(/●┤/);
    expect(text.stdout).toMatch(/│ ●/);
  });

  it("times are local with the zone in the header, or UTC with --utc", async () => {
    const tz = process.env.TZ;
    process.env.TZ = "Asia/Kolkata";
    try {
      const rows = (await cli(["threads", "--store", store, "--json"])).json() as Array<{
        threadId: string;
        updatedAt: string;
      }>;
      const row = rows.find((r) => r.threadId === "doomed")!;
      const local = new Date(new Date(row.updatedAt).getTime() + 5.5 * 3600_000).toISOString().slice(0, 19);
      const text = await cli(["threads", "--store", store]);
      expect(text.stdout.split("\n")[0]).toContain("updated (UTC+05:30)");
      expect(text.stdout).toContain(local.replace("T", " "));
      const utc = await cli(["threads", "--store", store, "--utc"]);
      expect(utc.stdout.split("\n")[0]).toContain("updated (UTC)");
      expect(utc.stdout).toContain(row.updatedAt.slice(0, 19).replace("T", " "));
    } finally {
      if (tz === undefined) delete process.env.TZ;
      else process.env.TZ = tz;
    }
  });

  it("prune asks before deleting on a terminal: no deletes nothing (exit 1), yes and --yes delete", async () => {
    const stats = async () => (await cli(["stats", "--store", store, "--json"])).json();
    const before = await stats();
    const no = await cli(["prune", "--keep-latest", "1", "--thread", "doomed", "--store", store], {
      isTTY: true,
      answers: ["n"],
    });
    expect(no.questions).toEqual([expect.stringMatching(/^delete \d+ checkpoint\(s\) in 1 thread\(s\).*\[y\/N\] $/)]);
    expect(no.code).toBe(1);
    expect(await stats()).toEqual(before);
    const yes = await cli(["prune", "--keep-latest", "3", "--thread", "doomed", "--store", store], {
      isTTY: true,
      answers: ["y"],
    });
    expect(yes.code).toBe(0);
    expect((await stats()).checkpoints).toBe(before.checkpoints - 2);
    const skip = await cli(["prune", "--keep-latest", "1", "--thread", "doomed", "--yes", "--store", store], {
      isTTY: true,
    });
    expect(skip.questions).toEqual([]);
    expect(skip.code).toBe(0);
  });

  it("delete removes a thread after confirmation; an unknown thread is an error", async () => {
    const no = await cli(["delete", "t2-what-if", "--store", store], { isTTY: true, answers: [""] });
    expect(no.code).toBe(1);
    expect(no.questions[0]).toMatch(/delete thread "t2-what-if" \(\d+ checkpoint\(s\)\)/);
    const yes = await cli(["delete", "t2-what-if", "--store", store, "--yes", "--json"]);
    expect(yes.code).toBe(0);
    expect(yes.json()).toEqual({ deleted: [{ threadId: "t2-what-if", checkpoints: 4 }] });
    const threads = (await cli(["threads", "--store", store, "--json"])).json() as Array<{ threadId: string }>;
    expect(threads.map((t) => t.threadId)).not.toContain("t2-what-if");
    const unknown = await cli(["delete", "nobody", "--store", store, "--yes"]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/unknown thread "nobody"/);
  });

  it("a file that is not a SQLite database is an error with a hint", async () => {
    const notes = join(dir, "notes.txt");
    writeFileSync(notes, "meeting notes, not a database\n".repeat(200));
    const r = await cli(["threads", "--store", `sqlite://${notes}`, "--json"]);
    expect(r.code).toBe(1);
    const { error } = JSON.parse(r.stderr);
    expect(error.code).toBe("SQLITE_NOTADB");
    expect(error.hint).toMatch(/not a SQLite database/);
  });

  it("a SQLite file SQLite cannot open (its -wal is a directory) is SQLITE_CANTOPEN with a hint", async () => {
    const file = join(dir, "stuck.db");
    const app = await KeyvSaver.fromUrl(`sqlite://${file}`);
    await graph(app).invoke({}, { configurable: { thread_id: "s" } });
    await app.close();
    mkdirSync(`${file}-wal`);
    const r = await cli(["threads", "--store", `sqlite://${file}`, "--json"]);
    expect(r.code).toBe(1);
    const { error } = JSON.parse(r.stderr);
    expect(error.code).toBe("SQLITE_CANTOPEN");
    expect(error.hint).toMatch(/SQLite cannot open the file: .*-wal/);
  });

  it("after a prune, history names the nodes of the kept checkpoints and cost by model and node adds up to the total", async () => {
    expect((await cli(["prune", "--keep-latest", "2", "--thread", "pruned", "--store", store])).code).toBe(0);
    const rows = await history("pruned");
    expect(rows.map((r) => [r.step, r.nodes])).toEqual([
      [3, ["write"]],
      [2, ["research"]],
    ]);
    const cost = (await cli(["cost", "pruned", "--store", store, "--json"])).json();
    expect(cost.usd).toBeCloseTo(0.05, 9);
    const sum = (m: Record<string, number>) => Object.values(m).reduce((a, b) => a + b, 0);
    expect(sum(cost.byModel)).toBeCloseTo(cost.usd, 9);
    expect(sum(cost.byNode)).toBeCloseTo(cost.usd, 9);
    expect(cost.byNode["(pruned checkpoints)"]).toBeCloseTo(0.03, 9);
  });
});

describe("cost in a terminal (issue 18.7)", () => {
  let fake: FakeOpenAI;
  beforeAll(async () => {
    fake = await startFakeOpenAI();
  });
  afterAll(async () => {
    await fake.close();
  });

  it("has titled sections with token counts, and the cache's savings from a CostTracker sharing the store", async () => {
    const tracker = new CostTracker({ store: saver.keyv });
    const model = new ChatOpenAI({
      model: "gpt-4o-2024-08-06",
      apiKey: "test",
      maxRetries: 0,
      cache: new KeyvLLMCache(new Keyv()),
      configuration: { baseURL: fake.baseURL },
    });
    fake.enqueue({ content: "a summary", usage: { prompt: 1000, completion: 200 } });
    const g = new StateGraph(State)
      .addNode("summarize", async (_s, c) => ({
        draft: String((await model.invoke("summarize", c)).content),
      }))
      .addEdge(START, "summarize")
      .addEdge("summarize", END)
      .compile({ checkpointer: withCostMetadata(saver, tracker) });
    const config = { configurable: { thread_id: "paid" }, callbacks: [tracker] };
    await g.invoke({}, config);
    await g.invoke({}, config); // the same prompt again: answered by the cache
    expect(fake.requests).toHaveLength(1);
    const r = await cli(["cost", "paid", "--store", store], { isTTY: true, columns: 80 });
    expect(r.code, r.stderr).toBe(0);
    for (const title of ["By thread", "By model", "By node", "By tenant", "Model calls and cache"]) {
      expect(r.stdout).toContain(`\n${title}`);
    }
    expect(r.stdout).toMatch(/^Total {2}\$0\.00\d+ {2}1200 tokens/);
    const json = (await cli(["cost", "paid", "--store", store, "--json"])).json();
    expect(json.tokens).toBe(1200);
    expect(json.ledger).toMatchObject({ calls: 2, cachedCalls: 1, inputTokens: 1000, outputTokens: 200 });
    expect(json.ledger.savedUsd).toBeCloseTo(json.usd, 9);
  });
});
