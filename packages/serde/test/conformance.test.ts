import { randomUUID } from "node:crypto";
import { KeyvSaver } from "@graphkeep/keyv-saver";
import { emptyCheckpoint, MemorySaver, TASKS } from "@langchain/langgraph-checkpoint";
import { PostgresSaver } from "@langchain/langgraph-checkpoint-postgres";
import { SqliteSaver } from "@langchain/langgraph-checkpoint-sqlite";
import { deltaChannelHistoryTests, validate } from "@langchain/langgraph-checkpoint-validation";
import { describe, expect, it } from "vitest";
import { backends, POSTGRES_URL } from "../../../test/helpers/backends.js";
import { CheckpointIntegrityError } from "../src/index.js";
import { key0, key1, stack } from "./helpers.js";
import { PlainMetadataPostgresSaver } from "./official-savers.js";
import { newPool } from "./pg.js";

// LangGraph's official conformance suite with encrypted(compressed(JsonPlusSerializer)) as the serde.
const serde = () => stack({ "2026-11": key1, "2026-05": key0 }, "2026-11");
const postgres = backends.find((b) => b.name === "postgres")!;

for (const backend of backends.filter((b) => b.name === "memory" || b.name === "postgres")) {
  if (backend.skip) {
    describe.skip(`KeyvSaver on ${backend.name} with encrypted(compressed()): ${backend.skip}`, () => {
      it("is skipped", () => {});
    });
    continue;
  }
  const initializer = {
    checkpointerName: `KeyvSaver(${backend.name}, encrypted(compressed()))`,
    createCheckpointer: () => new KeyvSaver(backend.keyv(), { serde: serde() }),
    destroyCheckpointer: async (saver: KeyvSaver) => {
      await saver.keyv.clear().catch(() => undefined);
      await saver.close();
    },
  };
  validate(initializer);
  deltaChannelHistoryTests(initializer);
}

const schemaName = () => `gk_serde_${randomUUID().replaceAll("-", "").slice(0, 12)}`;

async function dropSchema(schema: string): Promise<void> {
  const pool = newPool(POSTGRES_URL);
  try {
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await pool.end();
  }
}

if (postgres.skip) {
  describe.skip(`official PostgresSaver with encrypted(compressed()): ${postgres.skip}`, () => {
    it("is skipped", () => {});
  });
} else {
  // a fresh schema for every checkpointer the suite creates, dropped afterwards
  const schemas = new WeakMap<PostgresSaver, string>();
  validate({
    checkpointerName: "PostgresSaver(encrypted(compressed()), plain metadata)",
    createCheckpointer: async () => {
      const schema = schemaName();
      const saver = new PlainMetadataPostgresSaver(newPool(POSTGRES_URL), serde(), { schema });
      await saver.setup();
      schemas.set(saver, schema);
      return saver;
    },
    destroyCheckpointer: async (saver: PostgresSaver) => {
      await saver.end();
      await dropSchema(schemas.get(saver)!);
    },
  });

  describe("the unmodified official PostgresSaver", () => {
    it("cannot take an encrypting serde: it parses the serde's metadata bytes as JSON", async () => {
      const schema = schemaName();
      const saver = new PostgresSaver(newPool(POSTGRES_URL), serde(), { schema });
      try {
        await saver.setup();
        const config = { configurable: { thread_id: "t", checkpoint_ns: "" } };
        const put = saver.put(config, emptyCheckpoint(), { source: "input", step: -1, parents: {} }, {});
        await expect(put).rejects.toThrow(SyntaxError);
        await expect(put).rejects.toThrow(/is not valid JSON/);
      } finally {
        await saver.end();
        await dropSchema(schema);
      }
    });
  });
}

describe("the official SqliteSaver", () => {
  // SqliteSaver reads pending writes through `CAST(value AS TEXT)` inside json_object(), which mangles binary
  // payloads; it also requires checkpoint and metadata to share one type tag and filters metadata in SQL, so no
  // encrypting serde can pass its conformance suite. What the serde guarantees there: never garbage.
  it("hands encrypted pending writes back mangled, and the serde refuses them instead of returning garbage", async () => {
    const saver = new SqliteSaver(SqliteSaver.fromConnString(":memory:").db, serde());
    const config = await saver.put({ configurable: { thread_id: "t", checkpoint_ns: "" } }, emptyCheckpoint(), {
      source: "input",
      step: -1,
      parents: {},
    });
    await saver.putWrites(config, [[TASKS, { secret: "s3cr3t" }]], "task-1");
    await expect(saver.getTuple(config)).rejects.toThrow(CheckpointIntegrityError);
  });
});

describe("the official MemorySaver", () => {
  // MemorySaver keeps only the bytes of dumpsTyped() and reads everything back as "json": the +aes tag is lost
  it("drops the type tag, and the serde refuses to read what it cannot authenticate", async () => {
    const saver = new MemorySaver(serde());
    const config = await saver.put({ configurable: { thread_id: "t", checkpoint_ns: "" } }, emptyCheckpoint(), {
      source: "input",
      step: -1,
      parents: {},
    });
    await expect(saver.getTuple(config)).rejects.toThrow(CheckpointIntegrityError);
  });
});
