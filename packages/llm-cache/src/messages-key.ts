import { createHash } from "node:crypto";
import type { BaseMessage } from "@langchain/core/messages";

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** JSON with object keys sorted, so equal values always serialize equally. */
function canonical(value: unknown): Json {
  if (Array.isArray(value)) return value.map(canonical);
  if (value === null || value === undefined) return null;
  if (typeof value === "object") {
    const out: { [k: string]: Json } = {};
    for (const k of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[k];
      if (v !== undefined && typeof v !== "function") out[k] = canonical(v);
    }
    return out;
  }
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "string") return value;
  return null;
}

/**
 * What of one message decides the model's answer: type, name, content (every block whole, so images, audio and
 * files are hashed in), tool calls and the tool call a result answers. Message ids, response metadata and usage
 * are left out (they differ per run); tool call ids become their position in the conversation, since providers
 * mint random ones.
 */
function messageShape(m: BaseMessage, callIds: Map<string, number>): Json {
  const alias = (id: string | undefined) => {
    if (id === undefined || id === "") return null;
    let n = callIds.get(id);
    if (n === undefined) {
      n = callIds.size;
      callIds.set(id, n);
    }
    return `#${n}`;
  };
  const type = m.getType();
  const shape: Record<string, unknown> = { type, content: typeof m.content === "string" ? m.content : m.content };
  if (m.name) shape.name = m.name;
  if (type === "ai") {
    const ai = m as BaseMessage & { tool_calls?: Array<{ id?: string; name: string; args: unknown }> };
    if (ai.tool_calls && ai.tool_calls.length > 0) {
      shape.tool_calls = ai.tool_calls.map((c) => ({ name: c.name, args: c.args, id: alias(c.id) }));
    }
    const fn = m.additional_kwargs?.function_call;
    if (fn !== undefined) shape.function_call = fn;
  } else if (type === "tool") {
    shape.tool_call_id = alias((m as BaseMessage & { tool_call_id?: string }).tool_call_id);
  } else if (type === "generic") {
    shape.role = (m as BaseMessage & { role?: string }).role ?? null;
  }
  return canonical(shape);
}

/**
 * sha256 (hex) of a conversation as the model sees it (see {@link messageShape}): the same messages revived from a
 * checkpoint hash like the fresh ones, and two prompts differing only in an image do not.
 *
 * @example
 * hashMessages([new HumanMessage("hi")]) === hashMessages([new HumanMessage({ content: "hi", id: "x" })]) // true
 */
export function hashMessages(messages: readonly BaseMessage[]): string {
  const callIds = new Map<string, number>();
  const shapes = messages.map((m) => messageShape(m, callIds));
  return createHash("sha256").update(JSON.stringify(shapes)).digest("hex");
}
