import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

// A user's `import` and `require` of the built package both work (run after `pnpm build`, as `pnpm test` does).
const consumer = fileURLToPath(new URL("../examples/resume-sqlite", import.meta.url));
const dist = fileURLToPath(new URL("../packages/keyv-saver/dist/index.cjs", import.meta.url));
const cliPackage = fileURLToPath(new URL("../packages/cli", import.meta.url));
const cliDist = fileURLToPath(new URL("../packages/cli/dist/index.cjs", import.meta.url));

describe("@graphkeep/keyv-saver as a user installs it", () => {
  it.skipIf(!existsSync(dist))("can be required from CommonJS", () => {
    const out = execFileSync(
      process.execPath,
      [
        "-e",
        `const m = require("@graphkeep/keyv-saver"); const s = new m.KeyvSaver(new (require("keyv").default)()); console.log(typeof m.KeyvSaver, s instanceof require("@langchain/langgraph-checkpoint").BaseCheckpointSaver, new m.StoreUnavailableError("get","x").code)`,
      ],
      { cwd: consumer, encoding: "utf8" },
    );
    expect(out.trim()).toBe("function true STORE_UNAVAILABLE");
  });

  it.skipIf(!existsSync(dist))(
    "opens stores with fromUrl from CommonJS (memory, SQLite, PostgreSQL) and reads back",
    () => {
      const file = join(mkdtempSync(join(tmpdir(), "graphkeep-cjs-")), "c.db");
      const script = `
      const { KeyvSaver } = require("@graphkeep/keyv-saver");
      const { emptyCheckpoint, uuid6 } = require("@langchain/langgraph-checkpoint");
      (async () => {
        const out = [];
        for (const url of ["memory:", "sqlite://${file}", ${JSON.stringify(process.env.POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test")}]) {
          const saver = await KeyvSaver.fromUrl(url, { namespace: "cjs" + Date.now() });
          const cp = { ...emptyCheckpoint(), id: uuid6(-1), channel_values: { a: 1 }, channel_versions: { a: 1 } };
          await saver.put({ configurable: { thread_id: "t" } }, cp, { source: "loop", step: 0, parents: {} }, { a: 1 });
          const got = await saver.getTuple({ configurable: { thread_id: "t" } });
          out.push(got.checkpoint.channel_values.a);
          await saver.keyv.clear();
          await saver.close();
        }
        console.log(out.join(","));
      })().catch((e) => { console.error(e); process.exit(1); });`;
      const out = execFileSync(process.execPath, ["-e", script], { cwd: consumer, encoding: "utf8" });
      expect(out.trim()).toBe("1,1,1");
    },
  );

  it.skipIf(!existsSync(cliDist))("runs the CLI's main() from CommonJS on a SQLite store", () => {
    const file = join(mkdtempSync(join(tmpdir(), "graphkeep-cjs-cli-")), "c.db");
    const script = `
      const { KeyvSaver } = require("@graphkeep/keyv-saver");
      const { main } = require("@graphkeep/cli");
      const { emptyCheckpoint, uuid6 } = require("@langchain/langgraph-checkpoint");
      (async () => {
        const saver = await KeyvSaver.fromUrl("sqlite://${file}");
        const cp = { ...emptyCheckpoint(), id: uuid6(-1), channel_values: { a: 1 }, channel_versions: { a: 1 } };
        await saver.put({ configurable: { thread_id: "cjs-thread" } }, cp, { source: "loop", step: 0, parents: {} }, { a: 1 });
        await saver.close();
        const lines = [];
        const code = await main(["threads", "--store", "sqlite://${file}", "--json"], {
          out: (s) => lines.push(s), err: (s) => lines.push(s), isTTY: false, env: process.env,
        });
        console.log(code, lines.join("").includes("cjs-thread"));
      })().catch((e) => { console.error(e); process.exit(1); });`;
    const out = execFileSync(process.execPath, ["-e", script], { cwd: cliPackage, encoding: "utf8" });
    expect(out.trim()).toBe("0 true");
  });

  it.skipIf(!existsSync(dist))("can be imported from ESM", () => {
    const out = execFileSync(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        `import { KeyvSaver, isGraphkeepError, InvalidConfigError } from "@graphkeep/keyv-saver"; console.log(typeof KeyvSaver, isGraphkeepError(new InvalidConfigError("x")))`,
      ],
      { cwd: consumer, encoding: "utf8" },
    );
    expect(out.trim()).toBe("function true");
  });
});

describe("every package as it is published", () => {
  it("depends on its siblings by range, so one package installed from its tarball resolves the others", () => {
    const root = fileURLToPath(new URL("..", import.meta.url));
    const out = mkdtempSync(join(tmpdir(), "graphkeep-pack-"));
    const exact: string[] = [];
    let checked = 0;
    for (const p of readdirSync(join(root, "packages"))) {
      const dir = join(root, "packages", p);
      if (!existsSync(join(dir, "package.json"))) continue;
      const json = execFileSync("pnpm", ["pack", "--json", "--pack-destination", out], { cwd: dir, encoding: "utf8" });
      const tarball = (JSON.parse(json.slice(json.indexOf("{"))) as { filename: string }).filename;
      const manifest = JSON.parse(
        execFileSync("tar", ["-xzOf", tarball, "package/package.json"], { encoding: "utf8" }),
      ) as Record<string, Record<string, string> | undefined>;
      for (const field of ["dependencies", "peerDependencies", "optionalDependencies"]) {
        for (const [name, range] of Object.entries(manifest[field] ?? {})) {
          if (!name.startsWith("@graphkeep/")) continue;
          checked += 1;
          if (!/^\^\d/.test(range)) exact.push(`${p} ${field} ${name}: ${range}`);
        }
      }
    }
    expect(checked).toBeGreaterThan(5);
    expect(exact).toEqual([]);
  }, 120_000);
});
