import type { RewritableSaver, RewritePayload } from "@graphkeep/serde";
import type { CheckpointMetadata, SerializerProtocol } from "@langchain/langgraph-checkpoint";
import { JsonPlusSerializer } from "@langchain/langgraph-checkpoint";
import { PostgresSaver } from "@langchain/langgraph-checkpoint-postgres";
import type { Pool } from "./pg.js";

/**
 * The official PostgresSaver with metadata kept out of the serde (the README recipe). PostgresSaver stores metadata
 * as JSONB to filter on it in SQL, and gets that JSON by parsing the serde's output, so metadata cannot go through
 * an encrypting serde; channel values and pending writes (BYTEA with a type column) can.
 */
export class PlainMetadataPostgresSaver extends PostgresSaver {
  readonly #plain = new JsonPlusSerializer();

  protected override async _dumpMetadata(metadata: CheckpointMetadata): Promise<unknown> {
    const [, bytes] = await this.#plain.dumpsTyped(metadata);
    return JSON.parse(new TextDecoder().decode(bytes).replace(/\0/g, ""));
  }

  protected override async _loadMetadata(metadata: Record<string, unknown>): Promise<unknown> {
    const [type, bytes] = await this.#plain.dumpsTyped(metadata);
    return this.#plain.loadsTyped(type, bytes);
  }
}

/**
 * The same, implementing `RewritableSaver` over its tables (each row rewritten by one UPDATE), so `rotate()` can be
 * exercised on a real official saver. `KeyvSaver` gets the equivalent as `rewriteValues`.
 */
export class RewritablePostgresSaver extends PlainMetadataPostgresSaver implements RewritableSaver {
  readonly #pool: Pool;
  readonly #schema: string;

  constructor(pool: Pool, serde: SerializerProtocol, options: { schema: string }) {
    super(pool, serde, options);
    this.#pool = pool;
    this.#schema = options.schema;
  }

  async *listThreads(): AsyncGenerator<{ threadId: string }> {
    const { rows } = await this.#pool.query(`SELECT DISTINCT thread_id FROM "${this.#schema}".checkpoints`);
    for (const row of rows) yield { threadId: row.thread_id as string };
  }

  async rewriteValues(threadId: string, rewrite: RewritePayload): Promise<number> {
    let n = 0;
    for (const table of ["checkpoint_blobs", "checkpoint_writes"]) {
      const t = `"${this.#schema}".${table}`;
      const { rows } = await this.#pool.query(
        `SELECT ctid::text AS at, type, blob FROM ${t} WHERE thread_id = $1 AND blob IS NOT NULL AND type <> 'empty'`,
        [threadId],
      );
      for (const row of rows) {
        const out = await rewrite(row.type as string, new Uint8Array(row.blob as Buffer));
        if (out === undefined) continue;
        await this.#pool.query(`UPDATE ${t} SET type = $1, blob = $2 WHERE ctid = $3::tid`, [
          out[0],
          Buffer.from(out[1]),
          row.at,
        ]);
        n += 1;
      }
    }
    return n;
  }
}
