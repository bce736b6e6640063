/**
 * Concurrent runs on one thread are refused (seed §6.1). The seed's optimistic lock detects a conflicting write
 * after the fact; `withThreadLease` prevents it: a run takes the thread's lease (with a fencing token the
 * checkpointer checks) before it starts, so a second run of the same thread fails fast with `ThreadBusyError`
 * (or, with `onBusy: "wait"`, waits its turn). Leases live in Redis or PostgreSQL when the checkpoints do, so
 * this holds across processes; with the embedded SQLite file, in this process.
 *
 *   pnpm example concurrent-runs
 */
import { isThreadBusyError, withThreadLease } from "@graphkeep/lease";
import { Annotation, END, START, StateGraph } from "@langchain/langgraph";
import { openLease } from "../lib/lease.ts";
import { result, say, section } from "../lib/report.ts";
import { openSaver, runSuffix, storeKind, storeUrl } from "../lib/store.ts";

const lease = openLease({ ttlMs: 5000 });
const checkpointer = await openSaver({ fencing: lease });
const State = Annotation.Root({ log: Annotation<string[]>({ reducer: (a, b) => a.concat(b), default: () => [] }) });
const graph = new StateGraph(State)
  .addNode("edit", async (s) => {
    await new Promise((r) => setTimeout(r, 400)); // a slow step: the model is thinking
    return { log: [`edit #${s.log.length + 1}`] };
  })
  .addEdge(START, "edit")
  .addEdge("edit", END)
  .compile({ checkpointer });
const threadId = `thread_001-${runSuffix()}`;
const config = { configurable: { thread_id: threadId } };
console.log(`checkpoints in ${storeUrl}, leases in ${lease.kind}, thread ${threadId}`);

section("1. two runs of one thread at the same time (onBusy: 'throw')");
const guarded = withThreadLease(graph, lease);
const outcomes = await Promise.allSettled([guarded.invoke({}, config), guarded.invoke({}, config)]);
let busyErrors = 0;
let completed = 0;
for (const [i, o] of outcomes.entries()) {
  if (o.status === "fulfilled") {
    completed++;
    say(`run ${i + 1}: completed, log ${JSON.stringify(o.value.log)}`);
  } else if (isThreadBusyError(o.reason)) {
    busyErrors++;
    say(`run ${i + 1}: ThreadBusyError — ${o.reason.message}`);
  } else throw o.reason;
}

section("2. the same with onBusy: 'wait': the second run waits for the lease");
const patient = withThreadLease(graph, lease, { onBusy: "wait", waitMs: 10_000 });
const waited = await Promise.all([patient.invoke({}, config), patient.invoke({}, config)]);
const finalLog = (await graph.getState(config)).values.log;
say(`both completed; the thread's log: ${JSON.stringify(finalLog)}`);
const info = await lease.info(threadId);
say(`lease record: state ${info?.state}, fencing token ${info?.token}`);

await checkpointer.close();
await lease.close();
result({
  store: storeKind(),
  lease: lease.kind,
  threadId,
  busyErrors,
  completed,
  waitedCompleted: waited.length,
  finalLog,
  fencingToken: info?.token,
});
