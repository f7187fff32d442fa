import nock from "nock";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createConsole } from "../../src/console/create-console.ts";
import { createGitHubAccess } from "../../src/github/github-access.ts";
import { createProbot, startGitHubServer } from "../../src/github/start-github-server.ts";
import { type FakeGitHub, fakeGitHub } from "../helpers/fake-github.ts";
import { createBareRemote } from "../helpers/git-fixtures.ts";
import {
  API,
  APP_ID,
  appCredentials,
  freePort,
  INSTALLATION_ID,
} from "../helpers/github-fixtures.ts";
import { type Harness, startHarness } from "../helpers/harness.ts";

const PUBLIC_URL = "https://devflow.example.test";
let h: Harness;
let github: FakeGitHub;

beforeAll(async () => {
  nock.disableNetConnect();
  nock.enableNetConnect("127.0.0.1");
  github = fakeGitHub();
  const credentials = appCredentials();
  const probot = createProbot(credentials, pino({ level: "silent" }));
  const access = createGitHubAccess({
    probot,
    appId: APP_ID,
    privateKey: credentials.privateKey,
    baseUrl: API,
  });
  h = await startHarness({
    github: access,
    jobs: { publicUrl: PUBLIC_URL, showRunningAfterMs: 0 },
    waitTimeoutMs: 90_000,
  });
});
afterAll(async () => {
  await h.stop();
  nock.cleanAll();
  nock.enableNetConnect();
});

describe("GitHub links to the run's console page", () => {
  it("every check run's details_url and the status comment point at the run's page when DEVFLOW_PUBLIC_URL is set", async () => {
    const { runId } = await h.start({
      repository: "octo/widgets",
      installationId: INSTALLATION_ID,
      cloneUrl: createBareRemote(),
    });
    await h.waitForGate(runId, "spec_approved");
    const page = `${PUBLIC_URL}/console/runs/${runId}`;
    const checks = await h.waitFor("the spec's check run", async () => {
      const found = github.published.filter(
        (entry) => entry.kind === "check" && entry.body.includes('"name":"devflow / spec"'),
      );
      return found.length > 0 ? found : undefined;
    });
    for (const check of github.published.filter((entry) => entry.kind === "check")) {
      expect(JSON.parse(check.body)).toMatchObject({ details_url: page });
    }
    expect(JSON.parse(checks[0]?.body ?? "{}").details_url).toBe(page);
    const status = await h.waitFor("the status comment", async () =>
      github.published.find(
        (entry) =>
          (entry.kind === "comment" || entry.kind === "update") &&
          entry.body.startsWith(`<!-- devflow-status:${runId} -->`),
      ),
    );
    expect(status.body).toContain(`[Follow this run in devflow's console](${page})`);
  });

  it("until the app's OAuth credentials are set, the console tells the operator how, and the callback URL to register", async () => {
    const log = pino({ level: "silent" });
    const server = await startGitHubServer({
      credentials: appCredentials(),
      port: await freePort(),
      host: "127.0.0.1",
      db: h.db,
      log,
      console: createConsole({
        db: h.db,
        engine: h.engine,
        registry: h.devflow.registry,
        limits: h.engine.deps.limits,
        log,
        github: { baseUrl: API },
        publicUrl: PUBLIC_URL,
        sessionSecret: "another-console-session-secret-for-tests",
      }),
    });
    try {
      const runs = await fetch(`http://127.0.0.1:${server.port}/console`, { redirect: "manual" });
      expect(runs.status).toBe(302);
      expect(runs.headers.get("location")).toBe("/console/sign-in?next=%2Fconsole");
      const page = await fetch(`http://127.0.0.1:${server.port}/console/sign-in`);
      const text = await page.text();
      expect(text).toContain("Sign-in is not set up yet");
      expect(text).toContain(`${PUBLIC_URL}/console/callback`);
      expect(text).toContain("GITHUB_CLIENT_ID");
      const github = await fetch(`http://127.0.0.1:${server.port}/console/sign-in/github`, {
        redirect: "manual",
      });
      expect(github.headers.get("location")).toBe("/console/sign-in");
    } finally {
      await server.stop();
    }
  });
});
