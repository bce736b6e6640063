import type { RewritableSaver, RewritePayload } from "@graphkeep/serde";
import type { SerializerProtocol } from "@langchain/langgraph-checkpoint";

/** An in-memory `RewritableSaver`: threads of stored `[type, bytes]` payloads, written and read through a serde. */
export class PayloadStore implements RewritableSaver {
  readonly threads = new Map<string, Array<[string, Uint8Array]>>();

  constructor(public serde: SerializerProtocol) {}

  async put(threadId: string, value: unknown): Promise<void> {
    const list = this.threads.get(threadId) ?? [];
    list.push(await this.serde.dumpsTyped(value));
    this.threads.set(threadId, list);
  }

  async read(threadId: string, serde = this.serde): Promise<unknown[]> {
    return Promise.all((this.threads.get(threadId) ?? []).map(([t, b]) => serde.loadsTyped(t, b)));
  }

  async *listThreads(): AsyncGenerator<{ threadId: string }> {
    for (const threadId of this.threads.keys()) yield { threadId };
  }

  async rewriteValues(threadId: string, rewrite: RewritePayload): Promise<number> {
    const list = this.threads.get(threadId) ?? [];
    let n = 0;
    for (let i = 0; i < list.length; i++) {
      const out = await rewrite(...list[i]!);
      if (out === undefined) continue;
      list[i] = out; // one payload replaced at a time, as a store key would be
      n += 1;
    }
    return n;
  }
}
