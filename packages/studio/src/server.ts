import { randomBytes, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { NotFoundError, openSource, type Source } from "@graphkeep/cli";
import { GraphkeepError, InvalidArgumentError, isGraphkeepError } from "@graphkeep/core";
import { serve } from "@hono/node-server";
import { type Context, Hono } from "hono";
import { checkCheckpointId, checkThreadId, StudioData, type ThreadSort } from "./data.js";
import { StudioAccessError } from "./errors.js";
import { page, STYLE } from "./page.js";
import type { Studio, StudioErrorBody, StudioOptions } from "./types.js";

const DEFAULTS = { host: "127.0.0.1", port: 4317, readOnly: false, maxBodyBytes: 256 * 1024 };
const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"]);
const TOKEN_HEADER = "x-graphkeep-token";

const HINTS: Record<string, string> = {
  MISSING_KEY: "the store is encrypted: start the studio with --key-env VAR or --key-file PATH",
  INVALID_KEY: "the key does not match the one the store was written with",
  CHECKPOINT_INTEGRITY: "a value failed its integrity check: wrong key, or the store was modified",
  CHECKPOINT_CORRUPT:
    "a stored value could not be read: if the store is encrypted, give its key (--key-env/--key-file)",
  STORE_UNAVAILABLE: "is the server running and the URL right? (--timeout raises the wait)",
  UNSUPPORTED_URL: "use sqlite://<file>, redis://…, postgres://…, mysql://…",
  STORE_NOT_FOUND: "check the --store path or URL (the studio never creates a store), or --table/--namespace",
  ADAPTER_NOT_INSTALLED: "install the package named above next to @graphkeep/studio",
};

/** The error as the API answers it: code, message, hint; never a stack. */
export function errorBody(e: unknown): StudioErrorBody {
  const code = isGraphkeepError(e) ? e.code : ((e as { code?: unknown })?.code as string | undefined);
  const message = e instanceof Error ? e.message : String(e);
  const c = typeof code === "string" ? code : "ERROR";
  return { code: c, message, ...(HINTS[c] ? { hint: HINTS[c] } : {}) };
}

function statusOfError(e: unknown): 400 | 403 | 404 | 409 | 413 | 500 | 503 {
  if (e instanceof StudioAccessError) return 403;
  if (e instanceof NotFoundError) return 404;
  if (!(e instanceof GraphkeepError)) return 500;
  switch (e.code) {
    case "INVALID_ARGUMENT":
    case "INVALID_CONFIG":
    case "FOREIGN_STORE":
      return 400;
    case "THREAD_EXISTS":
      return 409;
    case "STORE_UNAVAILABLE":
      return 503;
    default:
      return 500;
  }
}

/** Where the built page script is: beside this module in dist, or in the package's dist when run from sources. */
function readAsset(name: string): string | undefined {
  for (const rel of [`./ui/${name}`, `../dist/ui/${name}`]) {
    try {
      return readFileSync(new URL(rel, import.meta.url), "utf8");
    } catch {}
  }
  return undefined;
}

const same = (a: string, b: string) => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

/** A request body read up to `max` bytes; more is a 413, whatever Content-Length says. */
async function readBody(req: Request, max: number): Promise<string> {
  const declared = Number(req.headers.get("content-length") ?? "0");
  if (declared > max) throw new PayloadTooLarge(max);
  if (req.body === null) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = req.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => undefined);
      throw new PayloadTooLarge(max);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString("utf8");
}

class PayloadTooLarge extends InvalidArgumentError {
  constructor(max: number) {
    super(`request body larger than ${max} bytes (--max-body raises it)`);
    this.name = "PayloadTooLarge";
  }
}

/** A JSON object body, or a 400 naming the shape expected. */
function parseJson(text: string, shape: string): Record<string, unknown> {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new InvalidArgumentError(`the body must be JSON: ${shape}`);
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new InvalidArgumentError(`the body must be a JSON object: ${shape}`);
  }
  return body as Record<string, unknown>;
}

/** The store could not be opened: every data request answers the reason. */
class StoreNotOpen extends Error {
  constructor(readonly body: StudioErrorBody) {
    super(body.message);
  }
}

/** The studio's routes over an opened store (or the error that kept it from opening). */
export function createApp(o: {
  data: StudioData | undefined;
  error: StudioErrorBody | undefined;
  readOnly: boolean;
  token: string;
  /** host names (with port) the studio answers to; anything else is refused (DNS rebinding) */
  hosts: () => Set<string>;
  /** every request needs the token (a non-loopback host) */
  tokenForAll: boolean;
  maxBodyBytes: number;
}): Hono {
  const app = new Hono();
  const tokenOf = (c: Context) => c.req.header(TOKEN_HEADER) ?? c.req.query("token") ?? "";
  app.onError((e, c) => {
    if (e instanceof StoreNotOpen) return c.json({ error: e.body }, 503);
    const status = e instanceof PayloadTooLarge ? 413 : statusOfError(e);
    return c.json({ error: errorBody(e) }, status);
  });
  app.use("*", async (c, next) => {
    const host = c.req.header("host") ?? "";
    // a loopback studio answers only to its own names (DNS rebinding); beyond loopback the token guards everything
    if (!o.tokenForAll && !o.hosts().has(host.toLowerCase()))
      throw new StudioAccessError(`the studio does not answer to host "${host}"`);
    if (o.tokenForAll && !c.req.path.startsWith("/assets/") && !same(tokenOf(c), o.token)) {
      throw new StudioAccessError("this studio listens beyond loopback: open the URL it printed (with ?token=)");
    }
    await next();
    c.header(
      "Content-Security-Policy",
      "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    );
    c.header("X-Content-Type-Options", "nosniff");
    c.header("Referrer-Policy", "no-referrer");
    c.header("Cache-Control", "no-store");
  });
  /** Changes: the token, from the page's own origin, and not in read-only mode. */
  const change = (c: Context) => {
    if (o.readOnly) throw new StudioAccessError("the studio runs read-only (--read-only): no changes");
    if (!same(c.req.header(TOKEN_HEADER) ?? "", o.token))
      throw new StudioAccessError("a change needs the studio's token");
    const origin = c.req.header("origin");
    const site = c.req.header("sec-fetch-site");
    if (origin !== `http://${c.req.header("host")}` || (site !== undefined && site !== "same-origin")) {
      throw new StudioAccessError("a change must come from the studio's own page (same origin)");
    }
  };
  const data = () => {
    if (o.data === undefined) throw new StoreNotOpen(o.error ?? { code: "STORE_UNAVAILABLE", message: "no store" });
    return o.data;
  };
  const int = (c: Context, name: string, fallback: number, max: number) => {
    const v = c.req.query(name);
    if (v === undefined || v === "") return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0 || n > max)
      throw new InvalidArgumentError(`${name} must be an integer from 0 to ${max}`);
    return n;
  };

  app.get("/", (c) => c.html(page({ token: o.token, readOnly: o.readOnly, error: o.error })));
  app.get("/assets/app.js", (c) => {
    const js = readAsset("app.iife.js");
    if (js === undefined)
      return c.text("the page script is not built: run `pnpm --filter @graphkeep/studio build`", 500);
    return c.body(js, 200, { "content-type": "text/javascript; charset=utf-8" });
  });
  app.get("/assets/app.css", (c) => c.body(STYLE, 200, { "content-type": "text/css; charset=utf-8" }));

  app.get("/api/info", (c) =>
    c.json({
      readOnly: o.readOnly,
      error: o.error,
      kind: o.data?.source.kind,
      canFork: !o.readOnly && o.data?.source.saver !== undefined,
    }),
  );
  app.get("/api/threads", async (c) => {
    const sort = (c.req.query("sort") ?? "updated") as ThreadSort;
    if (!["updated", "-updated", "id", "-id"].includes(sort)) {
      throw new InvalidArgumentError("sort must be updated, -updated, id or -id");
    }
    const q = c.req.query("q") ?? "";
    if (q.length > 256) throw new InvalidArgumentError("q must be at most 256 characters");
    return c.json(
      await data().threads({ offset: int(c, "offset", 0, 1e9), limit: int(c, "limit", 50, 500) || 50, q, sort }),
    );
  });
  app.get("/api/threads/:thread/history", async (c) => {
    const thread = checkThreadId(c.req.param("thread"));
    return c.json(
      await data().history(thread, { offset: int(c, "offset", 0, 1e9), limit: int(c, "limit", 100, 1000) || 100 }),
    );
  });
  app.get("/api/threads/:thread/cost", async (c) => c.json(await data().cost(checkThreadId(c.req.param("thread")))));
  app.get("/api/threads/:thread/checkpoints/:checkpoint", async (c) => {
    const thread = checkThreadId(c.req.param("thread"));
    return c.json(await data().checkpoint(thread, checkCheckpointId(c.req.param("checkpoint"))));
  });
  app.post("/api/threads/:thread/fork", async (c) => {
    change(c);
    const thread = checkThreadId(c.req.param("thread"));
    const body = parseJson(await readBody(c.req.raw, o.maxBodyBytes), "{ at, to, values? }");
    const b = body as { at?: unknown; to?: unknown; values?: unknown };
    if (typeof b.at !== "string") throw new InvalidArgumentError("at must be a checkpoint id");
    if (typeof b.to !== "string") throw new InvalidArgumentError("to must be the new thread's id");
    if (b.values !== undefined && (typeof b.values !== "object" || b.values === null || Array.isArray(b.values))) {
      throw new InvalidArgumentError("values must be an object of channel → new value");
    }
    const result = await data().fork(thread, {
      at: checkCheckpointId(b.at),
      to: checkThreadId(b.to, "to"),
      values: b.values as Record<string, unknown> | undefined,
    });
    return c.json(result, 201);
  });
  app.post("/api/retention", async (c) => {
    change(c);
    const body = parseJson(
      await readBody(c.req.raw, o.maxBodyBytes),
      "{ keepLatest?, maxAge?, keepFinal?, threads?, dryRun }",
    );
    const b = body as {
      keepLatest?: unknown;
      maxAge?: unknown;
      keepFinal?: unknown;
      threads?: unknown;
      dryRun?: unknown;
    };
    if (b.keepLatest !== undefined && (!Number.isInteger(b.keepLatest) || (b.keepLatest as number) < 0)) {
      throw new InvalidArgumentError("keepLatest must be a non-negative integer");
    }
    if (b.maxAge !== undefined && (typeof b.maxAge !== "string" || b.maxAge.length > 32)) {
      throw new InvalidArgumentError('maxAge must be a duration such as "7d", "12h" or "30m"');
    }
    if (b.threads !== undefined && (!Array.isArray(b.threads) || b.threads.length > 1000)) {
      throw new InvalidArgumentError("threads must be a list of at most 1,000 thread ids");
    }
    if (typeof b.dryRun !== "boolean")
      throw new InvalidArgumentError("dryRun must be true (preview) or false (delete)");
    const threadIds = (b.threads as unknown[] | undefined)?.map((t) => checkThreadId(String(t)));
    return c.json(
      await data().retention({
        keepLatest: b.keepLatest as number | undefined,
        maxAge: b.maxAge as string | undefined,
        keepFinal: b.keepFinal === true,
        threadIds,
        dryRun: b.dryRun,
      }),
    );
  });
  app.notFound((c) => c.json({ error: { code: "NOT_FOUND", message: `no route ${c.req.method} ${c.req.path}` } }, 404));
  return app;
}

/**
 * Opens a store as the CLI does (read-only with `readOnly`) and serves the studio on it. A store that cannot be
 * opened (bad URL, missing key, server down) still starts the server: the page explains what is wrong.
 *
 * @throws {InvalidArgumentError} when `port` or `maxBodyBytes` is not valid
 * @example
 * const studio = await startStudio({ store: "sqlite://./checkpoints.db", port: 0 });
 * console.log(studio.url);
 * await studio.close();
 */
export async function startStudio(options: StudioOptions = {}): Promise<Studio> {
  const o = {
    ...DEFAULTS,
    ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)),
  } as typeof DEFAULTS & StudioOptions;
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) {
    throw new InvalidArgumentError(`port must be an integer from 0 to 65535, got ${String(o.port)}`);
  }
  if (!Number.isInteger(o.maxBodyBytes) || o.maxBodyBytes <= 0)
    throw new InvalidArgumentError("maxBodyBytes must be a positive integer");
  const env = o.env ?? process.env;
  const token = o.token ?? randomBytes(24).toString("base64url");
  let source: Source | undefined;
  let error: StudioErrorBody | undefined;
  try {
    source = await openSource(o, env, { write: !o.readOnly, notice: () => undefined });
  } catch (e) {
    if (!o.readOnly && isGraphkeepError(e) && e.code === "FOREIGN_STORE") {
      // an official saver's store: shown, never changed
      source = await openSource(o, env, { write: false, notice: () => undefined }).catch((e2) => {
        error = errorBody(e2);
        return undefined;
      });
    } else error = errorBody(e);
  }
  // an encrypted store without its key opens fine; its first read tells
  if (source !== undefined && error === undefined) {
    try {
      const first = source.threads()[Symbol.asyncIterator]();
      const t = await first.next();
      await first.return?.();
      if (!t.done) await source.reader.getTuple({ configurable: { thread_id: t.value.threadId, checkpoint_ns: "" } });
    } catch (e) {
      error = errorBody(e);
    }
  }
  const loopback = LOOPBACK.has(o.host);
  let port = o.port;
  const hosts = () =>
    new Set(
      (loopback ? ["127.0.0.1", "localhost", "[::1]"] : [o.host.includes(":") ? `[${o.host}]` : o.host]).map(
        (h) => `${h}:${port}`,
      ),
    );
  const keyed = o.keyEnv !== undefined || o.keyFile !== undefined;
  const data =
    error === undefined && source !== undefined
      ? new StudioData(source, { plainWrites: !o.readOnly && !keyed })
      : undefined;
  const app = createApp({
    data,
    error,
    readOnly: o.readOnly,
    token,
    hosts,
    tokenForAll: !loopback,
    maxBodyBytes: o.maxBodyBytes,
  });
  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: o.host, port: o.port }, () => resolve(s));
    s.once("error", reject);
  });
  port = (server.address() as AddressInfo).port;
  const shown = o.host.includes(":") ? `[${o.host}]` : o.host;
  const url = `http://${shown}:${port}/${loopback ? "" : `?token=${token}`}`;
  let closed = false;
  return {
    url,
    token,
    error,
    async close() {
      if (closed) return;
      closed = true;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
      });
      await source?.close().catch(() => undefined);
    },
  };
}
