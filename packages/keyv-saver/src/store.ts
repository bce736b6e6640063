import { GraphkeepError, StoreUnavailableError, withTimeout } from "@graphkeep/core";
import type Keyv from "keyv";

/** Store operations issued by a saver, by kind. Each `*Many` call counts once. */
export interface StoreOperationCounts {
  get: number;
  getMany: number;
  set: number;
  setMany: number;
  delete: number;
  deleteMany: number;
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
  readonly counts: StoreOperationCounts = { get: 0, getMany: 0, set: 0, setMany: 0, delete: 0, deleteMany: 0 };
  #timeout: number;
  #lastError: unknown;

  constructor(keyv: Keyv, timeout: number) {
    this.keyv = keyv;
    this.#timeout = timeout;
    // keyv swallows store errors unless told otherwise; a swallowed error would read as "no checkpoint".
    keyv.throwOnErrors = true;
    // keyv (and adapters) emit `error` events; keep the last one for diagnostics and never crash on them.
    keyv.on("error", (e: unknown) => {
      this.#lastError = e;
    });
  }

  async #run<T>(op: keyof StoreOperationCounts, fn: () => Promise<T>): Promise<T> {
    this.counts[op] += 1;
    try {
      return await withTimeout(
        this.#timeout,
        fn,
        () =>
          new StoreUnavailableError(
            op,
            `KeyvSaver: the store did not answer ${op} within ${this.#timeout} ms; check the connection (operationTimeout option)`,
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

  #refused(op: string): StoreUnavailableError {
    const cause = this.#lastError;
    const msg = cause instanceof Error ? cause.message : "the store reported the write as failed";
    return new StoreUnavailableError(op, `KeyvSaver: store ${op} failed: ${msg}`, { cause });
  }

  async disconnect(): Promise<void> {
    await this.keyv.disconnect();
  }
}
