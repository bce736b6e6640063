import type { BaseCheckpointSaver } from "@langchain/langgraph";

/** Nearest-rank percentile (p in 0..100) of unsorted samples; NaN when there are none. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export const median = (samples: readonly number[]) => percentile(samples, 50);

export interface Distribution {
  n: number;
  p50: number;
  p99: number;
  max: number;
}

export function distribution(samples: readonly number[]): Distribution {
  return {
    n: samples.length,
    p50: percentile(samples, 50),
    p99: percentile(samples, 99),
    max: percentile(samples, 100),
  };
}

/** Latencies (ms) of the saver calls the graph makes, recorded only while `recording` is true. */
export class SaverLatencies {
  recording = false;
  readonly put: number[] = [];
  readonly putWrites: number[] = [];
  readonly getTuple: number[] = [];

  #time<A extends unknown[], R>(sink: number[], fn: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
    return async (...args: A) => {
      const t0 = performance.now();
      try {
        return await fn(...args);
      } finally {
        if (this.recording) sink.push(performance.now() - t0);
      }
    };
  }

  /** Replaces the instance's `put`, `putWrites` and `getTuple` with timed wrappers. */
  instrument(saver: BaseCheckpointSaver): void {
    saver.put = this.#time(this.put, saver.put.bind(saver));
    saver.putWrites = this.#time(this.putWrites, saver.putWrites.bind(saver));
    saver.getTuple = this.#time(this.getTuple, saver.getTuple.bind(saver));
  }
}
