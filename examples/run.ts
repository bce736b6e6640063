// `pnpm example <name>`: runs examples/<name>/main.ts in a child process (stdio and env inherited) and exits with
// its code. With no name or an unknown one, lists the examples and exits 2. Extra arguments (e.g. --json) are
// passed on.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const EXAMPLES: Record<string, string> = {
  resume: "§4.1 resume after a failing step: finished steps are not re-run",
  retry: "§4.3 retry loop that resumes from the latest checkpoint",
  inspect: "§4.4 walk a thread's checkpoints and metadata",
  "time-travel": "§5.1 re-run from an earlier checkpoint",
  "selective-rerun": "§5.2 re-run only the nodes an edit affects, LLM calls cached",
  branches: "§5.3 fork a thread into branches with different step variants",
  "concurrent-runs": "§6.1 a second run of a busy thread gets ThreadBusyError",
  "distributed-resume": "§6.2 another process resumes the thread from Redis (or SQLite)",
  failover: "§6.3 a watchdog resumes the run of a dead worker",
  "llm-cache": "§7.1 LLM cache: resume and replay with 0 repeated requests",
  substeps: "§7.2 a node's sub-steps are checkpointed: killed in sub-step 3, it does not redo 1 and 2",
  "cost-budget": "§7.3 cost per step; a budget stops the run, resume after raising it",
  granularity: "§3.2/§8.1 store checkpoints only after chosen nodes, on an interval or past a spend",
  retention: "§8.2 keep the newest checkpoints, sweep the rest",
  otel: "§8.3 OpenTelemetry traces and Prometheus metrics",
  "cot-agent": "§9.1 chain-of-thought agent that resumes where it crashed",
  production: "§9.2 PostgreSQL + encryption + retention + budget + lease + OTel",
  archive: "§3.3 export/import a thread between stores; archive idle threads, restore on first access",
};

const [name, ...rest] = process.argv.slice(2);
if (name === undefined || !Object.hasOwn(EXAMPLES, name)) {
  if (name !== undefined) console.error(`unknown example "${name}"\n`);
  console.error("usage: pnpm example <name> [--json]\n");
  const width = Math.max(...Object.keys(EXAMPLES).map((k) => k.length));
  for (const [k, v] of Object.entries(EXAMPLES)) console.error(`  ${k.padEnd(width)}  ${v}`);
  console.error(
    "\nstore: GRAPHKEEP_STORE (default: an SQLite file in the temp dir); model: OPENAI_API_KEY or scripted",
  );
  process.exit(2);
}

const root = fileURLToPath(new URL("..", import.meta.url));
const main = fileURLToPath(new URL(`./${name}/main.ts`, import.meta.url));
const child = spawn(process.execPath, ["--import", "tsx", main, ...rest], {
  cwd: root,
  stdio: "inherit",
  env: process.env,
});
for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => child.kill(signal));
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
