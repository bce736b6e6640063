import { randomBytes } from "node:crypto";
import { redactUrl, UnsupportedUrlError } from "@graphkeep/core";
import { encrypted, InvalidKeyError } from "@graphkeep/serde";
import { JsonPlusSerializer } from "@langchain/langgraph-checkpoint";
import { describe, expect, it } from "vitest";

const json = () => new JsonPlusSerializer();

function thrown(f: () => unknown): InvalidKeyError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidKeyError);
    return e as InvalidKeyError;
  }
  throw new Error("expected an InvalidKeyError");
}

describe("a key without entropy", () => {
  const weak: Record<string, Uint8Array | string> = {
    "32 zero bytes": new Uint8Array(32),
    "the base64 of 32 zero bytes": Buffer.alloc(32).toString("base64"),
    "one byte value repeated": Buffer.alloc(32, 0xa7),
    '"a" repeated as bytes': Buffer.from("a".repeat(32)),
    '"a" repeated as base64 text': "a".repeat(43),
    "a counter 0..31": Uint8Array.from({ length: 32 }, (_, i) => i & 7),
    "a 32-character password": Buffer.from("correct-horse-battery-staple-99!"),
  };

  it.each(Object.entries(weak))("is refused with InvalidKeyError: %s", (_what, key) => {
    const err = thrown(() => encrypted(json(), { keys: { k: key }, activeKeyId: "k" }));
    expect(err.code).toBe("INVALID_KEY");
    expect(err.keyId).toBe("k");
    expect(err.message).toMatch(/not random/);
    expect(err.message).toContain("openssl rand -base64 32");
  });

  it("does not refuse random keys (10,000 of them)", () => {
    for (let i = 0; i < 10_000; i++) encrypted(json(), { keys: { k: randomBytes(32) }, activeKeyId: "k" });
  });
});

describe("error messages about a keyring", () => {
  const secret = randomBytes(32).toString("base64");
  const secretHex = randomBytes(32).toString("hex");

  it("never echo a key given as activeKeyId", () => {
    const err = thrown(() => encrypted(json(), { keys: { k1: randomBytes(32) }, activeKeyId: secret }));
    expect(err.message).not.toContain(secret.slice(0, 8));
    expect(err.keyId).toBeUndefined();
    expect(err.message).toMatch(/not shown/);
    expect(err.message).toContain('"k1"');
  });

  it("never echo a key used as a key id (ids and keys swapped)", () => {
    for (const id of [secret, secret.replace(/=+$/, ""), secretHex]) {
      const err = thrown(() => encrypted(json(), { keys: { [id]: "2026-11" }, activeKeyId: "2026-11" }));
      expect(err.message).not.toContain(id.slice(0, 8));
      expect(err.keyId).toBeUndefined();
    }
  });

  it("never echo part of a secret taken for an id (a key of another format split at a colon)", () => {
    const part = randomBytes(24).toString("base64url");
    const err = thrown(() => encrypted(json(), { keys: { [part]: "not base64!" }, activeKeyId: part }));
    expect(err.message).not.toContain(part.slice(0, 8));
    expect(err.keyId).toBeUndefined();
  });

  it("never echo a string key that is not base64", () => {
    const err = thrown(() => encrypted(json(), { keys: { k: `${secret}!` }, activeKeyId: "k" }));
    expect(err.message).not.toContain(secret.slice(0, 8));
  });

  it("still name ordinary key ids", () => {
    const err = thrown(() => encrypted(json(), { keys: { "2026-11": randomBytes(16) }, activeKeyId: "2026-11" }));
    expect(err.message).toContain('"2026-11"');
    expect(err.keyId).toBe("2026-11");
  });
});

describe("redactUrl", () => {
  const cases: Array<[string, string, string]> = [
    ["redis://:pw@h", "redis://:***@h", "pw"],
    ["postgres://u:p/ss@h/db", "postgres://u:***@h/db", "p/ss"],
    ["redis://u:p@ss@h:6379/0", "redis://u:***@h:6379/0", "p@ss"],
    ["u:p@ss@h", "u:***@h", "p@ss"],
    ["postgres://u:p?ss@h/db", "postgres://u:***@h/db", "p?ss"],
    ["postgres://u:p#ss@h/db", "postgres://u:***@h/db", "p#ss"],
    ["redis+cluster://:s3cr3t@a:7000,b:7001", "redis+cluster://:***@a:7000,b:7001", "s3cr3t"],
    [
      "postgres://u@h/db?sslmode=require&password=s3cr3t&sslpassword=x",
      "postgres://u@h/db?sslmode=require&password=***&sslpassword=***",
      "s3cr3t",
    ],
    ["mysql://root:s3cr3t@127.0.0.1:3306/test", "mysql://root:***@127.0.0.1:3306/test", "s3cr3t"],
  ];

  it.each(cases)("hides the password of %s", (url, expected, password) => {
    expect(redactUrl(url)).toBe(expected);
    expect(redactUrl(url)).not.toContain(password);
  });

  it("leaves URLs without secrets as they are", () => {
    for (const url of ["redis://127.0.0.1:6379", "mysql://root@127.0.0.1:3306/test", "sqlite:///tmp/a.db", "memory:"]) {
      expect(redactUrl(url)).toBe(url);
    }
  });

  it("keeps passwords out of UNSUPPORTED_URL messages", () => {
    for (const [url, , password] of cases) {
      const err = new UnsupportedUrlError(url.replace(/^[a-z+]+:/, "nosuch:"));
      expect(err.code).toBe("UNSUPPORTED_URL");
      expect(err.message, url).not.toContain(password);
    }
  });
});
