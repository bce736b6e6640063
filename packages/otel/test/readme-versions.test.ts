import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

// Issue 18.10: the packages the README tells to install must resolve together. Each OpenTelemetry package it names
// with a version is read from the workspace's store (the versions the tests and examples/otel run on) and its peer
// range for @opentelemetry/api must accept every 1.x.y the README's api range allows.

const root = fileURLToPath(new URL("../../..", import.meta.url));
const readme = readFileSync(join(root, "packages", "otel", "README.md"), "utf8");

type Version = [number, number, number];
const parse = (v: string): Version => {
  const m = /^(\d+)\.(\d+)\.(\d+)$/.exec(v.trim());
  if (!m) throw new Error(`not a version: ${v}`);
  return [Number(m[1]), Number(m[2]), Number(m[3])];
};
const cmp = (a: Version, b: Version) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2];

/** The npm range forms OpenTelemetry uses: `>=a <b`, `^a`, `~a`, `a`, joined by spaces (no `||`). */
function satisfies(version: Version, range: string): boolean {
  return range
    .trim()
    .split(/\s+/)
    .every((c) => {
      const m = /^(>=|<=|>|<|\^|~)?(.+)$/.exec(c);
      if (!m?.[2]) throw new Error(`unsupported range ${range}`);
      const v = parse(m[2]);
      switch (m[1]) {
        case ">=":
          return cmp(version, v) >= 0;
        case "<=":
          return cmp(version, v) <= 0;
        case ">":
          return cmp(version, v) > 0;
        case "<":
          return cmp(version, v) < 0;
        case "^":
          return cmp(version, v) >= 0 && version[0] === v[0];
        case "~":
          return cmp(version, v) >= 0 && version[0] === v[0] && version[1] === v[1];
        default:
          return cmp(version, v) === 0;
      }
    });
}

describe("the OTel README's install lines", () => {
  it("name SDK package versions whose @opentelemetry/api peer range accepts the api version they name", () => {
    const commands = [...readme.matchAll(/^pnpm add (.+)$/gm)].map((m) => m[1] as string).join(" ");
    const specs = [...commands.matchAll(/@opentelemetry\/([a-z-]+)@(\S+)/g)].map((m) => ({
      name: m[1] as string,
      version: m[2] as string,
    }));
    const api = specs.find((s) => s.name === "api");
    expect(api?.version, "the install line names an @opentelemetry/api version").toMatch(/^~1\.\d+\.\d+$/);
    const base = parse((api?.version ?? "~0.0.0").slice(1));
    // the lowest and a high patch of the api range the README names
    const apiVersions: Version[] = [base, [base[0], base[1], 99]];
    const sdk = specs.filter((s) => s.name !== "api");
    expect(sdk.length).toBeGreaterThanOrEqual(3);
    const store = join(root, "node_modules", ".pnpm");
    for (const { name, version } of sdk) {
      const dir = readdirSync(store).find(
        (d) => d === `@opentelemetry+${name}@${version}` || d.startsWith(`@opentelemetry+${name}@${version}_`),
      );
      expect(dir, `@opentelemetry/${name}@${version} is the version installed in this workspace`).toBeDefined();
      const pkg = join(store, dir as string, "node_modules", "@opentelemetry", name, "package.json");
      expect(existsSync(pkg)).toBe(true);
      const peer = (JSON.parse(readFileSync(pkg, "utf8")) as { peerDependencies?: Record<string, string> })
        .peerDependencies?.["@opentelemetry/api"];
      expect(peer, `${name} has an @opentelemetry/api peer`).toBeDefined();
      for (const v of apiVersions) {
        expect(
          satisfies(v, peer as string),
          `@opentelemetry/${name}@${version} peers api "${peer}"; README api ${v.join(".")}`,
        ).toBe(true);
      }
    }
    // and the range check itself rejects what the issue hit: api 1.10 against the SDK 2.12 range
    expect(satisfies([1, 10, 0], ">=1.3.0 <1.10.0")).toBe(false);
  });
});
