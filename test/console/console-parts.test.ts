import { describe, expect, it } from "vitest";
import { cookieHeader } from "../../src/console/cookies.ts";
import { consoleSecretFrom, githubWebUrl } from "../../src/console/create-console.ts";
import { html, jsonScript, raw } from "../../src/console/html.ts";
import { safeNext } from "../../src/console/http-helpers.ts";
import { createCookieSealer } from "../../src/console/sealed-cookie.ts";
import { runPageUrl } from "../../src/github/publish/run-page-url.ts";
import { readSettings } from "../../src/settings.ts";

describe("the console's HTML", () => {
  it("escapes every interpolated value unless it is already HTML", () => {
    const title = `<script>alert("x")</script> & 'quotes' \`ticks\``;
    expect(html`<td title="${title}">${title}</td>`.value).toBe(
      '<td title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quotes&#39; &#96;ticks&#96;">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quotes&#39; &#96;ticks&#96;</td>',
    );
    expect(html`<ul>${["<a>", html`<li>b</li>`, null, false, undefined, 3]}</ul>`.value).toBe(
      "<ul>&lt;a&gt;<li>b</li>3</ul>",
    );
    expect(html`${raw("<b>trusted</b>")}`.value).toBe("<b>trusted</b>");
  });

  it("embeds JSON that cannot close its script element", () => {
    expect(jsonScript({ text: "</script><script>alert(1)</script>&" }).value).toBe(
      '{"text":"\\u003c/script\\u003e\\u003cscript\\u003ealert(1)\\u003c/script\\u003e\\u0026"}',
    );
  });
});

describe("sessions", () => {
  const sealer = createCookieSealer({ secret: "s".repeat(40), purpose: "session" });

  it("opens what it sealed, and nothing altered, foreign or expired", async () => {
    const sealed = sealer.seal({ login: "alice", token: "ghu_secret" }, 60);
    expect(sealer.open(sealed)).toEqual({ login: "alice", token: "ghu_secret" });
    // The token is not readable in the cookie.
    expect(Buffer.from(sealed, "base64url").toString("latin1")).not.toContain("ghu_secret");
    const flipped = `${sealed.slice(0, 20)}${sealed[20] === "A" ? "B" : "A"}${sealed.slice(21)}`;
    expect(sealer.open(flipped)).toBeUndefined();
    expect(
      createCookieSealer({ secret: "t".repeat(40), purpose: "session" }).open(sealed),
    ).toBeUndefined();
    expect(
      createCookieSealer({ secret: "s".repeat(40), purpose: "oauth" }).open(sealed),
    ).toBeUndefined();
    expect(sealer.open(undefined)).toBeUndefined();
    expect(sealer.open("not a cookie")).toBeUndefined();
    const expired = sealer.seal({ login: "alice" }, -1);
    expect(sealer.open(expired)).toBeUndefined();
  });

  it("sets cookies http-only and same-site, secure over https", () => {
    expect(cookieHeader("a", "b", { maxAgeSeconds: 5, secure: false })).toBe(
      "a=b; Path=/console; Max-Age=5; HttpOnly; SameSite=Lax",
    );
    expect(cookieHeader("a", "b", { maxAgeSeconds: 5, secure: true })).toMatch(/; Secure$/);
  });

  it("derives a stable secret from the app's key when none is set", () => {
    expect(consoleSecretFrom("key-1")).toBe(consoleSecretFrom("key-1"));
    expect(consoleSecretFrom("key-1")).not.toBe(consoleSecretFrom("key-2"));
  });

  it("returns only to the console's own pages after signing in", () => {
    expect(safeNext("/console/runs/1?x=2")).toBe("/console/runs/1?x=2");
    expect(safeNext("/console")).toBe("/console");
    for (const bad of [
      "https://evil.test/console",
      "//evil.test/console",
      "/consolex",
      "/console\\@evil",
      "/console/\nSet-Cookie: x=1",
      "/console/\u0000",
      null,
    ]) {
      expect(safeNext(bad)).toBe("/console");
    }
  });
});

describe("settings and links", () => {
  it("reads DEVFLOW_PUBLIC_URL, the OAuth credentials and the console secret", () => {
    const settings = readSettings({
      DEVFLOW_PUBLIC_URL: "https://devflow.example.com/",
      GITHUB_CLIENT_ID: "Iv1.abc",
      GITHUB_CLIENT_SECRET: "shh",
      DEVFLOW_CONSOLE_SECRET: "x".repeat(32),
    });
    expect(settings.publicUrl).toBe("https://devflow.example.com");
    expect(settings.github).toMatchObject({ clientId: "Iv1.abc", clientSecret: "shh" });
    expect(settings.consoleSecret).toBe("x".repeat(32));
    expect(readSettings({}).publicUrl).toBeUndefined();
    expect(() => readSettings({ DEVFLOW_PUBLIC_URL: "devflow.example.com" })).toThrow(
      /DEVFLOW_PUBLIC_URL must be a URL/,
    );
    expect(() => readSettings({ DEVFLOW_PUBLIC_URL: "ftp://devflow.example.com" })).toThrow(
      /http\(s\)/,
    );
    expect(() => readSettings({ DEVFLOW_CONSOLE_SECRET: "short" })).toThrow(/at least 32/);
  });

  it("links a run's page under the public URL, and GitHub's web pages for its API", () => {
    expect(runPageUrl("https://devflow.example.com/", "abc")).toBe(
      "https://devflow.example.com/console/runs/abc",
    );
    expect(githubWebUrl("https://api.github.com")).toBe("https://github.com");
    expect(githubWebUrl("https://ghe.example.com/api/v3")).toBe("https://ghe.example.com");
  });
});
