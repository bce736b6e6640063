import { gunzipSync, gzipSync } from "node:zlib";
import { InvalidArgumentError, isGraphkeepError, StoreUnavailableError } from "@graphkeep/core";
import type { RunnableConfig } from "@langchain/core/runnables";
import type { BaseCheckpointSaver, SerializerProtocol } from "@langchain/langgraph-checkpoint";
import { ArchiveCorruptError } from "./errors.js";
import { exportThread, importThread, readThreadDocument } from "./format.js";
import { countRestore } from "./metrics.js";
import type { ArchiveProgress, ArchiveReport, ThreadArchive } from "./types.js";

const UNITS: Record<string, number> = { ms: 1, s: 1e3, m: 6e4, h: 3.6e6, d: 8.64e7, w: 6.048e8 };
const MAX_INFLATED = 1 << 30;

function duration(v: number | string, what: string): number {
  if (typeof v === "number" && Number.isFinite(v) && v >= 0) return v;
  const m = typeof v === "string" ? /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$/.exec(v) : null;
  if (m) return Number(m[1]) * (UNITS[m[2] as string] as number);
  throw new InvalidArgumentError(
    `${what} must be ms >= 0 or a string like "90s", "12h", "30d"; got ${JSON.stringify(v)}`,
  );
}

/** Compresses a thread document into an archive object (gzip). */
export function packThread(document: Uint8Array): Uint8Array {
  return new Uint8Array(gzipSync(document, { level: 9 }));
}

/**
 * The verified thread document inside an archive object.
 *
 * @throws {ArchiveCorruptError} when the object is truncated, altered, not gzip or inflates past 1 GiB.
 */
export function unpackThread(object: Uint8Array): Uint8Array {
  let doc: Uint8Array;
  try {
    doc = new Uint8Array(gunzipSync(object, { maxOutputLength: MAX_INFLATED }));
  } catch (e) {
    const message = String((e as Error).message);
    const reason = /unexpected end/i.test(message)
      ? "truncated"
      : /incorrect (data|length) check|invalid (block|distance|code|stored)/i.test(message)
        ? "checksum"
        : "format";
    const what = {
      truncated: "is truncated (its gzip stream is cut off)",
      checksum: "was altered (its gzip data or check does not match)",
      format: "is not a gzip thread document",
    }[reason];
    throw new ArchiveCorruptError(reason, `archive object ${what}`, undefined, { cause: e });
  }
  readThreadDocument(doc);
  return doc;
}

interface ListsThreads {
  listThreads(): AsyncIterable<{ threadId: string; updatedAt: Date }>;
}

/** Each thread of a saver with the time of its latest checkpoint (KeyvSaver's index, else a scan of `list`). */
async function* threadsOf(saver: BaseCheckpointSaver): AsyncGenerator<{ threadId: string; updatedAt: number }> {
  const lister = saver as unknown as Partial<ListsThreads>;
  if (typeof lister.listThreads === "function") {
    for await (const t of lister.listThreads()) yield { threadId: t.threadId, updatedAt: t.updatedAt.getTime() };
    return;
  }
  const newest = new Map<string, number>();
  for await (const t of saver.list({ configurable: {} })) {
    const id = String(t.config.configurable?.thread_id);
    const ts = Date.parse(t.checkpoint.ts);
    if (!(newest.get(id)! >= ts)) newest.set(id, ts);
  }
  for (const [threadId, updatedAt] of newest) yield { threadId, updatedAt };
}

/** Options of {@link archiveThreads}. */
export interface ArchiveThreadsOptions {
  /** Threads whose latest checkpoint is older than this move: ms or `"90s"`, `"12h"`, `"30d"`, `"2w"`. */
  idleFor: number | string;
  /** Report what would move, change nothing. @default false */
  dryRun?: boolean | undefined;
  /** Stops between threads (the thread in progress finishes or is left whole). @default undefined */
  signal?: AbortSignal | undefined;
  /** Called after each thread scanned. @default undefined */
  onProgress?: ((progress: ArchiveProgress) => void) | undefined;
  /** Only these threads (e.g. one tenant's). @default every thread of the saver */
  threadIds?: readonly string[] | undefined;
  /** Serializer of the thread documents (an encrypting one keeps archives encrypted). @default JsonPlusSerializer */
  serde?: SerializerProtocol | undefined;
}

/**
 * Moves idle threads from a hot store to an archive, one gzip-compressed thread document per thread. A thread is
 * deleted from the hot store only after its object was written, read back, found byte-identical and verified; if
 * the archive fails, nothing of that thread is deleted and the error is thrown (threads already moved stay moved).
 *
 * @throws {InvalidArgumentError} when `idleFor` or another option is invalid.
 * @throws {StoreUnavailableError} when the archive fails or does not return what was written.
 * @example
 * const report = await archiveThreads(saver, directoryArchive("./archive"), { idleFor: "30d" });
 */
export async function archiveThreads(
  saver: BaseCheckpointSaver,
  archive: ThreadArchive,
  options: ArchiveThreadsOptions,
): Promise<ArchiveReport> {
  const idleMs = duration(options?.idleFor, "archiveThreads: idleFor");
  const dryRun = options.dryRun ?? false;
  const only = options.threadIds ? new Set(options.threadIds) : undefined;
  const cutoff = Date.now() - idleMs;
  const report: ArchiveReport = {
    threadsScanned: 0,
    threadsIdle: 0,
    threadsArchived: 0,
    bytesArchived: 0,
    threadIds: [],
    dryRun,
  };
  const progress = () => options.onProgress?.({ ...report, threadIds: undefined } as unknown as ArchiveProgress);
  for await (const { threadId, updatedAt } of threadsOf(saver)) {
    if (options.signal?.aborted) break;
    if (only && !only.has(threadId)) continue;
    report.threadsScanned++;
    if (updatedAt > cutoff) {
      progress();
      continue;
    }
    report.threadsIdle++;
    if (!dryRun) {
      const object = packThread(await exportThread(saver, threadId, { serde: options.serde }));
      let back: Uint8Array | undefined;
      try {
        await archive.put(threadId, object);
        back = await archive.get(threadId);
      } catch (e) {
        throw new StoreUnavailableError(
          "set",
          `archiveThreads: the ${archive.kind} archive failed for thread "${threadId}"; nothing of it was deleted`,
          { cause: e },
        );
      }
      if (!back || Buffer.compare(Buffer.from(back), Buffer.from(object)) !== 0) {
        throw new StoreUnavailableError(
          "get",
          `archiveThreads: the ${archive.kind} archive did not return thread "${threadId}" as written; nothing of it was deleted`,
        );
      }
      unpackThread(back);
      await saver.deleteThread(threadId);
      report.bytesArchived += object.length;
    }
    report.threadsArchived++;
    report.threadIds.push(threadId);
    progress();
  }
  return report;
}

/** Options of {@link withArchive}. */
export interface WithArchiveOptions {
  /** Called after each thread restored from the archive. @default undefined */
  onRestore?: ((event: { threadId: string; checkpoints: number; writes: number }) => void) | undefined;
  /** Serializer of the thread documents (as given to `archiveThreads`). @default JsonPlusSerializer */
  serde?: SerializerProtocol | undefined;
}

/** A saver wrapped by {@link withArchive}: the saver's API, plus restore counts. */
export type ArchivedSaver<S extends BaseCheckpointSaver> = S & {
  /** Threads restored from the archive by this wrapper so far. */
  readonly archiveRestores: number;
};

const threadOf = (config: RunnableConfig | undefined): string | undefined => {
  const t = config?.configurable?.thread_id;
  return typeof t === "string" && t !== "" ? t : typeof t === "number" ? String(t) : undefined;
};

/**
 * Restores an archived thread into the hot store on its first access (`getTuple`, `list`, `put`, `putWrites` of
 * its thread id), then removes it from the archive, so resuming a months-old conversation just works. Each restore
 * adds 1 to the OpenTelemetry counter `graphkeep.archive.restores` (attribute `graphkeep.archive.kind`).
 * `deleteThread` deletes the archived copy too. Concurrent accesses of one thread in this process share one restore;
 * if the thread got checkpoints in the hot store meanwhile (another process), the archived copy is kept, not merged.
 *
 * @throws {InvalidArgumentError} when `saver` or `archive` is not one.
 * @example
 * const checkpointer = withArchive(await KeyvSaver.fromUrl(url), directoryArchive("./archive"));
 */
export function withArchive<S extends BaseCheckpointSaver>(
  saver: S,
  archive: ThreadArchive,
  options: WithArchiveOptions = {},
): ArchivedSaver<S> {
  if (saver === null || typeof saver !== "object" || typeof saver.getTuple !== "function") {
    throw new InvalidArgumentError("withArchive: the first argument must be a checkpoint saver");
  }
  if (archive === null || typeof archive !== "object" || typeof archive.get !== "function") {
    throw new InvalidArgumentError("withArchive: the second argument must be a ThreadArchive (directoryArchive(), …)");
  }
  const present = new Set<string>();
  const restoring = new Map<string, Promise<boolean>>();
  let restores = 0;

  const restore = (threadId: string): Promise<boolean> => {
    let p = restoring.get(threadId);
    if (!p) {
      p = (async () => {
        const object = await archive.get(threadId);
        if (!object) return false;
        const doc = unpackThread(object);
        let report: Awaited<ReturnType<typeof importThread>>;
        try {
          report = await importThread(saver, doc, { serde: options.serde });
        } catch (e) {
          // the hot store got this thread first (another writer): keep the archived copy, nothing is lost
          if (isGraphkeepError(e) && e.code === "THREAD_EXISTS") return true;
          throw e;
        }
        await archive.delete(threadId);
        restores++;
        await countRestore({ "graphkeep.archive.kind": archive.kind });
        try {
          options.onRestore?.(report);
        } catch {
          // a reporting hook never breaks a read
        }
        return true;
      })().finally(() => restoring.delete(threadId));
      restoring.set(threadId, p);
    }
    return p;
  };

  const ensure = async (config: RunnableConfig | undefined) => {
    const t = threadOf(config);
    if (t === undefined || present.has(t)) return;
    if (await saver.getTuple({ configurable: { thread_id: t, checkpoint_ns: "" } })) present.add(t);
    else if (await restore(t)) present.add(t);
  };

  const wrapped = {
    async getTuple(config: RunnableConfig) {
      const got = await saver.getTuple(config);
      const t = threadOf(config);
      if (got || t === undefined) return got;
      present.delete(t);
      return (await restore(t)) ? saver.getTuple(config) : undefined;
    },
    async *list(config: RunnableConfig, opts?: Parameters<BaseCheckpointSaver["list"]>[1]) {
      await ensure(config);
      yield* saver.list(config, opts);
    },
    async put(config: RunnableConfig, ...rest: unknown[]) {
      await ensure(config);
      return (saver.put as (...a: unknown[]) => Promise<RunnableConfig>).call(saver, config, ...rest);
    },
    async putWrites(config: RunnableConfig, ...rest: unknown[]) {
      await ensure(config);
      return (saver.putWrites as (...a: unknown[]) => Promise<void>).call(saver, config, ...rest);
    },
    async deleteThread(threadId: string) {
      await saver.deleteThread(threadId);
      await archive.delete(threadId);
      present.delete(threadId);
    },
  };
  return new Proxy(saver, {
    get(target, key) {
      if (key === "archiveRestores") return restores;
      if (Object.hasOwn(wrapped, key)) return wrapped[key as keyof typeof wrapped];
      const v = Reflect.get(target, key, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
  }) as ArchivedSaver<S>;
}
