import { randomUUID } from "node:crypto";
import { InvalidArgumentError, InvalidConfigError } from "@graphkeep/core";
import { CostTracker } from "@graphkeep/cost";
import { KeyvSaver } from "@graphkeep/keyv-saver";
import { memoryLease, withFencing, withThreadLease } from "@graphkeep/lease";
import { traceGraph } from "@graphkeep/otel";
import { type SaveEvent, withCheckpointPolicy } from "@graphkeep/policy";
import {
  Annotation,
  type BaseCheckpointSaver,
  Command,
  END,
  interrupt,
  MemorySaver,
  Send,
  START,
  StateGraph,
} from "@langchain/langgraph";
import { ChatOpenAI } from "@langchain/openai";
import Keyv from "keyv";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type FakeOpenAI, startFakeOpenAI } from "../../../test/helpers/fake-openai.js";
import { saverKinds } from "./savers.js";

const State = Annotation.Root({
  log: Annotation<string[]>({ reducer: (a, b) => a.concat(b), default: () => [] }),
  note: Annotation<string>({ reducer: (_a, b) => b, default: () => "" }),
  answer: Annotation<string>({ reducer: (_a, b) => b, default: () => "" }),
});

const NODES = ["a", "b", "c", "d"] as const;
type Hooks = Partial<Record<(typeof NODES)[number], () => Promise<void> | void>>;

/** a → b → c → d, each appending its name; `a` alone sets `note` (a channel later steps never touch). */
function pipeline(checkpointer: BaseCheckpointSaver, hooks: Hooks = {}) {
  const runs = { a: 0, b: 0, c: 0, d: 0 };
  const g = new StateGraph(State)
    .addNode("a", async () => {
      runs.a++;
      await hooks.a?.();
      return { log: ["a"], note: "set by a" };
    })
    .addNode("b", async () => {
      runs.b++;
      await hooks.b?.();
      return { log: ["b"] };
    })
    .addNode("c", async () => {
      runs.c++;
      await hooks.c?.();
      return { log: ["c"] };
    })
    .addNode("d", async () => {
      runs.d++;
      await hooks.d?.();
      return { log: ["d"] };
    })
    .addEdge(START, "a")
    .addEdge("a", "b")
    .addEdge("b", "c")
    .addEdge("c", "d")
    .addEdge("d", END)
    .compile({ checkpointer });
  return { graph: g, runs };
}

const cfg = (thread: string) => ({ configurable: { thread_id: thread } });

/** The stored history of the root graph (namespace ""), newest first: id, parent id, step. */
async function history(saver: BaseCheckpointSaver, thread: string) {
  const out: Array<{ id: string; parent: string | undefined; step: number }> = [];
  for await (const t of saver.list({ configurable: { thread_id: thread, checkpoint_ns: "" } })) {
    out.push({
      id: t.config.configurable?.checkpoint_id as string,
      parent: t.parentConfig?.configurable?.checkpoint_id as string | undefined,
      step: t.metadata?.step as number,
    });
  }
  return out;
}

/** Every stored checkpoint's parent is the next older stored one; the oldest has none. */
function expectChain(h: Array<{ id: string; parent: string | undefined }>) {
  for (let i = 0; i < h.length; i++) expect(h[i]?.parent).toBe(h[i + 1]?.id);
}

for (const kind of saverKinds) {
  describe.skipIf(kind.skip)(`withCheckpointPolicy on ${kind.name}`, () => {
    let saver: BaseCheckpointSaver;
    let close: () => Promise<void>;
    beforeAll(async () => {
      ({ saver, close } = await kind.open());
    });
    afterAll(async () => {
      await close();
    });

    it("saveOn stores only the input, the checkpoints after the named nodes and the run's last one; state and history read as without a policy", async () => {
      const thread = randomUUID();
      const events: SaveEvent[] = [];
      const { graph } = pipeline(saver);
      const policed = withCheckpointPolicy(graph, { saveOn: ["b"], onSave: (e) => events.push(e) });
      const out = await policed.invoke({ log: [] }, cfg(thread));
      expect(out.log).toEqual(["a", "b", "c", "d"]);

      const h = await history(saver, thread);
      // without a policy: input (-1), __start__ (0), a (1), b (2), c (3), d (4)
      expect(h.map((x) => x.step)).toEqual([4, 2, -1]);
      expectChain(h);
      expect(events.map((e) => e.reason)).toEqual(["source", "saveOn", "end"]);
      expect(events.map((e) => e.skipped)).toEqual([0, 2, 1]);

      // the values a held step wrote (note, by a) are in every later stored checkpoint
      const reference = pipeline(new MemorySaver()).graph;
      await reference.invoke({ log: [] }, cfg(thread));
      const expected = (await reference.getState(cfg(thread))).values;
      const state = await policed.getState(cfg(thread));
      expect(state.values).toEqual(expected);
      expect(state.next).toEqual([]);
      const snapshots = [];
      for await (const s of policed.getStateHistory(cfg(thread))) snapshots.push(s.values);
      expect(snapshots).toEqual([
        expected,
        { log: ["a", "b"], note: "set by a", answer: "" },
        { log: [], note: "", answer: "" },
      ]);
    });

    it("a subgraph's checkpoints are stored as usual and an interrupt inside it resumes through the parent", async () => {
      const thread = randomUUID();
      const inner = new StateGraph(State)
        .addNode("x", () => ({ log: ["x"] }))
        .addNode("ask", () => ({ answer: String(interrupt("inner?")) }))
        .addEdge(START, "x")
        .addEdge("x", "ask")
        .addEdge("ask", END)
        .compile();
      const outerOn = (checkpointer: BaseCheckpointSaver) =>
        new StateGraph(State)
          .addNode("a", () => ({ log: ["a"] }))
          .addNode("sub", inner)
          .addNode("z", () => ({ log: ["z"] }))
          .addEdge(START, "a")
          .addEdge("a", "sub")
          .addEdge("sub", "z")
          .addEdge("z", END)
          .compile({ checkpointer });
      const reference = outerOn(new MemorySaver());
      await reference.invoke({ log: [] }, cfg(thread));
      const expected = await reference.invoke(new Command({ resume: "deep" }), cfg(thread));

      const outer = outerOn(saver);
      const policed = withCheckpointPolicy(outer, {});
      await policed.invoke({ log: [] }, cfg(thread));
      const paused = await outer.getState(cfg(thread), { subgraphs: true });
      expect(paused.next).toEqual(["sub"]);
      expect(paused.tasks[0]?.interrupts[0]?.value).toBe("inner?");
      const out = await policed.invoke(new Command({ resume: "deep" }), cfg(thread));
      expect(out).toEqual(expected);
      expect(out.answer).toBe("deep");
      expectChain(await history(saver, thread));
    });

    it("a fan-out with one failing Send task stores the others' results; invoke(null) re-runs only the failed one", async () => {
      const thread = randomUUID();
      const ran: number[] = [];
      let fail = true;
      const g = new StateGraph(State)
        .addNode("plan", () => ({ log: ["plan"] }))
        .addNode("work", (s: { i: number }) => {
          ran.push(s.i);
          if (s.i === 3 && fail) {
            fail = false;
            throw new Error("task 3 failed");
          }
          return { log: [`w${s.i}`] };
        })
        .addNode("done", () => ({ log: ["done"] }))
        .addEdge(START, "plan")
        .addConditionalEdges("plan", () => [0, 1, 2, 3, 4].map((i) => new Send("work", { i })))
        .addEdge("work", "done")
        .addEdge("done", END)
        .compile({ checkpointer: saver });
      const policed = withCheckpointPolicy(g, { saveOn: ["done"] });
      await expect(policed.invoke({ log: [] }, cfg(thread))).rejects.toThrow("task 3 failed");
      const out = await policed.invoke(null, cfg(thread));
      expect(ran.sort()).toEqual([0, 1, 2, 3, 3, 4]);
      expect([...out.log].sort()).toEqual(["done", "plan", "w0", "w1", "w2", "w3", "w4"]);
      expectChain(await history(saver, thread));
    });

    it('with durability "async" the same checkpoints are stored, and a failure still stores the latest', async () => {
      const thread = randomUUID();
      await withCheckpointPolicy(pipeline(saver).graph, { saveOn: ["b"] }).invoke(
        { log: [] },
        { ...cfg(thread), durability: "async" },
      );
      const h = await history(saver, thread);
      expect(h.map((x) => x.step)).toEqual([4, 2, -1]);
      expectChain(h);

      const failing = randomUUID();
      const { graph } = pipeline(saver, {
        d: () => {
          throw new Error("late failure");
        },
      });
      await expect(
        withCheckpointPolicy(graph, { saveOn: ["a"] }).invoke({ log: [] }, { ...cfg(failing), durability: "async" }),
      ).rejects.toThrow("late failure");
      const state = await graph.getState(cfg(failing));
      expect(state.next).toEqual(["d"]);
      expect(state.values.log).toEqual(["a", "b", "c"]);
      expectChain(await history(saver, failing));
    });

    it("a node failing mid-run stores the latest checkpoint with the error; invoke(null) resumes without re-running finished nodes", async () => {
      const thread = randomUUID();
      let fail = true;
      const { graph, runs } = pipeline(saver, {
        c: () => {
          if (fail) throw new Error("provider timeout");
        },
      });
      const policed = withCheckpointPolicy(graph, { saveOn: ["d"] });
      await expect(policed.invoke({ log: [] }, cfg(thread))).rejects.toThrow("provider timeout");
      const state = await policed.getState(cfg(thread));
      expect(state.next).toEqual(["c"]);
      expect(state.values.log).toEqual(["a", "b"]);
      expect(state.tasks[0]?.error).toBeDefined();
      expectChain(await history(saver, thread));

      fail = false;
      const out = await policed.invoke(null, cfg(thread));
      expect(out.log).toEqual(["a", "b", "c", "d"]);
      expect(runs).toEqual({ a: 1, b: 1, c: 2, d: 1 });
      const h = await history(saver, thread);
      expect(h.map((x) => x.step)).toEqual([4, 2, -1]);
      expectChain(h);
    });

    it("interrupt() stores the interrupted step; Command({ resume }) finishes it on a new graph object", async () => {
      const thread = randomUUID();
      const g = new StateGraph(State)
        .addNode("a", () => ({ log: ["a"] }))
        .addNode("ask", () => ({ answer: String(interrupt("approve?")) }))
        .addNode("b", () => ({ log: ["b"] }))
        .addEdge(START, "a")
        .addEdge("a", "ask")
        .addEdge("ask", "b")
        .addEdge("b", END)
        .compile({ checkpointer: saver });
      const policed = withCheckpointPolicy(g, {});
      const first = await policed.invoke({ log: [] }, cfg(thread));
      expect((first as { __interrupt__?: Array<{ value: unknown }> }).__interrupt__?.[0]?.value).toBe("approve?");
      const state = await g.getState(cfg(thread));
      expect(state.next).toEqual(["ask"]);
      expect(state.tasks[0]?.interrupts[0]?.value).toBe("approve?");

      const again = withCheckpointPolicy(
        new StateGraph(State)
          .addNode("a", () => ({ log: ["a"] }))
          .addNode("ask", () => ({ answer: String(interrupt("approve?")) }))
          .addNode("b", () => ({ log: ["b"] }))
          .addEdge(START, "a")
          .addEdge("a", "ask")
          .addEdge("ask", "b")
          .addEdge("b", END)
          .compile({ checkpointer: saver }),
        {},
      );
      const out = await again.invoke(new Command({ resume: "yes" }), cfg(thread));
      expect(out).toMatchObject({ log: ["a", "b"], answer: "yes" });
      expectChain(await history(saver, thread));
    });

    it("a run that dies mid-step re-runs only the steps since the last stored checkpoint", async () => {
      const thread = randomUUID();
      // c never returns: the process is as good as dead (nothing after it is written)
      const { graph } = pipeline(saver, { c: () => new Promise<void>(() => undefined) });
      void withCheckpointPolicy(graph, { saveOn: ["a"] }).invoke({ log: [] }, cfg(thread));
      await new Promise((r) => setTimeout(r, 300));

      const fresh = pipeline(saver);
      const out = await fresh.graph.invoke(null, cfg(thread));
      expect(out.log).toEqual(["a", "b", "c", "d"]);
      // stored: the input and the checkpoint after a, with b's writes against it (b finished): only c and d run
      expect(fresh.runs).toEqual({ a: 0, b: 0, c: 1, d: 1 });
    });

    it("every: 0 stores every step, every: 1h only the input and the end; a stream stores its end when read to the end", async () => {
      const all = randomUUID();
      await withCheckpointPolicy(pipeline(saver).graph, { every: 0 }).invoke({ log: [] }, cfg(all));
      expect((await history(saver, all)).map((x) => x.step)).toEqual([4, 3, 2, 1, 0, -1]);

      const few = randomUUID();
      const chunks = [];
      const stream = await withCheckpointPolicy(pipeline(saver).graph, { every: "1h" }).stream(
        { log: [] },
        { ...cfg(few), streamMode: "updates" },
      );
      for await (const c of stream) chunks.push(c);
      expect(chunks).toHaveLength(4);
      const h = await history(saver, few);
      expect(h.map((x) => x.step)).toEqual([4, -1]);
      expectChain(h);
      expect((await saver.getTuple(cfg(few)))?.checkpoint.channel_values).toMatchObject({ note: "set by a" });
    });
  });
}

describe("withCheckpointPolicy: spend and arguments", () => {
  let fake: FakeOpenAI | undefined;
  afterEach(async () => {
    await fake?.close();
    fake = undefined;
  });

  it("whenCostOver stores the checkpoint after the model spend since the last save passes the limit", async () => {
    const server = await startFakeOpenAI((req) => ({
      content: `re: ${String(req.messages.at(-1)?.content).slice(0, 10)}`,
      // gpt-4o: 1000 prompt + 1000 completion tokens = $0.0125 per call
      usage: { prompt: 1000, completion: 1000 },
    }));
    fake = server;
    const model = new ChatOpenAI({
      model: "gpt-4o-2024-08-06",
      apiKey: "test",
      maxRetries: 0,
      configuration: { baseURL: server.baseURL },
    });
    const tracker = new CostTracker({ store: new Keyv() });
    const saver = new MemorySaver();
    const g = new StateGraph(State)
      .addNode("think", async (s, c) => ({ log: [String((await model.invoke(`step ${s.log.length}`, c)).content)] }))
      .addEdge(START, "think")
      .addConditionalEdges("think", (s) => (s.log.length >= 6 ? END : "think"))
      .compile({ checkpointer: saver });
    const events: SaveEvent[] = [];
    const thread = randomUUID();
    const policed = withCheckpointPolicy(g, { whenCostOver: 0.02, tracker, onSave: (e) => events.push(e) });
    await policed.invoke({ log: [] }, { ...cfg(thread), callbacks: [tracker] });
    expect(server.requests).toHaveLength(6);
    // $0.0125 per step (steps 1–6): every second step passes $0.02
    expect(events.map((e) => `${e.reason}@${e.step}`)).toEqual(["source@-1", "cost@2", "cost@4", "cost@6"]);
    expectChain(await history(saver, thread));
  });

  it("composes with withFencing, traceGraph and withThreadLease: a leased, fenced, traced run stores what the policy selects", async () => {
    const lease = memoryLease();
    const saver = withFencing(new KeyvSaver(new Keyv()), lease);
    const thread = randomUUID();
    const guarded = withThreadLease(traceGraph(withCheckpointPolicy(pipeline(saver).graph, { saveOn: ["c"] })), lease);
    const out = await guarded.invoke({ log: [] }, cfg(thread));
    expect(out.log).toEqual(["a", "b", "c", "d"]);
    const h = await history(saver, thread);
    expect(h.map((x) => x.step)).toEqual([4, 3, -1]);
    expectChain(h);
    // while another run holds the thread, a write with a stale fencing token is refused through the run saver
    const holder = await lease.acquire(thread);
    const stale = withCheckpointPolicy(pipeline(saver).graph, {});
    await expect(
      stale.invoke({ log: ["late"] }, { configurable: { thread_id: thread, __graphkeep_fence: holder.token - 1 } }),
    ).rejects.toThrow(/lease|fenc/i);
    await lease.release(holder, { state: "done" });
  });

  it("streamEvents stores the run's end when its iteration ends; a stream returned early stores its latest checkpoint", async () => {
    const saver = new MemorySaver();
    const thread = randomUUID();
    const policed = withCheckpointPolicy(pipeline(saver).graph, { saveOn: ["b"] });
    let events = 0;
    for await (const _ of policed.streamEvents({ log: [] }, { ...cfg(thread), version: "v2" })) events++;
    expect(events).toBeGreaterThan(0);
    expect((await history(saver, thread)).map((x) => x.step)).toEqual([4, 2, -1]);

    const early = randomUUID();
    const stream = await policed.stream({ log: [] }, { ...cfg(early), streamMode: "updates" });
    for await (const chunk of stream) if ("c" in (chunk as object)) break;
    const h = await history(saver, early);
    expect(h[0]?.step).toBeGreaterThanOrEqual(2);
    expectChain(h);
  });

  it("refuses a graph without checkpointer, unknown saveOn nodes, bad intervals, a second policy and a run without thread_id", async () => {
    const { graph } = pipeline(new MemorySaver());
    expect(() => withCheckpointPolicy(pipeline(undefined as never).graph, {})).toThrow(InvalidArgumentError);
    expect(() => withCheckpointPolicy(graph, { saveOn: ["analyse"] })).toThrow(/saveOn names no node.*analyse/);
    expect(() => withCheckpointPolicy(graph, { every: "soon" })).toThrow(InvalidArgumentError);
    expect(() => withCheckpointPolicy(graph, { whenCostOver: 0.1 })).toThrow(/needs tracker/);
    const once = withCheckpointPolicy(graph, {});
    expect(() => withCheckpointPolicy(once, {})).toThrow(/already has a checkpoint policy/);
    await expect(once.invoke({ log: [] }, {})).rejects.toThrow(InvalidConfigError);
  });
});
