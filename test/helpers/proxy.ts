import { connect, createServer, type Server, type Socket } from "node:net";

/**
 * A TCP proxy in front of a real server, so a test can make the backend "go away" (stop: close every
 * connection and refuse new ones) and come back on the same port, without touching the shared server.
 */
export class TcpProxy {
  #server: Server | undefined;
  #sockets = new Set<Socket>();
  port = 0;
  /** Milliseconds every server answer is held back (a slow store that still answers). */
  delayMs = 0;
  /** Milliseconds a request (one chunk from the client) is held back before the server sees it. */
  holdRequest: (chunk: Buffer) => number = () => 0;

  constructor(
    readonly targetHost: string,
    readonly targetPort: number,
  ) {}

  async start(): Promise<number> {
    const server = createServer((client) => {
      const upstream = connect({ host: this.targetHost, port: this.targetPort });
      this.#sockets.add(client);
      this.#sockets.add(upstream);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        this.#sockets.delete(client);
        this.#sockets.delete(upstream);
      };
      client.on("error", drop);
      upstream.on("error", drop);
      client.on("close", drop);
      upstream.on("close", drop);
      // requests a test holds back reach the server late, in order (a write that times out, then lands)
      let requests = Promise.resolve();
      client.on("data", (chunk: Buffer) => {
        const hold = this.holdRequest(chunk);
        requests = requests
          .then(() => (hold > 0 ? new Promise<void>((r) => setTimeout(r, hold)) : undefined))
          .then(() => {
            if (upstream.writable) upstream.write(chunk);
          });
      });
      // answers keep their order whatever the delay (a reordered reply would corrupt the protocol stream)
      let queue = Promise.resolve();
      upstream.on("data", (chunk: Buffer) => {
        const delay = this.delayMs;
        queue = queue
          .then(() => (delay > 0 ? new Promise<void>((r) => setTimeout(r, delay)) : undefined))
          .then(() => {
            if (client.writable) client.write(chunk);
          });
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.port, "127.0.0.1", () => resolve());
    });
    const addr = server.address();
    if (addr && typeof addr === "object") this.port = addr.port;
    this.#server = server;
    return this.port;
  }

  /** Closes every open connection and stops accepting new ones. */
  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Rewrites a connection URL so it goes through this proxy. */
  url(original: string): string {
    const u = new URL(original);
    u.hostname = "127.0.0.1";
    u.port = String(this.port);
    return u.toString();
  }
}
