import { InvalidArgumentError } from "@graphkeep/core";
import { BaseCache, deserializeStoredGeneration, serializeGeneration } from "@langchain/core/caches";
import { type AIMessage, isAIMessage, type StoredGeneration, type UsageMetadata } from "@langchain/core/messages";
import type { Generation } from "@langchain/core/outputs";
import type Keyv from "keyv";
import { guarded, warnOnce } from "./guard.js";
import { hashEntry, isCacheablePrompt } from "./key.js";
import { toMilliseconds } from "./ttl.js";
import type { KeyvLLMCacheOptions, LLMCacheHitInfo, LLMCacheMode, LLMCacheStats } from "./types.js";

const DEFAULTS = { namespace: "llm", mode: "read-write" as LLMCacheMode, timeout: 1000 };
const MODES: readonly LLMCacheMode[] = ["read-write", "read-only", "bypass"];
const RECORD_VERSION = 1;
/** After a store failure, calls skip the store this long instead of each waiting out the timeout again. */
const OUTAGE_BACKOFF_MS = 5000;

/** What one entry holds in the store (as a JSON string). */
interface StoredRecord {
  v: typeof RECORD_VERSION;
  generations: Array<StoredGeneration & { generationInfo?: Record<string, unknown> }>;
}

interface Shared {
  stats: LLMCacheStats;
  warned: Set<string>;
  /** Date.now() until which the store is considered down. */
  downUntil: number;
}

const zeroUsage = (): UsageMetadata => ({ input_tokens: 0, output_tokens: 0, total_tokens: 0 });

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Parses and checks a stored entry; throws when it is not one this cache wrote. */
function decode(raw: unknown): StoredRecord {
  const parsed: unknown = typeof raw === "string" ? JSON.parse(raw) : raw;
  if (!isRecord(parsed) || parsed.v !== RECORD_VERSION || !Array.isArray(parsed.generations)) {
    throw new Error("not an llm-cache record");
  }
  for (const g of parsed.generations as unknown[]) {
    if (!isRecord(g) || typeof g.text !== "string") throw new Error("generation without text");
    if (g.message !== undefined && (!isRecord(g.message) || typeof g.message.type !== "string")) {
      throw new Error("generation with a malformed message");
    }
  }
  return parsed as unknown as StoredRecord;
}

/**
 * LangChain LLM cache over any Keyv store that hits inside LangGraph nodes: the key is a sha256 of the prompt and
 * the model's call parameters without LangGraph runtime fields and credentials. Values are cloned on every read;
 * a hit reports zero usage and keeps what it saved in `response_metadata.cache`. A corrupt entry or a store
 * outage is a miss with a warning, never a failed model call.
 *
 * @example
 * const cache = new KeyvLLMCache(new Keyv(new KeyvRedis("redis://localhost")), { ttl: "1d" });
 * const model = new ChatOpenAI({ model: "gpt-4o-mini", cache });
 * // in a node: await model.invoke(state.messages, config) — the second identical call is free
 */
export class KeyvLLMCache extends BaseCache<Generation[]> {
  /** The key prefix of this cache (or view). */
  readonly namespace: string;
  /** What the cache does with the store. */
  readonly mode: LLMCacheMode;
  readonly #keyv: Keyv;
  readonly #options: KeyvLLMCacheOptions;
  readonly #ttl: number | undefined;
  readonly #timeout: number;
  #shared: Shared = {
    stats: { hits: 0, misses: 0, savedInputTokens: 0, savedOutputTokens: 0 },
    warned: new Set(),
    downUntil: 0,
  };

  /**
   * @param keyv any Keyv instance (memory, SQLite, Redis, PostgreSQL, MySQL…)
   * @param options see {@link KeyvLLMCacheOptions}
   * @throws {InvalidArgumentError} on an invalid `ttl`, `mode`, `timeout` or `namespace`
   */
  constructor(keyv: Keyv, options: KeyvLLMCacheOptions = {}) {
    super();
    const o = { ...DEFAULTS, ...stripUndefined(options) };
    if (!MODES.includes(o.mode)) {
      throw new InvalidArgumentError(`KeyvLLMCache: mode must be one of ${MODES.join(", ")}; got ${String(o.mode)}`);
    }
    if (typeof o.namespace !== "string" || o.namespace === "") {
      throw new InvalidArgumentError("KeyvLLMCache: namespace must be a non-empty string");
    }
    this.#keyv = keyv;
    this.#options = options;
    this.namespace = o.namespace;
    this.mode = o.mode;
    this.#ttl = options.ttl === undefined ? undefined : toMilliseconds(options.ttl, "KeyvLLMCache ttl");
    this.#timeout = toMilliseconds(o.timeout, "KeyvLLMCache timeout");
  }

  /**
   * A view of this cache whose entries live under `namespace:<ns>` (e.g. one per thread or tenant). It shares the
   * store, options and {@link stats} with this cache.
   *
   * @throws {InvalidArgumentError} when `ns` is empty
   * @example
   * const model = new ChatOpenAI({ cache: cache.withNamespace(threadId) });
   */
  withNamespace(ns: string): KeyvLLMCache {
    if (typeof ns !== "string" || ns === "") {
      throw new InvalidArgumentError("KeyvLLMCache.withNamespace: ns must be a non-empty string");
    }
    const view = new KeyvLLMCache(this.#keyv, { ...this.#options, namespace: `${this.namespace}:${ns}` });
    view.#shared = this.#shared;
    return view;
  }

  /** The store key of a prompt and llm key (what `lookup` and `update` read and write). */
  keyFor(prompt: string, llmKey: string): string {
    return `${this.namespace}:${hashEntry(prompt, llmKey)}`;
  }

  /** A copy of the counters (shared by every view of this cache). */
  stats(): LLMCacheStats {
    return { ...this.#shared.stats };
  }

  /**
   * Returns fresh generations for a cached prompt, or null on a miss (absent, corrupt, store down, bypass, or a
   * prompt with image/audio/video/file blocks, which LangChain's prompt string cannot tell apart).
   */
  async lookup(prompt: string, llmKey: string): Promise<Generation[] | null> {
    if (this.mode === "bypass" || this.#storeDown() || !isCacheablePrompt(prompt)) return this.#miss();
    const key = this.keyFor(prompt, llmKey);
    const got = await guarded(this.#timeout, () => this.#keyv.get<unknown>(key));
    if (!got.ok) {
      this.#unavailable(got.error);
      return this.#miss();
    }
    if (got.value === undefined || got.value === null) return this.#miss();
    let generations: Generation[];
    let saved: UsageMetadata;
    try {
      ({ generations, saved } = this.#revive(decode(got.value)));
    } catch (e) {
      warnOnce(
        this.#shared.warned,
        "GRAPHKEEP_LLM_CACHE_CORRUPT",
        `KeyvLLMCache: entry "${key}" is corrupt; treating it as a miss, it is replaced by the next answer`,
        e,
      );
      return this.#miss();
    }
    const stats = this.#shared.stats;
    stats.hits += 1;
    stats.savedInputTokens += saved.input_tokens;
    stats.savedOutputTokens += saved.output_tokens;
    if (this.#options.onHit !== undefined) {
      const info: LLMCacheHitInfo = { key, namespace: this.namespace, savedUsage: { ...saved } };
      try {
        this.#options.onHit(info);
      } catch (e) {
        warnOnce(this.#shared.warned, "GRAPHKEEP_LLM_CACHE_HOOK", "KeyvLLMCache: the onHit hook threw; ignored", e);
      }
    }
    return generations;
  }

  /** Stores the generations of a prompt (only in `"read-write"` mode). Store failures are warned about, not thrown. */
  async update(prompt: string, llmKey: string, value: Generation[]): Promise<void> {
    if (this.mode !== "read-write" || this.#storeDown() || !isCacheablePrompt(prompt)) return;
    const key = this.keyFor(prompt, llmKey);
    let text: string;
    try {
      // serialized now, before any await, so later changes to the caller's messages never reach the store
      const record: StoredRecord = {
        v: RECORD_VERSION,
        generations: value.map((g) => ({
          ...serializeGeneration(g),
          ...(g.generationInfo === undefined ? {} : { generationInfo: g.generationInfo }),
        })),
      };
      text = JSON.stringify(record);
    } catch (e) {
      warnOnce(
        this.#shared.warned,
        "GRAPHKEEP_LLM_CACHE_UNSERIALIZABLE",
        "KeyvLLMCache: a response could not be serialized; not cached",
        e,
      );
      return;
    }
    const set = await guarded(this.#timeout, () => this.#keyv.set(key, text, this.#ttl));
    if (!set.ok) this.#unavailable(set.error);
  }

  #storeDown(): boolean {
    return Date.now() < this.#shared.downUntil;
  }

  #unavailable(error: unknown): void {
    this.#shared.downUntil = Date.now() + OUTAGE_BACKOFF_MS;
    warnOnce(
      this.#shared.warned,
      "GRAPHKEEP_LLM_CACHE_UNAVAILABLE",
      `KeyvLLMCache: the store failed or timed out; calling the model without the cache for the next ${OUTAGE_BACKOFF_MS / 1000} s`,
      error,
    );
  }

  #miss(): null {
    this.#shared.stats.misses += 1;
    return null;
  }

  /** Fresh objects from a stored record, with usage zeroed and the saved usage kept at `response_metadata.cache`. */
  #revive(record: StoredRecord): { generations: Generation[]; saved: UsageMetadata } {
    const saved = zeroUsage();
    const generations = record.generations.map((stored): Generation => {
      const g: Generation & { message?: unknown } = deserializeStoredGeneration(stored);
      if (stored.generationInfo !== undefined) g.generationInfo = stored.generationInfo;
      if (g.message !== undefined && isAIMessage(g.message as AIMessage)) {
        const m = g.message as AIMessage;
        const usage = m.usage_metadata ?? zeroUsage();
        saved.input_tokens += usage.input_tokens;
        saved.output_tokens += usage.output_tokens;
        saved.total_tokens += usage.total_tokens;
        m.response_metadata = { ...m.response_metadata, cache: { hit: true, savedUsage: usage } };
        m.usage_metadata = zeroUsage();
      }
      return g;
    });
    return { generations, saved };
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
