import { BaseCallbackHandler } from "@langchain/core/callbacks/base";
import type { BaseMessage } from "@langchain/core/messages";
import type { LLMResult } from "@langchain/core/outputs";
import {
  type Attributes,
  type Context,
  context,
  type Histogram,
  type Meter,
  type Span,
  SpanKind,
  trace,
} from "@opentelemetry/api";
import { GRAPH_SPAN_KEY } from "./graph.js";
import { type ChatMessageLike, readCost, toOutputMessages, toSemconvMessages, type UsageLike } from "./messages.js";
import { mapProvider } from "./providers.js";
import { openRuns } from "./runs.js";
import {
  ATTR_COST,
  ATTR_COST_CURRENCY,
  ATTR_COST_ESTIMATED,
  ATTR_ERROR_TYPE,
  ATTR_GEN_AI_CONVERSATION_ID,
  ATTR_GEN_AI_INPUT_MESSAGES,
  ATTR_GEN_AI_OPERATION_NAME,
  ATTR_GEN_AI_OUTPUT_MESSAGES,
  ATTR_GEN_AI_PROVIDER_NAME,
  ATTR_GEN_AI_REQUEST_MAX_TOKENS,
  ATTR_GEN_AI_REQUEST_MODEL,
  ATTR_GEN_AI_REQUEST_STREAM,
  ATTR_GEN_AI_REQUEST_TEMPERATURE,
  ATTR_GEN_AI_REQUEST_TOP_P,
  ATTR_GEN_AI_RESPONSE_FINISH_REASONS,
  ATTR_GEN_AI_RESPONSE_ID,
  ATTR_GEN_AI_RESPONSE_MODEL,
  ATTR_GEN_AI_TOKEN_TYPE,
  ATTR_GEN_AI_TOOL_CALL_ARGUMENTS,
  ATTR_GEN_AI_TOOL_CALL_ID,
  ATTR_GEN_AI_TOOL_CALL_RESULT,
  ATTR_GEN_AI_TOOL_NAME,
  ATTR_GEN_AI_TOOL_TYPE,
  ATTR_GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_OUTPUT_TOKENS,
  ATTR_GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
  ATTR_GEN_AI_WORKFLOW_NAME,
  ATTR_INTERRUPTED,
  ATTR_LLM_CACHE_HIT,
  ATTR_NODE,
  ATTR_STEP,
  ATTR_THREAD_ID,
  GEN_AI_DURATION_BUCKETS,
  GEN_AI_OPERATION_CHAT,
  GEN_AI_OPERATION_EXECUTE_TOOL,
  GEN_AI_OPERATION_INVOKE_WORKFLOW,
  GEN_AI_OPERATION_TEXT_COMPLETION,
  GEN_AI_TOKEN_TYPE_INPUT,
  GEN_AI_TOKEN_TYPE_OUTPUT,
  GEN_AI_TOKEN_USAGE_BUCKETS,
  METRIC_GEN_AI_CLIENT_OPERATION_DURATION,
  METRIC_GEN_AI_CLIENT_TOKEN_USAGE,
} from "./semconv.js";
import { errorType, type ProviderOptions, recordError, safely, secondsSince, Telemetry } from "./telemetry.js";

/** Options of {@link GenAITracer}. */
export interface GenAITracerOptions extends ProviderOptions {
  /**
   * Record prompts, responses, tool arguments and tool results as span attributes (`gen_ai.input.messages`,
   * `gen_ai.output.messages`, `gen_ai.tool.call.arguments`, `gen_ai.tool.call.result`). They may hold personal data.
   * @default `process.env.OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT === "true"`
   */
  captureContent?: boolean | undefined;
  /**
   * Open a span per graph node (`node {name}`), under which the node's chat and tool spans nest.
   * @default true
   */
  nodeSpans?: boolean | undefined;
}

interface GenAIInstruments {
  tokens: Histogram;
  duration: Histogram;
}

function buildInstruments(meter: Meter): GenAIInstruments {
  return {
    tokens: meter.createHistogram(METRIC_GEN_AI_CLIENT_TOKEN_USAGE, {
      description: "Number of input and output tokens used",
      unit: "{token}",
      advice: { explicitBucketBoundaries: GEN_AI_TOKEN_USAGE_BUCKETS },
    }),
    duration: meter.createHistogram(METRIC_GEN_AI_CLIENT_OPERATION_DURATION, {
      description: "GenAI operation duration",
      unit: "s",
      advice: { explicitBucketBoundaries: GEN_AI_DURATION_BUCKETS },
    }),
  };
}

/** One LangChain run the tracer follows: its span (when it opened one) and the context its children nest in. */
interface RunEntry {
  span: Span | undefined;
  ctx: Context;
  start: number;
  /** metric attributes of a model call (undefined for other runs) */
  model?: Attributes;
  /** the LangChain run that started this one */
  parentRunId?: string | undefined;
  /** the thread of a root workflow span, registered for saver spans while it is open */
  thread?: string | undefined;
}

/** Open runs kept at most; past it the oldest is ended as abandoned (a shared tracer must not grow forever). */
const MAX_OPEN_RUNS = 10_000;
/** Set on a span ended because its run never reported an end (a model stream abandoned with `break`). */
const ATTR_ABANDONED = "graphkeep.abandoned";

type Metadata = Record<string, unknown> | undefined;

function str(v: unknown): string | undefined {
  return typeof v === "string" && v !== "" ? v : undefined;
}
function num(v: unknown): number | undefined {
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}
function isInterrupt(e: unknown): boolean {
  const name = (e as { name?: unknown } | null)?.name;
  return name === "GraphInterrupt" || name === "NodeInterrupt" || name === "ParentCommand";
}

/**
 * A LangChain callback handler that turns LLM, tool and graph-node runs into OpenTelemetry spans and metrics
 * following the GenAI semantic conventions (v1.41): `chat {model}` spans with provider, request/response model,
 * token usage (cache-read and reasoning tokens included), `execute_tool {name}` spans, one `node {name}` span per
 * graph node, all under the {@link traceGraph} span when there is one; metrics `gen_ai.client.token.usage` and
 * `gen_ai.client.operation.duration`. Telemetry failures are reported through `diag`, never thrown.
 *
 * Callbacks cannot make their spans the active context, so HTTP spans of a model call nest under the graph span,
 * not under the chat span; wrap the graph with {@link traceGraph} for one trace per run.
 *
 * @example
 * await graph.invoke(input, { configurable: { thread_id: "user-42" }, callbacks: [new GenAITracer()] });
 */
export class GenAITracer extends BaseCallbackHandler {
  /** Handler name LangChain reports. */
  name = "graphkeep_otel_genai_tracer";
  /** Handlers run in line with the run, so the root run sees the caller's active context. */
  override awaitHandlers = true;
  readonly #telemetry: Telemetry<GenAIInstruments>;
  readonly #captureContent: boolean;
  readonly #nodeSpans: boolean;
  readonly #runs = new Map<string, RunEntry>();

  /**
   * @param options Content capture, node spans, providers.
   */
  constructor(options: GenAITracerOptions = {}) {
    super();
    this.#telemetry = new Telemetry(options, buildInstruments);
    this.#captureContent =
      options.captureContent ?? process.env.OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT === "true";
    this.#nodeSpans = options.nodeSpans ?? true;
  }

  #parent(parentRunId: string | undefined): Context {
    return (parentRunId !== undefined ? this.#runs.get(parentRunId)?.ctx : undefined) ?? context.active();
  }

  #open(
    runId: string,
    parent: Context,
    name: string,
    kind: SpanKind,
    attributes: Attributes,
    model?: Attributes,
    parentRunId?: string,
  ) {
    if (this.#runs.size >= MAX_OPEN_RUNS) {
      const oldest = this.#runs.keys().next().value;
      if (oldest !== undefined) this.#abandon(oldest);
    }
    const span = this.#telemetry.tracer().startSpan(name, { kind, attributes }, parent);
    this.#runs.set(runId, { span, ctx: trace.setSpan(parent, span), start: performance.now(), model, parentRunId });
  }

  /** Ends a run that will never report its end. */
  #abandon(runId: string): void {
    this.#runs.get(runId)?.span?.setAttribute(ATTR_ABANDONED, true);
    this.#close(runId);
  }

  #close(runId: string, error?: unknown, failed = false): RunEntry | undefined {
    const run = this.#runs.get(runId);
    if (!run) return undefined;
    this.#runs.delete(runId);
    if (run.thread !== undefined) openRuns.close(run.thread, run.ctx);
    // LangChain reports no end for a model stream abandoned with `break`: end it with the run that made the call
    for (const [id, child] of this.#runs) if (child.parentRunId === runId) this.#abandon(id);
    if (run.span) {
      if (failed) {
        if (isInterrupt(error)) run.span.setAttribute(ATTR_INTERRUPTED, true);
        else recordError(run.span, error);
      }
      if (run.model) {
        const attrs = failed && !isInterrupt(error) ? { ...run.model, [ATTR_ERROR_TYPE]: errorType(error) } : run.model;
        this.#telemetry.instruments().duration.record(secondsSince(run.start), attrs);
      }
      run.span.end();
    }
    return run;
  }

  // runtime argument order (the @langchain/core 1.4 type declares runType/parentRunId in other places)
  override handleChainStart(
    _chain: unknown,
    _inputs: unknown,
    runId: string,
    parentRunId?: string,
    tags?: string[],
    metadata?: Record<string, unknown>,
    _runType?: string,
    runName?: string,
  ): void {
    safely("handleChainStart", () => {
      const parent = this.#parent(parentRunId);
      if (parentRunId === undefined || !this.#runs.has(parentRunId)) {
        // a root run: the traceGraph span when one is active, else a workflow span of our own
        if (parent.getValue(GRAPH_SPAN_KEY) !== undefined) {
          this.#runs.set(runId, { span: undefined, ctx: parent, start: 0 });
          return;
        }
        const name = runName ?? "LangGraph";
        const attrs: Attributes = {
          [ATTR_GEN_AI_OPERATION_NAME]: GEN_AI_OPERATION_INVOKE_WORKFLOW,
          [ATTR_GEN_AI_WORKFLOW_NAME]: name,
        };
        const thread =
          str(metadata?.thread_id) ??
          (typeof metadata?.thread_id === "number" ? String(metadata.thread_id) : undefined);
        if (thread !== undefined) {
          attrs[ATTR_THREAD_ID] = thread;
          attrs[ATTR_GEN_AI_CONVERSATION_ID] = thread;
        }
        this.#open(runId, parent, `${GEN_AI_OPERATION_INVOKE_WORKFLOW} ${name}`, SpanKind.INTERNAL, attrs);
        const run = this.#runs.get(runId);
        if (run && thread !== undefined) {
          // saver calls of this thread made outside any active span nest under this run
          run.thread = thread;
          openRuns.open(thread, run.ctx);
        }
        return;
      }
      const node = str(metadata?.langgraph_node);
      const hidden = tags?.includes("langsmith:hidden") ?? false;
      const isNode =
        this.#nodeSpans &&
        !hidden &&
        node !== undefined &&
        runName === node &&
        (tags?.some((t) => t.startsWith("graph:step:")) ?? false);
      if (!isNode) {
        // internal runs (__start__, routing lambdas, channel writes…) open no span: children nest in the parent
        this.#runs.set(runId, { span: undefined, ctx: parent, start: 0 });
        return;
      }
      const attrs: Attributes = { [ATTR_NODE]: node };
      const step = num(metadata?.langgraph_step);
      if (step !== undefined) attrs[ATTR_STEP] = step;
      const thread = str(metadata?.thread_id);
      if (thread !== undefined) attrs[ATTR_THREAD_ID] = thread;
      this.#open(runId, parent, `node ${node}`, SpanKind.INTERNAL, attrs, undefined, parentRunId);
    });
  }

  override handleChainEnd(_outputs: unknown, runId: string): void {
    safely("handleChainEnd", () => this.#close(runId));
  }

  override handleChainError(error: unknown, runId: string): void {
    safely("handleChainError", () => this.#close(runId, error, true));
  }

  override handleChatModelStart(
    _llm: unknown,
    messages: BaseMessage[][],
    runId: string,
    parentRunId?: string,
    extraParams?: Record<string, unknown>,
    _tags?: string[],
    metadata?: Record<string, unknown>,
  ): void {
    safely("handleChatModelStart", () =>
      this.#startModel(GEN_AI_OPERATION_CHAT, runId, parentRunId, extraParams, metadata, messages[0]),
    );
  }

  override handleLLMStart(
    _llm: unknown,
    prompts: string[],
    runId: string,
    parentRunId?: string,
    extraParams?: Record<string, unknown>,
    _tags?: string[],
    metadata?: Record<string, unknown>,
  ): void {
    safely("handleLLMStart", () =>
      this.#startModel(GEN_AI_OPERATION_TEXT_COMPLETION, runId, parentRunId, extraParams, metadata, undefined, prompts),
    );
  }

  #startModel(
    operation: string,
    runId: string,
    parentRunId: string | undefined,
    extraParams: Record<string, unknown> | undefined,
    metadata: Metadata,
    messages?: BaseMessage[],
    prompts?: string[],
  ): void {
    const params = (extraParams?.invocation_params ?? {}) as Record<string, unknown>;
    const model = str(params.model) ?? str(params.model_name) ?? str(params.modelName) ?? str(metadata?.ls_model_name);
    const provider = mapProvider(str(metadata?.ls_provider));
    const metricAttrs: Attributes = { [ATTR_GEN_AI_OPERATION_NAME]: operation };
    if (provider !== undefined) metricAttrs[ATTR_GEN_AI_PROVIDER_NAME] = provider;
    if (model !== undefined) metricAttrs[ATTR_GEN_AI_REQUEST_MODEL] = model;
    const attrs: Attributes = { ...metricAttrs };
    const temperature = num(params.temperature) ?? num(metadata?.ls_temperature);
    if (temperature !== undefined) attrs[ATTR_GEN_AI_REQUEST_TEMPERATURE] = temperature;
    const maxTokens = num(params.max_tokens) ?? num(params.max_completion_tokens) ?? num(metadata?.ls_max_tokens);
    if (maxTokens !== undefined) attrs[ATTR_GEN_AI_REQUEST_MAX_TOKENS] = maxTokens;
    const topP = num(params.top_p);
    if (topP !== undefined) attrs[ATTR_GEN_AI_REQUEST_TOP_P] = topP;
    if (typeof params.stream === "boolean") attrs[ATTR_GEN_AI_REQUEST_STREAM] = params.stream;
    const thread = str(metadata?.thread_id);
    if (thread !== undefined) attrs[ATTR_GEN_AI_CONVERSATION_ID] = thread;
    const node = str(metadata?.langgraph_node);
    if (node !== undefined) attrs[ATTR_NODE] = node;
    if (this.#captureContent) {
      attrs[ATTR_GEN_AI_INPUT_MESSAGES] = JSON.stringify(
        messages
          ? toSemconvMessages(messages as unknown as ChatMessageLike[])
          : (prompts ?? []).map((p) => ({ role: "user", parts: [{ type: "text", content: p }] })),
      );
    }
    const name = model === undefined ? operation : `${operation} ${model}`;
    this.#open(runId, this.#parent(parentRunId), name, SpanKind.CLIENT, attrs, metricAttrs, parentRunId);
  }

  override async handleLLMEnd(output: LLMResult, runId: string): Promise<void> {
    // LangChain starts every handler's handleLLMEnd one after another before any of them resumes: one microtask
    // lets a @graphkeep/cost CostTracker listed after this tracer price the call and put the cost on `output`
    // (`llmOutput.graphkeepCost`), so the chat span carries it whatever the order of the callbacks
    await Promise.resolve();
    safely("handleLLMEnd", () => {
      const run = this.#runs.get(runId);
      if (run?.span && run.model) this.#finishModel(run.span, run.model, output);
      this.#close(runId);
    });
  }

  #finishModel(span: Span, metricAttrs: Attributes, output: LLMResult): void {
    const generation = output.generations?.[0]?.[0] as
      | { message?: ChatMessageLike; generationInfo?: Record<string, unknown>; text?: string }
      | undefined;
    const message = generation?.message;
    const responseMeta = (message?.response_metadata ?? {}) as Record<string, unknown>;
    const llmOutput = (output.llmOutput ?? {}) as Record<string, unknown>;
    const responseModel = str(responseMeta.model_name) ?? str(responseMeta.model) ?? str(llmOutput.model_name);
    if (responseModel !== undefined) {
      span.setAttribute(ATTR_GEN_AI_RESPONSE_MODEL, responseModel);
      metricAttrs[ATTR_GEN_AI_RESPONSE_MODEL] = responseModel;
    }
    const id = str(responseMeta.id) ?? str(message?.id);
    if (id !== undefined) span.setAttribute(ATTR_GEN_AI_RESPONSE_ID, id);
    const finish = str(responseMeta.finish_reason) ?? str(generation?.generationInfo?.finish_reason);
    if (finish !== undefined) span.setAttribute(ATTR_GEN_AI_RESPONSE_FINISH_REASONS, [finish]);

    const usage = readUsage(message?.usage_metadata, llmOutput);
    if (usage) {
      span.setAttributes({
        [ATTR_GEN_AI_USAGE_INPUT_TOKENS]: usage.input,
        [ATTR_GEN_AI_USAGE_OUTPUT_TOKENS]: usage.output,
      });
      if (usage.cacheRead !== undefined) span.setAttribute(ATTR_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, usage.cacheRead);
      if (usage.cacheCreation !== undefined) {
        span.setAttribute(ATTR_GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS, usage.cacheCreation);
      }
      if (usage.reasoning !== undefined) span.setAttribute(ATTR_GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, usage.reasoning);
      const tokens = this.#telemetry.instruments().tokens;
      tokens.record(usage.input, { ...metricAttrs, [ATTR_GEN_AI_TOKEN_TYPE]: GEN_AI_TOKEN_TYPE_INPUT });
      tokens.record(usage.output, { ...metricAttrs, [ATTR_GEN_AI_TOKEN_TYPE]: GEN_AI_TOKEN_TYPE_OUTPUT });
    }
    const cost = readCost(responseMeta, llmOutput, generation?.generationInfo);
    if (cost) {
      span.setAttribute(ATTR_COST, cost.amount);
      span.setAttribute(ATTR_COST_CURRENCY, cost.currency);
      if (cost.estimated) span.setAttribute(ATTR_COST_ESTIMATED, true);
    }
    const cache = responseMeta.cache as { hit?: unknown } | undefined;
    if (cache && typeof cache === "object" && cache.hit === true) span.setAttribute(ATTR_LLM_CACHE_HIT, true);
    if (this.#captureContent) {
      const outputs = (output.generations?.[0] ?? []) as Array<{ message?: ChatMessageLike; text?: string }>;
      span.setAttribute(ATTR_GEN_AI_OUTPUT_MESSAGES, JSON.stringify(toOutputMessages(outputs, finish)));
    }
  }

  override handleLLMError(error: unknown, runId: string): void {
    safely("handleLLMError", () => this.#close(runId, error, true));
  }

  override handleToolStart(
    _tool: unknown,
    input: string,
    runId: string,
    parentRunId?: string,
    _tags?: string[],
    metadata?: Record<string, unknown>,
    runName?: string,
    toolCallId?: string,
  ): void {
    safely("handleToolStart", () => {
      const name = runName ?? "tool";
      const attrs: Attributes = {
        [ATTR_GEN_AI_OPERATION_NAME]: GEN_AI_OPERATION_EXECUTE_TOOL,
        [ATTR_GEN_AI_TOOL_NAME]: name,
        [ATTR_GEN_AI_TOOL_TYPE]: "function",
      };
      if (toolCallId !== undefined) attrs[ATTR_GEN_AI_TOOL_CALL_ID] = toolCallId;
      const thread = str(metadata?.thread_id);
      if (thread !== undefined) attrs[ATTR_GEN_AI_CONVERSATION_ID] = thread;
      if (this.#captureContent && typeof input === "string") attrs[ATTR_GEN_AI_TOOL_CALL_ARGUMENTS] = input;
      this.#open(
        runId,
        this.#parent(parentRunId),
        `${GEN_AI_OPERATION_EXECUTE_TOOL} ${name}`,
        SpanKind.INTERNAL,
        attrs,
        undefined,
        parentRunId,
      );
    });
  }

  override handleToolEnd(output: unknown, runId: string): void {
    safely("handleToolEnd", () => {
      const run = this.#runs.get(runId);
      if (run?.span && this.#captureContent) {
        const content = (output as { content?: unknown } | null)?.content ?? output;
        run.span.setAttribute(
          ATTR_GEN_AI_TOOL_CALL_RESULT,
          typeof content === "string" ? content : (JSON.stringify(content) ?? ""),
        );
      }
      this.#close(runId);
    });
  }

  override handleToolError(error: unknown, runId: string): void {
    safely("handleToolError", () => this.#close(runId, error, true));
  }
}

function readUsage(u: UsageLike | undefined, llmOutput: Record<string, unknown>) {
  if (u && typeof u === "object" && typeof u.input_tokens === "number" && typeof u.output_tokens === "number") {
    return {
      input: u.input_tokens,
      output: u.output_tokens,
      cacheRead: num(u.input_token_details?.cache_read),
      cacheCreation: num(u.input_token_details?.cache_creation),
      reasoning: num(u.output_token_details?.reasoning),
    };
  }
  const t = llmOutput.tokenUsage as { promptTokens?: unknown; completionTokens?: unknown } | undefined;
  const input = num(t?.promptTokens);
  const output = num(t?.completionTokens);
  if (input === undefined || output === undefined) return undefined;
  return { input, output, cacheRead: undefined, cacheCreation: undefined, reasoning: undefined };
}
