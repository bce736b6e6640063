import { randomUUID } from "node:crypto";
import { AIMessage, type BaseMessage } from "@langchain/core/messages";
import { Annotation, type BaseCheckpointSaver, END, START, StateGraph } from "@langchain/langgraph";
import { randomText } from "./helpers.js";

/** A string that must never appear in stored bytes when the serde encrypts. */
export const SECRET = "SECRET-4f7c1e9a-b2d8-4e6a-9c3f-8d1b5a7e2c60";

const State = Annotation.Root({
  steps: Annotation<string[]>({ reducer: (a, b) => a.concat(b), default: () => [] }),
  messages: Annotation<BaseMessage[]>({ reducer: (a, b) => a.concat(b), default: () => [] }),
});

/** s1 → s2 → … → s10: each step appends its name and a ~2 KB message carrying the secret. */
export function tenStepGraph(saver: BaseCheckpointSaver, interruptBefore: string[] = []) {
  let g = new StateGraph(State) as unknown as StateGraph<typeof State.spec, unknown, unknown, string>;
  for (let i = 1; i <= 10; i++) {
    g = g.addNode(`s${i}`, async () => ({
      steps: [`s${i}`],
      messages: [new AIMessage({ content: `step ${i}: ${SECRET} ${randomText(2000)}`, id: `m${i}` })],
    }));
  }
  g = g.addEdge(START, "s1");
  for (let i = 1; i < 10; i++) g = g.addEdge(`s${i}`, `s${i + 1}`);
  g = g.addEdge("s10", END);
  return g.compile({ checkpointer: saver, interruptBefore: interruptBefore as never });
}

export const newThread = () => ({ configurable: { thread_id: `thread-${randomUUID()}` } });

export const STEPS = Array.from({ length: 10 }, (_, i) => `s${i + 1}`);
