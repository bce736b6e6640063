// Real processes on real Redis / PostgreSQL: workers are forked once (tsx), driven over IPC, killed with signals.
import { type ChildProcess, fork } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { KeyvSaver } from "@graphkeep/keyv-saver";
import { POSTGRES_URL, REDIS_URL } from "../../../test/helpers/backends.js";
import type { WorkerBackend, WorkerConfig } from "./fixtures/worker.js";
import { dropPgTable, dropRedisPrefix, skipOf, sleep, suffix } from "./stores.js";

const root = fileURLToPath(new URL("../../..", import.meta.url));
const script = fileURLToPath(new URL("./fixtures/worker.ts", import.meta.url));
// long enough for heartbeats on a shared 2-core machine under load (a 1 s TTL made resumes lose their own leases)
const TTL = 1500;
const HEARTBEAT = 300;
const INTERVAL = 100;

interface Msg {
  t: string;
  [k: string]: unknown;
}

class Worker {
  readonly proc: ChildProcess;
  readonly messages: Msg[] = [];
  #listeners = new Set<(m: Msg) => void>();
  #ids = 0;

  constructor(config: WorkerConfig) {
    this.proc = fork(script, [JSON.stringify(config)], {
      cwd: root,
      execArgv: ["--import", "tsx"],
      stdio: ["ignore", "ignore", "inherit", "ipc"],
    });
    this.proc.on("message", (m: Msg) => {
      this.messages.push(m);
      for (const l of this.#listeners) l(m);
    });
  }

  get pid(): number {
    return this.proc.pid!;
  }

  /** Resolves with the first message (already received or future) that matches. */
  wait(match: (m: Msg) => boolean, timeoutMs = 40_000): Promise<Msg> {
    const seen = this.messages.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#listeners.delete(l);
        reject(new Error(`worker ${this.pid}: no matching message within ${timeoutMs} ms`));
      }, timeoutMs);
      const l = (m: Msg) => {
        if (!match(m)) return;
        clearTimeout(timer);
        this.#listeners.delete(l);
        resolve(m);
      };
      this.#listeners.add(l);
    });
  }

  /** Starts a guarded run at time `at`; resolves with its outcome. */
  run(backend: string, thread: string, input: Record<string, unknown>, at = 0): Promise<Msg> {
    const id = ++this.#ids;
    this.proc.send({ t: "run", id, backend, thread, input, at });
    return this.wait((m) => m.t === "done" && m.id === id);
  }

  async exit(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const gone = new Promise((r) => this.proc.once("exit", r));
    if (this.proc.connected) this.proc.send({ t: "exit" });
    await Promise.race([gone, sleep(3000)]);
    this.proc.kill("SIGKILL");
  }
}

const available: WorkerBackend[] = [];
const space = suffix();
if (!skipOf("redis")) available.push({ name: "redis", url: REDIS_URL, lease: `gkxp:${space}`, ns: `gkxp${space}` });
if (!skipOf("postgres"))
  available.push({ name: "postgres", url: POSTGRES_URL, lease: `gkxp_${space}`, ns: `gkxp${space}` });

const dir = mkdtempSync(join(tmpdir(), "gk-lease-xp-"));
const log = join(dir, "nodes.log");
writeFileSync(log, "");
/** "<pid> <backend> <thread> <node> <fence>" lines of one thread, in execution order (a run = pid + token). */
const executions = (backend: string, thread: string) =>
  readFileSync(log, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => l.split(" "))
    .filter(([, b, t]) => b === backend && t === thread)
    .map(([pid, , , node, fence]) => ({ pid: Number(pid), node: node!, run: `${pid}:${fence}` }));
const NODES = Array.from({ length: 10 }, (_, i) => `n${i}`);
const config = (tag: string): WorkerConfig => ({ backends: available, ttlMs: TTL, heartbeatMs: HEARTBEAT, log, tag });

async function savers(): Promise<Map<string, KeyvSaver>> {
  const out = new Map<string, KeyvSaver>();
  for (const b of available) out.set(b.name, await KeyvSaver.fromUrl(b.url, { namespace: b.ns }));
  return out;
}

/** Checkpoint ids of a thread, newest first, and whether they form one chain. */
async function history(saver: KeyvSaver, thread: string) {
  const ids: string[] = [];
  const parents: Array<string | undefined> = [];
  for await (const t of saver.list({ configurable: { thread_id: thread, checkpoint_ns: "" } })) {
    ids.push(t.config.configurable!.checkpoint_id);
    parents.push(t.parentConfig?.configurable?.checkpoint_id);
  }
  return { ids, linear: parents.every((p, i) => p === ids[i + 1]) };
}

describe.skipIf(available.length === 0)("one writer per thread across processes", () => {
  let a: Worker;
  let b: Worker;
  let victims: Worker[];
  let stores: Map<string, KeyvSaver>;

  beforeAll(async () => {
    // one worker first, so that it alone creates the tables
    a = new Worker(config("a"));
    await a.wait((m) => m.t === "ready", 45_000);
    b = new Worker(config("b"));
    victims = Array.from({ length: 4 }, (_, i) => new Worker(config(`v${i}`)));
    await Promise.all([b, ...victims].map((w) => w.wait((m) => m.t === "ready", 60_000)));
    for (const w of [a, b]) w.proc.send({ t: "watch", intervalMs: INTERVAL });
    await Promise.all([a, b].map((w) => w.wait((m) => m.t === "watching")));
    stores = await savers();
  }, 90_000);

  afterAll(async () => {
    await Promise.all([a, b, ...(victims ?? [])].filter(Boolean).map((w) => w.exit()));
    for (const [, s] of stores ?? []) {
      await s.keyv.clear().catch(() => undefined);
      await s.close();
    }
    for (const bk of available) {
      if (bk.name === "redis") await dropRedisPrefix(bk.lease);
      else await dropPgTable(bk.lease);
    }
  });

  for (const backend of available) {
    it(`two processes start the same thread at once on ${backend.name}: exactly one runs, the other gets ThreadBusyError (50 trials)`, async () => {
      const saver = stores.get(backend.name)!;
      for (let batch = 0; batch < 5; batch++) {
        const trials = Array.from({ length: 10 }, async (_, i) => {
          const thread = `race-${batch}-${i}`;
          // both start at one instant; each run holds the thread ~300 ms, so on a loaded machine a late starter
          // still finds it held (a start after the whole run had finished would be a second run, not a race)
          const at = Date.now() + 100;
          const [ra, rb] = await Promise.all([
            a.run(backend.name, thread, { n: 2, delay: 150 }, at),
            b.run(backend.name, thread, { n: 2, delay: 150 }, at),
          ]);
          return { thread, outcomes: [ra, rb] };
        });
        for (const { thread, outcomes } of await Promise.all(trials)) {
          const won = outcomes.filter((o) => o.ok);
          const lost = outcomes.filter((o) => !o.ok);
          expect(won, thread).toHaveLength(1);
          expect(won[0]!.steps).toEqual(["n0", "n1"]);
          expect(lost.map((o) => [o.name, o.code])).toEqual([["ThreadBusyError", "THREAD_BUSY"]]);
          expect(executions(backend.name, thread).map((e) => e.node)).toEqual(["n0", "n1"]);
          const h = await history(saver, thread);
          expect(h.linear, thread).toBe(true);
          expect(h.ids).toHaveLength(4); // input, n0, n1, plus the __start__ checkpoint
        }
      }
    }, 60_000);
  }

  it("a worker stopped (SIGSTOP) past its TTL cannot write after another worker took its thread over", async () => {
    // the first victim is stopped here, resumed, and killed in the next test
    const stopped = victims[0]!;
    const runs = available.map((bk) => ({
      bk,
      thread: `stop-${bk.name}`,
      done: stopped.run(bk.name, `stop-${bk.name}`, { n: 3, delay: 300 }),
    }));
    await Promise.all(runs.map((r) => stopped.wait((m) => m.t === "node" && m.thread === r.thread && m.node === "n1")));
    stopped.proc.kill("SIGSTOP");
    await sleep(100);
    // what the stopped worker had started by the time it stopped (a loaded parent may see "n1" late)
    const baseline = runs.map((r) =>
      executions(r.bk.name, r.thread)
        .filter((e) => e.pid === stopped.pid)
        .map((e) => e.node),
    );
    await Promise.all(
      runs.map((r) =>
        Promise.any(
          [a, b].map((w) =>
            w.wait(
              (m) => m.t === "event" && m.event === "resumed" && m.threadId === r.thread && m.backend === r.bk.name,
            ),
          ),
        ),
      ),
    );
    const before = await Promise.all(runs.map((r) => history(stores.get(r.bk.name)!, r.thread)));
    stopped.proc.kill("SIGCONT");
    const outcomes = await Promise.all(runs.map((r) => r.done));
    await sleep(300);
    for (const [i, r] of runs.entries()) {
      expect(outcomes[i], r.bk.name).toMatchObject({ ok: false, name: "LeaseLostError", code: "LEASE_LOST" });
      const after = await history(stores.get(r.bk.name)!, r.thread);
      expect(after.ids, r.bk.name).toEqual(before[i]!.ids);
      expect(after.linear).toBe(true);
      const latest = await stores.get(r.bk.name)!.getTuple({ configurable: { thread_id: r.thread } });
      expect(latest?.checkpoint.channel_values.steps).toEqual(["n0", "n1", "n2"]);
      // after SIGCONT the stopped worker started no other node
      expect(baseline[i]!.length).toBeGreaterThanOrEqual(2);
      expect(
        executions(r.bk.name, r.thread)
          .filter((e) => e.pid === stopped.pid)
          .map((e) => e.node),
      ).toEqual(baseline[i]);
    }
  }, 60_000);

  it(`a worker killed with SIGKILL at a random step is resumed by another worker's watchdog (20 trials per backend)`, async () => {
    interface Trial {
      backend: string;
      thread: string;
      victim: Worker;
      killedAt?: number;
      /** the victim's run ended before the kill: it completed (a late kill), or lost its lease (a stalled store) */
      endedEarly?: Msg;
    }
    const trials: Trial[] = [];
    // each victim runs 5 threads per backend, started at random offsets, and is killed at a random moment while all
    // of them are mid-run (10 nodes of 80 ms: a run takes > 800 ms; the kill lands 60–700 ms into each)
    await Promise.all(
      victims.map(async (victim, v) => {
        // one victim every 600 ms, so that the victims' runs do not starve a 2-core machine
        const start = Date.now() + 50 + v * 600;
        const mine: Trial[] = [];
        for (const bk of available) {
          for (let j = 0; j < 5; j++) {
            const t: Trial = { backend: bk.name, thread: `kill-${v}-${j}`, victim };
            mine.push(t);
            void victim.run(bk.name, t.thread, { n: 10, delay: 80 }, start + Math.floor(Math.random() * 240)).then(
              (m) => {
                t.endedEarly = m;
              },
              () => undefined,
            );
          }
        }
        trials.push(...mine);
        const started = Promise.all(
          mine.map((t) =>
            victim.wait((m) => m.t === "node" && m.thread === t.thread && m.backend === t.backend && m.node === "n0"),
          ),
        );
        await sleep(start + 300 + Math.random() * 400 - Date.now());
        await Promise.race([started, sleep(10_000)]);
        victim.proc.kill("SIGKILL");
        const killedAt = Date.now();
        for (const t of mine) t.killedAt = killedAt;
      }),
    );
    const first = (t: Trial, names: string[]) =>
      Promise.any(
        [a, b].map((w) =>
          w.wait(
            (m) =>
              m.t === "event" &&
              names.includes(m.event as string) &&
              m.threadId === t.thread &&
              m.backend === t.backend,
          ),
        ),
      );
    const outcomes = await Promise.all(
      trials.map(async (t) =>
        t.endedEarly?.ok
          ? { t, takeover: undefined, end: undefined }
          : { t, takeover: await first(t, ["takeover"]), end: await first(t, ["resumed", "skipped"]) },
      ),
    );
    const latencies: number[] = [];
    const killSteps: number[] = [];
    let resumed = 0;
    for (const { t, takeover, end } of outcomes) {
      const name = `${t.backend} ${t.thread}`;
      const runs = executions(t.backend, t.thread);
      const byVictim = runs.filter((r) => r.pid === t.victim.pid);
      if (end?.event === "skipped") {
        // killed after its last checkpoint but before releasing: nothing was left to run
        expect(end, name).toMatchObject({ reason: "completed" });
        expect(byVictim, name).toHaveLength(NODES.length);
      } else if (end) {
        expect(end, name).toMatchObject({ event: "resumed" });
        resumed++;
        killSteps.push(byVictim.length - 1);
      }
      if (t.endedEarly && !t.endedEarly.ok) {
        // a run only ends before the kill when it completes or loses its lease
        expect(t.endedEarly, name).toMatchObject({ code: "LEASE_LOST" });
      } else if (takeover) {
        const latency = Number(takeover.at) - t.killedAt!;
        latencies.push(latency);
        expect(latency, name).toBeGreaterThan(0);
        // TTL + interval, plus slack for a shared, loaded machine
        expect(latency, name).toBeLessThan(TTL + INTERVAL + 3000);
      }
      const state = (await stores.get(t.backend)!.getTuple({ configurable: { thread_id: t.thread } }))!;
      expect(state.checkpoint.channel_values.steps, name).toEqual(NODES);
      // executions in order: a worker runs consecutive nodes; the next worker starts at the node in flight when
      // the previous one died (its writes were not saved) or at the one after it. Nothing else runs twice.
      expect(runs[0]?.node, name).toBe("n0");
      expect(runs.at(-1)?.node, name).toBe("n9");
      let handovers = 0;
      for (let i = 1; i < runs.length; i++) {
        const prev = NODES.indexOf(runs[i - 1]!.node);
        const cur = NODES.indexOf(runs[i]!.node);
        if (runs[i]!.run === runs[i - 1]!.run) expect(cur, name).toBe(prev + 1);
        else {
          handovers++;
          expect([prev, prev + 1], name).toContain(cur);
        }
      }
      expect(runs.length, name).toBeLessThanOrEqual(NODES.length + handovers);
      expect((await history(stores.get(t.backend)!, t.thread)).linear, name).toBe(true);
    }
    expect(trials).toHaveLength(20 * available.length);
    const early = trials.filter((t) => t.endedEarly).length;
    // most trials were killed mid-run, at different steps, and resumed
    expect(resumed).toBeGreaterThanOrEqual(trials.length / 2);
    expect(new Set(killSteps).size).toBeGreaterThan(2);
    console.info(
      `failover: ${trials.length} trials, ${resumed} resumed after a kill at steps ${[...new Set(killSteps)].sort((x, y) => x - y).join(",")}, ${early} ended before the kill; takeover ${Math.min(...latencies)}–${Math.max(...latencies)} ms after SIGKILL (TTL ${TTL}, interval ${INTERVAL})`,
    );
  }, 60_000);
});
