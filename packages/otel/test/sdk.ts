import { context, type DiagLogger, DiagLogLevel, diag, metrics, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import {
  type DataPoint,
  type Histogram,
  MeterProvider,
  type MetricData,
  MetricReader,
} from "@opentelemetry/sdk-metrics";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  type SpanExporter,
} from "@opentelemetry/sdk-trace-base";

/** A metric reader the test collects from on demand. */
export class TestMetricReader extends MetricReader {
  protected async onShutdown(): Promise<void> {}
  protected async onForceFlush(): Promise<void> {}

  /** Every metric collected now, by name. */
  async metrics(): Promise<Map<string, MetricData>> {
    const { resourceMetrics } = await this.collect();
    const out = new Map<string, MetricData>();
    for (const scope of resourceMetrics.scopeMetrics) for (const m of scope.metrics) out.set(m.descriptor.name, m);
    return out;
  }
}

export interface Sdk {
  spans: InMemorySpanExporter;
  reader: TestMetricReader;
  tracerProvider: BasicTracerProvider;
  meterProvider: MeterProvider;
  warnings: string[];
  errors: string[];
}

/** Registers an AsyncLocalStorage context manager, an in-memory span exporter and a test metric reader globally. */
export function registerSdk(extraExporters: SpanExporter[] = []): Sdk {
  const spans = new InMemorySpanExporter();
  const reader = new TestMetricReader();
  const tracerProvider = new BasicTracerProvider({
    spanProcessors: [spans, ...extraExporters].map((e) => new SimpleSpanProcessor(e)),
  });
  const meterProvider = new MeterProvider({ readers: [reader] });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(tracerProvider);
  metrics.setGlobalMeterProvider(meterProvider);
  const warnings: string[] = [];
  const errors: string[] = [];
  const logger: DiagLogger = {
    error: (m) => errors.push(m),
    warn: (m) => warnings.push(m),
    info: () => {},
    debug: () => {},
    verbose: () => {},
  };
  diag.setLogger(logger, { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });
  return { spans, reader, tracerProvider, meterProvider, warnings, errors };
}

/** The parent span id of a finished span. */
export function parentOf(span: ReadableSpan): string | undefined {
  return span.parentSpanContext?.spanId;
}

/** Sum of a histogram metric's points matching `filter`. */
export function histogramPoints(metric: MetricData | undefined): Array<DataPoint<Histogram>> {
  return (metric?.dataPoints ?? []) as Array<DataPoint<Histogram>>;
}
