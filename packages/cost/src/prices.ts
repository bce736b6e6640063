import { InvalidArgumentError } from "@graphkeep/core";
import { calcPrice } from "@pydantic/genai-prices";
import type { TokenUsage } from "./types.js";

/** Token rates of a model in USD per 1 million tokens, as providers publish them. */
export interface TokenRates {
  /** Uncached input tokens. */
  input: number;
  /** Output tokens (reasoning included unless `reasoning` is set). */
  output: number;
  /**
   * Input tokens read from the prompt cache.
   * @default `input`
   */
  cacheRead?: number;
  /**
   * Input tokens written to the prompt cache.
   * @default `input`
   */
  cacheWrite?: number;
  /**
   * Reasoning tokens, for providers that bill them apart from output.
   * @default `output` (OpenAI, Anthropic and Google bill reasoning as output)
   */
  reasoning?: number;
}

/** A user price: rates, optionally other rates for requests above N input tokens (long-context tiers). */
export interface ModelPrice extends TokenRates {
  /** Rates for the whole request when its input tokens exceed `aboveInputTokens` (the highest matching tier wins). */
  tiers?: Array<{ aboveInputTokens: number } & TokenRates>;
}

/** Options of {@link PriceTable}. */
export interface PriceTableOptions {
  /**
   * Your prices by model id, USD per 1M tokens; they win over the dataset. A dated id (`my-model-2025-01-31`)
   * falls back to its undated key.
   * @default {}
   */
  overrides?: Record<string, ModelPrice>;
  /**
   * Use the bundled `@pydantic/genai-prices` dataset (offline: it is never updated from the network).
   * @default true
   */
  dataset?: boolean;
}

/** The result of {@link PriceTable.cost}. */
export interface PriceResult {
  /** USD of the usage (0 when not priced). */
  usd: number;
  /** False when the model is unknown. */
  priced: boolean;
  /** The family id the model matched (`gpt-4o` for `gpt-4o-2024-08-06`); the model itself when unknown. */
  family: string;
  /** Where the price came from. */
  source: "override" | "genai-prices" | "none";
}

/** The dataset bundled as the default source of prices (its version is the pinned dependency). */
export const DATASET = { name: "@pydantic/genai-prices", version: "0.1.8" } as const;

const PROVIDERS: Record<string, string> = {
  google_genai: "google",
  google_vertexai: "google",
  vertexai: "google",
  bedrock: "aws",
  mistralai: "mistral",
  azure_openai: "azure",
};

const DATE_SUFFIXES = [/-\d{4}-\d{2}-\d{2}$/, /-\d{8}$/, /@\d{8}$/, /-\d{4}$/, /-latest$/];

/**
 * Model prices: the bundled `@pydantic/genai-prices` dataset (tiers, cache read/write, dated ids matched to their
 * family) plus your overrides. Offline: no network is ever used.
 *
 * Cost = (input − cacheRead − cacheWrite)·input + cacheRead·cacheRead + cacheWrite·cacheWrite + output·output,
 * with reasoning inside output (priced at `reasoning` only when an override sets it).
 *
 * @throws {InvalidArgumentError} when an override has a negative, NaN or missing rate
 * @example
 * const table = new PriceTable({ overrides: { "my-finetune": { input: 3, output: 12 } } });
 * table.cost("gpt-4o-2024-08-06", { inputTokens: 1000, outputTokens: 100 }) // { usd: 0.0035, family: "gpt-4o", … }
 */
export class PriceTable {
  readonly #overrides: Map<string, ModelPrice>;
  readonly #dataset: boolean;

  constructor(options: PriceTableOptions = {}) {
    const overrides = options.overrides ?? {};
    if (typeof overrides !== "object" || overrides === null) {
      throw new InvalidArgumentError("PriceTable: overrides must be an object of model id → prices");
    }
    this.#overrides = new Map();
    for (const [model, price] of Object.entries(overrides)) {
      checkRates(`overrides["${model}"]`, price);
      for (const [i, tier] of (price.tiers ?? []).entries()) {
        checkRates(`overrides["${model}"].tiers[${i}]`, tier);
        if (!Number.isFinite(tier.aboveInputTokens) || tier.aboveInputTokens < 0) {
          throw new InvalidArgumentError(
            `PriceTable: overrides["${model}"].tiers[${i}].aboveInputTokens must be a non-negative number`,
          );
        }
      }
      this.#overrides.set(model, price);
    }
    this.#dataset = options.dataset ?? true;
  }

  /**
   * USD of one call's usage. `provider` (LangChain's `ls_provider`, e.g. `"openai"`) narrows dataset matching.
   *
   * @example
   * prices.cost("gpt-4o-mini", { inputTokens: 1000, outputTokens: 100, cacheReadTokens: 400 })
   */
  cost(model: string, usage: Partial<TokenUsage>, provider?: string): PriceResult {
    const u = normalize(usage);
    const override = this.#override(model);
    if (override) return { usd: costOf(override.price, u), priced: true, family: override.family, source: "override" };
    if (this.#dataset) {
      const hit = dataset(model, u, provider);
      if (hit) return { ...hit, priced: true, source: "genai-prices" };
    }
    return { usd: 0, priced: false, family: model, source: "none" };
  }

  /** True when the table has a price for `model`. */
  has(model: string, provider?: string): boolean {
    return this.cost(model, { inputTokens: 1, outputTokens: 1 }, provider).priced;
  }

  #override(model: string): { price: ModelPrice; family: string } | undefined {
    for (const { id } of unprefixed(model)) {
      const exact = this.#overrides.get(id);
      if (exact) return { price: exact, family: id };
      for (const re of DATE_SUFFIXES) {
        const family = id.replace(re, "");
        const p = family !== id ? this.#overrides.get(family) : undefined;
        if (p) return { price: p, family };
      }
    }
    return undefined;
  }
}

/**
 * The model id, then the id without each provider prefix in turn (`openrouter/openai/gpt-4o-mini` →
 * `openai/gpt-4o-mini` → `gpt-4o-mini`; `openai:gpt-4o-mini` → `gpt-4o-mini`), as LiteLLM, OpenRouter and
 * `initChatModel` write them, each with the prefix just removed as a provider hint.
 */
function unprefixed(model: string): Array<{ id: string; prefix: string | undefined }> {
  const out: Array<{ id: string; prefix: string | undefined }> = [{ id: model, prefix: undefined }];
  let id = model;
  for (let i = 0; i < 4; i++) {
    const m = /^([^/]+)\/(.+)$/.exec(id) ?? /^([a-z][a-z0-9_-]*):([^:].*)$/i.exec(id);
    if (!m?.[1] || !m[2]) break;
    id = m[2];
    out.push({ id, prefix: m[1].toLowerCase() });
  }
  return out;
}

function dataset(model: string, u: TokenUsage, provider?: string): { usd: number; family: string } | undefined {
  const usage = {
    input_tokens: u.inputTokens,
    output_tokens: u.outputTokens,
    cache_read_tokens: u.cacheReadTokens,
    cache_write_tokens: u.cacheWriteTokens,
  };
  const providerOf = (p: string | undefined) => (p === undefined ? undefined : (PROVIDERS[p] ?? p));
  for (const [i, { id, prefix }] of unprefixed(model).entries()) {
    // the prefix names the provider when there is one (`anthropic/claude-…`), else LangChain's `ls_provider`
    const hints = [...new Set([providerOf(prefix), providerOf(provider)])].filter((p) => p !== undefined);
    for (const providerId of [...hints, undefined]) {
      try {
        const r = calcPrice(usage, id, providerId === undefined ? {} : { providerId });
        // a prefixed id is grouped under the bare family (`openrouter/openai/gpt-4o-mini` under `gpt-4o-mini`)
        if (r) return { usd: r.total_price, family: i > 0 ? (r.model.id.split("/").pop() ?? id) : r.model.id };
      } catch {
        // an unknown provider id: try the next hint
      }
    }
  }
  return undefined;
}

function normalize(u: Partial<TokenUsage>): TokenUsage {
  const n = (v: number | undefined) => (typeof v === "number" && Number.isFinite(v) && v > 0 ? v : 0);
  const inputTokens = n(u.inputTokens);
  const outputTokens = n(u.outputTokens);
  const cacheReadTokens = Math.min(n(u.cacheReadTokens), inputTokens);
  return {
    inputTokens,
    outputTokens,
    cacheReadTokens,
    cacheWriteTokens: Math.min(n(u.cacheWriteTokens), inputTokens - cacheReadTokens),
    reasoningTokens: Math.min(n(u.reasoningTokens), outputTokens),
  };
}

function costOf(price: ModelPrice, u: TokenUsage): number {
  let r: TokenRates = price;
  for (const tier of price.tiers ?? []) {
    if (
      u.inputTokens > tier.aboveInputTokens &&
      (r === price || tier.aboveInputTokens >= (r as typeof tier).aboveInputTokens)
    ) {
      r = tier;
    }
  }
  const reasoning = r.reasoning ?? r.output;
  const uncached = u.inputTokens - u.cacheReadTokens - u.cacheWriteTokens;
  return (
    (uncached * r.input +
      u.cacheReadTokens * (r.cacheRead ?? r.input) +
      u.cacheWriteTokens * (r.cacheWrite ?? r.input) +
      (u.outputTokens - u.reasoningTokens) * r.output +
      u.reasoningTokens * reasoning) /
    1_000_000
  );
}

function checkRates(where: string, p: unknown): void {
  if (typeof p !== "object" || p === null) throw new InvalidArgumentError(`PriceTable: ${where} must be an object`);
  const rates = p as Record<string, unknown>;
  for (const k of ["input", "output", "cacheRead", "cacheWrite", "reasoning"]) {
    const v = rates[k];
    if (v === undefined && k !== "input" && k !== "output") continue;
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0) {
      throw new InvalidArgumentError(
        `PriceTable: ${where}.${k} must be a non-negative number of USD per 1M tokens; got ${String(v)}`,
      );
    }
  }
}

/**
 * The shared default price table: the bundled `@pydantic/genai-prices` dataset, no overrides.
 *
 * @example
 * prices.cost("claude-sonnet-4-20250514", { inputTokens: 2000, outputTokens: 300 }, "anthropic").usd
 */
export const prices: PriceTable = new PriceTable();
