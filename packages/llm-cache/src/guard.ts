import { withTimeout } from "@graphkeep/core";

/** Runs a store call with a time limit; resolves `{ ok: false }` instead of throwing or hanging. */
export async function guarded<T>(
  operationTimeoutMs: number,
  call: () => Promise<T>,
): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  try {
    const value = await withTimeout(
      operationTimeoutMs,
      call,
      () => new Error(`store did not answer within ${operationTimeoutMs} ms`),
    );
    return { ok: true, value };
  } catch (error) {
    return { ok: false, error };
  }
}

/** Emits each warning code at most once per `seen` set. */
export function warnOnce(seen: Set<string>, code: string, message: string, cause?: unknown): void {
  if (seen.has(code)) return;
  seen.add(code);
  const detail = cause instanceof Error ? `: ${cause.message}` : cause === undefined ? "" : `: ${String(cause)}`;
  process.emitWarning(`${message}${detail}`, { code });
}
