import { InvalidArgumentError } from "@graphkeep/core";
import { BaseCache, deserializeStoredGeneration, serializeGeneration } from "@langchain/core/caches";
import type { BaseChatModel } from "@langchain/core/language_models/chat_models";
import { type AIMessage, isAIMessage, type StoredGeneration, type UsageMetadata } from "@langchain/core/messages";
import type { Generation } from "@langchain/core/outputs";
import type Keyv from "keyv";
import { currentCall, isControl } from "./context.js";
import { guarded, warnOnce } from "./guard.js";
import { hashEntry, isCacheablePrompt } from "./key.js";
import { type Signer, signerOf } from "./signing.js";
import { toMilliseconds } from "./ttl.js";
import type {
  KeyvLLMCacheOptions,
  LLMCacheHitInfo,
  LLMCacheMode,
  LLMCacheRejectInfo,
  LLMCacheScope,
  LLMCacheStats,
} from "./types.js";
import { wrapModel } from "./wrap.js";

const DEFAULTS = {
  namespace: "llm",
  mode: "read-write" as LLMCacheMode,
  timeout: 1000,
  scope: "shared" as LLMCacheScope,
};
const MODES: readonly LLMCacheMode[] = ["read-write", "read-only", "bypass"];
const RECORD_VERSION = 1;
/** A signed entry: `{ v: 2, sig, body }`, `body` the text of a version-1 record, `sig` its HMAC (see signing.ts). */
const SIGNED_VERSION = 2;
/** After a store failure, calls skip the store this long instead of each waiting out the timeout again. */
const OUTAGE_BACKOFF_MS = 5000;

/** What one entry holds in the store (as a JSON string). */
interface StoredRecord {
  v: typeof RECORD_VERSION;
  generations: Array<StoredGeneration & { generationInfo?: Record<string, unknown> }>;
  /** Content lengths of the chunks a streamed answer arrived in, to replay it the same way. */
  chunks?: number[];
}

/** @internal How one call uses the store. */
export interface Plan {
  key: string;
  namespace: string;
  ttl: number | undefined;
  read: boolean;
  write: boolean;
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

/** Why a stored entry was not served although it parsed: it carried no signature, or a wrong one. */
class Rejected extends Error {
  constructor(readonly reason: LLMCacheRejectInfo["reason"]) {
    super(reason === "unsigned" ? "the entry is not signed" : "the entry's signature does not match");
  }
}

/**
 * Parses, authenticates (when `signer` is set) and checks a stored entry; throws {@link Rejected} when a signature
 * is missing or wrong, another error when it is not an entry this cache wrote.
 */
function decode(raw: unknown, signer: Signer | undefined, signedKey: string): StoredRecord {
  let parsed: unknown = typeof raw === "string" ? JSON.parse(raw) : raw;
  if (isRecord(parsed) && parsed.v === SIGNED_VERSION) {
    if (typeof parsed.body !== "string") throw new Error("a signed entry without a body");
    if (signer !== undefined && !signer.verify(signedKey, parsed.body, parsed.sig)) throw new Rejected("bad-signature");
    parsed = JSON.parse(parsed.body);
  } else if (signer !== undefined) {
    throw new Rejected("unsigned");
  }
  if (!isRecord(parsed) || parsed.v !== RECORD_VERSION || !Array.isArray(parsed.generations)) {
    throw new Error("not an llm-cache record");
  }
  if (parsed.chunks !== undefined && (!Array.isArray(parsed.chunks) || !parsed.chunks.every(Number.isInteger))) {
    throw new Error("malformed chunk sizes");
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
  readonly #scope: LLMCacheScope;
  readonly #signer: Signer | undefined;
  #shared: Shared = {
    stats: { hits: 0, misses: 0, rejected: 0, replayedStreams: 0, savedInputTokens: 0, savedOutputTokens: 0 },
    warned: new Set(),
    downUntil: 0,
  };

  /**
   * @param keyv any Keyv instance (memory, SQLite, Redis, PostgreSQL, MySQL…)
   * @param options see {@link KeyvLLMCacheOptions}
   * @throws {InvalidArgumentError} on an invalid `ttl`, `mode`, `timeout`, `namespace` or `signingKey`
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
    this.#timeout = toMilliseconds(
      options.operationTimeoutMs ?? options.timeout ?? DEFAULTS.timeout,
      "KeyvLLMCache operationTimeoutMs",
    );
    if (o.scope !== "shared" && o.scope !== "thread") {
      throw new InvalidArgumentError(`KeyvLLMCache: scope must be "shared" or "thread"; got ${String(o.scope)}`);
    }
    this.#scope = o.scope;
    this.#signer =
      options.signingKey === undefined
        ? undefined
        : signerOf(options.signingKey, "KeyvLLMCache", "graphkeep.llm-cache.v2");
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

  /** The store key of a prompt and llm key (what `lookup` and `update` read and write without per-call control). */
  keyFor(prompt: string, llmKey: string): string {
    return `${this.namespace}:${hashEntry(prompt, llmKey)}`;
  }

  /** A copy of the counters (shared by every view of this cache). */
  stats(): LLMCacheStats {
    return { ...this.#shared.stats };
  }

  /**
   * The same model with keys built from its messages (images, audio and files hashed in), per-call control from
   * the call's own `metadata.cache`, and `.stream()` served from and stored to the cache (a hit replays the stored
   * chunks). Models made from the result with `bindTools`, `withConfig` or `bind` keep the wrapper.
   *
   * @throws {InvalidArgumentError} when the model already uses a different cache
   * @example
   * const model = cache.wrap(new ChatOpenAI({ model: "gpt-4o-mini" }));
   * for await (const chunk of await model.stream(messages, config)) process.stdout.write(String(chunk.content));
   */
  wrap<M extends BaseChatModel>(model: M): M {
    return wrapModel(this, model);
  }

  /**
   * Returns fresh generations for a cached prompt, or null on a miss (absent, corrupt, store down, bypassed, or —
   * outside `wrap` — a prompt with image/audio/video/file blocks, which LangChain's prompt string cannot tell apart).
   *
   * @throws {InvalidArgumentError} when the run's `metadata.cache` is not a valid {@link LLMCacheControl}
   */
  async lookup(prompt: string, llmKey: string): Promise<Generation[] | null> {
    const plan = this._plan(prompt, llmKey);
    if (plan === undefined || !plan.read) return this.#miss();
    return (await this._read(plan.key))?.generations ?? null;
  }

  /** Stores the generations of a prompt (unless the mode or control says not to). Store failures are warned about, not thrown. */
  async update(prompt: string, llmKey: string, value: Generation[]): Promise<void> {
    const plan = this._plan(prompt, llmKey);
    if (plan === undefined || !plan.write) return;
    await this._write(plan.key, value, plan.ttl);
  }

  /**
   * @internal Where and how the current call uses the store, from the cache's mode and scope, the call's control and
   * its messages (when made through {@link wrap}); undefined when the call is not cached at all.
   */
  _plan(prompt: string, llmKey: string): Plan | undefined {
    const { scope, control, threadId } = currentCall();
    let mode: LLMCacheMode | "refresh" = this.mode;
    let namespace = this.namespace;
    let ttl = this.#ttl;
    if (control !== undefined && control !== null) {
      if (!isControl(control)) {
        throw new InvalidArgumentError(
          `KeyvLLMCache: metadata.cache must be "bypass", "refresh", "read-only" or { ttl?, namespace?, mode? }; got ${JSON.stringify(control)}`,
        );
      }
      if (typeof control === "string") mode = control;
      else {
        if (control.mode !== undefined) {
          if (![...MODES, "refresh"].includes(control.mode)) {
            throw new InvalidArgumentError(
              `KeyvLLMCache: metadata.cache.mode ${JSON.stringify(control.mode)} is not a mode`,
            );
          }
          mode = control.mode;
        }
        if (control.namespace !== undefined) {
          if (typeof control.namespace !== "string" || control.namespace === "") {
            throw new InvalidArgumentError("KeyvLLMCache: metadata.cache.namespace must be a non-empty string");
          }
          namespace = `${namespace}:${control.namespace}`;
        }
        if (control.ttl !== undefined) ttl = toMilliseconds(control.ttl, "metadata.cache.ttl");
      }
    }
    if (mode === "bypass" || this.#storeDown()) return undefined;
    if (this.#scope === "thread") {
      if (typeof threadId !== "string" || threadId === "") {
        warnOnce(
          this.#shared.warned,
          "GRAPHKEEP_LLM_CACHE_NO_THREAD",
          'KeyvLLMCache: scope "thread" needs configurable.thread_id in the run config; a call without one is not cached',
        );
        return undefined;
      }
      namespace = `${namespace}:thread:${threadId}`;
    }
    let hash: string;
    if (scope !== undefined) hash = hashEntry(`messages:${scope.messagesHash}`, llmKey);
    else if (isCacheablePrompt(prompt)) hash = hashEntry(prompt, llmKey);
    else return undefined;
    return { key: `${namespace}:${hash}`, namespace, ttl, read: mode !== "refresh", write: mode !== "read-only" };
  }

  /** @internal Reads and revives one entry; a miss (counted) on absence, corruption or outage. */
  async _read(key: string): Promise<{ generations: Generation[]; chunks: number[] | undefined } | undefined> {
    const got = await guarded(this.#timeout, () => this.#keyv.get<unknown>(key));
    if (!got.ok) {
      this.#unavailable(got.error);
      this.#miss();
      return undefined;
    }
    if (got.value === undefined || got.value === null) {
      this.#miss();
      return undefined;
    }
    let record: StoredRecord;
    let generations: Generation[];
    let saved: UsageMetadata;
    try {
      record = decode(got.value, this.#signer, this.#signedKey(key));
      ({ generations, saved } = this.#revive(record));
    } catch (e) {
      if (e instanceof Rejected) {
        this.#rejected(key, e.reason);
        this.#miss();
        return undefined;
      }
      warnOnce(
        this.#shared.warned,
        "GRAPHKEEP_LLM_CACHE_CORRUPT",
        `KeyvLLMCache: entry "${key}" is corrupt; treating it as a miss, it is replaced by the next answer`,
        e,
      );
      this.#miss();
      return undefined;
    }
    const stats = this.#shared.stats;
    stats.hits += 1;
    stats.savedInputTokens += saved.input_tokens;
    stats.savedOutputTokens += saved.output_tokens;
    if (this.#options.onHit !== undefined) {
      const info: LLMCacheHitInfo = { key, namespace: key.slice(0, key.lastIndexOf(":")), savedUsage: { ...saved } };
      try {
        this.#options.onHit(info);
      } catch (e) {
        warnOnce(this.#shared.warned, "GRAPHKEEP_LLM_CACHE_HOOK", "KeyvLLMCache: the onHit hook threw; ignored", e);
      }
    }
    return { generations, chunks: record.chunks };
  }

  /** @internal Serializes (before any await) and stores generations, with a streamed answer's chunk sizes. */
  async _write(key: string, value: Generation[], ttl: number | undefined, chunks?: number[]): Promise<void> {
    let text: string;
    try {
      const record: StoredRecord = {
        v: RECORD_VERSION,
        generations: value.map((g) => ({
          ...serializeGeneration(g),
          ...(g.generationInfo === undefined ? {} : { generationInfo: g.generationInfo }),
        })),
        ...(chunks === undefined ? {} : { chunks }),
      };
      text = JSON.stringify(record);
      if (this.#signer !== undefined) {
        text = JSON.stringify({ v: SIGNED_VERSION, sig: this.#signer.sign(this.#signedKey(key), text), body: text });
      }
    } catch (e) {
      warnOnce(
        this.#shared.warned,
        "GRAPHKEEP_LLM_CACHE_UNSERIALIZABLE",
        "KeyvLLMCache: a response could not be serialized; not cached",
        e,
      );
      return;
    }
    const set = await guarded(this.#timeout, () => this.#keyv.set(key, text, ttl));
    if (!set.ok) this.#unavailable(set.error);
  }

  /** @internal Counts a stream replayed from the store. */
  _replayed(): void {
    this.#shared.stats.replayedStreams += 1;
  }

  /** What an entry's signature covers besides its text: the Keyv namespace and the store key. */
  #signedKey(key: string): string {
    return `${this.#keyv.namespace ?? ""}\0${key}`;
  }

  /** Counts and reports an entry refused for its signature: a miss, never served. */
  #rejected(key: string, reason: LLMCacheRejectInfo["reason"]): void {
    this.#shared.stats.rejected += 1;
    warnOnce(
      this.#shared.warned,
      reason === "unsigned" ? "GRAPHKEEP_LLM_CACHE_UNSIGNED" : "GRAPHKEEP_LLM_CACHE_FORGED",
      reason === "unsigned"
        ? `KeyvLLMCache: entry "${key}" is not signed although signingKey is set (written before signing was turned on, or planted in the store); not served, the model is called and the entry replaced`
        : `KeyvLLMCache: entry "${key}" has a wrong signature (altered or moved in the store, or signed with another key); not served, the model is called and the entry replaced`,
    );
    if (this.#options.onReject !== undefined) {
      const info: LLMCacheRejectInfo = { key, namespace: key.slice(0, key.lastIndexOf(":")), reason };
      try {
        this.#options.onReject(info);
      } catch (e) {
        warnOnce(this.#shared.warned, "GRAPHKEEP_LLM_CACHE_HOOK", "KeyvLLMCache: the onReject hook threw; ignored", e);
      }
    }
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
