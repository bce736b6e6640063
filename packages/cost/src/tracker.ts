import { randomUUID } from "node:crypto";
import { InvalidArgumentError, StoreUnavailableError, withTimeout } from "@graphkeep/core";
import { BaseCallbackHandler } from "@langchain/core/callbacks/base";
import type { Serialized } from "@langchain/core/load/serializable";
import type { BaseMessage } from "@langchain/core/messages";
import type { LLMResult } from "@langchain/core/outputs";
import type Keyv from "keyv";
import { type CallContext, callContext } from "./context.js";
import { deltaOf, toTotals } from "./counters.js";
import { type Atomicity, createLedger, type Ledger } from "./ledger.js";
import { prices as defaultPrices, type PriceTable } from "./prices.js";
import type { CostRecord, CostTotals, CostTrackerOptions, TokenUsage, TotalsQuery } from "./types.js";
import { readUsage } from "./usage.js";
import { safeHook, warnOnce } from "./warn.js";

type Rec = Record<string, unknown>;
const MAX_REMEMBERED = 10_000;

/**
 * A LangChain callback handler that prices every chat model / LLM call and adds it to persistent totals per thread,
 * run, tenant, model and node. Handlers are awaited, so `totals()` after `invoke` includes every call of it.
 * Failures of the store are warned about once and never thrown into the app.
 *
 * @throws {InvalidArgumentError} when `store` is not a Keyv or an option is invalid
 * @example
 * const tracker = new CostTracker({ store: new Keyv(new KeyvRedis("redis://localhost")) });
 * await graph.invoke(input, { configurable: { thread_id: "t1" }, callbacks: [tracker] });
 * const { usd, byNode } = await tracker.totals({ threadId: "t1" });
 */
export class CostTracker extends BaseCallbackHandler {
  name = "graphkeep_cost_tracker";
  override awaitHandlers = true;
  /** The price table in use. */
  readonly prices: PriceTable;
  /** The run metadata key naming the tenant. */
  readonly tenantKey: string;
  readonly #ledger: Ledger;
  readonly #onCost: CostTrackerOptions["onCost"];
  readonly #parents = new Map<string, string | undefined>();
  readonly #calls = new Map<string, CallContext>();
  readonly #ends = new Map<string, Promise<CostRecord | undefined>>();
  readonly #warned = new Set<string>();
  readonly #listeners = new Set<(record: CostRecord) => void>();
  readonly #timeout: number;

  constructor(options: CostTrackerOptions) {
    super();
    const store = (options as Partial<CostTrackerOptions> | undefined)?.store as Keyv | undefined;
    if (!store || typeof store.get !== "function" || typeof store.set !== "function") {
      throw new InvalidArgumentError("CostTracker: options.store must be a Keyv instance");
    }
    for (const k of ["namespace", "tenantKey", "writerId"] as const) {
      const v = options[k];
      if (v !== undefined && (typeof v !== "string" || v === "")) {
        throw new InvalidArgumentError(`CostTracker: options.${k} must be a non-empty string`);
      }
    }
    if (options.onCost !== undefined && typeof options.onCost !== "function") {
      throw new InvalidArgumentError("CostTracker: options.onCost must be a function");
    }
    this.prices = options.prices ?? defaultPrices;
    this.tenantKey = options.tenantKey ?? "tenant_id";
    this.#onCost = options.onCost;
    this.#ledger = createLedger(store, options.namespace ?? "cost", options.writerId ?? randomUUID());
    const timeout = options.operationTimeoutMs ?? 5000;
    if (!(Number.isFinite(timeout) && timeout > 0)) {
      throw new InvalidArgumentError("CostTracker: options.operationTimeoutMs must be a positive number of ms");
    }
    this.#timeout = timeout;
  }

  /** Runs a store call that must not hang on a store that went away (a Redis client reconnects forever). */
  #timed<T>(call: () => Promise<T>): Promise<T> {
    return withTimeout(this.#timeout, call, () => new Error(`the store did not answer within ${this.#timeout} ms`));
  }

  /** How increments are made safe on this store: `"redis-atomic"` or `"per-writer"` (see README). */
  get atomicity(): Atomicity {
    return this.#ledger.atomicity;
  }

  /**
   * Totals of one thread, run (the root run id of an invocation) or tenant, read from the store.
   *
   * @throws {InvalidArgumentError} unless exactly one of `threadId`, `runId`, `tenant` is a non-empty string
   * @throws {StoreUnavailableError} when the store fails
   * @example
   * const t = await tracker.totals({ tenant: "acme" }); console.log(t.usd, t.byModel["gpt-4o"]?.calls)
   */
  async totals(query: TotalsQuery): Promise<CostTotals> {
    const scope = scopeOf(query);
    try {
      return toTotals(await this.#timed(() => this.#ledger.read(scope)));
    } catch (e) {
      throw new StoreUnavailableError("get", `CostTracker: reading the totals of ${scope} failed`, { cause: e });
    }
  }

  /** @internal every recorded call, in this process, before the call returns (for `withCostMetadata`). */
  _subscribe(listener: (record: CostRecord) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** @internal the context recorded at the start of a call (for `BudgetGuard`). */
  _context(callId: string): CallContext | undefined {
    return this.#calls.get(callId);
  }

  override async handleChainStart(_chain: Serialized, _inputs: unknown, runId: string, parentRunId?: string) {
    this.#remember(this.#parents, runId, parentRunId);
  }

  override async handleChainEnd(_outputs: unknown, runId: string) {
    this.#parents.delete(runId);
  }

  override async handleChainError(_err: unknown, runId: string) {
    this.#parents.delete(runId);
  }

  override async handleChatModelStart(
    llm: Serialized,
    messages: BaseMessage[][],
    runId: string,
    parentRunId?: string,
    extraParams?: Rec,
    _tags?: string[],
    metadata?: Rec,
  ) {
    this._start(llm, messages, runId, parentRunId, extraParams, metadata);
  }

  override async handleLLMStart(
    llm: Serialized,
    prompts: string[],
    runId: string,
    parentRunId?: string,
    extraParams?: Rec,
    _tags?: string[],
    metadata?: Rec,
  ) {
    this._start(llm, prompts, runId, parentRunId, extraParams, metadata);
  }

  /** @internal records a call's context once (the tracker and the guard both call it). */
  _start(
    llm: unknown,
    input: BaseMessage[][] | string[],
    callId: string,
    parentRunId: string | undefined,
    extraParams: Rec | undefined,
    metadata: Rec | undefined,
  ): CallContext {
    const known = this.#calls.get(callId);
    if (known) return known;
    const ctx = callContext({
      llm,
      input,
      callId,
      runId: this.#root(parentRunId ?? callId),
      extraParams,
      metadata,
      tenantKey: this.tenantKey,
    });
    this.#remember(this.#calls, callId, ctx);
    return ctx;
  }

  override async handleLLMEnd(output: LLMResult, runId: string, _p?: string, _t?: string[], extraParams?: Rec) {
    await this._end(output, runId, extraParams);
  }

  override async handleLLMError(err: unknown, runId: string) {
    const ctx = this.#calls.get(runId);
    if (ctx?.reservation && wasCharged(err, ctx)) await this._charge(ctx);
    else this.#calls.delete(runId);
  }

  /**
   * @internal charges a call its `BudgetGuard` reservation when it reported no usage: aborted, broken off, or never
   * ended. Once per call, like `_end` (whichever comes first wins); resolves when stored.
   */
  _charge(ctx: CallContext): Promise<CostRecord | undefined> {
    let done = this.#ends.get(ctx.callId);
    if (!done) {
      this.#calls.delete(ctx.callId);
      done = this.#store(ctx, {
        usage: undefined,
        model: ctx.model,
        family: this.prices.cost(ctx.model, {}, ctx.provider).family,
        priced: false,
        usd: ctx.reservation?.usd ?? 0,
        estimated: ctx.reservation !== undefined,
        cached: false,
        savedUsd: 0,
      });
      this.#remember(this.#ends, ctx.callId, done);
    }
    return done;
  }

  /** @internal prices and stores a call once, however many handlers report its end; resolves when stored. */
  _end(output: LLMResult, callId: string, extraParams?: Rec): Promise<CostRecord | undefined> {
    let done = this.#ends.get(callId);
    if (!done) {
      done = this.#record(output, callId, extraParams);
      this.#remember(this.#ends, callId, done);
    }
    return done;
  }

  async #record(output: LLMResult, callId: string, extraParams?: Rec): Promise<CostRecord | undefined> {
    const ctx = this.#calls.get(callId);
    this.#calls.delete(callId);
    if (!ctx) return undefined;
    const read = readUsage(output, extraParams);
    const model = read.model ?? ctx.model;
    let priced = true;
    let estimated = false;
    let usd = 0;
    let savedUsd = 0;
    let family = model;
    if (read.cached) {
      const saved = read.savedUsage && this.prices.cost(model, read.savedUsage, ctx.provider);
      if (saved) ({ usd: savedUsd, family } = saved);
      else if (!read.savedUsage) family = this.prices.cost(model, {}, ctx.provider).family;
    } else if (read.usage === undefined) {
      priced = false;
      family = this.prices.cost(model, {}, ctx.provider).family;
      if (ctx.reservation) {
        // the guard's reservation bounds what the call can have cost: charge it, so the budget still applies
        estimated = true;
        usd = ctx.reservation.usd;
      }
      warnOnce(
        this.#warned,
        `nousage:${model}`,
        "GRAPHKEEP_COST_NO_USAGE",
        `CostTracker: a response of model "${model}" carries no token usage; ${
          estimated ? "charged its BudgetGuard reservation (counted in unreportedCalls)" : "counted as an unpriced call"
        } (for streaming, enable usage reporting, e.g. ChatOpenAI streamUsage)`,
      );
    } else {
      const price = this.prices.cost(model, read.usage, ctx.provider);
      ({ usd, priced, family } = price);
      if (!priced) {
        warnOnce(
          this.#warned,
          `unknown:${model}`,
          "GRAPHKEEP_COST_UNKNOWN_MODEL",
          `CostTracker: no price is known for model "${model}"; its calls are counted as unpriced, not as $0 — add it to PriceTable overrides`,
        );
      }
    }
    if (priced || estimated) attachCost(output, usd, estimated);
    return this.#store(ctx, {
      usage: read.usage,
      model,
      family,
      priced,
      usd,
      estimated,
      cached: read.cached,
      savedUsd,
    });
  }

  /** Adds one call to the totals of its run, thread and tenant, then tells the listeners and `onCost`. */
  async #store(
    ctx: CallContext,
    r: Pick<CostRecord, "model" | "family" | "priced" | "usd" | "estimated" | "cached" | "savedUsd"> & {
      usage: TokenUsage | undefined;
    },
  ): Promise<CostRecord> {
    const { usage, ...rest } = r;
    const record: CostRecord = {
      ...(usage ?? { inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 }),
      callId: ctx.callId,
      runId: ctx.runId,
      threadId: ctx.threadId,
      tenant: ctx.tenant,
      node: ctx.node,
      step: ctx.step,
      ...rest,
    };
    const scopes = [`run:${ctx.runId}`];
    if (ctx.threadId !== undefined) scopes.push(`thread:${ctx.threadId}`);
    if (ctx.tenant !== undefined) scopes.push(`tenant:${ctx.tenant}`);
    try {
      await this.#timed(() => this.#ledger.add(scopes, deltaOf(record)));
    } catch (e) {
      warnOnce(
        this.#warned,
        "store",
        "GRAPHKEEP_COST_STORE",
        `CostTracker: the store failed; a call's cost was not saved: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
    for (const listener of this.#listeners) safeHook(this.#warned, "listener", () => listener(record));
    const onCost = this.#onCost;
    if (onCost) safeHook(this.#warned, "onCost", () => onCost(record));
    return record;
  }

  #root(id: string): string {
    let current = id;
    for (let i = 0; i < 1000; i++) {
      const parent = this.#parents.get(current);
      if (parent === undefined) return current;
      current = parent;
    }
    return current;
  }

  #remember<V>(map: Map<string, V>, key: string, value: V): void {
    if (map.size >= MAX_REMEMBERED) {
      const oldest = map.keys().next().value;
      if (oldest !== undefined) map.delete(oldest);
    }
    map.set(key, value);
  }
}

/**
 * Puts the call's cost on its result as `llmOutput.graphkeepCost = { usd, currency, estimated? }`, before any await,
 * so other handlers of the same call (`@graphkeep/otel`'s GenAITracer puts it on the chat span) can read it.
 */
function attachCost(output: LLMResult, usd: number, estimated: boolean): void {
  try {
    output.llmOutput = {
      ...output.llmOutput,
      graphkeepCost: { usd, currency: "USD", ...(estimated ? { estimated: true } : {}) },
    };
  } catch {
    // a frozen result: nothing to share
  }
}

/**
 * Whether a failed call may have been billed: it was aborted, timed out or broke off mid-response. A provider error
 * response (an HTTP status) or a connection that was never made produced no completion, so it is not charged.
 */
export function wasCharged(err: unknown, ctx: CallContext): boolean {
  if (ctx.signal?.aborted) return true;
  const e = (typeof err === "object" && err !== null ? err : {}) as Record<string, unknown>;
  if (typeof e.status === "number" && e.status >= 400) return false;
  const cause = (typeof e.cause === "object" && e.cause !== null ? e.cause : {}) as Record<string, unknown>;
  const code = String(e.code ?? cause.code ?? "");
  return !["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"].includes(code);
}

function scopeOf(query: TotalsQuery): string {
  const q = (query ?? {}) as Partial<Record<"threadId" | "runId" | "tenant", unknown>>;
  const given = (["threadId", "runId", "tenant"] as const).filter((k) => q[k] !== undefined);
  const key = given[0];
  const value = key === undefined ? undefined : q[key];
  if (given.length !== 1 || key === undefined || typeof value !== "string" || value === "") {
    throw new InvalidArgumentError(
      "CostTracker.totals: pass exactly one of { threadId }, { runId } or { tenant } as a non-empty string",
    );
  }
  return `${key === "threadId" ? "thread" : key === "runId" ? "run" : "tenant"}:${value}`;
}
