export {
  type BindingAwareSerializer,
  encodeBinding,
  isBindingAware,
  type SerdeBinding,
  type SerdeBindingKind,
} from "./binding.js";
export { type Duration, parseDuration, warnOnce } from "./duration.js";
export {
  AdapterNotInstalledError,
  CheckpointCorruptError,
  CheckpointIntegrityError,
  GraphkeepError,
  type GraphkeepErrorCode,
  type IntegrityFailure,
  InvalidArgumentError,
  InvalidConfigError,
  InvalidKeyError,
  isCheckpointCorruptError,
  isCheckpointIntegrityError,
  isGraphkeepError,
  isInvalidKeyError,
  isMissingKeyError,
  isStoreUnavailableError,
  MissingKeyError,
  redactUrl,
  StoreUnavailableError,
  ThreadExistsError,
  UnsupportedUrlError,
} from "./errors.js";
export { withTimeout } from "./timeout.js";
