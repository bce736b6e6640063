/**
 * LangChain's CallbackManager logs every error a handler throws before rethrowing it
 * (`console.error("Error in handler BudgetGuard, handleLLMStart: " + err)` for `raiseError` handlers) and has no flag
 * to skip that. A budget refusal is expected and reaches the caller anyway, so the line is noise. The log formats the
 * error with a template literal; an error whose string conversion, *called from the callback manager*, throws the
 * error itself leaves the manager's catch block before `console.error` runs, and the caller gets the same error as
 * with the log. Anywhere else the error converts to its usual string. If LangChain formats errors differently (or the
 * code is bundled so its file name is gone) the trap never fires and LangChain prints the line as before.
 */
// `dist/callbacks/manager.{js,cjs}`, or `src/callbacks/manager.ts` when source maps rewrite the stack (tsx, --enable-source-maps)
const CALLBACK_MANAGER = /@langchain[\\/]core[\\/](?:.*[\\/])?callbacks[\\/]manager\.[cm]?[jt]s/;

/** Runs a guard check; an error it throws reaches the caller without LangChain's `Error in handler` log line. */
export async function quietly(check: () => Promise<void>): Promise<void> {
  try {
    await check();
  } catch (e) {
    throw hush(e);
  }
}

function hush(e: unknown): unknown {
  if (!(e instanceof Error) || Object.hasOwn(e, Symbol.toPrimitive)) return e;
  try {
    Object.defineProperty(e, Symbol.toPrimitive, {
      configurable: true,
      enumerable: false,
      writable: true,
      value(hint: string): string | number {
        if (hint === "string" && CALLBACK_MANAGER.test(new Error().stack ?? "")) {
          delete (e as unknown as Record<symbol, unknown>)[Symbol.toPrimitive];
          throw e;
        }
        return hint === "number" ? Number.NaN : Error.prototype.toString.call(e);
      },
    });
  } catch {
    // a frozen error: LangChain logs it, nothing else changes
  }
  return e;
}
