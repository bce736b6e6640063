// Runs `examples/granularity` (as `pnpm example granularity --json` does) on a temporary SQLite file and checks the
// facts of its result line.
import { execFile } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";

const root = fileURLToPath(new URL("../../..", import.meta.url));

it("the granularity example stores only what each policy selects and resumes a failed run without repeating a model call", async () => {
  const file = join(mkdtempSync(join(tmpdir(), "graphkeep-gran-")), "example.db");
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>(
    (resolve) => {
      execFile(
        process.execPath,
        ["--import", "tsx", join(root, "examples/run.ts"), "granularity", "--json"],
        { cwd: root, env: { ...process.env, GRAPHKEEP_STORE: `sqlite://${file}`, OPENAI_API_KEY: "" } },
        (error, stdout, stderr) => resolve({ code: error ? (error.code as number) : 0, stdout, stderr }),
      );
    },
  );
  expect(code, stderr).toBe(0);
  expect(stdout).toContain(file);
  const line = stdout.split("\n").find((l) => l.startsWith("@@RESULT "));
  const r = JSON.parse(line!.slice("@@RESULT ".length));
  expect(r.everySteps).toBe(11);
  expect(r.saveOnSteps).toEqual([-1, 3, 6, 9]);
  expect(r.costSteps).toEqual([-1, 2, 4, 6, 8, 9]);
  expect(r.failedNext).toEqual(["draft"]);
  expect(r.resumedRound).toBe(3);
  expect(r.requests).toBe(9);
}, 120_000);
