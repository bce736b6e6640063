import { GraphkeepError } from "@graphkeep/core";

/** Codes of the errors this package adds to `GraphkeepErrorCode`. */
export type KeyvSaverErrorCode = "WRITE_CONFLICT";

/**
 * A checkpoint could not be written because the thread's index kept changing under the saver (another process
 * writing the same thread). Nothing half-written is visible; retry, or give each thread one writer
 * (`@graphkeep/lease`).
 */
export class WriteConflictError extends GraphkeepError {
  readonly threadId: string;
  constructor(threadId: string, message: string) {
    super("WRITE_CONFLICT" satisfies KeyvSaverErrorCode, message);
    this.name = "WriteConflictError";
    this.threadId = threadId;
  }
}

/** True when `e` is a {@link WriteConflictError}. */
export function isWriteConflictError(e: unknown): e is WriteConflictError {
  return e instanceof GraphkeepError && e.code === "WRITE_CONFLICT";
}
