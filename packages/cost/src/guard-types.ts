import type { BudgetScope } from "./errors.js";
import type { CostTracker } from "./tracker.js";

/** Spending limits in USD, over everything the tracker has recorded for the scope. */
export interface BudgetLimits {
  /** Limit per thread (`configurable.thread_id`). Calls outside a thread are not checked against it. */
  thread?: number;
  /** Limit per tenant: `key` must be the tracker's `tenantKey`; a call without that metadata is refused. */
  tenant?: { key: string; usd: number };
}

/** What {@link BudgetGuardOptions.onWarn} receives when a scope passes `warnAt` of its limit. */
export interface BudgetWarning {
  scope: BudgetScope;
  /** Thread id or tenant value. */
  key: string;
  limit: number;
  /** USD spent plus held by in-flight calls, this call's maximum included. */
  spent: number;
  /** `spent / limit`. */
  ratio: number;
}

/** Options of {@link BudgetGuard}. */
export interface BudgetGuardOptions {
  /** The tracker whose totals are the spend (the guard records through it, so pass both as callbacks). */
  tracker: CostTracker;
  /** The limits; change them later with `setLimits`. */
  limits: BudgetLimits;
  /**
   * Fraction of a limit at which `onWarn` is called (once per scope and limit).
   * @default 0.8
   */
  warnAt?: number;
  /** Called when a scope passes `warnAt`. A hook that throws is ignored (warned once). */
  onWarn?: (warning: BudgetWarning) => void | Promise<void>;
  /**
   * Output tokens assumed for a call whose invocation params set no `max_tokens` / `max_completion_tokens`.
   * @default 4096
   */
  defaultMaxTokens?: number;
  /**
   * Characters per input token for the input estimate (text parts of the prompt; images and tools not counted).
   * @default 4
   */
  charsPerToken?: number;
  /**
   * What to do with a model the price table does not know: `"refuse"` throws `UnpricedModelError`, `"allow"` lets
   * the call through unbounded.
   * @default "refuse"
   */
  unpriced?: "refuse" | "allow";
}
