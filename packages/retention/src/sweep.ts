import type { CheckpointInfo, PruneResult, ThreadInfo } from "@graphkeep/keyv-saver";
import type { RetentionPolicy } from "./policy.js";
import { selectForDeletion } from "./select.js";

/** What `sweep` needs from a saver (KeyvSaver has all of it). */
export interface RetentionTarget {
  listThreads(): AsyncIterable<ThreadInfo>;
  checkpointInfo(threadId: string): Promise<CheckpointInfo[]>;
  pruneCheckpoints(threadId: string, ids: Iterable<string>, options?: { dryRun?: boolean }): Promise<PruneResult>;
}

/** Options of {@link sweep}. */
export interface SweepOptions {
  /**
   * Report what would be deleted without deleting anything.
   * @default false
   */
  dryRun?: boolean | undefined;
  /**
   * Only these threads.
   * @default every thread of the saver
   */
  threadIds?: Iterable<string> | undefined;
  /** Stops the sweep between two threads; the sweep then rejects with the signal's reason. */
  signal?: AbortSignal | undefined;
  /** Called after each thread. */
  onProgress?: ((progress: SweepProgress) => void) | undefined;
}

export interface SweepProgress {
  threadsScanned: number;
  /** known when `threadIds` was given or once listing finished */
  threadsTotal: number;
  checkpointsDeleted: number;
}

/** What a sweep deleted (or, in a dry run, would delete). */
export interface SweepReport {
  threadsScanned: number;
  checkpointsDeleted: number;
  valuesDeleted: number;
  writesDeleted: number;
  bytesFreed: number;
}

/**
 * Applies a retention policy to every thread (or the given ones). Each thread is pruned under the saver's
 * per-thread lock, index first: safe to run from cron while graphs run (see README for what it guarantees).
 * @example
 * const report = await sweep(saver, retentionPolicy({ keepLatest: 10 }), { dryRun: true });
 */
export async function sweep(
  target: RetentionTarget,
  policy: RetentionPolicy,
  options: SweepOptions = {},
): Promise<SweepReport> {
  const report: SweepReport = {
    threadsScanned: 0,
    checkpointsDeleted: 0,
    valuesDeleted: 0,
    writesDeleted: 0,
    bytesFreed: 0,
  };
  let ids: string[];
  if (options.threadIds !== undefined) ids = [...options.threadIds];
  else {
    ids = [];
    for await (const t of target.listThreads()) ids.push(t.threadId);
  }
  for (const threadId of ids) {
    options.signal?.throwIfAborted();
    const infos = await target.checkpointInfo(threadId);
    const doomed = selectForDeletion(infos, policy);
    if (doomed.size > 0) {
      const r = await target.pruneCheckpoints(threadId, doomed, { dryRun: options.dryRun === true });
      report.checkpointsDeleted += r.checkpoints;
      report.valuesDeleted += r.values;
      report.writesDeleted += r.writes;
      report.bytesFreed += r.bytes;
    }
    report.threadsScanned += 1;
    options.onProgress?.({
      threadsScanned: report.threadsScanned,
      threadsTotal: ids.length,
      checkpointsDeleted: report.checkpointsDeleted,
    });
  }
  return report;
}
