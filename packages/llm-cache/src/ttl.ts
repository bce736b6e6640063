import { InvalidArgumentError } from "@graphkeep/core";
import type { Duration } from "./types.js";

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/**
 * Turns a {@link Duration} into milliseconds.
 *
 * @throws {InvalidArgumentError} when the value is not a positive number or a string like `"1d"`.
 * @example
 * toMilliseconds("12h") // 43_200_000
 */
export function toMilliseconds(value: Duration, what = "ttl"): number {
  if (typeof value === "number") {
    if (Number.isFinite(value) && value > 0) return value;
  } else {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$/i.exec(value);
    const unit = m?.[2] === undefined ? undefined : UNITS[m[2].toLowerCase()];
    if (m?.[1] !== undefined && unit !== undefined && Number(m[1]) > 0) return Number(m[1]) * unit;
  }
  throw new InvalidArgumentError(
    `llm-cache: ${what} must be a positive number of milliseconds or a string like "30s", "15m", "12h", "1d"; got ${JSON.stringify(value)}`,
  );
}
