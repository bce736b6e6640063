/** Opens each compared checkpointer on its storage location. Adapters load on demand. */
import type { BaseCheckpointSaver } from "@langchain/langgraph";
import type { StoreOperationCounts } from "../../packages/keyv-saver/src/index.ts";
import type { SaverName } from "./args.js";
import type { Location } from "./storage.js";

export interface OpenedSaver {
  /** undefined for the no-checkpointer baseline */
  saver: BaseCheckpointSaver | undefined;
  /** KeyvSaver's cumulative store operations; undefined for other savers */
  operations(): StoreOperationCounts | undefined;
  /** Flushes and disconnects (before the storage is measured). */
  close(): Promise<void>;
}

const nothing = () => undefined;

export const SAVER_LABELS: Record<SaverName, string> = {
  none: "no checkpointer",
  memory: "MemorySaver",
  sqlite: "SqliteSaver (official)",
  postgres: "PostgresSaver (official)",
  "keyv-memory": "KeyvSaver memory",
  "keyv-sqlite": "KeyvSaver sqlite (fromUrl)",
  "keyv-sqlite-hand": "KeyvSaver over new Keyv(new KeyvBetterSqlite)",
  "keyv-sqlite-keyv": "KeyvSaver over new Keyv(new @keyv/sqlite)",
  "keyv-redis": "KeyvSaver redis",
  "keyv-postgres": "KeyvSaver postgres",
  "keyv-mysql": "KeyvSaver mysql",
};

function keyvUrl(name: SaverName, loc: Location): string {
  switch (loc.kind) {
    case "memory":
      return "memory:";
    case "sqlite":
      return `sqlite://${loc.file}`;
    case "redis":
    case "pg-table":
    case "mysql":
      return loc.url;
    case "pg-schema":
      throw new Error(`${name}: KeyvSaver has no schema location`);
  }
}

export async function openSaver(name: SaverName, loc: Location, id: string): Promise<OpenedSaver> {
  switch (name) {
    case "none":
      return { saver: undefined, operations: nothing, close: async () => undefined };
    case "memory": {
      const { MemorySaver } = await import("@langchain/langgraph");
      return { saver: new MemorySaver(), operations: nothing, close: async () => undefined };
    }
    case "sqlite": {
      if (loc.kind !== "sqlite") throw new Error("sqlite: expected a file location");
      const { SqliteSaver } = await import("@langchain/langgraph-checkpoint-sqlite");
      const saver = SqliteSaver.fromConnString(loc.file);
      return { saver, operations: nothing, close: async () => void saver.db.close() };
    }
    case "postgres": {
      if (loc.kind !== "pg-schema") throw new Error("postgres: expected a schema location");
      const { PostgresSaver } = await import("@langchain/langgraph-checkpoint-postgres");
      const saver = PostgresSaver.fromConnString(loc.url, { schema: loc.schema });
      await saver.setup();
      return { saver, operations: nothing, close: () => saver.end() };
    }
    case "keyv-sqlite-hand":
    case "keyv-sqlite-keyv": {
      if (loc.kind !== "sqlite") throw new Error(`${name}: expected a file location`);
      const { KeyvSaver, KeyvBetterSqlite } = await import("../../packages/keyv-saver/src/index.ts");
      const { default: Keyv } = await import("keyv");
      const uri = `sqlite://${loc.file}`;
      // built by hand, as the keyv docs show: the saver applies WAL and its fixes itself
      const store =
        name === "keyv-sqlite-hand"
          ? new KeyvBetterSqlite({ uri, table: id })
          : new (await import("@keyv/sqlite")).default({ uri, table: id, busyTimeout: 5000 });
      const saver = new KeyvSaver(new Keyv({ store, namespace: id }));
      return { saver, operations: () => saver.storeOperations, close: () => saver.close() };
    }
    default: {
      const { KeyvSaver } = await import("../../packages/keyv-saver/src/index.ts");
      const saver = await KeyvSaver.fromUrl(keyvUrl(name, loc), { namespace: id, table: id });
      return { saver, operations: () => saver.storeOperations, close: () => saver.close() };
    }
  }
}
