export {
  BudgetExceededError,
  type BudgetScope,
  type CostErrorCode,
  isBudgetExceededError,
  isUnpricedModelError,
  UnpricedModelError,
} from "./errors.js";
export { BudgetGuard } from "./guard.js";
export type { BudgetGuardOptions, BudgetLimits, BudgetWarning } from "./guard-types.js";
export type { Atomicity } from "./ledger.js";
export {
  type CheckpointCost,
  type CostAmount,
  checkpointCost,
  type StepCost,
  withCostMetadata,
} from "./metadata.js";
export {
  DATASET,
  type ModelPrice,
  type PriceResult,
  PriceTable,
  type PriceTableOptions,
  prices,
  type TokenRates,
} from "./prices.js";
export { CostTracker } from "./tracker.js";
export type {
  CostCounters,
  CostRecord,
  CostTotals,
  CostTrackerOptions,
  TokenUsage,
  TotalsQuery,
} from "./types.js";
