/**
 * Threads seen by instrumented savers in this process, with the time of their last saver call. Backs the
 * `graphkeep.threads.active` gauge: the threads with a saver call in the last `windowMs`.
 */
class ThreadActivity {
  readonly #lastSeen = new Map<string, number>();
  #windowMs = 300_000;

  /** The longest window asked for by any instrumented saver wins. */
  widen(windowMs: number): void {
    if (windowMs > this.#windowMs) this.#windowMs = windowMs;
  }

  touch(threadId: string, now = Date.now()): void {
    // re-inserted so the map stays ordered by last use; expired threads are dropped from the front
    this.#lastSeen.delete(threadId);
    this.#lastSeen.set(threadId, now);
    this.#prune(now);
  }

  forget(threadId: string): void {
    this.#lastSeen.delete(threadId);
  }

  active(now = Date.now()): number {
    this.#prune(now);
    return this.#lastSeen.size;
  }

  #prune(now: number): void {
    const oldest = now - this.#windowMs;
    for (const [threadId, at] of this.#lastSeen) {
      if (at >= oldest && this.#lastSeen.size <= 1_000_000) break;
      this.#lastSeen.delete(threadId);
    }
  }
}

/** Shared by every instrumented saver of the process: one gauge value, no double counting. */
export const threadActivity = new ThreadActivity();
