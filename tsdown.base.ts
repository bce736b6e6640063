import { defineConfig } from "tsdown";

/** The build every graphkeep package shares: ESM + CJS with type declarations, for Node 20. */
export const packageConfig = defineConfig({
  entry: ["src/index.ts"],
  format: ["esm", "cjs"],
  dts: true,
  clean: true,
  target: "node20",
});
