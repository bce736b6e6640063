import { InvalidArgumentError, type SerdeBinding } from "@graphkeep/core";
import type { SerializerProtocol } from "@langchain/langgraph-checkpoint";
import type { RewritePayload } from "./types.js";

/** Type tag suffixes this package adds; an inner serde must not produce them. */
export const SUFFIX = { brotli: "+br", gzip: "+gz", aes: "+aes" } as const;

interface CompressionLayer {
  kind: "compression";
  inner: SerializerProtocol;
}

/** @internal what `rotate` needs from an `encrypted()` serde. */
export interface EncryptionLayer {
  kind: "encryption";
  inner: SerializerProtocol;
  /**
   * re-encrypts one payload with the active key (bound to `binding` when given, upgrading an unbound envelope);
   * `undefined` when it already is
   */
  reseal: RewritePayload;
  /** authenticates a payload bound to `from` and re-encrypts it bound to `to` with the active key */
  rebind(from: SerdeBinding, to: SerdeBinding, type: string, data: Uint8Array): Promise<[string, Uint8Array]>;
}

type Layer = CompressionLayer | EncryptionLayer;

const layers = new WeakMap<object, Layer>();

export function register<T extends SerializerProtocol>(serde: T, layer: Layer): T {
  layers.set(serde, layer);
  return serde;
}

/** The layer this package registered for a serde, if any. */
export function layerOf(serde: unknown): Layer | undefined {
  return typeof serde === "object" && serde !== null ? layers.get(serde) : undefined;
}

/** The `encrypted()` layer of a serde, when the serde is one. */
export function encryptionLayer(serde: unknown): EncryptionLayer | undefined {
  const layer = typeof serde === "object" && serde !== null ? layers.get(serde) : undefined;
  return layer?.kind === "encryption" ? layer : undefined;
}

/**
 * Checks that `inner` can be wrapped by a layer of `kind`: it must be a serde, must not already contain that
 * layer, and compression must not wrap encryption (the pipeline is serialize → compress → encrypt).
 */
export function checkWrappable(factory: string, kind: Layer["kind"], inner: unknown): SerializerProtocol {
  const s = inner as SerializerProtocol | null | undefined;
  if (s === null || typeof s !== "object" || typeof s.dumpsTyped !== "function" || typeof s.loadsTyped !== "function") {
    throw new InvalidArgumentError(
      `${factory}: the first argument must be a serde (a LangGraph SerializerProtocol), e.g. ${factory}(new JsonPlusSerializer())`,
    );
  }
  for (let layer = layers.get(s); layer !== undefined; layer = layers.get(layer.inner)) {
    if (layer.kind === kind) {
      throw new InvalidArgumentError(
        `${factory}: the serde is already ${kind === "compression" ? "compressed" : "encrypted"}; wrap it once (${factory}(new JsonPlusSerializer(), options))`,
      );
    }
    if (kind === "compression" && layer.kind === "encryption") {
      throw new InvalidArgumentError(
        "compressed: the serde is already encrypted, and ciphertext does not compress; compress first: encrypted(compressed(serde), options)",
      );
    }
  }
  return s;
}

/** Throws when an inner serde returned a type tag that already carries `suffix` (a layer wrapped twice). */
export function checkInnerType(factory: string, type: unknown, reserved: readonly string[]): string {
  if (typeof type !== "string" || type === "") {
    throw new InvalidArgumentError(`${factory}: the inner serde returned an invalid type tag (${String(type)})`);
  }
  const clash = reserved.find((sfx) => type.endsWith(sfx));
  if (clash !== undefined) {
    throw new InvalidArgumentError(
      `${factory}: the inner serde returned the type tag "${type}", which already ends in "${clash}"; wrap in the order serialize → compress → encrypt, each layer once`,
    );
  }
  return type;
}
