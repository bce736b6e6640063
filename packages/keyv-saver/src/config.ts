import { InvalidConfigError } from "@graphkeep/core";
import type { RunnableConfig } from "@langchain/core/runnables";
import { getCheckpointId } from "@langchain/langgraph-checkpoint";
import { describeValue as describe } from "./records.js";

// Reading and checking the parts of a RunnableConfig the saver uses; `method` names the caller in messages.

/** The thread id of `config` (a finite number is taken as its string); `undefined` only when not `required`. */
export function threadIdOf(config: RunnableConfig | undefined, method: string, required: true): string;
export function threadIdOf(config: RunnableConfig | undefined, method: string, required: false): string | undefined;
export function threadIdOf(config: RunnableConfig | undefined, method: string, required: boolean): string | undefined {
  if (config === null || typeof config !== "object") {
    throw new InvalidConfigError(
      `KeyvSaver.${method}: config must be an object like { configurable: { thread_id: "..." } }, got ${describe(config)}`,
    );
  }
  const configurable = config.configurable;
  if (configurable === undefined && !required) return undefined;
  if (configurable === null || typeof configurable !== "object") {
    throw new InvalidConfigError(
      `KeyvSaver.${method}: config.configurable is required, e.g. { configurable: { thread_id: "user-42" } }`,
    );
  }
  const t: unknown = configurable.thread_id;
  if (t === undefined && !required) return undefined;
  if (typeof t === "string" && t.length > 0) return t;
  if (typeof t === "number" && Number.isFinite(t)) return String(t);
  throw new InvalidConfigError(
    `KeyvSaver.${method}: config.configurable.thread_id is required (a non-empty string), got ${describe(t)}; pass { configurable: { thread_id: "user-42" } }`,
  );
}

/** The checkpoint namespace of `config` (`""` when absent). */
export function namespaceOf(config: RunnableConfig, method: string): string {
  const ns: unknown = config.configurable?.checkpoint_ns;
  if (ns === undefined || ns === null) return "";
  if (typeof ns !== "string") {
    throw new InvalidConfigError(
      `KeyvSaver.${method}: config.configurable.checkpoint_ns must be a string, got ${describe(ns)}`,
    );
  }
  return ns;
}

/** The checkpoint id of `config`, `undefined` when absent or empty. */
export function checkpointIdOf(config: RunnableConfig, method: string): string | undefined {
  const id: unknown = getCheckpointId(config);
  if (id === undefined || id === null || id === "") return undefined;
  if (typeof id !== "string") {
    throw new InvalidConfigError(
      `KeyvSaver.${method}: config.configurable.checkpoint_id must be a string, got ${describe(id)}`,
    );
  }
  return id;
}
