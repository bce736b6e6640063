import { AsyncLocalStorage } from "node:async_hooks";
import { AsyncLocalStorageProviderSingleton } from "@langchain/core/singletons";
import type { LLMCacheControl } from "./types.js";

/** What a model wrapped by `KeyvLLMCache.wrap` knows about the call in progress. */
export interface CallScope {
  /** Hash of the call's messages (replaces LangChain's prompt string in the key). */
  messagesHash: string;
  /** `metadata.cache` of the call's own config. */
  control: unknown;
  /** `configurable.thread_id` of the call's own config. */
  threadId: unknown;
}

/** The scope of the wrapped model call in progress, if any. */
export const callScope = new AsyncLocalStorage<CallScope>();

/** The run config LangChain/LangGraph made current (a graph node's config inside a LangGraph run). */
function runConfig(): { metadata?: Record<string, unknown>; configurable?: Record<string, unknown> } | undefined {
  try {
    return AsyncLocalStorageProviderSingleton.getRunnableConfig() as ReturnType<typeof runConfig>;
  } catch {
    return undefined;
  }
}

/** The per-call control and thread id: the wrapped call's own config first, then the current run config. */
export function currentCall(): { scope: CallScope | undefined; control: unknown; threadId: unknown } {
  const scope = callScope.getStore();
  const config = runConfig();
  return {
    scope,
    control: scope?.control ?? config?.metadata?.cache,
    threadId: scope?.threadId ?? config?.configurable?.thread_id ?? config?.metadata?.thread_id,
  };
}

/** True when a value is a valid {@link LLMCacheControl}. */
export function isControl(v: unknown): v is LLMCacheControl {
  if (v === "bypass" || v === "refresh" || v === "read-only") return true;
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const o = v as Record<string, unknown>;
  const known = new Set(["ttl", "namespace", "mode"]);
  return Object.keys(o).every((k) => known.has(k));
}
