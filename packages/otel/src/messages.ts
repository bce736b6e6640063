/** The parts of a LangChain message this package reads (structural, so any @langchain/core copy works). */
export interface ChatMessageLike {
  id?: string | undefined;
  content?: unknown;
  tool_calls?: Array<{ id?: string; name: string; args?: unknown }> | undefined;
  tool_call_id?: string | undefined;
  response_metadata?: Record<string, unknown> | undefined;
  usage_metadata?: UsageLike | undefined;
  _getType?: () => string;
  getType?: () => string;
  type?: string;
}

/** LangChain's `usage_metadata`. */
export interface UsageLike {
  input_tokens?: number;
  output_tokens?: number;
  input_token_details?: { cache_read?: number; cache_creation?: number };
  output_token_details?: { reasoning?: number };
}

const ROLES: Record<string, string> = { human: "user", ai: "assistant", system: "system", tool: "tool" };

function roleOf(m: ChatMessageLike): string {
  const t = m.getType?.() ?? m._getType?.() ?? m.type ?? "user";
  return ROLES[t] ?? t;
}

function textOf(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content
      .map((c) => (typeof c === "string" ? c : typeof c?.text === "string" ? (c.text as string) : ""))
      .join("");
  }
  return content === undefined || content === null ? "" : JSON.stringify(content);
}

function partsOf(m: ChatMessageLike): Array<Record<string, unknown>> {
  const parts: Array<Record<string, unknown>> = [];
  const role = roleOf(m);
  const text = textOf(m.content);
  if (role === "tool") {
    parts.push({ type: "tool_call_response", id: m.tool_call_id, response: text });
    return parts;
  }
  if (text !== "") parts.push({ type: "text", content: text });
  for (const call of m.tool_calls ?? []) {
    parts.push({ type: "tool_call", id: call.id, name: call.name, arguments: call.args });
  }
  return parts;
}

/** Messages in the `gen_ai.input.messages` JSON shape: `[{ role, parts: [{ type, content }] }]`. */
export function toSemconvMessages(messages: ChatMessageLike[]): Array<Record<string, unknown>> {
  return messages.map((m) => ({ role: roleOf(m), parts: partsOf(m) }));
}

/** Generations in the `gen_ai.output.messages` JSON shape. */
export function toOutputMessages(
  generations: Array<{ message?: ChatMessageLike; text?: string }>,
  finishReason: string | undefined,
): Array<Record<string, unknown>> {
  return generations.map((g) => ({
    role: "assistant",
    parts: g.message ? partsOf(g.message) : [{ type: "text", content: g.text ?? "" }],
    finish_reason: finishReason ?? "stop",
  }));
}

/** A cost read from a model response: see {@link readCost}. */
export interface CostReading {
  amount: number;
  currency: string;
  /** The amount is an estimate (`@graphkeep/cost` charged a call that reported no usage its reservation). */
  estimated?: boolean;
}

function costFrom(v: unknown): CostReading | undefined {
  if (typeof v === "number" && Number.isFinite(v)) return { amount: v, currency: "USD" };
  if (v !== null && typeof v === "object") {
    const o = v as Record<string, unknown>;
    const amount = [o.total, o.totalCost, o.amount, o.usd].find((x) => typeof x === "number" && Number.isFinite(x));
    if (typeof amount === "number") {
      const currency = typeof o.currency === "string" && o.currency !== "" ? o.currency : "USD";
      return o.estimated === true ? { amount, currency, estimated: true } : { amount, currency };
    }
  }
  return undefined;
}

/**
 * The cost contract with `@graphkeep/cost` (kept loose on purpose): the first of `graphkeepCost` or `cost` found
 * in the message's `response_metadata`, then in `llmOutput`, then in the generation's `generationInfo`; either a
 * number (US dollars) or an object `{ total | totalCost | amount | usd: number, currency?: string }`.
 */
export function readCost(...sources: Array<Record<string, unknown> | undefined>): CostReading | undefined {
  for (const source of sources) {
    if (!source) continue;
    const found = costFrom(source.graphkeepCost) ?? costFrom(source.cost);
    if (found) return found;
  }
  return undefined;
}
