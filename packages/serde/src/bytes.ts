const encoder = new TextEncoder();

/** The bytes of a stored payload: savers hand back `Uint8Array`s (or `Buffer`s), some hand back strings. */
export function toBytes(data: unknown): Uint8Array | undefined {
  if (data instanceof Uint8Array) return data;
  if (typeof data === "string") return encoder.encode(data);
  return undefined;
}

/** A short description of a value for error messages. */
export function describe(x: unknown): string {
  if (x === null) return "null";
  if (Array.isArray(x)) return "an array";
  return typeof x === "string" ? `"${x}"` : typeof x;
}
