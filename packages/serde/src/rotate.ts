import { InvalidArgumentError } from "@graphkeep/core";
import { encryptionLayer } from "./layers.js";
import type { RewritableSaver, RotateOptions, RotateProgress } from "./types.js";

/**
 * Re-encrypts the values of one thread, or of every thread of a saver, with the active key of its `encrypted()`
 * serde, so that old keys can leave the keyring. Values already under the active key are authenticated and
 * left alone; with `strict: false`, values stored unencrypted are encrypted. When the saver passes each payload's
 * `SerdeBinding` to its rewrite function, every value is authenticated against it and values in the unbound
 * (version 1) envelope are re-encrypted bound to it. Each stored key is replaced in
 * one write, so a crash or an abort leaves every value readable with the keyring: run it again to finish.
 * Remove an old key only after a complete run.
 *
 * @param saver A saver that can rewrite its stored payloads ({@link RewritableSaver}), built with an `encrypted()`
 * serde.
 * @param options `threadId`, `onProgress`, `signal`, `serde`.
 * @returns The final progress: threads done and values rewritten.
 * @throws {InvalidArgumentError} when the serde is not an `encrypted()` serde or the saver cannot rewrite values.
 * @throws {CheckpointIntegrityError} when a stored value fails authentication (or, in strict mode, is not
 * encrypted), or is bound (version 2) and the saver passes no binding: the rotation stops there.
 * @throws {MissingKeyError} when a stored value was encrypted with a key the keyring does not hold.
 * @throws the `signal`'s reason when it aborts.
 * @example
 * const serde = encrypted(compressed(new JsonPlusSerializer()), { keys: { new: k1, old: k0 }, activeKeyId: "new" });
 * const saver = new KeyvSaver(keyv, { serde });
 * await rotate(saver, { onProgress: (p) => console.log(`${p.threadsDone}/${p.threadsTotal}`) });
 * // now "old" can leave the keyring
 */
export async function rotate(saver: RewritableSaver, options: RotateOptions = {}): Promise<RotateProgress> {
  const { threadId, signal, onProgress } = options;
  const serde = options.serde ?? saver?.serde;
  const layer = encryptionLayer(serde);
  if (layer === undefined) {
    throw new InvalidArgumentError(
      "rotate: the saver's serde is not an encrypted() serde; build the saver with { serde: encrypted(...) } or pass options.serde",
    );
  }
  if (
    typeof saver.rewriteValues !== "function" ||
    (threadId === undefined && typeof saver.listThreads !== "function")
  ) {
    throw new InvalidArgumentError(
      "rotate: the saver cannot rewrite stored values in place (it needs listThreads() and rewriteValues(threadId, fn), as KeyvSaver has)",
    );
  }
  if (threadId !== undefined && (typeof threadId !== "string" || threadId === "")) {
    throw new InvalidArgumentError("rotate: options.threadId must be a non-empty string");
  }
  signal?.throwIfAborted();
  const threads: string[] = [];
  if (threadId !== undefined) threads.push(threadId);
  else for await (const t of saver.listThreads()) threads.push(t.threadId);

  const progress: RotateProgress = { threadsDone: 0, threadsTotal: threads.length, valuesRewritten: 0 };
  for (const tid of threads) {
    signal?.throwIfAborted();
    progress.valuesRewritten += await saver.rewriteValues(tid, (type, data, binding) => {
      signal?.throwIfAborted();
      return layer.reseal(type, data, binding);
    });
    progress.threadsDone += 1;
    onProgress?.({ ...progress });
  }
  return progress;
}
