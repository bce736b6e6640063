import { InvalidArgumentError } from "@graphkeep/core";

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Milliseconds of a duration: a number of ms, or `"<n><unit>"` with unit `ms`, `s`, `m`, `h` or `d`.
 *
 * @throws {InvalidArgumentError} for anything else, or a negative or non-finite amount.
 * @example
 * parseDuration("30s") // 30000
 */
export function parseDuration(value: number | string, what = "duration"): number {
  if (typeof value === "number") {
    if (Number.isFinite(value) && value >= 0) return value;
  } else if (typeof value === "string") {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/.exec(value);
    if (m) return Number(m[1]) * (UNITS[m[2] as string] as number);
  }
  throw new InvalidArgumentError(
    `${what} must be a number of milliseconds >= 0 or a string like "500ms", "30s", "5m", "1h", "30d"; got ${JSON.stringify(value)}`,
  );
}
