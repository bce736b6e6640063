import Table from "cli-table3";
import pc from "picocolors";

/** Where the CLI writes, and whether that is a terminal. Tests pass their own. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  isTTY: boolean;
  env: NodeJS.ProcessEnv;
}

export const processIo: Io = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
  isTTY: process.stdout.isTTY === true,
  env: process.env,
};

/** Renders results: JSON with `--json`, tables and colours on a terminal, tab-separated text otherwise. */
export class Output {
  readonly color: boolean;
  constructor(
    readonly io: Io,
    readonly json: boolean,
    noColor: boolean,
  ) {
    this.color = io.isTTY && !noColor && io.env.NO_COLOR === undefined && !json;
  }

  data(value: unknown): void {
    this.io.out(`${JSON.stringify(value, null, 2)}\n`);
  }

  line(text = ""): void {
    this.io.out(`${text}\n`);
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

  table(head: string[], rows: Array<Array<string | number>>, align?: Array<"left" | "right">): void {
    if (!this.io.isTTY) {
      this.line(head.join("\t"));
      for (const r of rows) this.line(r.map(String).join("\t"));
      return;
    }
    const t = new Table({
      head: head.map((h) => this.bold(h)),
      style: { head: [], border: this.color ? ["grey"] : [] },
      ...(align === undefined ? {} : { colAligns: align }),
    });
    for (const r of rows) t.push(r.map(String));
    this.line(t.toString());
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

export function fmtTime(d: Date | string | undefined): string {
  if (d === undefined) return "—";
  const date = typeof d === "string" ? new Date(d) : d;
  return Number.isNaN(date.getTime()) ? String(d) : date.toISOString().replace("T", " ").slice(0, 19);
}
