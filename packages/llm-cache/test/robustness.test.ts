import { isGraphkeepError } from "@graphkeep/core";
import { KeyvLLMCache, KeyvNodeCache } from "@graphkeep/llm-cache";
import { ChatOpenAI } from "@langchain/openai";
import Keyv from "keyv";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { type FakeOpenAI, startFakeOpenAI } from "../../../test/helpers/fake-openai.js";

/** A Keyv whose store never answers (Redis during an outage, per FACTS.md) or always fails. */
function brokenKeyv(kind: "hangs" | "throws"): Keyv {
  const op = () => (kind === "hangs" ? new Promise<never>(() => undefined) : Promise.reject(new Error("ECONNREFUSED")));
  const store = { get: op, set: op, delete: op, clear: op, getMany: op, setMany: op, has: op };
  return new Keyv({ store, throwOnErrors: true });
}

describe("store outages", () => {
  let llm: FakeOpenAI;
  beforeAll(async () => {
    llm = await startFakeOpenAI();
  });
  afterAll(async () => {
    await llm?.close();
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  const model = (cache: KeyvLLMCache) =>
    new ChatOpenAI({ model: "m", apiKey: "k", maxRetries: 0, cache, configuration: { baseURL: llm.baseURL } });

  for (const kind of ["hangs", "throws"] as const) {
    it(`a store that ${kind} degrades to no cache with one warning, within the timeout`, async () => {
      const warn = vi.spyOn(process, "emitWarning").mockImplementation(() => undefined);
      const cache = new KeyvLLMCache(brokenKeyv(kind), { operationTimeoutMs: 100 });
      llm.enqueue({ content: "one" }, { content: "two" });
      const started = Date.now();
      expect((await model(cache).invoke("Hello")).content).toBe("one");
      expect((await model(cache).invoke("Hello")).content).toBe("two");
      // the first failure costs one timeout at most; later calls skip the store while it is down
      expect(Date.now() - started).toBeLessThan(1000);
      expect(warn).toHaveBeenCalledTimes(1);
      expect(warn.mock.calls[0]?.[1]).toMatchObject({ code: "GRAPHKEEP_LLM_CACHE_UNAVAILABLE" });
      expect(cache.stats()).toMatchObject({ hits: 0, misses: 2 });
    });

    it(`the node cache over a store that ${kind} reads nothing and writes nothing, without throwing`, async () => {
      const warn = vi.spyOn(process, "emitWarning").mockImplementation(() => undefined);
      const cache = new KeyvNodeCache(brokenKeyv(kind), { operationTimeoutMs: 100 });
      await cache.set([{ key: [["n"], "k"], value: 1 }]);
      expect(await cache.get([[["n"], "k"]])).toEqual([]);
      await cache.clear([]);
      expect(warn).toHaveBeenCalledTimes(1);
    });
  }

  it("an onHit hook that throws does not fail the call", async () => {
    const warn = vi.spyOn(process, "emitWarning").mockImplementation(() => undefined);
    const cache = new KeyvLLMCache(new Keyv(), {
      onHit: () => {
        throw new Error("metrics down");
      },
    });
    llm.enqueue({ content: "cached" });
    await model(cache).invoke("Hook");
    expect((await model(cache).invoke("Hook")).content).toBe("cached");
    expect(warn.mock.calls[0]?.[1]).toMatchObject({ code: "GRAPHKEEP_LLM_CACHE_HOOK" });
  });

  it("rejects invalid options with a GraphkeepError", () => {
    const keyv = new Keyv();
    for (const bad of [
      { ttl: "forever" },
      { operationTimeoutMs: 0 },
      { timeout: 0 },
      { namespace: "" },
      { mode: "sometimes" },
    ]) {
      let error: unknown;
      try {
        new KeyvLLMCache(keyv, bad as never);
      } catch (e) {
        error = e;
      }
      expect(isGraphkeepError(error) && error.code === "INVALID_ARGUMENT").toBe(true);
    }
    expect(() => new KeyvLLMCache(keyv).withNamespace("")).toThrow(/non-empty/);
  });
});
