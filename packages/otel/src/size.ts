import type { Checkpoint, CheckpointMetadata, SerializerProtocol } from "@langchain/langgraph-checkpoint";

const MAX_CACHED = 10_000;
const encoder = new TextEncoder();

function jsonBytes(value: unknown): number {
  try {
    const text = JSON.stringify(value);
    return text === undefined ? 0 : encoder.encode(text).byteLength;
  } catch {
    return 0;
  }
}

/**
 * Measures the serialized size of checkpoints: each channel value through the saver's serde (`dumpsTyped`,
 * falling back to JSON), plus the JSON of the rest of the checkpoint and of the metadata. A channel value is
 * measured once per (thread, namespace, channel, version): a step pays only for the channels it changed.
 */
export class CheckpointSizer {
  readonly #serde: SerializerProtocol | undefined;
  readonly #cache = new Map<string, { version: string | number; bytes: number }>();

  constructor(serde: SerializerProtocol | undefined) {
    this.#serde = serde;
  }

  async #valueBytes(value: unknown): Promise<number> {
    if (this.#serde) {
      try {
        const [, bytes] = await this.#serde.dumpsTyped(value);
        return bytes.byteLength;
      } catch {
        // fall through to JSON
      }
    }
    return jsonBytes(value);
  }

  async measure(threadId: string, ns: string, checkpoint: Checkpoint, metadata: CheckpointMetadata): Promise<number> {
    const { channel_values: values, ...rest } = checkpoint;
    let total = jsonBytes(rest) + jsonBytes(metadata);
    for (const [channel, value] of Object.entries(values ?? {})) {
      const version = checkpoint.channel_versions?.[channel];
      const key = `${threadId}\u0000${ns}\u0000${channel}`;
      const hit = version === undefined ? undefined : this.#cache.get(key);
      if (hit !== undefined && hit.version === version) {
        total += hit.bytes;
        continue;
      }
      const bytes = await this.#valueBytes(value);
      total += bytes;
      if (version !== undefined) {
        this.#cache.delete(key);
        this.#cache.set(key, { version, bytes });
        if (this.#cache.size > MAX_CACHED) this.#cache.delete(this.#cache.keys().next().value as string);
      }
    }
    return total;
  }

  forget(threadId: string): void {
    const prefix = `${threadId}\u0000`;
    for (const key of this.#cache.keys()) if (key.startsWith(prefix)) this.#cache.delete(key);
  }
}
