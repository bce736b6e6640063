import { defineConfig } from "tsdown";
import { packageConfig } from "../../tsdown.base.ts";

/** The library (ESM + CJS) plus the page's script, bundled for the browser into dist/ui (served by the studio). */
export default defineConfig([
  packageConfig,
  {
    entry: { app: "src/ui/app.ts" },
    format: ["iife"],
    platform: "browser",
    target: "es2022",
    outDir: "dist/ui",
    dts: false,
    clean: false,
    minify: true,
  },
]);
