import {
  type Attributes,
  createNoopMeter,
  diag,
  type Meter,
  type MeterProvider,
  metrics,
  type Span,
  SpanStatusCode,
  type Tracer,
  type TracerProvider,
  trace,
} from "@opentelemetry/api";
import { ATTR_ERROR_TYPE } from "./semconv.js";

/** Instrumentation scope name of every tracer and meter this package uses. */
export const SCOPE_NAME = "@graphkeep/otel";
/** Instrumentation scope version. */
export const SCOPE_VERSION = "0.1.0";

/** Where spans and metrics go: explicit providers, or the global ones (looked up on each use). */
export interface ProviderOptions {
  /**
   * Tracer provider to use instead of the global one.
   * @default the global provider, looked up lazily (registering the SDK later still works)
   */
  tracerProvider?: TracerProvider | undefined;
  /**
   * Meter provider to use instead of the global one.
   * @default the global provider, looked up on each use (a meter taken before the SDK registers would stay a no-op)
   */
  meterProvider?: MeterProvider | undefined;
}

const NOOP_METER_PROTO: unknown = Object.getPrototypeOf(createNoopMeter());

/**
 * Tracer and instruments resolved lazily per provider: the global provider is read on every use, so an SDK
 * registered after instrumentation starts is picked up, and instruments are created once per provider.
 */
export class Telemetry<I> {
  readonly #options: ProviderOptions;
  readonly #build: (meter: Meter) => I;
  #tracerProvider: TracerProvider | undefined;
  #tracer: Tracer | undefined;
  #meterProvider: MeterProvider | undefined;
  #instruments: I | undefined;
  #meterIsNoop = true;

  constructor(options: ProviderOptions, build: (meter: Meter) => I) {
    this.#options = options;
    this.#build = build;
  }

  tracer(): Tracer {
    const provider = this.#options.tracerProvider ?? trace.getTracerProvider();
    if (provider !== this.#tracerProvider || this.#tracer === undefined) {
      this.#tracer = provider.getTracer(SCOPE_NAME, SCOPE_VERSION);
      this.#tracerProvider = provider;
    }
    return this.#tracer;
  }

  instruments(): I {
    const provider = this.#options.meterProvider ?? metrics.getMeterProvider();
    if (provider !== this.#meterProvider || this.#instruments === undefined) {
      const meter = provider.getMeter(SCOPE_NAME, SCOPE_VERSION);
      this.#meterIsNoop = Object.getPrototypeOf(meter) === NOOP_METER_PROTO;
      this.#instruments = this.#build(meter);
      this.#meterProvider = provider;
    }
    return this.#instruments;
  }

  /** True when metrics go nowhere (no SDK registered and no `meterProvider` given). */
  metricsOff(): boolean {
    this.instruments();
    return this.#meterIsNoop;
  }
}

/** Runs telemetry code; a failure is reported through `diag` and never reaches the application. */
export function safely<T>(what: string, fn: () => T): T | undefined {
  try {
    return fn();
  } catch (e) {
    diag.error(`@graphkeep/otel: ${what} failed`, e);
    return undefined;
  }
}

/** The `error.type` value of an error: its `code` when a string, else its class name. */
export function errorType(e: unknown): string {
  if (e !== null && typeof e === "object") {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && code.length > 0) return code;
    const name = (e as { name?: unknown }).name;
    if (typeof name === "string" && name.length > 0 && name !== "Error") return name;
    const ctor = (e as { constructor?: { name?: unknown } }).constructor?.name;
    if (typeof ctor === "string" && ctor.length > 0) return ctor;
  }
  return "_OTHER";
}

/** Marks a span failed: `error.type`, an exception event and status ERROR. */
export function recordError(span: Span, e: unknown, extra?: Attributes): void {
  safely("recording an error", () => {
    span.setAttribute(ATTR_ERROR_TYPE, errorType(e));
    if (extra) span.setAttributes(extra);
    if (e instanceof Error) span.recordException(e);
    span.setStatus({ code: SpanStatusCode.ERROR, message: e instanceof Error ? e.message : String(e) });
  });
}

/** Seconds since `start` (a `performance.now()` reading). */
export function secondsSince(start: number): number {
  return (performance.now() - start) / 1000;
}
