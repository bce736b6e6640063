import { BudgetExceededError, BudgetGuard, CostTracker } from "@graphkeep/cost";
import { KeyvSaver } from "@graphkeep/keyv-saver";
import { Annotation, END, START, StateGraph } from "@langchain/langgraph";
import type Keyv from "keyv";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { persistentBackends } from "../../../test/helpers/backends.js";
import { type FakeOpenAI, startFakeOpenAI } from "../../../test/helpers/fake-openai.js";
import { chat, gpt4oCost, uid } from "./helpers.js";

const State = Annotation.Root({ items: Annotation<string[]>({ reducer: (a, b) => a.concat(b), default: () => [] }) });
const CALL = gpt4oCost(1000, 400, 200);

for (const b of persistentBackends.filter((x) => x.name !== "mysql")) {
  describe.skipIf(!!b.skip)(`cost totals on ${b.name}${b.skip ? ` — skipped: ${b.skip}` : ""}`, () => {
    let fake: FakeOpenAI;
    let ns: string;
    const open: Keyv[] = [];
    const keyv = () => {
      const k = b.keyv(ns);
      open.push(k);
      return k;
    };
    beforeEach(async () => {
      fake = await startFakeOpenAI();
      ns = `cost${uid()}`;
    });
    afterEach(async () => {
      await fake.close();
      for (const k of open.splice(0)) {
        await k.clear().catch(() => undefined);
        await k.disconnect().catch(() => undefined);
      }
    });

    it("survives a restart: new Keyv instances read the same totals and the guard counts past spend", async () => {
      fake.enqueue(
        ...Array.from({ length: 3 }, () => ({
          content: "x",
          usage: { prompt: 1000, cached: 400, completion: 200, reasoning: 50 },
        })),
      );
      const threadId = `t-${uid()}`;
      const first = new CostTracker({ store: keyv() });
      expect(first.atomicity).toBe(b.name === "redis" ? "redis-atomic" : "per-writer");
      const model = chat(fake, { maxTokens: 200 });
      const graph = (saver: KeyvSaver) =>
        new StateGraph(State)
          .addNode("call", async (_s, c) => ({ items: [String((await model.invoke("q", c)).content)] }))
          .addEdge(START, "call")
          .addEdge("call", END)
          .compile({ checkpointer: saver });
      await graph(new KeyvSaver(keyv())).invoke({}, { configurable: { thread_id: threadId }, callbacks: [first] });
      await graph(new KeyvSaver(keyv())).invoke({}, { configurable: { thread_id: threadId }, callbacks: [first] });

      // "restart": fresh adapters, a fresh tracker (another writer id)
      const second = new CostTracker({ store: keyv() });
      const t = await second.totals({ threadId });
      expect(t.calls).toBe(2);
      expect(t.usd).toBeCloseTo(2 * CALL, 12);
      expect(t.byNode.call?.reasoningTokens).toBe(100);

      // the restarted guard sees the stored spend: 2·0.004 + a call of up to 0.002 fits $0.01, a fourth would not
      const guard = new BudgetGuard({ tracker: second, limits: { thread: 0.0105 } });
      const config = { configurable: { thread_id: threadId }, callbacks: [second, guard] };
      await graph(new KeyvSaver(keyv())).invoke({}, config);
      await expect(graph(new KeyvSaver(keyv())).invoke({}, config)).rejects.toThrow(BudgetExceededError);
      expect(fake.requests).toHaveLength(3);
      const after = await new CostTracker({ store: keyv() }).totals({ threadId });
      expect(after.calls).toBe(3);
      expect(after.usd).toBeCloseTo(3 * CALL, 12);
    });

    it("two trackers writing the same thread concurrently lose no increment", async () => {
      const n = 12;
      fake.enqueue(
        ...Array.from({ length: 2 * n }, () => ({
          content: "x",
          usage: { prompt: 1000, cached: 400, completion: 200 },
        })),
      );
      const threadId = `t-${uid()}`;
      const a = new CostTracker({ store: keyv() });
      const c = new CostTracker({ store: keyv() });
      const model = chat(fake);
      await Promise.all(
        Array.from({ length: 2 * n }, (_, i) =>
          model.invoke(`q${i}`, { callbacks: [i % 2 ? a : c], metadata: { thread_id: threadId } }),
        ),
      );
      const t = await new CostTracker({ store: keyv() }).totals({ threadId });
      expect(t.calls).toBe(2 * n);
      expect(t.usd).toBeCloseTo(2 * n * CALL, 12);
    });
  });
}
