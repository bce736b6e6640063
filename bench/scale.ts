/**
 * `pnpm bench:scale [--quick] [--stores redis,redis-cluster,postgres,postgres-official] [--workers 1,2,4,8]`
 *
 * Phase 1: N worker processes run short threads (a 5-node graph, a few bytes of state, durability "sync")
 * against one store: completed steps/s, p50/p99 step latency, store CPU.
 * Phase 2: workers run threads under withThreadLease with a FailoverWatchdog on Redis; a random worker is
 * SIGKILLed every few seconds and restarted; lost and duplicated steps are counted from a side channel.
 */
import { type ChildProcess, fork } from "node:child_process";
import { randomBytes } from "node:crypto";
import { cpus, loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { parseClusterUrl } from "../packages/keyv-saver/src/from-url.ts";
import { scanKeys, withPg, withRedis } from "./lib/clients.js";
import { NODES, openStore, type WorkerTask } from "./lib/scale-graph.js";
import { percentile } from "./lib/stats.js";
import { reachable } from "./lib/storage.js";
import { fmtMs } from "./lib/table.js";

const STORES = ["redis", "redis-cluster", "postgres", "postgres-official"] as const;
type StoreName = (typeof STORES)[number];
const LABEL: Record<StoreName, string> = {
  redis: "KeyvSaver · Redis",
  "redis-cluster": "KeyvSaver · Redis Cluster (3 masters)",
  postgres: "KeyvSaver · PostgreSQL",
  "postgres-official": "PostgresSaver (official) · PostgreSQL",
};

const { values: argv } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== "--"),
  options: {
    quick: { type: "boolean", default: false },
    stores: { type: "string" },
    workers: { type: "string" },
    seconds: { type: "string" },
    "no-chaos": { type: "boolean", default: false },
  },
});
const quick = argv.quick === true;
const stores = (argv.stores?.split(",") ?? [...STORES]) as StoreName[];
for (const s of stores) if (!STORES.includes(s)) throw new Error(`--stores: unknown "${s}" (${STORES.join(", ")})`);
const workerCounts = (argv.workers ?? (quick ? "1,2,4" : "1,2,4,8")).split(",").map(Number);
const seconds = Number(argv.seconds ?? (quick ? 2 : 6));
const URLS: Record<StoreName, string> = {
  redis: process.env.REDIS_URL ?? "redis://127.0.0.1:6379",
  "redis-cluster": process.env.REDIS_CLUSTER_URL ?? "redis+cluster://127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002",
  postgres: process.env.POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test",
  "postgres-official": process.env.POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test",
};
const WORKER = fileURLToPath(new URL("./lib/scale-worker.ts", import.meta.url));
const runId = `scale${randomBytes(3).toString("hex")}`;
const live = new Set<ChildProcess>();

function spawnWorker(task: WorkerTask, onMessage: (m: { t: string; [k: string]: unknown }) => void): ChildProcess {
  const child = fork(WORKER, [JSON.stringify(task)], {
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "ignore", "inherit", "ipc"],
  });
  live.add(child);
  child.on("exit", () => live.delete(child));
  child.on("message", onMessage);
  return child;
}

const redisNodes = (s: StoreName): string[] =>
  s === "redis" ? [URLS.redis] : s === "redis-cluster" ? parseClusterUrl(URLS[s]).rootNodes.map((n) => n.url) : [];

/** CPU seconds the store has used: Redis INFO cpu (all nodes); undefined for PostgreSQL. */
async function storeCpu(s: StoreName): Promise<number | undefined> {
  if (s.startsWith("redis")) {
    let total = 0;
    for (const url of redisNodes(s)) {
      const info = String(await withRedis(url, (c) => c.sendCommand(["INFO", "cpu"])));
      for (const k of ["used_cpu_sys", "used_cpu_user"]) total += Number(new RegExp(`${k}:([\\d.]+)`).exec(info)?.[1]);
    }
    return total;
  }
  // PostgreSQL reports no CPU time of its own (backends come and go with connections)
  return undefined;
}

async function cleanup(s: StoreName, id: string): Promise<void> {
  if (s === "postgres") await withPg(URLS.postgres, (c) => c.query(`DROP TABLE IF EXISTS public."${id}"`));
  else if (s === "postgres-official")
    await withPg(URLS.postgres, (c) => c.query(`DROP SCHEMA IF EXISTS "${id}" CASCADE`));
  else {
    for (const url of redisNodes(s)) {
      await withRedis(url, async (c) => {
        for (const k of await scanKeys(c, id)) await c.sendCommand(["UNLINK", k]);
      });
    }
  }
}

/** Creates tables/schemas once, before workers race to. */
async function prepare(s: StoreName, id: string): Promise<void> {
  const opened = await openStore({ mode: "load", store: s, url: URLS[s], id });
  if ("setup" in opened.saver) await (opened.saver as { setup(): Promise<void> }).setup();
  await opened.saver.getTuple({ configurable: { thread_id: "warm-up" } });
  await opened.close();
}

interface LoadRow {
  store: StoreName;
  workers: number;
  steps: number;
  stepsPerS: number;
  p50: number;
  p99: number;
  cpu: number | undefined;
  /** threads the workers ran, and how many of them listThreads() returns (KeyvSaver only) */
  threads: number;
  listed: number | undefined;
  error?: string;
}

/** How many threads the saver's registry lists (KeyvSaver); undefined for the official saver. */
async function listedThreads(s: StoreName, id: string): Promise<number | undefined> {
  if (s === "postgres-official") return undefined;
  const { KeyvSaver } = await import("../packages/keyv-saver/src/index.ts");
  const saver = await KeyvSaver.fromUrl(URLS[s], { namespace: id, table: id });
  try {
    let n = 0;
    for await (const _ of saver.listThreads()) n++;
    return n;
  } finally {
    await saver.close();
  }
}

async function loadRun(s: StoreName, n: number): Promise<LoadRow> {
  const id = `${runId}_${s.replace("-", "_")}_${n}`;
  await prepare(s, id);
  const task: WorkerTask = { mode: "load", store: s, url: URLS[s], id };
  const results: Array<{ steps: number; latencies: number[]; threads: number }> = [];
  let ready = 0;
  let onReady = () => {};
  let onDone = () => {};
  const children = Array.from({ length: n }, () =>
    spawnWorker(task, (m) => {
      if (m.t === "ready" && ++ready === n) onReady();
      if (m.t === "result") {
        results.push(m as unknown as { steps: number; latencies: number[]; threads: number });
        if (results.length === n) onDone();
      }
    }),
  );
  const timeout = (ms: number, what: string) =>
    new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`${what} timed out`)), ms).unref());
  try {
    await Promise.race([new Promise<void>((r) => (onReady = r)), timeout(60_000, "worker start")]);
    const startAt = Date.now() + 200;
    const endAt = startAt + seconds * 1000;
    const cpu0 = await storeCpu(s);
    for (const c of children) c.send({ startAt, endAt });
    await Promise.race([new Promise<void>((r) => (onDone = r)), timeout(seconds * 1000 + 60_000, "run")]);
    const cpu1 = await storeCpu(s);
    const lat = results.flatMap((r) => r.latencies);
    return {
      store: s,
      workers: n,
      steps: lat.length,
      stepsPerS: lat.length / seconds,
      p50: percentile(lat, 50),
      p99: percentile(lat, 99),
      cpu: cpu0 === undefined || cpu1 === undefined ? undefined : (cpu1 - cpu0) / seconds,
      threads: results.reduce((a, r) => a + r.threads, 0),
      listed: await listedThreads(s, id),
    };
  } catch (e) {
    for (const c of children) c.kill("SIGKILL");
    return {
      store: s,
      workers: n,
      steps: 0,
      stepsPerS: 0,
      p50: NaN,
      p99: NaN,
      cpu: undefined,
      threads: 0,
      listed: undefined,
      error: String(e),
    };
  } finally {
    await cleanup(s, id).catch(() => undefined);
  }
}

interface ChaosRow {
  workers: number;
  seconds: number;
  kills: number;
  threads: number;
  completed: number;
  executions: number;
  lost: number;
  duplicated: number;
  resumed: number;
  errors: number;
  incomplete: string[];
}

async function chaosRun(n: number, durationS: number, killEveryMs: number): Promise<ChaosRow> {
  const id = `${runId}_chaos`;
  const url = URLS.redis;
  const task: WorkerTask = {
    mode: "chaos",
    store: "redis",
    url,
    id,
    redisUrl: url,
    ttlMs: 1500,
    heartbeatMs: 300,
    intervalMs: 300,
  };
  let resumed = 0;
  let errors = 0;
  const ready = new Set<ChildProcess>();
  const spawnOne = (): ChildProcess => {
    const child: ChildProcess = spawnWorker(task, (m) => {
      if (m.t === "resumed") resumed++;
      if (m.t === "error" || m.t === "failed") errors++;
      if (m.t === "ready") {
        ready.add(child);
        // a restarted worker; the first ones get endAt once all are up
        if (Number.isFinite(endAt)) child.send({ endAt });
      }
    });
    child.on("exit", () => ready.delete(child));
    return child;
  };
  const slots = Array.from({ length: n }, spawnOne);
  let endAt = Number.POSITIVE_INFINITY;
  const startBy = Date.now() + 60_000;
  while (ready.size < n && Date.now() < startBy) await new Promise((r) => setTimeout(r, 100));
  endAt = Date.now() + durationS * 1000;
  for (const c of ready) c.send({ endAt });
  let kills = 0;
  while (Date.now() < endAt - killEveryMs / 2) {
    await new Promise((r) => setTimeout(r, killEveryMs));
    // a worker that is running threads (not one still starting up)
    const candidates = slots.filter((c) => ready.has(c));
    if (candidates.length === 0) continue;
    const victim = candidates[Math.floor(Math.random() * candidates.length)]!;
    victim.kill("SIGKILL");
    kills++;
    slots[slots.indexOf(victim)] = spawnOne();
  }
  // let the watchdogs finish what the last kills left behind
  const { KeyvSaver } = await import("../packages/keyv-saver/src/index.ts");
  const saver = await KeyvSaver.fromUrl(url, { namespace: id });
  const side = async () =>
    withRedis(url, async (c) => (await c.sendCommand(["LRANGE", `${id}:side`, "0", "-1"])) as string[]);
  const finalSteps = async (thread: string) =>
    ((await saver.getTuple({ configurable: { thread_id: thread } }))?.checkpoint.channel_values.steps ??
      []) as string[];
  let executions: string[] = [];
  let threads: string[] = [];
  const deadline = Date.now() + 20_000;
  let pending = Infinity;
  while (Date.now() < deadline && pending > 0) {
    await new Promise((r) => setTimeout(r, 500));
    executions = await side();
    threads = [...new Set(executions.map((e) => e.split(":")[0]!))];
    pending = 0;
    for (const t of threads) if ((await finalSteps(t)).length < NODES.length) pending++;
  }
  for (const c of slots) c.kill("SIGTERM");
  let lost = 0;
  let completed = 0;
  const incomplete: string[] = [];
  const { redisLease } = await import("../packages/lease/src/index.ts");
  const lease = redisLease({ url, keyPrefix: `${id}:lease`, ttlMs: 1500, heartbeatMs: 300 });
  for (const t of threads) {
    const steps = await finalSteps(t);
    lost += NODES.filter((s) => !steps.includes(s)).length;
    if (steps.join() === NODES.join()) completed++;
    else {
      const ran = executions.filter((e) => e.startsWith(`${t}:`)).map((e) => e.split(":")[1]);
      const info = await lease.info(t);
      incomplete.push(
        `${t}: checkpoint [${steps.join(",")}], executed [${ran.join(",")}], lease ${JSON.stringify(info)}`,
      );
    }
  }
  await lease.close();
  await saver.close();
  await new Promise((r) => setTimeout(r, 1000));
  for (const c of live) c.kill("SIGKILL");
  await cleanup("redis", id).catch(() => undefined);
  return {
    workers: n,
    seconds: durationS,
    kills,
    threads: threads.length,
    completed,
    executions: executions.length,
    lost,
    duplicated: executions.length - new Set(executions).size,
    resumed,
    errors,
    incomplete,
  };
}

const line = (cells: Array<string | number>) => `| ${cells.join(" | ")} |`;

async function main(): Promise<void> {
  const load = loadavg()
    .map((x) => x.toFixed(1))
    .join(" ");
  console.log(
    `# bench:scale ${quick ? "(--quick) " : ""}— ${cpus().length} cores, Node ${process.version}, load average at start ${load}\n`,
  );
  const usable: StoreName[] = [];
  for (const s of stores) {
    const first = s === "redis-cluster" ? parseClusterUrl(URLS[s]).rootNodes[0]!.url : URLS[s];
    if (await reachable(first, s.startsWith("redis") ? 6379 : 5432)) usable.push(s);
    else console.log(`- ${LABEL[s]}: skipped, ${first.replace(/:[^:@/]*@/, ":***@")} does not answer`);
  }
  console.log(
    `## Phase 1: throughput — ${seconds} s per run, each worker runs 5-node threads one after another (durability "sync")\n`,
  );
  console.log(
    line([
      "store",
      "workers",
      "steps/s",
      "× 1 worker",
      "step p50 ms",
      "step p99 ms",
      "store CPU (core-s/s)",
      "threads (listed)",
    ]),
  );
  console.log(line(["---", "---:", "---:", "---:", "---:", "---:", "---:", "---:"]));
  for (const s of usable) {
    let base: number | undefined;
    for (const n of workerCounts) {
      const r = await loadRun(s, n);
      if (r.error) {
        console.log(line([LABEL[s], n, `failed: ${r.error.slice(0, 80)}`, "", "", "", "", ""]));
        continue;
      }
      base ??= r.stepsPerS;
      console.log(
        line([
          LABEL[s],
          n,
          r.stepsPerS.toFixed(0),
          `${(r.stepsPerS / base).toFixed(2)}×`,
          fmtMs(r.p50),
          fmtMs(r.p99),
          r.cpu === undefined ? "—" : r.cpu.toFixed(2),
          `${r.threads} (${r.listed ?? "—"})`,
        ]),
      );
    }
  }
  console.log(
    "\nA step: from one stored checkpoint of a thread to its next (the node, its writes, the checkpoint); a thread is" +
      " 6 steps (LangGraph's START step and the 5 nodes). Store CPU:" +
      " Redis INFO used_cpu_sys+used_cpu_user delta over all nodes (PostgreSQL reports none). threads (listed): threads" +
      " the workers ran (warm-up included) and how many `listThreads()` returns afterwards. Workers and stores share" +
      " the machine's cores.\n",
  );
  if (argv["no-chaos"] === true || !usable.includes("redis")) return;
  const n = quick ? 3 : 4;
  const dur = quick ? 8 : 20;
  const every = quick ? 2000 : 3000;
  console.log(
    `## Phase 2: failover — ${n} workers on Redis, withThreadLease (ttl 1.5 s) + FailoverWatchdog, SIGKILL of a random worker every ${every / 1000} s for ${dur} s\n`,
  );
  const c = await chaosRun(n, dur, every);
  console.log(
    line([
      "workers",
      "kills",
      "threads run",
      "completed",
      "node executions",
      "lost steps",
      "duplicated steps",
      "watchdog resumes",
      "run errors + failed resumes",
    ]),
  );
  console.log(line(["---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:"]));
  console.log(
    line([c.workers, c.kills, c.threads, c.completed, c.executions, c.lost, c.duplicated, c.resumed, c.errors]),
  );
  for (const i of c.incomplete) console.log(`\n- incomplete thread ${i}`);
  console.log(
    "\nlost: steps missing from a thread's final checkpoint (a thread counts once its first node ran); duplicated:" +
      " node executions beyond one per thread and node (the step in flight when its worker died, re-run on resume).",
  );
}

try {
  await main();
} finally {
  for (const c of live) c.kill("SIGKILL");
}
process.exit(0);
