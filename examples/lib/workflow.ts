// The seed's three-step workflow (§4.1): step1 → step2 → step3 over { messages, current_step, result }.
// Each node counts its runs; `failures` makes a node throw on chosen attempts, like a flaky API call.

import { Annotation, END, START, StateGraph } from "@langchain/langgraph";
import type { BaseCheckpointSaver } from "@langchain/langgraph-checkpoint";

/** MyState of the seed: messages append, current_step and result are overwritten. */
export const MyState = Annotation.Root({
  messages: Annotation<string[]>({ reducer: (a, b) => a.concat(b), default: () => [] }),
  current_step: Annotation<number>(),
  result: Annotation<string>(),
  /** which version of step2 to run (branches, §5.3) */
  variant: Annotation<string>(),
});

export type Step = "step1" | "step2" | "step3";

export interface WorkflowOptions {
  /** Attempts (1-based) on which a node throws, e.g. `{ step2: [1] }`: the first step2 run fails. */
  failures?: Partial<Record<Step, number[]>>;
  /** Called when a node runs (for the narrative). */
  onRun?: (step: Step, attempt: number, state: typeof MyState.State) => void;
}

/** Builds and compiles the workflow; `runs` counts the executions of each node. */
export function buildWorkflow(checkpointer: BaseCheckpointSaver, options: WorkflowOptions = {}) {
  const runs: Record<Step, number> = { step1: 0, step2: 0, step3: 0 };
  const enter = (step: Step, state: typeof MyState.State) => {
    const attempt = ++runs[step];
    options.onRun?.(step, attempt, state);
    if (options.failures?.[step]?.includes(attempt)) {
      throw new Error(`${step} failed (attempt ${attempt}): upstream API timed out`);
    }
  };
  const graph = new StateGraph(MyState)
    .addNode("step1", (s) => {
      enter("step1", s);
      return { messages: ["step 1 done"], current_step: 1 };
    })
    .addNode("step2", (s) => {
      enter("step2", s);
      const v = s.variant ? ` (${s.variant})` : "";
      return { messages: [`step 2 done${v}`], current_step: 2 };
    })
    .addNode("step3", (s) => {
      enter("step3", s);
      return { messages: ["step 3 done"], current_step: 3, result: "task complete!" };
    })
    .addEdge(START, "step1")
    .addEdge("step1", "step2")
    .addEdge("step2", "step3")
    .addEdge("step3", END)
    .compile({ checkpointer });
  return { graph, runs };
}

/** The seed's initial state. */
export const initialState = { messages: [] as string[], current_step: 0, result: "" };
