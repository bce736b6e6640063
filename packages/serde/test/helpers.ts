import { randomBytes } from "node:crypto";
import { compressed, encrypted } from "@graphkeep/serde";
import { JsonPlusSerializer, type SerializerProtocol } from "@langchain/langgraph-checkpoint";

export const key0 = randomBytes(32);
export const key1 = randomBytes(32);

/** The serde of each mode under test, built fresh. */
export const modes: Record<string, () => SerializerProtocol> = {
  gzip: () => compressed(new JsonPlusSerializer(), { algorithm: "gzip" }),
  brotli: () => compressed(new JsonPlusSerializer(), { algorithm: "brotli" }),
  encrypted: () => encrypted(new JsonPlusSerializer(), { keys: { k0: key0 }, activeKeyId: "k0" }),
  "brotli+encrypted": () =>
    encrypted(compressed(new JsonPlusSerializer()), { keys: { k1: key1, k0: key0 }, activeKeyId: "k1" }),
};

/** `encrypted(compressed(json))` with the given keyring. */
export function stack(keys: Record<string, Uint8Array>, activeKeyId: string, strict = true): SerializerProtocol {
  return encrypted(compressed(new JsonPlusSerializer()), { keys, activeKeyId, strict });
}

export async function roundTrip(serde: SerializerProtocol, value: unknown): Promise<unknown> {
  const [type, bytes] = await serde.dumpsTyped(value);
  return serde.loadsTyped(type, bytes);
}

/** Text that does not compress to nothing: random words. */
export function randomText(bytes: number): string {
  const words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"];
  const out: string[] = [];
  let n = 0;
  while (n <= bytes) {
    const w = words[Math.floor(Math.random() * words.length)]! + Math.floor(Math.random() * 1000);
    out.push(w);
    n += w.length + 1;
  }
  return out.join(" ").slice(0, bytes);
}
