import { randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { archiveThreads, directoryArchive, withArchive } from "@graphkeep/archive";
import { KeyvSaver } from "@graphkeep/keyv-saver";
import { Annotation, END, START, StateGraph } from "@langchain/langgraph";
import { metrics } from "@opentelemetry/api";
import { AggregationTemporality, MeterProvider, MetricReader } from "@opentelemetry/sdk-metrics";
import Keyv from "keyv";
import { expect, it } from "vitest";

class TestReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}
const reader = new TestReader();
metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));

async function restores(): Promise<Array<{ value: number; kind: unknown }>> {
  const { resourceMetrics } = await reader.collect();
  const out = [];
  for (const sm of resourceMetrics.scopeMetrics)
    for (const m of sm.metrics)
      if (m.descriptor.name === "graphkeep.archive.restores")
        for (const p of m.dataPoints)
          out.push({ value: p.value as number, kind: p.attributes["graphkeep.archive.kind"] });
  return out;
}

it("each restore adds 1 to the OpenTelemetry counter graphkeep.archive.restores", async () => {
  const saver = new KeyvSaver(new Keyv());
  const archive = directoryArchive(mkdtempSync(join(tmpdir(), "graphkeep-archive-")));
  const graph = (checkpointer: KeyvSaver) =>
    new StateGraph(Annotation.Root({ n: Annotation<number>() }))
      .addNode("inc", (s) => ({ n: s.n + 1 }))
      .addEdge(START, "inc")
      .addEdge("inc", END)
      .compile({ checkpointer });
  const threads = [randomUUID(), randomUUID()];
  for (const t of threads) await graph(saver).invoke({ n: 1 }, { configurable: { thread_id: t } });
  await archiveThreads(saver, archive, { idleFor: 0, threadIds: threads });
  const hot = withArchive(saver, archive);
  for (const t of threads)
    expect((await graph(hot).getState({ configurable: { thread_id: t } })).values).toEqual({ n: 2 });
  // a thread read again is not restored twice
  await graph(hot).getState({ configurable: { thread_id: threads[0] } });
  expect(await restores()).toEqual([{ value: 2, kind: "directory" }]);
  expect(hot.archiveRestores).toBe(2);
});
