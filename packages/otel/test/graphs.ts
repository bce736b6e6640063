import { tool } from "@langchain/core/tools";
import { Annotation, type BaseCheckpointSaver, MessagesAnnotation, StateGraph } from "@langchain/langgraph";
import { ToolNode, toolsCondition } from "@langchain/langgraph/prebuilt";
import { ChatOpenAI } from "@langchain/openai";
import { z } from "zod";

const add = tool(async ({ a, b }: { a: number; b: number }) => String(a + b), {
  name: "add",
  description: "Adds two numbers",
  schema: z.object({ a: z.number(), b: z.number() }),
});

/** A tool-calling agent: `agent` (ChatOpenAI against the fake server) ⇄ `tools` (ToolNode with `add`). */
export function agentGraph(baseURL: string, checkpointer: BaseCheckpointSaver) {
  const model = new ChatOpenAI({ model: "gpt-4o-mini", apiKey: "test", configuration: { baseURL } }).bindTools([add]);
  return new StateGraph(MessagesAnnotation)
    .addNode("agent", async (s, config) => ({ messages: [await model.invoke(s.messages, config)] }))
    .addNode("tools", new ToolNode([add]))
    .addEdge("__start__", "agent")
    .addConditionalEdges("agent", toolsCondition)
    .addEdge("tools", "agent")
    .compile({ checkpointer, name: "support-agent" });
}

/** A graph with no model: each step appends `bytes` characters to a list channel, `steps` times. */
export function growingGraph(checkpointer: BaseCheckpointSaver, bytes: number, steps: number) {
  const State = Annotation.Root({
    items: Annotation<string[]>({ reducer: (a, b) => a.concat(b), default: () => [] }),
    n: Annotation<number>({ reducer: (_a, b) => b, default: () => 0 }),
  });
  return new StateGraph(State)
    .addNode("grow", (s) => ({ items: ["x".repeat(bytes)], n: s.n + 1 }))
    .addEdge("__start__", "grow")
    .addConditionalEdges("grow", (s) => (s.n >= steps ? "__end__" : "grow"))
    .compile({ checkpointer });
}
