import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "@graphkeep/cli";
import { KeyvSaver } from "@graphkeep/keyv-saver";
import { Annotation, END, START, StateGraph } from "@langchain/langgraph";
import type { BaseCheckpointSaver } from "@langchain/langgraph-checkpoint";
import { SqliteSaver } from "@langchain/langgraph-checkpoint-sqlite";
import { describe, expect, it } from "vitest";

// Issue 17.3: `graphkeep export <thread> --store A > thread.gk` / `graphkeep import --store B [--as id] < thread.gk`.

const State = Annotation.Root({ log: Annotation<string[]>({ reducer: (a, b) => a.concat(b), default: () => [] }) });
const graphOf = (saver: BaseCheckpointSaver) =>
  new StateGraph(State)
    .addNode("plan", () => ({ log: ["planned"] }))
    .addNode("write", () => ({ log: ["written"] }))
    .addEdge(START, "plan")
    .addEdge("plan", "write")
    .addEdge("write", END)
    .compile({ checkpointer: saver });

async function cli(argv: string[], stdin?: Uint8Array) {
  let out = "";
  let err = "";
  const code = await main(argv, {
    out: (s) => {
      out += s;
    },
    err: (s) => {
      err += s;
    },
    isTTY: false,
    env: {},
    ...(stdin ? { stdin: async () => stdin } : {}),
  });
  return { code, out, err };
}

async function history(saver: BaseCheckpointSaver, thread: string) {
  const rows: unknown[] = [];
  for await (const s of graphOf(saver).getStateHistory({ configurable: { thread_id: thread } }))
    rows.push([s.values, s.next, s.metadata?.step]);
  return rows;
}

describe("graphkeep export / import", () => {
  it("moves a thread from an official SqliteSaver file into a KeyvSaver store, with the same state and history", async () => {
    const dir = mkdtempSync(join(tmpdir(), "gk-transfer-"));
    const official = SqliteSaver.fromConnString(join(dir, "official.db"));
    await graphOf(official).invoke({ log: [] }, { configurable: { thread_id: "t" } });
    const want = await history(official, "t");

    const file = join(dir, "t.gk");
    const exported = await cli(["export", "t", "--store", `sqlite://${join(dir, "official.db")}`, "--file", file]);
    expect(exported.code, exported.err).toBe(0);
    // to stdout as well, byte for byte the same document shape
    const piped = await cli(["export", "t", "--store", `sqlite://${join(dir, "official.db")}`]);
    expect(piped.out.startsWith("graphkeep-thread 1\n")).toBe(true);

    const target = `sqlite://${join(dir, "app.db")}`;
    await (await KeyvSaver.fromUrl(target)).close(); // the CLI opens existing stores only
    const imported = await cli(["import", "--store", target, "--file", file, "--as", "t-copy", "--json"]);
    expect(imported.code, imported.err).toBe(0);
    expect(JSON.parse(imported.out)).toMatchObject({ threadId: "t-copy" });
    const viaStdin = await cli(["import", "--store", target], new TextEncoder().encode(piped.out));
    expect(viaStdin.code, viaStdin.err).toBe(0);

    const app = await KeyvSaver.fromUrl(target);
    expect(await history(app, "t-copy")).toEqual(want);
    expect(await history(app, "t")).toEqual(want);
    // an existing thread is refused, nothing overwritten
    const again = await cli(["import", "--store", target, "--file", file]);
    expect(again.code).toBe(1);
    expect(await history(app, "t")).toEqual(want);
    await app.close();
  });

  it("an altered document is refused with ARCHIVE_CORRUPT and writes nothing", async () => {
    const dir = mkdtempSync(join(tmpdir(), "gk-transfer-"));
    const source = `sqlite://${join(dir, "a.db")}`;
    const saver = await KeyvSaver.fromUrl(source);
    await graphOf(saver).invoke({ log: [] }, { configurable: { thread_id: "x" } });
    await saver.close();
    const file = join(dir, "x.gk");
    expect((await cli(["export", "x", "--store", source, "--file", file])).code).toBe(0);
    const text = readFileSync(file, "utf8");
    // one character of the body changed (the checksum in the header no longer matches)
    const at = text.length - 40;
    writeFileSync(file, `${text.slice(0, at)}${text[at] === "A" ? "B" : "A"}${text.slice(at + 1)}`);
    const target = `sqlite://${join(dir, "b.db")}`;
    await (await KeyvSaver.fromUrl(target)).close();
    const r = await cli(["import", "--store", target, "--file", file, "--json"]);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.err).error.code).toBe("ARCHIVE_CORRUPT");
    const b = await KeyvSaver.fromUrl(target);
    expect(await b.getTuple({ configurable: { thread_id: "x" } })).toBeUndefined();
    await b.close();
  });
});
