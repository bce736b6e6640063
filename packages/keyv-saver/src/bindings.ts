import type { SerdeBinding } from "@graphkeep/core";
import type { WriteRecord } from "./types.js";

// Where each stored payload belongs, for a binding-aware serde (`@graphkeep/serde`'s encryption binds ciphertexts
// to it, so a value moved to another thread, channel, version or checkpoint fails to decrypt).

/** The checkpoint object (without values) of `checkpointId`. */
export function checkpointBinding(threadId: string, ns: string, checkpointId: string): SerdeBinding {
  return { kind: "checkpoint", threadId, checkpointNs: ns, checkpointId };
}

/** The metadata of `checkpointId`. */
export function metadataBinding(threadId: string, ns: string, checkpointId: string): SerdeBinding {
  return { kind: "metadata", threadId, checkpointNs: ns, checkpointId };
}

/** The value of `channel` at `version` (shared by every checkpoint that has that version). */
export function valueBinding(threadId: string, ns: string, channel: string, version: string | number): SerdeBinding {
  return { kind: "value", threadId, checkpointNs: ns, channel, version };
}

/** A pending write made after `checkpointId` (task, index and channel from the stored write). */
export function writeBinding(threadId: string, ns: string, checkpointId: string, w: WriteRecord): SerdeBinding {
  return { kind: "write", threadId, checkpointNs: ns, checkpointId, channel: w[2], taskId: w[0], idx: w[1] };
}
