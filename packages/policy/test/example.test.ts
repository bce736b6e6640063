// Runs `examples/granularity` and `examples/substeps` (as `pnpm example <name> --json` does) on a temporary SQLite
// file and checks the facts of their result lines.
import { execFile } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";

const root = fileURLToPath(new URL("../../..", import.meta.url));

async function example(name: string) {
  const file = join(mkdtempSync(join(tmpdir(), "graphkeep-ex-")), "example.db");
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>(
    (resolve) => {
      execFile(
        process.execPath,
        ["--import", "tsx", join(root, "examples/run.ts"), name, "--json"],
        { cwd: root, env: { ...process.env, GRAPHKEEP_STORE: `sqlite://${file}`, OPENAI_API_KEY: "" } },
        (error, stdout, stderr) => resolve({ code: error ? (error.code as number) : 0, stdout, stderr }),
      );
    },
  );
  expect(code, stderr).toBe(0);
  expect(stdout).toContain(file);
  const line = stdout.split("\n").find((l) => l.startsWith("@@RESULT "));
  return JSON.parse(line!.slice("@@RESULT ".length));
}

it("the granularity example stores only what each policy selects and resumes a failed run without repeating a model call", async () => {
  const r = await example("granularity");
  expect(r.everySteps).toBe(11);
  expect(r.saveOnSteps).toEqual([-1, 3, 6, 9]);
  expect(r.costSteps).toEqual([-1, 2, 4, 6, 8, 9]);
  expect(r.failedNext).toEqual(["draft"]);
  expect(r.resumedRound).toBe(3);
  expect(r.requests).toBe(9);
}, 120_000);

it("the substeps example, killed in sub-step 3, resumes in a new process asking the model only for sub-step 3 again", async () => {
  const r = await example("substeps");
  expect(r.killedBy).toBe("SIGKILL");
  expect(r.requestsPerStep).toEqual({ outline: 1, evidence: 1, conclusion: 2 });
  expect(r.report).toMatch(/^\(conclusion from/);
}, 120_000);
