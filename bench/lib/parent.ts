/** Parent process: one child process per saver × workload, then the tables and the JSON file. */
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Options, parseOptions, redactUrl, type SaverName, type Urls, USAGE, type WorkloadName } from "./args.js";
import { type ChildTask, RESULT_PREFIX, type Result } from "./result.js";
import { SAVER_LABELS } from "./savers.js";
import { reachable, serverOf, serverVersions, sweep } from "./storage.js";
import { LEGEND, renderWorkload } from "./table.js";

const SCRIPT = fileURLToPath(new URL("../saver.ts", import.meta.url));
const RESULTS_FILE = fileURLToPath(new URL("../results/saver-latest.json", import.meta.url));
const DEFAULT_PORTS: Record<keyof Urls, number> = { postgres: 5432, redis: 6379, mysql: 3306 };

interface Job {
  saver: SaverName;
  workloads: WorkloadName[];
}

let running: ReturnType<typeof spawn> | undefined;

function commandLine(argv: string[]): string {
  const args = argv.map((a) => (/^[\w,.=:/-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`)).join(" ");
  const base = process.env.npm_lifecycle_event === "bench:saver" ? "pnpm bench:saver" : "tsx bench/saver.ts";
  return args === "" ? base : `${base} ${args}`;
}

/** Runs one child; resolves with the results it printed (failed rows for the workloads it did not finish). */
function runJob(job: Job, task: ChildTask, timeoutMs: number): Promise<Result[]> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [
        "--import",
        import.meta.resolve("tsx"),
        SCRIPT,
        "--child",
        job.saver,
        job.workloads.join(","),
        JSON.stringify(task),
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    running = child;
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      running = undefined;
      const results: Result[] = [];
      for (const l of stdout.split("\n")) {
        if (l.startsWith(RESULT_PREFIX)) results.push(JSON.parse(l.slice(RESULT_PREFIX.length)) as Result);
      }
      const why = timedOut
        ? `timed out after ${timeoutMs / 1000} s`
        : `child exited with ${signal ?? code}: ${stderr.trim().split("\n").slice(-3).join(" / ").slice(0, 300)}`;
      for (const w of job.workloads) {
        if (!results.some((r) => r.workload === w))
          results.push({ saver: job.saver, workload: w, status: "failed", reason: why });
      }
      resolve(results);
    });
  });
}

/** Commit of the workspace and whether the saver source differs from it (it is what the bench imports). */
function saverSource(): string {
  try {
    const git = (...args: string[]) => execFileSync("git", args, { encoding: "utf8", stdio: "pipe" }).trim();
    const changed = git("status", "--porcelain", "--", "packages/keyv-saver/src").split("\n").filter(Boolean).length;
    return `${git("rev-parse", "--short", "HEAD")}${changed > 0 ? ` + ${changed} uncommitted file(s) in packages/keyv-saver/src` : ""}`;
  } catch {
    return "unknown (not a git checkout)";
  }
}

function header(argv: string[], opts: Options, runId: string, versions: Record<string, string>): string {
  const cpu = cpus();
  const servers = Object.entries(versions).map(([k, v]) => `${k} ${v}`);
  return [
    "# @graphkeep/keyv-saver checkpointer benchmark",
    "",
    `- command: \`${commandLine(argv)}\``,
    `- node ${process.version}, ${process.platform}/${process.arch}, ${cpu.length} CPUs (${cpu[0]?.model.trim() ?? "?"}), ${(totalmem() / 1024 ** 3).toFixed(1)} GB RAM, load average ${loadavg()[0]!.toFixed(2)} at start`,
    `- KeyvSaver source: ${saverSource()}`,
    `- servers: ${servers.length > 0 ? servers.join(", ") : "none used or reachable"}`,
    `- run ${runId}, ${new Date().toISOString()}; isolation: one child process per ${opts.isolate === "workload" ? "saver × workload" : "saver"}; durability: LangGraph default ("async")`,
  ].join("\n");
}

export async function runParent(argv: string[]): Promise<void> {
  let opts: Options;
  try {
    opts = parseOptions(argv);
  } catch (e) {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n${USAGE}\n`);
    process.exit(2);
  }
  const started = Date.now();
  const runId = `gkb_${started.toString(36)}${randomBytes(2).toString("hex")}`;
  const tmpDir = mkdtempSync(join(tmpdir(), `${runId}-`));
  const task: ChildTask = { runId, tmpDir, urls: opts.urls, sizes: opts.sizes, docBytes: opts.docBytes };

  // servers: probe the ones the chosen savers need
  const needed = new Set(opts.savers.map(serverOf).filter((s) => s !== undefined));
  const up = new Set<keyof Urls>();
  const down = new Map<keyof Urls, string>();
  for (const s of needed) {
    if (await reachable(opts.urls[s], DEFAULT_PORTS[s])) up.add(s);
    else down.set(s, `${s} not reachable at ${redactUrl(opts.urls[s])}`);
  }
  const versions = await serverVersions(opts.urls, up);
  process.stdout.write(`${header(argv, opts, runId, versions)}\n\n`);

  let interrupted = false;
  process.once("SIGINT", () => {
    interrupted = true;
    running?.kill("SIGKILL");
  });

  const jobs: Job[] =
    opts.isolate === "workload"
      ? opts.workloads.flatMap((w) => opts.savers.map((saver) => ({ saver, workloads: [w] })))
      : opts.savers.map((saver) => ({ saver, workloads: opts.workloads }));
  const results: Result[] = [];
  for (const [i, job] of jobs.entries()) {
    if (interrupted) break;
    const server = serverOf(job.saver);
    const reason = server === undefined ? undefined : down.get(server);
    const tag = `[${i + 1}/${jobs.length}] ${job.saver} (${job.workloads.join(",")})`;
    if (reason !== undefined) {
      process.stderr.write(`${tag}: skipped (${reason})\n`);
      for (const w of job.workloads) results.push({ saver: job.saver, workload: w, status: "skipped", reason });
      continue;
    }
    const t0 = Date.now();
    const got = await runJob(job, task, opts.timeoutMs);
    const failed = got.filter((r) => r.status !== "ok").map((r) => `${r.workload}: ${r.reason}`);
    process.stderr.write(
      `${tag}: ${((Date.now() - t0) / 1000).toFixed(1)} s${failed.length ? ` FAILED ${failed.join("; ")}` : ""}\n`,
    );
    results.push(...got);
  }

  const order = (r: Result) => opts.savers.indexOf(r.saver);
  for (const w of opts.workloads) {
    const rows = results.filter((r) => r.workload === w).sort((a, b) => order(a) - order(b));
    const base = rows.find((r) => r.saver === "none" && r.status === "ok")?.msPerStep;
    for (const r of rows) if (r.msPerStep !== undefined && base !== undefined) r.overheadMs = r.msPerStep - base;
    process.stdout.write(`${renderWorkload(w, rows, opts)}\n\n`);
  }
  process.stdout.write(`${LEGEND}\n`);

  const removed = await sweep(runId, tmpDir, opts.urls, up);
  if (removed.length > 0) process.stderr.write(`final cleanup: ${removed.join("; ")}\n`);
  const durationS = (Date.now() - started) / 1000;
  mkdirSync(fileURLToPath(new URL("../results/", import.meta.url)), { recursive: true });
  const json = {
    command: commandLine(argv),
    runId,
    startedAt: new Date(started).toISOString(),
    durationS,
    machine: {
      node: process.version,
      platform: `${process.platform}/${process.arch}`,
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model.trim(),
      totalMemBytes: totalmem(),
      loadAverage: loadavg(),
    },
    servers: versions,
    saverSource: saverSource(),
    options: {
      ...opts,
      urls: {
        postgres: redactUrl(opts.urls.postgres),
        redis: redactUrl(opts.urls.redis),
        mysql: redactUrl(opts.urls.mysql),
      },
      saverLabels: Object.fromEntries(opts.savers.map((s) => [s, SAVER_LABELS[s]])),
    },
    results,
  };
  writeFileSync(RESULTS_FILE, `${JSON.stringify(json, null, 2)}\n`);
  process.stderr.write(`done in ${durationS.toFixed(1)} s; results in bench/results/saver-latest.json\n`);
  if (interrupted) process.exit(130);
}
