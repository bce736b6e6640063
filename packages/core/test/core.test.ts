import {
  AdapterNotInstalledError,
  CheckpointCorruptError,
  CheckpointIntegrityError,
  encodeBinding,
  GraphkeepError,
  InvalidArgumentError,
  InvalidConfigError,
  InvalidKeyError,
  isBindingAware,
  isCheckpointCorruptError,
  isCheckpointIntegrityError,
  isGraphkeepError,
  isInvalidKeyError,
  isMissingKeyError,
  isStoreUnavailableError,
  MissingKeyError,
  redactUrl,
  StoreUnavailableError,
  ThreadExistsError,
  UnsupportedUrlError,
  withTimeout,
} from "@graphkeep/core";
import { describe, expect, it } from "vitest";

describe("errors", () => {
  const cases: Array<[GraphkeepError, string, string]> = [
    [new InvalidConfigError("x"), "INVALID_CONFIG", "InvalidConfigError"],
    [new InvalidArgumentError("x"), "INVALID_ARGUMENT", "InvalidArgumentError"],
    [new StoreUnavailableError("get", "x"), "STORE_UNAVAILABLE", "StoreUnavailableError"],
    [new CheckpointCorruptError({ threadId: "t", key: "k" }, "x"), "CHECKPOINT_CORRUPT", "CheckpointCorruptError"],
    [new ThreadExistsError("t"), "THREAD_EXISTS", "ThreadExistsError"],
    [new UnsupportedUrlError("ftp://h"), "UNSUPPORTED_URL", "UnsupportedUrlError"],
    [
      new AdapterNotInstalledError("@keyv/redis", new Error("nope")),
      "ADAPTER_NOT_INSTALLED",
      "AdapterNotInstalledError",
    ],
    [new CheckpointIntegrityError("authentication", "x"), "CHECKPOINT_INTEGRITY", "CheckpointIntegrityError"],
    [new MissingKeyError("k1", "x"), "MISSING_KEY", "MissingKeyError"],
    [new InvalidKeyError("k1", "x"), "INVALID_KEY", "InvalidKeyError"],
  ];

  it("each error has its code and name, is an Error and a GraphkeepError, and survives a minifier (name set explicitly)", () => {
    for (const [e, code, name] of cases) {
      expect(e).toBeInstanceOf(Error);
      expect(e).toBeInstanceOf(GraphkeepError);
      expect(isGraphkeepError(e)).toBe(true);
      expect(e.code).toBe(code);
      expect(e.name).toBe(name);
    }
  });

  it("guards tell the errors apart, also errors from another copy of the package", async () => {
    // a second instance of the module, as a second installed copy of @graphkeep/core would be
    const copy = "../src/errors.ts?copy=2";
    const other = (await import(copy)) as typeof import("../src/errors.js");
    const foreign = new other.StoreUnavailableError("get", "from another copy");
    expect(foreign).not.toBeInstanceOf(GraphkeepError);
    expect(isGraphkeepError(foreign)).toBe(true);
    expect(isStoreUnavailableError(foreign)).toBe(true);
    expect(isGraphkeepError(Object.assign(new Error("look-alike"), { code: "STORE_UNAVAILABLE" }))).toBe(false);
    expect(isStoreUnavailableError(new InvalidArgumentError("x"))).toBe(false);
    expect(isCheckpointCorruptError(cases[3]![0])).toBe(true);
    expect(isCheckpointIntegrityError(cases[7]![0])).toBe(true);
    expect(isMissingKeyError(cases[8]![0])).toBe(true);
    expect(isInvalidKeyError(cases[9]![0])).toBe(true);
    for (const v of [undefined, null, "STORE_UNAVAILABLE", { code: 42 }]) expect(isGraphkeepError(v)).toBe(false);
  });

  it("keeps the cause it was given", () => {
    const cause = new Error("ECONNREFUSED");
    expect(new StoreUnavailableError("set", "down", { cause }).cause).toBe(cause);
  });

  it("UnsupportedUrlError never shows a password", () => {
    const e = new UnsupportedUrlError("ftp://user:hunter2@host/db");
    expect(e.message).not.toContain("hunter2");
  });
});

describe("redactUrl", () => {
  it("hides passwords and secret query parameters in every shape a connection string takes", () => {
    const shapes: Array<[string, string]> = [
      ["redis://:pw@h:6379", "pw"],
      ["postgres://u:p/ss@h/db", "p/ss"],
      ["mysql://u:p@ss@h/db", "p@ss"],
      ["u:p@ss@h", "p@ss"],
      ["postgres://u@h/db?password=s3cr3t&sslmode=require", "s3cr3t"],
    ];
    for (const [url, secret] of shapes) {
      const out = redactUrl(url);
      expect(out, url).not.toContain(secret);
      expect(out, url).toContain("***");
    }
    expect(redactUrl("postgres://u@h/db?sslmode=require")).toBe("postgres://u@h/db?sslmode=require");
  });
});

describe("encodeBinding", () => {
  it("gives equal bytes for equal bindings and different bytes for any different field", () => {
    const a = { kind: "value", threadId: "t", checkpointNs: "", channel: "c", version: 1 } as const;
    const same = encodeBinding({ ...a });
    expect(Buffer.from(encodeBinding(a)).equals(Buffer.from(same))).toBe(true);
    for (const change of [{ version: "1" }, { threadId: "u" }, { channel: undefined }, { checkpointNs: "sub" }]) {
      expect(Buffer.from(encodeBinding({ ...a, ...change })).equals(Buffer.from(same)), JSON.stringify(change)).toBe(
        false,
      );
    }
  });

  it("refuses malformed bindings with InvalidArgumentError", () => {
    for (const bad of [
      null,
      { kind: "", threadId: "t", checkpointNs: "" },
      { kind: "value", threadId: "", checkpointNs: "" },
    ]) {
      expect(() => encodeBinding(bad as never)).toThrow(InvalidArgumentError);
    }
  });

  it("isBindingAware needs all four methods", () => {
    const plain = { dumpsTyped: async () => ["json", new Uint8Array()], loadsTyped: async () => null };
    expect(isBindingAware(plain)).toBe(false);
    expect(isBindingAware({ ...plain, dumpsTypedBound: () => 0, loadsTypedBound: () => 0 })).toBe(true);
  });
});

describe("withTimeout", () => {
  it("settles as the call does", async () => {
    await expect(
      withTimeout(
        1000,
        async () => 42,
        () => new Error("late"),
      ),
    ).resolves.toBe(42);
    await expect(
      withTimeout(
        1000,
        async () => Promise.reject(new Error("boom")),
        () => new Error("late"),
      ),
    ).rejects.toThrow("boom");
  });

  it("rejects with onTimeout() when the call hangs, and turns a synchronous throw into a rejection", async () => {
    const hang = new Promise<never>(() => undefined);
    await expect(
      withTimeout(
        20,
        () => hang,
        () => new StoreUnavailableError("get", "no answer"),
      ),
    ).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(
      withTimeout(
        1000,
        () => {
          throw new Error("sync");
        },
        () => new Error("late"),
      ),
    ).rejects.toThrow("sync");
  });
});
