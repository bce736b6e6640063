import { GraphkeepError } from "@graphkeep/core";

/**
 * A studio request was refused: a missing or wrong token, a change from another origin, a host name the studio does
 * not serve, or an action in read-only mode. Answered with 403; nothing is read or changed.
 *
 * @example
 * if (e instanceof StudioAccessError) console.error(e.message)
 */
export class StudioAccessError extends GraphkeepError {
  constructor(message: string) {
    super("ACCESS_DENIED", message);
    this.name = "StudioAccessError";
  }
}

/** True when `e` is a {@link StudioAccessError} (also across copies of this package). */
export function isStudioAccessError(e: unknown): e is StudioAccessError {
  return e instanceof GraphkeepError && e.code === "ACCESS_DENIED";
}
