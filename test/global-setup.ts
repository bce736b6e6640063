import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";

// What `pnpm test` starts for itself: a local 3-master Redis Cluster on free ports (the cluster suites), when
// REDIS_CLUSTER_URL does not name one and this machine has redis-server. Torn down after the run.

declare module "vitest" {
  export interface ProvidedContext {
    /** `redis+cluster://…` of the cluster this run started, or "" when it started none */
    redisClusterUrl: string;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

function has(bin: string): boolean {
  try {
    execFileSync(bin, ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

const cli = (port: number, ...args: string[]) =>
  execFileSync("redis-cli", ["-p", String(port), ...args], { encoding: "utf8" }).replaceAll("\r", "");

async function until(what: string, ok: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      if (ok()) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`global setup: ${what} within ${ms} ms`);
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  project.provide("redisClusterUrl", "");
  if (process.env.REDIS_CLUSTER_URL || !has("redis-server") || !has("redis-cli")) return undefined;
  const dir = mkdtempSync(join(tmpdir(), "graphkeep-cluster-"));
  const nodes: Array<{ port: number; proc: ChildProcess }> = [];
  const stop = async () => {
    for (const n of nodes) n.proc.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < 3; i++) {
      const [port, bus] = [await freePort(), await freePort()];
      const proc = spawn(
        "redis-server",
        [
          ...["--port", String(port), "--cluster-port", String(bus), "--bind", "127.0.0.1"],
          ...["--cluster-enabled", "yes", "--cluster-config-file", join(dir, `${port}.conf`)],
          ...["--cluster-node-timeout", "5000", "--save", "", "--appendonly", "no", "--dir", dir],
        ],
        { stdio: "ignore" },
      );
      nodes.push({ port, proc });
    }
    for (const n of nodes)
      await until(`redis-server on port ${n.port} answering`, () => cli(n.port, "ping").trim() === "PONG");
    execFileSync(
      "redis-cli",
      ["--cluster", "create", ...nodes.map((n) => `127.0.0.1:${n.port}`), "--cluster-replicas", "0", "--cluster-yes"],
      {
        stdio: "ignore",
      },
    );
    await until("the cluster reaching cluster_state:ok", () =>
      nodes.every((n) => /cluster_state:ok/.test(cli(n.port, "cluster", "info"))),
    );
  } catch (e) {
    await stop();
    console.warn(
      `global setup: could not start a local Redis Cluster (${(e as Error).message}); cluster suites use REDIS_CLUSTER_URL or 7000-7002`,
    );
    return undefined;
  }
  project.provide("redisClusterUrl", `redis+cluster://${nodes.map((n) => `127.0.0.1:${n.port}`).join(",")}`);
  return stop;
}
