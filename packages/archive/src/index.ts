export {
  type ArchivedSaver,
  type ArchiveThreadsOptions,
  archiveThreads,
  packThread,
  unpackThread,
  type WithArchiveOptions,
  withArchive,
} from "./archive.js";
export { directoryArchive } from "./directory.js";
export { ArchiveCorruptError, type ArchiveCorruption, isArchiveCorruptError } from "./errors.js";
export {
  type ExportOptions,
  exportThread,
  type ImportOptions,
  type ImportReport,
  importThread,
  readThreadDocument,
  THREAD_FORMAT,
  THREAD_FORMAT_VERSION,
  type ThreadDocument,
  type ThreadHeader,
} from "./format.js";
export type { ArchiveProgress, ArchiveReport, ThreadArchive } from "./types.js";
