export { hashEntry, isCacheablePrompt, normalizeLlmKey, normalizePrompt, parseLlmKey } from "./key.js";
export { KeyvLLMCache } from "./llm-cache.js";
export { hashMessages } from "./messages-key.js";
export { KeyvNodeCache } from "./node-cache.js";
export { toMilliseconds } from "./ttl.js";
export type {
  Duration,
  KeyvLLMCacheOptions,
  KeyvNodeCacheOptions,
  LLMCacheControl,
  LLMCacheHitInfo,
  LLMCacheMode,
  LLMCacheRejectInfo,
  LLMCacheScope,
  LLMCacheStats,
} from "./types.js";
