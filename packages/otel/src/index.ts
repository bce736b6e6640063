export { InvalidArgumentError, isGraphkeepError } from "@graphkeep/core";
export { GenAITracer, type GenAITracerOptions } from "./genai-tracer.js";
export { GRAPH_SPAN_KEY, type TraceGraphOptions, traceGraph } from "./graph.js";
export { type CostReading, readCost } from "./messages.js";
export { type InstrumentSaverOptions, instrumentSaver } from "./saver.js";
export type { ProviderOptions } from "./telemetry.js";
