import { InvalidArgumentError, InvalidConfigError } from "@graphkeep/core";
import { BaseCallbackHandler } from "@langchain/core/callbacks/base";
import type { Serialized } from "@langchain/core/load/serializable";
import type { BaseMessage } from "@langchain/core/messages";
import type { LLMResult } from "@langchain/core/outputs";
import type { CallContext } from "./context.js";
import { BudgetExceededError, type BudgetScope, UnpricedModelError } from "./errors.js";
import type { BudgetGuardOptions, BudgetLimits, BudgetWarning } from "./guard-types.js";
import { Mutex, Signal } from "./mutex.js";
import { quietly } from "./quiet.js";
import { CostTracker, wasCharged } from "./tracker.js";
import { safeHook, warnOnce } from "./warn.js";

type Rec = Record<string, unknown>;
interface Check {
  scope: BudgetScope;
  key: string;
  limit: number;
}
type Verdict = { ok: true } | { ok: false; error: BudgetExceededError; next: Promise<void> | undefined };

const EPSILON = 1e-12;
/**
 * A reservation whose call never reported an end (a stream abandoned outside any chain, a crashed handler) is
 * dropped after this long, and a refused call waits at most this long for in-flight calls to settle.
 */
const STALE_MS = 120_000;
const DEFAULTS = {
  warnAt: 0.8,
  defaultMaxTokens: 4096,
  charsPerToken: 4,
  unpriced: "refuse" as const,
  unthreaded: "refuse" as const,
};

/**
 * A callback handler that refuses a model call before its request is sent when the call could push a thread's or
 * tenant's spend past its limit. Each call reserves its maximum cost (estimated input tokens + max output tokens,
 * priced); concurrent calls count each other's reservations, so parallel `Send` tasks cannot overshoot together.
 * A refused call whose scope has calls in flight waits for them to settle and checks again with their real cost.
 * After the call, the reservation is replaced by the actual cost the tracker recorded.
 *
 * @throws {InvalidArgumentError} on a negative or NaN limit, a tenant key the tracker does not record, or another invalid option
 * @example
 * const guard = new BudgetGuard({ tracker, limits: { thread: 2.5 }, onWarn: (w) => log.warn(w) });
 * await graph.invoke(input, { configurable: { thread_id }, callbacks: [tracker, guard] });
 */
export class BudgetGuard extends BaseCallbackHandler {
  name = "graphkeep_budget_guard";
  override raiseError = true;
  override awaitHandlers = true;
  readonly #tracker: CostTracker;
  readonly #opts: Required<Omit<BudgetGuardOptions, "tracker" | "limits" | "onWarn">>;
  readonly #onWarn: BudgetGuardOptions["onWarn"];
  #limits: BudgetLimits;
  readonly #mutex = new Mutex();
  readonly #settled = new Signal();
  /** USD held per scope id (`thread:<id>`, `tenant:<v>`) by calls in flight. */
  readonly #held = new Map<string, number>();
  readonly #reservations = new Map<
    string,
    { usd: number; ids: string[]; parent: string | undefined; at: number; ctx: CallContext }
  >();
  readonly #warned = new Set<string>();
  readonly #notices = new Set<string>();

  constructor(options: BudgetGuardOptions) {
    super();
    const o = { ...DEFAULTS, ...(options ?? {}) } as BudgetGuardOptions & typeof DEFAULTS;
    if (!(o.tracker instanceof CostTracker)) {
      throw new InvalidArgumentError("BudgetGuard: options.tracker must be a CostTracker");
    }
    if (!(typeof o.warnAt === "number" && o.warnAt > 0 && o.warnAt <= 1)) {
      throw new InvalidArgumentError(`BudgetGuard: warnAt must be a number in (0, 1]; got ${String(o.warnAt)}`);
    }
    if (!Number.isInteger(o.defaultMaxTokens) || o.defaultMaxTokens <= 0) {
      throw new InvalidArgumentError(
        `BudgetGuard: defaultMaxTokens must be a positive integer; got ${String(o.defaultMaxTokens)}`,
      );
    }
    if (!(typeof o.charsPerToken === "number" && Number.isFinite(o.charsPerToken) && o.charsPerToken > 0)) {
      throw new InvalidArgumentError(
        `BudgetGuard: charsPerToken must be a positive number; got ${String(o.charsPerToken)}`,
      );
    }
    if (o.unpriced !== "refuse" && o.unpriced !== "allow") {
      throw new InvalidArgumentError(`BudgetGuard: unpriced must be "refuse" or "allow"; got ${String(o.unpriced)}`);
    }
    if (o.unthreaded !== "refuse" && o.unthreaded !== "allow") {
      throw new InvalidArgumentError(
        `BudgetGuard: unthreaded must be "refuse" or "allow"; got ${String(o.unthreaded)}`,
      );
    }
    if (o.onWarn !== undefined && typeof o.onWarn !== "function") {
      throw new InvalidArgumentError("BudgetGuard: onWarn must be a function");
    }
    this.#tracker = o.tracker;
    this.#onWarn = o.onWarn;
    this.#opts = {
      warnAt: o.warnAt,
      defaultMaxTokens: o.defaultMaxTokens,
      charsPerToken: o.charsPerToken,
      unpriced: o.unpriced,
      unthreaded: o.unthreaded,
    };
    this.#limits = this.#validLimits(o.limits);
  }

  /** The limits in force. */
  get limits(): BudgetLimits {
    return structuredClone(this.#limits);
  }

  /**
   * Replaces the limits (e.g. to raise a budget before resuming a refused thread with `invoke(null, config)`).
   * Warnings can fire again for the new limits.
   *
   * @throws {InvalidArgumentError} on a negative or NaN limit or a tenant key the tracker does not record
   * @example
   * guard.setLimits({ thread: 5 }); await graph.invoke(null, config);
   */
  setLimits(limits: BudgetLimits): void {
    this.#limits = this.#validLimits(limits);
    this.#warned.clear();
  }

  /** USD currently held by this guard's in-flight calls for a thread or tenant. */
  reserved(query: { threadId: string } | { tenant: string }): number {
    return this.#held.get("threadId" in query ? `thread:${query.threadId}` : `tenant:${query.tenant}`) ?? 0;
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
    await quietly(() =>
      this.#admit(this.#tracker._start(llm, messages, runId, parentRunId, extraParams, metadata), parentRunId),
    );
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
    await quietly(() =>
      this.#admit(this.#tracker._start(llm, prompts, runId, parentRunId, extraParams, metadata), parentRunId),
    );
  }

  override async handleLLMEnd(output: LLMResult, runId: string, _p?: string, _t?: string[], extraParams?: Rec) {
    try {
      await this.#tracker._end(output, runId, extraParams);
    } finally {
      await this.#release(runId);
    }
  }

  override async handleLLMError(err: unknown, runId: string) {
    const r = this.#reservations.get(runId);
    try {
      // an aborted or broken-off call may have been billed: charge its reservation before letting it go
      if (r && wasCharged(err, r.ctx)) await this.#tracker._charge(r.ctx);
    } finally {
      await this.#release(runId);
    }
  }

  // A model stream abandoned with `break` reports neither end nor error: it is charged its reservation when the
  // run that made the call (a graph node, a chain) ends.
  override async handleChainEnd(_outputs: unknown, runId: string) {
    await this.#releaseChildren(runId);
  }

  override async handleChainError(_err: unknown, runId: string) {
    await this.#releaseChildren(runId);
  }

  async #releaseChildren(parentRunId: string): Promise<void> {
    for (const [callId, r] of this.#reservations) {
      if (r.parent !== parentRunId) continue;
      try {
        await this.#tracker._charge(r.ctx);
      } finally {
        await this.#release(callId);
      }
    }
  }

  #checks(ctx: CallContext): Check[] {
    const checks: Check[] = [];
    const { thread, tenant } = this.#limits;
    if (thread !== undefined && ctx.threadId !== undefined) {
      checks.push({ scope: "thread", key: ctx.threadId, limit: thread });
    } else if (thread !== undefined && this.#opts.unthreaded === "refuse") {
      throw new InvalidConfigError(
        'BudgetGuard: this model call names no thread in its callback metadata, so the thread budget cannot be checked. Inside a LangGraph node pass the node\'s config to the model; outside a graph LangChain does not show configurable.thread_id to callbacks, so pass metadata: { thread_id } as well (or unthreaded: "allow" to let calls without a thread through)',
      );
    } else if (thread !== undefined) {
      warnOnce(
        this.#notices,
        "unthreaded",
        "GRAPHKEEP_COST_UNTHREADED",
        'BudgetGuard: a model call without metadata.thread_id was let through unchecked by the thread limit (unthreaded: "allow")',
      );
    }
    if (tenant !== undefined) {
      if (ctx.tenant === undefined) {
        throw new InvalidConfigError(
          `BudgetGuard: this model call has no "${tenant.key}" in its metadata, so the tenant budget cannot be checked; pass it in the run config as metadata: { ${tenant.key}: "…" }`,
        );
      }
      checks.push({ scope: "tenant", key: ctx.tenant, limit: tenant.usd });
    }
    return checks;
  }

  async #admit(ctx: CallContext, parent: string | undefined): Promise<void> {
    const checks = this.#checks(ctx);
    if (checks.length === 0) return;
    // the prompt is billed once, each of the `n` completions up to max tokens
    const estimate = {
      inputTokens: Math.ceil(ctx.promptChars / this.#opts.charsPerToken),
      outputTokens: (ctx.maxTokens ?? this.#opts.defaultMaxTokens) * ctx.choices,
    };
    const price = this.#tracker.prices.cost(ctx.model, estimate, ctx.provider);
    if (!price.priced) {
      if (this.#opts.unpriced === "refuse") throw new UnpricedModelError(ctx.model);
      warnOnce(
        this.#notices,
        `unpriced:${ctx.model}`,
        "GRAPHKEEP_COST_UNPRICED_ALLOWED",
        `BudgetGuard: model "${ctx.model}" has no price; its calls pass unbounded (unpriced: "allow") and count as unpricedCalls`,
      );
      return;
    }
    const giveUpAt = Date.now() + STALE_MS;
    for (;;) {
      const verdict = await this.#mutex.run(() => this.#tryReserve(ctx, parent, checks, price.usd));
      if (verdict.ok) return;
      const wait = giveUpAt - Date.now();
      if (!verdict.next || wait <= 0) throw verdict.error;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([verdict.next, new Promise<void>((r) => (timer = setTimeout(r, wait)))]);
      clearTimeout(timer);
    }
  }

  /** Runs under the mutex: reads spend, and reserves `usd` in every scope or in none. */
  async #tryReserve(ctx: CallContext, parent: string | undefined, checks: Check[], usd: number): Promise<Verdict> {
    await this.#dropStale();
    const spent = await Promise.all(
      checks.map((c) => this.#tracker.totals(c.scope === "thread" ? { threadId: c.key } : { tenant: c.key })),
    );
    const warnings: BudgetWarning[] = [];
    for (const [i, c] of checks.entries()) {
      const s = spent[i]?.usd ?? 0;
      const held = this.#held.get(`${c.scope}:${c.key}`) ?? 0;
      if (s + held + usd > c.limit + EPSILON) {
        const error = new BudgetExceededError({ ...c, spent: s, reserved: held, requested: usd });
        return { ok: false, error, next: held > 0 ? this.#settled.wait() : undefined };
      }
      const projected = s + held + usd;
      if (c.limit > 0 && projected >= this.#opts.warnAt * c.limit) {
        warnings.push({ ...c, spent: s, reserved: held, requested: usd, ratio: projected / c.limit });
      }
    }
    const ids = checks.map((c) => `${c.scope}:${c.key}`);
    for (const id of ids) this.#held.set(id, (this.#held.get(id) ?? 0) + usd);
    ctx.reservation = { usd };
    this.#reservations.set(ctx.callId, { usd, ids, parent, at: Date.now(), ctx });
    for (const w of warnings) this.#warn(w);
    return { ok: true };
  }

  #release(callId: string): Promise<void> {
    return this.#mutex.run(() => {
      if (this.#unhold(callId)) this.#settled.fire();
    });
  }

  /** Removes a reservation and what it holds; runs under the mutex. */
  #unhold(callId: string): boolean {
    const r = this.#reservations.get(callId);
    if (!r) return false;
    this.#reservations.delete(callId);
    for (const id of r.ids) {
      const left = (this.#held.get(id) ?? 0) - r.usd;
      if (left > EPSILON) this.#held.set(id, left);
      else this.#held.delete(id);
    }
    return true;
  }

  /** Charges and drops reservations of calls that never reported an end; runs under the mutex. */
  async #dropStale(): Promise<void> {
    const cutoff = Date.now() - STALE_MS;
    let dropped = false;
    for (const [callId, r] of this.#reservations) {
      if (r.at >= cutoff) continue;
      await this.#tracker._charge(r.ctx);
      dropped = this.#unhold(callId) || dropped;
    }
    if (dropped) this.#settled.fire();
  }

  #warn(w: BudgetWarning): void {
    const key = `${w.scope}:${w.key}:${w.limit}`;
    if (this.#warned.has(key)) return;
    this.#warned.add(key);
    const onWarn = this.#onWarn;
    if (onWarn) safeHook(this.#warned, "onWarn", () => onWarn(w));
  }

  #validLimits(limits: BudgetLimits): BudgetLimits {
    if (typeof limits !== "object" || limits === null) {
      throw new InvalidArgumentError("BudgetGuard: limits must be an object { thread?, tenant? }");
    }
    const usd = (where: string, v: unknown): number => {
      if (typeof v !== "number" || !Number.isFinite(v) || v < 0) {
        throw new InvalidArgumentError(`BudgetGuard: ${where} must be a non-negative number of USD; got ${String(v)}`);
      }
      return v;
    };
    const out: BudgetLimits = {};
    if (limits.thread !== undefined) out.thread = usd("limits.thread", limits.thread);
    if (limits.tenant !== undefined) {
      const t = limits.tenant as Partial<{ key: unknown; usd: unknown }>;
      if (typeof t !== "object" || t === null || typeof t.key !== "string" || t.key === "") {
        throw new InvalidArgumentError("BudgetGuard: limits.tenant must be { key: string, usd: number }");
      }
      if (t.key !== this.#tracker.tenantKey) {
        throw new InvalidArgumentError(
          `BudgetGuard: limits.tenant.key "${t.key}" is not the tracker's tenantKey "${this.#tracker.tenantKey}"; the tracker only totals tenants under its tenantKey`,
        );
      }
      out.tenant = { key: t.key, usd: usd("limits.tenant.usd", t.usd) };
    }
    return out;
  }
}
