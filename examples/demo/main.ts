/**
 * graphkeep in under a minute: a multi-step reasoning agent on an embedded SQLite store.
 *
 *   pnpm demo
 *
 * 1. The agent plans, researches and drafts; the draft step crashes after its LLM call.
 * 2. `invoke(null)` resumes from the last checkpoint: finished steps don't re-run, and the crashed step's LLM call
 *    is served from the cache, so the spend does not repeat.
 * 3. Time travel: back to the checkpoint after "plan", edit the plan, and re-run from there (a fork in history).
 * 4. The thread's budget is spent: the budget guard refuses the next call before any request is sent, the state
 *    stays checkpointed; raising the budget and `invoke(null)` finishes the run.
 * 5. The CLI's `history` and `cost` views of what happened.
 *
 * The LLM is a scripted local OpenAI-compatible server driven through the real ChatOpenAI client, so no API key
 * is needed and every run tells the same story.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main as cli } from "@graphkeep/cli";
import { BudgetGuard, CostTracker, isBudgetExceededError, withCostMetadata } from "@graphkeep/cost";
import { KeyvBetterSqlite, KeyvSaver } from "@graphkeep/keyv-saver";
import { KeyvLLMCache } from "@graphkeep/llm-cache";
import { HumanMessage, SystemMessage } from "@langchain/core/messages";
import { Annotation, END, START, StateGraph } from "@langchain/langgraph";
import { ChatOpenAI } from "@langchain/openai";
import Keyv from "keyv";
import { startFakeOpenAI } from "../lib/scripted-openai.ts";

const tty = process.stdout.isTTY === true && process.env.NO_COLOR === undefined;
const c = (code: number) => (s: string) => (tty ? `\x1b[${code}m${s}\x1b[0m` : s);
const [bold, dim, green, red, yellow, cyan] = [c(1), c(2), c(32), c(31), c(33), c(36)];
const say = (s = "") => console.log(s);
const act = (n: number, title: string) => say(`\n${bold(`${n}. ${title}`)}`);

// ---- the store: one SQLite file holds checkpoints, the LLM cache and the cost ledger
const dir = mkdtempSync(join(tmpdir(), "graphkeep-demo-"));
const url = `sqlite://${join(dir, "demo.db")}`;
const table = (name: string) => new Keyv({ store: new KeyvBetterSqlite({ uri: url, table: name }) });

// ---- the model: real ChatOpenAI against a scripted local server that counts requests
const USAGE = { prompt: 1500, completion: 500 };
const llm = await startFakeOpenAI();
const script = (...texts: string[]) => llm.enqueue(...texts.map((content) => ({ content, usage: USAGE })));
const cache = new KeyvLLMCache(table("graphkeep_llm_cache"));
const model = new ChatOpenAI({
  model: "gpt-4o",
  apiKey: "sk-demo",
  maxTokens: 600,
  maxRetries: 0,
  cache,
  configuration: { baseURL: llm.baseURL },
});

const tracker = new CostTracker({ store: table("graphkeep_cost") });
const guard = new BudgetGuard({
  tracker,
  limits: { thread: 0.08 },
  warnAt: 0.8,
  onWarn: (w) => say(yellow(`   ⚠ budget: ${(w.ratio * 100).toFixed(0)}% of $${w.limit} spent on thread ${w.key}`)),
});
const saver = withCostMetadata(await KeyvSaver.fromUrl(url), tracker);

// ---- the agent: plan → research ×3 → draft → review
const State = Annotation.Root({
  question: Annotation<string>,
  steps: Annotation<string>,
  findings: Annotation<string[]>({ reducer: (a, b) => a.concat(b), default: () => [] }),
  text: Annotation<string>,
  answer: Annotation<string>,
});
type S = typeof State.State;

const ask = async (system: string, user: string, config: object) =>
  String((await model.invoke([new SystemMessage(system), new HumanMessage(user)], config)).content);

let crashOnce = true;
const agent = new StateGraph(State)
  .addNode("plan", async (s: S, config) => ({
    steps: await ask("Plan the research in three numbered steps.", s.question, config),
  }))
  .addNode("research", async (s: S, config) => ({
    findings: [await ask(`Research step ${s.findings.length + 1} of this plan:\n${s.steps}`, s.question, config)],
  }))
  .addNode("draft", async (s: S, config) => {
    const text = await ask("Write a short answer from these findings.", s.findings.join("\n"), config);
    if (crashOnce) {
      crashOnce = false;
      throw new Error("ECONNRESET while saving the draft");
    }
    return { text };
  })
  .addNode("review", async (s: S, config) => ({ answer: await ask("Tighten this answer.", s.text, config) }))
  .addEdge(START, "plan")
  .addEdge("plan", "research")
  .addConditionalEdges("research", (s: S) => (s.findings.length < 3 ? "research" : "draft"))
  .addEdge("draft", "review")
  .addEdge("review", END)
  .compile({ checkpointer: saver });

// LangChain logs a refusing handler's error before rethrowing it; the demo prints the refusal itself
const consoleError = console.error;
console.error = (...args: unknown[]) => {
  if (typeof args[0] === "string" && args[0].startsWith("Error in handler BudgetGuard")) return;
  consoleError(...args);
};

const thread = { configurable: { thread_id: "demo" }, callbacks: [tracker, guard] };
const requests = () => llm.requests.length;
const spent = async () => `$${(await tracker.totals({ threadId: "demo" })).usd.toFixed(4)}`;

async function run(input: Partial<S> | null, config: object = thread): Promise<void> {
  const before = requests();
  let last = before;
  for await (const update of await agent.stream(input, { ...config, streamMode: "updates" })) {
    for (const node of Object.keys(update)) {
      const sent = requests() - last;
      last = requests();
      const how = sent === 0 ? green("from cache / no LLM call") : `${sent} LLM request`;
      say(`   ${green("✓")} ${node.padEnd(9)} ${dim(how)}`);
    }
  }
  say(dim(`   ${requests() - before} request(s) this run, thread spend ${await spent()}`));
}

say(bold("graphkeep demo") + dim(` — checkpoints, cache and cost in ${url}`));

act(1, "A reasoning agent starts … and crashes mid-way");
script(
  "1. Downtime costs 2. How checkpoints help 3. What to measure",
  "A failed 10-step run that restarts from zero pays for every step twice.",
  "Checkpoints after each step let a run resume from the last good one.",
  "Measure resumed runs, repeated LLM spend, and time to recover.",
  "Checkpoint every step: crashes then cost one step, not the whole run.",
);
try {
  await run({ question: "Why should an LLM workflow checkpoint every step?" });
} catch (e) {
  say(`   ${red("✗")} draft     ${red((e as Error).message)}`);
}
const crashed = await agent.getState(thread);
say(dim(`   state saved at step ${crashed.metadata?.step}; next: ${crashed.next.join(", ")}`));

act(2, "Resume with invoke(null): finished steps are kept, the crashed step's LLM call is not paid twice");
script("Checkpoint every step, and a crash costs one step instead of the whole run.");
await run(null);
const stats = cache.stats();
say(
  `   ${cyan("cache")}: ${stats.hits} hit, ${stats.savedInputTokens + stats.savedOutputTokens} tokens not paid again`,
);

act(3, "Time travel: back to the checkpoint after 'plan', edit the plan, re-run from there");
let afterPlan: typeof crashed | undefined;
for await (const snapshot of agent.getStateHistory(thread)) {
  if (snapshot.next.includes("research") && snapshot.values.findings.length === 0) afterPlan = snapshot;
}
if (afterPlan === undefined) throw new Error("no checkpoint after plan");
say(
  dim(`   rewinding to checkpoint ${afterPlan.config.configurable?.checkpoint_id} (step ${afterPlan.metadata?.step})`),
);
const edited = await agent.updateState(afterPlan.config, {
  steps: "1. Cost of a crash 2. Resume vs restart 3. Budget guards",
});
script(
  "A crash without checkpoints repeats every paid call before it.",
  "Resuming replays nothing: the cache answers calls already made.",
  "A budget guard refuses the call that would overspend, before it is sent.",
);
try {
  await run(null, { ...thread, configurable: { ...edited.configurable } });
} catch (e) {
  if (!isBudgetExceededError(e)) throw e;
  act(4, "The budget is spent: the guard refuses the next call before any request is sent");
  say(`   ${red("✗")} ${e.message}`);
  const stopped = await agent.getState(thread);
  say(dim(`   state kept at step ${stopped.metadata?.step}; next: ${stopped.next.join(", ")}; spend ${await spent()}`));
  say("   raising the budget to $0.15 and resuming with invoke(null):");
  guard.setLimits({ thread: 0.15 });
  script("Checkpoints turn crashes into one repeated step.", "Checkpoint every step; resume, never restart.");
  await run(null);
}
const final = await agent.getState(thread);
say(`   ${bold("answer:")} ${final.values.answer}`);

await saver.close?.();
await llm.close();

act(5, "What happened, as the CLI sees it");
const io = {
  out: (s: string) => process.stdout.write(s),
  err: (s: string) => process.stderr.write(s),
  isTTY: tty,
  env: process.env,
};
say(dim(`   $ graphkeep history demo --store ${url}`));
await cli(["history", "demo", "--store", url], io);
say(dim(`   $ graphkeep cost --store ${url}`));
await cli(["cost", "--store", url], io);
const totals = await tracker.totals({ threadId: "demo" });
say(
  `\n${bold("In short:")} ${requests()} LLM requests for ${totals.calls} model calls, $${totals.usd.toFixed(4)} spent, ` +
    `$${totals.savedUsd.toFixed(4)} saved by the cache. Explore it: ${cyan(`pnpm graphkeep threads --store ${url}`)}`,
);
