import type { BaseCheckpointSaver, CheckpointTuple } from "@langchain/langgraph-checkpoint";
import { NotFoundError, UsageError } from "./errors.js";
import type { TaskError } from "./inspect.js";

/** What the commands share: configs, checkpoint lookups (ids, prefixes, steps) and small formatters. */

export const rootConfig = (threadId: string, ns = "", checkpointId?: string) => ({
  configurable: { thread_id: threadId, checkpoint_ns: ns, ...(checkpointId ? { checkpoint_id: checkpointId } : {}) },
});

export function positiveInt(v: string | undefined, name: string, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${name} must be a positive integer, got "${v}"`);
  return n;
}

export const unknownThread = (threadId: string) =>
  new NotFoundError(`unknown thread "${threadId}" (no checkpoints in this store; see: graphkeep threads)`);

export async function latest(reader: BaseCheckpointSaver, threadId: string, ns = ""): Promise<CheckpointTuple> {
  const t = await reader.getTuple(rootConfig(threadId, ns));
  if (t === undefined) throw unknownThread(threadId);
  return t;
}

/** Every checkpoint of a thread's namespace, newest first. */
export async function history(reader: BaseCheckpointSaver, threadId: string, ns = ""): Promise<CheckpointTuple[]> {
  const out: CheckpointTuple[] = [];
  for await (const t of reader.list(rootConfig(threadId, ns))) out.push(t);
  return out;
}

export const meta = (t: CheckpointTuple) => (t.metadata ?? {}) as { step?: number; source?: string };
export const parentIdOf = (t: CheckpointTuple) => t.parentConfig?.configurable?.checkpoint_id as string | undefined;

/** A step number: an optional minus sign and at most 6 digits (a checkpoint id prefix has letters or is longer). */
export const STEP = /^-?\d{1,6}$/;

/**
 * The checkpoint a user named: a whole id, a unique id prefix, or a step number (`metadata.step`). An ambiguous
 * prefix or a step with several checkpoints (branches) is an error listing the candidates.
 */
export async function resolve(
  reader: BaseCheckpointSaver,
  threadId: string,
  ref: string,
  ns = "",
): Promise<CheckpointTuple> {
  const exact = await reader.getTuple(rootConfig(threadId, ns, ref));
  if (exact !== undefined) return exact;
  const all = await history(reader, threadId, ns);
  if (all.length === 0) throw unknownThread(threadId);
  let matches = STEP.test(ref)
    ? all.filter((t) => meta(t).step === Number(ref))
    : all.filter((t) => t.checkpoint.id.startsWith(ref));
  if (matches.length > 1 && STEP.test(ref)) {
    // a step several branches reached: the one on the line that leads to the newest checkpoint
    const byId = new Map(all.map((t) => [t.checkpoint.id, t]));
    const line = new Set<string>();
    for (let t: CheckpointTuple | undefined = all[0]; t !== undefined; ) {
      line.add(t.checkpoint.id);
      const p = parentIdOf(t);
      t = p === undefined ? undefined : byId.get(p);
    }
    const onLine = matches.filter((t) => line.has(t.checkpoint.id));
    if (onLine.length === 1) matches = onLine;
  }
  if (matches.length === 1) return matches[0] as CheckpointTuple;
  const what = STEP.test(ref) ? `step ${ref}` : `checkpoint "${ref}"`;
  if (matches.length === 0) {
    throw new NotFoundError(`thread "${threadId}" has no ${what} (see: graphkeep history ${threadId})`);
  }
  throw new NotFoundError(
    `${what} of thread "${threadId}" is ambiguous: ${matches.map((t) => t.checkpoint.id).join(", ")} (give more of the id)`,
  );
}

/** Shortest prefix length (at least 8) that tells every id of the list apart. */
export function prefixLength(ids: string[]): number {
  const sorted = [...ids].sort();
  let n = 8;
  for (let i = 1; i < sorted.length; i++) {
    const a = sorted[i - 1] as string;
    const b = sorted[i] as string;
    let k = 0;
    while (k < a.length && a[k] === b[k]) k++;
    n = Math.max(n, k + 1);
  }
  return n;
}

/** One line per failed task: `review: Error: reviewer crashed`. */
export const describeErrors = (errors: TaskError[]) =>
  errors.map((e) => `${e.node ?? "(unknown node)"}: ${e.name}: ${e.message}`);
