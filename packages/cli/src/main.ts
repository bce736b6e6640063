import { isGraphkeepError } from "@graphkeep/core";
import { Command, CommanderError } from "commander";
import {
  deleteCommand,
  diffCommand,
  forkCommand,
  pruneCommand,
  showCommand,
  statsCommand,
  threadsCommand,
} from "./commands.js";
import { costCommand } from "./cost-report.js";
import { NotFoundError, UsageError } from "./errors.js";
import { historyCommand } from "./history.js";
import type { StoreOptions } from "./open.js";
import { type Io, Output, processIo } from "./output.js";
import { openSource, type Source } from "./source.js";
import { exportCommand, importCommand, readStdin } from "./transfer.js";

interface GlobalOptions extends StoreOptions {
  json?: boolean;
  color?: boolean;
  utc?: boolean;
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
  ADAPTER_NOT_INSTALLED: "install the package named above next to @graphkeep/cli",
  STORE_NOT_FOUND:
    "check the --store path or URL (graphkeep never creates a store), or pass the --table/--namespace named above",
  FOREIGN_STORE:
    "threads, history, show, diff and cost read an official SqliteSaver/PostgresSaver store; copy threads into a graphkeep store to fork or prune them",
};

/** Hints for driver errors that reach the CLI as they are (better-sqlite3's `code`, found along `cause`). */
const DRIVER_HINTS: Record<string, string> = {
  SQLITE_CANTOPEN:
    "SQLite cannot open the file: check the path, that you may read it, and its -wal/-shm side files (plain files, writable directory)",
  SQLITE_NOTADB: "this file is not a SQLite database: check the --store path",
  SQLITE_CORRUPT: "the SQLite file is damaged: run `sqlite3 FILE 'PRAGMA integrity_check'` on a copy",
  SQLITE_READONLY:
    "the SQLite file (or its directory, for the -wal/-shm files) is read-only: writing commands need write access",
  SQLITE_BUSY: "another process holds the SQLite write lock: retry, or raise --timeout",
  SQLITE_PERM: "no permission to open the SQLite file",
  SQLITE_IOERR: "SQLite hit an I/O error: check the disk and the file's permissions",
  ECONNREFUSED: "nothing listens at that host and port: is the server running and the URL right?",
  ENOTFOUND: "the host name does not resolve: check the URL",
  "28P01": "PostgreSQL refused the password: check the user and password in the URL",
  "3D000": "that PostgreSQL database does not exist: check the database name in the URL",
};

function driverCode(e: unknown): string | undefined {
  for (let c: unknown = e, depth = 0; c instanceof Error && depth < 5; c = c.cause, depth++) {
    const code = (c as { code?: unknown }).code;
    if (typeof code === "string" && DRIVER_HINTS[code] !== undefined) return code;
    if (typeof code === "string" && code.startsWith("SQLITE_")) {
      const base = code.replace(/^(SQLITE_[A-Z]+?)(_[A-Z]+)*$/, "$1");
      if (DRIVER_HINTS[base] !== undefined) return base;
    }
  }
  return undefined;
}

/** Runs the CLI with `argv` (without `node` and the script) and resolves to the exit code: 0, 1 (error) or 2 (usage). */
export async function main(argv: string[], io: Io = processIo): Promise<number> {
  let source: Source | undefined;
  let declined = false;
  const program = new Command("graphkeep");
  const output = () => {
    const g = program.opts<GlobalOptions>();
    return new Output(io, g.json === true, g.color === false, g.utc === true);
  };
  const open = async (write: boolean) => {
    const g = program.opts<GlobalOptions>();
    if (g.allowPlaintext === true && (g.keyEnv !== undefined || g.keyFile !== undefined)) {
      io.err(
        "graphkeep: warning: --allow-plaintext: values stored unencrypted are accepted as they are; anyone who can write the store can plant them (use it to migrate a store written before encryption, then rotate())\n",
      );
    }
    const notice = (t: string) => io.err(g.json === true ? `${JSON.stringify({ notice: t })}\n` : `graphkeep: ${t}\n`);
    source = await openSource(g, io.env, { write, notice });
    return source;
  };
  /** Read-only commands: SQLite opened read-only, PostgreSQL in read-only sessions, Keyv writes refused. */
  const reading =
    <A extends unknown[]>(fn: (source: Source, out: Output, ...args: A) => Promise<void>) =>
    async (...args: A) => {
      await fn(await open(false), output(), ...args);
    };
  /** Writing commands resolve false when the user declined the confirmation (exit code 1, nothing written). */
  const writing =
    <A extends unknown[]>(fn: (source: Source, out: Output, ...args: A) => Promise<unknown>) =>
    async (...args: A) => {
      if ((await fn(await open(true), output(), ...args)) === false) declined = true;
    };

  program
    .description(
      "Inspect, diff, fork, prune and cost-report LangGraph checkpoints in any store KeyvSaver can open (and read LangGraph's SqliteSaver / PostgresSaver stores).",
    )
    .version(VERSION)
    .option(
      "-s, --store <url>",
      "store URL (default: $GRAPHKEEP_STORE): sqlite://./checkpoints.db, redis://…, postgres://…, mysql://…",
    )
    .option("--namespace <ns>", "keyv namespace the app's KeyvSaver uses (default: the one found, else graphkeep)")
    .option("--table <name>", "SQL table (default: graphkeep_checkpoints, else keyv)")
    .option("--key-env <var>", "environment variable holding the decryption key or keyring (never pass keys in argv)")
    .option("--key-file <path>", "file holding the decryption key or keyring")
    .option("--timeout <ms>", "store operation timeout", "5000")
    .option(
      "--allow-plaintext",
      "with a key: also accept values stored unencrypted (migrating a store written before encryption); warns",
    )
    .option("--utc", "times in UTC (default: local time, the zone in the column header)")
    .option("--json", "machine-readable JSON output")
    .option("--no-color", "no colours")
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) })
    .exitOverride()
    .showHelpAfterError("(graphkeep --help for usage)");

  program
    .command("threads")
    .description("list threads: checkpoints, last step, last update, size, cost, status")
    .option("--limit <n>", "at most n threads, most recently updated first", "100")
    .action(reading((s, out, o: { limit?: string }) => threadsCommand(s, o, out)));
  program
    .command("history <thread>")
    .description(
      "one row per checkpoint, as a tree of branches: step, node(s), id, time, source, size, step cost, total",
    )
    .option("--limit <n>", "newest n checkpoints")
    .option("--ns <namespace>", "checkpoint namespace (subgraphs)", "")
    .action(reading((s, out, thread: string, o: { limit?: string; ns?: string }) => historyCommand(s, thread, o, out)));
  program
    .command("show <thread>")
    .description("the state at the latest (or a given) checkpoint, as JSON, with next nodes and a failed task's error")
    .option("-c, --checkpoint <id>", "checkpoint id, unique id prefix or step number (default: latest)")
    .option("--channel <name>", "only this channel")
    .option("--ns <namespace>", "checkpoint namespace (subgraphs)", "")
    .action(
      reading((s, out, thread: string, o: { checkpoint?: string; channel?: string; ns?: string }) =>
        showCommand(s, thread, o, out),
      ),
    );
  program
    .command("diff <thread> <checkpointA> <checkpointB>")
    .description("what changed per channel between two checkpoints (ids, unique prefixes or step numbers)")
    .option("--ns <namespace>", "checkpoint namespace (subgraphs)", "")
    .action(
      reading((s, out, thread: string, a: string, b: string, o: { ns?: string }) =>
        diffCommand(s, thread, a, b, o, out),
      ),
    );
  program
    .command("fork <thread>")
    .description("copy a thread up to a checkpoint into a new thread, for a what-if re-run")
    .requiredOption("--at <checkpoint>", "checkpoint to branch from (id, unique prefix or step number)")
    .requiredOption("--to <thread>", "new thread id")
    .action(writing((s, out, thread: string, o: { at: string; to: string }) => forkCommand(s, thread, o, out)));
  program
    .command("export <thread>")
    .description("write a thread as a portable thread document (every checkpoint, value and write) to stdout or --file")
    .option("--file <path>", "write to this file instead of standard output")
    .action(reading((s, out, thread: string, o: { file?: string }) => exportCommand(s, thread, o, out)));
  program
    .command("import")
    .description("import a thread document (from graphkeep export) from stdin or --file; refuses an existing thread")
    .option("--as <thread>", "import under another thread id")
    .option("--file <path>", "read this file instead of standard input")
    .action(writing((s, out, o: { as?: string; file?: string }) => importCommand(s, o, out, io.stdin ?? readStdin)));
  program
    .command("prune")
    .description("delete old checkpoints by retention policy (latest, interrupted and fork points are kept)")
    .option("--keep-latest <n>", "keep the newest n checkpoints of each thread")
    .option("--max-age <duration>", "delete checkpoints older than this (7d, 12h, 30m)")
    .option("--keep-final", "never delete a finished thread's last checkpoint chain")
    .option("--thread <id...>", "only these threads")
    .option("--dry-run", "report what would be deleted, delete nothing")
    .option("-y, --yes", "do not ask for confirmation on a terminal")
    .action(writing((s, out, o: Parameters<typeof pruneCommand>[1]) => pruneCommand(s, o, out)));
  program
    .command("delete <thread...>")
    .description("delete threads: every checkpoint, value and write (asks first on a terminal)")
    .option("-y, --yes", "do not ask for confirmation on a terminal")
    .action(writing((s, out, threads: string[], o: { yes?: boolean }) => deleteCommand(s, threads, o, out)));
  program
    .command("cost [thread]")
    .description("spend and tokens recorded by @graphkeep/cost's withCostMetadata, by thread, model, node and tenant")
    .action(reading((s, out, thread: string | undefined) => costCommand(s, thread, out)));
  program
    .command("stats")
    .description("counts and bytes of the whole store")
    .action(reading((s, out) => statsCommand(s, out)));
  program
    .command("studio")
    .description("a local web inspector: threads, history tree, state, diff, cost chart, fork (@graphkeep/studio)")
    .option("--port <n>", "port (0: any free one)", "4317")
    .option("--host <address>", "interface; other than loopback needs the printed token", "127.0.0.1")
    .option("--read-only", "hide and refuse every action; the store is opened read-only")
    .action(async (o: { port: string; host: string; readOnly?: boolean }) => {
      // optional: installed beside the CLI (a variable specifier keeps it out of the CLI's build and types)
      const name = "@graphkeep/studio";
      type Studio = { url: string; error?: { message: string; hint?: string }; close(): Promise<void> };
      const studio: { startStudio(o: object): Promise<Studio> } = await import(name).catch(() => {
        throw new UsageError("graphkeep studio needs @graphkeep/studio: npm i @graphkeep/studio");
      });
      const port = Number(o.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError("--port must be 0–65535");
      const g = program.opts<GlobalOptions>();
      const s = await studio.startStudio({ ...g, env: io.env, port, host: o.host, readOnly: o.readOnly === true });
      io.out(`graphkeep studio: ${s.url}\n`);
      if (s.error) io.err(`graphkeep: ${s.error.message}${s.error.hint ? `\n  hint: ${s.error.hint}` : ""}\n`);
      await new Promise<void>((resolve) => {
        process.once("SIGINT", resolve);
        process.once("SIGTERM", resolve);
      });
      await s.close();
    });

  try {
    await program.parseAsync(argv, { from: "user" });
    return declined ? 1 : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      return e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.exitCode === 0 ? 0 : 2;
    }
    const json = program.opts<GlobalOptions>().json === true;
    const code = isGraphkeepError(e) ? e.code : undefined;
    const where = e instanceof NotFoundError && source?.hint ? `; ${source.hint}` : "";
    const message = `${e instanceof Error ? e.message : String(e)}${where}`;
    const driver = driverCode(e);
    const hint = driver !== undefined ? DRIVER_HINTS[driver] : code === undefined ? undefined : HINTS[code];
    if (json)
      io.err(`${JSON.stringify({ error: { code: code ?? driver ?? "ERROR", message, ...(hint ? { hint } : {}) } })}\n`);
    else io.err(`graphkeep: ${message}${hint ? `\n  hint: ${hint}` : ""}\n`);
    if (e instanceof UsageError) return 2;
    return 1;
  } finally {
    await source?.close().catch(() => undefined);
  }
}
