import nock from "nock";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGitHubAccess } from "../../src/github/github-access.ts";
import { createProbot } from "../../src/github/start-github-server.ts";
import { APP_ID, appPrivateKey } from "../helpers/github-fixtures.ts";

const GHE = "https://ghe.example.test";
const privateKey = appPrivateKey();

beforeAll(() => {
  // Only the Enterprise host answers: a call to api.github.com fails the test.
  nock.disableNetConnect();
});
afterAll(() => {
  nock.cleanAll();
  nock.enableNetConnect();
});

describe("GitHub Enterprise Server", () => {
  it("fetches installation tokens and calls the API at GHE_HOST, with a cold token cache", async () => {
    const baseUrl = `${GHE}/api/v3`;
    const calls: string[] = [];
    const scope = nock(GHE)
      .on("request", (request: Request) =>
        calls.push(`${request.method} ${new URL(request.url).pathname}`),
      )
      .post("/api/v3/app/installations/77/access_tokens")
      .twice()
      .reply(201, {
        token: "ghs_enterprise",
        expires_at: "2099-01-01T00:00:00Z",
        permissions: {},
        repository_selection: "all",
      })
      .get("/api/v3/repos/octo/widgets/collaborators/alice/permission")
      .reply(200, { permission: "write" });
    const log = pino({ level: "silent" });
    const probot = createProbot({ appId: APP_ID, privateKey, webhookSecret: "s", baseUrl }, log);
    const access = createGitHubAccess({ probot, appId: APP_ID, privateKey, baseUrl });

    const octokit = await access.octokitFor(77);
    const { data } = await octokit.rest.repos.getCollaboratorPermissionLevel({
      owner: "octo",
      repo: "widgets",
      username: "alice",
    });
    expect(data.permission).toBe("write");
    expect(await access.gitToken(77, 5)).toBe("ghs_enterprise");
    expect(calls).toEqual([
      "POST /api/v3/app/installations/77/access_tokens",
      "GET /api/v3/repos/octo/widgets/collaborators/alice/permission",
      "POST /api/v3/app/installations/77/access_tokens",
    ]);
    expect(scope.isDone()).toBe(true);
  });
});
