/**
 * Studio benchmark: server time of the studio's first pages on a big store — the thread list's first page (50
 * threads) and the first page (100 checkpoints) of a 5,000-checkpoint thread's history, plus that thread's newest
 * checkpoint view and its cost chart — on SQLite and PostgreSQL holding 10,000 threads.
 *
 *   pnpm bench:studio [--threads 10000] [--checkpoints 5000] [--stores sqlite,postgres] [--runs 5]
 *
 * Threads are written with KeyvSaver.put (a chat-like state: a message list that grows by one ~200-byte message per
 * checkpoint, metadata with a recorded cost), then a studio is started on the store and each page is requested over
 * loopback HTTP: "cold" is the first request after start, "warm" the median of the next runs. PostgreSQL is read from
 * POSTGRES_URL.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { RunnableConfig } from "@langchain/core/runnables";
import { type Checkpoint, emptyCheckpoint, uuid6 } from "@langchain/langgraph-checkpoint";
import { reachable } from "../examples/lib/reachable.ts";
import { KeyvSaver } from "../packages/keyv-saver/src/index.ts";
import { startStudio } from "../packages/studio/src/index.ts";

const { values: args } = parseArgs({
  options: {
    threads: { type: "string", default: "10000" },
    checkpoints: { type: "string", default: "5000" },
    stores: { type: "string", default: "sqlite,postgres" },
    runs: { type: "string", default: "5" },
  },
});
const THREADS = Number(args.threads);
const CHECKPOINTS = Number(args.checkpoints);
const RUNS = Math.max(2, Number(args.runs));
const POSTGRES_URL = process.env.POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const BIG = "big-thread";

const message = (i: number) => ({
  lc: 1,
  type: "constructor",
  id: ["langchain_core", "messages", i % 2 ? "AIMessage" : "HumanMessage"],
  kwargs: { content: `message ${i}: ${"lorem ipsum dolor sit amet ".repeat(7)}`, additional_kwargs: {} },
});

/** Writes one thread of `n` checkpoints, each appending one message, step cost recorded as withCostMetadata does. */
async function writeThread(saver: KeyvSaver, threadId: string, n: number): Promise<void> {
  let config: RunnableConfig = { configurable: { thread_id: threadId, checkpoint_ns: "" } };
  let messages: unknown[] = [];
  for (let i = 0; i < n; i++) {
    messages = [...messages, message(i)];
    const cp: Checkpoint = {
      ...emptyCheckpoint(),
      id: uuid6(-1),
      channel_values: { messages, topic: `topic ${i}` },
      channel_versions: { messages: i + 1, topic: i + 1 },
      versions_seen: { agent: { messages: i } },
    };
    const usd = i % 2 ? 0.0004 : 0;
    config = await saver.put(
      config,
      cp,
      {
        source: "loop",
        step: i,
        parents: {},
        cost: { step: { usd, tokens: usd ? 1500 : 0 }, total: { usd: (i >> 1) * 0.0004, tokens: 0 } },
      } as never,
      { messages: i + 1, topic: i + 1 },
    );
  }
}

async function fill(saver: KeyvSaver): Promise<number> {
  const started = performance.now();
  let next = 0;
  const small = THREADS - 1;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < small) {
        const i = next++;
        await writeThread(saver, `thread-${String(i).padStart(5, "0")}`, 2);
      }
    }),
  );
  await writeThread(saver, BIG, CHECKPOINTS);
  return (performance.now() - started) / 1000;
}

async function time(url: string): Promise<{ ms: number; bytes: number }> {
  const t = performance.now();
  const res = await fetch(url);
  const body = await res.text();
  if (!res.ok) throw new Error(`${url}: ${res.status} ${body.slice(0, 200)}`);
  return { ms: performance.now() - t, bytes: body.length };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function measure(name: string, store: string, namespace: string) {
  const studio = await startStudio({ store, namespace, port: 0, readOnly: true });
  if (studio.error) throw new Error(`${name}: ${studio.error.message}`);
  const base = studio.url.replace(/\/$/, "");
  const first = await fetch(`${base}/api/threads/${BIG}/history?limit=1`).then(
    (r) => r.json() as Promise<{ rows: Array<{ id: string }> }>,
  );
  const head = first.rows[0]?.id as string;
  const pages: Array<[string, string]> = [
    ["thread list, first page (50)", `${base}/api/threads?limit=50`],
    ["thread list, search", `${base}/api/threads?limit=50&q=thread-0999`],
    [
      `history of the ${CHECKPOINTS}-checkpoint thread, first page (100)`,
      `${base}/api/threads/${BIG}/history?limit=100`,
    ],
    ["its newest checkpoint (state, diff, writes)", `${base}/api/threads/${BIG}/checkpoints/${head}`],
    ["its cost chart (every step)", `${base}/api/threads/${BIG}/cost`],
  ];
  const rows: string[][] = [];
  for (const [what, url] of pages) {
    const cold = await time(url);
    const warm: number[] = [];
    for (let i = 1; i < RUNS; i++) warm.push((await time(url)).ms);
    rows.push([name, what, cold.ms.toFixed(0), median(warm).toFixed(0), `${(cold.bytes / 1024).toFixed(1)} KB`]);
  }
  await studio.close();
  return rows;
}

const out: string[][] = [];
for (const name of args.stores.split(",")) {
  let store: string;
  let namespace = "graphkeep";
  if (name === "sqlite") {
    store = `sqlite://${join(mkdtempSync(join(tmpdir(), "graphkeep-bench-studio-")), "studio.db")}`;
  } else if (name === "postgres") {
    if (!(await reachable(POSTGRES_URL, 5432))) {
      console.log(`postgres: not reachable at ${POSTGRES_URL}, skipped`);
      continue;
    }
    store = POSTGRES_URL;
    namespace = `bench-studio-${Date.now()}`;
  } else throw new Error(`unknown store ${name} (sqlite, postgres)`);
  const saver = await KeyvSaver.fromUrl(store, { namespace });
  console.log(`${name}: writing ${THREADS} threads (one of ${CHECKPOINTS} checkpoints)…`);
  const secs = await fill(saver);
  await saver.close();
  console.log(`${name}: written in ${secs.toFixed(0)} s`);
  out.push(...(await measure(name, store, namespace)));
  if (name === "postgres") {
    const cleanup = await KeyvSaver.fromUrl(store, { namespace });
    await cleanup.keyv.clear();
    await cleanup.close();
  }
}

console.log(`\n${THREADS} threads, one of ${CHECKPOINTS} checkpoints; ms over loopback HTTP (server time + JSON)\n`);
console.log("| store | page | cold ms | warm ms (median) | response |");
console.log("| --- | --- | ---: | ---: | ---: |");
for (const r of out) console.log(`| ${r.join(" | ")} |`);
