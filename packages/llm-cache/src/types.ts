import type { UsageMetadata } from "@langchain/core/messages";

/** A duration: milliseconds as a number, or a string like `"500ms"`, `"30s"`, `"15m"`, `"12h"`, `"1d"`, `"2w"`. */
export type Duration = number | string;

/**
 * What the LLM cache does with the store.
 * - `"read-write"`: hits are served, misses are stored.
 * - `"read-only"`: hits are served, nothing new is stored.
 * - `"bypass"`: the store is not touched; every call goes to the model.
 */
export type LLMCacheMode = "read-write" | "read-only" | "bypass";

/**
 * Per-call control, given as `metadata.cache` in a run config: the graph's (`graph.invoke(input, { metadata: { cache:
 * "refresh" } })`, seen by every model call of the run) or, for a model wrapped with `cache.wrap(model)`, the call's
 * own (`model.invoke(messages, { ...config, metadata: { ...config.metadata, cache: "bypass" } })`).
 * - `"bypass"`: neither read nor write; `"refresh"`: call the model and overwrite the entry; `"read-only"`: serve
 *   hits, store nothing;
 * - `{ ttl, namespace, mode }`: this call's entry lifetime, a sub-namespace (`<namespace>:<ns>`), and/or mode.
 */
export type LLMCacheControl =
  | "bypass"
  | "refresh"
  | "read-only"
  | { ttl?: Duration | undefined; namespace?: string | undefined; mode?: LLMCacheMode | "refresh" | undefined };

/**
 * Which calls share entries.
 * - `"shared"`: every thread (a second thread asking the same thing is free);
 * - `"thread"`: entries live under the run's `thread_id`, so only a resumed or rewound run of the same thread replays
 *   them (exact replay; other threads always ask the model). A call without a thread id is not cached.
 */
export type LLMCacheScope = "shared" | "thread";

/** What {@link KeyvLLMCacheOptions.onHit} receives on every cache hit. */
export interface LLMCacheHitInfo {
  /** The store key of the entry (a sha256, prefixed with the namespace). */
  key: string;
  /** The namespace the entry was read from. */
  namespace: string;
  /** The usage the cached response had when it was paid for, summed over its generations. */
  savedUsage: UsageMetadata;
}

/** What {@link KeyvLLMCacheOptions.onReject} receives for every entry refused for its signature. */
export interface LLMCacheRejectInfo {
  /** The store key of the entry. */
  key: string;
  /** The namespace the entry was read from. */
  namespace: string;
  /** `"unsigned"`: the entry has no signature; `"bad-signature"`: it was altered, moved or signed with another key. */
  reason: "unsigned" | "bad-signature";
}

/** Counters since the cache was created, shared by every view made with `withNamespace`. */
export interface LLMCacheStats {
  /** Lookups answered from the store. */
  hits: number;
  /** Lookups that found nothing usable (absent, corrupt, refused for its signature, store down, or bypassed). */
  misses: number;
  /** Entries refused because `signingKey` is set and their signature is missing or wrong (also counted in `misses`). */
  rejected: number;
  /** Streamed calls replayed from the store (also counted in `hits`). */
  replayedStreams: number;
  /** Input tokens not paid for thanks to hits. */
  savedInputTokens: number;
  /** Output tokens not paid for thanks to hits. */
  savedOutputTokens: number;
}

/** Options of {@link KeyvLLMCache}. */
export interface KeyvLLMCacheOptions {
  /**
   * How long an entry lives: milliseconds, or a string like `"1d"`.
   * @default undefined (entries never expire)
   */
  ttl?: Duration | undefined;
  /**
   * Prefix of every key, so one Keyv can hold several caches.
   * @default "llm"
   */
  namespace?: string | undefined;
  /**
   * What the cache does with the store (see {@link LLMCacheMode}).
   * @default "read-write"
   */
  mode?: LLMCacheMode | undefined;
  /**
   * Milliseconds a store call may take before the cache gives up on it (a lookup becomes a miss, an update is dropped).
   * @default 1000
   */
  operationTimeoutMs?: number | undefined;
  /** @deprecated since 0.2: use `operationTimeoutMs` (same meaning; removed in 0.3). */
  timeout?: number | undefined;
  /**
   * Which calls share entries (see {@link LLMCacheScope}).
   * @default "shared"
   */
  scope?: LLMCacheScope | undefined;
  /**
   * Called on every hit, e.g. for cost reporting. A hook that throws is ignored (reported once as a warning).
   * @default undefined
   */
  onHit?: ((info: LLMCacheHitInfo) => void) | undefined;
  /**
   * Signs every entry written (HMAC-SHA256 over the Keyv namespace, the store key and the entry) and serves only
   * entries whose signature checks out: an unsigned, altered or moved entry is a miss (the model is called and the
   * entry replaced), counted in `stats().rejected`, reported once per cache as a process warning
   * (`GRAPHKEEP_LLM_CACHE_UNSIGNED` / `GRAPHKEEP_LLM_CACHE_FORGED`) and to `onReject`. 32 random bytes or more, as
   * bytes or base64 (`openssl rand -base64 32`). Without it, whoever can write the store decides what the model
   * "answered".
   * @default undefined (entries are not signed, and the store is trusted)
   */
  signingKey?: Uint8Array | string | undefined;
  /**
   * Called for every entry refused for its signature (with `signingKey`). A hook that throws is ignored (reported
   * once as a warning).
   * @default undefined
   */
  onReject?: ((info: LLMCacheRejectInfo) => void) | undefined;
}

/** Options of {@link KeyvNodeCache}. */
export interface KeyvNodeCacheOptions {
  /**
   * Prefix of every key, so one Keyv can hold several caches.
   * @default "node"
   */
  namespace?: string | undefined;
  /**
   * Milliseconds a store call may take before the cache gives up on it (a read becomes a miss, a write is dropped).
   * @default 1000
   */
  operationTimeoutMs?: number | undefined;
  /** @deprecated since 0.2: use `operationTimeoutMs` (same meaning; removed in 0.3). */
  timeout?: number | undefined;
  /**
   * Signs every node result written (HMAC-SHA256 over the Keyv namespace, the store key and the entry) and uses
   * only results whose signature checks out; others make the node run again (one warning per cache, and
   * `onReject`). 32 random bytes or more, as bytes or base64 (`openssl rand -base64 32`).
   * @default undefined (entries are not signed, and the store is trusted)
   */
  signingKey?: Uint8Array | string | undefined;
  /**
   * Called for every entry refused for its signature (with `signingKey`). A hook that throws is ignored.
   * @default undefined
   */
  onReject?: ((info: LLMCacheRejectInfo) => void) | undefined;
}
