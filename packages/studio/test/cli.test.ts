import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { type Written, writeThreads } from "./fixture.js";

// `graphkeep studio` as a user runs it: a process that prints its URL first, serves the store, stops on Ctrl-C.

const root = fileURLToPath(new URL("../../..", import.meta.url));
const tsx = join(root, "node_modules/.bin/tsx");
const bin = join(root, "packages/cli/src/bin.ts");
const dir = mkdtempSync(join(tmpdir(), "graphkeep-studio-cli-"));
const running: ChildProcess[] = [];

/** Starts `graphkeep <args>` and resolves with the first line it prints (the URL) and what it wrote to stderr. */
function studio(args: string[]): Promise<{ child: ChildProcess; url: string; stderr: () => string }> {
  const child = spawn(tsx, [bin, ...args], { cwd: root, env: { ...process.env, NO_COLOR: "1" } });
  running.push(child);
  let out = "";
  let err = "";
  child.stderr?.on("data", (d) => {
    err += d;
  });
  return new Promise((resolve, reject) => {
    child.stdout?.on("data", (d) => {
      out += d;
      const m = /graphkeep studio: (http:\/\/\S+)/.exec(out);
      if (m?.[1]) resolve({ child, url: m[1], stderr: () => err });
    });
    child.once("exit", (code) => reject(new Error(`exited ${code} before printing its URL: ${err}`)));
  });
}

const exited = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.once("exit", (code) => resolve(code));
  });

describe("graphkeep studio", () => {
  let w: Written;
  const store = `sqlite://${join(dir, "cli.db")}`;
  beforeAll(async () => {
    w = await writeThreads(store);
  });
  afterEach(async () => {
    for (const c of running.splice(0)) if (c.exitCode === null) c.kill("SIGKILL");
  });

  it("prints its loopback URL first, serves the store's threads and stops on SIGINT", async () => {
    const s = await studio(["--store", store, "studio", "--port", "0"]);
    expect(s.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const page = (await (await fetch(`${s.url}api/threads`)).json()) as { rows: Array<{ threadId: string }> };
    expect(page.rows.map((r) => r.threadId).sort()).toEqual([w.branched, w.waiting].sort());
    const html = await (await fetch(s.url)).text();
    expect(html).toContain('<script src="/assets/app.js"');
    s.child.kill("SIGINT");
    expect(await exited(s.child)).toBe(0);
  }, 60_000);

  it("with --read-only refuses a fork even with the page's token", async () => {
    const s = await studio(["--store", store, "studio", "--port", "0", "--read-only"]);
    const html = await (await fetch(s.url)).text();
    const token = /name="graphkeep-token" content="([^"]+)"/.exec(html)?.[1] as string;
    const origin = new URL(s.url).origin;
    const res = await fetch(`${s.url}api/threads/${w.waiting}/fork`, {
      method: "POST",
      headers: { "x-graphkeep-token": token, origin, "content-type": "application/json" },
      body: JSON.stringify({ at: "x", to: "y" }),
    });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/read-only/);
    s.child.kill("SIGINT");
    expect(await exited(s.child)).toBe(0);
  }, 60_000);

  it("explains a store it cannot open on stderr and on the page, never with a stack trace", async () => {
    const s = await studio(["--store", `sqlite://${join(dir, "missing.db")}`, "studio", "--port", "0"]);
    await new Promise((r) => setTimeout(r, 200));
    expect(s.stderr()).toMatch(/graphkeep: .*missing\.db/);
    const html = await (await fetch(s.url)).text();
    expect(html).toContain("The studio cannot read this store");
    expect(html).toContain("STORE_NOT_FOUND");
    const api = await fetch(`${s.url}api/threads`);
    expect(api.status).toBe(503);
    expect(await api.text()).not.toMatch(/\n\s+at /);
    s.child.kill("SIGINT");
    expect(await exited(s.child)).toBe(0);
  }, 60_000);

  it("beyond loopback prints a URL with a token and refuses requests without it", async () => {
    const s = await studio(["--store", store, "studio", "--port", "0", "--host", "0.0.0.0"]);
    const url = new URL(s.url);
    const token = url.searchParams.get("token");
    expect(token).toMatch(/^[\w-]{20,}$/);
    const base = `http://127.0.0.1:${url.port}`;
    expect((await fetch(`${base}/api/threads`)).status).toBe(403);
    expect((await fetch(`${base}/api/threads?token=wrong`)).status).toBe(403);
    expect((await fetch(`${base}/api/threads?token=${token}`)).status).toBe(200);
    s.child.kill("SIGINT");
    expect(await exited(s.child)).toBe(0);
  }, 60_000);
});
