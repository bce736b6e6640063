/** Child process: runs workloads on one saver and prints one result line per workload. */
import type { StoreOperationCounts } from "../../packages/keyv-saver/src/index.ts";
import type { SaverName, WorkloadName } from "./args.js";
import { type ChildTask, type OpsPerStep, RESULT_PREFIX, type Result } from "./result.js";
import { openSaver } from "./savers.js";
import { distribution, median, SaverLatencies } from "./stats.js";
import { cleanup, locationOf, storageId, storedBytes } from "./storage.js";
import { stepSeed } from "./text.js";
import { type Workload, workload } from "./workloads.js";

const GET_STATE_CALLS = 20;
/** Steps of the untimed warm-up thread run before each measurement (JIT of the graph, saver and driver code). */
const WARMUP_STEPS = 3;

type State = Record<string, unknown>;
const asState = (x: unknown): State => (typeof x === "object" && x !== null ? (x as State) : {});
const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e)).split("\n")[0]!.slice(0, 200);

function opsPerStep(
  before: StoreOperationCounts | undefined,
  after: StoreOperationCounts | undefined,
  steps: number,
): OpsPerStep | undefined {
  if (before === undefined || after === undefined) return undefined;
  const out: OpsPerStep = {
    total: 0,
    get: 0,
    getMany: 0,
    set: 0,
    setMany: 0,
    delete: 0,
    deleteMany: 0,
    commit: 0,
    roundTrips: 0,
  };
  for (const k of Object.keys(before) as Array<keyof StoreOperationCounts>) {
    out[k] = (after[k] - before[k]) / steps;
    if (k !== "roundTrips") out.total += out[k];
  }
  return out;
}

type Graph = ReturnType<Workload["compile"]>;

/** Runs one thread; returns its final state and wall time per step. */
async function runThread(graph: Graph, wl: Workload, saved: boolean, threadId: string, threadNo: number, n: number) {
  const config = { configurable: { thread_id: threadId } };
  let carried: State = {};
  const t0 = performance.now();
  for (let s = 0; s < n; s++) {
    carried = asState(await graph.invoke(wl.input(stepSeed(threadNo, s), saved ? undefined : carried), config));
  }
  return { state: carried, msPerStep: (performance.now() - t0) / n };
}

/** An untimed thread on a throw-away saver of the same kind, in storage of its own (removed right after). */
async function warmUp(name: SaverName, wl: Workload, id: string, task: ChildTask, steps: number): Promise<void> {
  const loc = locationOf(name, id, task.tmpDir, task.urls);
  const opened = await openSaver(name, loc, id);
  try {
    await runThread(
      wl.compile(opened.saver),
      wl,
      opened.saver !== undefined,
      "warmup",
      0,
      Math.min(WARMUP_STEPS, steps),
    );
  } finally {
    await opened.close().catch(() => undefined);
    await cleanup(loc).catch(() => undefined);
  }
}

/** getState (median of GET_STATE_CALLS, and a check of the values) and full history of one finished thread. */
async function measureReads(graph: Graph, wl: Workload, threadId: string, steps: number, result: Result) {
  const config = { configurable: { thread_id: threadId } };
  const times: number[] = [];
  for (let i = 0; i < GET_STATE_CALLS; i++) {
    const t0 = performance.now();
    const snap = await graph.getState(config);
    times.push(performance.now() - t0);
    if (i === 0) {
      const bad = wl.check(asState(snap.values), steps);
      if (bad) result.checkError ??= `getState: ${bad}`;
    }
  }
  result.getStateMs = median(times);
  const t0 = performance.now();
  let n = 0;
  for await (const _ of graph.getStateHistory(config)) n++;
  result.historyMs = performance.now() - t0;
  result.historyCheckpoints = n;
}

async function runOne(name: SaverName, wname: WorkloadName, task: ChildTask, scope: Result["rssScope"]) {
  const { threads, steps, repeats } = task.sizes[wname];
  const id = storageId(task.runId, wname, name);
  const loc = locationOf(name, id, task.tmpDir, task.urls);
  const wl = workload(wname, task.docBytes);
  const started = performance.now();
  await warmUp(name, wl, storageId(task.runId, wname, name, true), task, steps);
  const result: Result = { saver: name, workload: wname, status: "ok", threads, steps, repeats, rssScope: scope };
  const opened = await openSaver(name, loc, id);
  let closed = false;
  try {
    const saver = opened.saver;
    const lat = new SaverLatencies();
    if (saver) lat.instrument(saver);
    const graph = wl.compile(saver);
    // ---- the workload: threads run one after the other, each step one invoke
    const ops0 = opened.operations();
    lat.recording = true;
    const perThread: number[][] = Array.from({ length: threads }, () => []);
    let logical = 0;
    for (let r = 0; r < repeats; r++) {
      for (let t = 0; t < threads; t++) {
        const { state, msPerStep } = await runThread(graph, wl, saver !== undefined, `r${r}-t${t}`, t, steps);
        perThread[t]!.push(msPerStep);
        logical += wl.logicalBytes(state);
        result.checkError ??= wl.check(state, steps);
      }
    }
    lat.recording = false;
    const ops1 = opened.operations();
    const medians = perThread.map(median);
    result.msPerStep = median(medians);
    result.msPerStepRange = [Math.min(...medians), Math.max(...medians)];
    result.opsPerStep = opsPerStep(ops0, ops1, threads * steps * repeats);
    result.logicalBytes = logical;

    if (saver) {
      result.put = distribution(lat.put);
      result.putWrites = distribution(lat.putWrites);
      result.getTuple = distribution(lat.getTuple);
      await measureReads(graph, wl, `r${repeats - 1}-t${threads - 1}`, steps, result);
    }

    // ---- storage as the backend reports it
    closed = true;
    await opened.close();
    result.storedBytes = await storedBytes(loc);
    if (result.storedBytes !== undefined && logical > 0) result.ratio = result.storedBytes / logical;
  } catch (e) {
    result.status = "failed";
    result.reason = errorText(e);
  } finally {
    if (!closed) await opened.close().catch(() => undefined);
    await cleanup(loc).catch((e) => process.stderr.write(`cleanup of ${id} failed: ${errorText(e)}\n`));
  }
  result.peakRssMb = process.resourceUsage().maxRSS / 1024;
  result.wallMs = performance.now() - started;
  return result;
}

export async function runChild(saver: SaverName, workloads: WorkloadName[], task: ChildTask): Promise<void> {
  const scope = workloads.length > 1 ? "saver" : "workload";
  for (const w of workloads) {
    let result: Result;
    try {
      result = await runOne(saver, w, task, scope);
    } catch (e) {
      result = { saver, workload: w, status: "failed", reason: errorText(e) };
    }
    process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(result)}\n`);
  }
}
