import { AIMessage, HumanMessage, ToolMessage } from "@langchain/core/messages";
import { Command, Send } from "@langchain/langgraph";
import { JsonPlusSerializer } from "@langchain/langgraph-checkpoint";
import { describe, expect, it } from "vitest";
import { modes, randomText, roundTrip } from "./helpers.js";

// Every kind of value LangGraph stores, through every mode: the wrapped serde must return exactly what the plain
// JsonPlusSerializer returns (the wrappers are transparent).
const values: Record<string, () => unknown> = {
  "a HumanMessage": () => new HumanMessage({ content: "hello", id: "m1" }),
  "an AIMessage with tool_calls": () =>
    new AIMessage({
      content: "",
      id: "m2",
      tool_calls: [{ id: "call_1", name: "search", args: { query: "weather in Paris", limit: 3 }, type: "tool_call" }],
    }),
  "a ToolMessage": () => new ToolMessage({ content: "18°C, sunny", tool_call_id: "call_1", name: "search" }),
  "a chat history of 200 messages": () =>
    Array.from({ length: 200 }, (_, i) =>
      i % 2 === 0 ? new HumanMessage(randomText(300)) : new AIMessage(randomText(300)),
    ),
  "a Send": () => new Send("worker", { item: 7 }),
  "a Command": () => new Command({ goto: "next", update: { count: 2 }, resume: "yes" }),
  "a Uint8Array": () => new Uint8Array(Array.from({ length: 4096 }, (_, i) => i % 251)),
  "an object holding bytes": () => ({ file: new Uint8Array([0, 1, 2, 255]), name: "x.bin" }),
  "a Date": () => new Date("2026-11-03T10:00:00.000Z"),
  "nested objects": () => ({ a: { b: { c: [1, "two", { d: null, e: true, f: 1.5 }] } }, list: [[], {}] }),
  "a 5 MB string": () => randomText(5 * 1024 * 1024),
  undefined: () => undefined,
  null: () => null,
  "an empty string": () => "",
};

const plain = new JsonPlusSerializer();

describe.each(Object.entries(modes))("the %s serde", (_name, make) => {
  const serde = make();

  it.each(Object.entries(values))("round-trips %s exactly as the plain serializer does", async (_what, value) => {
    const v = value();
    const expected = await roundTrip(plain, v);
    const got = await roundTrip(serde, v);
    expect(got).toEqual(expected);
    if (expected !== null && typeof expected === "object") {
      expect(Object.getPrototypeOf(got)).toBe(Object.getPrototypeOf(expected));
    }
  });

  it("keeps message classes and tool calls", async () => {
    const [human, ai, tool] = (await roundTrip(serde, [
      new HumanMessage("hi"),
      new AIMessage({ content: "", tool_calls: [{ id: "c1", name: "search", args: { q: "x" } }] }),
      new ToolMessage({ content: "done", tool_call_id: "c1" }),
    ])) as [HumanMessage, AIMessage, ToolMessage];
    expect(human).toBeInstanceOf(HumanMessage);
    expect(ai).toBeInstanceOf(AIMessage);
    expect(ai.tool_calls).toMatchObject([{ id: "c1", name: "search", args: { q: "x" } }]);
    expect(tool).toBeInstanceOf(ToolMessage);
    expect(tool.tool_call_id).toBe("c1");
  });

  it("returns bytes as a Uint8Array with the same content", async () => {
    const bytes = new Uint8Array(Array.from({ length: 3000 }, (_, i) => (i * 7) % 256));
    const got = await roundTrip(serde, bytes);
    expect(got).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(got as Uint8Array).equals(Buffer.from(bytes))).toBe(true);
  });

  it("reads a value handed back as a Buffer", async () => {
    const [type, bytes] = await serde.dumpsTyped({ big: randomText(4000) });
    const back = (await serde.loadsTyped(type, Buffer.from(bytes))) as { big: string };
    expect(back.big).toHaveLength(4000);
  });
});
