// The examples' chat model: real OpenAI when OPENAI_API_KEY is set, else the real ChatOpenAI client talking to a
// scripted local OpenAI-compatible server started in this process. Either way `requests()` counts the HTTP
// requests that reached the model, so an example can show what a cache or a resume saved.
import { ChatOpenAI, type ChatOpenAIFields } from "@langchain/openai";
import { type FakeReply, type FakeResponder, type RecordedRequest, startFakeOpenAI } from "./scripted-openai.ts";

export type { FakeReply, RecordedRequest };

/** A chat model for an example, and what it cost in requests. */
export interface ExampleLLM {
  /** A ChatOpenAI (temperature 0, seed 42, no automatic retries: a failure is the example's to handle). */
  model: ChatOpenAI;
  /** True when talking to api.openai.com. */
  real: boolean;
  /** Chat completion requests sent so far. */
  requests(): number;
  /** Stops the local server, if any. */
  close(): Promise<void>;
}

/** The text of the last user message of a request (what the scripted server usually answers to). */
export function lastUserText(request: RecordedRequest): string {
  const user = request.messages.filter((m) => m.role === "user").at(-1);
  const c = user?.content;
  if (typeof c === "string") return c;
  if (Array.isArray(c)) return c.map((p) => (p as { text?: string }).text ?? "").join("");
  return "";
}

/** The text of the system message of a request ("" when there is none). */
export function systemText(request: RecordedRequest): string {
  const c = request.messages.find((m) => m.role === "system")?.content;
  return typeof c === "string" ? c : "";
}

/**
 * Creates the example model. `script` answers the local server's requests (ignored with a real API key).
 * `fields` are extra ChatOpenAI fields (model, maxTokens, callbacks…).
 */
export async function createLLM(
  script: FakeReply[] | FakeResponder,
  fields: Partial<ChatOpenAIFields> = {},
): Promise<ExampleLLM> {
  let count = 0;
  const counting: typeof fetch = (input, init) => {
    count++;
    return fetch(input, init);
  };
  const base = {
    model: process.env.OPENAI_MODEL ?? "gpt-4o-mini",
    temperature: 0,
    modelKwargs: { seed: 42 },
    maxRetries: 0,
    ...fields,
  };
  if (process.env.OPENAI_API_KEY) {
    const model = new ChatOpenAI({ ...base, configuration: { fetch: counting } });
    return { model, real: true, requests: () => count, close: async () => {} };
  }
  const server = await startFakeOpenAI(script);
  const model = new ChatOpenAI({
    ...base,
    apiKey: "scripted",
    configuration: { baseURL: server.baseURL, fetch: counting },
  });
  return { model, real: false, requests: () => count, close: () => server.close() };
}
