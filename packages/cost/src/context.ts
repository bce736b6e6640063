import type { BaseMessage } from "@langchain/core/messages";

/** @internal what a model call's start tells about it. */
export interface CallContext {
  callId: string;
  runId: string;
  threadId: string | undefined;
  tenant: string | undefined;
  node: string;
  /** `metadata.langgraph_step`: the superstep whose checkpoint this call's cost belongs to. */
  step: number | undefined;
  model: string;
  provider: string | undefined;
  /** `max_tokens` / `max_completion_tokens` from the invocation params, when set. */
  maxTokens: number | undefined;
  /** Characters of the prompt (text parts), for the input estimate. */
  promptChars: number;
  /** Completions the request asks for (`n`, `candidate_count`); 1 when unset. */
  choices: number;
  /** The call's abort signal, when it has one (LangChain passes it in the call options). */
  signal: AbortSignal | undefined;
  /** Set by `BudgetGuard` once it reserved the call: what the call is charged when it reports no usage or aborts. */
  reservation?: { usd: number };
}

type Rec = Record<string, unknown>;
const isRec = (v: unknown): v is Rec => typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);
const posInt = (v: unknown): number | undefined => (typeof v === "number" && v > 0 ? v : undefined);

/** The model id from the call's params, metadata or serialized model. */
function modelOf(llm: unknown, params: Rec, metadata: Rec): string {
  const kwargs = isRec(llm) && isRec(llm.kwargs) ? llm.kwargs : {};
  return (
    str(params.model) ??
    str(params.model_name) ??
    str(metadata.ls_model_name) ??
    str(kwargs.model) ??
    str(kwargs.model_name) ??
    "unknown"
  );
}

function charsOf(content: unknown): number {
  if (typeof content === "string") return content.length;
  if (Array.isArray(content))
    return content.reduce<number>((n, part) => n + charsOf(isRec(part) ? part.text : part), 0);
  return 0;
}

/** Builds the context of a chat model (`messages`) or LLM (`prompts`) call from its start callback. */
export function callContext(args: {
  llm: unknown;
  input: BaseMessage[][] | string[];
  callId: string;
  runId: string;
  extraParams: Rec | undefined;
  metadata: Rec | undefined;
  tenantKey: string;
}): CallContext {
  const metadata = args.metadata ?? {};
  const params = isRec(args.extraParams?.invocation_params) ? args.extraParams.invocation_params : {};
  let promptChars = 0;
  for (const item of args.input.flat()) {
    promptChars += typeof item === "string" ? item.length : charsOf((item as BaseMessage).content);
  }
  const tenant = metadata[args.tenantKey];
  return {
    callId: args.callId,
    runId: args.runId,
    // LangGraph copies configurable.thread_id into callback metadata; LangChain gives callbacks no configurable
    threadId: str(metadata.thread_id),
    tenant: typeof tenant === "string" || typeof tenant === "number" ? String(tenant) : undefined,
    node: str(metadata.langgraph_node) ?? "",
    // a subgraph's steps are its own: only root-graph calls (namespace without "|") name a root step
    step:
      typeof metadata.langgraph_step === "number" && !String(metadata.checkpoint_ns ?? "").includes("|")
        ? metadata.langgraph_step
        : undefined,
    model: modelOf(args.llm, params, metadata),
    provider: str(metadata.ls_provider),
    maxTokens:
      posInt(params.max_tokens) ??
      posInt(params.max_completion_tokens) ??
      posInt(params.maxTokens) ??
      posInt(params.max_output_tokens) ??
      posInt(metadata.ls_max_tokens),
    promptChars,
    choices: posInt(params.n) ?? posInt(params.candidate_count) ?? posInt(params.candidateCount) ?? 1,
    signal: signalOf(args.extraParams?.options),
  };
}

function signalOf(options: unknown): AbortSignal | undefined {
  const s = isRec(options) ? options.signal : undefined;
  return typeof AbortSignal !== "undefined" && s instanceof AbortSignal ? s : undefined;
}
