/**
 * Distributed resume (seed §6.2). Machine A runs a thread on a shared store and goes down during step3; machine B
 * (here: another process) opens the same store, loads the thread's latest checkpoint and finishes it. Nothing but
 * the store is shared. Threads expire after 24 h without writes (KeyvSaver's `ttl`, the seed's Redis TTL).
 *
 * Store: GRAPHKEEP_STORE when set, else Redis at REDIS_URL (default redis://127.0.0.1:6379) when it answers, else
 * the embedded SQLite file (which two processes on one machine share just as well).
 *
 *   pnpm example distributed-resume
 */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { jsonMode, result, say, section } from "../lib/report.ts";
import { defaultStoreUrl, openSaver, reachable, runSuffix, storeKind } from "../lib/store.ts";
import { buildWorkflow, initialState } from "../lib/workflow.ts";

const DAY = 24 * 60 * 60 * 1000;
const workerAt = process.argv.indexOf("--worker");

if (workerAt > 0) {
  // ---- machine B: resume a thread it has never seen, from the shared store
  const [threadId, url] = [process.argv[workerAt + 1] ?? "", process.argv[workerAt + 2] ?? ""];
  const checkpointer = await openSaver({ ttl: DAY }, url);
  const { graph, runs } = buildWorkflow(checkpointer);
  const config = { configurable: { thread_id: threadId } };
  const found = await graph.getState(config);
  const out = await graph.invoke(null, config);
  await checkpointer.close();
  console.log(JSON.stringify({ pid: process.pid, foundNext: found.next, runs, final: out }));
} else {
  // ---- machine A
  const explicit = process.env.GRAPHKEEP_STORE;
  const redisUrl = process.env.REDIS_URL || "redis://127.0.0.1:6379";
  const url = explicit || ((await reachable(redisUrl, 6379)) ? redisUrl : defaultStoreUrl());
  if (!explicit && storeKind(url) !== "redis") say(`no Redis at ${redisUrl}: using the embedded SQLite file instead`);
  const checkpointer = await openSaver({ ttl: DAY }, url);
  const { graph, runs } = buildWorkflow(checkpointer, {
    failures: { step3: [1] },
    onRun: (step) => say(`[machine A, pid ${process.pid}] run ${step}`),
  });
  const threadId = `distributed_task_001-${runSuffix()}`;
  console.log(`shared store ${url} (${storeKind(url)}), thread ${threadId}`);

  section("1. machine A runs the task and goes down during step3");
  try {
    await graph.invoke(initialState, { configurable: { thread_id: threadId } });
  } catch {
    say("[machine A] lost (step3 never finished)");
  }
  const left = await graph.getState({ configurable: { thread_id: threadId } });
  await checkpointer.close();
  say(`[machine A] last checkpoint: current_step=${left.values.current_step}, next=${JSON.stringify(left.next)}`);

  section("2. machine B (another process) resumes the thread from the store");
  const root = fileURLToPath(new URL("../..", import.meta.url));
  const me = fileURLToPath(import.meta.url);
  const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", me, "--worker", threadId, url], {
    cwd: root,
    env: { ...process.env, GRAPHKEEP_EXAMPLE_JSON: "" },
  });
  const b = JSON.parse(stdout.trim().split("\n").at(-1) ?? "{}") as {
    pid: number;
    foundNext: string[];
    runs: Record<string, number>;
    final: { current_step: number; messages: string[]; result: string };
  };
  say(`[machine B, pid ${b.pid}] found the thread waiting at ${JSON.stringify(b.foundNext)}`);
  say(`[machine B] ran ${JSON.stringify(b.runs)}; result: ${b.final.result}`);
  say(`messages: ${JSON.stringify(b.final.messages)}`);
  if (!jsonMode) say("(run with --json for the machine-readable summary)");

  result({
    store: storeKind(url),
    threadId,
    machineA: { pid: process.pid, runs, nextWhenLost: left.next },
    machineB: { pid: b.pid, runs: b.runs, foundNext: b.foundNext },
    final: b.final,
  });
}
