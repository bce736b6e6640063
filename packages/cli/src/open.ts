import { readFileSync } from "node:fs";
import { InvalidArgumentError } from "@graphkeep/core";
import { KeyvSaver } from "@graphkeep/keyv-saver";
import { compressed, encrypted } from "@graphkeep/serde";
import { JsonPlusSerializer, type SerializerProtocol } from "@langchain/langgraph-checkpoint";
import { UsageError } from "./errors.js";

/** Global options every command takes. */
export interface StoreOptions {
  store?: string | undefined;
  namespace?: string | undefined;
  table?: string | undefined;
  keyEnv?: string | undefined;
  keyFile?: string | undefined;
  timeout?: string | undefined;
  /**
   * Accept values stored unencrypted in an encrypted store (`encrypted()` with `strict: false`): for reading a
   * store written before encryption was turned on. Off by default: a forged plaintext value is an error.
   * @default false
   */
  allowPlaintext?: boolean | undefined;
}

interface Keyring {
  keys: Record<string, string>;
  activeKeyId: string;
}

/**
 * Key material, never from argv: a JSON keyring `{ "keys": { "<id>": "<base64>" }, "activeKeyId": "<id>" }`, or
 * `<id>:<base64>`, or a bare base64 key (id "default").
 */
export function parseKeyring(text: string, where: string): Keyring {
  const t = text.trim();
  if (t.startsWith("{")) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(t);
    } catch {
      throw new InvalidArgumentError(`${where}: not valid JSON`);
    }
    const k = parsed as Partial<Keyring>;
    if (typeof k.keys !== "object" || k.keys === null || typeof k.activeKeyId !== "string") {
      throw new InvalidArgumentError(`${where}: expected { "keys": { "<id>": "<base64>" }, "activeKeyId": "<id>" }`);
    }
    return { keys: k.keys, activeKeyId: k.activeKeyId };
  }
  const colon = t.indexOf(":");
  if (colon > 0) return { keys: { [t.slice(0, colon)]: t.slice(colon + 1) }, activeKeyId: t.slice(0, colon) };
  return { keys: { default: t }, activeKeyId: "default" };
}

/**
 * The serde that reads what graphkeep writes: compressed values (self-describing), optionally encrypted. With a key
 * it is strict: a value stored unencrypted is a `CheckpointIntegrityError` (reason `not-encrypted`) unless
 * `allowPlaintext` is set.
 */
export function serdeFor(options: StoreOptions, env: NodeJS.ProcessEnv = process.env): SerializerProtocol {
  // reads values any graphkeep serde compressed, writes them uncompressed (a fork must be readable by an app whose
  // saver has no compressed() layer)
  const base = compressed(new JsonPlusSerializer(), { minBytes: Number.MAX_SAFE_INTEGER });
  let keyring: Keyring | undefined;
  if (options.keyEnv !== undefined) {
    const value = env[options.keyEnv];
    if (value === undefined || value === "")
      throw new UsageError(`--key-env: environment variable ${options.keyEnv} is not set`);
    keyring = parseKeyring(value, `environment variable ${options.keyEnv}`);
  } else if (options.keyFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(options.keyFile, "utf8");
    } catch (e) {
      throw new UsageError(`--key-file: cannot read ${options.keyFile} (${(e as Error).message})`);
    }
    keyring = parseKeyring(text, `key file ${options.keyFile}`);
  }
  // strict: anyone who can write the store could otherwise plant plaintext the CLI shows (and fork re-encrypts)
  return keyring === undefined ? base : encrypted(base, { ...keyring, strict: options.allowPlaintext !== true });
}

/**
 * Opens the store named by `--store` or `GRAPHKEEP_STORE` with `KeyvSaver.fromUrl` as it is given (which creates a
 * missing SQLite file or table). The commands use {@link openSource} instead, which never creates or changes a store
 * it only reads, finds hand-built namespaces and reads official savers' stores.
 *
 * @throws {UsageError} when no store is given or `--timeout` is not a positive number.
 * @example
 * const saver = await openSaver({ store: "sqlite://./checkpoints.db", keyEnv: "CHECKPOINT_KEY" });
 */
export async function openSaver(options: StoreOptions, env: NodeJS.ProcessEnv = process.env): Promise<KeyvSaver> {
  const url = options.store ?? env.GRAPHKEEP_STORE;
  if (url === undefined || url === "") {
    throw new UsageError(
      "no store: pass --store <url> or set GRAPHKEEP_STORE (sqlite://./checkpoints.db, redis://…, postgres://…, mysql://…)",
    );
  }
  const timeout = options.timeout === undefined ? 5000 : Number(options.timeout);
  if (!Number.isFinite(timeout) || timeout <= 0) throw new UsageError("--timeout must be a positive number of ms");
  return KeyvSaver.fromUrl(url, {
    serde: serdeFor(options, env),
    operationTimeout: timeout,
    ...(options.namespace === undefined ? {} : { namespace: options.namespace }),
    ...(options.table === undefined ? {} : { table: options.table }),
  });
}
