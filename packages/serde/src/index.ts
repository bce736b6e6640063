export {
  type BindingAwareSerializer,
  CheckpointIntegrityError,
  encodeBinding,
  GraphkeepError,
  type GraphkeepErrorCode,
  type IntegrityFailure,
  InvalidArgumentError,
  InvalidKeyError,
  isBindingAware,
  isCheckpointIntegrityError,
  isGraphkeepError,
  isInvalidKeyError,
  isMissingKeyError,
  MissingKeyError,
  type SerdeBinding,
  type SerdeBindingKind,
} from "@graphkeep/core";
export { compressed } from "./compressed.js";
export { encrypted } from "./encrypted.js";
export { DecompressionLimitError, isDecompressionLimitError } from "./errors.js";
export { rebind } from "./rebind.js";
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
