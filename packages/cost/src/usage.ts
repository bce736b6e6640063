import type { LLMResult } from "@langchain/core/outputs";
import type { TokenUsage } from "./types.js";

/** What one model call's result says about tokens, the model and caching. */
export interface ReadUsage {
  /** Undefined when the response carries no usage at all. */
  usage: TokenUsage | undefined;
  /** The model id the response reported (`response_metadata.model_name`), when it did. */
  model: string | undefined;
  cached: boolean;
  /** For a `@graphkeep/llm-cache` hit: the usage the cached answer had when it was made. */
  savedUsage: TokenUsage | undefined;
}

type Rec = Record<string, unknown>;
const isRec = (v: unknown): v is Rec => typeof v === "object" && v !== null && !Array.isArray(v);
const num = (v: unknown): number => (typeof v === "number" && Number.isFinite(v) && v > 0 ? v : 0);

/** Reads LangChain's `usage_metadata` (input/output token details included); undefined when absent. */
export function fromUsageMetadata(u: unknown): TokenUsage | undefined {
  if (!isRec(u) || (typeof u.input_tokens !== "number" && typeof u.output_tokens !== "number")) return undefined;
  const inDetails = isRec(u.input_token_details) ? u.input_token_details : {};
  const outDetails = isRec(u.output_token_details) ? u.output_token_details : {};
  return {
    inputTokens: num(u.input_tokens),
    outputTokens: num(u.output_tokens),
    cacheReadTokens: num(inDetails.cache_read),
    cacheWriteTokens: num(inDetails.cache_creation),
    reasoningTokens: num(outDetails.reasoning),
  };
}

/** Legacy `llmOutput.tokenUsage` / `estimatedTokenUsage` (`promptTokens`, `completionTokens`). */
function fromTokenUsage(llmOutput: unknown): TokenUsage | undefined {
  if (!isRec(llmOutput)) return undefined;
  const t = isRec(llmOutput.tokenUsage) ? llmOutput.tokenUsage : undefined;
  if (!t || (typeof t.promptTokens !== "number" && typeof t.completionTokens !== "number")) return undefined;
  return {
    inputTokens: num(t.promptTokens),
    outputTokens: num(t.completionTokens),
    cacheReadTokens: 0,
    cacheWriteTokens: 0,
    reasoningTokens: 0,
  };
}

function add(a: TokenUsage | undefined, b: TokenUsage | undefined): TokenUsage | undefined {
  if (!a) return b;
  if (!b) return a;
  return {
    inputTokens: a.inputTokens + b.inputTokens,
    outputTokens: a.outputTokens + b.outputTokens,
    cacheReadTokens: a.cacheReadTokens + b.cacheReadTokens,
    cacheWriteTokens: a.cacheWriteTokens + b.cacheWriteTokens,
    reasoningTokens: a.reasoningTokens + b.reasoningTokens,
  };
}

/**
 * Reads one `handleLLMEnd` result. Streamed calls arrive here as the merged chunk, whose `usage_metadata` holds
 * the usage chunk the provider sent last.
 */
export function readUsage(output: LLMResult, extraParams?: Rec): ReadUsage {
  let usage: TokenUsage | undefined;
  let savedUsage: TokenUsage | undefined;
  let model: string | undefined;
  let cached = extraParams?.cached === true;
  // generations[i] are the choices (n > 1) of prompt i: providers report one usage per request and LangChain
  // copies it onto every choice, so take it once per prompt
  for (const choices of output.generations) {
    let counted = false;
    let savedCounted = false;
    for (const gen of choices) {
      const message = (gen as { message?: unknown }).message;
      if (!isRec(message)) continue;
      const u = fromUsageMetadata(message.usage_metadata);
      if (!counted && u !== undefined) {
        usage = add(usage, u);
        counted = true;
      }
      const meta = isRec(message.response_metadata) ? message.response_metadata : {};
      const name = meta.model_name ?? meta.model;
      if (typeof name === "string" && name !== "") model ??= name;
      if (isRec(meta.cache) && meta.cache.hit === true) {
        cached = true;
        if (!savedCounted) {
          savedUsage = add(savedUsage, fromUsageMetadata(meta.cache.savedUsage));
          savedCounted = true;
        }
      }
    }
  }
  if (usage === undefined && !cached) usage = fromTokenUsage(output.llmOutput);
  if (model === undefined && isRec(output.llmOutput)) {
    const name = output.llmOutput.model_name ?? output.llmOutput.model;
    if (typeof name === "string" && name !== "") model = name;
  }
  return { usage, model, cached, savedUsage };
}
