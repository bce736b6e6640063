import { InvalidArgumentError } from "./errors.js";

/** A length of time: milliseconds, or a string of a number and a unit (`"500ms"`, `"30s"`, `"15m"`, `"12h"`, `"7d"`, `"2w"`). */
export type Duration = number | string;

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/**
 * Milliseconds of a {@link Duration}: a positive finite number as is, or a number with a unit (case-insensitive).
 * The one rule every graphkeep option that takes a duration follows (`ttl`, `maxAge`, `every`…).
 *
 * @param what names the option in the error, e.g. `"KeyvSaver: ttl"`.
 * @throws {InvalidArgumentError} for anything else (zero, negative, NaN, an unknown unit).
 * @example
 * parseDuration("12h") // 43_200_000
 */
export function parseDuration(value: Duration, what = "duration"): number {
  if (typeof value === "number") {
    if (Number.isFinite(value) && value > 0) return value;
  } else if (typeof value === "string") {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$/i.exec(value);
    const unit = m?.[2] === undefined ? undefined : UNITS[m[2].toLowerCase()];
    if (m?.[1] !== undefined && unit !== undefined && Number(m[1]) > 0) return Number(m[1]) * unit;
  }
  throw new InvalidArgumentError(
    `${what} must be a positive number of milliseconds or a duration like "30s", "15m", "12h", "7d"; got ${JSON.stringify(value)}`,
  );
}

/**
 * Emits a process warning once per `key` in `seen` (a set the caller owns: per instance, or per module).
 *
 * @example
 * warnOnce(this.#warned, "eviction", "GRAPHKEEP_REDIS_EVICTION", "Redis may evict checkpoint keys");
 */
export function warnOnce(seen: Set<string>, key: string, code: string, message: string): void {
  if (seen.has(key)) return;
  seen.add(key);
  process.emitWarning(message, { code });
}
