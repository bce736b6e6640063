/** The graph and stores of `pnpm bench:scale`, shared by the parent and its worker processes. */
import { Annotation, type BaseCheckpointSaver, END, START, StateGraph } from "@langchain/langgraph";

export const NODES = ["s1", "s2", "s3", "s4", "s5"] as const;

export interface WorkerTask {
  mode: "load" | "chaos";
  store: "redis" | "redis-cluster" | "postgres" | "postgres-official";
  url: string;
  /** KeyvSaver namespace / table, or the official saver's schema */
  id: string;
  /** chaos mode: Redis URL of the lease store and side channel */
  redisUrl?: string;
  ttlMs?: number;
  heartbeatMs?: number;
  intervalMs?: number;
}

const State = Annotation.Root({
  steps: Annotation<string[]>({ reducer: (a, b) => a.concat(b), default: () => [] }),
});

export function buildGraph(saver: BaseCheckpointSaver, before?: (thread: string, node: string) => Promise<void>) {
  let g = new StateGraph(State) as unknown as StateGraph<typeof State.spec, unknown, unknown, string>;
  for (const n of NODES) {
    g = g.addNode(n, async (_s: unknown, config: { configurable?: { thread_id?: string } }) => {
      await before?.(String(config.configurable?.thread_id), n);
      return { steps: [n] };
    }) as typeof g;
  }
  g = g.addEdge(START, NODES[0]);
  for (let i = 1; i < NODES.length; i++) g = g.addEdge(NODES[i - 1]!, NODES[i]!);
  return g.addEdge(NODES[NODES.length - 1]!, END).compile({ checkpointer: saver });
}

export async function openStore(task: WorkerTask): Promise<{ saver: BaseCheckpointSaver; close(): Promise<void> }> {
  if (task.store === "postgres-official") {
    const { PostgresSaver } = await import("@langchain/langgraph-checkpoint-postgres");
    const saver = PostgresSaver.fromConnString(task.url, { schema: task.id });
    return { saver, close: () => saver.end() };
  }
  const { KeyvSaver } = await import("../../packages/keyv-saver/src/index.ts");
  const saver = await KeyvSaver.fromUrl(task.url, { namespace: task.id, table: task.id });
  return { saver, close: () => saver.close() };
}
