import { GraphkeepError } from "@graphkeep/core";

/** Why an archive object or thread document was refused. */
export type ArchiveCorruption =
  /** shorter than its header says (cut off in transit or on disk) */
  | "truncated"
  /** its SHA-256 does not match: bytes were changed */
  | "checksum"
  /** not a graphkeep thread document, or not gzip */
  | "format"
  /** a format version this package does not read */
  | "version";

/**
 * A thread document or archive object is truncated, altered or not a graphkeep thread. Nothing of it was imported:
 * the hot store is untouched.
 *
 * @example
 * try { await importThread(saver, bytes) } catch (e) { if (isArchiveCorruptError(e)) console.error(e.reason) }
 */
export class ArchiveCorruptError extends GraphkeepError {
  /** What is wrong with it. */
  readonly reason: ArchiveCorruption;
  /** The thread it claims to hold, when its header could be read. */
  readonly threadId: string | undefined;

  constructor(reason: ArchiveCorruption, message: string, threadId?: string, options?: { cause?: unknown }) {
    super("ARCHIVE_CORRUPT", message, options);
    this.name = "ArchiveCorruptError";
    this.reason = reason;
    this.threadId = threadId;
  }
}

/** True when `e` reports a truncated, altered or foreign thread document or archive object. */
export function isArchiveCorruptError(e: unknown): e is ArchiveCorruptError {
  return e instanceof GraphkeepError && e.code === "ARCHIVE_CORRUPT";
}
