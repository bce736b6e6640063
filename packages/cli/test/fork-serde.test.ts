import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "@graphkeep/cli";
import { KeyvSaver } from "@graphkeep/keyv-saver";
import { Annotation, END, START, StateGraph } from "@langchain/langgraph";
import { expect, it } from "vitest";

// Found while building the studio: the CLI opened every store with a compressing serde, so `graphkeep fork` wrote
// values of 1 KB or more brotli-compressed, which an app's KeyvSaver with the default serde cannot read.

it("a fork of a thread with large values reads back through an app's saver with the default serde", async () => {
  const url = `sqlite://${join(mkdtempSync(join(tmpdir(), "gk-fork-")), "app.db")}`;
  const saver = await KeyvSaver.fromUrl(url);
  const State = Annotation.Root({ draft: Annotation<string>(), n: Annotation<number>() });
  const graph = new StateGraph(State)
    .addNode("write", (s) => ({ draft: `${s.draft}${"long text ".repeat(300)}`, n: s.n + 1 }))
    .addEdge(START, "write")
    .addEdge("write", END)
    .compile({ checkpointer: saver });
  await graph.invoke({ draft: "start: ", n: 0 }, { configurable: { thread_id: "big" } });
  const latest = await saver.getTuple({ configurable: { thread_id: "big" } });
  let err = "";
  const code = await main(["fork", "big", "--at", latest!.checkpoint.id, "--to", "big-copy", "--store", url], {
    out: () => undefined,
    err: (s) => {
      err += s;
    },
    isTTY: false,
    env: {},
  });
  expect(code, err).toBe(0);
  // the app's own saver (default serde, no compression) reads the fork
  const app = await KeyvSaver.fromUrl(url);
  const state = await new StateGraph(State)
    .addNode("write", (s) => s)
    .addEdge(START, "write")
    .compile({ checkpointer: app })
    .getState({ configurable: { thread_id: "big-copy" } });
  expect(state.values.draft.length).toBeGreaterThan(2000);
  expect(state.values.n).toBe(1);
  await Promise.all([saver.close(), app.close()]);
});
