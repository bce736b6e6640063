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
