import { InvalidArgumentError, isBindingAware, type SerdeBinding } from "@graphkeep/core";
import type { SerializerProtocol } from "@langchain/langgraph-checkpoint";
import { toBytes } from "./bytes.js";
import { encryptionLayer, layerOf } from "./layers.js";

/**
 * Moves one stored payload to another place: authenticates it against the binding it was stored under (`from`) and
 * returns it re-encrypted, with the active key, bound to `to`. For a saver's `copyThread` (a ciphertext bound to
 * the source thread does not read in the target thread) and any other copy between bindings. An unbound
 * (version 1) value is authenticated the old way and returned bound. A serde without encryption returns the payload
 * as it is (compression does not depend on the binding); another binding-aware serde is read under `from` and
 * written under `to`.
 *
 * @param serde The saver's serde.
 * @throws {CheckpointIntegrityError} when the payload fails authentication under `from` (moved, altered) or, in
 * strict mode, is not encrypted.
 * @throws {MissingKeyError} when the payload was encrypted with a key the keyring does not hold.
 * @throws {InvalidArgumentError} when a binding is invalid.
 * @example
 * const [type, bytes] = await rebind(serde, { ...at, threadId: "alice" }, { ...at, threadId: "alice-fork" }, t, b);
 */
export async function rebind(
  serde: SerializerProtocol,
  from: SerdeBinding,
  to: SerdeBinding,
  type: string,
  data: Uint8Array | string,
): Promise<[string, Uint8Array]> {
  const bytes = toBytes(data);
  if (typeof type !== "string" || bytes === undefined) {
    throw new InvalidArgumentError("rebind: type must be a string and data a Uint8Array or string");
  }
  const layer = encryptionLayer(serde);
  if (layer !== undefined) return layer.rebind(from, to, type, bytes);
  if (layerOf(serde) !== undefined || !isBindingAware(serde)) return [type, bytes];
  return serde.dumpsTypedBound(to, await serde.loadsTypedBound(from, type, bytes));
}
