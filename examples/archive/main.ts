/**
 * Archive tier and thread export/import (seed §3.3). A support conversation starts in a development SQLite file
 * (LangGraph's official SqliteSaver) and pauses for approval (`interrupt()`):
 *   1. `exportThread` writes it as a portable `graphkeep-thread` document; `importThread` loads it into the
 *      example store (KeyvSaver) with identical state and history;
 *   2. `archiveThreads(saver, directoryArchive(dir), { idleFor })` moves the idle thread out of the hot store into a
 *      compressed object, deleting it only after the object is verified;
 *   3. weeks later the user answers: through `withArchive(saver, archive)` the graph's first read restores the
 *      thread and the run finishes as if it had never left;
 *   4. an altered archive object is refused with `ArchiveCorruptError`, the hot store untouched.
 *
 *   pnpm example archive
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  archiveThreads,
  directoryArchive,
  exportThread,
  importThread,
  isArchiveCorruptError,
  withArchive,
} from "@graphkeep/archive";
import { Annotation, type BaseCheckpointSaver, Command, END, interrupt, START, StateGraph } from "@langchain/langgraph";
import { SqliteSaver } from "@langchain/langgraph-checkpoint-sqlite";
import { result, say, section } from "../lib/report.ts";
import { openSaver, runSuffix, storeUrl } from "../lib/store.ts";

const State = Annotation.Root({
  messages: Annotation<string[]>({ reducer: (a, b) => a.concat(b), default: () => [] }),
  approved: Annotation<boolean>({ reducer: (_a, b) => b, default: () => false }),
});
const build = (checkpointer: BaseCheckpointSaver) =>
  new StateGraph(State)
    .addNode("triage", () => ({ messages: ["agent: a refund of $40 fits the policy"] }))
    .addNode("approve", () => ({ approved: interrupt("approve the $40 refund?") === "yes" }))
    .addNode("reply", (s) => ({ messages: [s.approved ? "agent: refund sent" : "agent: refund declined"] }))
    .addEdge(START, "triage")
    .addEdge("triage", "approve")
    .addEdge("approve", "reply")
    .addEdge("reply", END)
    .compile({ checkpointer });

const dir = mkdtempSync(join(tmpdir(), "graphkeep-archive-example-"));
const thread = `support-${runSuffix()}`;
const cfg = { configurable: { thread_id: thread } };
const history = async (saver: BaseCheckpointSaver) => {
  const out = [];
  for await (const s of build(saver).getStateHistory(cfg)) out.push(s);
  return out;
};

section("1. export from a development SqliteSaver, import into the example store");
const dev = SqliteSaver.fromConnString(join(dir, "dev.db"));
await build(dev).invoke({ messages: ["user: my order arrived broken"] }, cfg);
const file = join(dir, `${thread}.gk`);
writeFileSync(file, await exportThread(dev, thread));
say(`exported ${thread} to ${file} (${readFileSync(file).length} bytes)`);
const saver = await openSaver();
console.log(`checkpoints in ${storeUrl}`);
const imported = await importThread(saver, readFileSync(file));
const same = JSON.stringify(await history(saver)) === JSON.stringify(await history(dev));
say(`imported ${imported.checkpoints} checkpoints, ${imported.writes} writes; history identical: ${same}`);
dev.db.close();

section("2. archive the idle thread");
const archive = directoryArchive(join(dir, "archive"));
const report = await archiveThreads(saver, archive, { idleFor: 0, threadIds: [thread] });
const inHot = (await saver.getTuple(cfg)) !== undefined;
say(`archived ${report.threadsArchived} thread (${report.bytesArchived} bytes gzip); still in the hot store: ${inHot}`);

section("3. the user answers weeks later: the first read restores the thread");
const checkpointer = withArchive(saver, archive);
const graph = build(checkpointer);
const waiting = await graph.getState(cfg);
say(`restored; waiting on: ${waiting.next.join(", ")} — "${waiting.tasks[0]?.interrupts[0]?.value}"`);
const out = await graph.invoke(new Command({ resume: "yes" }), cfg);
say(`finished: ${out.messages.at(-1)}; restores: ${checkpointer.archiveRestores}`);

section("4. an altered archive object is refused");
const other = `support-${runSuffix()}`;
await build(saver).invoke({ messages: ["user: wrong size"] }, { configurable: { thread_id: other } });
await archiveThreads(saver, archive, { idleFor: 0, threadIds: [other] });
const object = (await archive.get(other)) as Uint8Array;
const at = Math.floor(object.length / 2);
object[at] = (object[at] ?? 0) ^ 0xff;
await archive.put(other, object);
const refused = await build(checkpointer)
  .getState({ configurable: { thread_id: other } })
  .then(
    () => "read",
    (e) => (isArchiveCorruptError(e) ? `ArchiveCorruptError (${e.reason})` : String(e)),
  );
say(
  `reading it: ${refused}; hot store has it: ${(await saver.getTuple({ configurable: { thread_id: other } })) !== undefined}`,
);
await saver.close();

result({
  historyIdentical: same,
  archived: report.threadsArchived,
  inHotAfterArchive: inHot,
  next: waiting.next,
  final: out.messages.at(-1),
  restores: checkpointer.archiveRestores,
  refused,
});
