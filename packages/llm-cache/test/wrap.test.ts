import { randomUUID } from "node:crypto";
import { InvalidArgumentError } from "@graphkeep/core";
import { KeyvSaver } from "@graphkeep/keyv-saver";
import { KeyvLLMCache } from "@graphkeep/llm-cache";
import { BaseCallbackHandler } from "@langchain/core/callbacks/base";
import { type AIMessage, type AIMessageChunk, HumanMessage } from "@langchain/core/messages";
import type { LLMResult } from "@langchain/core/outputs";
import { tool } from "@langchain/core/tools";
import { END, MessagesAnnotation, START, StateGraph } from "@langchain/langgraph";
import { ChatOpenAI } from "@langchain/openai";
import type Keyv from "keyv";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { backends } from "../../../test/helpers/backends.js";
import { type FakeOpenAI, startFakeOpenAI } from "../../../test/helpers/fake-openai.js";
import { picture } from "./messages.js";

const lookup = tool(async ({ q }: { q: string }) => q, {
  name: "lookup",
  description: "Looks something up",
  schema: z.object({ q: z.string() }),
});

async function collect(stream: AsyncIterable<AIMessageChunk>) {
  const chunks: AIMessageChunk[] = [];
  for await (const c of stream) chunks.push(c);
  const whole = chunks.reduce((a, c) => a.concat(c));
  return { pieces: chunks.map((c) => c.content).filter((c) => c !== ""), whole };
}

/** Counts the LLM runs callbacks see, and whether LangChain flagged them as cached. */
class Runs extends BaseCallbackHandler {
  name = "runs";
  ends: Array<{ cached: boolean; hit: unknown }> = [];
  override handleLLMEnd(output: LLMResult, _r: string, _p?: string, _t?: string[], extra?: Record<string, unknown>) {
    const message = (output.generations[0]?.[0] as { message?: AIMessage } | undefined)?.message;
    this.ends.push({ cached: extra?.cached === true, hit: message?.response_metadata?.cache });
  }
}

for (const b of backends) {
  describe.skipIf(!!b.skip)(`KeyvLLMCache.wrap on ${b.name}${b.skip ? ` — skipped: ${b.skip}` : ""}`, () => {
    let llm: FakeOpenAI;
    let keyv: Keyv;
    const sent = () => llm.requests.length;
    const model = (cache: KeyvLLMCache, fields: Record<string, unknown> = {}) =>
      cache.wrap(
        new ChatOpenAI({
          model: "gpt-4o-mini",
          apiKey: "sk-test",
          maxRetries: 0,
          configuration: { baseURL: llm.baseURL },
          ...fields,
        }),
      );

    beforeEach(async () => {
      llm = await startFakeOpenAI();
      keyv = b.keyv();
    });
    afterEach(async () => {
      await keyv.clear().catch(() => undefined);
      await keyv.disconnect().catch(() => undefined);
      await llm.close();
    });

    it("a streamed call is stored, and streaming it again replays the same chunks with no request", async () => {
      const cache = new KeyvLLMCache(keyv);
      const runs = new Runs();
      llm.enqueue({ content: "Once upon a time, a checkpoint.", usage: { prompt: 30, completion: 7 } });
      const first = await collect(await model(cache).stream("Tell a story"));
      expect(sent()).toBe(1);
      expect(llm.requests[0]?.stream).toBe(true);
      expect(first.pieces.length).toBeGreaterThan(3);
      expect(first.whole.usage_metadata).toMatchObject({ input_tokens: 30, output_tokens: 7 });

      const again = await collect(await model(cache).stream("Tell a story", { callbacks: [runs] }));
      expect(sent()).toBe(1);
      expect(again.pieces).toEqual(first.pieces);
      expect(again.whole.content).toBe("Once upon a time, a checkpoint.");
      expect(again.whole.usage_metadata).toMatchObject({ input_tokens: 0, output_tokens: 0 });
      expect(again.whole.response_metadata.cache).toEqual({
        hit: true,
        savedUsage: expect.objectContaining({ input_tokens: 30, output_tokens: 7 }),
      });
      expect(runs.ends).toEqual([{ cached: true, hit: expect.objectContaining({ hit: true }) }]);
      // the streamed answer also serves a plain invoke of the same call
      expect((await model(cache).invoke("Tell a story")).content).toBe("Once upon a time, a checkpoint.");
      expect(sent()).toBe(1);
      expect(cache.stats()).toMatchObject({ hits: 2, misses: 1, replayedStreams: 1, savedInputTokens: 60 });
    });

    it("streamed tool calls replay as tool calls; a stream abandoned half-way is not stored", async () => {
      const cache = new KeyvLLMCache(keyv);
      const bound = model(cache).bindTools([lookup]);
      llm.enqueue({ toolCalls: [{ name: "lookup", args: { q: "checkpoints" } }] });
      const first = await collect(await bound.stream("Find checkpoints"));
      const again = await collect(await bound.stream("Find checkpoints"));
      expect(sent()).toBe(1);
      expect(again.whole.tool_calls).toEqual(first.whole.tool_calls);
      expect(again.whole.tool_calls?.[0]).toMatchObject({ name: "lookup", args: { q: "checkpoints" } });

      llm.enqueue({ content: "a long answer in many words" }, { content: "the full answer" });
      for await (const _ of await model(cache).stream("Abandon me")) break;
      expect((await collect(await model(cache).stream("Abandon me"))).whole.content).toBe("the full answer");
      expect(sent()).toBe(3);
    });

    it('a replayed stream looks like the live one in LangGraph\'s streamMode "messages" (no duplicate text)', async () => {
      const cache = new KeyvLLMCache(keyv);
      const m = model(cache);
      const graph = new StateGraph(MessagesAnnotation)
        .addNode("llm", async (st, config) => {
          let whole: AIMessageChunk | undefined;
          for await (const c of await m.stream(st.messages, config)) whole = whole ? whole.concat(c) : c;
          return { messages: [whole as AIMessageChunk] };
        })
        .addEdge(START, "llm")
        .addEdge("llm", END)
        .compile();
      const pieces = async () => {
        const out: string[] = [];
        const input = { messages: [new HumanMessage("Stream me")] };
        for await (const [chunk] of await graph.stream(input, { streamMode: "messages" }))
          out.push(String(chunk.content));
        return out.filter((p) => p !== "");
      };
      llm.enqueue({ content: "Let me look that up." });
      const live = await pieces();
      const replayed = await pieces();
      expect(sent()).toBe(1);
      expect(replayed).toEqual(live);
      expect(live.join("")).toBe("Let me look that up.");
    });

    it("keys come from the messages: another image is another entry, the same image is a hit", async () => {
      const cache = new KeyvLLMCache(keyv);
      llm.enqueue({ content: "a cat" }, { content: "a dog" });
      expect((await model(cache).invoke([picture("data:image/png;base64,Y2F0")])).content).toBe("a cat");
      expect((await model(cache).invoke([picture("data:image/png;base64,ZG9n")])).content).toBe("a dog");
      expect((await model(cache).invoke([picture("data:image/png;base64,Y2F0")])).content).toBe("a cat");
      expect(sent()).toBe(2);
    });

    it("metadata.cache controls one call: bypass, refresh, a sub-namespace; a bad value is a typed error", async () => {
      const cache = new KeyvLLMCache(keyv);
      const m = model(cache);
      llm.enqueue({ content: "v1" }, { content: "bypassed" }, { content: "v2" }, { content: "other ns" });
      expect((await m.invoke("Q")).content).toBe("v1");
      expect((await m.invoke("Q", { metadata: { cache: "bypass" } })).content).toBe("bypassed");
      expect((await m.invoke("Q")).content).toBe("v1");
      expect((await m.invoke("Q", { metadata: { cache: "refresh" } })).content).toBe("v2");
      expect((await m.invoke("Q")).content).toBe("v2");
      expect((await m.invoke("Q", { metadata: { cache: { namespace: "eval" } } })).content).toBe("other ns");
      expect((await m.invoke("Q", { metadata: { cache: { namespace: "eval" } } })).content).toBe("other ns");
      expect(sent()).toBe(4);
      await expect(m.invoke("Q", { metadata: { cache: "bypas" } })).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(m.invoke("Q", { metadata: { cache: { ttl: -1 } } })).rejects.toThrow(/ttl/);
      expect(sent()).toBe(4);
    });

    it('scope "thread" replays a rewound thread exactly and never serves another thread', async () => {
      const cache = new KeyvLLMCache(keyv, { scope: "thread" });
      const saver = new KeyvSaver(b.keyv());
      const chat = new ChatOpenAI({
        model: "gpt-4o-mini",
        apiKey: "sk-test",
        maxRetries: 0,
        cache,
        configuration: { baseURL: llm.baseURL },
      });
      const graph = new StateGraph(MessagesAnnotation)
        .addNode("plan", async (s, config) => ({ messages: [await chat.invoke(s.messages, config)] }))
        .addNode("write", async (s, config) => ({ messages: [await chat.invoke(s.messages, config)] }))
        .addEdge(START, "plan")
        .addEdge("plan", "write")
        .addEdge("write", END)
        .compile({ checkpointer: saver });
      const input = { messages: [{ role: "user", content: "Write a haiku" }] };
      const t1 = { configurable: { thread_id: `t-${randomUUID()}` } };
      llm.enqueue({ content: "plan" }, { content: "haiku" }, { content: "plan 2" }, { content: "haiku 2" });
      try {
        await graph.invoke(input, t1);
        expect(sent()).toBe(2);
        const history = [];
        for await (const s of graph.getStateHistory(t1)) history.push(s);
        const beforePlan = history.find((h) => h.next.includes("plan"));
        const replay = await graph.invoke(null, beforePlan?.config);
        expect(sent()).toBe(2);
        expect(replay.messages.at(-1)?.content).toBe("haiku");
        // another thread asking the same thing pays for its own calls
        const other = await graph.invoke(input, { configurable: { thread_id: `t-${randomUUID()}` } });
        expect(sent()).toBe(4);
        expect(other.messages.at(-1)?.content).toBe("haiku 2");
        // a run-level control reaches every model call of the run
        llm.enqueue({ content: "plan 3" }, { content: "haiku 3" });
        const refreshed = await graph.invoke(null, { ...beforePlan?.config, metadata: { cache: "refresh" } });
        expect(sent()).toBe(6);
        expect(refreshed.messages.at(-1)?.content).toBe("haiku 3");
      } finally {
        await saver.keyv.clear().catch(() => undefined);
        await saver.close().catch(() => undefined);
      }
    });
  });
}
