/** Runs a store call with a time limit; resolves `{ ok: false }` instead of throwing or hanging. */
export async function guarded<T>(
  timeoutMs: number,
  call: () => Promise<T>,
): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`store did not answer within ${timeoutMs} ms`)), timeoutMs);
    timer.unref();
  });
  try {
    return { ok: true, value: await Promise.race([Promise.resolve().then(call), timeout]) };
  } catch (error) {
    return { ok: false, error };
  } finally {
    clearTimeout(timer);
  }
}

/** Emits each warning code at most once per `seen` set. */
export function warnOnce(seen: Set<string>, code: string, message: string, cause?: unknown): void {
  if (seen.has(code)) return;
  seen.add(code);
  const detail = cause instanceof Error ? `: ${cause.message}` : cause === undefined ? "" : `: ${String(cause)}`;
  process.emitWarning(`${message}${detail}`, { code });
}
