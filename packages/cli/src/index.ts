export { NotFoundError, UsageError } from "./errors.js";
export { type ChannelChange, diffStates, nodesOf, plain, statusOf, type ThreadStatus } from "./inspect.js";
export { main } from "./main.js";
export { openSaver, parseKeyring, type StoreOptions, serdeFor } from "./open.js";
export type { Io } from "./output.js";
