import { describe, expect, it } from "vitest";
import { findSecretsInDiff } from "../../src/runner/attempt/scan-commit.ts";
import { createSecrets, secretsFromEnvironment } from "../../src/security/secrets.ts";

const KEY = `-----BEGIN RSA PRIVATE KEY-----
MIIEowIBAAKCAQEA1x9Qm8m7oQk3cJ7mZpQn4t0bHq2m3Jf1YvXl9w2cVv6kK7sE
q8dE3z1wS4cY2oNfGm0dQk9hR7eUu1tP4bXk2v8aL5jC3nW6yZ0pB9iM1oT7rQ4s
-----END RSA PRIVATE KEY-----`;

describe("the secrets devflow protects", () => {
  const secrets = createSecrets([
    { name: "the GitHub App's private key", value: KEY },
    { name: "the webhook secret", value: "whsec_0123456789abcdef" },
  ]);

  it("finds a value whole, base64-encoded, or a piece of a long one, and names it", () => {
    expect(secrets.find("secret=whsec_0123456789abcdef")).toEqual([
      { name: "the webhook secret", line: 1, excerpt: "secret=[redacted the webhook secret]" },
    ]);
    const encoded = Buffer.from("whsec_0123456789abcdef").toString("base64");
    expect(secrets.find(`x\ny ${encoded}`)[0]).toMatchObject({
      name: "the webhook secret",
      line: 2,
    });
    // Half a line of the key's body is enough.
    expect(secrets.find("leak: q8dE3z1wS4cY2oNfGm0dQk9hR7eUu1tP4bXk2v8aL5jC")[0]?.name).toBe(
      "the GitHub App's private key",
    );
    // GitHub token shapes, whichever process minted them.
    expect(secrets.find(`token ghs_${"a".repeat(36)}`)[0]?.name).toBe("a GitHub token");
    expect(secrets.find("nothing to see here")).toEqual([]);
  });

  it("redacts a whole PEM key as an environment dump shows it (escaped newlines), its short last line included", () => {
    // A body whose length is no multiple of the piece size, ending in a short line.
    const key = `-----BEGIN RSA PRIVATE KEY-----\n${"MIIEowIBAAKCAQEA1x9Qm8m7oQk3cJ7mZpQn4t0bHq2m3Jf1YvXl9w2cVv6kK7sE\n".repeat(3)}q8dE3z1wS4cY2oNfGm0d==\n-----END RSA PRIVATE KEY-----`;
    const own = createSecrets([{ name: "the GitHub App's private key", value: key }]);
    // As a .env file gives it (PRIVATE_KEY with \n for its newlines), not as devflow reads it.
    const environ = `HOME=/root\0PRIVATE_KEY=${key.replaceAll("\n", "\\n")}\0PATH=/usr/bin`;
    const redacted = own.redact(environ);
    expect(redacted).not.toContain("q8dE3z1wS4cY2oNfGm0d");
    expect(redacted).not.toMatch(/MIIEow|Vv6kK7sE/);
  });

  it("redacts every occurrence and learns new values (installation tokens) as they come", () => {
    const token = "ghs_NEWTOKENnewtokenNEWTOKENnewtoken1234";
    secrets.add("an installation token", token);
    expect(secrets.redact(`a ${token} b whsec_0123456789abcdef`)).toBe(
      "a [redacted an installation token] b [redacted the webhook secret]",
    );
    // Short values would match ordinary text: they are not protected by scanning.
    secrets.add("a short one", "devflow");
    expect(secrets.find("devflow[bot]")).toEqual([]);
  });

  it("places a secret in a staged diff by file and line of the new version", () => {
    const diff = [
      "diff --git a/src/config.ts b/src/config.ts",
      "--- a/src/config.ts",
      "+++ b/src/config.ts",
      "@@ -10,2 +10,3 @@ export const a = 1;",
      " const b = 2;",
      "-const c = 3;",
      "+const c = 4;",
      '+const hook = "whsec_0123456789abcdef";',
    ].join("\n");
    expect(findSecretsInDiff(secrets, diff)).toEqual([
      expect.objectContaining({ name: "the webhook secret", file: "src/config.ts", line: 12 }),
    ]);
  });

  it("knows devflow's own from its environment: app key, webhook secret, database password, model keys", () => {
    const found = secretsFromEnvironment(
      {
        WEBHOOK_SECRET: "w",
        DATABASE_URL: "postgres://devflow:p%40ssword-long-enough@db:5432/devflow",
        ANTHROPIC_API_KEY: "sk-ant-x",
      },
      ["ANTHROPIC_API_KEY", "OPENAI_API_KEY"],
      KEY,
    );
    expect(found.map((secret) => [secret.name, secret.value])).toEqual([
      ["the GitHub App's private key", KEY],
      ["the webhook secret", "w"],
      ["the database password", "p@ssword-long-enough"],
      ["ANTHROPIC_API_KEY", "sk-ant-x"],
    ]);
  });
});
