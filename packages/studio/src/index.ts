export {
  type CheckpointView,
  type CostStep,
  type CostView,
  type ForkResult,
  type HistoryNode,
  type HistoryPage,
  layout,
  StudioData,
  type ThreadPage,
  type ThreadRow,
  type ThreadSort,
  type TreeNode,
} from "./data.js";
export { isStudioAccessError, StudioAccessError } from "./errors.js";
export { createApp, startStudio } from "./server.js";
export type { Studio, StudioErrorBody, StudioOptions } from "./types.js";
