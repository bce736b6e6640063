/**
 * LLM cache benchmark: hit and miss latency of KeyvLLMCache per backend (the store lookup alone, and a whole
 * `ChatOpenAI.invoke` against a local OpenAI-compatible server), beside LangChain's own InMemoryCache; and the time
 * to compute a key at 1 KB / 20 KB / 200 KB prompts, ours (prompt string, and messages via `wrap`) against
 * LangChain's default key.
 *
 *   pnpm bench:cache [--quick]
 */
import { hashEntry, hashMessages, KeyvLLMCache } from "@graphkeep/llm-cache";
import { type BaseCache, defaultHashKeyEncoder, InMemoryCache } from "@langchain/core/caches";
import { AIMessage, type BaseMessage, getBufferString, HumanMessage } from "@langchain/core/messages";
import { ChatOpenAI } from "@langchain/openai";
import { backends } from "../test/helpers/backends.js";
import { startFakeOpenAI } from "../test/helpers/fake-openai.js";
import { percentile } from "./lib/stats.js";
import { fmtMs } from "./lib/table.js";
import { randomText } from "./lib/text.js";

const quick = process.argv.includes("--quick");
const CALLS = quick ? 100 : 400;
const KEY_BUDGET_MS = quick ? 200 : 1000;
const LLM_KEY =
  '_model:"base_chat_model",_type:"openai",model:"gpt-4o-mini",temperature:0,tools:[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}]';

function conversation(bytes: number): BaseMessage[] {
  const turns = Math.max(2, Math.round(bytes / 1024));
  const per = Math.floor(bytes / turns);
  return Array.from({ length: turns }, (_, i) =>
    i % 2 === 0 ? new HumanMessage(randomText(i + 1, per)) : new AIMessage(randomText(i + 1, per)),
  );
}

/** Microseconds per call: median of batches run for about KEY_BUDGET_MS. */
function timeUs(fn: () => unknown): number {
  const samples: number[] = [];
  const end = performance.now() + KEY_BUDGET_MS;
  let batch = 1;
  while (performance.now() < end || samples.length < 5) {
    const t0 = performance.now();
    for (let i = 0; i < batch; i++) fn();
    const dt = performance.now() - t0;
    samples.push((dt * 1000) / batch);
    if (dt < 5) batch *= 2;
  }
  return percentile(samples, 50);
}

function keyTable(): string {
  const rows = [
    "| prompt | LangChain defaultHashKeyEncoder (JS sha256) | KeyvLLMCache (prompt string) | wrap: hashMessages + hashEntry |",
    "|---|---|---|---|",
  ];
  for (const kb of [1, 20, 200]) {
    const messages = conversation(kb * 1024);
    const prompt = getBufferString(messages);
    const lc = timeUs(() => defaultHashKeyEncoder(prompt, LLM_KEY));
    const ours = timeUs(() => hashEntry(prompt, LLM_KEY));
    const wrapped = timeUs(() => hashEntry(`messages:${hashMessages(messages)}`, LLM_KEY));
    rows.push(`| ${kb} KB | ${lc.toFixed(1)} µs | ${ours.toFixed(1)} µs | ${wrapped.toFixed(1)} µs |`);
  }
  return rows.join("\n");
}

interface Latencies {
  lookupMiss: number[];
  lookupHit: number[];
  invokeMiss: number[];
  invokeHit: number[];
}

async function measure(cache: BaseCache, baseURL: string, enqueue: (n: number) => void): Promise<Latencies> {
  const model = new ChatOpenAI({
    model: "gpt-4o-mini",
    apiKey: "sk-bench",
    maxRetries: 0,
    cache,
    configuration: { baseURL },
  });
  const out: Latencies = { lookupMiss: [], lookupHit: [], invokeMiss: [], invokeHit: [] };
  const run = Math.random().toString(36).slice(2);
  const prompt = (i: number) => `[${run}] question ${i}: ${randomText(i, 1000)}`;
  for (let i = 0; i < 20; i++) {
    // warm-up: connections, JIT
    enqueue(1);
    await model.invoke(`warm-up ${run} ${i}`);
    await model.invoke(`warm-up ${run} ${i}`);
  }
  enqueue(CALLS);
  for (let i = 0; i < CALLS; i++) {
    let t = performance.now();
    await model.invoke(prompt(i));
    out.invokeMiss.push(performance.now() - t);
    t = performance.now();
    await model.invoke(prompt(i));
    out.invokeHit.push(performance.now() - t);
    const p = `Human: ${prompt(i)}`;
    t = performance.now();
    await cache.lookup(`${p} (absent)`, LLM_KEY);
    out.lookupMiss.push(performance.now() - t);
    await cache.update(p, LLM_KEY, [{ text: "stored answer" }]);
    t = performance.now();
    await cache.lookup(p, LLM_KEY);
    out.lookupHit.push(performance.now() - t);
  }
  return out;
}

const cell = (xs: number[]) => `${fmtMs(percentile(xs, 50))} / ${fmtMs(percentile(xs, 99))}`;

async function main() {
  console.log(`# pnpm bench:cache${quick ? " --quick" : ""}\n`);
  console.log(`Node ${process.version}, ${CALLS} calls per backend; latencies in ms, p50 / p99.\n`);
  console.log("## Key computation (median µs per key)\n");
  console.log(keyTable());
  console.log("\n## Hit and miss latency (1 KB prompts, local OpenAI-compatible server on loopback)\n");
  const llm = await startFakeOpenAI();
  const enqueue = (n: number) =>
    llm.enqueue(...Array.from({ length: n }, () => ({ content: "An answer of a few words." })));
  const rows = [
    "| cache | lookup miss | lookup hit | invoke miss (model called) | invoke hit |",
    "|---|---|---|---|---|",
  ];
  const lc = await measure(new InMemoryCache(), llm.baseURL, enqueue);
  rows.push(
    `| LangChain InMemoryCache | ${cell(lc.lookupMiss)} | ${cell(lc.lookupHit)} | ${cell(lc.invokeMiss)} | ${cell(lc.invokeHit)} |`,
  );
  for (const b of backends) {
    if (b.skip) {
      rows.push(`| KeyvLLMCache on ${b.name} | skipped: ${b.skip} | | | |`);
      continue;
    }
    const keyv = b.keyv();
    const r = await measure(new KeyvLLMCache(keyv), llm.baseURL, enqueue);
    rows.push(
      `| KeyvLLMCache on ${b.name} | ${cell(r.lookupMiss)} | ${cell(r.lookupHit)} | ${cell(r.invokeMiss)} | ${cell(r.invokeHit)} |`,
    );
    await keyv.clear().catch(() => undefined);
    await keyv.disconnect().catch(() => undefined);
  }
  console.log(rows.join("\n"));
  console.log(
    "\nlookup = `cache.lookup` alone (store round trip + decode + clone); invoke = the whole `ChatOpenAI.invoke`. A miss",
  );
  console.log("in `invoke` includes the HTTP round trip to the local server and the store write.");
  await llm.close();
}

await main();
