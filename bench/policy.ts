/**
 * Checkpoint granularity benchmark (the design's §8.1 table with measured figures): a 30-step graph cycling
 * analyze → draft → validate, each step one model call to a local scripted OpenAI-compatible server ($0.0125 a call
 * at gpt-4o prices) plus a 1 KB item appended to the state. Per saver and policy:
 *   - bytes stored and ms per step for one uninterrupted run (its own child process);
 *   - steps re-executed after a SIGKILL at a random step and a resume in a new process (mean over trials).
 *
 *   pnpm bench:policy [--trials N] [--repeats N] [--savers keyv-sqlite,sqlite,keyv-postgres,postgres] [--quick]
 *
 * Policies: every node (durability "sync" and LangGraph's default "async"), saveOn ["validate"], every "25ms",
 * whenCostOver $0.03, and durability "exit". PostgreSQL is read from POSTGRES_URL.
 */
import { spawn } from "node:child_process";
import { appendFileSync, existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type { BaseCheckpointSaver } from "@langchain/langgraph";
import { reachable } from "../examples/lib/reachable.ts";
import { cleanup, type Location, storedBytes } from "./lib/storage.ts";

const STEPS = 30;
const ITEM = "x".repeat(1000);
const POSTGRES_URL = process.env.POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const SAVERS = ["keyv-sqlite", "sqlite", "keyv-postgres", "postgres"] as const;
type SaverName = (typeof SAVERS)[number];
const LABEL: Record<SaverName, string> = {
  "keyv-sqlite": "KeyvSaver sqlite",
  sqlite: "SqliteSaver (official)",
  "keyv-postgres": "KeyvSaver postgres",
  postgres: "PostgresSaver (official)",
};
const POLICIES = ["node-sync", "node-async", "saveOn", "every", "cost", "exit"] as const;
type PolicyName = (typeof POLICIES)[number];
const POLICY_LABEL: Record<PolicyName, string> = {
  "node-sync": 'every node (durability "sync")',
  "node-async": 'every node ("async", LangGraph default)',
  saveOn: 'saveOn ["validate"] (1 step in 3)',
  every: 'every "25ms"',
  cost: "whenCostOver $0.03 (1 step in 3)",
  exit: 'durability "exit"',
};

function locationOf(name: SaverName, dir: string, id: string): Location {
  if (name === "keyv-sqlite" || name === "sqlite") return { kind: "sqlite", file: join(dir, `${id}.sqlite`) };
  if (name === "postgres") return { kind: "pg-schema", url: POSTGRES_URL, schema: id };
  return { kind: "pg-table", url: POSTGRES_URL, table: id };
}

async function openSaver(name: SaverName, dir: string, id: string): Promise<BaseCheckpointSaver> {
  const { KeyvSaver } = await import("../packages/keyv-saver/src/index.ts");
  switch (name) {
    case "keyv-sqlite":
      return KeyvSaver.fromUrl(`sqlite://${join(dir, `${id}.sqlite`)}`, { namespace: id });
    case "keyv-postgres":
      return KeyvSaver.fromUrl(POSTGRES_URL, { namespace: id, table: id });
    case "sqlite": {
      const { SqliteSaver } = await import("@langchain/langgraph-checkpoint-sqlite");
      return SqliteSaver.fromConnString(join(dir, `${id}.sqlite`));
    }
    case "postgres": {
      const { PostgresSaver } = await import("@langchain/langgraph-checkpoint-postgres");
      const saver = PostgresSaver.fromConnString(POSTGRES_URL, { schema: id });
      await saver.setup();
      return saver;
    }
  }
}

/** Child process: `run` (uninterrupted, or killed at `killAt`) or `resume` one thread; prints a JSON line. */
async function child(mode: string, name: SaverName, policy: PolicyName, dir: string, id: string, thread: string) {
  const log = join(dir, `${id}-${thread}-${mode}.log`);
  const killAt = Number(process.env.KILL_AT ?? "-1");
  const { Annotation, END, START, StateGraph } = await import("@langchain/langgraph");
  const { ChatOpenAI } = await import("@langchain/openai");
  const { CostTracker } = await import("../packages/cost/src/index.ts");
  const { withCheckpointPolicy } = await import("../packages/policy/src/index.ts");
  const { startFakeOpenAI } = await import("../examples/lib/scripted-openai.ts");
  const Keyv = (await import("keyv")).default;
  const fake = await startFakeOpenAI(() => ({ content: "ok", usage: { prompt: 1000, completion: 1000 } }));
  const model = new ChatOpenAI({
    model: "gpt-4o-2024-08-06",
    apiKey: "bench",
    maxRetries: 0,
    configuration: { baseURL: fake.baseURL },
  });
  const tracker = new CostTracker({ store: new Keyv() });
  const saver = await openSaver(name, dir, id);
  const State = Annotation.Root({
    step: Annotation<number>({ reducer: (_, b) => b, default: () => 0 }),
    items: Annotation<string[]>({ reducer: (a, b) => a.concat(b), default: () => [] }),
  });
  const work = async (s: { step: number }, c: unknown) => {
    appendFileSync(log, `${s.step}\n`);
    await model.invoke(`step ${s.step}`, c as never);
    if (s.step === killAt) process.kill(process.pid, "SIGKILL");
    return { step: s.step + 1, items: [`item-${s.step} ${ITEM}`] };
  };
  const compiled = new StateGraph(State)
    .addNode("analyze", work)
    .addNode("draft", work)
    .addNode("validate", work)
    .addEdge(START, "analyze")
    .addEdge("analyze", "draft")
    .addEdge("draft", "validate")
    .addConditionalEdges("validate", (s) => (s.step < STEPS ? "analyze" : END))
    .compile({ checkpointer: saver });
  const graph =
    policy === "saveOn"
      ? withCheckpointPolicy(compiled, { saveOn: ["validate"] })
      : policy === "every"
        ? withCheckpointPolicy(compiled, { every: 25 })
        : policy === "cost"
          ? withCheckpointPolicy(compiled, { whenCostOver: 0.03, tracker })
          : compiled;
  const durability = policy === "node-async" ? "async" : policy === "exit" ? "exit" : "sync";
  const config = {
    configurable: { thread_id: thread },
    durability: durability as "sync" | "async" | "exit",
    recursionLimit: 200,
    callbacks: [tracker],
  };
  const stored = mode === "resume" && (await compiled.getState(config)).createdAt !== undefined;
  const t0 = performance.now();
  const out = await graph.invoke(stored ? null : { step: 0 }, config);
  const ms = performance.now() - t0;
  let checkpoints = 0;
  for await (const _ of saver.list({ configurable: { thread_id: thread } })) checkpoints++;
  process.stdout.write(`${JSON.stringify({ step: out.step, items: out.items.length, ms, checkpoints })}\n`);
  process.exit(0);
}

function runChild(args: string[], env: Record<string, string> = {}) {
  return new Promise<{ code: number | null; signal: string | null; out: string }>((resolve) => {
    const p = spawn(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url), "--child", ...args], {
      stdio: ["ignore", "pipe", "inherit"],
      env: { ...process.env, ...env },
    });
    let out = "";
    p.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    const timer = setTimeout(() => p.kill("SIGKILL"), 180_000);
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
  policy: PolicyName;
  bytes: number | undefined;
  checkpoints: number;
  msPerStep: number;
  reran: number[];
  failures: string[];
}

async function measure(
  name: SaverName,
  policy: PolicyName,
  dir: string,
  id: string,
  trials: number,
  repeats: number,
): Promise<Row> {
  const row: Row = { saver: name, policy, bytes: undefined, checkpoints: 0, msPerStep: 0, reran: [], failures: [] };
  const loc = locationOf(name, dir, id);
  // uninterrupted runs on threads of their own: bytes after the first, ms per step the best of `repeats`
  row.msPerStep = Number.POSITIVE_INFINITY;
  for (let rep = 0; rep < repeats; rep++) {
    const run = await runChild(["run", name, policy, dir, id, `whole-${rep}`]);
    if (run.code !== 0) {
      row.failures.push(`uninterrupted run failed (code ${run.code})`);
      continue;
    }
    const r = JSON.parse(run.out.trim()) as { step: number; ms: number; checkpoints: number };
    if (r.step !== STEPS) row.failures.push(`uninterrupted run ended at step ${r.step}`);
    row.msPerStep = Math.min(row.msPerStep, r.ms / STEPS);
    if (rep === 0) {
      row.checkpoints = r.checkpoints;
      row.bytes = await storedBytes(loc);
    }
  }
  for (let i = 0; i < trials; i++) {
    const thread = `crash-${i}`;
    const killAt = 3 + Math.floor(Math.random() * (STEPS - 6));
    const first = await runChild(["run", name, policy, dir, id, thread], { KILL_AT: String(killAt) });
    if (first.signal !== "SIGKILL") {
      row.failures.push(`trial ${i}: run ended without the kill`);
      continue;
    }
    const resume = await runChild(["resume", name, policy, dir, id, thread]);
    const r = resume.code === 0 ? (JSON.parse(resume.out.trim()) as { step: number; items: number }) : undefined;
    if (!r || r.step !== STEPS || r.items !== STEPS) {
      row.failures.push(`trial ${i}: resume failed or ended wrong (${resume.out.trim() || resume.code})`);
      continue;
    }
    const completed = new Set(steps(join(dir, `${id}-${thread}-run.log`)).filter((s) => s <= killAt));
    const n = steps(join(dir, `${id}-${thread}-resume.log`)).filter((s) => completed.has(s)).length;
    row.reran.push(n);
    process.stderr.write(`${LABEL[name]} / ${POLICY_LABEL[policy]}: kill at ${killAt} -> re-ran ${n}\n`);
  }
  await cleanup(loc).catch(() => undefined);
  return row;
}

async function parent(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    options: {
      trials: { type: "string" },
      repeats: { type: "string" },
      savers: { type: "string" },
      quick: { type: "boolean", default: false },
    },
  });
  const trials = Number(values.trials ?? (values.quick ? 2 : 5));
  const repeats = Math.max(1, Number(values.repeats ?? (values.quick ? 1 : 3)));
  const chosen = (values.savers?.split(",") ?? [...SAVERS]) as SaverName[];
  for (const s of chosen) if (!SAVERS.includes(s)) throw new Error(`unknown saver ${s}; one of ${SAVERS.join(", ")}`);
  const runId = `pol${Date.now().toString(36)}`;
  const dir = mkdtempSync(join(tmpdir(), "graphkeep-policy-"));
  const rows: Row[] = [];
  const skipped: string[] = [];
  for (const name of chosen) {
    if (name.includes("postgres") && !(await reachable(POSTGRES_URL, 5432))) {
      skipped.push(`${LABEL[name]}: postgres not reachable at ${POSTGRES_URL}`);
      continue;
    }
    for (const policy of POLICIES) {
      const id = `${runId}_${name.replace("-", "_")}_${policy.replace("-", "_")}`.toLowerCase();
      rows.push(await measure(name, policy, dir, id, trials, repeats));
    }
  }
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN);
  const kb = (b: number | undefined) => (b === undefined ? "—" : `${(b / 1024).toFixed(0)} KB`);
  const out = [
    `### Checkpoint granularity: ${STEPS} steps (one model call + 1 KB each), kill -9 at a random step, resume`,
    "",
    "| saver | policy | checkpoints stored | bytes stored | ms / step | re-executed after kill -9, mean | max |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ...rows.map(
      (r) =>
        `| ${LABEL[r.saver]} | ${POLICY_LABEL[r.policy]} | ${r.checkpoints} | ${kb(r.bytes)} | ${r.msPerStep.toFixed(2)} | ${mean(r.reran).toFixed(1)} | ${r.reran.length ? Math.max(...r.reran) : "—"} |`,
    ),
    "",
    `${trials} kills per row. bytes: the SQLite file (after a WAL checkpoint) or the PostgreSQL table/schema size of`,
    `the first uninterrupted run's thread; ms / step: best of ${repeats} uninterrupted runs (a model round trip to the`,
    "local scripted server included, the same in every row). re-executed: steps whose work had finished before the kill (the killed one",
    "included, so 1 is the floor) that ran again after the resume; a resume with nothing stored starts over.",
    ...rows.flatMap((r) => r.failures.map((f) => `- ${LABEL[r.saver]} / ${POLICY_LABEL[r.policy]}: ${f}`)),
    ...skipped.map((s) => `- skipped ${s}`),
  ];
  console.log(out.join("\n"));
}

const argv = process.argv.slice(2);
if (argv[0] === "--child") {
  const [, mode, name, policy, dir, id, thread] = argv;
  await child(mode!, name as SaverName, policy as PolicyName, dir!, id!, thread!);
} else {
  await parent(argv);
  process.exit(0);
}
