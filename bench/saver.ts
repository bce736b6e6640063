/**
 * Checkpointer benchmark: no checkpointer, MemorySaver, the official SQLite and PostgreSQL savers, and KeyvSaver on
 * memory, SQLite, Redis, PostgreSQL and MySQL/MariaDB, on the same LangGraph workloads.
 *
 *   pnpm bench:saver [--quick] [--threads N] [--steps N] [--repeats N] [--workloads a,b] [--savers memory,keyv-redis]
 *
 * The parent spawns `--child <saver> <workloads> <task json>` processes (one per saver × workload) so that peak RSS
 * and memory are per saver; see bench/lib/parent.ts and bench/lib/child.ts.
 */
import { SAVERS, WORKLOADS } from "./lib/args.js";

const argv = process.argv.slice(2);
if (argv[0] === "--child") {
  const [, saverArg, workloadsArg, taskJson] = argv;
  const saver = SAVERS.find((s) => s === saverArg);
  const workloads = (workloadsArg ?? "").split(",").map((w) => WORKLOADS.find((x) => x === w));
  if (saver === undefined || taskJson === undefined || workloads.some((w) => w === undefined)) {
    process.stderr.write(`bad child arguments: ${argv.join(" ")}\n`);
    process.exit(2);
  }
  const { runChild } = await import("./lib/child.js");
  await runChild(
    saver,
    workloads.filter((w) => w !== undefined),
    JSON.parse(taskJson),
  );
  // pools and sockets the adapters may leave open must not keep the child alive
  process.exit(0);
} else {
  const { runParent } = await import("./lib/parent.js");
  await runParent(argv);
}
