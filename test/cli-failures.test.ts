import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "@graphkeep/cli";
import { BudgetGuard, CostTracker } from "@graphkeep/cost";
import { KeyvSaver } from "@graphkeep/keyv-saver";
import { Annotation, END, START, StateGraph } from "@langchain/langgraph";
import { ChatOpenAI } from "@langchain/openai";
import Keyv from "keyv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeOpenAI, startFakeOpenAI } from "./helpers/fake-openai.js";

const State = Annotation.Root({
  log: Annotation<string[]>({ reducer: (a, b) => a.concat(b), default: () => [] }),
});

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
  return { code, stdout, stderr, json: () => JSON.parse(stdout) };
}

describe("show and history say why a thread failed: the error and the node (issue 18.6)", () => {
  const store = `sqlite://${join(mkdtempSync(join(tmpdir(), "graphkeep-cli-fail-")), "app.db")}`;
  let saver: KeyvSaver;
  let fake: FakeOpenAI;
  const crashing = () =>
    new StateGraph(State)
      .addNode("plan", () => ({ log: ["planned"] }))
      .addNode("research", () => ({ log: ["researched"] }))
      .addNode("review", () => {
        throw new TypeError("reviewer crashed: no draft");
      })
      .addEdge(START, "plan")
      .addEdge("plan", "research")
      .addEdge("research", "review")
      .addEdge("review", END)
      .compile({ checkpointer: saver });

  beforeAll(async () => {
    saver = await KeyvSaver.fromUrl(store);
    fake = await startFakeOpenAI();
    await expect(crashing().invoke({}, { configurable: { thread_id: "crash" } })).rejects.toThrow("reviewer crashed");
  });
  afterAll(async () => {
    await saver.close();
    await fake.close();
  });

  it("show --json has the failed node, the error's class and message, and what runs next, as getState() does", async () => {
    const state = await crashing().getState({ configurable: { thread_id: "crash" } });
    const r = await cli("show", "crash", "--store", store, "--json");
    expect(r.code).toBe(0);
    const shown = r.json();
    expect(shown).toMatchObject({
      status: "failed",
      next: state.next,
      error: { node: "review", name: "TypeError", message: "reviewer crashed: no draft" },
    });
    expect(state.tasks[0]).toMatchObject({ name: "review", error: { name: "TypeError" } });
    expect(shown.error.taskId).toBe(state.tasks[0]?.id);
  });

  it("show without --json says on stderr which node failed and why", async () => {
    const r = await cli("show", "crash", "--store", store);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('thread "crash" failed in review: TypeError: reviewer crashed: no draft');
  });

  it("history names the failed node and the error above its rows, and marks the row; --json carries them per row", async () => {
    const text = await cli("history", "crash", "--store", store);
    expect(text.stdout).toMatch(
      /status failed\n {2}failed in review: TypeError: reviewer crashed: no draft\n {2}next: review\n/,
    );
    const rows = (await cli("history", "crash", "--store", store, "--json")).json();
    expect(rows[0]).toMatchObject({ errors: [{ node: "review", name: "TypeError" }], next: ["review"] });
    expect(rows.slice(1).every((r: { errors: unknown[] }) => r.errors.length === 0)).toBe(true);
  });

  it("a run the budget refused shows status failed with BudgetExceededError in the node that called the model", async () => {
    const tracker = new CostTracker({ store: new Keyv() });
    const guard = new BudgetGuard({ tracker, limits: { thread: 0.000001 } });
    const model = new ChatOpenAI({
      model: "gpt-4o-2024-08-06",
      apiKey: "test",
      maxRetries: 0,
      maxTokens: 500,
      configuration: { baseURL: fake.baseURL },
    });
    const g = new StateGraph(State)
      .addNode("plan", () => ({ log: ["planned"] }))
      .addNode("answer", async (_s, c) => ({ log: [String((await model.invoke("hello", c)).content)] }))
      .addEdge(START, "plan")
      .addEdge("plan", "answer")
      .addEdge("answer", END)
      .compile({ checkpointer: saver });
    await expect(
      g.invoke({}, { configurable: { thread_id: "broke" }, callbacks: [tracker, guard] }),
    ).rejects.toMatchObject({ name: "BudgetExceededError" });
    expect(fake.requests).toHaveLength(0);
    const shown = (await cli("show", "broke", "--store", store, "--json")).json();
    expect(shown).toMatchObject({
      status: "failed",
      next: ["answer"],
      error: { node: "answer", name: "BudgetExceededError" },
    });
    const threads = (await cli("threads", "--store", store, "--json")).json() as Array<Record<string, unknown>>;
    expect(threads.find((t) => t.threadId === "broke")).toMatchObject({
      status: "failed",
      errors: [expect.objectContaining({ node: "answer", name: "BudgetExceededError" })],
    });
  });
});
