import { randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KeyvSaver } from "@graphkeep/keyv-saver";
import { type BaseCheckpointSaver, MemorySaver } from "@langchain/langgraph";
import { PostgresSaver } from "@langchain/langgraph-checkpoint-postgres";
import { SqliteSaver } from "@langchain/langgraph-checkpoint-sqlite";
import pg from "pg";
import { backends, POSTGRES_URL } from "../../../test/helpers/backends.js";

/** One saver kind the policy suites run on: ours over keyv, and the official ones. */
export interface SaverKind {
  name: string;
  skip: string | undefined;
  open(): Promise<{ saver: BaseCheckpointSaver; close(): Promise<void> }>;
}

const backend = (name: string) => backends.find((b) => b.name === name)!;
const dir = mkdtempSync(join(tmpdir(), "graphkeep-policy-"));

export const saverKinds: SaverKind[] = [
  {
    name: "KeyvSaver memory",
    skip: undefined,
    open: async () => ({ saver: new KeyvSaver(backend("memory").keyv()), close: async () => undefined }),
  },
  {
    name: "KeyvSaver sqlite",
    skip: undefined,
    open: async () => ({ saver: new KeyvSaver(backend("sqlite").keyv()), close: async () => undefined }),
  },
  {
    name: "KeyvSaver postgres",
    skip: backend("postgres").skip,
    open: async () => {
      const saver = await KeyvSaver.fromUrl(POSTGRES_URL, { namespace: `p${randomUUID().slice(0, 8)}` });
      return { saver, close: () => saver.close() };
    },
  },
  {
    name: "MemorySaver (official)",
    skip: undefined,
    open: async () => ({ saver: new MemorySaver(), close: async () => undefined }),
  },
  {
    name: "SqliteSaver (official)",
    skip: undefined,
    open: async () => {
      const saver = SqliteSaver.fromConnString(join(dir, `${randomUUID()}.db`));
      return {
        saver,
        close: async () => {
          saver.db.close();
        },
      };
    },
  },
  {
    name: "PostgresSaver (official)",
    skip: backend("postgres").skip,
    open: async () => {
      const schema = `gk_policy_${randomUUID().replaceAll("-", "").slice(0, 12)}`;
      const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 4 });
      const saver = new PostgresSaver(pool, undefined, { schema });
      await saver.setup();
      return {
        saver,
        close: async () => {
          await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
          await pool.end();
        },
      };
    },
  },
];
