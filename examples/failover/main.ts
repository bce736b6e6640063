/**
 * Failover (seed §6.3). A worker holds a thread's lease while it runs and heartbeats it; when the worker dies, the
 * heartbeats stop and the lease expires. A `FailoverWatchdog` (on every worker) finds runs that are still
 * "running" with an expired lease, takes the lease over with a higher fencing token and resumes the thread from its
 * latest checkpoint with `invoke(null)`. The dead worker's late writes would be refused by the fencing check.
 *
 * Here worker 1 takes the lease, runs step1 and dies in step2 without releasing it (as a killed process would);
 * the watchdog resumes the thread at step2. Leases are in Redis / PostgreSQL when the checkpoints are, else in
 * memory (then worker and watchdog share this process).
 *
 *   pnpm example failover
 */
import { FailoverWatchdog, FENCE_KEY } from "@graphkeep/lease";
import { openLease } from "../lib/lease.ts";
import { result, say, section } from "../lib/report.ts";
import { openSaver, runSuffix, storeKind, storeUrl } from "../lib/store.ts";
import { buildWorkflow, initialState } from "../lib/workflow.ts";

const lease = openLease({ ttlMs: 2000, heartbeatMs: 500 });
const checkpointer = await openSaver({ fencing: lease });
const { graph, runs } = buildWorkflow(checkpointer, {
  failures: { step2: [1] },
  onRun: (step, attempt) => say(`run ${step} (attempt ${attempt})`),
});
const threadId = `failover_task-${runSuffix()}`;
console.log(`checkpoints in ${storeUrl}, leases in ${lease.kind}, thread ${threadId}`);

section("1. worker 1 takes the lease and dies during step2");
const handle = await lease.acquire(threadId);
say(`worker 1 holds the lease (owner ${handle.owner}, fencing token ${handle.token})`);
try {
  await graph.invoke(initialState, { configurable: { thread_id: threadId, [FENCE_KEY]: handle.token } });
} catch {
  say("worker 1 is gone: no more heartbeats, the lease is never released");
}
const stalledAt = (await graph.getState({ configurable: { thread_id: threadId } })).next;
say(`the thread waits at ${JSON.stringify(stalledAt)}`);

section("2. the watchdog notices the expired lease and resumes the thread");
const watchdog = new FailoverWatchdog({ lease, graph, saver: checkpointer, intervalMs: 200, maxAttempts: 3 });
const events: string[] = [];
let timer: NodeJS.Timeout | undefined;
const resumed = new Promise<{ durationMs: number }>((resolve, reject) => {
  watchdog.on("takeover", (e) => {
    events.push("takeover");
    say(`takeover of ${e.threadId}: attempt ${e.attempt}, new fencing token ${e.token}`);
  });
  watchdog.on("resumed", (e) => {
    events.push("resumed");
    if (e.threadId === threadId) resolve(e);
  });
  watchdog.on("failed", (e) => {
    events.push("failed");
    if (!e.willRetry) reject(e.error);
  });
  // the watchdog's own timer does not keep the process alive: this one does, until the resume
  timer = setTimeout(() => reject(new Error("the watchdog did not resume the thread within 15 s")), 15_000);
});
const started = Date.now();
watchdog.start();
const { durationMs } = await resumed.finally(() => clearTimeout(timer));
await watchdog.stop();
const final = await graph.getState({ configurable: { thread_id: threadId } });
say(`resumed ${Date.now() - started} ms after the watchdog started (resume took ${durationMs} ms)`);
say(`result: ${final.values.result}; node runs ${JSON.stringify(runs)}`);
const info = await lease.info(threadId);
say(`lease record: state ${info?.state}, token ${info?.token}, takeovers ${info?.attempts}`);

await checkpointer.close();
await lease.close();
result({
  store: storeKind(),
  lease: lease.kind,
  threadId,
  stalledAt,
  events,
  runs,
  final: { current_step: final.values.current_step, result: final.values.result },
  leaseState: info?.state,
  takeovers: info?.attempts,
});
