import { randomUUID } from "node:crypto";
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  ArchiveCorruptError,
  archiveThreads,
  directoryArchive,
  exportThread,
  importThread,
  packThread,
  unpackThread,
  withArchive,
} from "@graphkeep/archive";
import { StoreUnavailableError, ThreadExistsError } from "@graphkeep/core";
import { KeyvSaver } from "@graphkeep/keyv-saver";
import { Annotation, type BaseCheckpointSaver, Command, END, interrupt, START, StateGraph } from "@langchain/langgraph";
import Keyv from "keyv";
import { describe, expect, it } from "vitest";
import { saverKinds } from "../../policy/test/savers.js";

const State = Annotation.Root({
  log: Annotation<string[]>({ reducer: (a, b) => a.concat(b), default: () => [] }),
  answer: Annotation<string>({ reducer: (_a, b) => b, default: () => "" }),
});

/** a → b → ask (interrupt) → c: a thread paused on an interrupt has checkpoints, values and pending writes. */
const build = (checkpointer: BaseCheckpointSaver) =>
  new StateGraph(State)
    .addNode("a", () => ({ log: ["a"] }))
    .addNode("b", () => ({ log: ["b"] }))
    .addNode("ask", () => ({ answer: String(interrupt("approve?")) }))
    .addNode("c", (s) => ({ log: [`c:${s.answer}`] }))
    .addEdge(START, "a")
    .addEdge("a", "b")
    .addEdge("b", "ask")
    .addEdge("ask", "c")
    .addEdge("c", END)
    .compile({ checkpointer });

const cfg = (thread: string) => ({ configurable: { thread_id: thread } });

/** What a user sees of a thread: the state and every snapshot of its history. */
async function view(saver: BaseCheckpointSaver, thread: string) {
  const g = build(saver);
  const history = [];
  for await (const s of g.getStateHistory(cfg(thread))) history.push(s);
  return { state: await g.getState(cfg(thread)), history };
}

const kind = (name: string) => saverKinds.find((k) => k.name === name)!;
const keyvMemory = () => new KeyvSaver(new Keyv());

describe("exportThread / importThread", () => {
  for (const source of saverKinds) {
    it.skipIf(source.skip)(
      `${source.name} → KeyvSaver → ${source.name}: identical getState and history, and the thread resumes`,
      async () => {
        const a = await source.open();
        const back = await source.open();
        try {
          const thread = randomUUID();
          await build(a.saver).invoke({ log: [] }, cfg(thread));
          const before = await view(a.saver, thread);
          expect(before.state.next).toEqual(["ask"]);

          const doc = await exportThread(a.saver, thread);
          const middle = keyvMemory();
          const report = await importThread(middle, doc);
          expect(report.checkpoints).toBe(before.history.length);
          expect(await view(middle, thread)).toEqual(before);

          await importThread(back.saver, await exportThread(middle, thread));
          expect(await view(back.saver, thread)).toEqual(before);

          const out = await build(back.saver).invoke(new Command({ resume: "yes" }), cfg(thread));
          expect(out).toEqual({ log: ["a", "b", "c:yes"], answer: "yes" });
        } finally {
          await a.close();
          await back.close();
        }
      },
    );
  }

  it("imports under another id with as, and refuses a thread that already has checkpoints", async () => {
    const saver = keyvMemory();
    const thread = randomUUID();
    await build(saver).invoke({ log: [] }, cfg(thread));
    const doc = await exportThread(saver, thread);
    await expect(importThread(saver, doc)).rejects.toBeInstanceOf(ThreadExistsError);
    const copy = `${thread}-copy`;
    await importThread(saver, doc, { as: copy });
    const [orig, dup] = [await build(saver).getState(cfg(thread)), await build(saver).getState(cfg(copy))];
    expect(dup.values).toEqual(orig.values);
    expect(dup.next).toEqual(orig.next);
  });

  it("a truncated or altered document is an ArchiveCorruptError and the target store stays empty", async () => {
    const saver = keyvMemory();
    const thread = randomUUID();
    await build(saver).invoke({ log: [] }, cfg(thread));
    const doc = await exportThread(saver, thread);
    const target = keyvMemory();

    const cut = doc.slice(0, doc.length - 40);
    await expect(importThread(target, cut)).rejects.toMatchObject({ code: "ARCHIVE_CORRUPT", reason: "truncated" });
    const altered = doc.slice();
    const at = altered.length - 100;
    altered[at] = altered[at] === 0x41 ? 0x42 : 0x41;
    await expect(importThread(target, altered)).rejects.toMatchObject({ reason: "checksum", threadId: thread });
    await expect(importThread(target, new TextEncoder().encode("hello\nworld\n"))).rejects.toMatchObject({
      reason: "format",
    });
    const object = packThread(doc);
    expect(() => unpackThread(object.slice(0, object.length - 20))).toThrow(ArchiveCorruptError);
    expect(await target.getTuple(cfg(thread))).toBeUndefined();
  });
});

describe("archiveThreads and withArchive", () => {
  for (const name of ["KeyvSaver sqlite", "SqliteSaver (official)", "PostgresSaver (official)"]) {
    const k = kind(name);
    it.skipIf(k.skip)(
      `${name}: idle threads move to a directory, the others stay; first access restores one exactly as it was`,
      async () => {
        const { saver, close } = await k.open();
        try {
          const dir = mkdtempSync(join(tmpdir(), "graphkeep-archive-"));
          const archive = directoryArchive(dir);
          const idle = randomUUID();
          const busy = randomUUID();
          await build(saver).invoke({ log: [] }, cfg(idle));
          const before = await view(saver, idle);
          await new Promise((r) => setTimeout(r, 400));
          await build(saver).invoke({ log: [] }, cfg(busy));
          const threadIds = [idle, busy];

          const dry = await archiveThreads(saver, archive, { idleFor: 250, dryRun: true, threadIds });
          expect(dry).toMatchObject({ threadsScanned: 2, threadsIdle: 1, threadsArchived: 1, threadIds: [idle] });
          expect(readdirSync(dir)).toEqual([]);

          const progress: number[] = [];
          const real = await archiveThreads(saver, archive, {
            idleFor: "250ms",
            threadIds,
            onProgress: (p) => progress.push(p.threadsScanned),
          });
          expect(real.threadIds).toEqual([idle]);
          expect(real.bytesArchived).toBeGreaterThan(0);
          expect(progress).toEqual([1, 2]);
          expect(await saver.getTuple(cfg(idle))).toBeUndefined();
          expect(await saver.getTuple(cfg(busy))).toBeDefined();
          expect(await archive.get(idle)).toBeDefined();

          const restored: string[] = [];
          const hot = withArchive(saver, archive, { onRestore: (e) => restored.push(e.threadId) });
          // two readers at once share one restore
          const [s1, s2] = await Promise.all([build(hot).getState(cfg(idle)), build(hot).getState(cfg(idle))]);
          expect(s1).toEqual(before.state);
          expect(s2).toEqual(before.state);
          expect(restored).toEqual([idle]);
          expect(hot.archiveRestores).toBe(1);
          expect(await archive.get(idle)).toBeUndefined();
          expect(await view(saver, idle)).toEqual(before);
          const out = await build(hot).invoke(new Command({ resume: "ok" }), cfg(idle));
          expect(out.log).toEqual(["a", "b", "c:ok"]);
        } finally {
          await close();
        }
      },
    );
  }

  for (const name of ["KeyvSaver sqlite", "PostgresSaver (official)"]) {
    const k = kind(name);
    it.skipIf(k.skip)(
      `${name}: two savers (as two processes) restoring one thread at once leave it exactly as it was`,
      async () => {
        const first = await k.open();
        try {
          const archive = directoryArchive(mkdtempSync(join(tmpdir(), "graphkeep-archive-")));
          const thread = randomUUID();
          await build(first.saver).invoke({ log: [] }, cfg(thread));
          const before = await view(first.saver, thread);
          await archiveThreads(first.saver, archive, { idleFor: 0, threadIds: [thread] });
          // a second saver on the same store: another process
          const second = name === "KeyvSaver sqlite" ? new KeyvSaver((first.saver as KeyvSaver).keyv) : first.saver;
          const a = withArchive(first.saver, archive);
          const b = withArchive(second, archive);
          const results = await Promise.allSettled([a.getTuple(cfg(thread)), b.getTuple(cfg(thread))]);
          // each either restored it, found it restored, or lost the race with a typed error; none lost data
          for (const r of results) if (r.status === "rejected") expect(r.reason).toHaveProperty("code");
          expect(results.some((r) => r.status === "fulfilled" && r.value !== undefined)).toBe(true);
          expect(await view(first.saver, thread)).toEqual(before);
          expect(a.archiveRestores + b.archiveRestores).toBeGreaterThanOrEqual(1);
        } finally {
          await first.close();
        }
      },
    );
  }

  it("an archive that fails deletes nothing from the hot store", async () => {
    const saver = keyvMemory();
    const thread = randomUUID();
    await build(saver).invoke({ log: [] }, cfg(thread));
    // a "directory" that is a regular file: every write to it fails
    const file = join(mkdtempSync(join(tmpdir(), "graphkeep-archive-")), "not-a-dir");
    writeFileSync(file, "x");
    await expect(
      archiveThreads(saver, directoryArchive(file), { idleFor: 0, threadIds: [thread] }),
    ).rejects.toBeInstanceOf(StoreUnavailableError);
    expect((await build(saver).getState(cfg(thread))).next).toEqual(["ask"]);
  });

  it("a thread written in the hot store while archived keeps its archived copy (nothing lost, nothing merged)", async () => {
    const saver = keyvMemory();
    const archive = directoryArchive(mkdtempSync(join(tmpdir(), "graphkeep-archive-")));
    const thread = randomUUID();
    await build(saver).invoke({ log: [] }, cfg(thread));
    expect((await archiveThreads(saver, archive, { idleFor: 0, threadIds: [thread] })).threadsArchived).toBe(1);
    // another writer (without withArchive) starts the thread again first
    await build(saver).invoke({ log: ["new"] }, cfg(thread));
    const hot = withArchive(saver, archive);
    const state = await build(hot).getState(cfg(thread));
    expect(state.values.log).toEqual(["new", "a", "b"]);
    expect(hot.archiveRestores).toBe(0);
    expect(await archive.get(thread)).toBeDefined();
  });
});
