import { randomUUID } from "node:crypto";
import type { RunnableConfig } from "@langchain/core/runnables";
import { ChatOpenAI } from "@langchain/openai";
import type { FakeOpenAI } from "../../../test/helpers/fake-openai.js";

export const uid = () => randomUUID().replaceAll("-", "").slice(0, 12);

/** The real ChatOpenAI against the fake server. */
export function chat(fake: FakeOpenAI, fields: ConstructorParameters<typeof ChatOpenAI>[0] = {}): ChatOpenAI {
  return new ChatOpenAI({
    model: "gpt-4o-2024-08-06",
    apiKey: "test",
    maxRetries: 0,
    ...fields,
    configuration: { baseURL: fake.baseURL },
  });
}

/** gpt-4o per 1M tokens in the bundled dataset: input 2.5, cache read 1.25, output 10. */
export const GPT4O = { input: 2.5, cacheRead: 1.25, output: 10 };

/** Hand formula for an OpenAI call (reasoning is inside completion). */
export const gpt4oCost = (prompt: number, cached: number, completion: number) =>
  ((prompt - cached) * GPT4O.input + cached * GPT4O.cacheRead + completion * GPT4O.output) / 1e6;

/** Streams a reply (`model.stream`, as a streaming node does) and returns its text. */
export async function streamText(model: ChatOpenAI, prompt: string, config?: RunnableConfig): Promise<string> {
  let text = "";
  for await (const chunk of await model.stream(prompt, config)) text += String(chunk.content);
  return text;
}
