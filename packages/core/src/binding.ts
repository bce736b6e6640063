import { InvalidArgumentError } from "./errors.js";

/** The shape of LangGraph's `SerializerProtocol` (`@langchain/langgraph-checkpoint`), which core does not depend on. */
interface TypedSerializer {
  // biome-ignore lint/suspicious/noExplicitAny: LangGraph's own signature
  dumpsTyped(data: any): Promise<[string, Uint8Array]>;
  // biome-ignore lint/suspicious/noExplicitAny: LangGraph's own signature
  loadsTyped(type: string, data: Uint8Array | string): Promise<any>;
}

/**
 * What a stored payload is, in a saver's own terms. The four kinds a LangGraph checkpoint saver stores:
 * - `"checkpoint"`: the checkpoint object (without its channel values) of `checkpointId`;
 * - `"metadata"`: the metadata of `checkpointId`;
 * - `"value"`: the value of `channel` at `version` (shared by every checkpoint that has that version);
 * - `"write"`: the pending write number `idx` of task `taskId` to `channel`, made after `checkpointId`.
 *
 * Other kinds are allowed (1–64 characters): a saver that stores something else names it.
 */
export type SerdeBindingKind = "checkpoint" | "metadata" | "value" | "write" | (string & {});

/**
 * Where a serialized payload belongs: a binding-aware serde binds it to the payload (an encrypting serde puts it
 * in the AES-GCM associated data), so that the payload reads only under the same binding. A field a kind has no use
 * for is left out (`undefined`); leaving a field out is part of the binding (it differs from an empty string).
 *
 * @example
 * const binding: SerdeBinding = { kind: "value", threadId: "alice", checkpointNs: "", channel: "messages", version: 7 };
 */
export interface SerdeBinding {
  /** The record kind (see {@link SerdeBindingKind}). */
  kind: SerdeBindingKind;
  /** `configurable.thread_id`. */
  threadId: string;
  /** `configurable.checkpoint_ns` (`""` for the root graph). */
  checkpointNs: string;
  /** The checkpoint the payload belongs to (kinds `checkpoint`, `metadata`, `write`). */
  checkpointId?: string | undefined;
  /** The channel (kinds `value`, `write`). */
  channel?: string | undefined;
  /** The channel version (kind `value`); `1` and `"1"` are different versions. */
  version?: string | number | undefined;
  /** The task that made a pending write (kind `write`). */
  taskId?: string | undefined;
  /** The index of a pending write within its task (kind `write`; LangGraph's special writes are negative). */
  idx?: number | undefined;
}

/**
 * A serde that can bind what it writes to where it is stored. Savers that know where a payload goes call
 * {@link BindingAwareSerializer.dumpsTypedBound} / {@link BindingAwareSerializer.loadsTypedBound} instead of
 * `dumpsTyped` / `loadsTyped` when {@link isBindingAware} says the serde has them; the plain methods keep working.
 */
export interface BindingAwareSerializer extends TypedSerializer {
  /**
   * Serializes `data` bound to `binding`: what it returns reads back only with `loadsTypedBound` and an equal
   * binding.
   *
   * @throws {InvalidArgumentError} when `binding` is not a valid {@link SerdeBinding}
   */
  dumpsTypedBound(binding: SerdeBinding, data: unknown): Promise<[string, Uint8Array]>;
  /**
   * Deserializes a payload read from where `binding` says. A payload bound to another place is refused.
   *
   * @throws {CheckpointIntegrityError} when the payload was bound to another binding, or was altered
   * @throws {InvalidArgumentError} when `binding` is not a valid {@link SerdeBinding}
   */
  loadsTypedBound(binding: SerdeBinding, type: string, data: Uint8Array | string): Promise<unknown>;
}

/**
 * True when `serde` implements {@link BindingAwareSerializer}.
 *
 * @example
 * const [type, bytes] = isBindingAware(serde) ? await serde.dumpsTypedBound(binding, value) : await serde.dumpsTyped(value);
 */
export function isBindingAware(serde: unknown): serde is BindingAwareSerializer {
  const s = serde as Partial<BindingAwareSerializer> | null | undefined;
  return (
    typeof s === "object" &&
    s !== null &&
    typeof s.dumpsTyped === "function" &&
    typeof s.loadsTyped === "function" &&
    typeof s.dumpsTypedBound === "function" &&
    typeof s.loadsTypedBound === "function"
  );
}

const FIELDS = ["threadId", "checkpointNs", "checkpointId", "channel", "version", "taskId", "idx"] as const;
const BINDING_FORMAT = "graphkeep.binding.v1";

/**
 * The canonical bytes of a binding: UTF-8 of the JSON array `["graphkeep.binding.v1", kind, threadId, checkpointNs,
 * checkpointId, channel, version, taskId, idx]`, `null` for a field left out. Equal bindings give equal bytes;
 * bindings that differ in any field (a number version against its string, a field left out against `""`) give
 * different bytes. Unknown fields are ignored.
 *
 * @throws {InvalidArgumentError} when a field has the wrong type (ids not strings, `version` not a string or
 * finite number, `idx` not an integer, `kind` not 1–64 characters)
 * @example
 * encodeBinding({ kind: "metadata", threadId: "t", checkpointNs: "", checkpointId: "1ef…" });
 */
export function encodeBinding(binding: SerdeBinding): Uint8Array {
  if (binding === null || typeof binding !== "object") {
    throw new InvalidArgumentError(
      'binding must be an object like { kind: "value", threadId, checkpointNs, channel, version }',
    );
  }
  const { kind } = binding;
  if (typeof kind !== "string" || kind.length === 0 || kind.length > 64) {
    throw new InvalidArgumentError(
      'binding.kind must be "checkpoint", "metadata", "value", "write" or another name of 1–64 characters',
    );
  }
  if (typeof binding.threadId !== "string" || binding.threadId === "") {
    throw new InvalidArgumentError("binding.threadId must be a non-empty string");
  }
  if (typeof binding.checkpointNs !== "string") {
    throw new InvalidArgumentError('binding.checkpointNs must be a string ("" for the root graph)');
  }
  for (const f of ["checkpointId", "channel", "taskId"] as const) {
    if (binding[f] !== undefined && typeof binding[f] !== "string") {
      throw new InvalidArgumentError(`binding.${f} must be a string or undefined`);
    }
  }
  const { version, idx } = binding;
  if (
    version !== undefined &&
    typeof version !== "string" &&
    !(typeof version === "number" && Number.isFinite(version))
  ) {
    throw new InvalidArgumentError("binding.version must be a string, a finite number or undefined");
  }
  if (idx !== undefined && !Number.isSafeInteger(idx)) {
    throw new InvalidArgumentError("binding.idx must be an integer or undefined");
  }
  const parts: Array<string | number | null> = [BINDING_FORMAT, kind];
  for (const f of FIELDS) parts.push(binding[f] ?? null);
  // JSON.stringify escapes lone surrogates (\udxxx), so distinct strings never encode alike
  return new TextEncoder().encode(JSON.stringify(parts));
}
