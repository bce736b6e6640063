import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

// A user's `require` and `import` of the built package both work (run after `pnpm build`, as `pnpm test` does).
const pkg = fileURLToPath(new URL("..", import.meta.url));
const built = existsSync(fileURLToPath(new URL("../dist/index.cjs", import.meta.url)));
const run = (args: string[]) => execFileSync(process.execPath, args, { cwd: pkg, encoding: "utf8" }).trim();

describe("@graphkeep/llm-cache as built", () => {
  it.skipIf(!built)("can be required from CommonJS, and its caches are LangChain's and LangGraph's caches", () => {
    const out = run([
      "-e",
      `const m = require("./dist/index.cjs"); const Keyv = require("keyv").default;
       console.log(new m.KeyvLLMCache(new Keyv()) instanceof require("@langchain/core/caches").BaseCache,
         new m.KeyvNodeCache(new Keyv()) instanceof require("@langchain/langgraph-checkpoint").BaseCache)`,
    ]);
    expect(out).toBe("true true");
  });

  it.skipIf(!built)("can be imported from ESM", () => {
    const out = run([
      "--input-type=module",
      "-e",
      `import { KeyvLLMCache, KeyvNodeCache } from "./dist/index.mjs"; console.log(typeof KeyvLLMCache, typeof KeyvNodeCache)`,
    ]);
    expect(out).toBe("function function");
  });
});
