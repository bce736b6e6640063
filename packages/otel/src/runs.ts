import { type Context, context, trace } from "@opentelemetry/api";

/**
 * The workflow spans a {@link GenAITracer} has open per thread, so an instrumented saver called without an active
 * span (no `traceGraph`) still nests its spans in the run of that thread instead of starting a trace per call.
 * Shared by every tracer and saver of the process.
 */
class OpenRuns {
  readonly #byThread = new Map<string, Context[]>();

  open(threadId: string, ctx: Context): void {
    const list = this.#byThread.get(threadId) ?? [];
    list.push(ctx);
    this.#byThread.set(threadId, list);
  }

  close(threadId: string, ctx: Context): void {
    const list = this.#byThread.get(threadId);
    if (!list) return;
    const i = list.indexOf(ctx);
    if (i !== -1) list.splice(i, 1);
    if (list.length === 0) this.#byThread.delete(threadId);
  }

  /** The context to start a saver span in: the active one when it has a span, else the thread's latest open run. */
  parentFor(threadId: string | undefined): Context {
    const active = context.active();
    if (trace.getSpan(active) !== undefined || threadId === undefined) return active;
    return this.#byThread.get(threadId)?.at(-1) ?? active;
  }
}

export const openRuns = new OpenRuns();
