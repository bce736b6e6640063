import { readFile, writeFile } from "node:fs/promises";
import { exportThread, importThread } from "@graphkeep/archive";
import { UsageError } from "./errors.js";
import type { Output } from "./output.js";
import { graphkeepSaver, type Source } from "./source.js";

/**
 * `graphkeep export <thread>`: the thread as a portable, versioned thread document (`@graphkeep/archive`'s format),
 * to `--file` or standard output. Reads through the saver's public API, so official stores export too.
 */
export async function exportCommand(
  source: Source,
  threadId: string,
  o: { file?: string },
  out: Output,
): Promise<void> {
  const bytes = await exportThread(source.reader, threadId);
  if (o.file !== undefined) {
    await writeFile(o.file, bytes);
    if (out.json) out.data({ threadId, file: o.file, bytes: bytes.length });
    else out.line(`exported thread ${threadId} to ${o.file} (${bytes.length} bytes)`);
    return;
  }
  out.io.out(new TextDecoder().decode(bytes));
}

/**
 * `graphkeep import [--as <id>]`: a thread document from `--file` or standard input into the store; verified
 * (size, SHA-256, version) before anything is written, refused when the target thread has checkpoints.
 */
export async function importCommand(
  source: Source,
  o: { as?: string; file?: string },
  out: Output,
  stdin: () => Promise<Uint8Array>,
): Promise<void> {
  const saver = graphkeepSaver(source, "import");
  const bytes = o.file !== undefined ? new Uint8Array(await readFile(o.file)) : await stdin();
  if (bytes.length === 0)
    throw new UsageError("import: no thread document (give --file or pipe one to standard input)");
  const report = await importThread(saver, bytes, o.as === undefined ? {} : { as: o.as });
  if (out.json) out.data(report);
  else out.line(`imported ${JSON.stringify(report)}`);
}

/** Everything on standard input. */
export async function readStdin(): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return new Uint8Array(Buffer.concat(chunks));
}
