// Runs every example of examples/ as a child process (as `pnpm example <name> --json` does) against a temporary
// SQLite file and against Redis (PostgreSQL for `production`), and checks the facts of its @@RESULT line.
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { KeyvSaver } from "@graphkeep/keyv-saver";
import { POSTGRES_URL, REDIS_URL, REQUIRE_SERVICES, reachable } from "./helpers/backends.js";

const root = fileURLToPath(new URL("..", import.meta.url));
type Result = Record<string, unknown> & { skipped?: string };

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  result: Result;
}

let nextPort = 20_000 + Math.floor(Math.random() * 20_000);

/** Runs `examples/<name>/main.ts --json` (or, with `viaDispatcher`, `examples/run.ts <name> …`). */
function runExample(name: string, env: Record<string, string>, viaDispatcher = false, args = ["--json"]): Promise<Run> {
  const script = viaDispatcher ? [join(root, "examples/run.ts"), name] : [join(root, `examples/${name}/main.ts`)];
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", ...script, ...args],
      {
        cwd: root,
        timeout: 120_000,
        env: { ...process.env, OPENAI_API_KEY: "", PROMETHEUS_PORT: String(nextPort++), ...env },
      },
      (error, stdout, stderr) => {
        const line = stdout.split("\n").find((l) => l.startsWith("@@RESULT "));
        const result = line ? (JSON.parse(line.slice("@@RESULT ".length)) as Result) : {};
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr, result });
      },
    );
  });
}

/** The checks of each example's result, whatever the store. */
const checks: Record<string, (r: Result) => void> = {
  resume: (r) => {
    expect(r.nextAfterFailure).toEqual(["step2"]);
    // the failed step re-ran once; the finished one did not
    expect(r.runs).toEqual({ step1: 1, step2: 2, step3: 1 });
    expect(r.final).toMatchObject({ current_step: 3, result: "task complete!" });
  },
  retry: (r) => {
    expect(r.attempts).toBe(3);
    expect(r.runs).toEqual({ step1: 1, step2: 3, step3: 1 });
  },
  inspect: (r) => {
    expect(r.checkpoints).toBe(5);
    expect(r.steps).toEqual([3, 2, 1, 0, -1]);
    expect(r.infoCount).toBe(5);
    expect((r.stats as { bytes: number }).bytes).toBeGreaterThan(0);
  },
  "time-travel": (r) => {
    expect(r.rewoundTo).toEqual({ current_step: 1, next: ["step2"] });
    expect(r.rerunNodes).toEqual({ step1: 0, step2: 1, step3: 1 });
    expect(r.checkpointsAfter).toBe((r.checkpointsBefore as number) + 3);
  },
  "selective-rerun": (r) => {
    expect(r.firstRequests).toBe(5);
    expect(r.affected).toEqual(["calculate_base", "calculate_derived", "validate", "format_output"]);
    expect(r.rerunNodes).toEqual(r.affected);
    // calculate_base's unchanged prompt is served by the cache
    expect(r.rerunRequests).toBe(3);
    expect(r.cacheHits).toBe(1);
    expect(r.after).toMatchObject({ quantity: 1200, verdict: "valid" });
  },
  branches: (r) => {
    expect(r.mainUnchanged).toBe(true);
    expect(r.a).toContain("step 2 done (experiment_a)");
    expect(r.b).toContain("step 2 done (experiment_b)");
    expect(r.runs).toEqual({ step1: 1, step2: 3, step3: 3 });
  },
  "concurrent-runs": (r) => {
    expect(r.busyErrors).toBe(1);
    expect(r.completed).toBe(1);
    expect(r.waitedCompleted).toBe(2);
    expect(r.finalLog).toEqual(["edit #1", "edit #2", "edit #3"]);
  },
  "distributed-resume": (r) => {
    const a = r.machineA as { pid: number; nextWhenLost: string[] };
    const b = r.machineB as { pid: number; runs: Record<string, number>; foundNext: string[] };
    expect(b.pid).not.toBe(a.pid);
    expect(a.nextWhenLost).toEqual(["step3"]);
    expect(b.runs).toEqual({ step1: 0, step2: 0, step3: 1 });
    expect(r.final).toMatchObject({ current_step: 3, result: "task complete!" });
  },
  failover: (r) => {
    expect(r.stalledAt).toEqual(["step2"]);
    expect(r.events).toEqual(["takeover", "resumed"]);
    expect(r.runs).toEqual({ step1: 1, step2: 2, step3: 1 });
    expect(r.takeovers).toBe(1);
  },
  "llm-cache": (r) => {
    expect(r.firstRunRequests).toBe(3);
    expect(r.resumeRequests).toBe(0);
    expect(r.replayRequests).toBe(0);
    expect(r.identical).toBe(true);
    expect(r.otherThreadRequests).toBe(3);
  },
  "cost-budget": (r) => {
    expect(r.stoppedBy).toBe("BudgetExceededError");
    expect(r.requestsBeforeStop).toBe(2);
    expect(r.nextWhenStopped).toEqual(["pricing"]);
    expect(r.resumedFinished).toBe(true);
    expect(r.requests).toBe(4);
    expect(r.calls).toBe(4);
    expect(r.totalUsd as number).toBeCloseTo(4 * (2000 * 0.15 + 400 * 0.6) * 1e-6, 9);
  },
  retention: (r) => {
    expect(r.before).toEqual([32, 32]);
    expect(r.after).toEqual([10, 10]);
    expect(r.dryRun).toEqual(r.sweep);
    expect(r.resumedSteps).toBe(35);
    expect(r.liveCheckpoints as number).toBeLessThanOrEqual(14);
  },
  otel: (r) => {
    expect(r.requests).toBe(3);
    const spans = r.spans as Record<string, number>;
    expect(spans["chat gpt-4o-mini"]).toBe(3);
    expect(spans["invoke_agent support-agent"]).toBe(2);
    expect(spans["put graphkeep"]).toBeGreaterThan(0);
    expect(r.metrics).toEqual(expect.arrayContaining(["graphkeep_checkpoint_size_count"]));
  },
  "cot-agent": (r) => {
    expect(r.resumedAtStep).toBe(2);
    // 1 plan + 3 steps + 1 conclusion: nothing paid twice
    expect(r.requests).toBe(5);
    expect(r.isComplete).toBe(true);
    expect(r.finalAnswer).toContain("10 employees");
  },
  production: (r) => {
    expect(r.requests).toBe(8);
    expect(r.calls).toBe(8);
    expect(r.keptCheckpoints as number).toBeLessThanOrEqual(12);
    expect(r.decrypted).toBe(true);
    expect(r.readableWithoutKey).toBe(false);
    expect(r.leaseState).toBe("done");
    expect((r.spans as Record<string, number>)["invoke_agent production-cot-agent"]).toBe(1);
  },
};

const names = Object.keys(checks);
/** The examples whose store matters most (persistence across runs, processes, leases, cache and cost on the server). */
const serverNames = [
  "resume",
  "distributed-resume",
  "concurrent-runs",
  "failover",
  "llm-cache",
  "cost-budget",
  "retention",
  "production",
];

it("`pnpm example` without a known name lists every example and exits 2", async () => {
  const [none, unknown, resume] = await Promise.all([
    runExample("", {}, true, []),
    runExample("nope", {}, true, []),
    runExample("resume", { GRAPHKEEP_STORE: "memory:" }, true),
  ]);
  expect(none.code).toBe(2);
  expect(unknown.code).toBe(2);
  expect(unknown.stderr).toContain('unknown example "nope"');
  for (const n of names) expect(none.stderr).toContain(n);
  // a known name runs the example with the arguments given
  expect(resume.code, resume.stderr).toBe(0);
  expect(resume.result.runs).toEqual({ step1: 1, step2: 2, step3: 1 });
}, 150_000);

describe.concurrent("every example on a temporary SQLite file", () => {
  for (const name of names) {
    it(`${name}: its result line holds what it shows`, async () => {
      const file = join(mkdtempSync(join(tmpdir(), "graphkeep-ex-")), "example.db");
      const run = await runExample(name, { GRAPHKEEP_STORE: `sqlite://${file}`, POSTGRES_URL: "" });
      expect(run.code, run.stderr).toBe(0);
      expect(run.result.skipped).toBeUndefined();
      if (name !== "production") expect(run.stdout).toContain(file);
      checks[name]?.(run.result);
    }, 150_000);
  }
});

async function serverOk(name: string, url: string, port: number): Promise<boolean> {
  if (await reachable(url, port)) return true;
  const reason = `${name} not reachable at ${url}`;
  if (REQUIRE_SERVICES) throw new Error(`GRAPHKEEP_REQUIRE_SERVICES=1 but ${reason}`);
  console.warn(`skipping the examples on ${name}: ${reason}`);
  return false;
}
const redisOk = await serverOk("redis", REDIS_URL, 6379);
const pgOk = await serverOk("postgres", POSTGRES_URL, 5432);

describe.skipIf(!redisOk || !pgOk).concurrent("the store-bound examples on Redis (production on PostgreSQL)", () => {
  const namespace = `gkex${randomUUID().slice(0, 8)}`;
  afterAll(async () => {
    for (const url of [REDIS_URL, POSTGRES_URL]) {
      const saver = await KeyvSaver.fromUrl(url, { namespace });
      for await (const t of saver.listThreads()) await saver.deleteThread(t.threadId);
      await saver.close();
    }
  });
  for (const name of serverNames) {
    it(`${name}: the same facts on a server store`, async () => {
      const run = await runExample(name, {
        GRAPHKEEP_STORE: REDIS_URL,
        GRAPHKEEP_NAMESPACE: namespace,
        POSTGRES_URL,
      });
      expect(run.code, run.stderr).toBe(0);
      if (["concurrent-runs", "failover"].includes(name)) expect(run.result.lease).toBe("redis");
      if (name === "distributed-resume") expect(run.result.store).toBe("redis");
      if (name === "production") expect(run.result).toMatchObject({ store: "postgres", lease: "postgres" });
      checks[name]?.(run.result);
    }, 150_000);
  }
});
