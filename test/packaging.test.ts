import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

// A user's `import` and `require` of the built package both work (run after `pnpm build`, as `pnpm test` does).
const consumer = fileURLToPath(new URL("../examples/resume-sqlite", import.meta.url));
const dist = fileURLToPath(new URL("../packages/keyv-saver/dist/index.cjs", import.meta.url));

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
