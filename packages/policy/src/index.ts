export { parseDuration } from "./duration.js";
export { type PolicyGraph, withCheckpointPolicy } from "./graph.js";
export type { CheckpointPolicyOptions, PolicyContext, SaveEvent, SaveReason, SpendSource } from "./types.js";
