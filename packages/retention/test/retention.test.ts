import { randomUUID } from "node:crypto";
import { KeyvSaver } from "@graphkeep/keyv-saver";
import { retentionPolicy, sweep, withRetention } from "@graphkeep/retention";
import { Annotation, Command, END, INTERRUPT, interrupt, START, StateGraph } from "@langchain/langgraph";
import { backends } from "../../../test/helpers/backends.js";
import { storedBytes } from "../../../test/helpers/stored-bytes.js";

const Counter = Annotation.Root({
  step: Annotation<number>({ reducer: (_a, b) => b, default: () => 0 }),
  note: Annotation<string>({ reducer: (_a, b) => b, default: () => "" }),
});

function loopGraph(checkpointer: KeyvSaver, until: number, failAt?: { step: number; once: boolean }) {
  return new StateGraph(Counter)
    .addNode("tick", (s) => {
      const step = s.step + 1;
      if (failAt?.once && step === failAt.step) {
        failAt.once = false;
        throw new Error("provider timeout");
      }
      return { step, note: randomUUID().repeat(28) };
    })
    .addEdge(START, "tick")
    .addConditionalEdges("tick", (s) => (s.step >= until ? END : "tick"))
    .compile({ checkpointer });
}

async function count(saver: KeyvSaver, thread: string) {
  let n = 0;
  for await (const _ of saver.list({ configurable: { thread_id: thread } })) n++;
  return n;
}

async function snapshot(saver: KeyvSaver, thread: string) {
  const m = new Map<string, unknown>();
  for await (const t of saver.list({ configurable: { thread_id: thread } })) {
    m.set(t.checkpoint.id, { values: t.checkpoint.channel_values, writes: t.pendingWrites, parent: t.parentConfig });
  }
  return m;
}

for (const backend of backends) {
  describe.skipIf(!!backend.skip)(`retention on ${backend.name}`, () => {
    let saver: KeyvSaver;
    beforeEach(() => {
      saver = new KeyvSaver(backend.keyv());
    });
    afterEach(async () => {
      await saver.keyv.clear().catch(() => undefined);
      await saver.close();
    });

    it("a 1,000-step thread kept to the latest 10 stays bounded in stored bytes and still resumes", async () => {
      const bounded = withRetention(saver, retentionPolicy({ keepLatest: 10 }));
      const config = { configurable: { thread_id: "long" }, recursionLimit: 5000 };
      await loopGraph(bounded, 200).invoke({ step: 0 }, config);
      const at200 = await storedBytes(backend.name, saver.keyv);
      const failAt = { step: 1000, once: true };
      // continue the finished thread with new input, up to a failure at step 1000
      await expect(loopGraph(bounded, 1000, failAt).invoke({ note: "go on" }, config)).rejects.toThrow(
        "provider timeout",
      );
      const at1000 = await storedBytes(backend.name, saver.keyv);
      expect(at1000).toBeLessThan(at200 * 1.5);
      expect(await count(saver, "long")).toBeLessThanOrEqual(10 + 4);
      const done = await loopGraph(bounded, 1000, failAt).invoke(null, config);
      expect(done.step).toBe(1000);
    }, 180_000);

    it("keeps a checkpoint paused on interrupt() so it can be resumed after a sweep", async () => {
      const Chat = Annotation.Root({
        log: Annotation<string[]>({ reducer: (a, b) => a.concat(b), default: () => [] }),
      });
      const graph = new StateGraph(Chat)
        .addNode("a", () => ({ log: ["a"] }))
        .addNode("ask", () => ({ log: [`answer: ${interrupt("name?") as string}`] }))
        .addEdge(START, "a")
        .addEdge("a", "ask")
        .addEdge("ask", END)
        .compile({ checkpointer: saver });
      const config = { configurable: { thread_id: "paused" } };
      await graph.invoke({ log: [] }, config);
      const paused = await graph.getState(config);
      expect(paused.next).toEqual(["ask"]);
      const pausedId = paused.config.configurable?.checkpoint_id as string;
      // a newer branch: the paused checkpoint is no longer the newest
      const history = [];
      for await (const s of graph.getStateHistory(config)) history.push(s);
      await graph.updateState(history.at(-1)!.config, { log: ["other branch"] });
      await sweep(saver, retentionPolicy({ keepLatest: 1 }));
      const resumed = await graph.invoke(new Command({ resume: "Ada" }), {
        configurable: { thread_id: "paused", checkpoint_id: pausedId },
      });
      expect(resumed.log).toEqual(["a", "answer: Ada"]);
      // control: without the protection the paused checkpoint goes
      await graph.invoke({ log: [] }, { configurable: { thread_id: "paused2" } });
      const p2 = (await graph.getState({ configurable: { thread_id: "paused2" } })).config.configurable?.checkpoint_id;
      await graph.updateState((await graph.getState({ configurable: { thread_id: "paused2" } })).config, {
        log: ["x"],
      });
      await sweep(saver, retentionPolicy({ keepLatest: 1, keepInterrupted: false }), { threadIds: ["paused2"] });
      expect(await saver.getTuple({ configurable: { thread_id: "paused2", checkpoint_id: p2 } })).toBeUndefined();
      expect(INTERRUPT).toBe("__interrupt__");
    });

    it("keeps fork points and branch ends, and every kept checkpoint loads exactly as before", async () => {
      const graph = loopGraph(saver, 6);
      const config = { configurable: { thread_id: "forked" } };
      await graph.invoke({ step: 0 }, config);
      const history = [];
      for await (const s of graph.getStateHistory(config)) history.push(s);
      const forkFrom = history.find((s) => s.values.step === 2)!;
      const forkId = forkFrom.config.configurable?.checkpoint_id as string;
      const branch = await graph.updateState(forkFrom.config, { step: 40 });
      await graph.invoke(null, branch);
      const before = await snapshot(saver, "forked");
      const report = await sweep(saver, retentionPolicy({ keepLatest: 2, keepFinal: true }));
      expect(report.checkpointsDeleted).toBeGreaterThan(0);
      const after = await snapshot(saver, "forked");
      expect(after.has(forkId)).toBe(true);
      for (const [id, t] of after) expect(t).toEqual(before.get(id));
      // both branch ends are kept
      const ends = [...before.keys()].filter(
        (id) =>
          ![...before.values()].some(
            (t) =>
              (t as { parent?: { configurable?: { checkpoint_id?: string } } }).parent?.configurable?.checkpoint_id ===
              id,
          ),
      );
      expect(ends.length).toBe(2);
      for (const id of ends) expect(after.has(id)).toBe(true);
      // and the thread still runs on from its latest checkpoint
      const latest = await graph.getState(config);
      expect(latest.values.step).toBeGreaterThanOrEqual(6);
    });

    it("a dry run deletes nothing and reports the same counts as the real run", async () => {
      await loopGraph(saver, 30).invoke({ step: 0 }, { configurable: { thread_id: "d1" }, recursionLimit: 100 });
      await loopGraph(saver, 12).invoke({ step: 0 }, { configurable: { thread_id: "d2" }, recursionLimit: 100 });
      const policy = retentionPolicy({ keepLatest: 5 });
      const progress: number[] = [];
      const dry = await sweep(saver, policy, { dryRun: true, onProgress: (p) => progress.push(p.threadsScanned) });
      expect(await count(saver, "d1")).toBe(32);
      const real = await sweep(saver, policy);
      expect(real).toEqual(dry);
      expect(dry).toMatchObject({ threadsScanned: 2, checkpointsDeleted: 32 - 5 + (14 - 5) });
      expect(dry.valuesDeleted).toBeGreaterThan(0);
      expect(dry.bytesFreed).toBeGreaterThan(0);
      expect(progress).toEqual([1, 2]);
      expect(await count(saver, "d1")).toBe(5);
    });

    it("deletes checkpoints older than maxAge but never a thread's newest", async () => {
      await loopGraph(saver, 5).invoke({ step: 0 }, { configurable: { thread_id: "old" } });
      await new Promise((r) => setTimeout(r, 30));
      const report = await sweep(saver, retentionPolicy({ maxAge: 10 }));
      expect(report.checkpointsDeleted).toBe(6);
      expect(await count(saver, "old")).toBe(1);
      expect((await saver.getTuple({ configurable: { thread_id: "old" } }))?.checkpoint.channel_values.step).toBe(5);
    });
  });
}

describe("retention policies", () => {
  it("reject a keepLatest that is not a positive integer and an unreadable maxAge", () => {
    expect(() => retentionPolicy({ keepLatest: 0 })).toThrow(/keepLatest/);
    expect(() => retentionPolicy({ keepLatest: 1.5 })).toThrow(/keepLatest/);
    expect(() => retentionPolicy({ maxAge: "soon" })).toThrow(/maxAge/);
    expect(retentionPolicy({ maxAge: "7d" }).maxAgeMs).toBe(7 * 86_400_000);
    expect(retentionPolicy({ maxAge: "90s" }).maxAgeMs).toBe(90_000);
  });

  it("withRetention keeps the saver's class and refuses to wrap twice", () => {
    const saver = new KeyvSaver(backends[0]!.keyv());
    const wrapped = withRetention(saver, retentionPolicy({ keepLatest: 3 }));
    expect(wrapped).toBeInstanceOf(KeyvSaver);
    expect(() => withRetention(wrapped, retentionPolicy({ keepLatest: 3 }))).toThrow(/once/);
  });

  it("a sweep stops between threads when its signal aborts", async () => {
    const saver = new KeyvSaver(backends[0]!.keyv());
    await loopGraph(saver, 3).invoke({ step: 0 }, { configurable: { thread_id: "x" } });
    const ac = new AbortController();
    ac.abort(new Error("stop"));
    await expect(sweep(saver, retentionPolicy({ keepLatest: 1 }), { signal: ac.signal })).rejects.toThrow("stop");
    expect(await count(saver, "x")).toBe(5);
  });
});
