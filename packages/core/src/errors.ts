/** Every condition a graphkeep package reports with a typed error. */
export type GraphkeepErrorCode =
  | "INVALID_CONFIG"
  | "INVALID_ARGUMENT"
  | "STORE_UNAVAILABLE"
  | "CHECKPOINT_CORRUPT"
  | "THREAD_EXISTS"
  | "UNSUPPORTED_URL"
  | "ADAPTER_NOT_INSTALLED"
  | "CHECKPOINT_INTEGRITY"
  | "MISSING_KEY"
  | "INVALID_KEY"
  | "BUDGET_EXCEEDED"
  | "UNPRICED_MODEL"
  | "THREAD_BUSY"
  | "LEASE_LOST"
  | "WRITE_CONFLICT"
  | "DECOMPRESSION_LIMIT"
  | "STORE_NOT_FOUND"
  | "FOREIGN_STORE"
  | "ARCHIVE_CORRUPT"
  | "ACCESS_DENIED";

/** Marks graphkeep errors across copies of this package (two versions installed side by side). */
const BRAND = Symbol.for("graphkeep.error");

/**
 * Base class of every error thrown by graphkeep. Check `code` (or `instanceof`) to branch on the condition.
 *
 * @example
 * try { await saver.getTuple(config) } catch (e) { if (isGraphkeepError(e) && e.code === "STORE_UNAVAILABLE") retryLater() }
 */
export class GraphkeepError extends Error {
  /** Machine-readable condition. */
  readonly code: GraphkeepErrorCode;

  constructor(code: GraphkeepErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "GraphkeepError";
    this.code = code;
    Object.defineProperty(this, BRAND, { value: true });
  }
}

/** A `RunnableConfig` is missing `configurable.thread_id` or carries a value of the wrong type. */
export class InvalidConfigError extends GraphkeepError {
  constructor(message: string) {
    super("INVALID_CONFIG", message);
    this.name = "InvalidConfigError";
  }
}

/** An argument of a graphkeep method (not a `RunnableConfig`) is invalid. */
export class InvalidArgumentError extends GraphkeepError {
  constructor(message: string) {
    super("INVALID_ARGUMENT", message);
    this.name = "InvalidArgumentError";
  }
}

/**
 * The store failed or did not answer in time. Nothing was read as "not found": retry once the store is back.
 * The original error is in `cause`.
 */
export class StoreUnavailableError extends GraphkeepError {
  /** The store operation that failed (`get`, `getMany`, `set`, `setMany`, `delete`, `deleteMany`). */
  readonly operation: string;

  constructor(operation: string, message: string, options?: { cause?: unknown }) {
    super("STORE_UNAVAILABLE", message, options);
    this.name = "StoreUnavailableError";
    this.operation = operation;
  }
}

/** A stored record cannot be decoded or deserialized. Names the thread, checkpoint and key involved. */
export class CheckpointCorruptError extends GraphkeepError {
  readonly threadId: string;
  readonly checkpointId: string | undefined;
  readonly key: string;

  constructor(
    details: { threadId: string; checkpointId?: string | undefined; key: string },
    message: string,
    options?: { cause?: unknown },
  ) {
    super("CHECKPOINT_CORRUPT", message, options);
    this.name = "CheckpointCorruptError";
    this.threadId = details.threadId;
    this.checkpointId = details.checkpointId;
    this.key = details.key;
  }
}

/** `copyThread` was asked to write into a thread that already has checkpoints. */
export class ThreadExistsError extends GraphkeepError {
  readonly threadId: string;

  constructor(threadId: string) {
    super(
      "THREAD_EXISTS",
      `KeyvSaver: thread "${threadId}" already has checkpoints; delete it first or copy to a new thread id`,
    );
    this.name = "ThreadExistsError";
    this.threadId = threadId;
  }
}

/** `KeyvSaver.fromUrl` got a URL scheme it does not know. */
export class UnsupportedUrlError extends GraphkeepError {
  constructor(url: string) {
    super(
      "UNSUPPORTED_URL",
      `KeyvSaver.fromUrl: unsupported URL "${redactUrl(url)}"; use memory:, sqlite://<path>, redis://, rediss://, redis+cluster://, postgres://, postgresql:// or mysql://`,
    );
    this.name = "UnsupportedUrlError";
  }
}

/** The keyv adapter for a URL scheme is not installed. */
export class AdapterNotInstalledError extends GraphkeepError {
  readonly adapter: string;

  constructor(adapter: string, cause: unknown) {
    super(
      "ADAPTER_NOT_INSTALLED",
      `KeyvSaver.fromUrl: the keyv adapter "${adapter}" is not installed; run \`pnpm add ${adapter}\` (or npm i ${adapter})`,
      { cause },
    );
    this.name = "AdapterNotInstalledError";
    this.adapter = adapter;
  }
}

/** Why a stored value failed its integrity check (see {@link CheckpointIntegrityError}). */
export type IntegrityFailure =
  /** authentication failed: the value, its type tag or its key id was changed, or another key encrypted it */
  | "authentication"
  /** the envelope is malformed: truncated, unknown version, or not an envelope at all */
  | "envelope"
  /** strict mode met a value that is not encrypted */
  | "not-encrypted"
  /** a compressed payload does not decompress */
  | "decompression"
  /** a value bound to its place in the store (see `SerdeBinding`) was read without a binding, or an unbound value where one is required */
  | "binding";

/**
 * A stored value is not what was written: tampered or truncated, its type tag swapped, its envelope malformed,
 * or (in strict mode) not encrypted at all. Nothing of it was returned.
 *
 * @example
 * try { await saver.getTuple(config) } catch (e) { if (isCheckpointIntegrityError(e)) alertSecurity(e.reason) }
 */
export class CheckpointIntegrityError extends GraphkeepError {
  /** What failed. */
  readonly reason: IntegrityFailure;

  constructor(reason: IntegrityFailure, message: string, options?: { cause?: unknown }) {
    super("CHECKPOINT_INTEGRITY", message, options);
    this.name = "CheckpointIntegrityError";
    this.reason = reason;
  }
}

/** A stored value was encrypted with a key id the keyring does not hold. Add that key to `keys` to read it. */
export class MissingKeyError extends GraphkeepError {
  /** The key id named in the stored value. */
  readonly keyId: string;

  constructor(keyId: string, message: string) {
    super("MISSING_KEY", message);
    this.name = "MissingKeyError";
    this.keyId = keyId;
  }
}

/** A key of a keyring is not 32 bytes, a key id is invalid, or `activeKeyId` names no key. Thrown at construction. */
export class InvalidKeyError extends GraphkeepError {
  /** The key id at fault, when one is. */
  readonly keyId: string | undefined;

  constructor(keyId: string | undefined, message: string) {
    super("INVALID_KEY", message);
    this.name = "InvalidKeyError";
    this.keyId = keyId;
  }
}

/** True when `e` is any graphkeep error. */
export function isGraphkeepError(e: unknown): e is GraphkeepError {
  // by brand, not only instanceof: an error from another installed copy of @graphkeep/core counts too
  return (
    e instanceof GraphkeepError ||
    (e instanceof Error &&
      (e as unknown as Record<symbol, unknown>)[BRAND] === true &&
      typeof (e as GraphkeepError).code === "string")
  );
}

/** True when `e` reports a store that failed or timed out. */
export function isStoreUnavailableError(e: unknown): e is StoreUnavailableError {
  return isGraphkeepError(e) && e.code === "STORE_UNAVAILABLE";
}

/** True when `e` reports a stored record that cannot be decoded. */
export function isCheckpointCorruptError(e: unknown): e is CheckpointCorruptError {
  return isGraphkeepError(e) && e.code === "CHECKPOINT_CORRUPT";
}

/** True when `e` reports a stored value that failed its integrity check (tampered, truncated, not encrypted). */
export function isCheckpointIntegrityError(e: unknown): e is CheckpointIntegrityError {
  return isGraphkeepError(e) && e.code === "CHECKPOINT_INTEGRITY";
}

/** True when `e` reports a stored value encrypted with a key the keyring does not hold. */
export function isMissingKeyError(e: unknown): e is MissingKeyError {
  return isGraphkeepError(e) && e.code === "MISSING_KEY";
}

/** True when `e` reports an invalid key or keyring. */
export function isInvalidKeyError(e: unknown): e is InvalidKeyError {
  return isGraphkeepError(e) && e.code === "INVALID_KEY";
}

const SECRET_PARAM = /^(?:.*pass(?:word)?|pwd|secret|token|.*key|auth.*|credentials?)$/i;

/**
 * Hides the secrets of a connection URL for error messages: the password of the user info (`u:p@h` → `u:***@h`,
 * `:p@h` → `:***@h`; the user info ends at the last `@`, so a password holding `@`, `/`, `?` or `#` is hidden whole)
 * and the values of query parameters named like `password`, `sslpassword`, `secret`, `token`, `*key`, `auth*`.
 *
 * @example
 * redactUrl("postgres://u:p/ss@h/db?sslpassword=x") // "postgres://u:***@h/db?sslpassword=***"
 */
export function redactUrl(url: string): string {
  if (typeof url !== "string") return String(url);
  const slashes = url.indexOf("//");
  const start = slashes >= 0 ? slashes + 2 : 0;
  const at = url.lastIndexOf("@");
  let out = url;
  if (at >= start) {
    const userinfo = url.slice(start, at);
    const colon = userinfo.indexOf(":");
    // no colon: a bare user name, unless it is the part of a scheme-less string before "@" (then it may be anything)
    const shown = colon >= 0 ? `${userinfo.slice(0, colon)}:***` : slashes >= 0 ? userinfo : "***";
    out = url.slice(0, start) + shown + url.slice(at);
  }
  const q = out.indexOf("?", at >= 0 ? out.lastIndexOf("@") : 0);
  if (q < 0) return out;
  const hash = out.indexOf("#", q);
  const query = out.slice(q + 1, hash < 0 ? undefined : hash);
  const redacted = query
    .split("&")
    .map((pair) => {
      const eq = pair.indexOf("=");
      if (eq < 0) return pair;
      let name = pair.slice(0, eq);
      try {
        name = decodeURIComponent(name);
      } catch {
        // keep it as written
      }
      return SECRET_PARAM.test(name) ? `${pair.slice(0, eq)}=***` : pair;
    })
    .join("&");
  return `${out.slice(0, q + 1)}${redacted}${hash < 0 ? "" : out.slice(hash)}`;
}
