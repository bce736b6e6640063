import type Keyv from "keyv";
import { type Backend, type CommitBatch, rawCodec, tokenPrefix } from "./types.js";

/**
 * Keyv's default in-process `Map`: the check and the writes run synchronously, so a commit is atomic by
 * construction and costs no round trip.
 */
export function memoryBackend(keyv: Keyv, map: Map<string, unknown>): Backend {
  let codec: Awaited<ReturnType<typeof rawCodec>>;
  return {
    name: "memory",
    async prepare() {
      codec = await rawCodec(keyv);
    },
    get commit() {
      return codec === undefined ? undefined : commit;
    },
  };

  async function commit(batch: CommitBatch): Promise<boolean> {
    const c = codec!;
    const rows = await Promise.all(batch.entries.map(async (e) => [c.key(e.key), await c.value(e.value)] as const));
    const indexValue = await c.value(batch.index.value);
    // from here on synchronous: nothing else runs between the check and the writes
    const indexKey = c.key(batch.index.key);
    const current = map.get(indexKey);
    const { expect } = batch.index;
    if (
      expect === null
        ? current !== undefined
        : !(typeof current === "string" && current.startsWith(tokenPrefix(expect)))
    ) {
      return false;
    }
    for (const [k, v] of rows) map.set(k, v);
    map.set(indexKey, indexValue);
    return true;
  }
}
