/**
 * Crash benchmark: a 30-step graph with fast steps (~4 ms of I/O wait each, like a quick model or tool call) runs under LangGraph's default `durability: "async"`, is
 * killed with SIGKILL at a random step, and is resumed by a new process. Per saver: how many steps that had
 * completed before the kill ran again after the resume, and whether the final state equals an uninterrupted run.
 *
 *   pnpm bench:crash [--trials N] [--savers keyv-sqlite,sqlite,…] [--quick]
 *
 * Savers: keyv-sqlite, keyv-redis, keyv-postgres, keyv-mysql (KeyvSaver.fromUrl), sqlite and postgres (the
 * official SqliteSaver and PostgresSaver). Servers are read from POSTGRES_URL, REDIS_URL, MYSQL_URL.
 */
import { spawn } from "node:child_process";
import { appendFileSync, existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type { BaseCheckpointSaver } from "@langchain/langgraph";
import { reachable } from "../examples/lib/reachable.ts";

const STEPS = 30;
const STEP_MS = 4;
const ITEM = "x".repeat(1000);
const SAVERS = ["keyv-sqlite", "keyv-redis", "keyv-postgres", "keyv-mysql", "sqlite", "postgres"] as const;
type SaverName = (typeof SAVERS)[number];
const URLS = {
  postgres: process.env.POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test",
  redis: process.env.REDIS_URL ?? "redis://127.0.0.1:6379",
  mysql: process.env.MYSQL_URL ?? "mysql://root@127.0.0.1:3306/test",
};
const LABEL: Record<SaverName, string> = {
  "keyv-sqlite": "KeyvSaver sqlite",
  "keyv-redis": "KeyvSaver redis",
  "keyv-postgres": "KeyvSaver postgres",
  "keyv-mysql": "KeyvSaver mysql",
  sqlite: "SqliteSaver (official)",
  postgres: "PostgresSaver (official)",
};

/** Where a saver keeps its data for one benchmark run (a file, or a namespace / schema on a server). */
interface Place {
  dir: string;
  id: string;
}

async function openSaver(name: SaverName, place: Place): Promise<BaseCheckpointSaver & { close?(): Promise<void> }> {
  const { KeyvSaver } = await import("../packages/keyv-saver/src/index.ts");
  switch (name) {
    case "keyv-sqlite":
      return KeyvSaver.fromUrl(`sqlite://${join(place.dir, "keyv.db")}`, { namespace: place.id });
    case "keyv-redis":
      return KeyvSaver.fromUrl(URLS.redis, { namespace: place.id });
    case "keyv-postgres":
      return KeyvSaver.fromUrl(URLS.postgres, { namespace: place.id, table: place.id });
    case "keyv-mysql":
      return KeyvSaver.fromUrl(URLS.mysql, { namespace: place.id, table: place.id });
    case "sqlite": {
      const { SqliteSaver } = await import("@langchain/langgraph-checkpoint-sqlite");
      return SqliteSaver.fromConnString(join(place.dir, "official.db"));
    }
    case "postgres": {
      const { PostgresSaver } = await import("@langchain/langgraph-checkpoint-postgres");
      const saver = PostgresSaver.fromConnString(URLS.postgres, { schema: place.id });
      await saver.setup();
      return saver;
    }
  }
}

/** The graph: one node looping STEPS times; each step logs its number, works ~4 ms and appends an item. */
async function graphFor(checkpointer: BaseCheckpointSaver, log: string, killAt: number | undefined) {
  const { Annotation, END, START, StateGraph } = await import("@langchain/langgraph");
  const State = Annotation.Root({
    step: Annotation<number>({ reducer: (_, b) => b, default: () => 0 }),
    items: Annotation<string[]>({ reducer: (a, b) => a.concat(b), default: () => [] }),
  });
  return new StateGraph(State)
    .addNode("work", async (s) => {
      appendFileSync(log, `${s.step}\n`);
      // the step's own work: waiting on I/O, as an LLM or tool call does (the saver's writes proceed meanwhile)
      await new Promise((r) => setTimeout(r, STEP_MS));
      // killed once the step's work is done, before LangGraph gets its result: that work is paid for and lost
      if (s.step === killAt) process.kill(process.pid, "SIGKILL");
      return { step: s.step + 1, items: [`item-${s.step} ${ITEM}`] };
    })
    .addEdge(START, "work")
    .addConditionalEdges("work", (s) => (s.step < STEPS ? "work" : END))
    .compile({ checkpointer });
}

/** Child process: `run` (killed at `killAt`) or `resume` one thread; prints the final state's fingerprint. */
async function child(mode: string, name: SaverName, place: Place, thread: string, log: string, killAt: number) {
  const saver = await openSaver(name, place);
  const graph = await graphFor(saver, log, mode === "run" ? killAt : undefined);
  const config = { configurable: { thread_id: thread }, durability: "async" as const, recursionLimit: 100 };
  // a resume with nothing stored starts over, as an application would (every completed step then runs again)
  const stored = mode === "resume" && (await graph.getState(config)).createdAt !== undefined;
  const out = await graph.invoke(stored ? null : { step: 0 }, config);
  process.stdout.write(`${JSON.stringify({ step: out.step, items: out.items.map((i: string) => i.slice(0, 12)) })}\n`);
  process.exit(0);
}

const expected = JSON.stringify({
  step: STEPS,
  items: Array.from({ length: STEPS }, (_, i) => `item-${i} ${ITEM}`.slice(0, 12)),
});

function runChild(args: string[]): Promise<{ code: number | null; signal: string | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url), "--child", ...args], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    p.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    const timer = setTimeout(() => p.kill("SIGKILL"), 120_000);
    p.on("exit", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out });
    });
  });
}

const steps = (file: string) =>
  existsSync(file)
    ? readFileSync(file, "utf8")
        .split("\n")
        .filter((l) => l !== "")
        .map(Number)
    : [];

interface Row {
  saver: SaverName;
  kills: number;
  reran: number[];
  identical: number;
  failures: string[];
  ms: number;
}

async function trial(name: SaverName, place: Place, no: number, killAt: number): Promise<number | string> {
  const thread = `crash-${no}`;
  const log1 = join(place.dir, `${name}-${no}-run.log`);
  const log2 = join(place.dir, `${name}-${no}-resume.log`);
  const run = await runChild(["run", name, place.dir, place.id, thread, log1, String(killAt)]);
  if (run.signal !== "SIGKILL") return `run ended without the kill (code ${run.code}, signal ${run.signal})`;
  const resume = await runChild(["resume", name, place.dir, place.id, thread, log2, "0"]);
  if (resume.code !== 0) return `resume failed (code ${resume.code}, signal ${resume.signal})`;
  if (resume.out.trim() !== expected) return "final state differs from an uninterrupted run";
  // completed before the kill: every step whose work finished (the killed step included); re-executed: those the
  // resume ran again. The killed step always runs again (its result never reached LangGraph): the floor is 1.
  const completed = new Set(steps(log1).filter((s) => s <= killAt));
  return steps(log2).filter((s) => completed.has(s)).length;
}

async function parent(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    options: {
      trials: { type: "string" },
      savers: { type: "string" },
      quick: { type: "boolean", default: false },
    },
  });
  const trials = Number(values.trials ?? (values.quick ? 3 : 10));
  const chosen = (values.savers?.split(",") ?? [...SAVERS]) as SaverName[];
  for (const s of chosen) if (!SAVERS.includes(s)) throw new Error(`unknown saver ${s}; one of ${SAVERS.join(", ")}`);
  const runId = `crash${Date.now().toString(36)}`;
  const dir = mkdtempSync(join(tmpdir(), "graphkeep-crash-"));
  const rows: Row[] = [];
  const skipped: string[] = [];
  for (const name of chosen) {
    const server = name.includes("redis")
      ? "redis"
      : name.includes("postgres")
        ? "postgres"
        : name.includes("mysql")
          ? "mysql"
          : undefined;
    const port = { redis: 6379, postgres: 5432, mysql: 3306 };
    if (server && !(await reachable(URLS[server], port[server]))) {
      skipped.push(`${LABEL[name]}: ${server} not reachable at ${URLS[server]}`);
      continue;
    }
    const row: Row = { saver: name, kills: 0, reran: [], identical: 0, failures: [], ms: 0 };
    const t0 = performance.now();
    const place = { dir, id: `${runId}_${name.replace("-", "_")}` };
    for (let i = 0; i < trials; i++) {
      const killAt = 3 + Math.floor(Math.random() * (STEPS - 6));
      const r = await trial(name, place, i, killAt);
      row.kills += 1;
      if (typeof r === "number") {
        row.reran.push(r);
        row.identical += 1;
      } else row.failures.push(r);
      process.stderr.write(`${LABEL[name]} trial ${i + 1}/${trials}: kill at step ${killAt} -> ${r}\n`);
    }
    row.ms = (performance.now() - t0) / trials;
    rows.push(row);
  }
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN);
  const out = [
    `### kill -9 during a ${STEPS}-step graph (~${STEP_MS} ms steps, durability "async"), resume in a new process`,
    "",
    "| saver | kills | re-executed steps per kill, mean | max | final state identical | s per trial |",
    "| --- | ---: | ---: | ---: | ---: | ---: |",
    ...rows.map(
      (r) =>
        `| ${LABEL[r.saver]} | ${r.kills} | ${mean(r.reran).toFixed(1)} | ${r.reran.length ? Math.max(...r.reran) : "—"} | ${r.identical}/${r.kills} | ${(r.ms / 1000).toFixed(1)} |`,
    ),
    "",
    "The kill comes right after a step's work finished, before LangGraph got its result. re-executed: steps whose work",
    "had finished before the kill (the killed one included) and ran again after the resume; 1 is the floor (the killed",
    "step's result was never handed to LangGraph). identical: the resumed run's final state equals an uninterrupted",
    "run's (step counter and every appended item in order).",
    ...rows.flatMap((r) => r.failures.map((f) => `- ${LABEL[r.saver]}: ${f}`)),
    ...skipped.map((s) => `- skipped ${s}`),
  ];
  console.log(out.join("\n"));
  await cleanup(chosen, runId);
}

/** Drops what the run left on the servers (namespaces, tables, schemas). */
async function cleanup(savers: SaverName[], runId: string) {
  const { withPg, withMysql, withRedis, scanKeys } = await import("./lib/clients.ts");
  const id = (n: SaverName) => `${runId}_${n.replace("-", "_")}`;
  await Promise.allSettled([
    savers.includes("keyv-postgres") &&
      withPg(URLS.postgres, (c) => c.query(`DROP TABLE IF EXISTS "${id("keyv-postgres")}"`)),
    savers.includes("postgres") &&
      withPg(URLS.postgres, (c) => c.query(`DROP SCHEMA IF EXISTS "${id("postgres")}" CASCADE`)),
    savers.includes("keyv-mysql") && withMysql(URLS.mysql, (q) => q(`DROP TABLE IF EXISTS \`${id("keyv-mysql")}\``)),
    savers.includes("keyv-redis") &&
      withRedis(URLS.redis, async (c) => {
        const keys = await scanKeys(c, `${id("keyv-redis")}::`);
        for (let at = 0; at < keys.length; at += 500) await c.sendCommand(["DEL", ...keys.slice(at, at + 500)]);
      }),
  ]);
}

const argv = process.argv.slice(2);
if (argv[0] === "--child") {
  const [, mode, name, dir, id, thread, log, killAt] = argv;
  await child(mode!, name as SaverName, { dir: dir!, id: id! }, thread!, log!, Number(killAt));
} else {
  await parent(argv);
  process.exit(0);
}
