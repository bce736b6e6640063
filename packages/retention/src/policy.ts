import { parseDuration as coreParseDuration, InvalidArgumentError } from "@graphkeep/core";

/** What a retention policy keeps. */
export interface RetentionPolicyOptions {
  /**
   * Keep the newest N checkpoints of each thread and checkpoint namespace; older ones may go.
   * @default undefined (no count limit)
   */
  keepLatest?: number | undefined;
  /**
   * Checkpoints older than this may go: milliseconds, or a duration such as `"90s"`, `"15m"`, `"12h"`, `"7d"`.
   * @default undefined (no age limit)
   */
  maxAge?: number | string | undefined;
  /**
   * Keep forever the last checkpoint of every branch (a finished run, or an abandoned fork's end).
   * @default false
   */
  keepFinal?: boolean | undefined;
  /**
   * Keep checkpoints paused on `interrupt()` (with a pending `__interrupt__` write), so they can be resumed.
   * @default true
   */
  keepInterrupted?: boolean | undefined;
  /**
   * Keep fork points: checkpoints with two or more children that a kept checkpoint descends from.
   * @default true
   */
  keepForkPoints?: boolean | undefined;
}

/** A validated retention policy (`maxAge` in milliseconds). */
export interface RetentionPolicy {
  readonly keepLatest: number | undefined;
  readonly maxAgeMs: number | undefined;
  readonly keepFinal: boolean;
  readonly keepInterrupted: boolean;
  readonly keepForkPoints: boolean;
}

const DEFAULTS = { keepFinal: false, keepInterrupted: true, keepForkPoints: true } as const;

/**
 * Milliseconds of a duration (core's `parseDuration`: a positive number of ms or `"7d"`, `"12h"`, `"15m"`…).
 * @throws {InvalidArgumentError} for anything else.
 */
export function parseDuration(value: number | string): number {
  return coreParseDuration(value, "retention: maxAge");
}

/**
 * Builds a retention policy. Rules that may delete: `keepLatest`, `maxAge` (a checkpoint goes when either says
 * so). Rules that protect: the newest checkpoint of every namespace (always), `keepInterrupted`,
 * `keepForkPoints`, `keepFinal`.
 * @throws {InvalidArgumentError} for a negative or fractional `keepLatest` or an unreadable `maxAge`.
 * @example
 * const policy = retentionPolicy({ keepLatest: 10, maxAge: "7d", keepFinal: true });
 */
export function retentionPolicy(options: RetentionPolicyOptions = {}): RetentionPolicy {
  const o = { ...DEFAULTS, ...options };
  if (o.keepLatest !== undefined && !(Number.isInteger(o.keepLatest) && o.keepLatest >= 1)) {
    throw new InvalidArgumentError(`retention: keepLatest must be an integer >= 1, got ${String(o.keepLatest)}`);
  }
  return Object.freeze({
    keepLatest: o.keepLatest,
    maxAgeMs: o.maxAge === undefined ? undefined : parseDuration(o.maxAge),
    keepFinal: o.keepFinal === true,
    keepInterrupted: o.keepInterrupted !== false,
    keepForkPoints: o.keepForkPoints !== false,
  });
}
