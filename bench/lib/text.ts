/** Deterministic pseudo-random text, so every saver sees byte-identical workloads. */

/** mulberry32: a tiny seeded PRNG returning floats in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `bytes` ASCII characters of lowercase "words" separated by spaces (no characters JSON has to escape). */
export function randomText(seed: number, bytes: number): string {
  const rnd = prng(seed);
  const buf = Buffer.allocUnsafe(bytes);
  for (let i = 0; i < bytes; i++) {
    const r = rnd();
    buf[i] = r < 0.16 ? 32 : 97 + Math.floor(((r - 0.16) / 0.84) * 26);
  }
  return buf.toString("latin1");
}

/** `edits` small in-place replacements of `span` characters at random offsets; the length is unchanged. */
export function editText(doc: string, seed: number, edits: number, span: number): string {
  const rnd = prng(seed);
  let out = doc;
  for (let i = 0; i < edits; i++) {
    const at = Math.floor(rnd() * Math.max(1, out.length - span));
    out = out.slice(0, at) + randomText(seed * 31 + i, span) + out.slice(at + span);
  }
  return out;
}

/** Seed of one step of one thread. */
export function stepSeed(threadNo: number, turn: number): number {
  return (threadNo * 1_000_003 + turn * 7919) >>> 0;
}
