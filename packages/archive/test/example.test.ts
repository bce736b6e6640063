// Runs `examples/archive` (as `pnpm example archive --json` does) on a temporary SQLite file and checks the facts
// of its result line.
import { execFile } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";

const root = fileURLToPath(new URL("../../..", import.meta.url));

it("the archive example moves a thread SqliteSaver → KeyvSaver, archives it, restores it on first read and refuses an altered object", async () => {
  const file = join(mkdtempSync(join(tmpdir(), "graphkeep-ex-")), "example.db");
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>(
    (resolve) => {
      execFile(
        process.execPath,
        ["--import", "tsx", join(root, "examples/run.ts"), "archive", "--json"],
        { cwd: root, env: { ...process.env, GRAPHKEEP_STORE: `sqlite://${file}` } },
        (error, stdout, stderr) => resolve({ code: error ? (error.code as number) : 0, stdout, stderr }),
      );
    },
  );
  expect(code, stderr).toBe(0);
  expect(stdout).toContain(file);
  const line = stdout.split("\n").find((l) => l.startsWith("@@RESULT "));
  expect(JSON.parse(line!.slice("@@RESULT ".length))).toEqual({
    historyIdentical: true,
    archived: 1,
    inHotAfterArchive: false,
    next: ["approve"],
    final: "agent: refund sent",
    restores: 1,
    refused: "ArchiveCorruptError (checksum)",
  });
}, 120_000);
