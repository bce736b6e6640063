import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KeyvSaver } from "@graphkeep/keyv-saver";
import { type Studio, startStudio } from "@graphkeep/studio";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Written, writeThreads } from "./fixture.js";
import { client, POSTGRES_URL, postgresSkip, rawGet } from "./helpers.js";

// The studio's JSON API over stores a real LangGraph graph wrote, SQLite and PostgreSQL; bad input included.

const pgSkip = await postgresSkip();
const dir = mkdtempSync(join(tmpdir(), "graphkeep-studio-api-"));

interface Target {
  name: string;
  skip: string | undefined;
  store: () => { url: string; namespace: string };
}
let n = 0;
const targets: Target[] = [
  {
    name: "SQLite",
    skip: undefined,
    store: () => ({ url: `sqlite://${join(dir, `api-${++n}.db`)}`, namespace: "graphkeep" }),
  },
  {
    name: "PostgreSQL",
    skip: pgSkip,
    store: () => ({ url: POSTGRES_URL, namespace: `studio-api-${Date.now()}-${++n}` }),
  },
];

for (const target of targets) {
  describe.skipIf(target.skip !== undefined)(`the studio API on ${target.name}`, () => {
    let studio: Studio;
    let w: Written;
    let store: { url: string; namespace: string };
    let api: ReturnType<typeof client>;
    // biome-ignore lint/suspicious/noExplicitAny: JSON answers, checked field by field
    const json = async (path: string): Promise<any> => {
      const res = await api.get(path);
      expect(res.status, `${path}: ${res.status}`).toBe(200);
      return res.json();
    };
    /** What is stored, to show a refused request changed nothing. */
    const snapshot = async () => {
      const saver = await KeyvSaver.fromUrl(store.url, { namespace: store.namespace });
      try {
        const threads: string[] = [];
        for await (const t of saver.listThreads()) threads.push(t.threadId);
        return { threads: threads.sort(), stats: await saver.stats() };
      } finally {
        await saver.close();
      }
    };

    beforeAll(async () => {
      store = target.store();
      w = await writeThreads(store.url, { namespace: store.namespace });
      studio = await startStudio({ store: store.url, namespace: store.namespace, port: 0 });
      expect(studio.error).toBeUndefined();
      api = client(studio.url, studio.token);
    });
    afterAll(async () => {
      await studio?.close();
      // the shared PostgreSQL keeps nothing of this suite (a SQLite file is in a temp directory)
      if (target.name === "PostgreSQL") {
        const saver = await KeyvSaver.fromUrl(store.url, { namespace: store.namespace });
        await saver.keyv.clear();
        await saver.close();
      }
    });

    it("lists the threads a real graph wrote, with status, checkpoints, size and cost", async () => {
      const page = await json("/api/threads");
      expect(page.total).toBe(2);
      const byId = Object.fromEntries(page.rows.map((r: { threadId: string }) => [r.threadId, r]));
      expect(byId[w.waiting].status).toBe("interrupted");
      expect(byId[w.waiting].next).toEqual(["review"]);
      expect(byId[w.branched].status).toBe("done");
      // input, start, agent, review (done); the edit, review on the branch
      expect(byId[w.branched].checkpoints).toBe(6);
      expect(byId[w.branched].bytes).toBeGreaterThan(0);
      expect(byId[w.branched].costUsd).toBeGreaterThan(0);
    });

    it("searches thread ids, sorts and pages", async () => {
      const found = await json(`/api/threads?q=${encodeURIComponent(w.waiting.toUpperCase())}`);
      expect(found.rows.map((r: { threadId: string }) => r.threadId)).toEqual([w.waiting]);
      const first = await json("/api/threads?sort=id&limit=1");
      const second = await json("/api/threads?sort=id&limit=1&offset=1");
      expect(first.total).toBe(2);
      expect([first.rows[0].threadId, second.rows[0].threadId]).toEqual([w.branched, w.waiting].sort());
      const reversed = await json("/api/threads?sort=-id&limit=1");
      expect(reversed.rows[0].threadId).toBe(second.rows[0].threadId);
    });

    it("draws the edit of an older checkpoint as a branch off the checkpoint it started from", async () => {
      const h = await json(`/api/threads/${encodeURIComponent(w.branched)}/history`);
      expect(h.lanes).toBe(2);
      const forkPoint = h.rows.find((r: { children: number }) => r.children === 2);
      expect(forkPoint).toBeDefined();
      const kids = h.rows.filter((r: { parentId: string }) => r.parentId === forkPoint.id);
      expect(kids.map((k: { lane: number }) => k.lane).sort()).toEqual([0, 1]);
      // the newest checkpoint (the resumed branch) is on lane 0; the update that started it has source "update"
      expect(h.rows[0].lane).toBe(0);
      expect(kids.find((k: { lane: number }) => k.lane === 0).source).toBe("update");
      expect(forkPoint.nodes).toEqual(["agent"]);
    });

    it("shows a checkpoint's diff against its parent with the appended message", async () => {
      const h = await json(`/api/threads/${encodeURIComponent(w.branched)}/history`);
      const update = h.rows.find((r: { source: string }) => r.source === "update");
      const cp = await json(`/api/threads/${encodeURIComponent(w.branched)}/checkpoints/${update.id}`);
      const messages = cp.diff.find((c: { channel: string }) => c.channel === "messages");
      expect(messages.change).toBe("appended");
      expect(messages.after).toHaveLength(1);
      expect(messages.after[0]).toMatchObject({ type: "human", content: w.branchText });
      expect(cp.next).toEqual(["review"]);
    });

    it("shows an interrupt waiting for an answer, the task to run next and the metadata with its cost", async () => {
      const h = await json(`/api/threads/${encodeURIComponent(w.waiting)}/history`);
      const cp = await json(`/api/threads/${encodeURIComponent(w.waiting)}/checkpoints/${h.rows[0].id}`);
      expect(cp.status).toBe("interrupted");
      expect(cp.next).toEqual(["review"]);
      expect(JSON.stringify(cp.interrupts)).toContain("approve the answer?");
      expect(cp.values.topic).toBe("damage");
      expect(cp.values.messages.map((m: { type: string }) => m.type)).toEqual(["human", "ai"]);
      expect(cp.metadata.cost.total.usd).toBeGreaterThan(0);
    });

    it("reports the cost per step from withCostMetadata, by model and node", async () => {
      const c = await json(`/api/threads/${encodeURIComponent(w.branched)}/cost`);
      expect(c.recorded).toBe(true);
      const paid = c.steps.filter((s: { stepUsd: number }) => s.stepUsd > 0);
      // the model ran once; the branch (an edit after the agent) only re-ran the review
      expect(paid.length).toBe(1);
      expect(paid[0].nodes).toEqual(["agent"]);
      expect(Object.keys(c.byModel)).toEqual(["gpt-4o-mini"]);
      expect(Object.keys(c.byNode)).toEqual(["agent"]);
      const sum = paid.reduce((a: number, s: { stepUsd: number }) => a + s.stepUsd, 0);
      expect(c.totalUsd).toBeCloseTo(sum, 9);
    });

    it("forks a checkpoint into a new thread whose state has the edited value", async () => {
      const h = await json(`/api/threads/${encodeURIComponent(w.waiting)}/history`);
      const at = h.rows[0].id;
      const to = `${w.waiting}-what-if`;
      const res = await api.post(
        `/api/threads/${encodeURIComponent(w.waiting)}/fork`,
        JSON.stringify({ at, to, values: { topic: "refund" } }),
      );
      expect(res.status).toBe(201);
      const r = (await res.json()) as { head: string };
      expect(r).toMatchObject({ from: w.waiting, at, to, checkpoints: h.total });
      const saver = await KeyvSaver.fromUrl(store.url, { namespace: store.namespace });
      try {
        const head = await saver.getTuple({ configurable: { thread_id: to } });
        expect(head?.checkpoint.id).toBe(r.head);
        expect(head?.checkpoint.channel_values.topic).toBe("refund");
        expect(head?.checkpoint.channel_values.messages).toHaveLength(2);
        expect(head?.metadata?.source).toBe("update");
        // the source thread is untouched
        const src = await saver.getTuple({ configurable: { thread_id: w.waiting } });
        expect(src?.checkpoint.channel_values.topic).toBe("damage");
      } finally {
        await saver.close();
      }
      const list = await json(`/api/threads?q=${encodeURIComponent(to)}`);
      expect(list.rows[0].threadId).toBe(to);
    });

    it("writes a fork an app's plain saver reads back, large values included (no compression it cannot read)", async () => {
      const h = await json(`/api/threads/${encodeURIComponent(w.branched)}/history`);
      const big = "long note ".repeat(500);
      const to = `${w.branched}-big`;
      const res = await api.post(
        `/api/threads/${encodeURIComponent(w.branched)}/fork`,
        JSON.stringify({ at: h.rows[0].id, to, values: { topic: big } }),
      );
      expect(res.status).toBe(201);
      // the app's saver: KeyvSaver.fromUrl with its default serde (JsonPlusSerializer), no compressed()
      const saver = await KeyvSaver.fromUrl(store.url, { namespace: store.namespace });
      try {
        const head = await saver.getTuple({ configurable: { thread_id: to } });
        expect(head?.checkpoint.channel_values.topic).toBe(big);
        expect(head?.checkpoint.channel_values.messages).toHaveLength(4);
      } finally {
        await saver.close();
      }
    });

    it("answers bad input with a 4xx and a message, and changes nothing stored", async () => {
      const before = await snapshot();
      const t = encodeURIComponent(w.branched);
      const h = await json(`/api/threads/${t}/history`);
      const at = h.rows[0].id;
      const expectError = async (res: Response, status: number, text: RegExp) => {
        expect(res.status).toBe(status);
        const body = (await res.json()) as { error: { message: string } };
        expect(body.error.message).toMatch(text);
        expect(JSON.stringify(body)).not.toMatch(/\n\s+at /);
      };
      await expectError(await api.get("/api/threads/no-such-thread/history"), 404, /unknown thread "no-such-thread"/);
      await expectError(await api.get("/api/threads/no-such-thread/cost"), 404, /unknown thread/);
      await expectError(await api.get(`/api/threads/no-such-thread/checkpoints/${at}`), 404, /unknown thread/);
      await expectError(
        await api.get(`/api/threads/${t}/checkpoints/1ef00000-0000-6000-8000-000000000000`),
        404,
        /has no checkpoint/,
      );
      await expectError(
        await api.get(`/api/threads/${t}/checkpoints/${encodeURIComponent("../../etc")}`),
        400,
        /checkpoint id must be/,
      );
      await expectError(
        await api.get(`/api/threads/${t}/checkpoints/${encodeURIComponent("a b")}`),
        400,
        /checkpoint id must be/,
      );
      await expectError(await api.get(`/api/threads/${"x".repeat(300)}/history`), 400, /thread id must be/);
      await expectError(
        await api.get(`/api/threads/${encodeURIComponent("a\u0001b")}/history`),
        400,
        /thread id must be/,
      );
      await expectError(await api.get("/api/threads?offset=-1"), 400, /offset must be/);
      await expectError(await api.get("/api/threads?limit=abc"), 400, /limit must be/);
      await expectError(await api.get("/api/threads?sort=size"), 400, /sort must be/);
      const fork = (body: string, headers?: Record<string, string>) =>
        api.post(`/api/threads/${t}/fork`, body, headers);
      await expectError(
        await fork(JSON.stringify({ at, to: "big", values: { topic: "x".repeat(300_000) } })),
        413,
        /larger than/,
      );
      await expectError(await fork("{not json"), 400, /must be JSON/);
      await expectError(await fork(JSON.stringify({ at, to: "x", values: { nope: 1 } })), 400, /no channel "nope"/);
      await expectError(await fork(JSON.stringify({ at, to: "x", values: [1] })), 400, /values must be an object/);
      await expectError(await fork(JSON.stringify({ at: "../x", to: "x" })), 400, /checkpoint id must be/);
      await expectError(
        await fork(JSON.stringify({ at: "1ef00000-0000-6000-8000-000000000000", to: "x" })),
        404,
        /has no checkpoint/,
      );
      await expectError(await fork(JSON.stringify({ at, to: w.waiting })), 409, /already/);
      await expectError(await fork(JSON.stringify({ at, to: w.branched })), 400, /not be the source/);
      await expectError(await fork(JSON.stringify({ at, to: "x" }), { "x-graphkeep-token": "wrong" }), 403, /token/);
      await expectError(
        await fork(JSON.stringify({ at, to: "x" }), { origin: "http://evil.example" }),
        403,
        /same origin/,
      );
      await expectError(
        await fork(JSON.stringify({ at, to: "x" }), { "sec-fetch-site": "cross-site" }),
        403,
        /same origin/,
      );
      const rebound = await rawGet(studio.url, "/api/threads", { host: "evil.example:80" });
      expect(rebound.status).toBe(403);
      expect(rebound.body).toMatch(/does not answer to host/);
      const retention = (body: unknown) => api.post("/api/retention", JSON.stringify(body));
      await expectError(await retention({ dryRun: true }), 400, /keepLatest and\/or maxAge/);
      await expectError(await retention({ keepLatest: -1, dryRun: true }), 400, /keepLatest must be/);
      await expectError(await retention({ maxAge: "soon", dryRun: true }), 400, /maxAge/);
      await expectError(await retention({ keepLatest: 1 }), 400, /dryRun must be/);
      await expectError(await retention({ keepLatest: 1, threads: "all", dryRun: false }), 400, /threads must be/);
      expect(await snapshot()).toEqual(before);
    });

    it("refuses every change when read-only, even with the token from the studio's own origin", async () => {
      const before = await snapshot();
      const ro = await startStudio({ store: store.url, namespace: store.namespace, port: 0, readOnly: true });
      try {
        const c = client(ro.url, ro.token);
        const h = (await (await c.get(`/api/threads/${encodeURIComponent(w.branched)}/history`)).json()) as {
          rows: Array<{ id: string }>;
        };
        const fork = await c.post(
          `/api/threads/${encodeURIComponent(w.branched)}/fork`,
          JSON.stringify({ at: h.rows[0]?.id, to: "read-only-fork" }),
        );
        expect(fork.status).toBe(403);
        const prune = await c.post("/api/retention", JSON.stringify({ keepLatest: 1, dryRun: false }));
        expect(prune.status).toBe(403);
        expect(((await prune.json()) as { error: { message: string } }).error.message).toMatch(/read-only/);
      } finally {
        await ro.close();
      }
      expect(await snapshot()).toEqual(before);
    });

    it("previews a retention policy without deleting anything, then runs it", async () => {
      const t = encodeURIComponent(w.branched);
      const total = (await json(`/api/threads/${t}/history`)).total as number;
      const before = await snapshot();
      const policy = { keepLatest: 1, threads: [w.branched] };
      const res = await api.post("/api/retention", JSON.stringify({ ...policy, dryRun: true }));
      expect(res.status).toBe(200);
      const preview = (await res.json()) as { checkpointsDeleted: number; bytesFreed: number; dryRun: boolean };
      expect(preview.dryRun).toBe(true);
      expect(preview.checkpointsDeleted).toBeGreaterThan(0);
      expect(preview.bytesFreed).toBeGreaterThan(0);
      expect(await snapshot()).toEqual(before);
      const ran = (await (await api.post("/api/retention", JSON.stringify({ ...policy, dryRun: false }))).json()) as {
        checkpointsDeleted: number;
      };
      expect(ran.checkpointsDeleted).toBe(preview.checkpointsDeleted);
      expect((await json(`/api/threads/${t}/history`)).total).toBe(total - ran.checkpointsDeleted);
    });
  });
}

describe("a store the studio cannot open", () => {
  const cases: Array<[string, string, RegExp]> = [
    ["a URL scheme it does not know", "ftp://example.invalid/x", /UNSUPPORTED_URL/],
    [
      "a PostgreSQL server that does not answer",
      "postgres://postgres@127.0.0.1:1/test",
      /STORE_UNAVAILABLE|ECONNREFUSED/,
    ],
    [
      "a SQLite file that does not exist",
      `sqlite://${join(dir, "nowhere", "x.db")}`,
      /STORE_NOT_FOUND|SQLITE_CANTOPEN/,
    ],
  ];
  for (const [what, store, code] of cases) {
    it(`explains ${what} on the page and in the API, without a stack trace`, async () => {
      const studio = await startStudio({ store, port: 0, timeout: "1000" });
      try {
        expect(studio.error?.code).toMatch(code);
        const html = await (await fetch(studio.url)).text();
        expect(html).toContain("The studio cannot read this store");
        expect(html).toMatch(code);
        const res = await fetch(`${studio.url}api/threads`);
        expect(res.status).toBe(503);
        const body = await res.text();
        expect(body).toMatch(code);
        expect(body).not.toMatch(/\n\s+at /);
      } finally {
        await studio.close();
      }
    });
  }
});
