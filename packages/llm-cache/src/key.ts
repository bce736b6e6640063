import { createHash } from "node:crypto";

/** Call options LangGraph (or LangChain's runnable machinery) adds per run; they never change the model's answer. */
const RUNTIME_KEYS = new Set(
  [
    "executionInfo",
    "control",
    "writer",
    "interrupt",
    "signal",
    "callbacks",
    "configurable",
    "metadata",
    "tags",
    "runId",
    "runName",
    "runType",
    "recursionLimit",
    "maxConcurrency",
    "timeout",
    "store",
    "cache",
    "context",
    "runtime",
    "checkpointer",
    "streamMode",
    "outputKeys",
  ].map((k) => k.toLowerCase()),
);

/** Values under these keys are model input (tool schemas, output formats): never filtered inside. */
const OPAQUE_KEYS = new Set(["tools", "functions", "tool_choice", "toolchoice", "response_format", "responseformat"]);

/** Credentials, in any casing: `apiKey`, `openAIApiKey`, `api_key`, `accessToken`, `clientSecret`, `Authorization`… */
function isSecret(key: string): boolean {
  const k = key.toLowerCase();
  return (
    k.endsWith("key") ||
    k.endsWith("token") ||
    k.includes("secret") ||
    k.includes("password") ||
    k.includes("credential") ||
    k === "authorization"
  );
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function strip(value: Json, depth: number): Json {
  if (Array.isArray(value)) return value.map((v) => strip(v, depth + 1));
  if (value === null || typeof value !== "object") return value;
  const out: { [k: string]: Json } = {};
  for (const k of Object.keys(value).sort()) {
    if (isSecret(k) || (depth === 0 && RUNTIME_KEYS.has(k.toLowerCase()))) continue;
    const v = value[k] as Json;
    out[k] = OPAQUE_KEYS.has(k.toLowerCase()) ? v : strip(v, depth + 1);
  }
  return out;
}

/** Index just past the JSON value (or bare `undefined`) starting at `i`, i.e. the next top-level `,` or the end. */
function valueEnd(s: string, i: number): number {
  let depth = 0;
  let inString = false;
  for (let j = i; j < s.length; j++) {
    const c = s[j];
    if (inString) {
      if (c === "\\") j++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]") depth--;
    else if (c === "," && depth === 0) return j;
  }
  return s.length;
}

/**
 * Parses the llm key LangChain builds in `_getSerializedCacheKeyParametersForCall`: sorted `name:JSON` pairs joined
 * by `,` (values that are functions show as the bare word `undefined`). Returns undefined when it is not in that form.
 */
export function parseLlmKey(llmKey: string): Record<string, Json> | undefined {
  const out: Record<string, Json> = {};
  let i = 0;
  while (i < llmKey.length) {
    const colon = llmKey.indexOf(":", i);
    if (colon <= i) return undefined;
    const name = llmKey.slice(i, colon);
    if (!/^[\w$.-]+$/.test(name)) return undefined;
    const end = valueEnd(llmKey, colon + 1);
    const raw = llmKey.slice(colon + 1, end);
    if (raw !== "undefined") {
      try {
        out[name] = JSON.parse(raw) as Json;
      } catch {
        return undefined;
      }
    }
    i = end + 1;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/**
 * The llm key with LangGraph runtime fields (`executionInfo`, `control`, `writer`, `interrupt`, `signal`…) and
 * credentials (`apiKey`, any `*key`, `*token`, `*secret*`) removed, as canonical JSON. A key that does not parse
 * is returned as is.
 *
 * @example
 * normalizeLlmKey('apiKey:"sk-1",model:"gpt-4o",signal:{}') // '{"model":"gpt-4o"}'
 */
export function normalizeLlmKey(llmKey: string): string {
  const parsed = parseLlmKey(llmKey);
  return parsed === undefined ? llmKey : JSON.stringify(strip(parsed, 0));
}

/**
 * LangChain's prompt string (`getBufferString`) shows every non-text content block only as `[<type>]` (`[image]`,
 * `[audio]`, `[file]`, Anthropic's `[document]`, Google's `[media]`…), so two prompts with different images or PDFs
 * would share a key. A prompt with anything that looks like such a marker is not cached (text such as `[x]` costs a
 * miss, never a wrong answer); `cache.wrap(model)` keys on the blocks themselves and caches them.
 */
const OPAQUE_BLOCK = /\[[a-z][\w -]*\]/i;

/** True when the prompt string can stand for its messages: no media block hidden behind a placeholder. */
export function isCacheablePrompt(prompt: string): boolean {
  return !OPAQUE_BLOCK.test(prompt);
}

/** Where LangChain's prompt string starts a new message (`getBufferString` joins `Role: text` lines with `\n`). */
const MESSAGE_START = /\n(?=(?:Human|AI|System|Tool): )/;

/**
 * The prompt with line endings and Unicode normalized, so equal text hashes equally, and without the `undefined`
 * LangChain's `getBufferString` appends to an AI message whose `additional_kwargs` holds `function_call: undefined`
 * (every fresh ChatOpenAI answer does; the same message revived from a checkpoint does not), so a resumed or
 * rewound thread hits. The price: an AI message whose text really ends in "undefined" shares a key with the same
 * message without it.
 */
export function normalizePrompt(prompt: string): string {
  // each pass only when it can change something: prompts are often hundreds of KB
  let p = prompt.includes("\r") ? prompt.replace(/\r\n?/g, "\n") : prompt;
  if (NON_ASCII.test(p)) p = p.normalize("NFC");
  if (!p.includes("undefined")) return p;
  return p
    .split(MESSAGE_START)
    .map((m) => (m.startsWith("AI: ") && m.endsWith("undefined") ? m.slice(0, -"undefined".length) : m))
    .join("\n");
}

const NON_ASCII = /[^\t\n\r\x20-\x7e]/;

/** sha256 (hex) of the normalized prompt and llm key. */
export function hashEntry(prompt: string, llmKey: string): string {
  return createHash("sha256")
    .update(JSON.stringify([normalizePrompt(prompt), normalizeLlmKey(llmKey)]))
    .digest("hex");
}
