import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));

/** The first command of the README's first `sh` block: what a new user types first. */
function firstCommand(): string {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const block = /```sh\n([\s\S]*?)```/.exec(readme)?.[1];
  const line = block?.split("\n").find((l) => l.trim() !== "" && !l.trim().startsWith("#"));
  if (line === undefined) throw new Error("README.md has no sh block with a command");
  return line.replace(/\s+#.*$/, "").trim();
}

describe("the README's first command on a fresh clone", () => {
  it("installs and runs the demo: crash, resume from cache, rewind, budget stop, CLI views", () => {
    const command = firstCommand();
    expect(command).toBe("pnpm install && pnpm demo");
    const dir = mkdtempSync(join(tmpdir(), "graphkeep-clone-"));
    try {
      // a clone holds only what is committed, as a new user's checkout does
      execFileSync("git", ["clone", "-q", root, dir]);
      const r = spawnSync("bash", ["-c", command], {
        cwd: dir,
        encoding: "utf8",
        timeout: 240_000,
        env: { ...process.env, CI: "true", NO_COLOR: "1" },
      });
      expect(r.status, r.stderr.slice(-2000)).toBe(0);
      expect(r.stdout).toMatch(/crashes mid-way[\s\S]*ECONNRESET/);
      expect(r.stdout).toMatch(/draft\s+from cache/);
      expect(r.stdout).toMatch(/budget of "demo" is exhausted/);
      expect(r.stdout).toMatch(/graphkeep history demo[\s\S]*step\tsource\tnode\(s\)/);
      expect(r.stdout).toMatch(/In short: 11 LLM requests for 12 model calls/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);
});
