import { randomUUID } from "node:crypto";
import { isStoreUnavailableError, KeyvSaver, StoreUnavailableError } from "@graphkeep/keyv-saver";
import { Annotation, END, START, StateGraph } from "@langchain/langgraph";
import { backends } from "../../../test/helpers/backends.js";
import { TcpProxy } from "../../../test/helpers/proxy.js";

const State = Annotation.Root({
  steps: Annotation<string[]>({ reducer: (a, b) => a.concat(b), default: () => [] }),
});

function findStoreError(e: unknown): StoreUnavailableError | undefined {
  let cur: unknown = e;
  for (let i = 0; i < 5 && cur; i++) {
    if (isStoreUnavailableError(cur)) return cur;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

const servers = backends.filter((b) => ["redis", "postgres", "mysql"].includes(b.name));

for (const backend of servers) {
  describe.skipIf(!!backend.skip)(`KeyvSaver when ${backend.name} goes away mid-run`, () => {
    let proxy: TcpProxy;
    let saver: KeyvSaver;

    beforeEach(async () => {
      const u = new URL(backend.url);
      proxy = new TcpProxy(u.hostname, Number(u.port));
      await proxy.start();
      saver = await KeyvSaver.fromUrl(proxy.url(backend.url), {
        namespace: `outage_${randomUUID().slice(0, 8)}`,
        operationTimeoutMs: 1500,
      });
    });

    afterEach(async () => {
      await proxy.start().catch(() => undefined);
      await saver.keyv.clear().catch(() => undefined);
      await saver.close().catch(() => undefined);
      await proxy.stop();
    });

    for (const durability of ["sync", "async"] as const) {
      it(`fails with StoreUnavailableError and resumes with nothing lost once it is back (durability ${durability})`, async () => {
        const runs = { a: 0, b: 0, c: 0 };
        // sync: the store goes away inside b. async: checkpoints are written in the background, so it goes
        // away inside c, once the earlier ones are acknowledged
        const stopIn = durability === "sync" ? "b" : "c";
        let stopOnce = true;
        const maybeStop = async (node: string) => {
          if (node !== stopIn || !stopOnce) return;
          stopOnce = false;
          await new Promise((r) => setTimeout(r, 200));
          await proxy.stop();
        };
        const graph = new StateGraph(State)
          .addNode("a", () => {
            runs.a++;
            return { steps: ["a"] };
          })
          .addNode("b", async () => {
            runs.b++;
            await maybeStop("b");
            return { steps: ["b"] };
          })
          .addNode("c", async () => {
            runs.c++;
            await maybeStop("c");
            return { steps: ["c"] };
          })
          .addEdge(START, "a")
          .addEdge("a", "b")
          .addEdge("b", "c")
          .addEdge("c", END)
          .compile({ checkpointer: saver });
        const config = { configurable: { thread_id: `t-${durability}` }, durability };

        const failure = await graph.invoke({ steps: [] }, config).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(findStoreError(failure), `expected a StoreUnavailableError, got ${String(failure)}`).toBeInstanceOf(
          StoreUnavailableError,
        );

        // while the store is down, reads fail loudly instead of reading as "no checkpoint"
        await expect(saver.getTuple({ configurable: { thread_id: `t-${durability}` } })).rejects.toSatisfy(
          (e: unknown) => isStoreUnavailableError(e),
        );

        await proxy.start();
        // clients reconnect with backoff: wait until the store answers again, as a retrying app would
        for (let i = 0; i < 40; i++) {
          const ok = await saver.getTuple({ configurable: { thread_id: `t-${durability}` } }).then(
            () => true,
            () => false,
          );
          if (ok) break;
          await new Promise((r) => setTimeout(r, 250));
        }
        const state = await graph.invoke(null, config);
        expect(state.steps).toEqual(["a", "b", "c"]);
        expect(runs.a).toBe(1);
        if (durability === "sync") expect(runs.c).toBe(1);
        else expect(runs.b).toBe(1);
        const history = [];
        for await (const s of graph.getStateHistory({ configurable: { thread_id: `t-${durability}` } }))
          history.push(s);
        expect(history[0]?.values.steps).toEqual(["a", "b", "c"]);
      });
    }

    it("rejects reads of an unreachable store within operationTimeoutMs", async () => {
      await proxy.stop();
      const started = Date.now();
      const err = await saver.getTuple({ configurable: { thread_id: "x" } }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isStoreUnavailableError(err)).toBe(true);
      expect((err as StoreUnavailableError).code).toBe("STORE_UNAVAILABLE");
      expect(Date.now() - started).toBeLessThan(10_000);
    });
  });
}
