/**
 * Serde benchmark: size and speed of `@graphkeep/serde`'s modes (plain, gzip, brotli, aes, brotli+aes) on values
 * like the storage benchmark's workloads, and what they cost inside KeyvSaver (binary values are stored base64 and
 * are not delta-encoded).
 *
 *   pnpm bench:serde [--quick]
 */
import { randomBytes } from "node:crypto";
import { KeyvSaver } from "@graphkeep/keyv-saver";
import { compressed, encrypted } from "@graphkeep/serde";
import { AIMessage, HumanMessage } from "@langchain/core/messages";
import {
  type Checkpoint,
  emptyCheckpoint,
  JsonPlusSerializer,
  type SerializerProtocol,
} from "@langchain/langgraph-checkpoint";
import Keyv from "keyv";
import { prng, randomText } from "./lib/text.js";

const quick = process.argv.includes("--quick");
const BUDGET_MS = quick ? 300 : 1500;
const CHAT_MESSAGES = quick ? 40 : 100;
const CHAT_STEPS = quick ? 30 : 100;
const DOC_BYTES = 1024 * 1024;
const DOC_STEPS = quick ? 8 : 20;

/** 20 in-place edits of 16 characters: the document a step of the editing workload produces. */
function editText(doc: string, seed: number): string {
  const rnd = prng(seed);
  let out = doc;
  for (let i = 0; i < 20; i++) {
    const at = Math.floor(rnd() * (out.length - 16));
    out = out.slice(0, at) + randomText(seed * 31 + i, 16) + out.slice(at + 16);
  }
  return out;
}

const message = (i: number) =>
  i % 2 === 0
    ? new HumanMessage({ content: randomText(i, 1024), id: `m${i}` })
    : new AIMessage({ content: randomText(i, 1024), id: `m${i}` });

const key = randomBytes(32);
const aes = (inner: SerializerProtocol) => encrypted(inner, { keys: { bench: key }, activeKeyId: "bench" });
const MODES: Record<string, () => SerializerProtocol> = {
  plain: () => new JsonPlusSerializer(),
  gzip: () => compressed(new JsonPlusSerializer(), { algorithm: "gzip" }),
  brotli: () => compressed(new JsonPlusSerializer(), { algorithm: "brotli" }),
  aes: () => aes(new JsonPlusSerializer()),
  "brotli+aes": () => aes(compressed(new JsonPlusSerializer(), { algorithm: "brotli" })),
};

const doc0 = randomText(7, DOC_BYTES);
const VALUES: Record<string, unknown[]> = {
  [`chat history (${CHAT_MESSAGES} × 1 KB messages)`]: [Array.from({ length: CHAT_MESSAGES }, (_, i) => message(i))],
  "1 MB document with edits": Array.from({ length: 4 }, (_, i) => (i === 0 ? doc0 : editText(doc0, i))),
  "small state object": [{ step: 3, user: "user-42", route: "search", flags: { urgent: false }, scores: [0.2, 0.9] }],
};

/** Mean µs per call of `fn` over the values, repeated for BUDGET_MS (at least 3 rounds) after a warm-up round. */
async function time(values: unknown[], fn: (v: unknown, i: number) => Promise<unknown>): Promise<number> {
  for (let i = 0; i < values.length; i++) await fn(values[i], i);
  let calls = 0;
  const start = performance.now();
  for (let round = 0; round < 3 || performance.now() - start < BUDGET_MS; round++) {
    for (let i = 0; i < values.length; i++) await fn(values[i], i);
    calls += values.length;
  }
  return ((performance.now() - start) * 1000) / calls;
}

const fmt = (n: number, digits = 0) =>
  n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
const kb = (bytes: number) => (bytes < 4096 ? `${fmt(bytes)} B` : `${fmt(bytes / 1024, 1)} KB`);

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map((_, i) => (i === 0 ? "---" : "---:"))), ...rows.map(line)].join("\n");
}

async function serdeTable(): Promise<string> {
  const rows: string[][] = [];
  for (const [valueName, values] of Object.entries(VALUES)) {
    let plainBytes = 0;
    for (const [mode, make] of Object.entries(MODES)) {
      const serde = make();
      const dumped = await Promise.all(values.map((v) => serde.dumpsTyped(v)));
      const bytes = dumped.reduce((n, [, b]) => n + b.byteLength, 0) / values.length;
      if (mode === "plain") plainBytes = bytes;
      const dumpUs = await time(values, (v) => serde.dumpsTyped(v));
      const loadUs = await time(values, (_v, i) => serde.loadsTyped(dumped[i]![0], dumped[i]![1]));
      rows.push([valueName, mode, dumped[0]![0], kb(bytes), fmt(bytes / plainBytes, 3), fmt(dumpUs), fmt(loadUs)]);
    }
  }
  return table(["value", "mode", "type tag", "stored", "size vs plain", "dumps µs", "loads µs"], rows);
}

/** Puts `steps` checkpoints of one growing channel through a KeyvSaver; returns what `stats()` counts. */
async function keyvBytes(
  serde: SerializerProtocol,
  steps: number,
  valueAt: (step: number) => unknown,
): Promise<number> {
  const saver = new KeyvSaver(new Keyv(), { serde });
  let config = { configurable: { thread_id: "bench", checkpoint_ns: "" } };
  for (let step = 1; step <= steps; step++) {
    const checkpoint: Checkpoint = {
      ...emptyCheckpoint(),
      id: `${String(step).padStart(8, "0")}-bench`,
      channel_values: { value: valueAt(step) },
      channel_versions: { value: step },
    };
    config = (await saver.put(
      config,
      checkpoint,
      { source: "loop", step, parents: {} },
      { value: step },
    )) as typeof config;
  }
  return (await saver.stats("bench")).bytes;
}

async function keyvTable(): Promise<string> {
  const chat = Array.from({ length: CHAT_STEPS }, (_, i) => message(i));
  const docs: string[] = [doc0];
  for (let i = 1; i < DOC_STEPS; i++) docs.push(editText(docs[i - 1]!, i));
  const workloads: Record<string, [number, (step: number) => unknown]> = {
    [`chat: ${CHAT_STEPS} steps, +1 KB message each`]: [CHAT_STEPS, (s) => chat.slice(0, s)],
    [`document: ${DOC_STEPS} steps, 1 MB with 20 edits each`]: [DOC_STEPS, (s) => docs[s - 1]],
  };
  const rows: string[][] = [];
  for (const [name, [steps, valueAt]] of Object.entries(workloads)) {
    let plain = 0;
    for (const [mode, make] of Object.entries(MODES)) {
      const bytes = await keyvBytes(make(), steps, valueAt);
      if (mode === "plain") plain = bytes;
      rows.push([name, mode, kb(bytes), fmt(bytes / plain, 2)]);
    }
  }
  return table(["KeyvSaver thread (memory store)", "mode", "stored (stats().bytes)", "vs plain"], rows);
}

const started = performance.now();
console.log(`## serde: size and speed per value${quick ? " (--quick)" : ""}\n`);
console.log(await serdeTable());
console.log("\n## inside KeyvSaver: binary values are stored base64 and never as deltas\n");
console.log(await keyvTable());
console.log(
  `\n_${fmt((performance.now() - started) / 1000, 1)} s, Node ${process.version}, brotli level 4, gzip level 6, minBytes 1024_`,
);
