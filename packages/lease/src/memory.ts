import { type AcquireResult, Lease, type LeaseBackend, resolveOptions } from "./lease.js";
import type { LeaseInfo, LeaseOptions, LeaseStore, ReleaseOutcome } from "./types.js";

interface Row {
  owner: string;
  token: number;
  state: LeaseInfo["state"];
  expires: number;
  attempts: number;
}

class MemoryBackend implements LeaseBackend {
  readonly kind = "memory";
  readonly #rows = new Map<string, Row>();

  async acquire(threadId: string, owner: string, ttlMs: number, mode: "run" | "takeover"): Promise<AcquireResult> {
    const now = Date.now();
    const row = this.#rows.get(threadId);
    const free = row === undefined || row.state !== "running" || row.expires <= now;
    if (mode === "takeover" ? !(row?.state === "running" && row.expires <= now) : !free) {
      return { ok: false, holder: row ? { owner: row.owner, expiresAt: new Date(row.expires) } : undefined };
    }
    const next: Row = {
      owner,
      token: (row?.token ?? 0) + 1,
      state: "running",
      expires: now + ttlMs,
      attempts: mode === "takeover" ? (row?.attempts ?? 0) + 1 : 0,
    };
    this.#rows.set(threadId, next);
    return {
      ok: true,
      token: next.token,
      expiresAt: new Date(next.expires),
      attempts: next.attempts,
      previous: row?.state,
    };
  }

  async extend(threadId: string, owner: string, token: number, ttlMs: number): Promise<Date | undefined> {
    const row = this.#rows.get(threadId);
    const now = Date.now();
    if (!row || row.token !== token || row.owner !== owner || row.state !== "running" || row.expires <= now) {
      return undefined;
    }
    row.expires = now + ttlMs;
    return new Date(row.expires);
  }

  async release(threadId: string, owner: string, token: number, outcome: ReleaseOutcome): Promise<boolean> {
    const row = this.#rows.get(threadId);
    if (!row || row.token !== token || row.owner !== owner || row.state !== "running") return false;
    if (outcome.state === "retry") row.expires = Date.now() + outcome.retryInMs;
    else {
      row.state = outcome.state;
      row.expires = Date.now();
    }
    return true;
  }

  async info(threadId: string): Promise<LeaseInfo | undefined> {
    const row = this.#rows.get(threadId);
    if (!row) return undefined;
    return {
      owner: row.owner,
      token: row.token,
      state: row.state,
      live: row.state === "running" && row.expires > Date.now(),
      expiresAt: new Date(row.expires),
      attempts: row.attempts,
    };
  }

  async stalled(limit: number): Promise<string[]> {
    const now = Date.now();
    return [...this.#rows]
      .filter(([, r]) => r.state === "running" && r.expires <= now)
      .sort((a, b) => a[1].expires - b[1].expires)
      .slice(0, limit)
      .map(([t]) => t);
  }

  async ready(): Promise<void> {}

  async close(): Promise<void> {}
}

/**
 * An in-process lease store: one writer per thread among the runs of this process (tests, single-process apps).
 * It protects nothing across processes.
 *
 * @throws {InvalidArgumentError} when `ttlMs <= heartbeatMs` or an option is out of range.
 * @example
 * const guarded = withThreadLease(graph, memoryLease({ ttlMs: 10_000 }));
 */
export function memoryLease(options: LeaseOptions = {}): LeaseStore {
  return new Lease(new MemoryBackend(), resolveOptions("memoryLease", options));
}
