import { InvalidArgumentError } from "@graphkeep/core";
import type { RunnableConfig } from "@langchain/core/runnables";
import type { RetentionPolicy } from "./policy.js";
import { selectForDeletion } from "./select.js";
import type { RetentionTarget } from "./sweep.js";

const WRAPPED = Symbol.for("graphkeep.retention.wrapped");

/** Options of {@link withRetention}. */
export interface WithRetentionOptions {
  /**
   * Apply the policy after every `every`-th checkpoint of a thread (the work per write stays bounded: a thread
   * kept short by the policy is cheap to trim).
   * @default 4
   */
  every?: number | undefined;
  /**
   * Called when trimming fails; the checkpoint itself was stored. The next trim retries.
   * @default emits a process warning
   */
  onError?: ((error: unknown, threadId: string) => void) | undefined;
}

interface PutCapable {
  put(config: RunnableConfig, ...rest: never[]): Promise<RunnableConfig>;
}

/**
 * Wraps a saver so the policy is applied to a thread as it is written. The result is the same saver (same class,
 * same methods: `instanceof` holds); only `put` also trims. Refuses to wrap twice.
 * @throws {InvalidArgumentError} when the saver is already wrapped or lacks `checkpointInfo`/`pruneCheckpoints`.
 * @example
 * const checkpointer = withRetention(await KeyvSaver.fromUrl(url), retentionPolicy({ keepLatest: 20 }));
 */
export function withRetention<T extends RetentionTarget & PutCapable>(
  saver: T,
  policy: RetentionPolicy,
  options: WithRetentionOptions = {},
): T {
  if ((saver as unknown as Record<symbol, unknown>)[WRAPPED]) {
    throw new InvalidArgumentError("withRetention: this saver already applies a retention policy; wrap it once");
  }
  if (typeof saver.checkpointInfo !== "function" || typeof saver.pruneCheckpoints !== "function") {
    throw new InvalidArgumentError(
      "withRetention: the saver must provide checkpointInfo() and pruneCheckpoints(), as KeyvSaver does",
    );
  }
  const every = options.every ?? 4;
  if (!(Number.isInteger(every) && every >= 1))
    throw new InvalidArgumentError("withRetention: every must be an integer >= 1");
  const onError =
    options.onError ??
    ((e: unknown, threadId: string) =>
      process.emitWarning(
        `graphkeep retention: trimming thread "${threadId}" failed: ${e instanceof Error ? e.message : String(e)}`,
        {
          code: "GRAPHKEEP_RETENTION",
        },
      ));
  const counts = new Map<string, number>();
  const trim = async (threadId: string) => {
    const infos = await saver.checkpointInfo(threadId);
    const doomed = selectForDeletion(infos, policy);
    if (doomed.size > 0) await saver.pruneCheckpoints(threadId, doomed);
  };
  const put = async (config: RunnableConfig, ...rest: never[]) => {
    const stored = await saver.put(config, ...rest);
    const threadId = stored.configurable?.thread_id;
    if (typeof threadId === "string") {
      const n = (counts.get(threadId) ?? 0) + 1;
      counts.delete(threadId);
      counts.set(threadId, n % every);
      if (counts.size > 10_000) counts.delete(counts.keys().next().value!);
      if (n % every === 0) await trim(threadId).catch((e: unknown) => onError(e, threadId));
    }
    return stored;
  };
  return new Proxy(saver, {
    get(target, prop) {
      if (prop === WRAPPED) return true;
      if (prop === "put") return put;
      const value = Reflect.get(target, prop, target);
      // methods run on the saver itself: private fields are not reachable through a proxy
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
