import { GraphkeepError } from "@graphkeep/core";

/**
 * A compressed value inflates to more than the `maxInflatedBytes` of its `compressed()` serde: a decompression bomb
 * (or a value larger than the limit allows). Decompression stopped at the limit; nothing of the value was returned.
 *
 * @example
 * try { await saver.getTuple(config) } catch (e) { if (isDecompressionLimitError(e.cause ?? e)) alertSecurity(e) }
 */
export class DecompressionLimitError extends GraphkeepError {
  /** The limit in bytes that was exceeded. */
  readonly limit: number;
  /** The stored type tag of the value, e.g. `"json+br"`. */
  readonly type: string;

  constructor(type: string, limit: number, options?: { cause?: unknown }) {
    super(
      "DECOMPRESSION_LIMIT",
      `compressed: a stored value of type "${type}" inflates to more than maxInflatedBytes (${limit} bytes); decompression was stopped. It is a decompression bomb written into the store, or a value larger than the limit: raise compressed({ maxInflatedBytes }) only if you wrote values that large`,
      options,
    );
    this.name = "DecompressionLimitError";
    this.limit = limit;
    this.type = type;
  }
}

/** True when `e` reports a compressed value that inflates beyond `maxInflatedBytes`. */
export function isDecompressionLimitError(e: unknown): e is DecompressionLimitError {
  return e instanceof GraphkeepError && e.code === "DECOMPRESSION_LIMIT";
}
