// Output helpers: a readable narrative on stdout, and with `--json` (or GRAPHKEEP_EXAMPLE_JSON=1) one final
// `@@RESULT {json}` line with the facts the e2e test checks.

/** True when the example was asked for a machine-readable result line. */
export const jsonMode: boolean = process.argv.includes("--json") || process.env.GRAPHKEEP_EXAMPLE_JSON === "1";

/** Prints a heading of the narrative. */
export function section(title: string): void {
  console.log(`\n== ${title}`);
}

/** Prints one line of the narrative, indented. */
export function say(...parts: unknown[]): void {
  console.log(`   ${parts.map((p) => (typeof p === "string" ? p : JSON.stringify(p))).join(" ")}`);
}

/** Prints the result line (JSON mode only). */
export function result(facts: Record<string, unknown>): void {
  if (jsonMode) console.log(`@@RESULT ${JSON.stringify(facts)}`);
}

/** Prints why the example does nothing here, then the result line `{ skipped: reason }`. */
export function skip(reason: string): void {
  console.log(`skipped: ${reason}`);
  result({ skipped: reason });
}
