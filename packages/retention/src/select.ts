import type { CheckpointInfo } from "@graphkeep/keyv-saver";
import type { RetentionPolicy } from "./policy.js";

const INTERRUPT = "__interrupt__";

/**
 * The checkpoints of one thread a policy deletes. Pure: decides on ids, parents, times and pending-write
 * channels only. Deleting them never breaks what is kept: the saver keeps every value a kept checkpoint needs.
 */
export function selectForDeletion(infos: CheckpointInfo[], policy: RetentionPolicy, now = Date.now()): Set<string> {
  const doomed = new Set<string>();
  if (policy.keepLatest === undefined && policy.maxAgeMs === undefined) return doomed;
  const byNs = new Map<string, CheckpointInfo[]>();
  for (const c of infos) byNs.set(c.checkpointNs, [...(byNs.get(c.checkpointNs) ?? []), c]);
  for (const group of byNs.values()) {
    group.sort((a, b) => (a.checkpointId < b.checkpointId ? 1 : -1));
    const children = new Map<string, number>();
    for (const c of group) if (c.parentId) children.set(c.parentId, (children.get(c.parentId) ?? 0) + 1);
    const keep = new Set<string>();
    group.forEach((c, i) => {
      const beyond = policy.keepLatest !== undefined && i >= policy.keepLatest;
      const old = policy.maxAgeMs !== undefined && now - c.createdAt.getTime() > policy.maxAgeMs;
      const isLeaf = !children.has(c.checkpointId);
      const protectedHere =
        i === 0 ||
        (policy.keepInterrupted && c.pendingWriteChannels.includes(INTERRUPT)) ||
        (policy.keepFinal && isLeaf);
      if (protectedHere || !(beyond || old)) keep.add(c.checkpointId);
    });
    if (policy.keepForkPoints) {
      const byId = new Map(group.map((c) => [c.checkpointId, c]));
      const walked = new Set<string>();
      for (const id of [...keep]) {
        for (let p = byId.get(id)?.parentId ?? null; p !== null && !walked.has(p); p = byId.get(p)?.parentId ?? null) {
          walked.add(p);
          if ((children.get(p) ?? 0) >= 2) keep.add(p);
        }
      }
    }
    for (const c of group) if (!keep.has(c.checkpointId)) doomed.add(c.checkpointId);
  }
  return doomed;
}
