import nock from "nock";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { createReadCache } from "../../src/github/read-cache.ts";
import { readRepositoryTemplate } from "../../src/github/read-repository-template.ts";
import { createProbot } from "../../src/github/start-github-server.ts";
import { loadRegistry } from "../../src/registry/load-registry.ts";
import { API, appCredentials } from "../helpers/github-fixtures.ts";

const TEMPLATE = "/repos/octo/own/contents/.github%2Fdevflow%2Ftemplates%2Ftriage%401.yml";
const PERSONA = "/repos/octo/own/contents/.github%2Fdevflow%2Fpersonas%2Ftriager%401.md";
const file = (text: string) => ({
  type: "file",
  encoding: "base64",
  size: Buffer.byteLength(text),
  content: Buffer.from(text).toString("base64"),
});
const TRIAGE = `name: triage
version: 1
description: Assess a report.
roles:
  triager: { persona: triager@1 }
phases:
  - { key: assess, title: Assessment, role: triager, artifact: dev/review@1 }
`;
const TRIAGER = "---\nname: triager\nversion: 1\ndescription: Sorts.\n---\nSort reports.\n";

afterEach(() => {
  nock.cleanAll();
});

async function reader() {
  let now = 0;
  const cache = createReadCache({ lifeMs: 60_000, now: () => now });
  const probot = createProbot(appCredentials(), pino({ level: "silent" }));
  const octokit = await probot.auth(1);
  nock(API)
    .post(/\/app\/installations\/1\/access_tokens/)
    .reply(201, { token: "ghs_x", expires_at: "2099-01-01T00:00:00Z" });
  const registry = loadRegistry();
  return {
    read: () =>
      readRepositoryTemplate({
        octokit,
        owner: "octo",
        repo: "own",
        ref: "main",
        repositoryId: 9,
        templateId: "triage@1",
        registry,
        cache,
      }),
    at: (ms: number) => {
      now = ms;
    },
  };
}

describe("reading a repository's own template", () => {
  it("reads the template and its persona once per cache life", async () => {
    const { read, at } = await reader();
    const first = nock(API)
      .get(TEMPLATE)
      .query(true)
      .reply(200, file(TRIAGE))
      .get(PERSONA)
      .query(true)
      .reply(200, file(TRIAGER));
    const found = await read();
    expect(first.isDone()).toBe(true);
    expect(found.kind).toBe("found");
    if (found.kind !== "found") throw new Error("unreachable");
    expect(found.template.repositoryId).toBe(9);
    expect(found.template.template.id).toBe("triage@1");
    expect(found.template.personas.get("triager@1")?.body).toBe("Sort reports.");
    // Within its life: no request at all (nock would refuse one).
    at(59_000);
    expect((await read()).kind).toBe("found");
    // Past it: read again.
    at(61_000);
    const again = nock(API).get(TEMPLATE).query(true).reply(404, { message: "Not Found" });
    expect(await read()).toEqual({
      kind: "missing",
      path: ".github/devflow/templates/triage@1.yml",
    });
    expect(again.isDone()).toBe(true);
  });

  it("refuses a directory, a file over the cap (GitHub sends no content past 1 MB) and a missing persona", async () => {
    const { read, at } = await reader();
    nock(API)
      .get(TEMPLATE)
      .query(true)
      .reply(200, [{ type: "file", name: "x" }]);
    expect(await read()).toEqual({
      kind: "invalid",
      problems: [{ path: ".github/devflow/templates/triage@1.yml", errors: ["/: not a file"] }],
    });
    at(120_000);
    nock(API)
      .get(TEMPLATE)
      .query(true)
      .reply(200, { type: "file", encoding: "none", size: 5_000_000, content: "" });
    expect(await read()).toMatchObject({
      kind: "invalid",
      problems: [{ errors: ["/: larger than 64 KiB"] }],
    });
    at(240_000);
    nock(API)
      .get(TEMPLATE)
      .query(true)
      .reply(200, file(TRIAGE))
      .get(PERSONA)
      .query(true)
      .reply(404, { message: "Not Found" });
    expect(await read()).toEqual({
      kind: "invalid",
      problems: [
        {
          path: ".github/devflow/templates/triage@1.yml",
          errors: ["/roles/triager/persona: unknown persona triager@1"],
        },
      ],
    });
  });
});
