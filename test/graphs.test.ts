import { randomUUID } from "node:crypto";
import { KeyvSaver } from "@graphkeep/keyv-saver";
import type { BaseMessage } from "@langchain/core/messages";
import { tool } from "@langchain/core/tools";
import { Command, END, interrupt, isInterrupted, START, StateGraph, type StateSnapshot } from "@langchain/langgraph";
import { createReactAgent } from "@langchain/langgraph/prebuilt";
import { ChatOpenAI } from "@langchain/openai";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { type Backend, backends } from "./helpers/backends.js";
import { type FakeOpenAI, startFakeOpenAI } from "./helpers/fake-openai.js";
import { approvalGraph, type Calls, interruptsOf, linearGraph, State } from "./helpers/graphs.js";

// Real LangGraph graphs (StateGraph, interrupts, subgraphs, the prebuilt ReAct agent) checkpointed by KeyvSaver,
// once per backend.

const newThread = () => ({ configurable: { thread_id: `thread-${randomUUID()}` } });
const threadOf = (config: { configurable: { thread_id: string } }) => config.configurable.thread_id;
const checkpointIdOf = (s: StateSnapshot) => s.config.configurable?.checkpoint_id as string;

async function historyOf(graph: ReturnType<typeof linearGraph>, config: object): Promise<StateSnapshot[]> {
  const out: StateSnapshot[] = [];
  for await (const s of graph.getStateHistory(config)) out.push(s);
  return out;
}

async function countCheckpoints(saver: KeyvSaver, threadId: string): Promise<{ all: number; ns: string[] }> {
  let all = 0;
  const ns: string[] = [];
  for await (const t of saver.list({ configurable: { thread_id: threadId } })) {
    all += 1;
    ns.push(t.config.configurable?.checkpoint_ns as string);
  }
  return { all, ns };
}

function textOf(m: BaseMessage | undefined): string {
  if (m === undefined) return "";
  return typeof m.content === "string" ? m.content : JSON.stringify(m.content);
}

/**
 * A fresh saver (own namespace) for each test of the calling describe. @keyv/postgres and @keyv/mysql share one
 * connection pool per process, which `close()` ends: savers must not outlive each other's `close()`.
 */
function perTestSaver(b: Backend): { readonly saver: KeyvSaver } {
  let current: KeyvSaver | undefined;
  beforeEach(() => {
    current = new KeyvSaver(b.keyv());
  });
  afterEach(async () => {
    await current?.close();
    current = undefined;
  });
  return {
    get saver() {
      if (current === undefined) throw new Error("no saver outside a test");
      return current;
    },
  };
}

function backendSuite(b: Backend) {
  describe("a node that fails", () => {
    const ctx = perTestSaver(b);
    it("makes invoke reject, and invoke(null) resumes at the failed node without re-running earlier nodes", async () => {
      const { saver } = ctx;
      const calls: Calls = {};
      let failures = 1;
      const count = (name: string) => {
        calls[name] = (calls[name] ?? 0) + 1;
      };
      const graph = new StateGraph(State)
        .addNode("a", async () => {
          count("a");
          return { steps: ["a"] };
        })
        .addNode("b", async () => {
          count("b");
          return { steps: ["b"] };
        })
        .addNode("flaky", async () => {
          count("flaky");
          if (failures-- > 0) throw new Error("flaky node: transient failure");
          return { steps: ["flaky"] };
        })
        .addNode("d", async () => {
          count("d");
          return { steps: ["d"] };
        })
        .addEdge(START, "a")
        .addEdge("a", "b")
        .addEdge("b", "flaky")
        .addEdge("flaky", "d")
        .addEdge("d", END)
        .compile({ checkpointer: saver });
      const config = newThread();

      await expect(graph.invoke({ steps: ["in"] }, config)).rejects.toThrow(/transient failure/);
      expect(calls).toEqual({ a: 1, b: 1, flaky: 1 });
      const failed = await graph.getState(config);
      expect(failed.next).toEqual(["flaky"]);
      expect(failed.values.steps).toEqual(["in", "a", "b"]);

      const out = await graph.invoke(null, config);
      expect(out.steps).toEqual(["in", "a", "b", "flaky", "d"]);
      expect(calls).toEqual({ a: 1, b: 1, flaky: 2, d: 1 });
      const done = await graph.getState(config);
      expect(done.next).toEqual([]);
      expect(done.values.steps).toEqual(["in", "a", "b", "flaky", "d"]);
    });

    it("keeps the writes of a parallel sibling that succeeded, so resuming does not run that sibling again", async () => {
      const { saver } = ctx;
      const calls: Calls = {};
      let failures = 1;
      const count = (name: string) => {
        calls[name] = (calls[name] ?? 0) + 1;
      };
      const graph = new StateGraph(State)
        .addNode("a", async () => {
          count("a");
          return { steps: ["a"] };
        })
        .addNode("ok", async () => {
          count("ok");
          return { steps: ["ok"] };
        })
        .addNode("flaky", async () => {
          count("flaky");
          // let the sibling finish (and its writes be saved) before failing
          await new Promise((r) => setTimeout(r, 20));
          if (failures-- > 0) throw new Error("flaky sibling: transient failure");
          return { steps: ["flaky"] };
        })
        .addNode("join", async () => {
          count("join");
          return { steps: ["join"] };
        })
        .addEdge(START, "a")
        .addEdge("a", "ok")
        .addEdge("a", "flaky")
        .addEdge(["ok", "flaky"], "join")
        .addEdge("join", END)
        .compile({ checkpointer: saver });
      const config = newThread();

      await expect(graph.invoke({ steps: [] }, config)).rejects.toThrow(/transient failure/);
      expect(calls).toEqual({ a: 1, ok: 1, flaky: 1 });
      const failed = await graph.getState(config);
      // the sibling's successful writes are stored as pending writes of the checkpoint
      expect(failed.tasks.find((t) => t.name === "ok")?.error).toBeUndefined();
      expect(failed.tasks.find((t) => t.name === "flaky")?.error).toBeDefined();

      const out = await graph.invoke(null, config);
      expect(calls).toEqual({ a: 1, ok: 1, flaky: 2, join: 1 });
      expect(out.steps[0]).toBe("a");
      expect([...out.steps.slice(1, 3)].sort()).toEqual(["flaky", "ok"]);
      expect(out.steps[3]).toBe("join");
      expect(out.steps).toHaveLength(4);
    });
  });

  describe("time travel", () => {
    const ctx = perTestSaver(b);
    it("replays from an earlier checkpoint: only the nodes after it run again, and the old branch stays readable", async () => {
      const { saver } = ctx;
      const calls: Calls = {};
      const graph = linearGraph(saver, calls);
      const config = newThread();
      await graph.invoke({ steps: [] }, config);
      expect(calls).toEqual({ a: 1, b: 1, c: 1 });

      const history = await historyOf(graph, config);
      // input, __start__, a, b, c
      expect(history.map((s) => s.values.steps)).toEqual([["a", "b", "c"], ["a", "b"], ["a"], [], []]);
      const originalFinal = history[0]!;
      const afterA = history.find((s) => s.next.length === 1 && s.next[0] === "b")!;
      expect(afterA.values.steps).toEqual(["a"]);

      const replayed = await graph.invoke(null, {
        configurable: { thread_id: threadOf(config), checkpoint_id: checkpointIdOf(afterA) },
      });
      expect(replayed.steps).toEqual(["a", "b", "c"]);
      expect(calls).toEqual({ a: 1, b: 2, c: 2 });

      const head = await graph.getState(config);
      expect(head.values.steps).toEqual(["a", "b", "c"]);
      expect(checkpointIdOf(head)).not.toBe(checkpointIdOf(originalFinal));
      // the new branch: a "fork" copy of the replayed checkpoint, then b and c
      const after = await historyOf(graph, config);
      expect(after).toHaveLength(history.length + 3);
      const byId = new Map(after.map((s) => [checkpointIdOf(s), s]));
      let cur: StateSnapshot | undefined = head;
      const chain: string[] = [];
      while (cur) {
        chain.push(checkpointIdOf(cur));
        const parent = cur.parentConfig?.configurable?.checkpoint_id as string | undefined;
        cur = parent === undefined ? undefined : byId.get(parent);
      }
      expect(chain.map((id) => byId.get(id)!.metadata?.source)).toEqual([
        "loop",
        "loop",
        "fork",
        "loop",
        "loop",
        "input",
      ]);
      expect(chain).toContain(checkpointIdOf(afterA));
      expect(chain).not.toContain(checkpointIdOf(originalFinal));

      const old = await graph.getState({
        configurable: { thread_id: threadOf(config), checkpoint_id: checkpointIdOf(originalFinal) },
      });
      expect(old.values.steps).toEqual(["a", "b", "c"]);
      expect(old.next).toEqual([]);
    });

    it("forks with updateState on an earlier checkpoint without touching the original branch", async () => {
      const { saver } = ctx;
      const calls: Calls = {};
      const graph = linearGraph(saver, calls);
      const config = newThread();
      const thread_id = threadOf(config);
      await graph.invoke({ steps: [] }, config);
      const original = await historyOf(graph, config);
      const originalFinal = original[0]!;
      const afterA = original.find((s) => s.next.length === 1 && s.next[0] === "b")!;

      const forkConfig = await graph.updateState(afterA.config, { steps: ["X"] });
      const forked = await graph.getState(forkConfig);
      expect(forked.values.steps).toEqual(["a", "X"]);
      expect(forked.next).toEqual(["b"]);
      expect(forked.parentConfig?.configurable?.checkpoint_id).toBe(checkpointIdOf(afterA));

      // the checkpoints of the original branch read back unchanged
      for (const s of original) {
        const again = await graph.getState({ configurable: { thread_id, checkpoint_id: checkpointIdOf(s) } });
        expect(again.values).toEqual(s.values);
        expect(again.next).toEqual(s.next);
      }

      // run the fork to the end: it writes new versions of `steps` from the same parent versions as the original
      const out = await graph.invoke(null, forkConfig);
      expect(out.steps).toEqual(["a", "X", "b", "c"]);
      expect(calls).toEqual({ a: 1, b: 2, c: 2 });
      expect((await graph.getState(config)).values.steps).toEqual(["a", "X", "b", "c"]);

      // fork versions did not collide with (overwrite) the original branch's channel values
      const stillOriginal = await graph.getState({
        configurable: { thread_id, checkpoint_id: checkpointIdOf(originalFinal) },
      });
      expect(stillOriginal.values.steps).toEqual(["a", "b", "c"]);
      for (const s of original) {
        const again = await graph.getState({ configurable: { thread_id, checkpoint_id: checkpointIdOf(s) } });
        expect(again.values).toEqual(s.values);
      }

      const all = await historyOf(graph, config);
      const ids = new Set(all.map(checkpointIdOf));
      for (const s of original) expect(ids.has(checkpointIdOf(s))).toBe(true);
      expect(ids.has(forkConfig.configurable?.checkpoint_id as string)).toBe(true);
      // fork checkpoint + b + c on the new branch
      expect(all).toHaveLength(original.length + 3);
      const finals = all.filter((s) => s.next.length === 0).map((s) => s.values.steps);
      expect(finals).toContainEqual(["a", "b", "c"]);
      expect(finals).toContainEqual(["a", "X", "b", "c"]);
    });
  });

  describe("interrupt and resume", () => {
    it("pauses at interrupt(), and a new saver over the same store resumes it with Command({ resume })", async () => {
      const calls: Calls = {};
      const build = (s: KeyvSaver) =>
        new StateGraph(State)
          .addNode("a", async () => {
            calls.a = (calls.a ?? 0) + 1;
            return { steps: ["a"] };
          })
          .addNode("ask", async () => {
            calls.ask = (calls.ask ?? 0) + 1;
            const answer = interrupt<string, string>("what is your name?");
            return { steps: [`hello ${answer}`] };
          })
          .addNode("c", async () => {
            calls.c = (calls.c ?? 0) + 1;
            return { steps: ["c"] };
          })
          .addEdge(START, "a")
          .addEdge("a", "ask")
          .addEdge("ask", "c")
          .addEdge("c", END)
          .compile({ checkpointer: s });

      const namespace = `t${randomUUID().replaceAll("-", "").slice(0, 12)}`;
      const firstKeyv = b.keyv(namespace);
      const first = new KeyvSaver(firstKeyv);
      const config = newThread();
      let firstOpen = true;
      let second: KeyvSaver | undefined;
      try {
        const paused = await build(first).invoke({ steps: [] }, config);
        expect(isInterrupted<string>(paused)).toBe(true);
        expect(interruptsOf(paused).map((i) => i.value)).toEqual(["what is your name?"]);
        expect(paused.steps).toEqual(["a"]);
        const pending = await build(first).getState(config);
        expect(pending.next).toEqual(["ask"]);
        expect(pending.tasks[0]?.interrupts[0]?.value).toBe("what is your name?");

        // a "restart": the memory store lives in the process, so reuse its Keyv; others reconnect
        if (b.name === "memory") {
          second = new KeyvSaver(firstKeyv);
        } else {
          firstOpen = false;
          await first.close();
          second = new KeyvSaver(b.keyv(namespace));
        }
        const graph2 = build(second);
        const seen = await graph2.getState(config);
        expect(seen.next).toEqual(["ask"]);
        expect(seen.values.steps).toEqual(["a"]);

        const out = await graph2.invoke(new Command({ resume: "Ada" }), config);
        expect(out.steps).toEqual(["a", "hello Ada", "c"]);
        expect(isInterrupted(out)).toBe(false);
        expect(calls).toEqual({ a: 1, ask: 2, c: 1 });
        const done = await graph2.getState(config);
        expect(done.next).toEqual([]);
        expect(done.values.steps).toEqual(["a", "hello Ada", "c"]);
      } finally {
        if (firstOpen) await first.close();
        await second?.close();
      }
    });
  });

  describe("subgraphs", () => {
    const ctx = perTestSaver(b);
    it("checkpoints a subgraph under its own checkpoint_ns and resumes an interrupt raised inside it", async () => {
      const { saver } = ctx;
      const calls: Calls = {};
      const graph = approvalGraph(saver, calls);
      const config = newThread();

      const paused = await graph.invoke({ steps: [] }, config);
      expect(interruptsOf(paused).map((i) => i.value)).toEqual(["approve?"]);

      const state = await graph.getState(config, { subgraphs: true });
      expect(state.next).toEqual(["sub"]);
      const subState = state.tasks[0]?.state as StateSnapshot | undefined;
      expect(subState).toBeDefined();
      expect(subState?.config.configurable?.checkpoint_ns).toMatch(/^sub:/);
      expect(subState?.values.log).toEqual(["s1"]);
      expect(subState?.next).toEqual(["approve"]);

      const { ns } = await countCheckpoints(saver, threadOf(config));
      expect(ns).toContain("");
      expect(ns.some((n) => n.startsWith("sub:"))).toBe(true);

      const out = await graph.invoke(new Command({ resume: "yes" }), config);
      expect(out.steps).toEqual(["prep", "finish"]);
      expect(out.log).toEqual(["s1", "approved:yes", "s2"]);
      expect(calls).toEqual({ prep: 1, s1: 1, approve: 2, s2: 1, finish: 1 });
      const done = await graph.getState(config);
      expect(done.next).toEqual([]);
    });
  });

  describe("durability", () => {
    const ctx = perTestSaver(b);
    it('finishes with the same state in "sync", "async" and "exit" modes, and "exit" stores fewer checkpoints', async () => {
      const { saver } = ctx;
      const counts: Record<string, number> = {};
      for (const durability of ["sync", "async", "exit"] as const) {
        const graph = linearGraph(saver);
        const config = newThread();
        const out = await graph.invoke({ steps: [durability] }, { ...config, durability });
        expect(out.steps).toEqual([durability, "a", "b", "c"]);
        const state = await graph.getState(config);
        expect(state.values.steps).toEqual([durability, "a", "b", "c"]);
        expect(state.next).toEqual([]);
        counts[durability] = (await countCheckpoints(saver, threadOf(config))).all;
      }
      expect(counts.sync).toBe(5);
      expect(counts.async).toBe(counts.sync);
      // only the final checkpoint
      expect(counts.exit).toBe(1);
      expect(counts.exit).toBeLessThan(counts.sync!);
    });
  });

  describe("concurrency", () => {
    const ctx = perTestSaver(b);
    it("runs 50 threads in parallel on one saver, each ending with its own state and full history", async () => {
      const { saver } = ctx;
      const graph = linearGraph(saver);
      const configs = Array.from({ length: 50 }, () => newThread());
      const outs = await Promise.all(configs.map((c, i) => graph.invoke({ steps: [`in-${i}`] }, c)));
      outs.forEach((o, i) => {
        expect(o.steps).toEqual([`in-${i}`, "a", "b", "c"]);
      });
      const states = await Promise.all(configs.map((c) => graph.getState(c)));
      states.forEach((s, i) => {
        expect(s.values.steps).toEqual([`in-${i}`, "a", "b", "c"]);
      });
      const histories = await Promise.all(configs.map((c) => historyOf(graph, c)));
      histories.forEach((h, i) => {
        expect(h).toHaveLength(5);
        expect(h[0]?.values.steps).toEqual([`in-${i}`, "a", "b", "c"]);
        expect(h.at(-1)?.values.steps).toEqual([]);
      });
    });
  });

  describe("prebuilt ReAct agent with ChatOpenAI", () => {
    const ctx = perTestSaver(b);
    let llm: FakeOpenAI;
    beforeAll(async () => {
      llm = await startFakeOpenAI();
    });
    afterAll(async () => {
      await llm?.close();
    });

    it("calls the tool, answers, and continues the conversation from the checkpointed messages", async () => {
      const { saver } = ctx;
      const toolCalls: string[] = [];
      const getWeather = tool(
        async ({ city }: { city: string }) => {
          toolCalls.push(city);
          return `sunny, 21 degrees in ${city}`;
        },
        {
          name: "get_weather",
          description: "Current weather of a city",
          schema: z.object({ city: z.string() }),
        },
      );
      const model = new ChatOpenAI({
        model: "gpt-4o-mini",
        apiKey: "test",
        configuration: { baseURL: llm.baseURL },
        maxRetries: 0,
      });
      const agent = createReactAgent({ llm: model, tools: [getWeather], checkpointSaver: saver });
      const config = newThread();
      const before = llm.requests.length;

      llm.enqueue(
        { toolCalls: [{ name: "get_weather", args: { city: "Paris" } }] },
        { content: "It is sunny in Paris." },
      );
      const first = await agent.invoke({ messages: [{ role: "user", content: "Weather in Paris?" }] }, config);
      expect(toolCalls).toEqual(["Paris"]);
      expect(llm.requests.length - before).toBe(2);
      expect(first.messages.map((m: BaseMessage) => m.getType())).toEqual(["human", "ai", "tool", "ai"]);
      expect(textOf(first.messages[2])).toContain("sunny, 21 degrees in Paris");
      expect(textOf(first.messages.at(-1))).toBe("It is sunny in Paris.");
      // the second model call saw the tool result
      const second = llm.requests[before + 1]!;
      expect(second.messages.map((m) => m.role)).toEqual(["user", "assistant", "tool"]);
      expect(second.tools?.map((t) => t.function.name)).toEqual(["get_weather"]);

      llm.enqueue({ content: "You asked about Paris." });
      const followUp = await agent.invoke({ messages: [{ role: "user", content: "What did I ask?" }] }, config);
      expect(followUp.messages).toHaveLength(first.messages.length + 2);
      expect(textOf(followUp.messages.at(-1))).toBe("You asked about Paris.");
      expect(toolCalls).toEqual(["Paris"]);
      // the model got the whole conversation, loaded from the checkpoint
      const third = llm.requests[before + 2]!;
      expect(third.messages.map((m) => m.role)).toEqual(["user", "assistant", "tool", "assistant", "user"]);
      expect(third.messages[0]?.content).toBe("Weather in Paris?");
      expect(third.messages[4]?.content).toBe("What did I ask?");

      // another thread starts empty
      llm.enqueue({ content: "Hello." });
      const other = await agent.invoke({ messages: [{ role: "user", content: "Hi" }] }, newThread());
      expect(other.messages).toHaveLength(2);
      expect(llm.requests[before + 3]?.messages.map((m) => m.role)).toEqual(["user"]);
      expect(llm.pending()).toBe(0);

      const state = await agent.getState(config);
      expect(state.values.messages).toHaveLength(6);
    });
  });
}

for (const b of backends) {
  describe.skipIf(!!b.skip)(`LangGraph graphs on KeyvSaver (${b.name})${b.skip ? ` — skipped: ${b.skip}` : ""}`, () => {
    backendSuite(b);
  });
}
