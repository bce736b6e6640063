import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

// Issue 18.8: every TypeScript snippet in the READMEs compiles as written, imports included, against the built
// packages (their published `exports` and `.d.ts`, as a user installing them gets). `pnpm test` builds first.
// Every ```ts block is checked (none is fenced otherwise: a snippet a user copies must run as written).

const root = fileURLToPath(new URL("..", import.meta.url));
const work = join(root, "test", ".snippets");

interface Snippet {
  file: string;
  line: number;
  code: string;
}

function readmes(): string[] {
  const out = [join(root, "README.md")];
  for (const p of readdirSync(join(root, "packages"))) {
    const f = join(root, "packages", p, "README.md");
    if (existsSync(f)) out.push(f);
  }
  return out;
}

function snippets(): Snippet[] {
  const out: Snippet[] = [];
  for (const file of readmes()) {
    const text = readFileSync(file, "utf8");
    const re = /^```(ts|typescript)[ \t]*\n([\s\S]*?)^```/gm;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      out.push({ file: relative(root, file), line: text.slice(0, m.index).split("\n").length, code: m[2]! });
    }
  }
  return out;
}

describe("the README snippets", () => {
  it("every ```ts block typechecks as a module against the built packages", () => {
    const all = snippets();
    // a block fenced as anything but ts/typescript would escape the check
    for (const file of readmes()) {
      const fenced = readFileSync(file, "utf8").match(/^```ts[ \t]+\S.*$/gm) ?? [];
      expect(fenced, `${relative(root, file)}: ts blocks with a fence suffix are not checked`).toEqual([]);
    }
    expect(all.length).toBeGreaterThan(10);
    rmSync(work, { recursive: true, force: true });
    mkdirSync(join(work, "node_modules", "@graphkeep"), { recursive: true });
    // the published packages, resolved through their package.json exports (dist), not the sources
    for (const p of readdirSync(join(root, "packages"))) {
      if (!existsSync(join(root, "packages", p, "package.json"))) continue;
      const name = JSON.parse(readFileSync(join(root, "packages", p, "package.json"), "utf8")).name as string;
      symlinkSync(join(root, "packages", p), join(work, "node_modules", ...name.split("/")), "dir");
    }
    // what a user installs beside the packages (their peers: better-sqlite3, pg…), when the root lacks it
    for (const p of readdirSync(join(root, "packages"))) {
      const nm = join(root, "packages", p, "node_modules");
      if (!existsSync(nm)) continue;
      for (const entry of readdirSync(nm)) {
        if (entry.startsWith(".") || entry === "@graphkeep") continue;
        const names = entry.startsWith("@") ? readdirSync(join(nm, entry)).map((n) => `${entry}/${n}`) : [entry];
        for (const name of names) {
          const target = join(work, "node_modules", name);
          if (existsSync(join(root, "node_modules", name)) || existsSync(target)) continue;
          mkdirSync(join(target, ".."), { recursive: true });
          symlinkSync(join(nm, name), target, "dir");
        }
      }
    }
    const names = all.map((s, i) => {
      const name = `s${String(i).padStart(3, "0")}.ts`;
      // top-level await and `export {}` make each block a module of its own
      writeFileSync(join(work, name), `${s.code}\nexport {};\n`);
      return name;
    });
    writeFileSync(
      join(work, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "ES2022",
          module: "NodeNext",
          moduleResolution: "NodeNext",
          lib: ["ES2022", "DOM"],
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          types: ["node"],
          typeRoots: [join(root, "node_modules", "@types")],
        },
        files: names,
      }),
    );
    writeFileSync(join(work, "package.json"), JSON.stringify({ type: "module", private: true }));
    const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
    const r = spawnSync(process.execPath, [tsc, "-p", join(work, "tsconfig.json")], { encoding: "utf8", cwd: work });
    // map each error back to its README and line
    const errors = (r.stdout + r.stderr)
      .split("\n")
      .filter((l) => /^s\d{3}\.ts\(\d+,\d+\): error/.test(l))
      .map((l) => {
        const [, n, line, rest] = /^s(\d{3})\.ts\((\d+),\d+\): (.*)$/.exec(l)!;
        const s = all[Number(n)]!;
        return `${s.file}:${s.line + Number(line)}: ${rest}`;
      });
    expect(errors, errors.join("\n")).toEqual([]);
    expect(r.status, r.stdout + r.stderr).toBe(0);
  }, 120_000);
});
