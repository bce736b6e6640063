/**
 * Durable sub-steps inside a node (seed §7.2). A long `research` node makes three expensive model calls. Each is a
 * LangGraph functional-API `task()` called from the StateGraph node, so its result is checkpointed as soon as it
 * returns (a pending write of the node's checkpoint). The node here is killed (SIGKILL, a separate process) in
 * sub-step 3; a new process resumes the thread: sub-steps 1 and 2 come from the store, only sub-step 3 asks the
 * model again. The graph runs under `withCheckpointPolicy`, which stores the node's checkpoint as soon as a
 * sub-step returns.
 *
 *   pnpm example substeps
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { withCheckpointPolicy } from "@graphkeep/policy";
import { Annotation, END, START, StateGraph, task } from "@langchain/langgraph";
import { ChatOpenAI } from "@langchain/openai";
import { result, say, section } from "../lib/report.ts";
import { startFakeOpenAI } from "../lib/scripted-openai.ts";
import { openSaver, runSuffix, storeKind, storeUrl } from "../lib/store.ts";

const State = Annotation.Root({
  topic: Annotation<string>({ reducer: (_a, b) => b, default: () => "" }),
  report: Annotation<string>({ reducer: (_a, b) => b, default: () => "" }),
});

/** The child: runs (and, with KILL_IN_STEP_3=1, dies in sub-step 3) or resumes one thread; prints the state. */
async function child(thread: string) {
  const kill = process.env.KILL_IN_STEP_3 === "1";
  const model = new ChatOpenAI({
    model: "gpt-4o-mini",
    apiKey: "scripted",
    maxRetries: 0,
    configuration: { baseURL: process.env.SUBSTEPS_LLM_URL },
  });
  const ask = async (n: number, prompt: string) => {
    console.log(`   [pid ${process.pid}] sub-step ${n}: asking the model`);
    if (kill && n === 3) setTimeout(() => process.kill(process.pid, "SIGKILL"), 200);
    return String((await model.invoke(prompt)).content);
  };
  const outline = task("outline", (topic: string) => ask(1, `outline: ${topic}`));
  const evidence = task("evidence", (o: string) => ask(2, `evidence for ${o}`));
  const conclude = task("conclude", (e: string) => ask(3, `conclusion from ${e}`));
  const saver = await openSaver();
  const graph = withCheckpointPolicy(
    new StateGraph(State)
      .addNode("research", async (s) => {
        const o = await outline(s.topic);
        const e = await evidence(o);
        return { report: await conclude(e) };
      })
      .addEdge(START, "research")
      .addEdge("research", END)
      .compile({ checkpointer: saver }),
    {},
  );
  const out = await graph.invoke(kill ? { topic: "tidal energy" } : null, { configurable: { thread_id: thread } });
  console.log(`@@STATE ${JSON.stringify(out)}`);
  await saver.close();
}

function runChild(thread: string, env: Record<string, string>) {
  return new Promise<{ signal: string | null; out: string }>((resolve) => {
    const p = spawn(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url), "--child", thread], {
      stdio: ["ignore", "pipe", "inherit"],
      env: { ...process.env, ...env },
    });
    let out = "";
    p.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      process.stdout.write(d.toString().replace(/^@@STATE .*\n/m, ""));
    });
    p.on("exit", (_code, signal) => resolve({ signal, out }));
  });
}

if (process.argv[2] === "--child") {
  await child(process.argv[3] as string);
  process.exit(0);
}

if (storeKind() === "memory") {
  console.log("skipped: a memory: store does not outlive the killed process; use the default SQLite or a server");
  result({ skipped: "memory store" });
  process.exit(0);
}
const prompts: string[] = [];
const server = await startFakeOpenAI((req) => {
  const prompt = String(req.messages.at(-1)?.content);
  prompts.push(prompt.split(":")[0]?.split(" ")[0] ?? "");
  // sub-step 3 is slow, like a long reasoning call: the process dies while waiting for it
  return { content: `(${prompt.slice(0, 24)})`, delayMs: prompt.startsWith("conclusion") ? 1500 : 20 };
});
const thread = `substeps-${runSuffix()}`;
console.log(`checkpoints in ${storeUrl}, thread ${thread}`);

section("1. the node runs sub-steps 1, 2, 3 — and the process is killed in sub-step 3");
const first = await runChild(thread, { KILL_IN_STEP_3: "1", SUBSTEPS_LLM_URL: server.baseURL });
say(`process ended by ${first.signal}; model requests so far: ${prompts.length}`);

section("2. a new process resumes the thread: sub-steps 1 and 2 come from the checkpoint");
const second = await runChild(thread, { SUBSTEPS_LLM_URL: server.baseURL });
const state = JSON.parse(
  second.out
    .split("\n")
    .find((l) => l.startsWith("@@STATE "))
    ?.slice(8) ?? "{}",
);
say(`report: ${state.report}`);
const perStep = { outline: 0, evidence: 0, conclusion: 0 } as Record<string, number>;
for (const p of prompts) perStep[p] = (perStep[p] ?? 0) + 1;
say(`model requests per sub-step: ${JSON.stringify(perStep)} (sub-step 3 was in flight when killed)`);
await server.close();

result({ killedBy: first.signal, requestsPerStep: perStep, report: state.report });
