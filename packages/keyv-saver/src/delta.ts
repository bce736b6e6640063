/**
 * Text deltas between two versions of a serialized channel value: `next = base[0, p) + mid + base[len - s, len)`.
 * Covers appends to lists (`[..., new]`), growing strings and small edits inside large documents.
 */
export interface Delta {
  /** length of the prefix shared with the base */
  p: number;
  /** length of the suffix shared with the base */
  s: number;
  /** the text between them */
  mid: string;
}

const STEP = 1024;

function commonPrefix(a: string, b: string, max: number): number {
  let i = 0;
  // compare in blocks first (native string compare), then character by character
  while (i + STEP <= max && a.slice(i, i + STEP) === b.slice(i, i + STEP)) i += STEP;
  while (i < max && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  return i;
}

function commonSuffix(a: string, b: string, max: number): number {
  let i = 0;
  const la = a.length;
  const lb = b.length;
  while (i + STEP <= max && a.slice(la - i - STEP, la - i) === b.slice(lb - i - STEP, lb - i)) i += STEP;
  while (i < max && a.charCodeAt(la - 1 - i) === b.charCodeAt(lb - 1 - i)) i++;
  return i;
}

/** The delta from `base` to `next`, or `undefined` when storing `next` whole is about as cheap. */
export function diff(base: string, next: string): Delta | undefined {
  const max = Math.min(base.length, next.length);
  const p = commonPrefix(base, next, max);
  const s = commonSuffix(base, next, max - p);
  const mid = next.slice(p, next.length - s);
  // a delta costs a record plus the base chain on every read: only worth it when it saves most of the bytes
  if (mid.length + 64 > next.length / 2) return undefined;
  return { p, s, mid };
}

/**
 * A text built from pieces without copying: applying a chain of deltas slices piece lists and joins once.
 */
export class Pieces {
  readonly parts: string[];
  readonly length: number;

  constructor(parts: string[], length?: number) {
    this.parts = parts;
    this.length = length ?? parts.reduce((n, x) => n + x.length, 0);
  }

  static of(text: string): Pieces {
    return new Pieces([text], text.length);
  }

  #slice(from: number, to: number, out: string[]): void {
    let pos = 0;
    for (const part of this.parts) {
      const end = pos + part.length;
      if (end > from && pos < to) out.push(part.slice(Math.max(0, from - pos), Math.min(part.length, to - pos)));
      pos = end;
      if (pos >= to) break;
    }
  }

  apply(d: Delta): Pieces {
    if (d.p + d.s > this.length) throw new Error(`delta does not fit its base (${d.p}+${d.s} > ${this.length})`);
    const out: string[] = [];
    this.#slice(0, d.p, out);
    if (d.mid.length > 0) out.push(d.mid);
    this.#slice(this.length - d.s, this.length, out);
    return new Pieces(out, d.p + d.mid.length + d.s);
  }

  toString(): string {
    return this.parts.length === 1 ? this.parts[0]! : this.parts.join("");
  }
}
