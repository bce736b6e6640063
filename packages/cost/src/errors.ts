import { GraphkeepError } from "@graphkeep/core";

/** Codes of the errors this package adds to `GraphkeepErrorCode`. */
export type CostErrorCode = "BUDGET_EXCEEDED" | "UNPRICED_MODEL";

/** Which limit refused a call: the thread's or the tenant's. */
export type BudgetScope = "thread" | "tenant";

/**
 * A model call was refused before any request was sent: the scope's spend, plus what in-flight calls hold, plus
 * this call's maximum cost would pass the limit. The graph stops with its last checkpoint intact; raise the limit
 * (`guard.setLimits`) and `invoke(null, config)` on the same thread resumes from the refused node.
 *
 * @example
 * try { await graph.invoke(input, config) } catch (e) { if (isBudgetExceededError(e)) notify(e.scope, e.spent, e.limit) }
 */
export class BudgetExceededError extends GraphkeepError {
  /** The limit that refused the call. */
  readonly scope: BudgetScope;
  /** The thread id or tenant value the limit applies to. */
  readonly key: string;
  /** The limit in USD. */
  readonly limit: number;
  /** USD already spent in the scope (settled calls, as stored). */
  readonly spent: number;
  /** USD held by calls of this process still in flight in the scope. */
  readonly reserved: number;
  /** The refused call's maximum cost in USD (estimated input + max output tokens). */
  readonly requested: number;

  constructor(d: {
    scope: BudgetScope;
    key: string;
    limit: number;
    spent: number;
    reserved: number;
    requested: number;
  }) {
    super(
      "BUDGET_EXCEEDED" satisfies CostErrorCode,
      `BudgetGuard: the ${d.scope} budget of "${d.key}" is exhausted: spent $${fmt(d.spent)} + in flight $${fmt(
        d.reserved,
      )} + this call up to $${fmt(d.requested)} > limit $${fmt(d.limit)}; no request was sent. Raise the limit with guard.setLimits() and invoke(null, config) to resume`,
    );
    this.name = "BudgetExceededError";
    this.scope = d.scope;
    this.key = d.key;
    this.limit = d.limit;
    this.spent = d.spent;
    this.reserved = d.reserved;
    this.requested = d.requested;
  }
}

/**
 * `BudgetGuard` met a model it has no price for (with `unpriced: "refuse"`, the default), so it cannot bound the
 * call's cost. Add the model to the `PriceTable` overrides, or pass `unpriced: "allow"`.
 *
 * @example
 * new PriceTable({ overrides: { "my-model": { input: 1, output: 2 } } })
 */
export class UnpricedModelError extends GraphkeepError {
  /** The model id as the call reported it. */
  readonly model: string;

  constructor(model: string) {
    super(
      "UNPRICED_MODEL" satisfies CostErrorCode,
      `BudgetGuard: no price is known for model "${model}", so its cost cannot be bounded; add it to PriceTable overrides or pass unpriced: "allow"`,
    );
    this.name = "UnpricedModelError";
    this.model = model;
  }
}

/** True when `e` is a {@link BudgetExceededError}. */
export function isBudgetExceededError(e: unknown): e is BudgetExceededError {
  return e instanceof GraphkeepError && e.code === "BUDGET_EXCEEDED";
}

/** True when `e` is an {@link UnpricedModelError}. */
export function isUnpricedModelError(e: unknown): e is UnpricedModelError {
  return e instanceof GraphkeepError && e.code === "UNPRICED_MODEL";
}

function fmt(usd: number): string {
  return Number(usd.toFixed(6)).toString();
}
