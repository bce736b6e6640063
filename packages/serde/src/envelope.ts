import { createCipheriv, createDecipheriv, type KeyObject, randomBytes } from "node:crypto";
import { CheckpointIntegrityError } from "@graphkeep/core";

/**
 * Wire format of an encrypted value (version 1: unbound, version 2: bound to a `SerdeBinding`):
 *
 * | bytes | field                                                   |
 * |-------|---------------------------------------------------------|
 * | 1     | version, `0x01` or `0x02`                               |
 * | 1     | key id length `n` (1–255)                               |
 * | n     | key id, UTF-8                                           |
 * | 12    | nonce, random per value                                 |
 * | …     | AES-256-GCM ciphertext of the inner serde's bytes       |
 * | 16    | GCM authentication tag                                  |
 *
 * Associated data, version 1: UTF-8 of `<stored type tag>\0<key id>` (the type tag with its `+aes` suffix).
 * Version 2: UTF-8 of `graphkeep.serde.v2\0<stored type tag>\0<key id>\0` followed by `encodeBinding(binding)`.
 * The binding itself is not stored: the reader supplies it from where it read the value.
 */
export const VERSION = 1;
/** Envelope version of a value bound to its place in the store. */
export const BOUND_VERSION = 2;
const V2_CONTEXT = "graphkeep.serde.v2";
const NONCE = 12;
const TAG = 16;
const ALGORITHM = "aes-256-gcm";
const decoder = new TextDecoder("utf-8", { fatal: true });

/** A parsed envelope: where its parts are, nothing decrypted yet. */
export interface Envelope {
  /** 1: unbound, 2: bound */
  version: 1 | 2;
  keyId: string;
  nonce: Uint8Array;
  ciphertext: Uint8Array;
  tag: Uint8Array;
}

function aad(type: string, keyId: string, binding: Uint8Array | undefined): Buffer {
  if (binding === undefined) return Buffer.from(`${type}\0${keyId}`, "utf8");
  return Buffer.concat([Buffer.from(`${V2_CONTEXT}\0${type}\0${keyId}\0`, "utf8"), binding]);
}

export function seal(
  type: string,
  keyId: string,
  keyIdBytes: Uint8Array,
  key: KeyObject,
  plain: Uint8Array,
  binding?: Uint8Array | undefined,
): Uint8Array {
  const nonce = randomBytes(NONCE);
  const cipher = createCipheriv(ALGORITHM, key, nonce, { authTagLength: TAG });
  cipher.setAAD(aad(type, keyId, binding));
  const head = Buffer.from([binding === undefined ? VERSION : BOUND_VERSION, keyIdBytes.length]);
  const body = cipher.update(plain);
  const last = cipher.final();
  const out = Buffer.concat([head, keyIdBytes, nonce, body, last, cipher.getAuthTag()]);
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

function malformed(type: string, what: string): CheckpointIntegrityError {
  return new CheckpointIntegrityError(
    "envelope",
    `encrypted: a stored value of type "${type}" is not a valid encrypted envelope (${what}); it was truncated or modified in the store`,
  );
}

/** Parses the envelope of a value stored with type tag `type`. */
export function parse(type: string, bytes: Uint8Array): Envelope {
  if (bytes.length < 2) throw malformed(type, `${bytes.length} bytes`);
  const version = bytes[0];
  if (version !== VERSION && version !== BOUND_VERSION) {
    throw malformed(type, `unknown version ${bytes[0]}; was it written by a newer @graphkeep/serde?`);
  }
  const n = bytes[1]!;
  if (n === 0) throw malformed(type, "empty key id");
  if (bytes.length < 2 + n + NONCE + TAG) throw malformed(type, `${bytes.length} bytes is too short`);
  let keyId: string;
  try {
    keyId = decoder.decode(bytes.subarray(2, 2 + n));
  } catch {
    throw malformed(type, "the key id is not UTF-8");
  }
  const body = 2 + n + NONCE;
  return {
    version,
    keyId,
    nonce: bytes.subarray(2 + n, body),
    ciphertext: bytes.subarray(body, bytes.length - TAG),
    tag: bytes.subarray(bytes.length - TAG),
  };
}

/**
 * Decrypts and authenticates an envelope against the stored type tag and, for a version-2 envelope, the binding
 * (a version-1 envelope ignores it). The caller checks that a version-2 envelope comes with a binding.
 */
export function open(type: string, env: Envelope, key: KeyObject, binding?: Uint8Array | undefined): Uint8Array {
  const bound = env.version === BOUND_VERSION;
  try {
    const decipher = createDecipheriv(ALGORITHM, key, env.nonce, { authTagLength: TAG });
    decipher.setAAD(aad(type, env.keyId, bound ? binding : undefined));
    decipher.setAuthTag(env.tag);
    const out = Buffer.concat([decipher.update(env.ciphertext), decipher.final()]);
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  } catch (e) {
    throw new CheckpointIntegrityError(
      "authentication",
      `encrypted: a stored value of type "${type}" failed authentication with key "${env.keyId}": its bytes, type tag or key id were changed in the store${bound ? ", it was moved or copied from another place (thread, namespace, record kind, checkpoint, channel, version or task) than the one it is read from" : ""}, or key "${env.keyId}" in the keyring is not the key that encrypted it`,
      { cause: e },
    );
  }
}
