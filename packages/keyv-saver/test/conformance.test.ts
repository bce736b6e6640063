import { createRequire } from "node:module";
import { type BetterSqliteDatabase, KeyvBetterSqlite, KeyvSaver } from "@graphkeep/keyv-saver";
import KeyvRedis, { createCluster } from "@keyv/redis";
import { deltaChannelHistoryTests, validate } from "@langchain/langgraph-checkpoint-validation";
import { createClient } from "@redis/client";
import Keyv from "keyv";
import { createPool as createMysqlPool } from "mysql2/promise";
import pg from "pg";
import { backends, freshNamespace, sqliteFile } from "../../../test/helpers/backends.js";
import { CLUSTER_URL, clusterNodes, clusterSkip } from "../../../test/helpers/cluster.js";

// LangGraph's official conformance suite on every backend, once through a Keyv built by hand (as the keyv docs
// show) and once through `KeyvSaver.fromUrl`: the saver must be as correct however its store was built. Every
// created saver gets its own Keyv namespace, so the list tests see clean storage.

interface Variant {
  name: string;
  skip: string | undefined;
  create(): KeyvSaver | Promise<KeyvSaver>;
}

const clusterSkipReason = await clusterSkip();
const skipOf = (name: string) => backends.find((b) => b.name === name)!.skip;
const url = (name: string) => backends.find((b) => b.name === name)!.url;

// clients and pools an application already has: fromUrl shares them and never closes them
const pgPool = skipOf("postgres") ? undefined : new pg.Pool({ connectionString: url("postgres"), max: 4 });
const mysqlPool = skipOf("mysql") ? undefined : createMysqlPool({ uri: url("mysql"), connectionLimit: 4 });
const redisClient = skipOf("redis") ? undefined : await createClient({ url: url("redis") }).connect();
const Database = createRequire(import.meta.url)("better-sqlite3") as new (file: string) => BetterSqliteDatabase;
const sqliteDb = new Database(sqliteFile);
afterAll(async () => {
  await pgPool?.end();
  await mysqlPool?.end();
  redisClient?.destroy();
  sqliteDb.close();
});
const table = () => "graphkeep_pool_conformance";

const variants: Variant[] = [
  ...backends.flatMap((b): Variant[] => [
    { name: `${b.name}, hand-built Keyv`, skip: b.skip, create: () => new KeyvSaver(b.keyv()) },
    {
      name: `${b.name}, fromUrl`,
      skip: b.skip,
      create: () => KeyvSaver.fromUrl(b.url, { namespace: freshNamespace() }),
    },
  ]),
  {
    name: "sqlite, fromUrl(an open better-sqlite3 Database)",
    skip: undefined,
    create: () => KeyvSaver.fromUrl(sqliteDb, { namespace: freshNamespace() }),
  },
  {
    name: "redis, fromUrl(a connected node-redis client)",
    skip: skipOf("redis"),
    create: () => KeyvSaver.fromUrl(redisClient!, { namespace: freshNamespace() }),
  },
  {
    name: "postgres, fromUrl(a pg.Pool)",
    skip: skipOf("postgres"),
    create: () => KeyvSaver.fromUrl(pgPool!, { namespace: freshNamespace(), table: table() }),
  },
  {
    name: "mysql, fromUrl(a mysql2 pool)",
    skip: skipOf("mysql"),
    create: () => KeyvSaver.fromUrl(mysqlPool!, { namespace: freshNamespace(), table: table() }),
  },
  {
    name: "sqlite, hand-built Keyv over KeyvBetterSqlite",
    skip: undefined,
    create: () =>
      new KeyvSaver(
        new Keyv({ store: new KeyvBetterSqlite({ uri: `sqlite://${sqliteFile}` }), namespace: freshNamespace() }),
      ),
  },
  {
    name: "Redis Cluster, hand-built Keyv over createCluster (as @keyv/redis documents)",
    skip: clusterSkipReason,
    create: () =>
      new KeyvSaver(
        new Keyv({
          // the cast: @keyv/redis 5 types its client union without the cluster type it accepts at run time
          store: new KeyvRedis(createCluster({ rootNodes: clusterNodes(CLUSTER_URL) }) as never),
          namespace: freshNamespace(),
          useKeyPrefix: false,
        }),
      ),
  },
];

for (const variant of variants) {
  if (variant.skip) {
    describe.skip(`KeyvSaver on ${variant.name}: ${variant.skip}`, () => {
      it("is skipped", () => {});
    });
    continue;
  }
  const initializer = {
    checkpointerName: `KeyvSaver(${variant.name})`,
    createCheckpointer: variant.create,
    destroyCheckpointer: async (saver: KeyvSaver) => {
      await saver.keyv.clear().catch(() => undefined);
      await saver.close();
    },
  };
  validate(initializer);
  deltaChannelHistoryTests(initializer);
}
