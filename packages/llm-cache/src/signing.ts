import { createHmac, createSecretKey, timingSafeEqual } from "node:crypto";
import { InvalidArgumentError } from "@graphkeep/core";

/** Bytes a signing key needs at least (HMAC-SHA256 gains nothing from more than its 32-byte output). */
const MIN_KEY_BYTES = 32;
/** base64 or base64url, padding optional */
const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;
/** What a signature is for, so that a signature of one kind of entry never verifies as another kind. */
export type SigningContext = "graphkeep.llm-cache.v2" | "graphkeep.node-cache.v1";
const GENERATE = "generate one with: openssl rand -base64 32";

/** A validated HMAC-SHA256 key and the signature it computes for an entry. */
export interface Signer {
  /** The signature (base64url) of an entry's text stored under `storeKey`. */
  sign(storeKey: string, body: string): string;
  /** True when `sig` is the signature of `body` under `storeKey` (constant time). */
  verify(storeKey: string, body: string, sig: unknown): boolean;
}

/**
 * Builds the signer of `signingKey` (32 random bytes or more, as bytes or base64).
 *
 * @throws {InvalidArgumentError} when the key is not bytes or base64, is shorter than 32 bytes, or is not random
 * (one byte value repeated, few distinct byte values)
 */
export function signerOf(signingKey: unknown, where: string, context: SigningContext): Signer {
  let key: Buffer | undefined;
  if (signingKey instanceof Uint8Array) key = Buffer.from(signingKey);
  else if (typeof signingKey === "string" && BASE64.test(signingKey.trim())) {
    key = Buffer.from(signingKey.trim().replace(/-/g, "+").replace(/_/g, "/"), "base64");
  }
  if (key === undefined) {
    throw new InvalidArgumentError(
      `${where}: signingKey must be a Uint8Array, a Buffer or a base64 string of 32 random bytes or more (${GENERATE})`,
    );
  }
  if (key.length < MIN_KEY_BYTES) {
    throw new InvalidArgumentError(`${where}: signingKey is ${key.length} bytes; it needs 32 or more (${GENERATE})`);
  }
  const distinct = new Set(key).size;
  if (distinct < 16) {
    throw new InvalidArgumentError(
      `${where}: signingKey is not random (only ${distinct} distinct byte values); ${GENERATE}`,
    );
  }
  const secret = createSecretKey(key);
  key.fill(0);
  const mac = (storeKey: string, body: string): Buffer =>
    createHmac("sha256", secret).update(`${context}\0${storeKey}\0`).update(body).digest();
  return {
    sign: (storeKey, body) => mac(storeKey, body).toString("base64url"),
    verify(storeKey, body, sig) {
      if (typeof sig !== "string") return false;
      const given = Buffer.from(sig, "base64url");
      const expected = mac(storeKey, body);
      return given.length === expected.length && timingSafeEqual(given, expected);
    },
  };
}
