import { randomUUID } from "node:crypto";
import { CostTracker, withCostMetadata } from "@graphkeep/cost";
import { KeyvSaver, type KeyvSaverUrlOptions } from "@graphkeep/keyv-saver";
import { HumanMessage } from "@langchain/core/messages";
import { tool } from "@langchain/core/tools";
import { Annotation, Command, END, interrupt, MessagesAnnotation, START, StateGraph } from "@langchain/langgraph";
import { createReactAgent } from "@langchain/langgraph/prebuilt";
import { ChatOpenAI } from "@langchain/openai";
import { Keyv } from "keyv";
import { z } from "zod";
import { startFakeOpenAI } from "../../../test/helpers/fake-openai.js";

/** The threads {@link writeThreads} made. */
export interface Written {
  /** finished; has a branch: an `updateState` on its first agent checkpoint, resumed */
  branched: string;
  /** waits at an interrupt for an answer */
  waiting: string;
  /** the message the branch's edit appended */
  branchText: string;
}

/** The test graph (a model node through the real ChatOpenAI client, then a review that interrupts) on a store. */
async function openGraph(url: string, options: KeyvSaverUrlOptions) {
  const llm = await startFakeOpenAI((req) => ({
    content: `answer ${req.messages.length}`,
    usage: { prompt: 1200, completion: 300 },
  }));
  const saver = await KeyvSaver.fromUrl(url, options);
  const tracker = new CostTracker({ store: new Keyv() });
  const checkpointer = withCostMetadata(saver, tracker);
  const model = new ChatOpenAI({
    model: "gpt-4o-mini",
    apiKey: "scripted",
    maxRetries: 0,
    configuration: { baseURL: llm.baseURL },
  });
  const State = Annotation.Root({ ...MessagesAnnotation.spec, topic: Annotation<string> });
  const graph = new StateGraph(State)
    .addNode("agent", async (s, config) => ({ messages: [await model.invoke(s.messages, config)] }))
    .addNode("review", async () => {
      const answer = interrupt({ question: "approve the answer?" });
      return { messages: [new HumanMessage(`review: ${String(answer)}`)] };
    })
    .addEdge(START, "agent")
    .addEdge("agent", "review")
    .addEdge("review", END)
    .compile({ checkpointer });
  const close = async () => {
    await saver.close();
    await llm.close();
  };
  return { graph, tracker, close };
}

/**
 * Writes threads with a real LangGraph graph (a model node through the real ChatOpenAI client against the local
 * scripted OpenAI server, then a review node that interrupts) through KeyvSaver wrapped by withCostMetadata.
 */
export async function writeThreads(url: string, options: KeyvSaverUrlOptions = {}): Promise<Written> {
  const { graph, tracker, close } = await openGraph(url, options);
  try {
    const suffix = randomUUID().slice(0, 8);
    const branched = `support-${suffix}`;
    const waiting = `triage-${suffix}`;
    const cfg = (thread_id: string) => ({ configurable: { thread_id }, callbacks: [tracker] });

    await graph.invoke({ messages: [new HumanMessage("where is my order?")], topic: "orders" }, cfg(branched));
    await graph.invoke(new Command({ resume: "approved" }), cfg(branched));
    // a branch: edit the checkpoint after the agent's answer, then run on from it
    let afterAgent: { configurable?: Record<string, unknown> } | undefined;
    for await (const s of graph.getStateHistory(cfg(branched))) {
      if (s.next.includes("review") && afterAgent === undefined) afterAgent = s.config;
    }
    const branchText = "please also check the invoice";
    const edited = await graph.updateState(
      { ...afterAgent, callbacks: [tracker] },
      { messages: [new HumanMessage(branchText)] },
      "agent",
    );
    await graph.invoke(null, { ...edited, callbacks: [tracker] });
    await graph.invoke(new Command({ resume: "approved again" }), { ...cfg(branched) });

    await graph.invoke({ messages: [new HumanMessage("my parcel is damaged")], topic: "damage" }, cfg(waiting));
    return { branched, waiting, branchText };
  } finally {
    await close();
  }
}

/** Answers a thread's interrupt: the graph runs on and writes new checkpoints (another process would, too). */
export async function answer(url: string, options: KeyvSaverUrlOptions, threadId: string, text: string): Promise<void> {
  const { graph, tracker, close } = await openGraph(url, options);
  try {
    await graph.invoke(new Command({ resume: text }), { configurable: { thread_id: threadId }, callbacks: [tracker] });
  } finally {
    await close();
  }
}

/** Writes one thread of LangGraph's prebuilt ReAct agent: a tool call, its result, the answer. */
export async function writeToolThread(url: string, options: KeyvSaverUrlOptions = {}): Promise<string> {
  const llm = await startFakeOpenAI([
    { toolCalls: [{ name: "get_weather", args: { city: "Paris" } }] },
    { content: "It is sunny in Paris." },
  ]);
  const saver = await KeyvSaver.fromUrl(url, options);
  try {
    const model = new ChatOpenAI({
      model: "gpt-4o-mini",
      apiKey: "scripted",
      maxRetries: 0,
      configuration: { baseURL: llm.baseURL },
    });
    const getWeather = tool(async ({ city }: { city: string }) => `sunny, 21 degrees in ${city}`, {
      name: "get_weather",
      description: "the weather in a city",
      schema: z.object({ city: z.string() }),
    });
    const agent = createReactAgent({ llm: model, tools: [getWeather], checkpointSaver: saver });
    const threadId = `weather-${randomUUID().slice(0, 8)}`;
    await agent.invoke(
      { messages: [{ role: "user", content: "Weather in Paris?" }] },
      { configurable: { thread_id: threadId } },
    );
    return threadId;
  } finally {
    await saver.close();
    await llm.close();
  }
}
