export {
  CheckpointIntegrityError,
  GraphkeepError,
  type GraphkeepErrorCode,
  type IntegrityFailure,
  InvalidArgumentError,
  InvalidKeyError,
  isCheckpointIntegrityError,
  isGraphkeepError,
  isInvalidKeyError,
  isMissingKeyError,
  MissingKeyError,
} from "@graphkeep/core";
export { compressed } from "./compressed.js";
export { encrypted } from "./encrypted.js";
export { rotate } from "./rotate.js";
export type {
  CompressedOptions,
  CompressionAlgorithm,
  EncryptedOptions,
  KeyMaterial,
  RewritableSaver,
  RewritePayload,
  RotateOptions,
  RotateProgress,
} from "./types.js";
