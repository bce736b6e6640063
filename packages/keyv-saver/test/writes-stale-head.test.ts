import { KeyvSaver } from "@graphkeep/keyv-saver";
import type { RunnableConfig } from "@langchain/core/runnables";
import { type Checkpoint, emptyCheckpoint, uuid6 } from "@langchain/langgraph-checkpoint";
import Keyv from "keyv";

// Found in review (fails on 94ad49b): putWrites of a process whose remembered index head is stale (another process moved the thread on)
// takes the checkpoint for "not put yet" and stores its writes without reading: the other process's stored
// pending writes for that checkpoint are overwritten.

const cfg = (t: string, id?: string): RunnableConfig => ({
  configurable: { thread_id: t, checkpoint_ns: "", ...(id ? { checkpoint_id: id } : {}) },
});

async function put(saver: KeyvSaver, t: string, values: Record<string, unknown>, parent?: string) {
  const versions = Object.fromEntries(Object.keys(values).map((k) => [k, saver.getNextVersion(undefined)]));
  const cp: Checkpoint = { ...emptyCheckpoint(), id: uuid6(-1), channel_values: values, channel_versions: versions };
  await saver.put(cfg(t, parent), cp, { source: "loop", step: 0, parents: {} }, versions);
  return cp.id;
}

it("a second process resuming a thread another process advanced keeps the stored writes of the other tasks", async () => {
  const keyv = new Keyv();
  const p1 = new KeyvSaver(keyv); // process 1
  const p2 = new KeyvSaver(keyv); // process 2 (ran this thread earlier)
  const c1 = await put(p2, "t", { n: 1 }); // p2 remembers the head: c1
  // p1 takes the thread over: a new step, one task of its superstep finished (its writes stored), then p1 dies
  await p1.getTuple(cfg("t"));
  const c2 = await put(p1, "t", { n: 2 }, c1);
  await p1.putWrites(cfg("t", c2), [["a", "from-task-1"]], "task-1");
  // p2 resumes the thread: it reads c2 and its pending writes, runs the remaining task and stores its writes
  const seen = await p2.getTuple(cfg("t"));
  expect(seen?.checkpoint.id).toBe(c2);
  expect(seen?.pendingWrites).toEqual([["task-1", "a", "from-task-1"]]);
  await p2.putWrites(cfg("t", c2), [["b", "from-task-2"]], "task-2");
  const after = await new KeyvSaver(keyv).getTuple(cfg("t", c2));
  expect(after?.pendingWrites).toEqual([
    ["task-1", "a", "from-task-1"],
    ["task-2", "b", "from-task-2"],
  ]);
});

it("one process: writes stored for a checkpoint whose put is in flight survive a write to another checkpoint of the thread", async () => {
  const saver = new KeyvSaver(new Keyv());
  const c0 = await put(saver, "t", { n: 0 });
  // async durability: the next checkpoint's put is still queued; task A of its superstep finishes first
  const c1 = uuid6(-1);
  await saver.putWrites(cfg("t", c1), [["a", "from-task-A"]], "task-A");
  // meanwhile a subgraph of task B writes in its own namespace (same thread)
  const sub: RunnableConfig = { configurable: { thread_id: "t", checkpoint_ns: "sub:b" } };
  const s1: Checkpoint = { ...emptyCheckpoint(), id: uuid6(-1), channel_values: {}, channel_versions: {} };
  const subCfg = await saver.put(sub, s1, { source: "loop", step: 0, parents: {} }, {});
  await saver.putWrites(subCfg, [["x", 1]], "sub-task");
  // task B finishes
  await saver.putWrites(cfg("t", c1), [["b", "from-task-B"]], "task-B");
  const versions = { n: saver.getNextVersion(undefined) };
  const cp: Checkpoint = { ...emptyCheckpoint(), id: c1, channel_values: { n: 1 }, channel_versions: versions };
  await saver.put(cfg("t", c0), cp, { source: "loop", step: 1, parents: {} }, versions);
  const got = await new KeyvSaver(saver.keyv).getTuple(cfg("t", c1));
  expect(got?.pendingWrites).toEqual([
    ["task-A", "a", "from-task-A"],
    ["task-B", "b", "from-task-B"],
  ]);
});
