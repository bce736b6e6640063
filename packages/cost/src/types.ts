import type Keyv from "keyv";
import type { PriceTable } from "./prices.js";

/** Token and money counters of one aggregate (a scope, or one model or node inside it). */
export interface CostCounters {
  /** USD spent: priced calls, plus the reservation charged to calls that reported no usage (see `estimatedUsd`); cache hits cost 0. */
  usd: number;
  /** Input (prompt) tokens, cache reads and writes included. */
  inputTokens: number;
  /** Output (completion) tokens, reasoning included. */
  outputTokens: number;
  /** Input tokens read from the provider's prompt cache. */
  cacheReadTokens: number;
  /** Input tokens written to the provider's prompt cache. */
  cacheWriteTokens: number;
  /** Output tokens spent on reasoning (already inside `outputTokens`). */
  reasoningTokens: number;
  /** Model calls that ended (priced or not, cache hits included). */
  calls: number;
  /** Calls whose cost is unknown and not in `usd`: unknown model, or no usage and no `BudgetGuard` reservation. */
  unpricedCalls: number;
  /**
   * Calls that reported no usage (`streamUsage: false`, an aborted request, a stream broken off) and were charged
   * their `BudgetGuard` reservation instead, so the limit still applies. Their charge is in `usd` and `estimatedUsd`.
   */
  unreportedCalls: number;
  /** The part of `usd` that is reservations charged to `unreportedCalls` (an upper bound, not a measured cost). */
  estimatedUsd: number;
  /** Calls answered from a cache (`@graphkeep/llm-cache` or LangChain's `cache`). */
  cachedCalls: number;
  /** USD a cache hit avoided (what the cached answer cost when it was first made). */
  savedUsd: number;
}

/** What {@link CostTracker.totals} returns: the counters of a scope, and the same counters per model and per node. */
export interface CostTotals extends CostCounters {
  /** Counters per model family (`gpt-4o-2024-08-06` is counted under `gpt-4o` when the price table knows it). */
  byModel: Record<string, CostCounters>;
  /** Counters per LangGraph node (`metadata.langgraph_node`); calls outside a graph under `""`. */
  byNode: Record<string, CostCounters>;
}

/** The scope {@link CostTracker.totals} sums over: exactly one of the three. */
export type TotalsQuery = { threadId: string } | { runId: string } | { tenant: string };

/** Token usage of one call, normalized from LangChain's `usage_metadata` (or `llmOutput.tokenUsage`). */
export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  reasoningTokens: number;
}

/** What {@link CostTrackerOptions.onCost} receives after each model call. */
export interface CostRecord extends TokenUsage {
  /** Run id of the model call. */
  callId: string;
  /** Run id of the outermost run (the `graph.invoke`), `config.runId` when you set it. */
  runId: string;
  threadId: string | undefined;
  tenant: string | undefined;
  /** `metadata.langgraph_node`, `""` outside a graph. */
  node: string;
  /** `metadata.langgraph_step`, the superstep of the call; undefined outside a graph. */
  step?: number | undefined;
  /** The model id the response (or the call) reported. */
  model: string;
  /** The price table's family id for `model`, or `model` itself when unpriced. */
  family: string;
  /** False when the cost was not computed from reported usage (unknown model, no usage, an aborted call). */
  priced: boolean;
  /**
   * True when the call reported no usage (or aborted, or its stream was broken off) and was charged its
   * `BudgetGuard` reservation: `usd` is that reservation and the token counts are 0 (unknown).
   */
  estimated: boolean;
  /** USD of the call: 0 when unpriced, the reservation when `estimated`. */
  usd: number;
  /** True for a cache hit: `usd` is 0 and `savedUsd` what the hit avoided. */
  cached: boolean;
  savedUsd: number;
}

/** Options of {@link CostTracker}. */
export interface CostTrackerOptions {
  /** Where totals are kept: any Keyv (memory, SQLite, Redis, PostgreSQL, MySQL…). With `@keyv/redis` increments are atomic Redis hash operations. */
  store: Keyv;
  /**
   * Prices used to turn tokens into USD.
   * @default the shared `prices` table (bundled `@pydantic/genai-prices` data, no network)
   */
  prices?: PriceTable;
  /**
   * Key prefix of everything the tracker stores.
   * @default "cost"
   */
  namespace?: string;
  /**
   * The run metadata key that names the tenant: pass it as `config.metadata[tenantKey]` (LangGraph does not copy
   * custom `configurable` keys into callback metadata).
   * @default "tenant_id"
   */
  tenantKey?: string;
  /**
   * Id of this writer in the store (non-Redis stores keep one counter record per writer per scope). Give a stable id
   * (e.g. the host name) to reuse the same records after a restart.
   * @default a random UUID per tracker
   */
  writerId?: string;
  /** Called after each model call with its cost. A hook that throws is ignored (warned once). */
  onCost?: (record: CostRecord) => void | Promise<void>;
  /**
   * Milliseconds a store call may take: `totals()` then fails with `StoreUnavailableError` (and the budget guard
   * refuses the call it was checking), a cost write is dropped with a warning.
   * @default 5000
   */
  operationTimeoutMs?: number;
}
