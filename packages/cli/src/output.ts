import { createInterface } from "node:readline/promises";
import pc from "picocolors";

/**
 * Where the CLI writes, and whether that is a terminal. Tests pass their own.
 *
 * @example
 * let out = "";
 * const code = await main(["threads", "--json"], { out: (s) => { out += s }, err: (s) => process.stderr.write(s), isTTY: false, env: process.env });
 */
export interface Io {
  /** writes a piece of standard output (a function: `(text) => void`) */
  out(text: string): void;
  /** writes a piece of standard error (a function: `(text) => void`) */
  err(text: string): void;
  /** stdout is a terminal: tables, colours, progress bars and confirmation prompts */
  isTTY: boolean;
  env: NodeJS.ProcessEnv;
  /** everything on standard input (`graphkeep import`); default: the process's */
  stdin?: (() => Promise<Uint8Array>) | undefined;
  /** terminal width for tables. @default 80 */
  columns?: number | undefined;
  /** asks a question on the terminal and resolves to the answer (`prune` and `delete` confirm with it) */
  prompt?: ((question: string) => Promise<string>) | undefined;
}

export const processIo: Io = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
  isTTY: process.stdout.isTTY === true,
  env: process.env,
  columns: process.stdout.columns,
  prompt: async (question) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    try {
      return await rl.question(question);
    } finally {
      rl.close();
    }
  },
};

// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escape sequences
const ANSI = /\u001b\[[0-9;]*m/g;
/** Printed width of a cell (colour codes take no room). */
const width = (s: string) => [...s.replace(ANSI, "")].length;

function truncate(s: string, max: number): string {
  if (width(s) <= max) return s;
  const plain = [...s.replace(ANSI, "")];
  return max <= 1 ? "…" : `${plain.slice(0, max - 1).join("")}…`;
}

/** How a table may shrink to fit the terminal. */
export interface TableFit {
  /** columns to drop first when the table is too wide, most expendable first */
  drop?: number[];
  /** columns whose cells may be cut with "…" (after dropping), e.g. thread ids */
  shrink?: number[];
  /** right-aligned columns (numbers) */
  right?: number[];
}

/** Renders results: JSON with `--json`, aligned columns and colours on a terminal, tab-separated text otherwise. */
export class Output {
  readonly color: boolean;
  constructor(
    readonly io: Io,
    readonly json: boolean,
    noColor: boolean,
    /** times in UTC instead of local time */
    readonly utc = false,
  ) {
    this.color = io.isTTY && !noColor && io.env.NO_COLOR === undefined && !json;
  }

  data(value: unknown): void {
    this.io.out(`${JSON.stringify(value, null, 2)}\n`);
  }

  line(text = ""): void {
    this.io.out(`${text}\n`);
  }

  /** On a terminal, `text` cut with "…" to leave `room` columns free on its line; elsewhere as it is. */
  fit(text: string, room = 0): string {
    if (!this.io.isTTY) return text;
    return truncate(text, Math.max(8, Math.max(40, this.io.columns ?? 80) - room));
  }

  /** A section title (a blank line before it, then the title in bold). */
  title(text: string): void {
    this.line();
    this.line(this.bold(text));
  }

  dim(text: string): string {
    return this.color ? pc.dim(text) : text;
  }

  bold(text: string): string {
    return this.color ? pc.bold(text) : text;
  }

  status(s: string): string {
    if (!this.color) return s;
    return s === "done" ? pc.green(s) : s === "failed" ? pc.red(s) : s === "interrupted" ? pc.yellow(s) : pc.cyan(s);
  }

  /** The zone times are shown in, for column headers: `UTC` or the local offset (`UTC+01:00`). */
  get zone(): string {
    if (this.utc) return "UTC";
    const off = -new Date().getTimezoneOffset();
    if (off === 0) return "UTC";
    const a = Math.abs(off);
    return `UTC${off > 0 ? "+" : "-"}${String(Math.floor(a / 60)).padStart(2, "0")}:${String(a % 60).padStart(2, "0")}`;
  }

  /** `YYYY-MM-DD HH:MM:SS` in local time (or UTC with `--utc`); the zone is in the column header ({@link zone}). */
  time(d: Date | string | undefined): string {
    if (d === undefined) return "—";
    const date = typeof d === "string" ? new Date(d) : d;
    if (Number.isNaN(date.getTime())) return String(d);
    if (this.utc) return date.toISOString().replace("T", " ").slice(0, 19);
    const p = (n: number) => String(n).padStart(2, "0");
    return `${date.getFullYear()}-${p(date.getMonth() + 1)}-${p(date.getDate())} ${p(date.getHours())}:${p(date.getMinutes())}:${p(date.getSeconds())}`;
  }

  /**
   * A table. On a terminal: aligned columns, a rule under the header, no lines between rows, fitted to the width
   * (columns dropped, then cells cut, as `fit` allows). Otherwise tab-separated with a header line, nothing cut.
   */
  table(head: string[], rows: Array<Array<string | number>>, fit: TableFit = {}): void {
    const cells = rows.map((r) => r.map(String));
    if (!this.io.isTTY) {
      this.line(head.join("\t"));
      for (const r of cells) this.line(r.join("\t"));
      return;
    }
    const max = Math.max(40, this.io.columns ?? 80);
    const gap = 2;
    let cols = head.map((_, i) => i);
    const natural = (i: number) => Math.max(width(head[i] ?? ""), ...cells.map((r) => width(r[i] ?? "")));
    const widths = new Map(cols.map((i) => [i, natural(i)]));
    const total = () => cols.reduce((a, i) => a + (widths.get(i) ?? 0), 0) + gap * (cols.length - 1);
    /** cuts the widest shrinkable column, one character at a time, down to `floor` */
    const shrink = (floor: number) => {
      for (;;) {
        if (total() <= max) return;
        const open = (fit.shrink ?? []).filter((i) => cols.includes(i) && (widths.get(i) ?? 0) > floor);
        if (open.length === 0) return;
        const widest = open.reduce((a, b) => ((widths.get(b) ?? 0) > (widths.get(a) ?? 0) ? b : a));
        widths.set(widest, (widths.get(widest) ?? 0) - 1);
      }
    };
    // long ids are cut to 24 before any column goes, then columns go, then ids are cut further
    shrink(24);
    for (const d of fit.drop ?? []) {
      if (total() <= max) break;
      cols = cols.filter((i) => i !== d);
    }
    shrink(8);
    const right = new Set(fit.right ?? []);
    const render = (r: string[], style: (s: string) => string = (s) => s) =>
      cols
        .map((i, n) => {
          const w = widths.get(i) ?? 0;
          const c = truncate(r[i] ?? "", w);
          const pad = " ".repeat(Math.max(0, w - width(c)));
          const text = right.has(i) ? pad + style(c) : style(c) + (n === cols.length - 1 ? "" : pad);
          return text;
        })
        .join(" ".repeat(gap))
        .trimEnd();
    this.line(render(head, (s) => this.bold(s)));
    this.line(this.dim("─".repeat(Math.min(max, total()))));
    for (const r of cells) this.line(render(r));
  }
}

export function fmtBytes(n: number | undefined): string {
  if (n === undefined) return "—";
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MB`;
  return `${(n / 1024 ** 3).toFixed(2)} GB`;
}

export function fmtUsd(x: number | undefined): string {
  if (x === undefined) return "—";
  return x >= 1 ? `$${x.toFixed(2)}` : x >= 0.01 ? `$${x.toFixed(4)}` : `$${x.toFixed(6)}`;
}

export function fmtTokens(n: number | undefined): string {
  if (n === undefined) return "—";
  return n >= 10_000 ? `${(n / 1000).toFixed(1)}k` : String(n);
}
