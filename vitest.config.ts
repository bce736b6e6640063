import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const src = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  resolve: {
    alias: {
      "@graphkeep/keyv-saver": src("./packages/keyv-saver/src/index.ts"),
      "@graphkeep/core": src("./packages/core/src/index.ts"),
      "@graphkeep/serde": src("./packages/serde/src/index.ts"),
      "@graphkeep/retention": src("./packages/retention/src/index.ts"),
      "@graphkeep/llm-cache": src("./packages/llm-cache/src/index.ts"),
      "@graphkeep/cost": src("./packages/cost/src/index.ts"),
      "@graphkeep/otel": src("./packages/otel/src/index.ts"),
      "@graphkeep/lease": src("./packages/lease/src/index.ts"),
      "@graphkeep/cli": src("./packages/cli/src/index.ts"),
      "@graphkeep/policy": src("./packages/policy/src/index.ts"),
      "@graphkeep/archive": src("./packages/archive/src/index.ts"),
      "@graphkeep/studio": src("./packages/studio/src/index.ts"),
    },
  },
  test: {
    globals: true,
    // starts what the suites need that this machine can run itself (a local Redis Cluster)
    globalSetup: ["./test/global-setup.ts"],
    include: ["packages/*/test/**/*.test.ts", "test/**/*.test.ts"],
    // service-backed suites share servers: one file at a time
    fileParallelism: false,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ["default"],
  },
});
