import { parseArgs } from "node:util";

export const SAVERS = [
  "none",
  "memory",
  "sqlite",
  "postgres",
  "keyv-memory",
  "keyv-sqlite",
  "keyv-sqlite-hand",
  "keyv-sqlite-keyv",
  "keyv-redis",
  "keyv-postgres",
  "keyv-mysql",
] as const;
export type SaverName = (typeof SAVERS)[number];

export const WORKLOADS = ["a", "b", "c", "d"] as const;
export type WorkloadName = (typeof WORKLOADS)[number];

export interface WorkloadSize {
  threads: number;
  steps: number;
  repeats: number;
}

export interface Urls {
  postgres: string;
  redis: string;
  mysql: string;
}

export type Isolation = "workload" | "saver";

export interface Options {
  quick: boolean;
  savers: SaverName[];
  workloads: WorkloadName[];
  sizes: Record<WorkloadName, WorkloadSize>;
  /** size of the document of workload (b) */
  docBytes: number;
  /** one child process per saver×workload (default), or per saver running all its workloads (--quick) */
  isolate: Isolation;
  /** per child process */
  timeoutMs: number;
  urls: Urls;
}

type Size = [threads: number, steps: number, repeats: number];
/** (c) repeats once by default: its median is already over 1000 threads, and it is the longest workload. */
const FULL: Record<WorkloadName, Size> = {
  a: [10, 100, 3],
  b: [3, 30, 3],
  c: [1000, 5, 1],
  d: [5, 10, 3],
};
const QUICK: Record<WorkloadName, Size> = {
  a: [2, 10, 1],
  b: [2, 3, 1],
  c: [20, 4, 1],
  d: [2, 3, 1],
};
const DOC_BYTES = { full: 1024 * 1024, quick: 256 * 1024 };

export const USAGE = `usage: pnpm bench:saver [--help] [--quick] [--threads N] [--steps N] [--repeats N]
         [--workloads a,b,c,d] [--savers ${SAVERS.join(",")}]
         [--isolate workload|saver] [--timeout SECONDS]
  --threads/--steps override the per-workload defaults of every selected workload
  threads x steps x repeats, full: a 10x100x3, b 3x30x3, c 1000x5x1, d 5x10x3;
  --quick: a 2x10, b 2x3, c 20x4, d 2x3, 1 repeat, (b) with a 256 KB document instead of 1 MB
  --repeats overrides the repeats of every workload
  --isolate: one child process per saver x workload (default) or per saver (default with --quick)
  --timeout: per child process (default 1800 s, 60 s with --quick)`;

function positiveInt(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer, got "${v}"`);
  return n;
}

function list<T extends string>(name: string, v: string | undefined, all: readonly T[]): T[] {
  if (v === undefined) return [...all];
  const out: T[] = [];
  for (const raw of v.split(",")) {
    const x = raw.trim();
    if (x === "") continue;
    const hit = all.find((a) => a === x);
    if (hit === undefined) throw new Error(`--${name}: unknown "${x}" (one of ${all.join(", ")})`);
    if (!out.includes(hit)) out.push(hit);
  }
  if (out.length === 0) throw new Error(`--${name} is empty`);
  // keep the canonical order so tables always list rows the same way
  return all.filter((a) => out.includes(a));
}

export function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv.filter((a) => a !== "--"),
    strict: true,
    options: {
      help: { type: "boolean", default: false },
      quick: { type: "boolean", default: false },
      threads: { type: "string" },
      steps: { type: "string" },
      repeats: { type: "string" },
      workloads: { type: "string" },
      savers: { type: "string" },
      isolate: { type: "string" },
      timeout: { type: "string" },
    },
  });
  if (values.help === true) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const quick = values.quick === true;
  const threads = positiveInt("threads", values.threads);
  const steps = positiveInt("steps", values.steps);
  const repeats = positiveInt("repeats", values.repeats);
  const base = quick ? QUICK : FULL;
  const sizes = {} as Record<WorkloadName, WorkloadSize>;
  for (const w of WORKLOADS) {
    sizes[w] = { threads: threads ?? base[w][0], steps: steps ?? base[w][1], repeats: repeats ?? base[w][2] };
  }
  const savers = list("savers", values.savers, SAVERS);
  // the no-checkpointer baseline is what "overhead" is measured against
  if (!savers.includes("none")) savers.unshift("none");
  const isolate = values.isolate ?? (quick ? "saver" : "workload");
  if (isolate !== "workload" && isolate !== "saver") throw new Error(`--isolate must be workload or saver`);
  const timeoutS = positiveInt("timeout", values.timeout) ?? (quick ? 60 : 1800);
  return {
    quick,
    savers,
    workloads: list("workloads", values.workloads, WORKLOADS),
    sizes,
    docBytes: quick ? DOC_BYTES.quick : DOC_BYTES.full,
    isolate,
    timeoutMs: timeoutS * 1000,
    urls: {
      postgres: process.env.POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test",
      redis: process.env.REDIS_URL ?? "redis://127.0.0.1:6379",
      mysql: process.env.MYSQL_URL ?? "mysql://root@127.0.0.1:3306/test",
    },
  };
}

/** The URL with its password (if any) replaced, for output. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password === "") return url;
    u.password = "***";
    return u.toString();
  } catch {
    return url;
  }
}
