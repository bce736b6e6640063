import { isGraphkeepError } from "@graphkeep/core";
import type { KeyvSaver } from "@graphkeep/keyv-saver";
import { Command, CommanderError } from "commander";
import {
  costCommand,
  diffCommand,
  forkCommand,
  historyCommand,
  pruneCommand,
  showCommand,
  statsCommand,
  threadsCommand,
} from "./commands.js";
import { UsageError } from "./errors.js";
import { openSaver, type StoreOptions } from "./open.js";
import { type Io, Output, processIo } from "./output.js";

interface GlobalOptions extends StoreOptions {
  json?: boolean;
  color?: boolean;
}

const VERSION = "0.1.0";

const HINTS: Record<string, string> = {
  MISSING_KEY: "the store is encrypted with a key you did not give: pass --key-env VAR or --key-file PATH",
  INVALID_KEY: "the decryption key does not match the one the store was written with",
  CHECKPOINT_INTEGRITY:
    "a value failed its integrity check: wrong decryption key, or the store was modified (pass the key with --key-env/--key-file)",
  CHECKPOINT_CORRUPT:
    "a stored value could not be read: if the store is encrypted, pass its key with --key-env VAR or --key-file PATH",
  STORE_UNAVAILABLE: "is the server running and the URL right? (--timeout raises the wait)",
  UNSUPPORTED_URL: "use sqlite://<file>, redis://…, postgres://…, mysql://… or memory:",
  ADAPTER_NOT_INSTALLED: "install the keyv adapter named above next to @graphkeep/cli",
};

/** Runs the CLI with `argv` (without `node` and the script) and resolves to the exit code: 0, 1 (error) or 2 (usage). */
export async function main(argv: string[], io: Io = processIo): Promise<number> {
  let saver: KeyvSaver | undefined;
  const program = new Command("graphkeep");
  const output = () => {
    const g = program.opts<GlobalOptions>();
    return new Output(io, g.json === true, g.color === false);
  };
  const withSaver =
    <A extends unknown[]>(fn: (saver: KeyvSaver, out: Output, ...args: A) => Promise<void>) =>
    async (...args: A) => {
      saver = await openSaver(program.opts<GlobalOptions>(), io.env);
      await fn(saver, output(), ...args);
    };

  program
    .description("Inspect, diff, fork, prune and cost-report LangGraph checkpoints in any store KeyvSaver can open.")
    .version(VERSION)
    .option(
      "-s, --store <url>",
      "store URL (default: $GRAPHKEEP_STORE): sqlite://./checkpoints.db, redis://…, postgres://…, mysql://…",
    )
    .option("--namespace <ns>", "keyv namespace the app's KeyvSaver uses (default: graphkeep)")
    .option("--table <name>", "SQL table (default: graphkeep_checkpoints)")
    .option("--key-env <var>", "environment variable holding the decryption key or keyring (never pass keys in argv)")
    .option("--key-file <path>", "file holding the decryption key or keyring")
    .option("--timeout <ms>", "store operation timeout", "5000")
    .option("--json", "machine-readable JSON output")
    .option("--no-color", "no colours")
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) })
    .exitOverride()
    .showHelpAfterError("(graphkeep --help for usage)");

  program
    .command("threads")
    .description("list threads: checkpoints, last step, last update, size, cost, status")
    .option("--limit <n>", "at most n threads, most recently updated first", "100")
    .action(withSaver((s, out, o: { limit?: string }) => threadsCommand(s, o, out)));
  program
    .command("history <thread>")
    .description("one row per checkpoint: step, source, node(s), id, time, size, step cost and running total")
    .option("--limit <n>", "newest n checkpoints")
    .option("--ns <namespace>", "checkpoint namespace (subgraphs)", "")
    .action(
      withSaver((s, out, thread: string, o: { limit?: string; ns?: string }) => historyCommand(s, thread, o, out)),
    );
  program
    .command("show <thread>")
    .description("the state at the latest (or a given) checkpoint, as JSON")
    .option("-c, --checkpoint <id>", "checkpoint id (default: latest)")
    .option("--channel <name>", "only this channel")
    .option("--ns <namespace>", "checkpoint namespace (subgraphs)", "")
    .action(
      withSaver((s, out, thread: string, o: { checkpoint?: string; channel?: string; ns?: string }) =>
        showCommand(s, thread, o, out),
      ),
    );
  program
    .command("diff <thread> <checkpointA> <checkpointB>")
    .description("what changed per channel between two checkpoints")
    .option("--ns <namespace>", "checkpoint namespace (subgraphs)", "")
    .action(
      withSaver((s, out, thread: string, a: string, b: string, o: { ns?: string }) =>
        diffCommand(s, thread, a, b, o, out),
      ),
    );
  program
    .command("fork <thread>")
    .description("copy a thread up to a checkpoint into a new thread, for a what-if re-run")
    .requiredOption("--at <checkpoint>", "checkpoint to branch from")
    .requiredOption("--to <thread>", "new thread id")
    .action(withSaver((s, out, thread: string, o: { at: string; to: string }) => forkCommand(s, thread, o, out)));
  program
    .command("prune")
    .description("delete old checkpoints by retention policy (latest, interrupted and fork points are kept)")
    .option("--keep-latest <n>", "keep the newest n checkpoints of each thread")
    .option("--max-age <duration>", "delete checkpoints older than this (7d, 12h, 30m)")
    .option("--keep-final", "never delete a finished thread's last checkpoint chain")
    .option("--thread <id...>", "only these threads")
    .option("--dry-run", "report what would be deleted, delete nothing")
    .action(withSaver((s, out, o: Parameters<typeof pruneCommand>[1]) => pruneCommand(s, o, out)));
  program
    .command("cost [thread]")
    .description("spend recorded by @graphkeep/cost's withCostMetadata, by thread, model, node and tenant")
    .action(withSaver((s, out, thread: string | undefined) => costCommand(s, thread, out)));
  program
    .command("stats")
    .description("counts and bytes of the whole store")
    .action(withSaver((s, out) => statsCommand(s, out)));

  try {
    await program.parseAsync(argv, { from: "user" });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      return e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.exitCode === 0 ? 0 : 2;
    }
    const json = program.opts<GlobalOptions>().json === true;
    const code = isGraphkeepError(e) ? e.code : undefined;
    const message = e instanceof Error ? e.message : String(e);
    const hint = code === undefined ? undefined : HINTS[code];
    if (json) io.err(`${JSON.stringify({ error: { code: code ?? "ERROR", message, ...(hint ? { hint } : {}) } })}\n`);
    else io.err(`graphkeep: ${message}${hint ? `\n  hint: ${hint}` : ""}\n`);
    if (e instanceof UsageError) return 2;
    return 1;
  } finally {
    await saver?.close().catch(() => undefined);
  }
}
