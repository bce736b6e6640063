import { createHash } from "node:crypto";
import { InvalidArgumentError, ThreadExistsError } from "@graphkeep/core";
import type { RunnableConfig } from "@langchain/core/runnables";
import {
  type BaseCheckpointSaver,
  type ChannelVersions,
  type Checkpoint,
  type CheckpointMetadata,
  JsonPlusSerializer,
  type PendingWrite,
  type SerializerProtocol,
} from "@langchain/langgraph-checkpoint";
import { ArchiveCorruptError } from "./errors.js";

/** The first line of every thread document. */
export const THREAD_FORMAT = "graphkeep-thread";
/** The format version this package writes (and the newest it reads). */
export const THREAD_FORMAT_VERSION = 1;

type Typed = [type: string, base64: string];

/** One checkpoint of a thread document, with the writes made against it. */
interface DocCheckpoint {
  ns: string;
  id: string;
  parentId: string | null;
  checkpoint: Typed;
  metadata: Typed;
  /** `[taskId, channel, value]` in the order the saver returned them */
  writes: Array<[string, string, Typed]>;
}

/** What the second line of a thread document says about it. */
export interface ThreadHeader {
  format: typeof THREAD_FORMAT;
  version: number;
  threadId: string;
  exportedAt: string;
  checkpoints: number;
  writes: number;
  /** bytes of the body (the third line) */
  bodyBytes: number;
  /** SHA-256 of the body, hex */
  sha256: string;
}

/** Options of {@link exportThread}. */
export interface ExportOptions {
  /**
   * The serializer values are written with. Pass an encrypting serde (`@graphkeep/serde`) to keep an export
   * as protected as the store was; the importer then needs the same serde.
   * @default LangGraph's JsonPlusSerializer (readable by any saver)
   */
  serde?: SerializerProtocol | undefined;
}

/** Options of {@link importThread}. */
export interface ImportOptions {
  /**
   * The thread id to write into.
   * @default the exported thread's id
   */
  as?: string | undefined;
  /**
   * The serializer the document's values were written with.
   * @default LangGraph's JsonPlusSerializer
   */
  serde?: SerializerProtocol | undefined;
}

/** What {@link importThread} wrote. */
export interface ImportReport {
  threadId: string;
  checkpoints: number;
  writes: number;
}

const enc = new TextEncoder();
const dec = new TextDecoder("utf-8", { fatal: true });
const b64 = (u: Uint8Array) => Buffer.from(u).toString("base64");
const unb64 = (s: string) => new Uint8Array(Buffer.from(s, "base64"));
const sha256 = (u: Uint8Array) => createHash("sha256").update(u).digest("hex");

async function dump(serde: SerializerProtocol, value: unknown): Promise<Typed> {
  const [type, bytes] = await serde.dumpsTyped(value);
  return [type, b64(typeof bytes === "string" ? enc.encode(bytes) : bytes)];
}

/**
 * Every checkpoint (all namespaces), its metadata and every pending write of one thread, as a versioned, portable
 * document: line 1 `graphkeep-thread 1`, line 2 a JSON header (thread, counts, body size, SHA-256), line 3 the JSON
 * body, oldest checkpoint first. It reads through the saver's public API, so any saver can be exported.
 *
 * @throws {InvalidArgumentError} when `threadId` is empty or the thread has no checkpoint.
 * @example
 * await writeFile("thread.gk", await exportThread(new SqliteSaver(db), "user-42"));
 */
export async function exportThread(
  saver: BaseCheckpointSaver,
  threadId: string,
  options: ExportOptions = {},
): Promise<Uint8Array> {
  if (typeof threadId !== "string" || threadId === "") {
    throw new InvalidArgumentError("exportThread: threadId must be a non-empty string");
  }
  const serde = options.serde ?? new JsonPlusSerializer();
  const checkpoints: DocCheckpoint[] = [];
  let writes = 0;
  for await (const t of saver.list({ configurable: { thread_id: threadId } })) {
    const c = t.config.configurable ?? {};
    const pending = t.pendingWrites ?? [];
    writes += pending.length;
    checkpoints.push({
      ns: typeof c.checkpoint_ns === "string" ? c.checkpoint_ns : "",
      id: t.checkpoint.id,
      parentId: (t.parentConfig?.configurable?.checkpoint_id as string | undefined) ?? null,
      checkpoint: await dump(serde, t.checkpoint),
      metadata: await dump(serde, t.metadata ?? {}),
      writes: await Promise.all(
        pending.map(
          async ([task, channel, value]) => [task, channel, await dump(serde, value)] as [string, string, Typed],
        ),
      ),
    });
  }
  if (checkpoints.length === 0) {
    throw new InvalidArgumentError(`exportThread: thread "${threadId}" has no checkpoint in this saver`);
  }
  checkpoints.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : a.ns < b.ns ? -1 : 1));
  const body = enc.encode(JSON.stringify({ checkpoints }));
  const header: ThreadHeader = {
    format: THREAD_FORMAT,
    version: THREAD_FORMAT_VERSION,
    threadId,
    exportedAt: new Date().toISOString(),
    checkpoints: checkpoints.length,
    writes,
    bodyBytes: body.length,
    sha256: sha256(body),
  };
  const head = enc.encode(`${THREAD_FORMAT} ${THREAD_FORMAT_VERSION}\n${JSON.stringify(header)}\n`);
  const out = new Uint8Array(head.length + body.length);
  out.set(head, 0);
  out.set(body, head.length);
  return out;
}

/** A verified thread document: its header and checkpoints. */
export interface ThreadDocument {
  header: ThreadHeader;
  checkpoints: DocCheckpoint[];
}

/**
 * Reads and verifies a thread document (size and SHA-256) without importing it.
 *
 * @throws {ArchiveCorruptError} when it is truncated, altered, of an unknown version or not a thread document.
 */
export function readThreadDocument(bytes: Uint8Array): ThreadDocument {
  if (!(bytes instanceof Uint8Array)) throw new ArchiveCorruptError("format", "a thread document must be bytes");
  const first = bytes.indexOf(10);
  const second = first < 0 ? -1 : bytes.indexOf(10, first + 1);
  if (first < 0 || second < 0) {
    throw new ArchiveCorruptError("truncated", "thread document: the header is missing or cut off");
  }
  let magic: string;
  let header: ThreadHeader;
  try {
    magic = dec.decode(bytes.subarray(0, first));
    header = JSON.parse(dec.decode(bytes.subarray(first + 1, second))) as ThreadHeader;
  } catch (e) {
    throw new ArchiveCorruptError("format", "not a graphkeep thread document (unreadable header)", undefined, {
      cause: e,
    });
  }
  const [name, version] = magic.split(" ");
  if (name !== THREAD_FORMAT || header?.format !== THREAD_FORMAT) {
    throw new ArchiveCorruptError("format", "not a graphkeep thread document");
  }
  if (Number(version) !== THREAD_FORMAT_VERSION || header.version !== THREAD_FORMAT_VERSION) {
    throw new ArchiveCorruptError(
      "version",
      `thread document version ${version} is not supported (this package reads ${THREAD_FORMAT_VERSION}); upgrade @graphkeep/archive`,
      header.threadId,
    );
  }
  const body = bytes.subarray(second + 1);
  if (body.length < header.bodyBytes) {
    throw new ArchiveCorruptError(
      "truncated",
      `thread document of "${header.threadId}" is truncated: ${body.length} of ${header.bodyBytes} body bytes`,
      header.threadId,
    );
  }
  if (body.length !== header.bodyBytes || sha256(body) !== header.sha256) {
    throw new ArchiveCorruptError(
      "checksum",
      `thread document of "${header.threadId}" was altered: its SHA-256 does not match its header`,
      header.threadId,
    );
  }
  let parsed: { checkpoints?: DocCheckpoint[] };
  try {
    parsed = JSON.parse(dec.decode(body)) as { checkpoints?: DocCheckpoint[] };
  } catch (e) {
    throw new ArchiveCorruptError("format", "thread document body is not JSON", header.threadId, { cause: e });
  }
  if (!Array.isArray(parsed.checkpoints) || parsed.checkpoints.length !== header.checkpoints) {
    throw new ArchiveCorruptError("format", "thread document body does not match its header", header.threadId);
  }
  return { header, checkpoints: parsed.checkpoints };
}

/**
 * Writes a thread document into a saver (any saver): every checkpoint with its original id, parent, metadata and
 * timestamp, then the writes made against it. The document is verified and every value deserialized before the
 * first write, so a bad document leaves the saver untouched.
 *
 * @throws {ArchiveCorruptError} when the document is truncated, altered or unreadable.
 * @throws {ThreadExistsError} when the target thread already has checkpoints (import `as` another id).
 * @example
 * await importThread(await KeyvSaver.fromUrl(process.env.DATABASE_URL), await readFile("thread.gk"), { as: "user-42b" });
 */
export async function importThread(
  saver: BaseCheckpointSaver,
  bytes: Uint8Array,
  options: ImportOptions = {},
): Promise<ImportReport> {
  const doc = readThreadDocument(bytes);
  const threadId = options.as ?? doc.header.threadId;
  if (typeof threadId !== "string" || threadId === "") {
    throw new InvalidArgumentError("importThread: options.as must be a non-empty string");
  }
  const serde = options.serde ?? new JsonPlusSerializer();
  const load = async (t: Typed, what: string) => {
    try {
      return await serde.loadsTyped(t[0], unb64(t[1]));
    } catch (e) {
      throw new ArchiveCorruptError("format", `thread document: ${what} does not deserialize`, doc.header.threadId, {
        cause: e,
      });
    }
  };
  const loaded = [];
  for (const c of doc.checkpoints) {
    loaded.push({
      ...c,
      checkpoint: (await load(c.checkpoint, `checkpoint ${c.id}`)) as Checkpoint,
      metadata: (await load(c.metadata, `metadata of ${c.id}`)) as CheckpointMetadata,
      writes: await Promise.all(
        c.writes.map(async ([task, channel, v]) => [task, channel, await load(v, `a write of ${c.id}`)] as const),
      ),
    });
  }
  if (await saver.getTuple({ configurable: { thread_id: threadId, checkpoint_ns: "" } })) {
    throw new ThreadExistsError(threadId);
  }
  const byId = new Map(loaded.map((c) => [`${c.ns}\0${c.id}`, c.checkpoint]));
  let writes = 0;
  for (const c of loaded) {
    const parent = c.parentId === null ? undefined : byId.get(`${c.ns}\0${c.parentId}`);
    const newVersions: ChannelVersions = {};
    for (const [k, v] of Object.entries(c.checkpoint.channel_versions)) {
      if (parent?.channel_versions[k] !== v) newVersions[k] = v;
    }
    const config: RunnableConfig = {
      configurable: {
        thread_id: threadId,
        checkpoint_ns: c.ns,
        ...(c.parentId === null ? {} : { checkpoint_id: c.parentId }),
      },
    };
    await saver.put(config, c.checkpoint, c.metadata, newVersions);
    const byTask = new Map<string, PendingWrite[]>();
    for (const [task, channel, value] of c.writes) {
      const list = byTask.get(task) ?? [];
      list.push([channel, value]);
      byTask.set(task, list);
    }
    for (const [task, list] of byTask) {
      await saver.putWrites(
        { configurable: { thread_id: threadId, checkpoint_ns: c.ns, checkpoint_id: c.id } },
        list,
        task,
      );
      writes += list.length;
    }
  }
  return { threadId, checkpoints: loaded.length, writes };
}
