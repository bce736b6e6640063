/**
 * Where archived threads go: one opaque object (a gzip-compressed thread document) per thread id. Implement it for
 * any object store; {@link directoryArchive} is the embedded one.
 */
export interface ThreadArchive {
  /** A short name for messages and metrics (`"directory"`, `"s3"`). */
  readonly kind: string;
  /** Stores the object of a thread, replacing any previous one. */
  put(threadId: string, bytes: Uint8Array): Promise<void>;
  /** The object of a thread, or `undefined` when the archive has none. */
  get(threadId: string): Promise<Uint8Array | undefined>;
  /** Removes the object of a thread (no error when there is none). */
  delete(threadId: string): Promise<void>;
  /** The archived thread ids. */
  list(): AsyncIterable<string>;
}

/** Progress of {@link archiveThreads}, reported after each thread. */
export interface ArchiveProgress {
  threadsScanned: number;
  /** idle threads found so far */
  threadsIdle: number;
  /** threads moved to the archive (and deleted from the hot store), or that would be in a dry run */
  threadsArchived: number;
  /** compressed bytes written to the archive */
  bytesArchived: number;
}

/** What {@link archiveThreads} did. */
export interface ArchiveReport extends ArchiveProgress {
  /** the ids of the archived (or, in a dry run, archivable) threads */
  threadIds: string[];
  dryRun: boolean;
}
