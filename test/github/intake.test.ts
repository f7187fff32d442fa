import { eq } from "drizzle-orm";
import nock from "nock";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runs, webhookDeliveries } from "../../src/db/schema/index.ts";
import { createGitHubAccess, type GitHubAccess } from "../../src/github/github-access.ts";
import { reconcileDeliveries } from "../../src/github/reconcile-deliveries.ts";
import {
  createProbot,
  type GitHubServer,
  startGitHubServer,
} from "../../src/github/start-github-server.ts";
import { spawnDevflow, waitForHealthy } from "../helpers/cli-process.ts";
import { type FakeGitHub, fakeGitHub, fakeGitHubServer } from "../helpers/fake-github.ts";
import { createBareRemote, tempDir } from "../helpers/git-fixtures.ts";
import {
  API,
  APP_ID,
  appCredentials,
  appPrivateKey,
  freePort,
  labeledPayload,
  sendWebhook,
  WEBHOOK_SECRET,
} from "../helpers/github-fixtures.ts";
import { type Harness, startHarness } from "../helpers/harness.ts";
import { tcpProxy } from "../helpers/tcp-proxy.ts";
import { createTestDatabase } from "../helpers/test-database.ts";

const log = pino({ level: process.env.DEVFLOW_TEST_LOG ?? "silent" });
const credentials = appCredentials();
/** GitHub delivering webhooks to devflow on `port`, and noting each attempt in its log. */
function gitHubDelivering(github: FakeGitHub, port: () => number) {
  const send = async (event: string, payload: unknown, guid?: string) => {
    const started = Date.now();
    const sent = await sendWebhook(port(), event, payload, guid === undefined ? {} : { id: guid });
    github.hookDeliveries.unshift({
      id: github.hookDeliveries.length + 1,
      guid: sent.id,
      delivered_at: new Date().toISOString(),
      status_code: sent.status,
      event,
      action: (payload as { action?: string }).action ?? null,
      payload,
    });
    return { ...sent, ms: Date.now() - started };
  };
  // Asked to redeliver, GitHub sends the same delivery (same GUID) again.
  github.redeliver = (delivery) => {
    send(delivery.event, delivery.payload, delivery.guid).catch(() => undefined);
  };
  return send;
}

describe("webhook intake when the database goes away", () => {
  let proxy: Awaited<ReturnType<typeof tcpProxy>>;
  let databaseUrl: string;
  let access: GitHubAccess;
  let github: FakeGitHub;
  let h: Harness;
  let server: GitHubServer;
  let remote: string;
  let gitHubSends: ReturnType<typeof gitHubDelivering>;

  beforeAll(async () => {
    nock.disableNetConnect();
    nock.enableNetConnect("127.0.0.1");
    github = fakeGitHub();
    gitHubSends = gitHubDelivering(github, () => server.port);
    const direct = new URL(await createTestDatabase());
    proxy = await tcpProxy({ host: direct.hostname, port: Number(direct.port) });
    direct.port = String(proxy.port);
    databaseUrl = direct.toString();
    access = createGitHubAccess({
      probot: createProbot(credentials, log),
      appId: APP_ID,
      privateKey: credentials.privateKey,
      baseUrl: API,
    });
    remote = createBareRemote();
    h = await startHarness({ databaseUrl, github: access, waitTimeoutMs: 60_000 });
    server = await startGitHubServer({
      credentials,
      port: await freePort(),
      host: "127.0.0.1",
      db: h.db,
      log,
      onRecorded: h.devflow.dispatchDeliveries,
    });
  });
  afterAll(async () => {
    await server?.stop();
    await h?.stop({ graceful: false }).catch(() => undefined);
    await proxy?.close();
    nock.cleanAll();
    nock.enableNetConnect();
  });

  const label = (issue: number) =>
    labeledPayload({ issue, repository: "octo/outage", cloneUrl: remote });
  const runsOf = async (issue: number) =>
    h.db.select().from(runs).where(eq(runs.issueNumber, issue));

  it("answers 503 within GitHub's 10 s, then the reconciler asks GitHub for exactly what was missed, and each takes effect once", async () => {
    proxy.freeze();
    const frozen = await gitHubSends("issues", label(101));
    expect(frozen.status).toBe(503);
    expect(frozen.ms).toBeLessThan(10_000);
    await proxy.refuse();
    const refused = await gitHubSends("issues", label(102));
    expect(refused.status).toBe(503);
    expect(refused.ms).toBeLessThan(10_000);
    await proxy.restore();
    // Neither was recorded: the frozen request's transaction died with its connection.
    await h.waitFor("the database again", async () =>
      h.db
        .select()
        .from(webhookDeliveries)
        .where(eq(webhookDeliveries.id, frozen.id))
        .then((rows) => rows.length === 0)
        .catch(() => false),
    );
    const asked = await reconcileDeliveries({
      db: h.db,
      github: access,
      log,
      since: new Date(Date.now() - 3_600_000),
    });
    expect(asked.sort()).toEqual([frozen.id, refused.id].sort());
    // Exactly the missed ones (the reconciler's own pass may ask as well: a
    // redelivery is recorded once, whoever asked for it).
    expect([...new Set(github.redeliveries)].sort()).toEqual([frozen.id, refused.id].sort());
    for (const issue of [101, 102]) {
      await h.waitFor(`one run for issue ${issue}`, async () => (await runsOf(issue)).length === 1);
    }
    // Asking again changes nothing: both are recorded now.
    expect(
      await reconcileDeliveries({
        db: h.db,
        github: access,
        log,
        since: new Date(Date.now() - 3_600_000),
      }),
    ).toEqual([]);
    expect(await runsOf(101)).toHaveLength(1);
    expect(await runsOf(102)).toHaveLength(1);
  }, 120_000);
});

describe("a devflow killed while its database was away", () => {
  it("is asked again, at its next start, for the delivery it could not record", async () => {
    const fake = await fakeGitHubServer();
    const direct = new URL(await createTestDatabase());
    const proxy = await tcpProxy({ host: direct.hostname, port: Number(direct.port) });
    const proxied = new URL(direct);
    proxied.port = String(proxy.port);
    const port = await freePort();
    const env = {
      DATABASE_URL: proxied.toString(),
      PORT: String(port),
      DEVFLOW_DATA_DIR: tempDir("outage"),
      APP_ID: String(APP_ID),
      PRIVATE_KEY: appPrivateKey(),
      WEBHOOK_SECRET,
      GHE_HOST: fake.host,
      GHE_PROTOCOL: "http",
      DEVFLOW_AGENT: "scripted",
      DEVFLOW_RUNNER: "in-process",
    };
    const send = gitHubDelivering(fake.state, () => port);
    const h = await startHarness({ databaseUrl: direct.toString(), workers: false });
    let devflow = spawnDevflow(["start"], env);
    try {
      await waitForHealthy(port, devflow);
      proxy.freeze();
      const lost = await send(
        "issues",
        labeledPayload({ issue: 201, repository: "octo/outage", cloneUrl: createBareRemote() }),
      );
      expect(lost.status).toBe(503);
      // devflow dies before its database returns; the request's transaction dies with it.
      await devflow.kill();
      await proxy.refuse();
      await proxy.restore();
      devflow = spawnDevflow(["start"], env);
      await waitForHealthy(port, devflow);
      // At start, the reconciler finds it in GitHub's log and asks for it again.
      await h.waitFor(
        "the lost delivery's run",
        async () => (await h.db.select().from(runs).where(eq(runs.issueNumber, 201))).length === 1,
        60_000,
      );
      expect(fake.state.redeliveries).toContain(lost.id);
    } finally {
      await devflow.kill();
      await h.stop({ graceful: false });
      await proxy.close();
      await fake.close();
    }
  }, 180_000);
});
