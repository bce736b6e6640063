export {
  InvalidArgumentError,
  InvalidConfigError,
  isStoreUnavailableError,
  StoreUnavailableError,
} from "@graphkeep/core";
export {
  isLeaseLostError,
  isThreadBusyError,
  type LeaseErrorCode,
  LeaseLostError,
  ThreadBusyError,
} from "./errors.js";
export { type FenceableSaver, withFencing } from "./fencing.js";
export {
  type LeasableGraph,
  type LeasedGraph,
  type LeaseStreamEvent,
  type StreamChunkOf,
  type ThreadLeaseOptions,
  withThreadLease,
} from "./guard.js";
export { memoryLease } from "./memory.js";
export { type PostgresLeaseOptions, postgresLease } from "./postgres.js";
export { type RedisEvalClient, type RedisLeaseOptions, redisLease } from "./redis.js";
export {
  FENCE_KEY,
  type FencingGuard,
  type LeaseHandle,
  type LeaseInfo,
  type LeaseOptions,
  type LeaseRunConfig,
  type LeaseStore,
  type ReleaseOutcome,
} from "./types.js";
export {
  type CheckpointReader,
  type FailoverBackoff,
  type FailoverEvents,
  FailoverWatchdog,
  type FailoverWatchdogOptions,
} from "./watchdog.js";
