import { randomUUID } from "node:crypto";
import { InvalidArgumentError } from "@graphkeep/core";
import {
  BaseCache,
  type CacheFullKey,
  type CacheNamespace,
  type SerializerProtocol,
} from "@langchain/langgraph-checkpoint";
import type Keyv from "keyv";
import { guarded, warnOnce } from "./guard.js";
import { type Signer, signerOf } from "./signing.js";
import { toMilliseconds } from "./ttl.js";
import type { KeyvNodeCacheOptions, LLMCacheRejectInfo } from "./types.js";

const DEFAULTS = { namespace: "node", timeout: 1000 };

/** One stored node result: the serde type tag and the payload (base64 when binary); `sig` with `signingKey`. */
interface StoredValue {
  enc: string;
  val: string;
  bin: boolean;
  sig?: string;
}

/** What a node-cache signature covers besides the store key. */
const signedBody = (v: StoredValue): string => `${v.enc}\0${v.bin ? 1 : 0}\0${v.val}`;

function isStoredValue(v: unknown): v is StoredValue {
  if (typeof v !== "object" || v === null) return false;
  const r = v as Record<string, unknown>;
  return typeof r.enc === "string" && typeof r.val === "string" && typeof r.bin === "boolean";
}

/**
 * LangGraph node cache (`compile({ cache })` with a node's `cachePolicy`) over any Keyv store. TTLs are the
 * policy's seconds. `clear(namespaces)` works on every store: each namespace has a generation id in the key,
 * and clearing replaces it (old entries become unreachable and expire with their TTL).
 *
 * @example
 * const graph = builder.compile({ cache: new KeyvNodeCache(new Keyv(new KeyvBetterSqlite("sqlite://cache.db"))) });
 */
export class KeyvNodeCache<V = unknown> extends BaseCache<V> {
  /** The key prefix of this cache. */
  readonly namespace: string;
  readonly #keyv: Keyv;
  readonly #timeout: number;
  readonly #warned = new Set<string>();
  readonly #signer: Signer | undefined;
  readonly #onReject: KeyvNodeCacheOptions["onReject"];

  /**
   * @param keyv any Keyv instance
   * @param options see {@link KeyvNodeCacheOptions}
   * @param serde the serializer of node results
   * @default serde LangGraph's JsonPlusSerializer
   * @throws {InvalidArgumentError} on an empty `namespace`, an invalid `timeout` or `signingKey`
   */
  constructor(keyv: Keyv, options: KeyvNodeCacheOptions = {}, serde?: SerializerProtocol) {
    super(serde);
    const namespace = options.namespace ?? DEFAULTS.namespace;
    if (typeof namespace !== "string" || namespace === "") {
      throw new InvalidArgumentError("KeyvNodeCache: namespace must be a non-empty string");
    }
    this.namespace = namespace;
    this.#keyv = keyv;
    this.#timeout = toMilliseconds(
      options.operationTimeoutMs ?? options.timeout ?? DEFAULTS.timeout,
      "KeyvNodeCache operationTimeoutMs",
    );
    this.#signer =
      options.signingKey === undefined
        ? undefined
        : signerOf(options.signingKey, "KeyvNodeCache", "graphkeep.node-cache.v1");
    this.#onReject = options.onReject;
  }

  /** Cached values for the keys found (missing, expired, corrupt or unreadable keys are left out). */
  async get(keys: CacheFullKey[]): Promise<{ key: CacheFullKey; value: V }[]> {
    if (keys.length === 0) return [];
    const generations = await this.#generations(keys.map(([ns]) => ns));
    if (generations === undefined) return [];
    const storeKeys = keys.map(([ns, key]) => this.#entryKey(generations, ns, key));
    const got = await guarded(this.#timeout, () => this.#keyv.getMany<unknown>(storeKeys));
    if (!got.ok) {
      this.#unavailable(got.error);
      return [];
    }
    const out: { key: CacheFullKey; value: V }[] = [];
    for (const [i, raw] of got.value.entries()) {
      const fullKey = keys[i];
      if (raw === undefined || raw === null || fullKey === undefined) continue;
      try {
        if (!isStoredValue(raw)) throw new Error("not a node-cache record");
        if (
          this.#signer !== undefined &&
          !this.#signer.verify(this.#signedKey(storeKeys[i]!), signedBody(raw), raw.sig)
        ) {
          this.#rejected(storeKeys[i]!, raw.sig === undefined ? "unsigned" : "bad-signature");
          continue;
        }
        const payload = raw.bin ? new Uint8Array(Buffer.from(raw.val, "base64")) : raw.val;
        out.push({ key: fullKey, value: (await this.serde.loadsTyped(raw.enc, payload)) as V });
      } catch (e) {
        warnOnce(
          this.#warned,
          "GRAPHKEEP_NODE_CACHE_CORRUPT",
          `KeyvNodeCache: entry "${storeKeys[i]}" is corrupt; the node runs again and replaces it`,
          e,
        );
      }
    }
    return out;
  }

  /** Stores node results; `ttl` is in seconds (none: kept until cleared). Store failures are warned about. */
  async set(pairs: { key: CacheFullKey; value: V; ttl?: number }[]): Promise<void> {
    if (pairs.length === 0) return;
    const generations = await this.#generations(pairs.map(({ key: [ns] }) => ns));
    if (generations === undefined) return;
    const entries = await Promise.all(
      pairs.map(async ({ key: [ns, key], value, ttl }) => {
        const [enc, val] = await this.serde.dumpsTyped(value);
        const stored: StoredValue =
          typeof val === "string"
            ? { enc, val, bin: false }
            : { enc, val: Buffer.from(val).toString("base64"), bin: true };
        const storeKey = this.#entryKey(generations, ns, key);
        if (this.#signer !== undefined) stored.sig = this.#signer.sign(this.#signedKey(storeKey), signedBody(stored));
        return { key: storeKey, value: stored, ttl: ttl == null ? undefined : ttl * 1000 };
      }),
    );
    const set = await guarded(this.#timeout, () => this.#keyv.setMany(entries));
    if (!set.ok) this.#unavailable(set.error);
  }

  /** Forgets every entry of the given namespaces, or of this whole cache when none are given. */
  async clear(namespaces: CacheNamespace[]): Promise<void> {
    const keys = namespaces.length === 0 ? [this.#rootKey()] : namespaces.map((ns) => this.#generationKey(ns));
    const set = await guarded(this.#timeout, () =>
      this.#keyv.setMany(keys.map((key) => ({ key, value: randomUUID() }))),
    );
    if (!set.ok) this.#unavailable(set.error);
  }

  #rootKey(): string {
    return `${this.namespace}:gen`;
  }

  #generationKey(ns: CacheNamespace): string {
    return `${this.namespace}:gen:${JSON.stringify(ns)}`;
  }

  #entryKey(generations: Map<string, string>, ns: CacheNamespace, key: string): string {
    const root = generations.get(this.#rootKey()) ?? "0";
    const gen = generations.get(this.#generationKey(ns)) ?? "0";
    return `${this.namespace}:${root}:${gen}:${JSON.stringify(ns)}:${key}`;
  }

  /** The current generation ids of the root and of each namespace; undefined when the store is down. */
  async #generations(namespaces: CacheNamespace[]): Promise<Map<string, string> | undefined> {
    const keys = [this.#rootKey(), ...new Set(namespaces.map((ns) => this.#generationKey(ns)))];
    const got = await guarded(this.#timeout, () => this.#keyv.getMany<string>(keys));
    if (!got.ok) {
      this.#unavailable(got.error);
      return undefined;
    }
    const out = new Map<string, string>();
    for (const [i, v] of got.value.entries()) {
      const k = keys[i];
      if (k !== undefined && typeof v === "string") out.set(k, v);
    }
    return out;
  }

  #signedKey(storeKey: string): string {
    return `${this.#keyv.namespace ?? ""}\0${storeKey}`;
  }

  /** Reports an entry refused for its signature: the node runs again. */
  #rejected(key: string, reason: LLMCacheRejectInfo["reason"]): void {
    warnOnce(
      this.#warned,
      reason === "unsigned" ? "GRAPHKEEP_NODE_CACHE_UNSIGNED" : "GRAPHKEEP_NODE_CACHE_FORGED",
      `KeyvNodeCache: entry "${key}" ${reason === "unsigned" ? "is not signed although signingKey is set" : "has a wrong signature (altered, moved or signed with another key)"}; not served, the node runs again and replaces it`,
    );
    if (this.#onReject === undefined) return;
    try {
      this.#onReject({ key, namespace: this.namespace, reason });
    } catch (e) {
      warnOnce(this.#warned, "GRAPHKEEP_NODE_CACHE_HOOK", "KeyvNodeCache: the onReject hook threw; ignored", e);
    }
  }

  #unavailable(error: unknown): void {
    warnOnce(
      this.#warned,
      "GRAPHKEEP_NODE_CACHE_UNAVAILABLE",
      "KeyvNodeCache: the store failed or timed out; nodes run without the cache",
      error,
    );
  }
}
