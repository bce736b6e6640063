/** Markdown rendering of the results: one table per workload. */
import type { Options, WorkloadName } from "./args.js";
import type { OpsPerStep, Result } from "./result.js";
import { SAVER_LABELS } from "./savers.js";
import type { Distribution } from "./stats.js";
import { workloadTitle } from "./workload-info.js";

const DASH = "—";

export function fmtMs(x: number | undefined): string {
  if (x === undefined || Number.isNaN(x)) return DASH;
  const a = Math.abs(x);
  return a >= 100 ? x.toFixed(0) : a >= 10 ? x.toFixed(1) : a >= 1 ? x.toFixed(2) : x.toFixed(3);
}

export function fmtBytes(n: number | undefined): string {
  if (n === undefined) return DASH;
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MB`;
  return `${(n / 1024 ** 3).toFixed(2)} GB`;
}

const fmtDist = (d: Distribution | undefined) => (d && d.n > 0 ? `${fmtMs(d.p50)} / ${fmtMs(d.p99)}` : DASH);

const OPS: Array<[keyof OpsPerStep, string]> = [
  ["get", "g"],
  ["getMany", "gm"],
  ["set", "s"],
  ["setMany", "sm"],
  ["delete", "d"],
  ["deleteMany", "dm"],
  ["commit", "c"],
];
const short = (x: number) => (Number.isInteger(x) ? String(x) : x.toFixed(2));

function fmtOps(o: OpsPerStep | undefined): string {
  if (o === undefined) return DASH;
  const parts = OPS.filter(([k]) => o[k] > 0).map(([k, s]) => `${s}${short(o[k])}`);
  return `${o.total.toFixed(1)} (${parts.join(" ")}) ${short(o.roundTrips)} rt`;
}

const HEADER = [
  "saver",
  "ms/step",
  "overhead ms/step",
  "getState ms",
  "history ms (checkpoints)",
  "put p50/p99 ms",
  "getTuple p50/p99 ms",
  "putWrites p50/p99 ms",
  "store ops/step",
  "stored",
  "logical",
  "stored/logical",
  "peak RSS MB",
];

function row(r: Result): string[] {
  const label = SAVER_LABELS[r.saver];
  if (r.status !== "ok") return [label, `${r.status} (${r.reason ?? "?"})`, ...HEADER.slice(2).map(() => "")];
  const overhead = r.overheadMs === undefined ? DASH : `${r.overheadMs >= 0 ? "+" : ""}${fmtMs(r.overheadMs)}`;
  const history = r.historyMs === undefined ? DASH : `${fmtMs(r.historyMs)} (${r.historyCheckpoints})`;
  return [
    label,
    fmtMs(r.msPerStep),
    r.saver === "none" ? "baseline" : overhead,
    fmtMs(r.getStateMs),
    history,
    fmtDist(r.put),
    fmtDist(r.getTuple),
    fmtDist(r.putWrites),
    fmtOps(r.opsPerStep),
    fmtBytes(r.storedBytes),
    fmtBytes(r.logicalBytes),
    r.ratio === undefined ? DASH : `${r.ratio.toFixed(1)}×`,
    r.peakRssMb === undefined ? DASH : r.peakRssMb.toFixed(0),
  ];
}

const line = (cells: string[]) => `| ${cells.map((c) => c.replaceAll("|", "\\|")).join(" | ")} |`;

export function renderWorkload(name: WorkloadName, results: Result[], opts: Options): string {
  const { threads, steps, repeats } = opts.sizes[name];
  const out = [
    `### (${name}) ${workloadTitle(name, opts.docBytes)}`,
    "",
    `${threads} threads × ${steps} steps × ${repeats} repeat${repeats === 1 ? "" : "s"}; a step is one \`invoke\` on the thread.`,
    "",
    line(HEADER),
    line(HEADER.map((_, i) => (i === 0 ? "---" : "---:"))),
  ];
  for (const r of results) out.push(line(row(r)));
  const notes: string[] = [];
  for (const r of results) {
    if (r.checkError) notes.push(`- ${SAVER_LABELS[r.saver]}: WRONG STATE: ${r.checkError}`);
  }
  if (results.some((r) => r.rssScope === "saver")) {
    notes.push("- peak RSS: one child per saver ran all workloads (--isolate saver): peak so far, in workload order");
  }
  if (notes.length > 0) out.push("", ...notes);
  return out.join("\n");
}

export const LEGEND = [
  "ms/step: median over threads of each thread's median (over repeats) wall time per step; overhead = minus the",
  "no-checkpointer ms/step. getState: median of 20 `graph.getState` on the last thread after its last step. history:",
  "one `for await` over `graph.getStateHistory` of that thread. put/getTuple/putWrites: latency of the saver",
  "instance's calls during the workload. store ops/step: KeyvSaver store operations per step (g get, gm getMany,",
  "s set, sm setMany, d delete, dm deleteMany, c commit = a checkpoint's writes and its conditional index write),",
  "then rt = store round trips per step (a commit is 1 on SQLite/PostgreSQL/Redis/memory, 2 on MySQL). stored: as the backend reports it (PostgreSQL",
  "pg_total_relation_size, SQLite file after wal_checkpoint(TRUNCATE) + -wal, Redis MEMORY USAGE of our keys,",
  "MariaDB data_length+index_length after ANALYZE TABLE). logical: payload bytes of every thread's final state.",
].join("\n");
