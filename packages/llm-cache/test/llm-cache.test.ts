import { randomUUID } from "node:crypto";
import { KeyvSaver } from "@graphkeep/keyv-saver";
import { KeyvLLMCache } from "@graphkeep/llm-cache";
import {
  type AIMessage,
  type BaseMessage,
  HumanMessage,
  isAIMessage,
  type ToolMessage,
} from "@langchain/core/messages";
import type { Generation } from "@langchain/core/outputs";
import { tool } from "@langchain/core/tools";
import { END, MemorySaver, MessagesAnnotation, START, StateGraph } from "@langchain/langgraph";
import { ToolNode } from "@langchain/langgraph/prebuilt";
import { ChatOpenAI } from "@langchain/openai";
import type Keyv from "keyv";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { z } from "zod";
import { backends } from "../../../test/helpers/backends.js";
import { type FakeOpenAI, startFakeOpenAI } from "../../../test/helpers/fake-openai.js";
import { picture } from "./messages.js";

const getWeather = tool(async ({ city }: { city: string }) => `sunny, 21 degrees in ${city}`, {
  name: "get_weather",
  description: "Current weather of a city",
  schema: z.object({ city: z.string() }),
});

const thread = () => ({ configurable: { thread_id: `thread-${randomUUID()}` } });

/** llm -> (tools -> llm)* -> END, the node passing its `config` to the model as LangGraph docs show. */
function agentGraph(model: ChatOpenAI) {
  const bound = model.bindTools([getWeather]);
  return new StateGraph(MessagesAnnotation)
    .addNode("llm", async (s, config) => ({ messages: [await bound.invoke(s.messages, config)] }))
    .addNode("tools", new ToolNode([getWeather]))
    .addEdge(START, "llm")
    .addConditionalEdges("llm", (s) => {
      const last = s.messages.at(-1);
      return last !== undefined && isAIMessage(last) && (last.tool_calls?.length ?? 0) > 0 ? "tools" : END;
    })
    .addEdge("tools", "llm")
    .compile({ checkpointer: new MemorySaver() });
}

/**
 * What a user compares between two runs: the model's answers (ids and tool calls included) and the tool results.
 * Human and tool message ids are random per run (LangGraph and ToolNode assign them), so those are left out.
 */
function conversation(messages: BaseMessage[]) {
  return messages
    .filter((m) => m.getType() !== "human")
    .map((m) => ({
      type: m.getType(),
      id: isAIMessage(m) ? m.id : undefined,
      tool_call_id: m.getType() === "tool" ? (m as ToolMessage).tool_call_id : undefined,
      content: m.content,
      tool_calls: isAIMessage(m) ? m.tool_calls : undefined,
      additional_kwargs: m.additional_kwargs,
    }));
}

/** Records the raw llm key of every lookup and the store key of every update. */
class RecordingCache extends KeyvLLMCache {
  readonly keys: string[] = [];
  readonly llmKeys: string[] = [];
  override async lookup(prompt: string, llmKey: string): Promise<Generation[] | null> {
    this.llmKeys.push(llmKey);
    return super.lookup(prompt, llmKey);
  }
  override async update(prompt: string, llmKey: string, value: Generation[]): Promise<void> {
    this.keys.push(this.keyFor(prompt, llmKey));
    await super.update(prompt, llmKey, value);
  }
}

for (const b of backends) {
  describe.skipIf(!!b.skip)(`KeyvLLMCache on ${b.name}${b.skip ? ` — skipped: ${b.skip}` : ""}`, () => {
    let llm: FakeOpenAI;
    let keyv: Keyv;
    const chat = (cache: KeyvLLMCache, fields: Partial<ConstructorParameters<typeof ChatOpenAI>[0] & object> = {}) =>
      new ChatOpenAI({
        model: "gpt-4o-mini",
        apiKey: "sk-test-1",
        temperature: 0,
        maxRetries: 0,
        cache,
        configuration: { baseURL: llm.baseURL },
        ...fields,
      });

    // a fresh server per test: replies one test leaves unconsumed never reach the next
    beforeEach(async () => {
      llm = await startFakeOpenAI();
      keyv = b.keyv();
    });
    afterEach(async () => {
      vi.restoreAllMocks();
      await keyv.clear().catch(() => undefined);
      await keyv.disconnect().catch(() => undefined);
      await llm.close();
    });

    it("a graph node calling model.invoke(messages, config) hits on a second thread: 0 requests, identical messages", async () => {
      const cache = new RecordingCache(keyv);
      const graph = agentGraph(chat(cache));
      const input = { messages: [{ role: "user", content: "Weather in Paris?" }] };
      llm.enqueue({ toolCalls: [{ name: "get_weather", args: { city: "Paris" } }] }, { content: "Sunny in Paris." });

      const before = llm.requests.length;
      const first = await graph.invoke(input, thread());
      expect(llm.requests.length - before).toBe(2);

      const second = await graph.invoke(input, thread());
      expect(llm.requests.length - before).toBe(2);
      expect(conversation(second.messages)).toEqual(conversation(first.messages));
      const ai = second.messages[1] as AIMessage;
      expect(ai.tool_calls).toEqual([expect.objectContaining({ name: "get_weather", args: { city: "Paris" } })]);
      expect(ai.response_metadata.cache).toMatchObject({ hit: true });
      expect(second.messages.at(-1)?.content).toBe("Sunny in Paris.");
      expect(cache.stats()).toMatchObject({ hits: 2, misses: 2 });
      // LangChain's raw key differed between the threads (why its InMemoryCache never hits here)
      const [rawFirst, , rawSecond] = cache.llmKeys;
      expect(rawFirst).toMatch(/executionInfo:\{.*"threadId":"thread-/);
      expect(rawSecond).not.toBe(rawFirst);
    });

    it("a node that fails after its model call and is resumed with invoke(null) does not pay for the call again", async () => {
      const cache = new KeyvLLMCache(keyv);
      const model = chat(cache);
      let crash = true;
      const graph = new StateGraph(MessagesAnnotation)
        .addNode("llm", async (s, config) => {
          const answer = await model.invoke(s.messages, config);
          if (crash) {
            crash = false;
            throw new Error("output parser crashed");
          }
          return { messages: [answer] };
        })
        .addEdge(START, "llm")
        .addEdge("llm", END)
        .compile({ checkpointer: new MemorySaver() });
      const config = thread();
      llm.enqueue({ content: "42" });

      const before = llm.requests.length;
      await expect(graph.invoke({ messages: [{ role: "user", content: "The answer?" }] }, config)).rejects.toThrow(
        "output parser crashed",
      );
      expect(llm.requests.length - before).toBe(1);
      const resumed = await graph.invoke(null, config);
      expect(llm.requests.length - before).toBe(1);
      expect(resumed.messages.at(-1)?.content).toBe("42");
    });

    // LangChain's prompt string renders a fresh AIMessage as "AI: <text>undefined" but the same message revived from
    // a checkpoint as "AI: <text>": normalizePrompt drops that artefact, or the second call of a rewound run would miss.
    it("a rewound thread re-runs its cached steps for free, and an edited prompt costs exactly one request", async () => {
      const cache = new KeyvLLMCache(keyv);
      const model = chat(cache);
      const saver = new KeyvSaver(b.keyv());
      const graph = new StateGraph(MessagesAnnotation)
        .addNode("plan", async (s, config) => ({ messages: [await model.invoke(s.messages, config)] }))
        .addNode("write", async (s, config) => ({ messages: [await model.invoke(s.messages, config)] }))
        .addEdge(START, "plan")
        .addEdge("plan", "write")
        .addEdge("write", END)
        .compile({ checkpointer: saver });
      const config = thread();
      llm.enqueue({ content: "plan: three parts" }, { content: "draft v1" }, { content: "draft v2" });
      const before = llm.requests.length;
      const sent = () => llm.requests.length - before;
      try {
        const first = await graph.invoke({ messages: [{ role: "user", content: "Write a haiku" }] }, config);
        expect(sent()).toBe(2);
        const history = [];
        for await (const snapshot of graph.getStateHistory(config)) history.push(snapshot);
        const beforeWrite = history.find((h) => h.next.includes("write"))!;
        const beforePlan = history.find((h) => h.next.includes("plan"))!;

        // rewind to before "plan" and run again: both model calls are served from the cache
        const replay = await graph.invoke(null, beforePlan.config);
        expect(sent()).toBe(2);
        expect(replay.messages.map((m) => m.content)).toEqual(first.messages.map((m) => m.content));

        // fork before "write" with an edited prompt: "write" is a new call, "plan" is not re-run
        const edited = await graph.updateState(beforeWrite.config, {
          messages: [new HumanMessage("Make it about rain")],
        });
        const fork = await graph.invoke(null, edited);
        expect(sent()).toBe(3);
        expect(fork.messages.at(-1)?.content).toBe("draft v2");
      } finally {
        await saver.keyv.clear().catch(() => undefined);
        await saver.close().catch(() => undefined);
      }
    });

    it("a different temperature, model or tool set is a different entry; a different apiKey is the same one", async () => {
      const cache = new KeyvLLMCache(keyv);
      const ask = (model: { invoke(input: string): Promise<unknown> }) => model.invoke("Say hi");
      const before = llm.requests.length;
      const sent = () => llm.requests.length - before;
      llm.enqueue({ content: "hi 1" }, { content: "hi 2" }, { content: "hi 3" }, { content: "hi 4" });

      await ask(chat(cache));
      expect(sent()).toBe(1);
      await ask(chat(cache));
      await ask(chat(cache, { apiKey: "sk-another-key" }));
      expect(sent()).toBe(1);
      await ask(chat(cache, { temperature: 0.7 }));
      expect(sent()).toBe(2);
      await ask(chat(cache, { model: "gpt-4.1" }));
      expect(sent()).toBe(3);
      await ask(chat(cache).bindTools([getWeather]));
      expect(sent()).toBe(4);
      await ask(chat(cache, { apiKey: "sk-third-key" }).bindTools([getWeather]));
      expect(sent()).toBe(4);
    });

    it("hits report zero usage and the saved usage, and never change the usage of the paid response", async () => {
      const hits: unknown[] = [];
      const cache = new KeyvLLMCache(keyv, { onHit: (info) => hits.push(info) });
      const model = chat(cache);
      llm.enqueue({ content: "paid" });

      const paid = await model.invoke("What costs tokens?");
      const paidUsage = structuredClone(paid.usage_metadata);
      expect(paidUsage).toMatchObject({ input_tokens: 10, output_tokens: 5, total_tokens: 15 });
      expect(paid.response_metadata.cache).toBeUndefined();

      const hit1 = await model.invoke("What costs tokens?");
      const hit2 = await model.invoke("What costs tokens?");
      expect(hit1.content).toBe("paid");
      expect(hit1.usage_metadata).toEqual({ input_tokens: 0, output_tokens: 0, total_tokens: 0 });
      expect(hit1.response_metadata.cache).toEqual({
        hit: true,
        savedUsage: expect.objectContaining({ input_tokens: 10, output_tokens: 5, total_tokens: 15 }),
      });
      expect(hit2).not.toBe(hit1);
      expect(paid.usage_metadata).toEqual(paidUsage);
      expect(hit1.usage_metadata?.total_tokens).toBe(0);
      expect(cache.stats()).toEqual({
        hits: 2,
        misses: 1,
        rejected: 0,
        replayedStreams: 0,
        savedInputTokens: 20,
        savedOutputTokens: 10,
      });
      expect(hits).toEqual([
        expect.objectContaining({ namespace: "llm", savedUsage: expect.objectContaining({ input_tokens: 10 }) }),
        expect.objectContaining({ namespace: "llm" }),
      ]);
    });

    it("a corrupt entry is a miss with one warning, and the next answer replaces it", async () => {
      const cache = new RecordingCache(keyv);
      const model = chat(cache);
      const warn = vi.spyOn(process, "emitWarning").mockImplementation(() => undefined);
      llm.enqueue({ content: "first" }, { content: "second" });
      const before = llm.requests.length;

      await model.invoke("Corrupt me");
      const key = cache.keys[0];
      expect(key).toBeDefined();
      await keyv.set(key as string, "{not json");

      const again = await model.invoke("Corrupt me");
      expect(llm.requests.length - before).toBe(2);
      expect(again.content).toBe("second");
      expect(warn).toHaveBeenCalledTimes(1);
      expect(warn.mock.calls[0]?.[1]).toMatchObject({ code: "GRAPHKEEP_LLM_CACHE_CORRUPT" });

      const replaced = await model.invoke("Corrupt me");
      expect(llm.requests.length - before).toBe(2);
      expect(replaced.content).toBe("second");

      await keyv.set(key as string, { v: 1, generations: "nope" });
      llm.enqueue({ content: "third" });
      await model.invoke("Corrupt me");
      expect(warn).toHaveBeenCalledTimes(1);
    });

    it("withNamespace views keep separate entries; read-only serves hits without storing; bypass skips the store", async () => {
      const cache = new KeyvLLMCache(keyv);
      const a = cache.withNamespace("thread-a");
      const bView = cache.withNamespace("thread-b");
      expect(a.namespace).toBe("llm:thread-a");
      llm.enqueue(
        { content: "for a" },
        { content: "for b" },
        { content: "bypassed" },
        { content: "read-only miss" },
        { content: "stored now" },
      );
      const before = llm.requests.length;
      const sent = () => llm.requests.length - before;

      await chat(a).invoke("Same prompt");
      await chat(a).invoke("Same prompt");
      expect(sent()).toBe(1);
      expect((await chat(bView).invoke("Same prompt")).content).toBe("for b");
      expect(sent()).toBe(2);
      expect(cache.stats()).toMatchObject({ hits: 1, misses: 2 });

      const bypass = new KeyvLLMCache(keyv, { namespace: "llm:thread-a", mode: "bypass" });
      expect((await chat(bypass).invoke("Same prompt")).content).toBe("bypassed");
      expect(sent()).toBe(3);

      const readOnly = new KeyvLLMCache(keyv, { namespace: "llm:thread-a", mode: "read-only" });
      expect((await chat(readOnly).invoke("Same prompt")).content).toBe("for a");
      expect(sent()).toBe(3);
      expect((await chat(readOnly).invoke("New prompt")).content).toBe("read-only miss");
      expect((await chat(a).invoke("New prompt")).content).toBe("stored now");
      expect(sent()).toBe(5);
    });

    it("prompts with images are never cached, since LangChain's prompt string shows every image as [image]", async () => {
      const cache = new KeyvLLMCache(keyv);
      llm.enqueue({ content: "a cat" }, { content: "a dog" });
      expect((await chat(cache).invoke([picture("https://example.com/cat.png")])).content).toBe("a cat");
      expect((await chat(cache).invoke([picture("https://example.com/dog.png")])).content).toBe("a dog");
      expect(llm.requests).toHaveLength(2);
    });

    it("prompts with any non-text block (a PDF document, a media block) are never cached without wrap", async () => {
      const cache = new KeyvLLMCache(keyv);
      const doc = (name: string) =>
        new HumanMessage({
          content: [
            { type: "text", text: "Summarize this document" },
            { type: "document", source: { type: "base64", media_type: "application/pdf", data: name } },
          ] as never,
        });
      llm.enqueue({ content: "contract summary" }, { content: "invoice summary" });
      expect((await chat(cache).invoke([doc("Y29udHJhY3Q=")])).content).toBe("contract summary");
      expect((await chat(cache).invoke([doc("aW52b2ljZQ==")])).content).toBe("invoice summary");
      expect(cache.stats().hits).toBe(0);
    });

    it("entries expire after the ttl", async () => {
      const cache = new KeyvLLMCache(keyv, { ttl: "1s" });
      llm.enqueue({ content: "fresh" }, { content: "after expiry" });
      await chat(cache).invoke("Expire me");
      expect((await chat(cache).invoke("Expire me")).content).toBe("fresh");
      await new Promise((r) => setTimeout(r, 1100));
      expect((await chat(cache).invoke("Expire me")).content).toBe("after expiry");
    });
  });
}
