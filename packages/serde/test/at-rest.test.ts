import { randomUUID } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KeyvSaver } from "@graphkeep/keyv-saver";
import { encrypted } from "@graphkeep/serde";
import type { BaseCheckpointSaver } from "@langchain/langgraph";
import { JsonPlusSerializer, type SerializerProtocol } from "@langchain/langgraph-checkpoint";
import { describe, expect, it } from "vitest";
import { backends, POSTGRES_URL } from "../../../test/helpers/backends.js";
import { newThread, SECRET, STEPS, tenStepGraph } from "./graph.js";
import { key0, stack } from "./helpers.js";
import { PlainMetadataPostgresSaver } from "./official-savers.js";
import { newPool } from "./pg.js";

// The bytes a store holds must not contain what the graph saw. Each case runs a 10-step graph whose messages carry
// SECRET, then searches the raw storage; the plain serde is the control (the search does find it there).
const serdes: Record<string, { make: () => SerializerProtocol; readable: boolean }> = {
  "the plain serde (control)": { make: () => new JsonPlusSerializer(), readable: true },
  "encrypted()": {
    make: () => encrypted(new JsonPlusSerializer(), { keys: { k: key0 }, activeKeyId: "k" }),
    readable: false,
  },
  "encrypted(compressed())": { make: () => stack({ k: key0 }, "k"), readable: false },
};
const hexSecret = Buffer.from(SECRET).toString("hex");
const postgres = backends.find((b) => b.name === "postgres")!;

async function runGraph(saver: BaseCheckpointSaver): Promise<void> {
  const config = newThread();
  const out = await tenStepGraph(saver).invoke({ steps: [] }, config);
  expect(out.steps).toEqual(STEPS);
}

describe.each(Object.entries(serdes))("with %s", (_name, { make, readable }) => {
  const expectation = readable ? "holds the secret in plaintext" : "never holds the secret in plaintext";

  it(`KeyvSaver on a SQLite file ${expectation}`, async () => {
    const dir = mkdtempSync(join(tmpdir(), "graphkeep-serde-"));
    const saver = await KeyvSaver.fromUrl(`sqlite://${join(dir, "store.sqlite")}`, { serde: make() });
    await runGraph(saver);
    await saver.close();
    const files = readdirSync(dir);
    expect(files).toContain("store.sqlite");
    const bytes = Buffer.concat(files.map((f) => readFileSync(join(dir, f))));
    expect(bytes.length).toBeGreaterThan(10_000);
    expect(bytes.includes(SECRET)).toBe(readable);
  });

  it.skipIf(postgres.skip)(`KeyvSaver on PostgreSQL ${expectation} in its rows`, async () => {
    const namespace = `serde${randomUUID().replaceAll("-", "").slice(0, 10)}`;
    const saver = new KeyvSaver(postgres.keyv(namespace), { serde: make() });
    const pool = newPool(POSTGRES_URL);
    try {
      await runGraph(saver);
      const { rows } = await pool.query("SELECT key, value FROM keyv WHERE key LIKE $1", [`${namespace}:%`]);
      expect(rows.length).toBeGreaterThan(10);
      const text = rows.map((r) => `${r.key}\n${r.value}`).join("\n");
      expect(text.includes(SECRET)).toBe(readable);
    } finally {
      await saver.keyv.clear();
      await saver.close();
      await pool.end();
    }
  });

  it.skipIf(postgres.skip)(`the official PostgresSaver ${expectation} in its tables`, async () => {
    const schema = `gk_serde_${randomUUID().replaceAll("-", "").slice(0, 12)}`;
    const pool = newPool(POSTGRES_URL);
    const saver = new PlainMetadataPostgresSaver(newPool(POSTGRES_URL), make(), { schema });
    try {
      await saver.setup();
      await runGraph(saver);
      let dump = "";
      for (const table of ["checkpoints", "checkpoint_blobs", "checkpoint_writes"]) {
        const { rows } = await pool.query(`SELECT row_to_json(t)::text AS j FROM "${schema}".${table} t`);
        expect(rows.length, table).toBeGreaterThan(0);
        dump += rows.map((r) => r.j).join("\n");
      }
      // bytea columns come out as hex
      expect(dump.includes(SECRET) || dump.includes(hexSecret)).toBe(readable);
    } finally {
      await saver.end();
      await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await pool.end();
    }
  });
});
