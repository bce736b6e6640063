import { createSecretKey, type KeyObject } from "node:crypto";
import { InvalidKeyError } from "@graphkeep/core";
import { describe } from "./bytes.js";

/** AES-256 key length in bytes. */
export const KEY_BYTES = 32;
/** base64 or base64url, padding optional */
const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

/** A validated keyring: key id → AES key. */
export interface Keyring {
  keys: ReadonlyMap<string, KeyObject>;
  activeKeyId: string;
  /** UTF-8 of the active key id */
  activeKeyIdBytes: Uint8Array;
}

const GENERATE = "generate one with: openssl rand -base64 32";
/** fewer distinct byte values than this in 32 bytes: not random (a random key has ~30; ≤ 15 has probability < 2^-60) */
const MIN_DISTINCT_BYTES = 16;

/**
 * True when a key id may appear in an error message: short, and not shaped like key material (a run of base64 or
 * hex long enough to hold 16 bytes or more), so that ids and keys swapped by mistake never echo a secret.
 */
export function isShowableKeyId(id: string): boolean {
  return id.length <= 32 && !/[A-Za-z0-9+/_=-]{22,}/.test(id) && !/[0-9a-fA-F]{32,}/.test(id);
}

/** A key id as error messages show it: quoted, or its length only when it could be key material. */
export function showKeyId(id: unknown): string {
  if (typeof id !== "string") return describe(id);
  return isShowableKeyId(id) ? `"${id}"` : `(${id.length} characters, not shown: it looks like key material)`;
}

/** The key id an `InvalidKeyError` may carry: undefined when it could be key material. */
function safeId(id: unknown): string | undefined {
  return typeof id === "string" && isShowableKeyId(id) ? id : undefined;
}

/** Checks a key id: 1–255 bytes of UTF-8, no `\0` (it separates the type tag and key id in the AAD). */
export function checkKeyId(id: unknown): Uint8Array {
  const bytes = typeof id === "string" ? Buffer.from(id, "utf8") : undefined;
  if (bytes === undefined || bytes.length === 0 || bytes.length > 255 || (id as string).includes("\0")) {
    throw new InvalidKeyError(
      safeId(id),
      `encrypted: key id ${showKeyId(id)} is invalid; use 1–255 bytes of UTF-8 without "\\0", e.g. "2026-11"`,
    );
  }
  if (looksLikeKey(id as string)) {
    throw new InvalidKeyError(
      undefined,
      `encrypted: a key id ${showKeyId(id)} is the base64 or hex of 32 bytes: were key ids and keys swapped? Use { keys: { "2026-11": key }, activeKeyId: "2026-11" }`,
    );
  }
  return bytes;
}

/** True when `s` is the base64 (or base64url) or hex text of 32 bytes. */
function looksLikeKey(s: string): boolean {
  if (/^[0-9a-fA-F]{64}$/.test(s)) return true;
  return BASE64.test(s) && /^[A-Za-z0-9+/_-]{42,44}={0,2}$/.test(s) && Buffer.from(s, "base64").length === KEY_BYTES;
}

/** Why 32 key bytes are not a random key, or undefined when nothing says they are not. */
function weakness(bytes: Uint8Array): string | undefined {
  const distinct = new Set(bytes).size;
  if (distinct === 1) return bytes[0] === 0 ? "all zero bytes" : "one byte value repeated";
  if (distinct < MIN_DISTINCT_BYTES) return `only ${distinct} distinct byte values (a random key has about 30)`;
  // all printable ASCII: a password or a phrase, not random bytes (a random key is, with probability ~10^-14)
  if (bytes.every((b) => b >= 0x20 && b < 0x7f)) return "only printable ASCII characters: a password, not random bytes";
  return undefined;
}

function keyBytes(id: string, material: unknown): Buffer {
  const label = showKeyId(id);
  const keyId = safeId(id);
  let bytes: Buffer | undefined;
  if (material instanceof Uint8Array) bytes = Buffer.from(material);
  else if (typeof material === "string") {
    const s = material.trim();
    if (BASE64.test(s)) bytes = Buffer.from(s.replace(/-/g, "+").replace(/_/g, "/"), "base64");
    else {
      throw new InvalidKeyError(
        keyId,
        `encrypted: key ${label} is a string but not base64; give 32 bytes or their base64 (${GENERATE})`,
      );
    }
  }
  if (bytes === undefined) {
    throw new InvalidKeyError(
      keyId,
      `encrypted: key ${label} must be a Uint8Array, Buffer or base64 string, got ${material === null ? "null" : Array.isArray(material) ? "an array" : typeof material}`,
    );
  }
  if (bytes.length !== KEY_BYTES) {
    throw new InvalidKeyError(
      keyId,
      `encrypted: key ${label} is ${bytes.length} bytes; AES-256 needs exactly 32 (${GENERATE})`,
    );
  }
  const weak = weakness(bytes);
  if (weak !== undefined) {
    bytes.fill(0);
    throw new InvalidKeyError(
      keyId,
      `encrypted: key ${label} is not random: ${weak}. An AES key must be 32 random bytes; ${GENERATE}, or crypto.randomBytes(32)`,
    );
  }
  return bytes;
}

/** Validates `keys` and `activeKeyId` into a keyring. Copies the key material. */
export function buildKeyring(keys: unknown, activeKeyId: unknown): Keyring {
  if (keys === null || typeof keys !== "object" || Array.isArray(keys)) {
    throw new InvalidKeyError(
      undefined,
      'encrypted: options.keys must be an object of key id → key, e.g. { "2026-11": key }',
    );
  }
  const ring = new Map<string, KeyObject>();
  for (const [id, material] of Object.entries(keys)) {
    checkKeyId(id);
    const bytes = keyBytes(id, material);
    ring.set(id, createSecretKey(bytes));
    bytes.fill(0);
  }
  if (typeof activeKeyId !== "string" || !ring.has(activeKeyId)) {
    const known = [...ring.keys()].map(showKeyId).join(", ") || "none";
    throw new InvalidKeyError(
      safeId(activeKeyId),
      `encrypted: activeKeyId ${showKeyId(activeKeyId)} is not a key of options.keys (keys: ${known}); add the key or pick one of them`,
    );
  }
  return { keys: ring, activeKeyId, activeKeyIdBytes: checkKeyId(activeKeyId) };
}
