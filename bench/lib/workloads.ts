import { Annotation, type BaseCheckpointSaver, END, Send, START, StateGraph } from "@langchain/langgraph";
import type { WorkloadName } from "./args.js";
import { editText, randomText } from "./text.js";
import { CHAT_BYTES, DOC_EDIT_SPAN, DOC_EDITS, FANOUT, FANOUT_BYTES } from "./workload-info.js";

type State = Record<string, unknown>;
interface ThreadConfig {
  configurable: { thread_id: string };
}

/** The part of a compiled graph the bench uses. */
interface GraphLike {
  invoke(input: State, config: ThreadConfig): Promise<unknown>;
  getState(config: ThreadConfig): Promise<{ values: unknown }>;
  getStateHistory(config: ThreadConfig): AsyncIterableIterator<unknown>;
}

export interface Workload {
  name: WorkloadName;
  compile(checkpointer: BaseCheckpointSaver | undefined): GraphLike;
  /**
   * Input of one step. With a checkpointer the thread's state comes from the saver; without one the previous
   * output is passed back in (`carried`), so the baseline graph does the same work on the same state.
   */
  input(seed: number, carried: State | undefined): State;
  /** Payload bytes of a thread's final state (what a user would call "the content"). */
  logicalBytes(state: State): number;
  /** Why a thread's final state is not what `steps` steps must produce, or undefined when it is. */
  check(state: State, steps: number): string | undefined;
}

const concat = (a: string[], b: string[]) => a.concat(b);
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : []);
const bytesOf = (xs: string[]) => xs.reduce((n, s) => n + Buffer.byteLength(s), 0);
const num = (v: unknown) => (typeof v === "number" ? v : 0);

function lengthCheck(what: string, got: number, want: number): string | undefined {
  return got === want ? undefined : `${what}: expected ${want}, got ${got}`;
}

/** (a) and (c): each step one node appends ~1 KB of text to a list channel (concat reducer). */
function chat(name: "a" | "c"): Workload {
  const S = Annotation.Root({
    seed: Annotation<number>(),
    msgs: Annotation<string[]>({ reducer: concat, default: () => [] }),
  });
  return {
    name,
    compile: (checkpointer) =>
      new StateGraph(S)
        .addNode("append", (s) => ({ msgs: [randomText(s.seed, CHAT_BYTES)] }))
        .addEdge(START, "append")
        .addEdge("append", END)
        .compile({ checkpointer }),
    input: (seed, carried) => (carried ? { seed, msgs: strings(carried.msgs) } : { seed }),
    logicalBytes: (state) => bytesOf(strings(state.msgs)),
    check: (state, steps) => lengthCheck("messages", strings(state.msgs).length, steps),
  };
}

/** (b): a `docBytes` string channel, created by the first step and rewritten with small edits by every step. */
function doc(docBytes: number): Workload {
  const S = Annotation.Root({
    seed: Annotation<number>(),
    doc: Annotation<string>({ reducer: (_, b) => b, default: () => "" }),
  });
  return {
    name: "b",
    compile: (checkpointer) =>
      new StateGraph(S)
        .addNode("rewrite", (s) => ({
          doc: s.doc === "" ? randomText(s.seed, docBytes) : editText(s.doc, s.seed, DOC_EDITS, DOC_EDIT_SPAN),
        }))
        .addEdge(START, "rewrite")
        .addEdge("rewrite", END)
        .compile({ checkpointer }),
    input: (seed, carried) => (carried ? { seed, doc: String(carried.doc ?? "") } : { seed }),
    logicalBytes: (state) => (typeof state.doc === "string" ? Buffer.byteLength(state.doc) : 0),
    check: (state) => lengthCheck("document length", typeof state.doc === "string" ? state.doc.length : -1, docBytes),
  };
}

/** (d): every step fans out FANOUT parallel `Send` tasks, each appending a result (putWrites-heavy). */
function fanout(): Workload {
  const S = Annotation.Root({
    seed: Annotation<number>(),
    lane: Annotation<number>(),
    results: Annotation<string[]>({ reducer: concat, default: () => [] }),
  });
  return {
    name: "d",
    compile: (checkpointer) =>
      new StateGraph(S)
        .addNode("work", (s) => ({ results: [randomText(num(s.seed) * 31 + num(s.lane), FANOUT_BYTES)] }))
        .addConditionalEdges(
          START,
          (s) => Array.from({ length: FANOUT }, (_, lane) => new Send("work", { seed: s.seed, lane })),
          ["work"],
        )
        .addEdge("work", END)
        .compile({ checkpointer }),
    input: (seed, carried) => (carried ? { seed, results: strings(carried.results) } : { seed }),
    logicalBytes: (state) => bytesOf(strings(state.results)),
    check: (state, steps) => lengthCheck("results", strings(state.results).length, steps * FANOUT),
  };
}

export function workload(name: WorkloadName, docBytes: number): Workload {
  switch (name) {
    case "a":
    case "c":
      return chat(name);
    case "b":
      return doc(docBytes);
    case "d":
      return fanout();
  }
}
