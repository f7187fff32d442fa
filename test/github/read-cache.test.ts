import nock from "nock";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { createReadCache } from "../../src/github/read-cache.ts";
import { readRepoConfig } from "../../src/github/repo-config.ts";
import { createProbot } from "../../src/github/start-github-server.ts";
import { loadRegistry } from "../../src/registry/load-registry.ts";
import { API, appCredentials } from "../helpers/github-fixtures.ts";

const CONFIG = "/repos/octo/cached/contents/.github%2Fdevflow.yml";

afterEach(() => {
  nock.cleanAll();
});

describe("reading a repository's config again", () => {
  it("uses a fresh read without asking, then asks with the ETag and keeps the config on a 304", async () => {
    let now = 0;
    const cache = createReadCache({ lifeMs: 60_000, now: () => now });
    const probot = createProbot(appCredentials(), pino({ level: "silent" }));
    const octokit = await probot.auth(1);
    // An installation token is not needed for this: any auth header will do.
    const registry = loadRegistry();
    const read = () =>
      readRepoConfig({ octokit, owner: "octo", repo: "cached", ref: "main", registry, cache });
    const content = Buffer.from("labels:\n  start: agentic\n").toString("base64");
    const first = nock(API)
      .post(/\/app\/installations\/1\/access_tokens/)
      .reply(201, { token: "ghs_x", expires_at: "2099-01-01T00:00:00Z" })
      .get(CONFIG)
      .query(true)
      .reply(200, { type: "file", encoding: "base64", content }, { etag: '"v1"' });
    expect(await read()).toEqual({ ok: true, config: { labels: { start: "agentic" } } });
    expect(first.isDone()).toBe(true);
    // Within its life: no request at all (nock would refuse one).
    now = 30_000;
    expect((await read()).ok).toBe(true);
    // Past it: a conditional request; 304 keeps what was read.
    now = 61_000;
    const conditional = nock(API, { reqheaders: { "if-none-match": '"v1"' } })
      .get(CONFIG)
      .query(true)
      .reply(304);
    expect(await read()).toEqual({ ok: true, config: { labels: { start: "agentic" } } });
    expect(conditional.isDone()).toBe(true);
    // Changed on GitHub: the new config, with its new ETag.
    now = 200_000;
    const changed = Buffer.from("approvers: [bob]\n").toString("base64");
    nock(API)
      .get(CONFIG)
      .query(true)
      .reply(200, { type: "file", encoding: "base64", content: changed }, { etag: '"v2"' });
    expect(await read()).toEqual({ ok: true, config: { approvers: ["bob"] } });
    expect(cache.get(`config:octo/cached@main`)?.etag).toBe('"v2"');
  });
});
