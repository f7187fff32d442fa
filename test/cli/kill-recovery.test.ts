import { setTimeout as sleep } from "node:timers/promises";
import { and, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  approvalRequests,
  phaseAttempts,
  runs,
  webhookDeliveries,
} from "../../src/db/schema/index.ts";
import { type DevflowProcess, spawnDevflow, waitForHealthy } from "../helpers/cli-process.ts";
import { fakeGitHubServer } from "../helpers/fake-github.ts";
import { createBareRemote, tempDir } from "../helpers/git-fixtures.ts";
import { type GitHttpServer, serveGitOverHttp } from "../helpers/git-http-server.ts";
import {
  APP_ID,
  appPrivateKey,
  freePort,
  labeledPayload,
  reviewPayload,
  sendWebhook,
  WEBHOOK_SECRET,
} from "../helpers/github-fixtures.ts";
import { type Harness, startHarness } from "../helpers/harness.ts";
import { createTestDatabase } from "../helpers/test-database.ts";

/**
 * `devflow start` killed with SIGKILL at the worst moments — right after it
 * acknowledged a review, while it publishes, while a worker prepares a workspace,
 * while it pushes — and started again: the work it held is picked up within 30 s
 * (job heartbeats lapse after 10 s; supervisors look every 5 s).
 */
const RECOVERY_MS = 30_000;

let github: Awaited<ReturnType<typeof fakeGitHubServer>>;
let git: GitHttpServer;
let h: Harness;
let env: Record<string, string>;
let port: number;
let devflow: DevflowProcess | undefined;

async function startDevflow(): Promise<DevflowProcess> {
  const started = spawnDevflow(["start"], env);
  devflow = started;
  await waitForHealthy(port, started);
  return started;
}

async function killDevflow(): Promise<void> {
  await devflow?.kill();
  devflow = undefined;
}

/** Waits until `probe` holds, failing after `timeoutMs`; resolves to the milliseconds it took. */
async function within(what: string, timeoutMs: number, probe: () => Promise<boolean> | boolean) {
  const start = Date.now();
  for (;;) {
    if (await probe()) return Date.now() - start;
    if (Date.now() - start > timeoutMs) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await sleep(50);
  }
}

beforeAll(async () => {
  github = await fakeGitHubServer();
  // The story ends at completion after the plan's gate (the implementation's own gate
  // has its test in test/github/webhooks.test.ts).
  github.state.repoConfig = "gates:\n  implementation: false\n";
  git = await serveGitOverHttp(createBareRemote());
  const databaseUrl = await createTestDatabase();
  port = await freePort();
  env = {
    DATABASE_URL: databaseUrl,
    PORT: String(port),
    DEVFLOW_DATA_DIR: tempDir("kill-data"),
    APP_ID: String(APP_ID),
    PRIVATE_KEY: appPrivateKey(),
    WEBHOOK_SECRET,
    GHE_HOST: github.host,
    GHE_PROTOCOL: "http",
    DEVFLOW_AGENT: "scripted",
    // The scripted agent in the worker: the git workspace, commit and push are real.
    DEVFLOW_RUNNER: "in-process",
  };
  // The test reads the database devflow writes; it runs no workers of its own.
  h = await startHarness({ databaseUrl, workers: false, waitTimeoutMs: 60_000 });
}, 60_000);

afterAll(async () => {
  await killDevflow();
  await h?.stop({ graceful: false });
  await github?.close();
  await git?.close();
});

describe("devflow start killed with SIGKILL, and started again", () => {
  it("picks up an acknowledged review, a publish, a workspace being prepared and a push, each within 30 s", async () => {
    await startDevflow();
    const label = await sendWebhook(
      port,
      "issues",
      labeledPayload({ issue: 41, repository: "octo/kill", cloneUrl: git.url }),
    );
    expect(label.status).toBe(200);
    const run = await h.waitFor("the run", async () => {
      const [row] = await h.db.select().from(runs).where(eq(runs.issueNumber, 41));
      return row?.pullRequestNumber === null ? undefined : row;
    });
    await h.waitForGate(run.id, "spec_approved", 60_000);

    // 1. An Approve review, acknowledged (200), its job held by a process that dies:
    // GitHub will not send it again. The permission check is slow, so the job is active.
    github.delay = { pattern: /collaborators\/.+\/permission /, ms: 4_000 };
    const arrivedBefore = github.arrived.length;
    const review = await sendWebhook(
      port,
      "pull_request_review",
      reviewPayload({
        repository: "octo/kill",
        pullRequest: run.pullRequestNumber ?? 0,
        id: 9001,
        state: "approved",
        body: "Good.",
        user: "bob",
      }),
    );
    expect(review.status).toBe(200);
    await within("the review's job to ask GitHub", 10_000, () =>
      github.arrived.slice(arrivedBefore).some((call) => call.includes("/permission ")),
    );
    await killDevflow();
    // 2. Next, the worker that prepares the plan's workspace (minting its git token,
    // scoped to the repository) will die: its token request is slow.
    github.delay = { pattern: /access_tokens .*repository_ids/, ms: 4_000 };
    const tokensBefore = github.arrived.length;
    const [recorded] = await h.db
      .select()
      .from(webhookDeliveries)
      .where(eq(webhookDeliveries.id, review.id));
    expect(recorded).toBeDefined();
    await startDevflow();
    const approvedIn = await within("the spec gate approved", RECOVERY_MS, async () => {
      const [gate] = await h.db
        .select()
        .from(approvalRequests)
        .where(
          and(eq(approvalRequests.runId, run.id), eq(approvalRequests.gateKey, "spec_approved")),
        );
      return gate?.state === "approved";
    });

    await within("the plan's job to ask for its git token", 20_000, () =>
      github.arrived
        .slice(tokensBefore)
        .some((call) => /access_tokens .*repository_ids/.test(call)),
    );
    await killDevflow();
    github.delay = null;
    await startDevflow();
    const preparedIn = await within("the plan gate reached", RECOVERY_MS, async () =>
      (await h.status(run.id)).approvals.some(
        (gate) => gate.gateKey === "phase_plan_approved" && gate.state === "pending",
      ),
    );

    // 3. A publish in flight (its check run being created) and 4. the implementation's
    // push in flight, when the process dies: both wait at a slow GitHub.
    github.delay = { pattern: /^POST \S*\/check-runs /, ms: 4_000 };
    git.delayPushMs = 4_000;
    const published = github.state.published.length;
    const checksBefore = github.arrived.length;
    const pushesBefore = git.pushes;
    await h.approve(run.id, "phase_plan_approved");
    await within("a check run being created", 20_000, () =>
      github.arrived.slice(checksBefore).some((call) => /^POST \S*\/check-runs /.test(call)),
    );
    await within("the implementation's push", 30_000, () => git.pushes > pushesBefore);
    await killDevflow();
    github.delay = null;
    git.delayPushMs = 0;
    await startDevflow();
    const completedIn = await within("the run completed and published", RECOVERY_MS, async () => {
      const status = await h.status(run.id);
      return (
        status.run.state === "completed" &&
        github.state.published.slice(published).some((p) => p.kind === "graphql")
      );
    });
    // The killed push's attempt was handed to a new one, which committed once.
    const attempts = await h.db.select().from(phaseAttempts).where(eq(phaseAttempts.runId, run.id));
    expect(attempts.filter((a) => a.state === "succeeded").map((a) => a.phaseId)).toHaveLength(3);
    expect({ approvedIn, preparedIn, completedIn }).toEqual({
      approvedIn: expect.any(Number),
      preparedIn: expect.any(Number),
      completedIn: expect.any(Number),
    });
    // Every git request carried the token; none went anywhere else.
    expect(git.authorizations.every((header) => header.startsWith("Basic "))).toBe(true);
  }, 240_000);
});
