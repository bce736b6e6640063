/** @internal the restore counter, recorded through `@opentelemetry/api` when it is installed. */
interface Counter {
  add(value: number, attributes?: Record<string, string | number>): void;
}

let loading: Promise<Counter | undefined> | undefined;

function load(): Promise<Counter | undefined> {
  loading ??= import("@opentelemetry/api")
    .then((api) =>
      api.metrics.getMeter("@graphkeep/archive").createCounter("graphkeep.archive.restores", {
        description: "Threads restored from the archive into the hot store on first access",
      }),
    )
    .catch(() => undefined);
  return loading;
}

/** @internal counts one restore; never throws, and a missing `@opentelemetry/api` records nothing. */
export function countRestore(attributes: Record<string, string | number>): Promise<void> {
  return load().then((c) => {
    try {
      c?.add(1, attributes);
    } catch {
      // telemetry never throws into the app
    }
  });
}
