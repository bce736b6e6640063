import { randomUUID } from "node:crypto";
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { InvalidArgumentError } from "@graphkeep/core";
import type { ThreadArchive } from "./types.js";

const SUFFIX = ".gk.gz";
const nameOf = (threadId: string) => `${encodeURIComponent(threadId).replaceAll(".", "%2E")}${SUFFIX}`;

/**
 * An archive in a local directory (the embedded default): one `<thread>.gk.gz` file per thread, written to a
 * temporary name and renamed, so a reader never sees half an object.
 *
 * @throws {InvalidArgumentError} when `dir` is not a non-empty string.
 * @example
 * const archive = directoryArchive("/var/lib/app/archive");
 */
export function directoryArchive(dir: string): ThreadArchive {
  if (typeof dir !== "string" || dir === "") {
    throw new InvalidArgumentError("directoryArchive: dir must be a non-empty path");
  }
  let ready: Promise<unknown> | undefined;
  const ensure = () => {
    ready ??= mkdir(dir, { recursive: true });
    return ready;
  };
  return {
    kind: "directory",
    async put(threadId, bytes) {
      await ensure();
      const tmp = join(dir, `.${randomUUID()}.tmp`);
      await writeFile(tmp, bytes);
      await rename(tmp, join(dir, nameOf(threadId)));
    },
    async get(threadId) {
      try {
        return new Uint8Array(await readFile(join(dir, nameOf(threadId))));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
        throw e;
      }
    },
    async delete(threadId) {
      await rm(join(dir, nameOf(threadId)), { force: true });
    },
    async *list() {
      let names: string[];
      try {
        names = await readdir(dir);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") return;
        throw e;
      }
      for (const n of names.sort()) {
        if (n.endsWith(SUFFIX) && !n.startsWith(".")) yield decodeURIComponent(n.slice(0, -SUFFIX.length));
      }
    },
  };
}
