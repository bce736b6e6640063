import { createHash } from "node:crypto";

/**
 * Key layout (relative to the Keyv namespace). `{t}` is the encoded thread id inside braces, so every key of a
 * thread shares one Redis Cluster hash slot.
 *
 * | key                         | holds                                                        |
 * |-----------------------------|--------------------------------------------------------------|
 * | `threads:<shard>`           | thread registry shard: ids of the threads it lists           |
 * | `{t}:idx`                   | thread index: per namespace, the newest `[checkpointId, parent]` |
 * | `{t}:ix:<ns>:<page>`        | a full page of 32 older index entries (written once)         |
 * | `{t}:meta`                  | created/updated time of the thread                           |
 * | `{t}:c:<ns>:<checkpointId>` | checkpoint record (checkpoint without values, metadata)     |
 * | `{t}:v:<ns>:<channel>:<ver>`| one channel value at one version                             |
 * | `{t}:w:<ns>:<checkpointId>` | pending writes of one checkpoint                             |
 */
export const REGISTRY_SHARDS = 16;

const SAFE = /^[A-Za-z0-9_.-]*$/;
/** Longest key (before the Keyv namespace) written as is; longer keys are hashed (SQL adapters use VARCHAR(255)). */
const MAX_KEY = 180;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
/** False when `s` has a lone surrogate (String.prototype.isWellFormed, which TypeScript's ES2022 lib lacks). */
const wellFormed = (s: string) => !LONE_SURROGATE.test(s);

/** The shape of a hashed thread tag: a plain id of this shape is encoded instead, so no id can produce one. */
const HASHED = /^h-[A-Za-z0-9_-]{32}$/;

/**
 * Encodes one key part so that `:`, `{` and `}` inside ids cannot break the layout: a plain part as is, anything
 * else as `~` + base64url of its UTF-8, and a string with lone surrogates (which UTF-8 cannot carry: they would
 * all become U+FFFD) as `!` + base64url of its UTF-16 code units.
 */
export function enc(part: string): string {
  if (SAFE.test(part) && !HASHED.test(part)) return part;
  if (!wellFormed(part)) return `!${Buffer.from(part, "utf16le").toString("base64url")}`;
  return `~${Buffer.from(part, "utf8").toString("base64url")}`;
}

function hashed(s: string): string {
  // hash what enc() encodes: UTF-16 code units, so ids differing only in lone surrogates hash apart
  return createHash("sha256")
    .update(wellFormed(s) ? Buffer.from(s, "utf8") : Buffer.from(s, "utf16le"))
    .digest("base64url")
    .slice(0, 32);
}

function fit(tag: string, rest: string): string {
  const key = `${tag}:${rest}`;
  return key.length <= MAX_KEY ? key : `${tag}:h:${hashed(rest)}`;
}

export function threadTag(threadId: string): string {
  const e = enc(threadId);
  return `{${e.length <= 64 ? e : `h-${hashed(threadId)}`}}`;
}

export function registryShard(threadId: string): number {
  return createHash("sha1").update(threadId).digest()[0]! % REGISTRY_SHARDS;
}

export const keys = {
  registry: (shard: number) => `threads:${shard.toString(16)}`,
  index: (threadId: string) => `${threadTag(threadId)}:idx`,
  meta: (threadId: string) => `${threadTag(threadId)}:meta`,
  indexPage: (threadId: string, ns: string, page: number) => fit(threadTag(threadId), `ix:${enc(ns)}:${page}`),
  checkpoint: (threadId: string, ns: string, checkpointId: string) =>
    fit(threadTag(threadId), `c:${enc(ns)}:${enc(checkpointId)}`),
  value: (threadId: string, ns: string, channel: string, version: string | number) =>
    fit(threadTag(threadId), `v:${enc(ns)}:${enc(channel)}:${enc(String(version))}`),
  writes: (threadId: string, ns: string, checkpointId: string) =>
    fit(threadTag(threadId), `w:${enc(ns)}:${enc(checkpointId)}`),
};
