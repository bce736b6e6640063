/** Emits each warning key at most once per `seen` set (a `process` warning with a `GRAPHKEEP_COST_*` code). */
export function warnOnce(seen: Set<string>, key: string, code: string, message: string): void {
  if (seen.has(key)) return;
  seen.add(key);
  process.emitWarning(message, { code });
}

/** Runs a user hook; a throw or rejection is reported once as a warning, never thrown into the app. */
export function safeHook(seen: Set<string>, name: string, call: () => unknown): void {
  const report = (e: unknown) =>
    warnOnce(
      seen,
      `hook:${name}`,
      "GRAPHKEEP_COST_HOOK",
      `@graphkeep/cost: the ${name} hook threw; ignored: ${e instanceof Error ? e.message : String(e)}`,
    );
  try {
    const r = call();
    if (r instanceof Promise) r.catch(report);
  } catch (e) {
    report(e);
  }
}
