import { hashEntry, normalizeLlmKey, parseLlmKey, toMilliseconds } from "@graphkeep/llm-cache";
import { describe, expect, it } from "vitest";

// the shape LangChain builds in _getSerializedCacheKeyParametersForCall, as seen inside a LangGraph node
const inNode = (threadId: string, extra = "") =>
  [
    '_model:"base_chat_model"',
    '_type:"openai"',
    'apiKey:"sk-secret"',
    'configuration:{"baseURL":"http://x/v1","defaultHeaders":{"Authorization":"Bearer t"}}',
    "control:{}",
    `executionInfo:{"checkpointId":"1f1","threadId":"${threadId}","nodeAttempt":1}`,
    "interrupt:undefined",
    'model:"gpt-4o-mini"',
    "signal:{}",
    'stop:["a,b"]',
    "temperature:0",
    'tools:[{"type":"function","function":{"name":"login","parameters":{"properties":{"apiKey":{"type":"string"}}}}}]',
    `writer:undefined${extra}`,
  ].join(",");

describe("cache keys", () => {
  it("parses LangChain's llm key, commas inside strings and undefined values included", () => {
    const parsed = parseLlmKey(inNode("t1"));
    expect(parsed?.stop).toEqual(["a,b"]);
    expect(parsed?.temperature).toBe(0);
    expect(parsed).not.toHaveProperty("writer");
  });

  it("drops LangGraph runtime fields and credentials but keeps tool schemas intact", () => {
    const normalized = JSON.parse(normalizeLlmKey(inNode("t1"))) as Record<string, unknown>;
    expect(Object.keys(normalized).sort()).toEqual([
      "_model",
      "_type",
      "configuration",
      "model",
      "stop",
      "temperature",
      "tools",
    ]);
    expect(normalized.configuration).toEqual({ baseURL: "http://x/v1", defaultHeaders: {} });
    expect(JSON.stringify(normalized.tools)).toContain("apiKey");
  });

  it("two threads of the same node get the same key; a changed parameter gets another", () => {
    expect(hashEntry("Human: hi", inNode("t1"))).toBe(hashEntry("Human: hi", inNode("t2")));
    expect(hashEntry("Human: hi", inNode("t1"))).not.toBe(hashEntry("Human: hi", inNode("t1").replace("0,", "1,")));
    expect(hashEntry("Human: hi", inNode("t1"))).not.toBe(hashEntry("Human: hello", inNode("t1")));
    expect(hashEntry("Human: hi\r\nAI: yo", "x")).toBe(hashEntry("Human: hi\nAI: yo", "x"));
  });

  it("keeps token limits while dropping tokens", () => {
    const n = JSON.parse(normalizeLlmKey('maxTokens:100,max_completion_tokens:50,accessToken:"t"')) as object;
    expect(n).toEqual({ maxTokens: 100, max_completion_tokens: 50 });
  });

  it("an llm key that does not parse is hashed as is", () => {
    expect(parseLlmKey("not a key")).toBeUndefined();
    expect(normalizeLlmKey("not a key")).toBe("not a key");
    expect(normalizeLlmKey('a:{"x":')).toBe('a:{"x":');
  });

  it("reads ttl strings and rejects bad ones", () => {
    expect(toMilliseconds("1d")).toBe(86_400_000);
    expect(toMilliseconds("1.5s")).toBe(1500);
    expect(toMilliseconds(250)).toBe(250);
    expect(() => toMilliseconds("soon")).toThrow(/ttl must be a positive number/);
    expect(() => toMilliseconds(-1)).toThrow(/ttl/);
  });
});
