import type { BudgetScope } from "./errors.js";
import type { CostTracker } from "./tracker.js";

/** Spending limits in USD, over everything the tracker has recorded for the scope. */
export interface BudgetLimits {
  /**
   * Limit per thread: `metadata.thread_id` of the call, which LangGraph copies from `configurable.thread_id` inside a
   * graph. A call without it is refused (`InvalidConfigError`) unless `unthreaded: "allow"`.
   */
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
  /** USD already spent in the scope (settled calls, as stored). */
  spent: number;
  /** USD held by other calls of this process still in flight in the scope. */
  reserved: number;
  /** This call's maximum cost in USD, now reserved. */
  requested: number;
  /** `(spent + reserved + requested) / limit`. */
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
  /**
   * What to do, when a thread limit is set, with a call whose callback metadata names no `thread_id` (a call made
   * outside a graph: LangChain does not show `configurable` to callbacks): `"refuse"` throws `InvalidConfigError`,
   * `"allow"` lets it through unchecked by the thread limit (warned once, `GRAPHKEEP_COST_UNTHREADED`).
   * @default "refuse"
   */
  unthreaded?: "refuse" | "allow";
}
