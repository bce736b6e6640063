import { InvalidArgumentError } from "@graphkeep/core";
import type { FencingGuard, LeaseRunConfig } from "./types.js";

const FENCED = Symbol.for("graphkeep.lease.fenced");

/** The checkpoint-saver methods {@link withFencing} guards (any LangGraph `BaseCheckpointSaver` has them). */
export interface FenceableSaver {
  put(config: never, ...rest: never[]): Promise<unknown>;
  putWrites(config: never, ...rest: never[]): Promise<unknown>;
  deleteThread(threadId: string): Promise<unknown>;
}

function threadOf(config: LeaseRunConfig | undefined): string | undefined {
  const t = config?.configurable?.thread_id;
  return typeof t === "string" || typeof t === "number" ? String(t) : undefined;
}

/**
 * Wraps any LangGraph checkpoint saver so that its writes are fenced: before each `put` / `putWrites` /
 * `deleteThread` it asks `guard.assertCurrent(...)`, which refuses a write whose fencing token
 * (`configurable.__graphkeep_fence`, set by `withThreadLease`) is no longer the thread's current lease.
 * The check is a read on the lease store just before the write, not a condition of the write itself (see
 * the README's "race window"). Other methods pass through; the result is still an instance of the saver's class.
 *
 * @throws {InvalidArgumentError} when `saver` is not a saver or is already fenced.
 * @example
 * const graph = workflow.compile({ checkpointer: withFencing(new PostgresSaver(pool), lease) });
 */
export function withFencing<S extends FenceableSaver>(saver: S, guard: FencingGuard): S {
  if (saver === null || typeof saver !== "object" || typeof saver.put !== "function") {
    throw new InvalidArgumentError("withFencing: the first argument must be a checkpoint saver");
  }
  if (guard === null || typeof guard !== "object" || typeof guard.assertCurrent !== "function") {
    throw new InvalidArgumentError("withFencing: the second argument must be a lease store (or a FencingGuard)");
  }
  if ((saver as unknown as Record<symbol, unknown>)[FENCED]) {
    throw new InvalidArgumentError("withFencing: this saver is already fenced");
  }
  const fenced = {
    async put(config: LeaseRunConfig, ...rest: unknown[]) {
      const t = threadOf(config);
      if (t !== undefined) await guard.assertCurrent(t, config, "put");
      return (saver.put as (...a: unknown[]) => Promise<unknown>).call(saver, config, ...rest);
    },
    async putWrites(config: LeaseRunConfig, ...rest: unknown[]) {
      const t = threadOf(config);
      if (t !== undefined) await guard.assertCurrent(t, config, "putWrites");
      return (saver.putWrites as (...a: unknown[]) => Promise<unknown>).call(saver, config, ...rest);
    },
    async deleteThread(threadId: string) {
      await guard.assertCurrent(String(threadId), undefined, "deleteThread");
      return saver.deleteThread(threadId);
    },
  };
  return new Proxy(saver, {
    get(target, key) {
      if (key === FENCED) return true;
      if (key === "put" || key === "putWrites" || key === "deleteThread") return fenced[key];
      const v = Reflect.get(target, key, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}
