import type { StoreOperationCounts } from "../../packages/keyv-saver/src/index.js";
import type { SaverName, Urls, WorkloadName, WorkloadSize } from "./args.js";
import type { Distribution } from "./stats.js";

/** What the parent hands a child process (one JSON argument). */
export interface ChildTask {
  runId: string;
  tmpDir: string;
  urls: Urls;
  sizes: Record<WorkloadName, WorkloadSize>;
  docBytes: number;
}

export type OpsPerStep = StoreOperationCounts & { total: number };

/** One saver × workload. Times in ms, sizes in bytes. */
export interface Result {
  saver: SaverName;
  workload: WorkloadName;
  status: "ok" | "skipped" | "failed";
  reason?: string;
  threads?: number;
  steps?: number;
  repeats?: number;
  /** median over threads of the per-thread median (over repeats) of wall time / steps */
  msPerStep?: number;
  /** fastest and slowest thread (same per-thread medians) */
  msPerStepRange?: [number, number];
  /** msPerStep minus the no-checkpointer msPerStep of the same workload (filled in by the parent) */
  overheadMs?: number;
  getStateMs?: number;
  historyMs?: number;
  historyCheckpoints?: number;
  put?: Distribution;
  putWrites?: Distribution;
  getTuple?: Distribution;
  opsPerStep?: OpsPerStep;
  storedBytes?: number;
  logicalBytes?: number;
  /** storedBytes / logicalBytes */
  ratio?: number;
  /** process.resourceUsage().maxRSS of the child, MB */
  peakRssMb?: number;
  /** "workload": the child ran only this workload; "saver": peak over all workloads the child ran so far */
  rssScope?: "workload" | "saver";
  /** state check of every thread's final output: undefined when all were right */
  checkError?: string;
  wallMs?: number;
}

export const RESULT_PREFIX = "@@RESULT ";
