import { KeyvSaver } from "@graphkeep/keyv-saver";
import { Annotation, END, START, StateGraph } from "@langchain/langgraph";
import Keyv from "keyv";

// Found in review (fails on 94ad49b) (graph level): under LangGraph's default async durability, a superstep whose parallel tasks
// include a subgraph loses the stored pending writes of the tasks that finished before the subgraph's own
// writes: after a crash, those tasks run again on resume.

/** a Map-like store whose writes take a few ms, like a remote store */
class SlowMap extends Map<string, unknown> {
  async set2(k: string, v: unknown) {
    await new Promise((r) => setTimeout(r, 25));
    return super.set(k, v);
  }
}

it("every task's write of a superstep with a subgraph task is stored against its checkpoint (async durability)", async () => {
  const map = new SlowMap();
  const store = {
    get: async (k: string) => map.get(k),
    set: async (k: string, v: unknown) => {
      await map.set2(k, v);
      return true;
    },
    delete: async (k: string) => map.delete(k),
    clear: async () => map.clear(),
    has: async (k: string) => map.has(k),
  };
  const saver = new KeyvSaver(new Keyv({ store }));
  const Sub = Annotation.Root({ log: Annotation<string[]>({ reducer: (a, b) => [...a, ...b], default: () => [] }) });
  const sub = new StateGraph(Sub)
    .addNode("s1", () => ({ log: ["s1"] }))
    .addNode("s2", async () => {
      await new Promise((r) => setTimeout(r, 1));
      return { log: ["s2"] };
    })
    .addEdge(START, "s1")
    .addEdge("s1", "s2")
    .addEdge("s2", END)
    .compile();
  const State = Annotation.Root({ log: Annotation<string[]>({ reducer: (a, b) => [...a, ...b], default: () => [] }) });
  const graph = new StateGraph(State)
    .addNode("first", () => ({ log: ["first"] }))
    .addNode("a", () => ({ log: ["a"] }))
    .addNode("sub", sub)
    .addNode("join", () => ({ log: ["join"] }))
    .addNode("p1", () => ({ log: ["p1"] }))
    .addNode("p2", () => ({ log: ["p2"] }))
    .addNode("p3", () => ({ log: ["p3"] }))
    .addEdge(START, "p1")
    .addEdge("p1", "p2")
    .addEdge("p2", "p3")
    .addEdge("p3", "first")
    .addEdge("first", "a")
    .addEdge("first", "sub")
    .addEdge("a", "join")
    .addEdge("sub", "join")
    .addEdge("join", END)
    .compile({ checkpointer: saver });
  const config = { configurable: { thread_id: "t" } };
  await graph.invoke({ log: [] }, { ...config, durability: "async" as const });
  // the checkpoint after "first": its next tasks are "a" and "sub"; both finished, so both wrote
  const fresh = new KeyvSaver(saver.keyv);
  let found = false;
  for await (const t of fresh.list({ configurable: { thread_id: "t", checkpoint_ns: "" } })) {
    if (t.metadata?.step !== 4) continue;
    found = true;
    const writers = new Set(t.pendingWrites?.map((w) => w[0]));
    expect(writers.size).toBe(2); // one task id for "a", one for "sub"
  }
  expect(found).toBe(true);
});
