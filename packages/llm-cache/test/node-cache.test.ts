import { KeyvNodeCache } from "@graphkeep/llm-cache";
import type { BaseMessage } from "@langchain/core/messages";
import { END, MessagesAnnotation, START, StateGraph } from "@langchain/langgraph";
import type { CacheFullKey, CacheNamespace } from "@langchain/langgraph-checkpoint";
import type Keyv from "keyv";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { backends } from "../../../test/helpers/backends.js";

/** The node cache key a MessagesAnnotation node needs: message ids are random per run, so hash type + content. */
const byContent = (args: unknown[]) => {
  const [state] = args as [{ messages: BaseMessage[] }];
  return JSON.stringify(state.messages.map((m) => [m.getType(), m.content]));
};

function summarizer(cache: KeyvNodeCache, calls: { n: number }, keyFunc?: (args: unknown[]) => string, ttl?: number) {
  return new StateGraph(MessagesAnnotation)
    .addNode(
      "summarize",
      (s) => {
        calls.n += 1;
        return { messages: [{ role: "assistant", content: `summary of ${s.messages.length} message(s)` }] };
      },
      { cachePolicy: { ...(keyFunc ? { keyFunc } : {}), ...(ttl ? { ttl } : {}) } },
    )
    .addEdge(START, "summarize")
    .addEdge("summarize", END)
    .compile({ cache });
}

/** Records the namespace of every write (LangGraph 1.7 uses ["__pregel_ns_writes", "__dynamic__", node]). */
class RecordingNodeCache extends KeyvNodeCache {
  readonly namespaces: CacheNamespace[] = [];
  override async set(pairs: { key: CacheFullKey; value: unknown; ttl?: number }[]): Promise<void> {
    for (const { key } of pairs) this.namespaces.push(key[0]);
    await super.set(pairs);
  }
}

const input = () => ({ messages: [{ role: "user", content: "Summarize this." }] });

for (const b of backends) {
  describe.skipIf(!!b.skip)(`KeyvNodeCache on ${b.name}${b.skip ? ` — skipped: ${b.skip}` : ""}`, () => {
    let keyv: Keyv;
    beforeEach(() => {
      keyv = b.keyv();
    });
    afterEach(async () => {
      await keyv.clear().catch(() => undefined);
      await keyv.disconnect().catch(() => undefined);
    });

    it("a node with a cachePolicy and a content keyFunc runs once across two invokes", async () => {
      const calls = { n: 0 };
      const graph = summarizer(new KeyvNodeCache(keyv), calls, byContent);
      const first = await graph.invoke(input());
      const second = await graph.invoke(input());
      expect(calls.n).toBe(1);
      expect(second.messages.at(-1)?.content).toBe("summary of 1 message(s)");
      expect(second.messages.at(-1)?.content).toBe(first.messages.at(-1)?.content);
    });

    it("without a keyFunc a MessagesAnnotation node never hits (random message ids), as the README warns", async () => {
      const calls = { n: 0 };
      const graph = summarizer(new KeyvNodeCache(keyv), calls);
      await graph.invoke(input());
      await graph.invoke(input());
      expect(calls.n).toBe(2);
    });

    it("clearing the node's namespace, or graph.clearCache(), makes the node run again", async () => {
      const calls = { n: 0 };
      const cache = new RecordingNodeCache(keyv);
      const graph = summarizer(cache, calls, byContent);
      await graph.invoke(input());
      const written = cache.namespaces[0];
      expect(written).toContain("summarize");
      await cache.clear([["other"]]);
      await graph.invoke(input());
      expect(calls.n).toBe(1);
      await cache.clear([written as CacheNamespace]);
      await graph.invoke(input());
      expect(calls.n).toBe(2);
      await graph.invoke(input());
      expect(calls.n).toBe(2);
      await graph.clearCache();
      await graph.invoke(input());
      expect(calls.n).toBe(3);
    });

    it("an entry expires after the policy's ttl in seconds", async () => {
      const calls = { n: 0 };
      const graph = summarizer(new KeyvNodeCache(keyv), calls, byContent, 1);
      await graph.invoke(input());
      await graph.invoke(input());
      expect(calls.n).toBe(1);
      await new Promise((r) => setTimeout(r, 1100));
      await graph.invoke(input());
      expect(calls.n).toBe(2);
    });

    it("round-trips values through the store with LangGraph's serializer", async () => {
      const cache = new KeyvNodeCache(keyv);
      const value = { list: [1, "two", null], nested: { ok: true }, text: "é\u0000\n" };
      await cache.set([{ key: [["ns", "a"], "k1"], value }]);
      const [hit] = await cache.get([
        [["ns", "a"], "k1"],
        [["ns", "b"], "k1"],
      ]);
      expect(hit?.key).toEqual([["ns", "a"], "k1"]);
      expect(hit?.value).toEqual(value);
    });
  });
}
