import { connect } from "node:net";

/**
 * Resolves true when a TCP connection to the URL's host:port opens within 1 s (is a server there?). One probe for
 * the examples, the tests (test/helpers/backends.ts) and the benchmarks (bench/lib/storage.ts).
 * @throws {TypeError} when `url` is not a URL
 */
export function reachable(url: string, defaultPort: number): Promise<boolean> {
  const u = new URL(url);
  const port = Number(u.port || defaultPort);
  const host = u.hostname.replace(/^\[|\]$/g, "") || "127.0.0.1";
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(1000, () => done(false));
    s.once("connect", () => done(true));
    s.once("error", () => done(false));
  });
}
