// Where the examples keep their checkpoints: GRAPHKEEP_STORE (sqlite://, redis://, postgres://, mysql://, memory:)
// or, by default, an embedded SQLite file under the OS temp directory.
import { randomUUID } from "node:crypto";
import { mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KeyvSaver, type KeyvSaverUrlOptions } from "@graphkeep/keyv-saver";
import type Keyv from "keyv";
import { reachable as probe } from "./reachable.js";

/** The embedded default: one SQLite file shared by every example run. */
export function defaultStoreUrl(): string {
  const dir = join(tmpdir(), "graphkeep-examples");
  mkdirSync(dir, { recursive: true });
  return `sqlite://${join(dir, "example.db")}`;
}

/** The store URL the examples use: `GRAPHKEEP_STORE`, else the embedded SQLite file. */
export const storeUrl: string = process.env.GRAPHKEEP_STORE || defaultStoreUrl();

/** Keyv namespace of the checkpoints (`GRAPHKEEP_NAMESPACE`, default the CLI's default `graphkeep`). */
export const namespace: string = process.env.GRAPHKEEP_NAMESPACE || "graphkeep";

/** The store kind of a URL, for the narrative: `sqlite`, `redis`, `postgres`, `mysql` or `memory`. */
export function storeKind(url: string = storeUrl): string {
  const scheme = url.slice(0, url.indexOf(":")).toLowerCase();
  return scheme === "postgresql" ? "postgres" : scheme === "rediss" ? "redis" : scheme;
}

/** Opens the checkpoint store: `KeyvSaver.fromUrl(storeUrl)`. */
export function openSaver(options: KeyvSaverUrlOptions = {}, url: string = storeUrl): Promise<KeyvSaver> {
  return KeyvSaver.fromUrl(url, { namespace, ...options });
}

/**
 * A plain Keyv on the same store, under its own namespace, for what is not a checkpoint (LLM cache entries, cost
 * totals). It borrows the adapter setup of `KeyvSaver.fromUrl` (WAL for SQLite, LONGTEXT for MySQL, pool guards).
 */
export async function openKeyv(ns: string, url: string = storeUrl): Promise<Keyv> {
  const saver = await KeyvSaver.fromUrl(url, { namespace: `${namespace}-${ns}`, table: "graphkeep_kv" });
  return saver.keyv;
}

/** A short random suffix, so each run of an example gets fresh thread ids on a shared store. */
export function runSuffix(): string {
  return randomUUID().slice(0, 8);
}

/** Resolves true when a server answers at the URL within 1 s; a malformed URL is simply not reachable. */
export function reachable(url: string, defaultPort: number): Promise<boolean> {
  return URL.canParse(url) ? probe(url, defaultPort) : Promise.resolve(false);
}
