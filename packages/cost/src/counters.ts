import type { CostCounters, CostRecord, CostTotals } from "./types.js";

/** A scope's counters as one flat map: `usd`, …, `m|<model>|usd`, `n|<node>|calls`… (a Redis hash as is). */
export type Flat = Record<string, number>;

export const FIELDS = [
  "usd",
  "inputTokens",
  "outputTokens",
  "cacheReadTokens",
  "cacheWriteTokens",
  "reasoningTokens",
  "calls",
  "unpricedCalls",
  "unreportedCalls",
  "estimatedUsd",
  "cachedCalls",
  "savedUsd",
] as const satisfies ReadonlyArray<keyof CostCounters>;

const zero = (): CostCounters => Object.fromEntries(FIELDS.map((f) => [f, 0])) as unknown as CostCounters;

/** The increments one call adds to every scope it belongs to. */
export function deltaOf(r: CostRecord): Flat {
  const c: CostCounters = {
    usd: r.usd,
    inputTokens: r.inputTokens,
    outputTokens: r.outputTokens,
    cacheReadTokens: r.cacheReadTokens,
    cacheWriteTokens: r.cacheWriteTokens,
    reasoningTokens: r.reasoningTokens,
    calls: 1,
    unpricedCalls: r.priced || r.estimated ? 0 : 1,
    unreportedCalls: r.estimated ? 1 : 0,
    estimatedUsd: r.estimated ? r.usd : 0,
    cachedCalls: r.cached ? 1 : 0,
    savedUsd: r.savedUsd,
  };
  const flat: Flat = {};
  for (const f of FIELDS) {
    if (c[f] === 0) continue;
    flat[f] = c[f];
    flat[`m|${r.family}|${f}`] = c[f];
    flat[`n|${r.node}|${f}`] = c[f];
  }
  return flat;
}

/** Adds `b` into `a` (in place) and returns `a`. */
export function addFlat(a: Flat, b: Flat): Flat {
  for (const [k, v] of Object.entries(b)) if (Number.isFinite(v)) a[k] = (a[k] ?? 0) + v;
  return a;
}

/** Turns a flat map back into totals with `byModel` and `byNode`. */
export function toTotals(flat: Flat): CostTotals {
  const totals: CostTotals = { ...zero(), byModel: {}, byNode: {} };
  for (const [k, v] of Object.entries(flat)) {
    const value = Number(v);
    if (!Number.isFinite(value)) continue;
    const first = k.indexOf("|");
    if (first === -1) {
      if ((FIELDS as readonly string[]).includes(k)) totals[k as keyof CostCounters] = value;
      continue;
    }
    const last = k.lastIndexOf("|");
    const field = k.slice(last + 1) as keyof CostCounters;
    if (!(FIELDS as readonly string[]).includes(field) || last === first) continue;
    const group = k.startsWith("m|") ? totals.byModel : k.startsWith("n|") ? totals.byNode : undefined;
    if (!group) continue;
    const name = k.slice(first + 1, last);
    group[name] ??= zero();
    group[name][field] = value;
  }
  return totals;
}
