import { GraphkeepError, StoreUnavailableError, withTimeout } from "@graphkeep/core";
import type Keyv from "keyv";
import { type Backend, type CommitBatch, detectBackend } from "./backends/index.js";

/** Store operations issued by a saver, by kind. Each `*Many` call counts once. */
export interface StoreOperationCounts {
  get: number;
  getMany: number;
  set: number;
  setMany: number;
  delete: number;
  deleteMany: number;
  /** checkpoint commits (entries + conditional index write) */
  commit: number;
  /** store round trips in all: one per operation, one or two per commit depending on the engine */
  roundTrips: number;
}

export interface StoreEntry {
  key: string;
  value: unknown;
  /** Store-level expiry in ms; omitted or 0 means never. */
  ttl?: number | undefined;
}

const CHUNK = 500;

/**
 * Thin layer over Keyv that turns every failure (thrown, swallowed `false`, or no answer within `timeout`)
 * into a {@link StoreUnavailableError}, and counts operations.
 */
export class Store {
  readonly keyv: Keyv;
  readonly counts: StoreOperationCounts = {
    get: 0,
    getMany: 0,
    set: 0,
    setMany: 0,
    delete: 0,
    deleteMany: 0,
    commit: 0,
    roundTrips: 0,
  };
  readonly backend: Backend;
  #timeout: number;
  #lastError: unknown;
  #ready: Promise<void> | undefined;

  constructor(keyv: Keyv, timeout: number) {
    this.keyv = keyv;
    this.#timeout = timeout;
    this.backend = detectBackend(keyv, timeout);
    // keyv swallows store errors unless told otherwise; a swallowed error would read as "no checkpoint".
    keyv.throwOnErrors = true;
    // keyv (and adapters) emit `error` events; keep the last one for diagnostics and never crash on them.
    keyv.on("error", (e: unknown) => {
      this.#lastError = e;
    });
  }

  /** Runs the adapter fixes once before the first operation; a failed attempt is retried by the next one. */
  ready(): Promise<void> {
    this.#ready ??= this.backend.prepare().catch((e) => {
      this.#ready = undefined;
      if (e instanceof GraphkeepError) throw e;
      const msg = e instanceof Error ? e.message : String(e);
      throw new StoreUnavailableError("connect", `KeyvSaver: preparing the ${this.backend.name} store failed: ${msg}`, {
        cause: e,
      });
    });
    return this.#ready;
  }

  async #run<T>(op: Exclude<keyof StoreOperationCounts, "roundTrips">, fn: () => Promise<T>): Promise<T> {
    await this.ready();
    this.counts[op] += 1;
    this.counts.roundTrips += op === "commit" ? (this.backend.commitRoundTrips ?? 1) : 1;
    try {
      return await withTimeout(
        this.#timeout,
        fn,
        () =>
          new StoreUnavailableError(
            op,
            `KeyvSaver: the store did not answer ${op} within ${this.#timeout} ms; check the connection (operationTimeoutMs option)`,
            { cause: this.#lastError },
          ),
      );
    } catch (e) {
      if (e instanceof GraphkeepError) throw e;
      const msg = e instanceof Error ? e.message : String(e);
      throw new StoreUnavailableError(op, `KeyvSaver: store ${op} failed: ${msg}`, { cause: e });
    }
  }

  get<T>(key: string): Promise<T | undefined> {
    return this.#run("get", () => this.keyv.get<T>(key));
  }

  async getMany<T>(keys: string[]): Promise<Array<T | undefined>> {
    if (keys.length === 0) return [];
    if (keys.length === 1) return [await this.get<T>(keys[0]!)];
    const adapter: unknown = this.keyv.store;
    if (!(adapter instanceof Map) && typeof (adapter as { getMany?: unknown }).getMany !== "function") {
      // keyv's fallback reads each key with allSettled and turns a failed read into "not found"
      return Promise.all(keys.map((k) => this.get<T>(k)));
    }
    const out: Array<T | undefined> = [];
    for (let i = 0; i < keys.length; i += CHUNK) {
      const part = keys.slice(i, i + CHUNK);
      const got = await this.#run("getMany", () => this.keyv.getMany<T>(part));
      for (const v of got) out.push(v as T | undefined);
    }
    return out;
  }

  async setMany(entries: StoreEntry[]): Promise<void> {
    if (entries.length === 0) return;
    if (entries.length === 1) {
      const e = entries[0]!;
      const ok = await this.#run("set", () => this.keyv.set(e.key, e.value, e.ttl ?? 0));
      if (ok === false) throw this.#refused("set");
      return;
    }
    for (let i = 0; i < entries.length; i += CHUNK) {
      const part = entries.slice(i, i + CHUNK).map((e) => ({ key: e.key, value: e.value, ttl: e.ttl ?? 0 }));
      const results = await this.#run("setMany", () => this.keyv.setMany(part));
      if (Array.isArray(results) && results.some((r) => r === false)) throw this.#refused("setMany");
    }
  }

  async deleteMany(keys: string[]): Promise<void> {
    if (keys.length === 0) return;
    if (keys.length === 1) {
      await this.#run("delete", () => this.keyv.delete(keys[0]!));
      return;
    }
    for (let i = 0; i < keys.length; i += CHUNK) {
      const part = keys.slice(i, i + CHUNK);
      await this.#run("deleteMany", () => this.keyv.deleteMany(part));
    }
  }

  /**
   * Writes a checkpoint's entries and then its thread index, only while the stored index still carries
   * `batch.index.expect`. One atomic round trip where the engine allows it; otherwise ordered writes through
   * Keyv (entries, then a read of the index token, then the index). Resolves false when the token moved on.
   */
  async commit(batch: CommitBatch): Promise<boolean> {
    await this.ready();
    const atomic = this.backend.commit;
    if (atomic !== undefined) return this.#run("commit", () => atomic(batch));
    await this.setMany(batch.entries);
    const current = await this.get<{ g?: unknown }>(batch.index.key);
    const { expect } = batch.index;
    if (expect === null ? current !== undefined : current?.g !== expect) return false;
    await this.setMany([{ key: batch.index.key, value: batch.index.value }]);
    return true;
  }

  #refused(op: string): StoreUnavailableError {
    const cause = this.#lastError;
    const msg = cause instanceof Error ? cause.message : "the store reported the write as failed";
    return new StoreUnavailableError(op, `KeyvSaver: store ${op} failed: ${msg}`, { cause });
  }

  async disconnect(): Promise<void> {
    await this.keyv.disconnect();
  }
}
