export {
  ForeignStoreError,
  NotFoundError,
  ReadOnlyStoreError,
  StoreNotFoundError,
  UsageError,
} from "./errors.js";
export {
  type ChannelChange,
  diffStates,
  errorsOf,
  nextOf,
  nodesOf,
  plain,
  statusOf,
  type TaskError,
  type ThreadStatus,
} from "./inspect.js";
export { main } from "./main.js";
export { openSaver, parseKeyring, type StoreOptions, serdeFor } from "./open.js";
export type { Io } from "./output.js";
export { type OpenMode, openSource, type Source, type StoreKind, type ThreadRef } from "./source.js";
