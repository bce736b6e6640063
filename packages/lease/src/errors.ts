import { GraphkeepError } from "@graphkeep/core";

/** Codes of the errors this package adds to `GraphkeepErrorCode`. */
export type LeaseErrorCode = "THREAD_BUSY" | "LEASE_LOST";

/**
 * Another run holds the lease of this thread (and `onBusy: "wait"` did not get it within `waitMs`).
 *
 * @example
 * try { await guarded.invoke(input, config) } catch (e) { if (isThreadBusyError(e)) return reply409(e.holder, e.expiresAt) }
 */
export class ThreadBusyError extends GraphkeepError {
  /** The thread asked for. */
  readonly threadId: string;
  /** Owner id of the current holder (`undefined` when the holder released between the two reads). */
  readonly holder: string | undefined;
  /** When the holder's lease expires unless it heartbeats. */
  readonly expiresAt: Date | undefined;

  constructor(threadId: string, holder: string | undefined, expiresAt: Date | undefined) {
    super(
      "THREAD_BUSY" satisfies LeaseErrorCode,
      `lease: thread "${threadId}" is busy: another run (${holder ?? "unknown owner"}) holds its lease${
        expiresAt ? ` until ${expiresAt.toISOString()}` : ""
      }; retry later or pass { onBusy: "wait", waitMs }`,
    );
    this.name = "ThreadBusyError";
    this.threadId = threadId;
    this.holder = holder;
    this.expiresAt = expiresAt;
  }
}

/**
 * This run no longer holds the lease of its thread: it stalled past the TTL (or its heartbeats failed) and the
 * lease expired or another worker took it over. The run is aborted and its writes are refused.
 *
 * @example
 * try { await guarded.invoke(input, config) } catch (e) { if (isLeaseLostError(e)) log.warn("taken over", e.threadId) }
 */
export class LeaseLostError extends GraphkeepError {
  /** The thread whose lease was lost. */
  readonly threadId: string;
  /** The fencing token this run held. */
  readonly token: number;
  /** The token now current for the thread, when known (`undefined` when the lease simply expired). */
  readonly currentToken: number | undefined;

  constructor(threadId: string, token: number, currentToken: number | undefined, detail?: string) {
    super(
      "LEASE_LOST" satisfies LeaseErrorCode,
      `lease: the run on thread "${threadId}" lost its lease (token ${token}${
        currentToken !== undefined ? `, current token ${currentToken}` : ""
      })${detail ? `: ${detail}` : ""}; its writes are refused — another worker resumes the thread`,
    );
    this.name = "LeaseLostError";
    this.threadId = threadId;
    this.token = token;
    this.currentToken = currentToken;
  }
}

/** True when `e` is a {@link ThreadBusyError}. */
export function isThreadBusyError(e: unknown): e is ThreadBusyError {
  return e instanceof GraphkeepError && e.code === "THREAD_BUSY";
}

/** True when `e` is a {@link LeaseLostError}. */
export function isLeaseLostError(e: unknown): e is LeaseLostError {
  return e instanceof GraphkeepError && e.code === "LEASE_LOST";
}
