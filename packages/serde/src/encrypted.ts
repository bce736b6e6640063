import {
  type BindingAwareSerializer,
  CheckpointIntegrityError,
  encodeBinding,
  InvalidArgumentError,
  isBindingAware,
  MissingKeyError,
  type SerdeBinding,
} from "@graphkeep/core";
import type { SerializerProtocol } from "@langchain/langgraph-checkpoint";
import { describe, toBytes } from "./bytes.js";
import { BOUND_VERSION, open, parse, seal } from "./envelope.js";
import { buildKeyring, type Keyring } from "./keyring.js";
import { checkInnerType, checkWrappable, register, SUFFIX } from "./layers.js";
import type { EncryptedOptions } from "./types.js";

const DEFAULTS = { strict: true, requireBinding: false } as const;

/**
 * Wraps a serde so that every value is encrypted with AES-256-GCM: a random 12-byte nonce per value, the key id
 * inside the envelope, the type tag bound as associated data. The type tag gets the suffix `+aes`
 * (`json+br` → `json+br+aes`). Every key of the keyring decrypts; the active key encrypts.
 *
 * The result is a {@link BindingAwareSerializer}: a saver that calls `dumpsTypedBound(binding, value)` gets a
 * ciphertext that also authenticates where it is stored (thread, namespace, record kind, checkpoint, channel,
 * version, task), and `loadsTypedBound` refuses it anywhere else. `dumpsTyped` / `loadsTyped` keep writing and
 * reading unbound values.
 *
 * @param inner The serde to wrap: `new JsonPlusSerializer()`, or `compressed(...)` of it.
 * @param options `keys`, `activeKeyId`, `strict`, `requireBinding`.
 * @throws {InvalidKeyError} when a key is not 32 random bytes, a key id is invalid, or `activeKeyId` is not in `keys`.
 * @throws {InvalidArgumentError} when `inner` is not a serde or is already encrypted.
 * @example
 * const serde = encrypted(compressed(new JsonPlusSerializer()), {
 *   keys: { "2026-11": process.env.CHECKPOINT_KEY_2026_11!, "2026-05": process.env.CHECKPOINT_KEY_2026_05! },
 *   activeKeyId: "2026-11",
 * });
 * const saver = new KeyvSaver(keyv, { serde });
 */
export function encrypted(inner: SerializerProtocol, options: EncryptedOptions): BindingAwareSerializer {
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
  const requireBinding = options.requireBinding ?? DEFAULTS.requireBinding;
  if (typeof requireBinding !== "boolean") {
    throw new InvalidArgumentError(`encrypted: requireBinding must be true or false, got ${describe(requireBinding)}`);
  }
  const ring = buildKeyring(options.keys, options.activeKeyId);

  const encrypt = (innerType: string, plain: Uint8Array, binding?: Uint8Array): [string, Uint8Array] => {
    const type = innerType + SUFFIX.aes;
    const key = ring.keys.get(ring.activeKeyId)!;
    return [type, seal(type, ring.activeKeyId, ring.activeKeyIdBytes, key, plain, binding)];
  };
  const innerDump = (binding: SerdeBinding | undefined, data: unknown): Promise<[string, Uint8Array]> =>
    binding !== undefined && isBindingAware(base) ? base.dumpsTypedBound(binding, data) : base.dumpsTyped(data);
  const innerLoad = (binding: SerdeBinding | undefined, type: string, data: Uint8Array | string): Promise<unknown> =>
    binding !== undefined && isBindingAware(base)
      ? base.loadsTypedBound(binding, type, data)
      : base.loadsTyped(type, data);
  /** Authenticates and decrypts; `binding` undefined = a plain (unbound) read. */
  const decryptAt = (type: string, data: unknown, binding: Uint8Array | undefined) => {
    const out = decrypt(ring, type, data, binding);
    if (binding !== undefined && out.version !== BOUND_VERSION && requireBinding) throw unboundRefused(type);
    return out;
  };
  const load = async (binding: SerdeBinding | undefined, type: string, data: Uint8Array | string) => {
    const bound = binding === undefined ? undefined : encodeBinding(binding);
    if (!isEncrypted(type)) {
      if (strict) throw notEncrypted(type);
      return innerLoad(binding, type, data);
    }
    return innerLoad(binding, type.slice(0, -SUFFIX.aes.length), decryptAt(type, data, bound).plain);
  };
  const dump = async (binding: SerdeBinding | undefined, data: unknown): Promise<[string, Uint8Array]> => {
    const bound = binding === undefined ? undefined : encodeBinding(binding);
    const [rawType, bytes] = await innerDump(binding, data);
    return encrypt(checkInnerType("encrypted", rawType, [SUFFIX.aes]), bytes, bound);
  };

  const serde: BindingAwareSerializer = {
    dumpsTyped: (data: unknown) => dump(undefined, data),
    loadsTyped: (type: string, data: Uint8Array | string) => load(undefined, type, data),
    dumpsTypedBound: (binding: SerdeBinding, data: unknown) => dump(binding, data),
    loadsTypedBound: (binding: SerdeBinding, type: string, data: Uint8Array | string) => load(binding, type, data),
  };

  return register(serde, {
    kind: "encryption",
    inner: base,
    async reseal(type, data, binding) {
      const bound = binding === undefined ? undefined : encodeBinding(binding);
      if (!isEncrypted(type)) {
        if (strict) throw notEncrypted(type);
        await innerLoad(binding, type, data); // a plaintext value that does not even read is not encrypted as if it did
        return encrypt(type, data, bound);
      }
      // authenticated whatever its key: rotation never re-encrypts (and so blesses) a tampered value
      const { keyId, plain, version } = decryptAt(type, data, bound);
      const upToDate = keyId === ring.activeKeyId && (bound === undefined || version === BOUND_VERSION);
      return upToDate ? undefined : encrypt(type.slice(0, -SUFFIX.aes.length), plain, bound);
    },
    async rebind(from, to, type, data) {
      const target = encodeBinding(to);
      if (!isEncrypted(type)) {
        if (strict) throw notEncrypted(type);
        await innerLoad(from, type, data);
        return encrypt(type, data, target);
      }
      const { plain } = decryptAt(type, data, encodeBinding(from));
      return encrypt(type.slice(0, -SUFFIX.aes.length), plain, target);
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

function unboundRefused(type: string): CheckpointIntegrityError {
  return new CheckpointIntegrityError(
    "binding",
    `encrypted: a stored value of type "${type}" is an unbound (version 1) envelope, and requireBinding refuses those: it could have been moved here from another thread, channel or version; run rotate() through a saver that passes bindings to rebind the store, or drop requireBinding`,
  );
}

function decrypt(
  ring: Keyring,
  type: string,
  data: unknown,
  binding: Uint8Array | undefined,
): { keyId: string; plain: Uint8Array; version: 1 | 2 } {
  const bytes = toBytes(data);
  if (bytes === undefined) {
    throw new CheckpointIntegrityError(
      "envelope",
      `encrypted: a stored value of type "${type}" is ${describe(data)}, not bytes; it was modified in the store`,
    );
  }
  const env = parse(type, bytes);
  if (env.version === BOUND_VERSION && binding === undefined) {
    throw new CheckpointIntegrityError(
      "binding",
      `encrypted: a stored value of type "${type}" is bound to its place in the store (a version 2 envelope) and was read without a binding; read it with loadsTypedBound(binding, type, bytes), as a saver that supports SerdeBinding does`,
    );
  }
  const key = ring.keys.get(env.keyId);
  if (key === undefined) {
    throw new MissingKeyError(
      env.keyId,
      `encrypted: a stored value was encrypted with key "${env.keyId}", which is not in the keyring; add it to options.keys (keep old keys until rotate() has re-encrypted the store)`,
    );
  }
  return { keyId: env.keyId, plain: open(type, env, key, binding), version: env.version };
}
