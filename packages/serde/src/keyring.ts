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

/** Checks a key id: 1–255 bytes of UTF-8, no `\0` (it separates the type tag and key id in the AAD). */
export function checkKeyId(id: unknown): Uint8Array {
  const bytes = typeof id === "string" ? Buffer.from(id, "utf8") : undefined;
  if (bytes === undefined || bytes.length === 0 || bytes.length > 255 || (id as string).includes("\0")) {
    throw new InvalidKeyError(
      typeof id === "string" ? id : undefined,
      `encrypted: key id ${describe(id)} is invalid; use 1–255 bytes of UTF-8 without "\\0", e.g. "2026-11"`,
    );
  }
  return bytes;
}

function keyBytes(id: string, material: unknown): Buffer {
  let bytes: Buffer | undefined;
  if (material instanceof Uint8Array) bytes = Buffer.from(material);
  else if (typeof material === "string") {
    const s = material.trim();
    if (BASE64.test(s)) bytes = Buffer.from(s.replace(/-/g, "+").replace(/_/g, "/"), "base64");
    else {
      throw new InvalidKeyError(
        id,
        `encrypted: key "${id}" is a string but not base64; give 32 bytes or their base64 (openssl rand -base64 32)`,
      );
    }
  }
  if (bytes === undefined) {
    throw new InvalidKeyError(
      id,
      `encrypted: key "${id}" must be a Uint8Array, Buffer or base64 string, got ${describe(material)}`,
    );
  }
  if (bytes.length !== KEY_BYTES) {
    throw new InvalidKeyError(
      id,
      `encrypted: key "${id}" is ${bytes.length} bytes; AES-256 needs exactly 32 (generate one with: openssl rand -base64 32)`,
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
    const known = [...ring.keys()].map((k) => `"${k}"`).join(", ") || "none";
    throw new InvalidKeyError(
      typeof activeKeyId === "string" ? activeKeyId : undefined,
      `encrypted: activeKeyId ${describe(activeKeyId)} is not a key of options.keys (keys: ${known}); add the key or pick one of them`,
    );
  }
  return { keys: ring, activeKeyId, activeKeyIdBytes: checkKeyId(activeKeyId) };
}
