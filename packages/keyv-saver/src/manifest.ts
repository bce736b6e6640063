import type { SerializerProtocol } from "@langchain/langgraph-checkpoint";
import type { Store } from "./store.js";

/**
 * Key of the store manifest, relative to the Keyv namespace (so `<namespace>:graphkeep:manifest` in a SQL table,
 * `<namespace>::graphkeep:manifest` in Redis). No thread key can take it: thread keys start with `{`, registry
 * shards with `threads:`.
 */
export const MANIFEST_KEY = "graphkeep:manifest";

/**
 * What a store says about itself, written once by the first `put` of a saver (when absent), so tools such as
 * `graphkeep` find a store built by hand (`new Keyv({ store, namespace: "costs" })`) and say what it needs.
 *
 * @example
 * const m = await keyv.get<StoreManifest>(MANIFEST_KEY); // { by: "@graphkeep/keyv-saver", layout: 1, namespace: "costs", … }
 */
export interface StoreManifest {
  by: "@graphkeep/keyv-saver";
  /** version of the key layout (keys.ts) */
  layout: 1;
  /** the Keyv namespace the saver writes under (`null`: none) */
  namespace: string | null;
  /** the SQL table, for adapters that have one */
  table: string | null;
  /** the store engine the saver recognised: sqlite, postgres, mysql, redis, memory, generic */
  adapter: string;
  /** the serde's type tag for a small value: `json`, `json+aes` (encrypted)…; `unknown` when it could not tell */
  serde: string;
  /** when the manifest was written (ISO 8601) */
  createdAt: string;
}

const done = new WeakMap<Store, Promise<void>>();

async function write(store: Store, serde: SerializerProtocol): Promise<void> {
  if ((await store.get(MANIFEST_KEY)) !== undefined) return;
  let type = "unknown";
  try {
    [type] = await serde.dumpsTyped({ graphkeep: "manifest" });
  } catch {
    // a serde that cannot write a plain object says nothing about itself
  }
  const keyv = store.keyv;
  const table = (keyv.store as { opts?: { table?: unknown } } | undefined)?.opts?.table;
  const manifest: StoreManifest = {
    by: "@graphkeep/keyv-saver",
    layout: 1,
    namespace: typeof keyv.namespace === "string" && keyv.namespace !== "" ? keyv.namespace : null,
    table: typeof table === "string" ? table : null,
    adapter: store.backend.name,
    serde: type,
    createdAt: new Date().toISOString(),
  };
  await store.setMany([{ key: MANIFEST_KEY, value: manifest }]);
}

/**
 * Writes the store manifest when the store has none: once per store per process (a failed attempt is retried by the
 * next call). Never throws: the manifest only describes the store, a checkpoint write must not fail over it.
 */
export function ensureManifest(store: Store, serde: SerializerProtocol): Promise<void> {
  let p = done.get(store);
  if (p === undefined) {
    p = write(store, serde).catch(() => {
      done.delete(store);
    });
    done.set(store, p);
  }
  return p;
}
