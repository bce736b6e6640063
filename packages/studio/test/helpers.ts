import { request } from "node:http";
import { reachable } from "../../../examples/lib/reachable.js";

export const POSTGRES_URL = process.env.POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const REQUIRE_SERVICES = process.env.GRAPHKEEP_REQUIRE_SERVICES === "1";

/** undefined when PostgreSQL answers; else why its suites are skipped (an error under GRAPHKEEP_REQUIRE_SERVICES=1). */
export async function postgresSkip(): Promise<string | undefined> {
  if (await reachable(POSTGRES_URL, 5432)) return undefined;
  const reason = `PostgreSQL not reachable at ${POSTGRES_URL} (set POSTGRES_URL or start the server; see DEVELOPERS.md)`;
  if (REQUIRE_SERVICES) throw new Error(`GRAPHKEEP_REQUIRE_SERVICES=1 but ${reason}`);
  console.warn(`skipping studio PostgreSQL suites: ${reason}`);
  return reason;
}

/** A fetch against a studio, with the headers the page sends for a change (token, same origin). */
export function client(url: string, token: string) {
  const origin = new URL(url).origin;
  return {
    get: (path: string, headers: Record<string, string> = {}) => fetch(new URL(path, origin), { headers }),
    post: (path: string, body: string, headers: Record<string, string> = {}) =>
      fetch(new URL(path, origin), {
        method: "POST",
        body,
        headers: { "content-type": "application/json", "x-graphkeep-token": token, origin, ...headers },
      }),
  };
}

/** A GET with headers fetch() will not send as given (a forged Host). */
export function rawGet(
  url: string,
  path: string,
  headers: Record<string, string>,
): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, headers }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c) => {
        body += c;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}
