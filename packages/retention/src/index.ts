export { parseDuration, type RetentionPolicy, type RetentionPolicyOptions, retentionPolicy } from "./policy.js";
export { selectForDeletion } from "./select.js";
export { type RetentionTarget, type SweepOptions, type SweepProgress, type SweepReport, sweep } from "./sweep.js";
export { type WithRetentionOptions, withRetention } from "./with-retention.js";
