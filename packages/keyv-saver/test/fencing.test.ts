import { InvalidArgumentError, KeyvSaver } from "@graphkeep/keyv-saver";
import type { RunnableConfig } from "@langchain/core/runnables";
import { type Checkpoint, emptyCheckpoint, uuid6 } from "@langchain/langgraph-checkpoint";
import { backends } from "../../../test/helpers/backends.js";

/** A fencing guard holding the current token per thread: a write passes when it carries that token (or none). */
class TokenGuard {
  readonly current = new Map<string, number>();
  readonly calls: string[] = [];

  async assertCurrent(threadId: string, config: RunnableConfig | undefined, operation: string): Promise<void> {
    this.calls.push(`${operation} ${threadId}`);
    const token = config?.configurable?.__graphkeep_fence as number | undefined;
    const current = this.current.get(threadId);
    if (operation === "deleteThread" && current !== undefined) throw new Error(`thread ${threadId} is leased`);
    if (token !== undefined && token !== current) throw new Error(`stale token ${token} (current ${current})`);
  }
}

const cp = (): Checkpoint => ({
  ...emptyCheckpoint(),
  id: uuid6(-1),
  channel_values: { a: 1 },
  channel_versions: { a: 1 },
});
const META = { source: "loop" as const, step: 0, parents: {} };

for (const backend of backends.filter((b) => b.name === "memory" || b.name === "redis")) {
  describe.skipIf(!!backend.skip)(`KeyvSaver fencing on ${backend.name}`, () => {
    let saver: KeyvSaver;
    let guard: TokenGuard;
    beforeEach(() => {
      guard = new TokenGuard();
      saver = new KeyvSaver(backend.keyv(), { fencing: guard });
    });
    afterEach(async () => {
      await saver.keyv.clear().catch(() => undefined);
      await saver.close();
    });

    it("asks the guard before every put, putWrites and deleteThread, and writes nothing it refuses", async () => {
      guard.current.set("t", 2);
      const fenced = (token: number) => ({
        configurable: { thread_id: "t", checkpoint_ns: "", __graphkeep_fence: token },
      });
      const first = await saver.put(fenced(2), cp(), META, { a: 1 });
      await saver.putWrites(
        { ...first, configurable: { ...first.configurable, __graphkeep_fence: 2 } },
        [["a", 2]],
        "task-1",
      );
      // a stale token: refused, and nothing of it is stored
      await expect(saver.put(fenced(1), cp(), META, { a: 1 })).rejects.toThrow(/stale token 1/);
      await expect(
        saver.putWrites(
          { ...first, configurable: { ...first.configurable, __graphkeep_fence: 1 } },
          [["a", 3]],
          "task-2",
        ),
      ).rejects.toThrow(/stale token 1/);
      const all = [];
      for await (const t of saver.list({ configurable: { thread_id: "t" } })) all.push(t);
      expect(all).toHaveLength(1);
      expect(all[0]!.pendingWrites?.map((w) => w[0])).toEqual(["task-1"]);
      await expect(saver.deleteThread("t")).rejects.toThrow(/is leased/);
      expect(await saver.getTuple({ configurable: { thread_id: "t" } })).toBeDefined();
      guard.current.delete("t");
      await saver.deleteThread("t");
      expect(await saver.getTuple({ configurable: { thread_id: "t" } })).toBeUndefined();
      expect(guard.calls).toEqual(["put t", "putWrites t", "put t", "putWrites t", "deleteThread t", "deleteThread t"]);
    });
  });
}

describe("KeyvSaver fencing option", () => {
  it("is optional, and rejects a value without assertCurrent", async () => {
    const plain = await KeyvSaver.fromUrl("memory:");
    await plain.put({ configurable: { thread_id: "x", __graphkeep_fence: 9 } }, cp(), META, { a: 1 });
    expect(await plain.getTuple({ configurable: { thread_id: "x" } })).toBeDefined();
    expect(() => new KeyvSaver(plain.keyv, { fencing: {} as never })).toThrow(InvalidArgumentError);
  });
});
