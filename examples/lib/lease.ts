// The lease store matching the checkpoint store: Redis or PostgreSQL leases work across processes; with the
// embedded SQLite file (one process) an in-process lease does.
import { type LeaseOptions, type LeaseStore, memoryLease, postgresLease, redisLease } from "@graphkeep/lease";
import { storeKind, storeUrl } from "./store.ts";

/** A lease store on the same server as the checkpoints when there is one, else in memory. */
export function openLease(options: LeaseOptions = {}, url: string = storeUrl): LeaseStore {
  const kind = storeKind(url);
  if (kind === "redis") return redisLease({ url, keyPrefix: "graphkeep-examples:lease", ...options });
  if (kind === "postgres") return postgresLease({ url, table: "graphkeep_examples_leases", ...options });
  return memoryLease(options);
}
