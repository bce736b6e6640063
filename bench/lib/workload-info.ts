/** Payload sizes and titles of the workloads (no LangGraph import: the parent process stays light). */
import type { WorkloadName } from "./args.js";

export const CHAT_BYTES = 1024;
export const DOC_EDITS = 5;
export const DOC_EDIT_SPAN = 32;
export const FANOUT = 20;
export const FANOUT_BYTES = 512;

const size = (bytes: number) => (bytes >= 1024 * 1024 ? `${bytes / 1024 / 1024} MB` : `${bytes / 1024} KB`);

export function workloadTitle(name: WorkloadName, docBytes: number): string {
  switch (name) {
    case "a":
      return `chat append (${CHAT_BYTES} B appended to a list channel per step)`;
    case "b":
      return `document rewrite (${size(docBytes)} string channel, ${DOC_EDITS}×${DOC_EDIT_SPAN}-char edits per step)`;
    case "c":
      return `many short threads (${CHAT_BYTES} B appended per step)`;
    case "d":
      return `fan-out (${FANOUT} parallel Send tasks per step, ${FANOUT_BYTES} B each)`;
  }
}
