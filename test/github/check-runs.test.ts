import nock from "nock";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  desiredChecks,
  reconcileCheckRuns,
} from "../../src/github/publish/reconcile-check-runs.ts";
import { createProbot } from "../../src/github/start-github-server.ts";
import { createBareRemote } from "../helpers/git-fixtures.ts";
import { API, appCredentials } from "../helpers/github-fixtures.ts";
import { type Harness, startHarness } from "../helpers/harness.ts";

let h: Harness;
beforeAll(async () => {
  nock.disableNetConnect();
  nock.enableNetConnect("127.0.0.1");
  h = await startHarness();
});
afterAll(async () => {
  await h.stop();
  nock.cleanAll();
  nock.enableNetConnect();
});

describe("a phase's check run", () => {
  it("shown while the phase ran, moves to the commit the phase made when it waits at its gate, and the old one says where it went", async () => {
    const { runId } = await h.start({ cloneUrl: createBareRemote() });
    const gate = await h.waitForGate(runId, "spec_approved");
    const status = await h.status(runId);
    const head = status.headSha ?? "";
    expect(head).toMatch(/^[0-9a-f]{40}$/);
    const spec = status.phases.find((phase) => phase.phaseKey === "spec");
    const key = `devflow-phase:${spec?.id}`;
    const sent: { method: string; path: string; body: Record<string, unknown> }[] = [];
    const scope = nock(API)
      .persist()
      .post(/\/app\/installations\/\d+\/access_tokens/)
      .reply(201, { token: "ghs_x", expires_at: "2099-01-01T00:00:00Z" })
      .post("/repos/octo/checks/check-runs")
      .reply(async (request: Request) => {
        sent.push({
          method: "POST",
          path: "create",
          body: (await request.json()) as Record<string, unknown>,
        });
        return [201, { id: 2 }];
      })
      .patch("/repos/octo/checks/check-runs/1")
      .reply(async (request: Request) => {
        sent.push({
          method: "PATCH",
          path: "1",
          body: (await request.json()) as Record<string, unknown>,
        });
        return [200, {}];
      });
    const probot = createProbot(appCredentials(), pino({ level: "silent" }));
    const octokit = await probot.auth(1);
    const saved: unknown[] = [];
    // Published while the spec ran: on the commit before it.
    const before = { [key]: { id: 1, sha: "0".repeat(40), hash: "x", running: true } };
    const checks = desiredChecks(status).checks.filter((check) => check.key === key);
    const next = await reconcileCheckRuns(
      octokit,
      { owner: "octo", repo: "checks" },
      head,
      before,
      checks,
      async (state) => {
        saved.push(state);
      },
    );
    scope.persist(false);
    expect(sent.map((request) => `${request.method} ${request.path}`)).toEqual([
      "POST create",
      "PATCH 1",
    ]);
    expect(sent[0]?.body).toMatchObject({
      head_sha: head,
      name: "devflow / spec",
      status: "completed",
      conclusion: "action_required",
      external_id: `devflow-gate:${gate.id}`,
    });
    expect(sent[1]?.body).toMatchObject({
      status: "completed",
      conclusion: "neutral",
      output: { title: `Moved to ${head.slice(0, 7)}` },
    });
    // The new check's id was stored before the old one was touched.
    expect(saved[0]).toMatchObject({ [key]: { id: 2, sha: head, running: false } });
    expect(next[key]).toMatchObject({ id: 2, sha: head });
  });
});
