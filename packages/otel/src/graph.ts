import { InvalidArgumentError } from "@graphkeep/core";
import {
  type Attributes,
  type Context,
  context,
  createContextKey,
  type Span,
  SpanKind,
  trace,
} from "@opentelemetry/api";
import {
  ATTR_GEN_AI_AGENT_NAME,
  ATTR_GEN_AI_CONVERSATION_ID,
  ATTR_GEN_AI_OPERATION_NAME,
  ATTR_GEN_AI_WORKFLOW_NAME,
  ATTR_GRAPH_METHOD,
  ATTR_INTERRUPTED,
  ATTR_RESUME,
  ATTR_THREAD_ID,
  GEN_AI_OPERATION_INVOKE_AGENT,
  GEN_AI_OPERATION_INVOKE_WORKFLOW,
} from "./semconv.js";
import { type ProviderOptions, recordError, safely, Telemetry } from "./telemetry.js";

/** Options of {@link traceGraph}. */
export interface TraceGraphOptions extends Pick<ProviderOptions, "tracerProvider"> {
  /**
   * Name of the agent or workflow: `gen_ai.agent.name` / `gen_ai.workflow.name` and the span name suffix.
   * @default the graph's `name`, else `"LangGraph"`
   */
  name?: string | undefined;
  /**
   * `invoke_agent` for a graph that acts as an agent, `invoke_workflow` for a fixed pipeline.
   * @default "invoke_agent"
   */
  operation?: "invoke_agent" | "invoke_workflow" | undefined;
  /**
   * Extra attributes set on every graph span (low cardinality values such as a deployment or tenant tier).
   * @default {}
   */
  attributes?: Attributes | undefined;
}

/** The graph methods {@link traceGraph} wraps. */
interface TraceableGraph {
  invoke(input: unknown, options?: unknown): Promise<unknown>;
  stream(input: unknown, options?: unknown): Promise<unknown>;
  streamEvents(input: unknown, options?: unknown, streamOptions?: unknown): unknown;
}

const TRACED = Symbol.for("@graphkeep/otel.tracedGraph");

/**
 * Context key under which {@link traceGraph} stores its span; {@link GenAITracer} parents the graph's nodes to it
 * instead of opening a second span for the same run.
 */
export const GRAPH_SPAN_KEY = createContextKey("@graphkeep/otel graph span");

function isInterrupt(e: unknown): boolean {
  const name = (e as { name?: unknown } | null)?.name;
  return name === "GraphInterrupt" || name === "NodeInterrupt" || name === "ParentCommand";
}

function threadOf(options: unknown): string | undefined {
  const t = (options as { configurable?: { thread_id?: unknown } } | undefined)?.configurable?.thread_id;
  return typeof t === "string" || typeof t === "number" ? String(t) : undefined;
}

function isResume(input: unknown): boolean {
  if (input === null || input === undefined) return true;
  const ctor = (input as { constructor?: { name?: string } }).constructor?.name;
  return ctor === "Command" || (input as { lg_name?: unknown }).lg_name === "Command";
}

type Ending = (error?: unknown) => void;

/**
 * Makes every `invoke`, `stream` and `streamEvents` call of a compiled LangGraph graph run inside an active
 * `invoke_agent {name}` (or `invoke_workflow {name}`) span, so saver, HTTP and database spans created during the
 * run nest under it and each run is one trace, concurrent runs included. For `stream`/`streamEvents`, the span
 * stays active while the stream is iterated and ends when the iteration ends, fails or is abandoned. The result
 * is the same graph (a proxy); tracing it again returns it unchanged.
 *
 * @param graph A compiled graph (`workflow.compile(...)`) or anything with `invoke`/`stream`.
 * @param options Span name, operation, tracer provider.
 * @throws {InvalidArgumentError} when `graph` has no `invoke` and `stream` methods.
 * @example
 * const graph = traceGraph(workflow.compile({ checkpointer }), { name: "support-agent" });
 * await graph.invoke(input, { configurable: { thread_id: "user-42" }, callbacks: [new GenAITracer()] });
 */
export function traceGraph<G extends object>(graph: G, options: TraceGraphOptions = {}): G {
  const g = graph as unknown as Partial<TraceableGraph> | null;
  if (g === null || typeof g !== "object" || typeof g.invoke !== "function" || typeof g.stream !== "function") {
    throw new InvalidArgumentError(
      "traceGraph: the first argument must be a compiled graph (workflow.compile()) with invoke() and stream()",
    );
  }
  if ((graph as Record<symbol, unknown>)[TRACED] === true) return graph;
  const operation = options.operation ?? GEN_AI_OPERATION_INVOKE_AGENT;
  if (operation !== GEN_AI_OPERATION_INVOKE_AGENT && operation !== GEN_AI_OPERATION_INVOKE_WORKFLOW) {
    throw new InvalidArgumentError('traceGraph: operation must be "invoke_agent" or "invoke_workflow"');
  }
  const graphName = (graph as { name?: unknown }).name;
  const name = options.name ?? (typeof graphName === "string" && graphName !== "" ? graphName : "LangGraph");
  const telemetry = new Telemetry(options, () => undefined);

  const begin = (method: string, input: unknown, callOptions: unknown): { span: Span; ctx: Context } | undefined =>
    safely("starting a graph span", () => {
      const attrs: Attributes = {
        ...options.attributes,
        [ATTR_GEN_AI_OPERATION_NAME]: operation,
        [operation === GEN_AI_OPERATION_INVOKE_AGENT ? ATTR_GEN_AI_AGENT_NAME : ATTR_GEN_AI_WORKFLOW_NAME]: name,
        [ATTR_GRAPH_METHOD]: method,
        [ATTR_RESUME]: isResume(input),
      };
      const thread = threadOf(callOptions);
      if (thread !== undefined) {
        attrs[ATTR_THREAD_ID] = thread;
        attrs[ATTR_GEN_AI_CONVERSATION_ID] = thread;
      }
      const parent = context.active();
      const span = telemetry
        .tracer()
        .startSpan(`${operation} ${name}`, { kind: SpanKind.INTERNAL, attributes: attrs }, parent);
      return { span, ctx: trace.setSpan(parent, span).setValue(GRAPH_SPAN_KEY, span) };
    });

  const ender =
    (span: Span): Ending =>
    (error?: unknown) =>
      safely("ending a graph span", () => {
        if (error !== undefined) {
          if (isInterrupt(error)) span.setAttribute(ATTR_INTERRUPTED, true);
          else recordError(span, error);
        }
        span.end();
      });

  const invoke = async (input: unknown, callOptions?: unknown) => {
    const run = begin("invoke", input, callOptions);
    if (!run) return g.invoke?.call(graph, input, callOptions);
    const end = ender(run.span);
    try {
      const out = await context.with(run.ctx, () =>
        (g.invoke as TraceableGraph["invoke"]).call(graph, input, callOptions),
      );
      end();
      return out;
    } catch (e) {
      end(e);
      throw e;
    }
  };

  const stream = async (input: unknown, callOptions?: unknown) => {
    const run = begin("stream", input, callOptions);
    if (!run) return g.stream?.call(graph, input, callOptions);
    const end = ender(run.span);
    try {
      const out = await context.with(run.ctx, () =>
        (g.stream as TraceableGraph["stream"]).call(graph, input, callOptions),
      );
      return bindIteration(out, run.ctx, end);
    } catch (e) {
      end(e);
      throw e;
    }
  };

  const streamEvents = (input: unknown, callOptions?: unknown, streamOptions?: unknown) => {
    const run = begin("streamEvents", input, callOptions);
    const call = () =>
      (g.streamEvents as TraceableGraph["streamEvents"]).call(graph, input, callOptions, streamOptions);
    if (!run) return call();
    const end = ender(run.span);
    let out: unknown;
    try {
      out = context.with(run.ctx, call);
    } catch (e) {
      end(e);
      throw e;
    }
    if (out !== null && typeof (out as PromiseLike<unknown>).then === "function") {
      return (out as Promise<unknown>).then(
        (v) => bindIteration(v, run.ctx, end),
        (e: unknown) => {
          end(e);
          throw e;
        },
      );
    }
    return bindIteration(out, run.ctx, end);
  };

  const wrappers = new Map<PropertyKey, unknown>([
    ["invoke", invoke],
    ["stream", stream],
  ]);
  if (typeof g.streamEvents === "function") wrappers.set("streamEvents", streamEvents);
  return new Proxy(graph, {
    get(target, prop) {
      if (prop === TRACED) return true;
      const wrapper = wrappers.get(prop);
      if (wrapper !== undefined) return wrapper;
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/**
 * Patches a stream's own `next`/`return`/`throw` so each step runs with `ctx` active and `end` is called once when
 * the iteration completes, fails or is abandoned. Objects that are not async iterators end the span at once.
 */
function bindIteration<S>(stream: S, ctx: Context, end: Ending): S {
  const it = stream as Partial<AsyncIterator<unknown>> | null;
  if (it === null || typeof it !== "object" || typeof it.next !== "function") {
    end();
    return stream;
  }
  let done = false;
  const finish = (error?: unknown) => {
    if (done) return;
    done = true;
    end(error);
  };
  const next = it.next.bind(it);
  const ret = it.return?.bind(it);
  const thr = it.throw?.bind(it);
  const patch = safely("binding a graph stream", () => {
    Object.defineProperty(it, "next", {
      configurable: true,
      writable: true,
      value: async (...args: [] | [unknown]) => {
        try {
          const r = await context.with(ctx, () => next(...args));
          if (r.done) finish();
          return r;
        } catch (e) {
          finish(e);
          throw e;
        }
      },
    });
    Object.defineProperty(it, "return", {
      configurable: true,
      writable: true,
      value: async (value?: unknown) => {
        try {
          return ret ? await context.with(ctx, () => ret(value)) : { done: true, value };
        } finally {
          finish();
        }
      },
    });
    Object.defineProperty(it, "throw", {
      configurable: true,
      writable: true,
      value: async (error?: unknown) => {
        try {
          if (!thr) throw error;
          return await context.with(ctx, () => thr(error));
        } catch (e) {
          finish(e);
          throw e;
        } finally {
          finish();
        }
      },
    });
    return true;
  });
  if (!patch) finish();
  return stream;
}
