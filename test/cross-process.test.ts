import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { KeyvSaver } from "@graphkeep/keyv-saver";
import { backends } from "./helpers/backends.js";

const run = promisify(execFile);
const root = fileURLToPath(new URL("..", import.meta.url));
const tsx = join(root, "node_modules/.bin/tsx");
const script = join(root, "test/fixtures/crash-run.ts");

async function child(url: string, ns: string, thread: string, log: string, crash: boolean) {
  try {
    const { stdout } = await run(tsx, [script, url, ns, thread, log, crash ? "yes" : "no"], { cwd: root });
    return { code: 0, stdout };
  } catch (e) {
    return { code: (e as { code?: number }).code ?? -1, stdout: "" };
  }
}

const shared = backends.filter((b) => ["sqlite", "redis", "postgres", "mysql"].includes(b.name));

for (const backend of shared) {
  describe.skipIf(!!backend.skip)(`a thread on ${backend.name} outlives its process`, () => {
    it("a process that crashes inside a node is resumed by another process at that node", async () => {
      const dir = mkdtempSync(join(tmpdir(), "graphkeep-xp-"));
      const log = join(dir, "runs.log");
      const url = backend.name === "sqlite" ? `sqlite://${join(dir, "cp.sqlite")}` : backend.url;
      const ns = `xp_${randomUUID().slice(0, 8)}`;

      const first = await child(url, ns, "thread-1", log, true);
      expect(first.code).toBe(3);
      expect(readFileSync(log, "utf8").trim().split("\n")).toEqual(["a", "b"]);

      const second = await child(url, ns, "thread-1", log, false);
      expect(second.code).toBe(0);
      expect(JSON.parse(second.stdout.trim()).steps).toEqual(["a", "b", "c"]);
      // "a" ran once in all: the second process started at "b"
      expect(readFileSync(log, "utf8").trim().split("\n")).toEqual(["a", "b", "b", "c"]);

      const saver = await KeyvSaver.fromUrl(url, { namespace: ns });
      const latest = await saver.getTuple({ configurable: { thread_id: "thread-1" } });
      expect(latest?.checkpoint.channel_values.steps).toEqual(["a", "b", "c"]);
      await saver.keyv.clear();
      await saver.close();
    }, 60_000);
  });
}
