import { isBindingAware, type SerdeBinding } from "@graphkeep/core";
import type { SerializerProtocol } from "@langchain/langgraph-checkpoint";

/** A serialized value as stored: `[serdeType, text]`, or `[serdeType, base64, 1]` for binary payloads. */
export type StoredBlob = [type: string, data: string] | [type: string, data: string, base64: 1];

const decoder = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();

/** Serializes a payload; bound to where it is stored when the serde is binding-aware (`@graphkeep/serde`). */
export async function encodeBlob(
  serde: SerializerProtocol,
  value: unknown,
  binding?: SerdeBinding,
): Promise<StoredBlob> {
  const [type, bytes] =
    binding !== undefined && isBindingAware(serde)
      ? await serde.dumpsTypedBound(binding, value)
      : await serde.dumpsTyped(value);
  return toBlob(type, bytes);
}

/** A serialized payload as stored: text for UTF-8 `json`, base64 otherwise. */
export function toBlob(type: string, bytes: Uint8Array): StoredBlob {
  if (type === "json") {
    try {
      return [type, decoder.decode(bytes)];
    } catch {
      // not valid UTF-8 (a custom serde): fall through to base64
    }
  }
  return [type, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64"), 1];
}

export function isStoredBlob(x: unknown): x is StoredBlob {
  return Array.isArray(x) && (x.length === 2 || x.length === 3) && typeof x[0] === "string" && typeof x[1] === "string";
}

/** Deserializes a stored payload, checking its binding when the serde is binding-aware. */
export async function decodeBlob(
  serde: SerializerProtocol,
  blob: StoredBlob,
  binding?: SerdeBinding,
): Promise<unknown> {
  return binding !== undefined && isBindingAware(serde)
    ? serde.loadsTypedBound(binding, blob[0], blobBytesOf(blob))
    : serde.loadsTyped(blob[0], blobBytesOf(blob));
}

/** The serialized bytes of a stored blob. */
export function blobBytesOf(blob: StoredBlob): Uint8Array {
  return blob[2] === 1 ? new Uint8Array(Buffer.from(blob[1], "base64")) : encoder.encode(blob[1]);
}

/** Size in bytes of a blob's payload as stored. */
export function blobBytes(blob: StoredBlob): number {
  return Buffer.byteLength(blob[1]) + blob[0].length;
}
