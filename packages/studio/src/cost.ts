import type { CheckpointCost } from "@graphkeep/cost";
import type { CheckpointTuple } from "@langchain/langgraph-checkpoint";

/** The `metadata.cost` that `withCostMetadata` of `@graphkeep/cost` records, read defensively. */
export interface StepCostView {
  stepUsd: number | undefined;
  totalUsd: number | undefined;
  stepTokens: number | undefined;
  byModel: Record<string, number>;
  tenant: string | undefined;
}

const num = (x: unknown) => (typeof x === "number" && Number.isFinite(x) ? x : undefined);

/** The recorded cost of a checkpoint's step and its thread total; every part undefined when not recorded. */
export function costOf(t: CheckpointTuple): StepCostView {
  const cost = (t.metadata as { cost?: Partial<CheckpointCost> } | undefined)?.cost;
  const byModel: Record<string, number> = {};
  const models = cost?.step?.byModel;
  if (typeof models === "object" && models !== null) {
    for (const [m, v] of Object.entries(models)) if (num(v) !== undefined) byModel[m] = v;
  }
  return {
    stepUsd: num(cost?.step?.usd),
    totalUsd: num(cost?.total?.usd),
    stepTokens: num(cost?.step?.tokens),
    byModel,
    tenant: typeof cost?.step?.tenant === "string" ? cost.step.tenant : undefined,
  };
}
