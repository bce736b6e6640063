/**
 * A worker process of `pnpm bench:scale` (forked with IPC; argv[2] is a JSON WorkerTask).
 * mode "load": after { t: "go", startAt, endAt } runs 5-step threads one after another until endAt, then sends
 * { t: "result", steps, latencies } (a step: from one stored checkpoint of a thread to its next).
 * mode "chaos": the same threads under withThreadLease, with a FailoverWatchdog; every node first appends
 * `<thread>:<node>` to a Redis list (the side channel). After { endAt } it runs threads until endAt, then
 * keeps its watchdog running until SIGTERM.
 */
import { randomUUID } from "node:crypto";
import { buildGraph, openStore, type WorkerTask } from "./scale-graph.js";

const send = (m: unknown) => {
  if (process.connected) process.send?.(m);
};

async function load(task: WorkerTask): Promise<void> {
  const { saver, close } = await openStore(task);
  const marks = new Map<string, number>();
  const latencies: number[] = [];
  let recording = false;
  const put = saver.put.bind(saver);
  saver.put = async (...args: Parameters<typeof put>) => {
    const out = await put(...args);
    const thread = String(args[0].configurable?.thread_id);
    const now = performance.now();
    const last = marks.get(thread);
    if (last !== undefined && recording) latencies.push(now - last);
    marks.set(thread, now);
    return out;
  };
  const graph = buildGraph(saver);
  let threads = 0;
  const run = async () => {
    threads += 1;
    const thread = `w${process.pid}-${randomUUID().slice(0, 8)}`;
    await graph.invoke({ steps: [] }, { configurable: { thread_id: thread }, durability: "sync" });
    marks.delete(thread);
  };
  await run(); // warm-up: connections, JIT
  send({ t: "ready" });
  const go = await new Promise<{ startAt: number; endAt: number }>((r) =>
    process.once("message", (m) => r(m as { startAt: number; endAt: number })),
  );
  await new Promise((r) => setTimeout(r, Math.max(0, go.startAt - Date.now())));
  recording = true;
  while (Date.now() < go.endAt) await run();
  recording = false;
  send({ t: "result", steps: latencies.length, latencies, threads });
  await close();
  process.exit(0);
}

async function chaos(task: WorkerTask): Promise<void> {
  const { FailoverWatchdog, redisLease, withThreadLease } = await import("../../packages/lease/src/index.ts");
  const { createClient } = await import("@keyv/redis");
  const side = createClient({ url: task.redisUrl });
  side.on("error", () => undefined);
  await side.connect();
  const lease = redisLease({
    url: task.redisUrl!,
    keyPrefix: `${task.id}:lease`,
    ttlMs: task.ttlMs!,
    heartbeatMs: task.heartbeatMs!,
    owner: `scale:${process.pid}`,
  });
  const { KeyvSaver } = await import("../../packages/keyv-saver/src/index.ts");
  const saver = await KeyvSaver.fromUrl(task.url, { namespace: task.id, fencing: lease });
  const graph = buildGraph(saver, async (thread, node) => {
    await side.rPush(`${task.id}:side`, `${thread}:${node}`);
  });
  const guarded = withThreadLease(graph, lease);
  const watchdog = new FailoverWatchdog({
    lease,
    graph,
    saver,
    intervalMs: task.intervalMs!,
    maxAttempts: 5,
    concurrency: 8,
    backoff: { initialMs: 100, maxMs: 1000 },
    resumeConfig: () => ({ durability: "sync" }),
  });
  watchdog.on("resumed", ({ threadId }) => send({ t: "resumed", threadId }));
  watchdog.on("failed", ({ threadId }) => send({ t: "failed", threadId }));
  watchdog.start();
  let stopping = false;
  process.on("SIGTERM", async () => {
    stopping = true;
    await watchdog.stop();
    await lease.close();
    await saver.close();
    await side.close();
    process.exit(0);
  });
  // the watchdog's timer does not keep the process alive: this does, until SIGTERM
  setInterval(() => undefined, 1000);
  send({ t: "ready" });
  const { endAt } = await new Promise<{ endAt: number }>((r) =>
    process.once("message", (m) => r(m as { endAt: number })),
  );
  while (!stopping && Date.now() < endAt) {
    const thread = `k${await side.incr(`${task.id}:next`)}`;
    try {
      await guarded.invoke(
        { steps: [] } as never,
        { configurable: { thread_id: thread }, durability: "sync" } as never,
      );
    } catch (e) {
      send({ t: "error", thread, message: e instanceof Error ? e.message : String(e) });
    }
  }
  send({ t: "idle" });
}

const task = JSON.parse(process.argv[2]!) as WorkerTask;
await (task.mode === "load" ? load(task) : chaos(task));
