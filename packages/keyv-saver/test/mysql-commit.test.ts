import { randomUUID } from "node:crypto";
import { KeyvSaver } from "@graphkeep/keyv-saver";
import type { RunnableConfig } from "@langchain/core/runnables";
import { type Checkpoint, emptyCheckpoint } from "@langchain/langgraph-checkpoint";
import { backends } from "../../../test/helpers/backends.js";

// Found in review (both fail on 94ad49b), on the MySQL one-round-trip commit (79cb274):
// (a) the Backend contract says a commit whose index token moved writes nothing; the MySQL script COMMITs the
//     values, records, meta and index pages anyway, so a writer with a stale head overwrites an index page the
//     current index points to (here: after a prune re-paged the thread), and checkpoints vanish from the thread.
// (b) the "stay under max_allowed_packet" guard counts UTF-16 code units, not bytes: a step the two-statement path
//     stored fine (rows split at 4 M chars) becomes one 18 MB packet and fails.

const mysql = backends.find((b) => b.name === "mysql")!;
const MYSQL_URL = mysql.url;
const cfg = (t: string, id?: string): RunnableConfig => ({
  configurable: { thread_id: t, checkpoint_ns: "", ...(id ? { checkpoint_id: id } : {}) },
});
const id = (i: number) => `c${String(i).padStart(4, "0")}`;

async function put(saver: KeyvSaver, i: number, parent: string | undefined, values: Record<string, unknown>) {
  const versions = Object.fromEntries(Object.keys(values).map((k) => [k, saver.getNextVersion(i)]));
  const cp: Checkpoint = { ...emptyCheckpoint(), id: id(i), channel_values: values, channel_versions: versions };
  await saver.put(cfg("t", parent), cp, { source: "loop", step: i, parents: {} }, versions);
  return cp.id;
}

for (const url of ["memory:", MYSQL_URL]) {
  describe.skipIf(url !== "memory:" && !!mysql.skip)(`stale writer after a prune, ${url.split(":")[0]}`, () => {
    it("a commit that loses the token race writes no index page: every kept checkpoint stays listed", async () => {
      const namespace = `r${randomUUID().slice(0, 8)}`;
      const w = await KeyvSaver.fromUrl(url, { namespace });
      // a second process on the same store (memory: the same Keyv)
      const l = url === "memory:" ? new KeyvSaver(w.keyv) : await KeyvSaver.fromUrl(url, { namespace });
      try {
        let parent: string | undefined;
        for (let i = 1; i <= 95; i++) parent = await put(w, i, parent, { n: i });
        // the other process reads the thread (it remembers this index head: one page, 63 entries in the head)
        expect((await l.getTuple(cfg("t")))?.checkpoint.id).toBe(id(95));
        // retention prunes the 10 oldest: the index is re-paged (new page number 1)
        await w.pruneCheckpoints(
          "t",
          Array.from({ length: 10 }, (_, k) => id(k + 1)),
        );
        // the other process writes the next step on its stale head: its first commit loses, its retry wins
        await put(l, 96, id(95), { n: 96 });
        const listed: string[] = [];
        for await (const t of new KeyvSaver(w.keyv).list(cfg("t"))) listed.push(t.checkpoint.id);
        const expected = Array.from({ length: 86 }, (_, k) => id(96 - k));
        expect(listed).toEqual(expected);
      } finally {
        await l.close().catch(() => undefined);
        await w.close().catch(() => undefined);
      }
    }, 120_000);
  });
}

describe.skipIf(!!mysql.skip)("MySQL commit size guard", () => {
  it("stores a step of two 9 MB (UTF-8) values, as the two-statement path did", async () => {
    const saver = await KeyvSaver.fromUrl(MYSQL_URL, { namespace: `r${randomUUID().slice(0, 8)}` });
    try {
      const big = "中".repeat(3_000_000); // 3 M chars, 9 MB of UTF-8 each
      await put(saver, 1, undefined, { a: big, b: big });
      const got = await saver.getTuple(cfg("t"));
      expect(String(got?.checkpoint.channel_values.a ?? "").length).toBe(3_000_000);
    } finally {
      await saver.close();
    }
  }, 120_000);
});
