/** @internal the two failover counters, recorded through `@opentelemetry/api` when it is installed. */
export interface FailoverCounters {
  resumed(attributes: Record<string, string | number>): void;
  failed(attributes: Record<string, string | number>): void;
}

interface Counter {
  add(value: number, attributes?: Record<string, string | number>): void;
}

let loading: Promise<{ resumed: Counter; failed: Counter } | undefined> | undefined;

function load(): Promise<{ resumed: Counter; failed: Counter } | undefined> {
  loading ??= import("@opentelemetry/api")
    .then((api) => {
      const meter = api.metrics.getMeter("@graphkeep/lease");
      return {
        resumed: meter.createCounter("graphkeep.failover.resumed", {
          description: "Stalled runs a failover watchdog resumed to completion (or to an interrupt)",
        }),
        failed: meter.createCounter("graphkeep.failover.failed", {
          description: "Failover resume attempts that failed (including those given up)",
        }),
      };
    })
    .catch(() => undefined);
  return loading;
}

/** @internal counters that never throw; a missing `@opentelemetry/api` records nothing. */
export function failoverCounters(): FailoverCounters {
  const counters = load();
  const add = (name: "resumed" | "failed", attributes: Record<string, string | number>) => {
    void counters.then((c) => {
      try {
        c?.[name].add(1, attributes);
      } catch {
        // telemetry never throws into the app
      }
    });
  };
  return { resumed: (a) => add("resumed", a), failed: (a) => add("failed", a) };
}
