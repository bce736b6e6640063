import { parseDuration } from "@graphkeep/core";
import type { Duration } from "./types.js";

/**
 * Turns a {@link Duration} into milliseconds (core's `parseDuration`, the rule every graphkeep option follows).
 *
 * @throws {InvalidArgumentError} when the value is not a positive number or a string like `"1d"`.
 * @example
 * toMilliseconds("12h") // 43_200_000
 */
export function toMilliseconds(value: Duration, what = "ttl"): number {
  return parseDuration(value, `llm-cache: ${what}`);
}
