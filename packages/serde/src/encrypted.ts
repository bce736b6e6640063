import { CheckpointIntegrityError, InvalidArgumentError, MissingKeyError } from "@graphkeep/core";
import type { SerializerProtocol } from "@langchain/langgraph-checkpoint";
import { describe, toBytes } from "./bytes.js";
import { open, parse, seal } from "./envelope.js";
import { buildKeyring, type Keyring } from "./keyring.js";
import { checkInnerType, checkWrappable, register, SUFFIX } from "./layers.js";
import type { EncryptedOptions } from "./types.js";

const DEFAULTS = { strict: true } as const;

/**
 * Wraps a serde so that every value is encrypted with AES-256-GCM: a random 12-byte nonce per value, the key id
 * inside the envelope, the type tag bound as associated data. The type tag gets the suffix `+aes`
 * (`json+br` → `json+br+aes`). Every key of the keyring decrypts; the active key encrypts.
 *
 * @param inner The serde to wrap: `new JsonPlusSerializer()`, or `compressed(...)` of it.
 * @param options `keys`, `activeKeyId`, `strict`.
 * @throws {InvalidKeyError} when a key is not 32 bytes, a key id is invalid, or `activeKeyId` is not in `keys`.
 * @throws {InvalidArgumentError} when `inner` is not a serde or is already encrypted.
 * @example
 * const serde = encrypted(compressed(new JsonPlusSerializer()), {
 *   keys: { "2026-11": process.env.CHECKPOINT_KEY_2026_11!, "2026-05": process.env.CHECKPOINT_KEY_2026_05! },
 *   activeKeyId: "2026-11",
 * });
 * const saver = new KeyvSaver(keyv, { serde });
 */
export function encrypted(inner: SerializerProtocol, options: EncryptedOptions): SerializerProtocol {
  const base = checkWrappable("encrypted", "encryption", inner);
  if (options === null || typeof options !== "object") {
    throw new InvalidArgumentError(
      'encrypted: options are required: { keys: { "2026-11": key }, activeKeyId: "2026-11" }',
    );
  }
  const strict = options.strict ?? DEFAULTS.strict;
  if (typeof strict !== "boolean") {
    throw new InvalidArgumentError(`encrypted: strict must be true or false, got ${describe(strict)}`);
  }
  const ring = buildKeyring(options.keys, options.activeKeyId);

  const encrypt = (innerType: string, plain: Uint8Array): [string, Uint8Array] => {
    const type = innerType + SUFFIX.aes;
    const key = ring.keys.get(ring.activeKeyId)!;
    return [type, seal(type, ring.activeKeyId, ring.activeKeyIdBytes, key, plain)];
  };

  const serde: SerializerProtocol = {
    async dumpsTyped(data: unknown): Promise<[string, Uint8Array]> {
      const [rawType, bytes] = await base.dumpsTyped(data);
      return encrypt(checkInnerType("encrypted", rawType, [SUFFIX.aes]), bytes);
    },

    async loadsTyped(type: string, data: Uint8Array | string): Promise<unknown> {
      if (!isEncrypted(type)) {
        if (strict) throw notEncrypted(type);
        return base.loadsTyped(type, data);
      }
      return base.loadsTyped(type.slice(0, -SUFFIX.aes.length), decrypt(ring, type, data).plain);
    },
  };

  return register(serde, {
    kind: "encryption",
    inner: base,
    async reseal(type, data) {
      if (!isEncrypted(type)) {
        if (strict) throw notEncrypted(type);
        await base.loadsTyped(type, data); // a plaintext value that does not even read is not encrypted as if it did
        return encrypt(type, data);
      }
      // authenticated whatever its key: rotation never re-encrypts (and so blesses) a tampered value
      const { keyId, plain } = decrypt(ring, type, data);
      return keyId === ring.activeKeyId ? undefined : encrypt(type.slice(0, -SUFFIX.aes.length), plain);
    },
  });
}

function isEncrypted(type: unknown): type is string {
  return typeof type === "string" && type.endsWith(SUFFIX.aes);
}

function notEncrypted(type: unknown): CheckpointIntegrityError {
  return new CheckpointIntegrityError(
    "not-encrypted",
    `encrypted: a stored value of type ${describe(type)} is not encrypted, and strict mode refuses plaintext; to read a store written before encryption, pass strict: false and run rotate() to encrypt it`,
  );
}

function decrypt(ring: Keyring, type: string, data: unknown): { keyId: string; plain: Uint8Array } {
  const bytes = toBytes(data);
  if (bytes === undefined) {
    throw new CheckpointIntegrityError(
      "envelope",
      `encrypted: a stored value of type "${type}" is ${describe(data)}, not bytes; it was modified in the store`,
    );
  }
  const env = parse(type, bytes);
  const key = ring.keys.get(env.keyId);
  if (key === undefined) {
    throw new MissingKeyError(
      env.keyId,
      `encrypted: a stored value was encrypted with key "${env.keyId}", which is not in the keyring; add it to options.keys (keep old keys until rotate() has re-encrypted the store)`,
    );
  }
  return { keyId: env.keyId, plain: open(type, env, key) };
}
