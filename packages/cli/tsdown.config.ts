import { defineConfig } from "tsdown";
import { packageConfig } from "../../tsdown.base.ts";

/** The library entry (ESM + CJS) plus the `graphkeep` binary (ESM, keeps its shebang). */
export default defineConfig([
  packageConfig,
  { ...packageConfig, entry: ["src/bin.ts"], format: ["esm"], dts: false, clean: false },
]);
