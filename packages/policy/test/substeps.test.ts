// Durable sub-steps (seed §7.2): functional-API `task()`s called inside a StateGraph node are checkpointed one by
// one (their results are pending writes of the node's checkpoint), so a node that crashes in its third sub-step
// resumes there. Tested for real: a child process SIGKILLed during sub-step 3 and a resume in a new process, on
// every saver two processes can share, with and without a checkpoint policy; the scripted OpenAI server (in this
// process, so it outlives the kill) counts the model requests per sub-step.
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CostTracker } from "@graphkeep/cost";
import { type SaveEvent, withCheckpointPolicy } from "@graphkeep/policy";
import { ChatOpenAI } from "@langchain/openai";
import Keyv from "keyv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backends } from "../../../test/helpers/backends.js";
import { type FakeOpenAI, startFakeOpenAI } from "../../../test/helpers/fake-openai.js";
import { CROSS_PROCESS_KINDS } from "./fixtures/cross-process-savers.js";
import { substepGraph } from "./fixtures/substeps-graph.js";
import { saverKinds } from "./savers.js";

const child = fileURLToPath(new URL("./fixtures/substeps-child.ts", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "graphkeep-substeps-"));
const skipOf = (kind: string) =>
  kind.includes("redis")
    ? backends.find((b) => b.name === "redis")?.skip
    : kind.includes("postgres")
      ? backends.find((b) => b.name === "postgres")?.skip
      : undefined;

let fake: FakeOpenAI;
/** Requests per sub-step (by the prompt's first word), and sub-step 3 answering slowly enough to be killed in. */
const counts = () => {
  const c: Record<string, number> = { sub1: 0, sub2: 0, sub3: 0 };
  for (const r of fake.requests) {
    const word = String(r.messages.at(-1)?.content).split(" ")[0] as string;
    c[word] = (c[word] ?? 0) + 1;
  }
  return c;
};
beforeAll(async () => {
  fake = await startFakeOpenAI((req) => {
    const prompt = String(req.messages.at(-1)?.content);
    return { content: `<${prompt.split(" ")[0]}>`, delayMs: prompt.startsWith("sub3") ? 1000 : 5 };
  });
});
afterAll(async () => {
  await fake.close();
});

function run(args: string[]): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = execFile(
      process.execPath,
      ["--import", "tsx", child, ...args],
      { timeout: 60_000 },
      (e, stdout, stderr) =>
        resolve({
          code: p.exitCode,
          signal: (e as { signal?: string } | null)?.signal ?? p.signalCode,
          stdout,
          stderr,
        }),
    );
  });
}

describe("durable sub-steps: a node killed in sub-step 3 resumes there", () => {
  for (const kind of CROSS_PROCESS_KINDS) {
    for (const policy of ["plain", "policy"] as const) {
      it.skipIf(skipOf(kind))(
        `${kind}${policy === "policy" ? " under withCheckpointPolicy" : ""}: sub-steps 1 and 2 are neither re-run nor paid twice`,
        async () => {
          fake.requests.length = 0;
          const id = `gk_sub_${randomUUID().replaceAll("-", "").slice(0, 10)}`;
          const place = kind.includes("sqlite") ? join(dir, id) : id;
          const thread = randomUUID();
          const baseURL = fake.baseURL;
          const first = await run(["run", kind, place, thread, baseURL, policy]);
          expect(first.signal, first.stderr).toBe("SIGKILL");
          expect(counts()).toEqual({ sub1: 1, sub2: 1, sub3: 1 });

          const resumed = await run(["resume", kind, place, thread, baseURL, policy]);
          expect(resumed.code, resumed.stderr).toBe(0);
          expect(JSON.parse(resumed.stdout.trim())).toEqual({ topic: "tides", report: "<sub3>" });
          // sub-step 3 was in flight when the process died: it is asked again; 1 and 2 come from the store
          expect(counts()).toEqual({ sub1: 1, sub2: 1, sub3: 2 });
        },
        90_000,
      );
    }
  }
});

describe("durable sub-steps in one process", () => {
  for (const kind of saverKinds) {
    it.skipIf(kind.skip)(
      `${kind.name}: a sub-step that throws is retried by invoke(null) without re-running the ones before it`,
      async () => {
        fake.requests.length = 0;
        const { saver, close } = await kind.open();
        try {
          const model = new ChatOpenAI({
            model: "gpt-4o-2024-08-06",
            apiKey: "test",
            maxRetries: 0,
            configuration: { baseURL: fake.baseURL },
          });
          let fail = true;
          const graph = substepGraph(saver, model, (n) => {
            if (n === 3 && fail) {
              fail = false;
              throw new Error("sub-step 3 failed");
            }
          });
          const config = { configurable: { thread_id: randomUUID() } };
          await expect(graph.invoke({ topic: "tides" }, config)).rejects.toThrow("sub-step 3 failed");
          expect(counts()).toEqual({ sub1: 1, sub2: 1, sub3: 0 });
          const out = await graph.invoke(null, config);
          expect(out.report).toBe("<sub3>");
          expect(counts()).toEqual({ sub1: 1, sub2: 1, sub3: 1 });
        } finally {
          await close();
        }
      },
    );
  }

  it("under a policy, a task() result stores the held checkpoint it belongs to (reason task), and cost is counted per sub-step", async () => {
    fake.requests.length = 0;
    const { saver, close } = await saverKinds[0]!.open();
    const tracker = new CostTracker({ store: new Keyv() });
    const model = new ChatOpenAI({
      model: "gpt-4o-2024-08-06",
      apiKey: "test",
      maxRetries: 0,
      configuration: { baseURL: fake.baseURL },
    });
    const events: SaveEvent[] = [];
    const graph = withCheckpointPolicy(substepGraph(saver, model), { onSave: (e) => events.push(e) });
    const thread = randomUUID();
    await graph.invoke({ topic: "tides" }, { configurable: { thread_id: thread }, callbacks: [tracker] });
    // input (-1), then the checkpoint the research node runs against (0), stored by its first task() result
    expect(events.map((e) => `${e.step}:${e.reason}`)).toEqual(["-1:source", "0:task", "1:end"]);
    const totals = await tracker.totals({ threadId: thread });
    expect(totals.calls).toBe(3);
    expect(Object.keys(totals.byNode).sort()).toEqual(["conclude", "evidence", "outline"]);
    await close();
  });
});
