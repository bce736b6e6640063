import { InvalidArgumentError } from "@graphkeep/core";
import { CallbackManager } from "@langchain/core/callbacks/manager";
import type { BaseLanguageModelInput } from "@langchain/core/language_models/base";
import { BaseChatModel } from "@langchain/core/language_models/chat_models";
import { AIMessage, AIMessageChunk, type BaseMessage, isAIMessage } from "@langchain/core/messages";
import { type ChatGeneration, ChatGenerationChunk, type Generation } from "@langchain/core/outputs";
import type { RunnableConfig } from "@langchain/core/runnables";
import { type CallScope, callScope } from "./context.js";
import type { KeyvLLMCache } from "./llm-cache.js";
import { hashMessages } from "./messages-key.js";

const WRAPPED = Symbol.for("graphkeep.llm-cache.wrapped");
/** Methods that return a configured copy of the model. */
const REBINDERS = new Set<string | symbol>(["withConfig", "bindTools", "bind"]);

type CallOptions = RunnableConfig & Record<string, unknown>;

/** The parts of BaseChatModel this wrapper drives; protected in the types, public at runtime. */
interface ModelInternals {
  cache?: unknown;
  callbacks?: unknown;
  tags?: string[];
  metadata?: Record<string, unknown>;
  verbose?: boolean;
  disableStreaming?: boolean;
  _streamResponseChunks: unknown;
  _streamIterator(input: BaseLanguageModelInput, options?: CallOptions): AsyncGenerator<AIMessageChunk>;
  invoke(input: BaseLanguageModelInput, options?: CallOptions): Promise<AIMessageChunk>;
  _separateRunnableConfigFromCallOptionsCompat(options?: CallOptions): [RunnableConfig, Record<string, unknown>];
  _getSerializedCacheKeyParametersForCall(options: Record<string, unknown>): string;
  getLsParamsWithDefaults?(options: Record<string, unknown>): Record<string, unknown>;
  invocationParams(options: Record<string, unknown>): unknown;
  toJSON(): unknown;
}

function toMessages(input: BaseLanguageModelInput): BaseMessage[] {
  const convert = (
    BaseChatModel as unknown as { _convertInputToPromptValue(i: unknown): { toChatMessages(): BaseMessage[] } }
  )._convertInputToPromptValue;
  return convert(input).toChatMessages();
}

function scopeFor(messages: BaseMessage[], options: CallOptions | undefined): CallScope {
  return {
    messagesHash: hashMessages(messages),
    control: options?.metadata?.cache,
    threadId: options?.configurable?.thread_id,
  };
}

/** A cached answer as the chunks it streamed in (content split by the stored sizes), the last one with the rest. */
function* replayChunks(generation: Generation, sizes: number[] | undefined): Generator<AIMessageChunk> {
  const message = (generation as ChatGeneration).message;
  if (message === undefined || !isAIMessage(message)) {
    yield new AIMessageChunk({ content: generation.text });
    return;
  }
  const ai = message as AIMessage;
  const content = ai.content;
  if (typeof content === "string" && sizes !== undefined && sizes.reduce((a, b) => a + b, 0) === content.length) {
    let at = 0;
    for (const size of sizes) {
      if (size === 0) continue;
      yield new AIMessageChunk({ content: content.slice(at, at + size), id: ai.id });
      at += size;
    }
  } else if (content !== "") {
    yield new AIMessageChunk({ content, id: ai.id });
  }
  yield new AIMessageChunk({
    content: "",
    id: ai.id,
    tool_call_chunks: (ai.tool_calls ?? []).map((c, index) => ({
      type: "tool_call_chunk" as const,
      index,
      id: c.id,
      name: c.name,
      args: JSON.stringify(c.args),
    })),
    additional_kwargs: ai.additional_kwargs,
    response_metadata: ai.response_metadata,
    usage_metadata: ai.usage_metadata ?? { input_tokens: 0, output_tokens: 0, total_tokens: 0 },
  });
}

/** The finished message of a stream, as the non-streamed call would have returned it. */
function toGeneration(chunk: AIMessageChunk): ChatGeneration {
  const message = new AIMessage({
    content: chunk.content,
    id: chunk.id,
    tool_calls: chunk.tool_calls ?? [],
    invalid_tool_calls: chunk.invalid_tool_calls ?? [],
    additional_kwargs: chunk.additional_kwargs,
    response_metadata: chunk.response_metadata,
    ...(chunk.usage_metadata === undefined ? {} : { usage_metadata: chunk.usage_metadata }),
  });
  return { text: typeof chunk.content === "string" ? chunk.content : "", message };
}

async function* cachedStream(
  cache: KeyvLLMCache,
  target: ModelInternals,
  proxy: ModelInternals,
  input: BaseLanguageModelInput,
  options: CallOptions | undefined,
): AsyncGenerator<AIMessageChunk> {
  const original = Object.getPrototypeOf(target)._streamIterator as ModelInternals["_streamIterator"];
  const streams = target._streamResponseChunks !== BaseChatModel.prototype._streamResponseChunks;
  if (!streams || target.disableStreaming) {
    // LangChain would answer with invoke anyway: take the cached invoke path
    yield await proxy.invoke(input, options);
    return;
  }
  const messages = toMessages(input);
  const scope = scopeFor(messages, options);
  const [runConfig, callOptions] = target._separateRunnableConfigFromCallOptionsCompat(options);
  const plan = callScope.run(scope, () => cache._plan("", target._getSerializedCacheKeyParametersForCall(callOptions)));
  const hit = plan?.read ? await cache._read(plan.key) : undefined;
  const generation = hit?.generations[0];
  if (hit !== undefined && generation !== undefined) {
    cache._replayed();
    // callbacks see a cached call, as for a cached invoke (tracers, cost trackers)
    const manager = await CallbackManager.configure(
      runConfig.callbacks,
      target.callbacks as never,
      runConfig.tags,
      target.tags,
      { ...runConfig.metadata, ...target.getLsParamsWithDefaults?.(callOptions) },
      target.metadata,
      { verbose: target.verbose ?? false },
    );
    const extra = { options: callOptions, invocation_params: target.invocationParams(callOptions), batch_size: 1 };
    const [run] =
      (await manager?.handleChatModelStart(
        target.toJSON() as never,
        [messages],
        runConfig.runId,
        undefined,
        extra,
        undefined,
        undefined,
        runConfig.runName,
      )) ?? [];
    for (const chunk of replayChunks(generation, hit.chunks)) {
      // with the chunk, as a live stream reports it: LangGraph's "messages" mode streams it once, id included
      const text = typeof chunk.content === "string" ? chunk.content : "";
      await run?.handleLLMNewToken(text, undefined, undefined, undefined, undefined, {
        chunk: new ChatGenerationChunk({ text, message: chunk }),
      });
      yield chunk;
    }
    await run?.handleLLMEnd({ generations: [[generation]] }, undefined, undefined, undefined, { cached: true });
    return;
  }
  let whole: AIMessageChunk | undefined;
  const sizes: number[] = [];
  for await (const chunk of callScope.run(scope, () => original.call(proxy, input, options))) {
    whole = whole === undefined ? chunk : whole.concat(chunk);
    sizes.push(typeof chunk.content === "string" ? chunk.content.length : -1);
    yield chunk;
  }
  // only a stream read to its end is stored (an abandoned one never gets here)
  if (plan?.write && whole !== undefined) {
    await cache._write(plan.key, [toGeneration(whole)], plan.ttl, sizes.includes(-1) ? undefined : sizes);
  }
}

/** See {@link KeyvLLMCache.wrap}. */
export function wrapModel<M extends BaseChatModel>(cache: KeyvLLMCache, model: M): M {
  const tagged = model as unknown as Record<symbol, unknown>;
  if (tagged[WRAPPED] === cache) return model;
  if (tagged[WRAPPED] !== undefined) {
    throw new InvalidArgumentError("KeyvLLMCache.wrap: the model is already wrapped by another KeyvLLMCache");
  }
  const existing = (model as unknown as ModelInternals).cache;
  if (existing !== undefined && existing !== cache && typeof existing === "object") {
    throw new InvalidArgumentError(
      "KeyvLLMCache.wrap: the model already has a different cache; create it without `cache` and wrap it instead",
    );
  }
  const target = model as unknown as ModelInternals;
  const proxy: ModelInternals = new Proxy(target, {
    get(t, prop, receiver) {
      if (prop === WRAPPED || prop === "cache") return cache;
      if (prop === "invoke") {
        return (input: BaseLanguageModelInput, options?: CallOptions) =>
          callScope.run(scopeFor(toMessages(input), options), () => t.invoke.call(receiver, input, options));
      }
      if (prop === "_streamIterator") {
        return (input: BaseLanguageModelInput, options?: CallOptions) => cachedStream(cache, t, proxy, input, options);
      }
      const value = Reflect.get(t, prop, receiver);
      if (typeof value === "function" && REBINDERS.has(prop)) {
        // ChatOpenAI 1.x answers withConfig/bindTools with a new model instance: keep the cache on it
        return (...args: unknown[]) => {
          const out = value.apply(receiver, args);
          return out instanceof BaseChatModel ? wrapModel(cache, out) : out;
        };
      }
      return value;
    },
  });
  return proxy as unknown as M;
}
