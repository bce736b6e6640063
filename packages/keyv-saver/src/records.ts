import { CheckpointCorruptError } from "@graphkeep/core";
import { isStoredBlob } from "./codec.js";
import { keys } from "./keys.js";
import type { CheckpointRecord, NamespaceIndex, ThreadIndex } from "./types.js";

type Version = string | number;

/** A checkpoint located through a thread index. */
export interface Located {
  ns: string;
  id: string;
  parent: string | null;
}

export function describeValue(x: unknown): string {
  if (x === null) return "null";
  if (Array.isArray(x)) return "an array";
  return typeof x === "string" ? `"${x}"` : typeof x;
}

export function checkRecord(rec: unknown, threadId: string, checkpointId: string, key: string): CheckpointRecord {
  const r = rec as CheckpointRecord | undefined;
  if (
    r === null ||
    typeof r !== "object" ||
    r.v !== 1 ||
    !isStoredBlob(r.c) ||
    !isStoredBlob(r.m) ||
    typeof r.cv !== "object" ||
    r.cv === null ||
    !Array.isArray(r.n) ||
    (r.ch !== undefined && (typeof r.ch !== "object" || r.ch === null)) ||
    (r.e !== undefined && !Array.isArray(r.e)) ||
    (r.dh !== undefined && (typeof r.dh !== "object" || r.dh === null))
  ) {
    throw new CheckpointCorruptError(
      { threadId, checkpointId, key },
      `KeyvSaver: the checkpoint record at key "${key}" (thread "${threadId}", checkpoint "${checkpointId}") is malformed`,
    );
  }
  return r;
}

/** Validates a stored thread index; `undefined` when absent. Expiry is the caller's business. */
export function checkIndex(idx: unknown, threadId: string): ThreadIndex | undefined {
  if (idx === undefined || idx === null) return undefined;
  const i = idx as ThreadIndex;
  if (typeof i !== "object" || i.v !== 1 || !Array.isArray(i.ns) || (i.t !== undefined && i.t !== threadId)) {
    throw new CheckpointCorruptError(
      { threadId, key: keys.index(threadId) },
      `KeyvSaver: the index of thread "${threadId}" at key "${keys.index(threadId)}" is malformed`,
    );
  }
  return i;
}

export function isExpired(idx: { x?: number | undefined }, now = Date.now()): boolean {
  return idx.x !== undefined && idx.x <= now;
}

export function nsIndex(idx: ThreadIndex, ns: string): NamespaceIndex | undefined {
  for (const [name, v] of idx.ns) if (name === ns) return v;
  return undefined;
}

export function locateAll(idx: ThreadIndex): Located[] {
  const all: Located[] = [];
  for (const [ns, n] of idx.ns) for (const [id, parent] of n.e) all.push({ ns, id, parent });
  return all;
}

/** Every channel version a checkpoint needs to be read: its channel versions and their delta chains. */
export function neededRefs(
  cv: Record<string, Version>,
  ch: Record<string, Version[]> | undefined,
): Array<[channel: string, version: Version]> {
  const out: Array<[string, Version]> = Object.entries(cv);
  for (const [c, chain] of Object.entries(ch ?? {})) for (const v of chain) out.push([c, v]);
  return out;
}

/** The keys of {@link neededRefs}. */
export function neededValueKeys(
  threadId: string,
  ns: string,
  cv: Record<string, Version>,
  ch: Record<string, Version[]> | undefined,
): string[] {
  return neededRefs(cv, ch).map(([channel, version]) => keys.value(threadId, ns, channel, version));
}

/** Inserts a checkpoint in id order; when it is the newest, it becomes the head the latest read uses. */
export function insertEntry(
  n: NamespaceIndex,
  id: string,
  parent: string | null,
  cv: Record<string, Version>,
  ch: Record<string, Version[]>,
): void {
  const e = n.e;
  const last = e[e.length - 1];
  if (last === undefined || last[0] < id) {
    e.push([id, parent]);
  } else {
    const at = e.findIndex(([x]) => x >= id);
    if (e[at]![0] === id) e[at] = [id, parent];
    else e.splice(at, 0, [id, parent]);
  }
  if (e[e.length - 1]![0] === id) {
    n.cv = cv;
    n.ch = Object.keys(ch).length > 0 ? ch : undefined;
  }
}

export function sameVersions(a: Record<string, Version>, b: Record<string, Version>): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => a[k] === b[k]);
}

export function matchesFilter(metadata: Record<string, unknown>, filter: Record<string, unknown>): boolean {
  return Object.entries(filter).every(([k, v]) => deepEqual(metadata?.[k], v));
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}
