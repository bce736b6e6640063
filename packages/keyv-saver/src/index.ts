export {
  AdapterNotInstalledError,
  CheckpointCorruptError,
  GraphkeepError,
  type GraphkeepErrorCode,
  InvalidArgumentError,
  InvalidConfigError,
  isCheckpointCorruptError,
  isGraphkeepError,
  isStoreUnavailableError,
  StoreUnavailableError,
  ThreadExistsError,
  UnsupportedUrlError,
} from "@graphkeep/core";
export type { CheckpointInfo, PruneResult } from "./admin.js";
export type { StoredBlob } from "./codec.js";
export { isWriteConflictError, type KeyvSaverErrorCode, WriteConflictError } from "./errors.js";
export type { RedisClientLike, StoreClient } from "./from-url.js";
export { MANIFEST_KEY, type StoreManifest } from "./manifest.js";
export type { MysqlPoolLike, PgPoolLike } from "./pool-store.js";
export { KeyvSaver } from "./saver.js";
export { type BetterSqliteDatabase, KeyvBetterSqlite, type KeyvBetterSqliteOptions } from "./sqlite-store.js";
export type { StoreOperationCounts } from "./store.js";
export type { FencingGuard, KeyvSaverOptions, KeyvSaverUrlOptions, SaverStats, ThreadInfo } from "./types.js";
