import {
  Annotation,
  type BaseCheckpointSaver,
  END,
  INTERRUPT,
  type Interrupt,
  interrupt,
  isInterrupted,
  START,
  StateGraph,
} from "@langchain/langgraph";

// The small graphs the saver suites run on every backend (test/graphs.test.ts) and on the Redis Cluster
// (packages/keyv-saver/test/cluster.test.ts).

export const State = Annotation.Root({
  steps: Annotation<string[]>({ reducer: (a, b) => a.concat(b), default: () => [] }),
});
/** A subgraph's own channel, also declared on the parent so its result flows back. */
export const SubState = Annotation.Root({
  log: Annotation<string[]>({ reducer: (a, b) => a.concat(b), default: () => [] }),
});
export const ParentState = Annotation.Root({ ...State.spec, ...SubState.spec });

/** Calls per node name. */
export type Calls = Record<string, number>;

const counter = (calls: Calls) => (name: string) => {
  calls[name] = (calls[name] ?? 0) + 1;
};

/** a -> b -> c: each node appends its name and counts its calls. */
export function linearGraph(saver: BaseCheckpointSaver, calls: Calls = {}) {
  const count = counter(calls);
  const node = (name: string) => async () => {
    count(name);
    return { steps: [name] };
  };
  return new StateGraph(State)
    .addNode("a", node("a"))
    .addNode("b", node("b"))
    .addNode("c", node("c"))
    .addEdge(START, "a")
    .addEdge("a", "b")
    .addEdge("b", "c")
    .addEdge("c", END)
    .compile({ checkpointer: saver });
}

/** prep -> sub(s1 -> approve[interrupt("approve?")] -> s2) -> finish, counting node calls. */
export function approvalGraph(saver: BaseCheckpointSaver, calls: Calls) {
  const count = counter(calls);
  const sub = new StateGraph(SubState)
    .addNode("s1", async () => {
      count("s1");
      return { log: ["s1"] };
    })
    .addNode("approve", async () => {
      count("approve");
      return { log: [`approved:${interrupt<string, string>("approve?")}`] };
    })
    .addNode("s2", async () => {
      count("s2");
      return { log: ["s2"] };
    })
    .addEdge(START, "s1")
    .addEdge("s1", "approve")
    .addEdge("approve", "s2")
    .addEdge("s2", END)
    .compile();
  return new StateGraph(ParentState)
    .addNode("prep", async () => {
      count("prep");
      return { steps: ["prep"] };
    })
    .addNode("sub", sub)
    .addNode("finish", async () => {
      count("finish");
      return { steps: ["finish"] };
    })
    .addEdge(START, "prep")
    .addEdge("prep", "sub")
    .addEdge("sub", "finish")
    .addEdge("finish", END)
    .compile({ checkpointer: saver });
}

/** The interrupts an `invoke` returned with. */
export function interruptsOf(values: unknown): Interrupt[] {
  return isInterrupted(values) ? values[INTERRUPT] : [];
}
