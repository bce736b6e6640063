import { inject } from "vitest";
import { parseClusterUrl } from "../../packages/keyv-saver/src/from-url.js";
import { REQUIRE_SERVICES, reachable } from "./backends.js";

/**
 * The Redis Cluster the cluster suites use: `REDIS_CLUSTER_URL`, else the one `pnpm test` started on free ports
 * (test/global-setup.ts), else `.ci/start-redis-cluster`'s on 7000-7002.
 */
export const CLUSTER_URL =
  process.env.REDIS_CLUSTER_URL ||
  inject("redisClusterUrl") ||
  "redis+cluster://127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002";

/** The cluster's root nodes as `createCluster` takes them. */
export const clusterNodes = (url: string) => parseClusterUrl(url).rootNodes;

/** Why the cluster suites are skipped, or undefined when the cluster answers (throws under REQUIRE_SERVICES). */
export async function clusterSkip(): Promise<string | undefined> {
  const first = clusterNodes(CLUSTER_URL)[0]!.url;
  if (await reachable(first, Number(new URL(first).port) || 7000)) return undefined;
  const reason = `Redis Cluster not reachable at ${first} (set REDIS_CLUSTER_URL, install redis-server so pnpm test starts one, or run .ci/start-redis-cluster)`;
  if (REQUIRE_SERVICES) throw new Error(`GRAPHKEEP_REQUIRE_SERVICES=1 but ${reason}`);
  console.warn(`skipping Redis Cluster suites: ${reason}`);
  return reason;
}
