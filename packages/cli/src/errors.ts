import { GraphkeepError } from "@graphkeep/core";

/** The CLI was asked about a thread or checkpoint the store does not have. */
export class NotFoundError extends GraphkeepError {
  constructor(message: string) {
    super("INVALID_ARGUMENT", message);
    this.name = "NotFoundError";
  }
}

/** Wrong command-line usage (exit code 2). */
export class UsageError extends GraphkeepError {
  constructor(message: string) {
    super("INVALID_ARGUMENT", message);
    this.name = "UsageError";
  }
}

/**
 * The store the CLI was pointed at does not exist or holds no graphkeep data: a missing SQLite file (the CLI never
 * creates one), or a database without the table. The message names what is there and the flags to try.
 *
 * @example
 * if (e instanceof StoreNotFoundError) console.error("mistyped --store path?")
 */
export class StoreNotFoundError extends GraphkeepError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("STORE_NOT_FOUND", message, options);
    this.name = "StoreNotFoundError";
  }
}

/**
 * The store was written by another saver (LangGraph's official `SqliteSaver` or `PostgresSaver`): the CLI reads it
 * through that saver for `threads`, `history`, `show`, `diff` and `cost`, and refuses every command that would write
 * to it or needs graphkeep's layout.
 */
export class ForeignStoreError extends GraphkeepError {
  /** Which layout was recognised. */
  readonly layout: "SqliteSaver" | "PostgresSaver";

  constructor(layout: "SqliteSaver" | "PostgresSaver", message: string) {
    super("FOREIGN_STORE", message);
    this.name = "ForeignStoreError";
    this.layout = layout;
  }
}

/** A read-only command tried to write to the store (a safety net: it never should). */
export class ReadOnlyStoreError extends GraphkeepError {
  constructor(operation: string) {
    super("INVALID_ARGUMENT", `graphkeep: a read-only command tried to ${operation} the store; nothing was written`);
    this.name = "ReadOnlyStoreError";
  }
}
