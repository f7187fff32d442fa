import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { and, asc, eq } from "drizzle-orm";
import nock from "nock";
import pino from "pino";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  phaseAttempts,
  runnerExecutions,
  runs,
  webhookDeliveries,
} from "../../src/db/schema/index.ts";
import { WEBHOOK_EVENTS } from "../../src/github/handlers/index.ts";
import type { GitHubServer } from "../../src/github/start-github-server.ts";
import { type FakeGitHub, fakeGitHub, type Publication } from "../helpers/fake-github.ts";
import { createBareRemote, git } from "../helpers/git-fixtures.ts";
import {
  API,
  appCredentials,
  example,
  gateClickPayload,
  INSTALLATION_ID,
  labeledPayload,
  reviewPayload,
  sendWebhook,
  webhookExamples,
} from "../helpers/github-fixtures.ts";
import type { Harness } from "../helpers/harness.ts";
import { startWebhookHarness } from "../helpers/webhook-harness.ts";

const _log = pino({ level: process.env.DEVFLOW_TEST_LOG ?? "silent" });
const _credentials = appCredentials();
const REPO = "octo/widgets";
const STORY = "octo/story";
let h: Harness;
let server: GitHubServer;
let remote: string;
let github: FakeGitHub;
let comments: FakeGitHub["comments"];
let calls: string[];
let published: Publication[];

beforeAll(async () => {
  nock.disableNetConnect();
  nock.enableNetConnect("127.0.0.1");
  // These tests change a repository's config and permissions between deliveries:
  // nothing is read from a cache. (The whole story below runs with the cache.) Every
  // run here shares one installation, whose writes are paced: waits get more time.
  ({ h, server } = await startWebhookHarness({ readCacheSeconds: 0, waitTimeoutMs: 90_000 }));
});
afterAll(async () => {
  await server?.stop();
  await h.stop();
  nock.cleanAll();
  nock.enableNetConnect();
});

beforeEach(() => {
  nock.cleanAll();
  remote = createBareRemote();
  github = fakeGitHub();
  ({ comments, published, calls } = github);
});

function labeled(
  issueNumber: number,
  sender = "alice",
  label = "devflow",
  body = "Please add a widget.",
  fullName = REPO,
) {
  return labeledPayload({
    issue: issueNumber,
    repository: fullName,
    cloneUrl: remote,
    sender,
    label,
    body,
  });
}

const processed = (id: string, harness = h) =>
  harness.waitFor(`delivery ${id} processed`, async () => {
    const [row] = await harness.db
      .select()
      .from(webhookDeliveries)
      .where(eq(webhookDeliveries.id, id));
    return row?.processedAt ? row : undefined;
  });

let issue = 100;

describe("webhooks in", () => {
  it("a devflow label from a writer starts a run on the payload's clone URL, which reaches its spec gate", async () => {
    issue += 1;
    const sent = await sendWebhook(server.port, "issues", labeled(issue));
    expect(sent.status).toBe(200);
    const delivery = await processed(sent.id);
    expect(delivery.outcome).toMatch(/^started run/);
    const [run] = await h.db
      .select()
      .from(runs)
      .where(eq(runs.id, delivery.runId ?? ""));
    expect(run).toMatchObject({
      repository: REPO,
      issueNumber: issue,
      cloneUrl: remote,
      installationId: INSTALLATION_ID,
      repositoryId: 77,
      startedBy: "alice",
      baseBranch: "main",
    });
    await h.waitForGate(run?.id ?? "", "spec_approved");
  });

  it("a NUL written as \\u0000 in an issue's title is accepted, and reaches the run as U+FFFD", async () => {
    issue += 1;
    const payload = labeled(issue);
    payload.issue.title = "Widgets\u0000 everywhere";
    const sent = await sendWebhook(server.port, "issues", payload);
    expect(sent.status).toBe(200);
    const delivery = await processed(sent.id);
    expect(delivery.outcome).toMatch(/^started run/);
    // Processed, the delivery keeps what happened, not the body.
    expect(delivery.body).toBeNull();
    const [run] = await h.db
      .select()
      .from(runs)
      .where(eq(runs.id, delivery.runId ?? ""));
    expect(run?.issueTitle).toBe("Widgets\uFFFD everywhere");
  });

  it("a delivery sent twice, or five times at once, has one effect", async () => {
    issue += 1;
    const payload = labeled(issue);
    const first = await sendWebhook(server.port, "issues", payload);
    const again = await sendWebhook(server.port, "issues", payload, { id: first.id });
    const burst = await Promise.all(
      Array.from({ length: 5 }, () =>
        sendWebhook(server.port, "issues", payload, { id: first.id }),
      ),
    );
    expect([first, again, ...burst].every((sent) => sent.status === 200)).toBe(true);
    await processed(first.id);
    expect(await h.db.select().from(runs).where(eq(runs.issueNumber, issue))).toHaveLength(1);
    expect(
      await h.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.id, first.id)),
    ).toHaveLength(1);
  });

  it("the label applied five more times to an issue with an active run: five refusals, one reply, naming the run once", async () => {
    issue += 1;
    const first = await sendWebhook(server.port, "issues", labeled(issue));
    const runId = (await processed(first.id)).runId ?? "";
    const again = await Promise.all(
      Array.from({ length: 5 }, () => sendWebhook(server.port, "issues", labeled(issue))),
    );
    for (const sent of again) {
      expect((await processed(sent.id)).outcome).toBe("refused: active_run_exists");
    }
    const said = comments.filter(
      (entry) => entry.issue === issue && entry.body.includes("did not start a new run"),
    );
    expect(said).toHaveLength(1);
    expect(said[0]?.body.split(runId)).toHaveLength(2);
  });

  it("rejects a forged or missing signature, and a signed body that is not JSON, and records nothing", async () => {
    issue += 1;
    const forged = await sendWebhook(server.port, "issues", labeled(issue), {
      secret: "not-the-secret",
    });
    const unsigned = await sendWebhook(server.port, "issues", labeled(issue), { secret: null });
    const notJson = await sendWebhook(server.port, "issues", null, { rawBody: '{"action": "lab' });
    expect(forged.status).toBe(401);
    expect(unsigned.status).toBe(401);
    expect(notJson.status).toBe(400);
    for (const id of [forged.id, unsigned.id, notJson.id]) {
      expect(
        await h.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.id, id)),
      ).toEqual([]);
    }
  });

  it("a label from someone without write access, or from a bot, gets one polite reply and starts nothing", async () => {
    issue += 1;
    const reader = await sendWebhook(server.port, "issues", labeled(issue, "mallory"));
    const bot = await sendWebhook(server.port, "issues", labeled(issue, "helper[bot]"));
    expect((await processed(reader.id)).outcome).toBe("refused: mallory may not start runs");
    expect((await processed(bot.id)).outcome).toBe("refused: helper[bot] may not start runs");
    // The two deliveries are processed concurrently: either reply may come first.
    expect(comments).toHaveLength(2);
    expect(comments.map((comment) => comment.body)).toEqual(
      expect.arrayContaining([
        expect.stringContaining(
          "only people with write access to this repository can steer devflow runs",
        ),
        expect.stringContaining("bots cannot steer devflow runs"),
      ]),
    );
    expect(await h.db.select().from(runs).where(eq(runs.issueNumber, issue))).toEqual([]);
  });

  it("a delivery whose job died after replying, processed again, does not reply twice", async () => {
    issue += 1;
    const payload = labeled(issue, "mallory");
    const sent = await sendWebhook(server.port, "issues", payload);
    await processed(sent.id);
    expect(comments).toHaveLength(1);
    // As if the job had died between posting the reply and recording its outcome.
    await h.db
      .update(webhookDeliveries)
      .set({ processedAt: null, outcome: "queued", payload })
      .where(eq(webhookDeliveries.id, sent.id));
    await h.devflow.boss.send("webhook-process", { deliveryIds: [sent.id] });
    const again = await processed(sent.id);
    expect(again.outcome).toBe("refused: mallory may not start runs");
    expect(again.tries).toBe(2);
    expect(calls).toContain(`GET /repos/${REPO}/issues/${issue}/comments`);
    expect(comments).toHaveLength(1);
    expect(github.posted.filter((comment) => comment.issue === issue)).toHaveLength(1);
  });

  it("in a batch of deliveries, one that fails is retried on its own and the others are processed once", async () => {
    nock.cleanAll();
    // GitHub fails carol's permission lookup once (with a status Octokit does not
    // retry itself); the batch goes on without her.
    nock(API)
      .get(`/repos/${REPO}/collaborators/carol/permission`)
      .reply(422, { message: "Unprocessable" });
    github = fakeGitHub();
    const ids: string[] = [];
    for (const sender of ["mallory", "carol", "mallory"]) {
      issue += 1;
      const id = randomUUID();
      ids.push(id);
      await h.db.insert(webhookDeliveries).values({
        id,
        event: "issues",
        action: "labeled",
        installationId: INSTALLATION_ID,
        repository: REPO,
        payload: labeled(issue, sender),
        outcome: "received",
      });
    }
    await h.devflow.boss.send("webhook-process", { deliveryIds: ids });
    const [first, failed, third] = await Promise.all(ids.map((id) => processed(id)));
    expect(first).toMatchObject({ outcome: "refused: mallory may not start runs", tries: 1 });
    expect(third).toMatchObject({ outcome: "refused: mallory may not start runs", tries: 1 });
    expect(failed).toMatchObject({ outcome: "refused: carol may not start runs", tries: 2 });
    expect(github.posted.filter((comment) => comment.issue >= issue - 2)).toHaveLength(3);
  });

  it("an invalid .github/devflow.yml is reported on the issue with its errors", async () => {
    issue += 1;
    github.repoConfig = "template: development@1\nnope: true\nbudgets:\n  costUsdPerRun: -3\n";
    const sent = await sendWebhook(server.port, "issues", labeled(issue));
    expect((await processed(sent.id)).outcome).toBe("refused: invalid repository config");
    expect(comments).toHaveLength(1);
    expect(comments[0]?.body).toContain("`.github/devflow.yml` on `main` is invalid");
    expect(comments[0]?.body).toContain("/: must NOT have additional properties (nope)");
    expect(comments[0]?.body).toContain("/budgets/costUsdPerRun: must be > 0");
  });

  it("the repository config picks the label, template, agent and budget", async () => {
    issue += 1;
    github.repoConfig =
      "labels:\n  start: agentic\nagent: scripted\nbudgets:\n  costUsdPerRun: 2.5\ncaps:\n  activeRuns: 2\n";
    const ignored = await sendWebhook(server.port, "issues", labeled(issue, "alice", "devflow"));
    expect((await processed(ignored.id)).outcome).toBe("ignored: label devflow is not devflow's");
    const sent = await sendWebhook(
      server.port,
      "issues",
      labeled(issue, "alice", "agentic:development"),
    );
    const delivery = await processed(sent.id);
    const [run] = await h.db
      .select()
      .from(runs)
      .where(eq(runs.id, delivery.runId ?? ""));
    expect(run).toMatchObject({
      templateName: "development",
      templateVersion: 1,
      budgetUsd: 2.5,
      agentConfig: { agent: "scripted" },
      repositoryCap: 2,
    });
  });

  it("an issue body of 1 MB starts a run like any other", async () => {
    issue += 1;
    const body = `Please do this.\n${"x".repeat(1024 * 1024)}`;
    const sent = await sendWebhook(server.port, "issues", labeled(issue, "alice", "devflow", body));
    expect(sent.status).toBe(200);
    const delivery = await processed(sent.id);
    const [run] = await h.db
      .select()
      .from(runs)
      .where(eq(runs.id, delivery.runId ?? ""));
    expect(run?.requirements.length).toBe(body.length);
  });

  it("accepts every documented example of the events devflow subscribes to, and processes each without error", async () => {
    const subscribed = [
      "issues",
      "issue_comment",
      "pull_request_review",
      "pull_request",
      "check_run",
      "installation",
      "installation_repositories",
    ];
    const handled = new Set<string>(WEBHOOK_EVENTS);
    const sent: { id: string; status: number; ours: boolean }[] = [];
    for (const group of webhookExamples().filter((candidate) =>
      subscribed.includes(candidate.name),
    )) {
      for (const payload of group.examples) {
        const key =
          typeof payload.action === "string" ? `${group.name}.${payload.action}` : group.name;
        const delivery = await sendWebhook(server.port, group.name, payload);
        sent.push({ ...delivery, ours: handled.has(key) || handled.has(group.name) });
      }
    }
    expect(sent.length).toBeGreaterThan(80);
    expect(sent.filter((delivery) => delivery.status !== 200)).toEqual([]);
    // Every example whose event (and action) devflow subscribes to is recorded and processed.
    const ours = sent.filter((delivery) => delivery.ours);
    expect(ours.length).toBeGreaterThan(10);
    for (const delivery of ours) {
      const done = await processed(delivery.id);
      expect(done.outcome).not.toMatch(/^dropped: malformed/);
    }
  });

  it("a signed payload without what its handler reads is dropped with the JSON pointer, and starts nothing", async () => {
    issue += 1;
    const payload = labeled(issue);
    payload.issue.number = "not a number";
    delete payload.repository.clone_url;
    const sent = await sendWebhook(server.port, "issues", payload);
    expect(sent.status).toBe(200);
    const done = await processed(sent.id);
    expect(done.outcome).toMatch(/^dropped: malformed payload \(/);
    expect(done.outcome).toContain("/issue/number: must be integer");
    expect(done.outcome).toContain("must have required property 'clone_url'");
    expect(done.runId).toBeNull();
    expect(await h.db.select().from(runs).where(eq(runs.issueNumber, issue))).toEqual([]);
  });
});

describe("steering a run from GitHub", () => {
  async function runAtSpecGate() {
    issue += 1;
    const sent = await sendWebhook(server.port, "issues", labeled(issue));
    const runId = (await processed(sent.id)).runId ?? "";
    const gate = await h.waitForGate(runId, "spec_approved");
    // The pull request the publisher opened for the run (the fake GitHub numbers it).
    const pr = await h.waitFor("the run's pull request", async () => {
      const [row] = await h.db.select().from(runs).where(eq(runs.id, runId));
      return row?.pullRequestNumber ?? undefined;
    });
    return { runId, gate, pr };
  }

  function comment(on: number, body: string, sender = "alice", pullRequest = false) {
    const payload = example("issue_comment", "created");
    payload.comment = {
      ...payload.comment,
      id: Math.floor(Math.random() * 1e9),
      body,
      created_at: new Date().toISOString(),
    };
    payload.issue = {
      ...payload.issue,
      number: on,
      ...(pullRequest ? { pull_request: { url: "x" } } : { pull_request: undefined }),
    };
    if (!pullRequest) delete payload.issue.pull_request;
    payload.repository = { ...payload.repository, full_name: REPO, default_branch: "main" };
    payload.sender = { ...payload.sender, login: sender, type: "User" };
    payload.installation = { id: INSTALLATION_ID, node_id: "x" };
    return payload;
  }

  it("/devflow approve, pause and resume from a writer; nothing from a reader", async () => {
    const { runId } = await runAtSpecGate();
    const denied = await sendWebhook(
      server.port,
      "issue_comment",
      comment(issue, "/devflow approve", "mallory"),
    );
    expect((await processed(denied.id)).outcome).toBe("refused: mallory may not steer runs");
    expect((await h.status(runId)).approvals[0]?.state).toBe("pending");
    const paused = await sendWebhook(
      server.port,
      "issue_comment",
      comment(issue, "/devflow pause"),
    );
    expect((await processed(paused.id)).outcome).toBe("paused");
    const resumed = await sendWebhook(
      server.port,
      "issue_comment",
      comment(issue, "/devflow resume"),
    );
    expect((await processed(resumed.id)).outcome).toBe("resumed");
    const approved = await sendWebhook(
      server.port,
      "issue_comment",
      comment(issue, "/devflow approve  looks right"),
    );
    expect((await processed(approved.id)).outcome).toBe("approve: spec_approved");
    await h.waitForGate(runId, "phase_plan_approved");
    const asked = await sendWebhook(
      server.port,
      "issue_comment",
      comment(issue, "/devflow status", "mallory"),
    );
    expect((await processed(asked.id)).outcome).toBe("answered: status");
    expect(comments.at(-1)?.body).toContain(
      `**devflow** run \`${runId}\` (development@1) is **awaiting approval** at gate \`phase_plan_approved\`.`,
    );
    expect(comments.at(-1)?.body).toContain("| spec | completed | 1 |");
    const help = await sendWebhook(server.port, "issue_comment", comment(issue, "/devflow help"));
    await processed(help.id);
    expect(comments.at(-1)?.body).toContain("/devflow retry");
    const aborted = await sendWebhook(
      server.port,
      "issue_comment",
      comment(issue, "/devflow abort no longer needed"),
    );
    expect((await processed(aborted.id)).outcome).toBe("aborted");
    expect((await h.status(runId)).run).toMatchObject({
      state: "aborted",
      failure: { code: "aborted", message: "alice aborted the run: no longer needed" },
    });
    await h.waitFor("the report comment", async () =>
      published.find(
        (entry) =>
          entry.kind === "comment" && entry.body.startsWith(`<!-- devflow-report:${runId} -->`),
      ),
    );
  });

  it("/devflow retry and reject, the approvers list, and a bot's comment, review and button: each changes only what it should", async () => {
    const { runId, gate, pr } = await runAtSpecGate();
    const attempts = async () =>
      (await h.db.select().from(phaseAttempts).where(eq(phaseAttempts.runId, runId))).length;
    // A bot steers nothing, whichever way it tries.
    const botComment = comment(issue, "/devflow approve", "renovate[bot]");
    botComment.sender.type = "Bot";
    const fromBot = await sendWebhook(server.port, "issue_comment", botComment);
    expect((await processed(fromBot.id)).outcome).toBe("ignored: a bot's comment");
    const botReview = reviewPayload({
      repository: REPO,
      pullRequest: pr,
      id: 800_000 + issue,
      state: "approved",
      body: "LGTM",
      user: "dependabot[bot]",
    });
    botReview.review.user.type = "Bot";
    const reviewedByBot = await sendWebhook(server.port, "pull_request_review", botReview);
    expect((await processed(reviewedByBot.id)).outcome).toBe(
      "refused: dependabot[bot] may not decide gates",
    );
    const click = gateClickPayload({
      repository: REPO,
      externalId: `devflow-gate:${gate.id}`,
      sender: "github-actions[bot]",
    });
    click.sender.type = "Bot";
    const clickedByBot = await sendWebhook(server.port, "check_run", click);
    expect((await processed(clickedByBot.id)).outcome).toMatch(/^refused: github-actions\[bot\]/);
    expect((await h.status(runId)).approvals.map((a) => a.state)).toEqual(["pending"]);
    expect(await attempts()).toBe(1);

    // /devflow retry runs the phase at the gate again with the words as feedback.
    const retried = await sendWebhook(
      server.port,
      "issue_comment",
      comment(issue, "/devflow retry name the non-goals"),
    );
    expect((await processed(retried.id)).outcome).toBe("retry: spec_approved");
    await h.waitForGate(runId, "spec_approved");
    const [second] = (
      await h.db.select().from(phaseAttempts).where(eq(phaseAttempts.runId, runId))
    ).filter((attempt) => attempt.attempt === 2);
    expect(second?.feedback).toMatchObject({ actor: "alice", body: "name the non-goals" });

    // With approvers named, a writer who is not one is refused, and nothing changes.
    github.repoConfig = "approvers: [bob]\n";
    const notApprover = await sendWebhook(
      server.port,
      "issue_comment",
      comment(issue, "/devflow reject not like this"),
    );
    expect((await processed(notApprover.id)).outcome).toBe("refused: alice may not steer runs");
    expect(comments.at(-1)?.body).toContain(
      "only the approvers named in .github/devflow.yml (bob)",
    );
    expect((await h.status(runId)).run.state).toBe("awaiting_approval");
    // An approver's reject fails the run, with the reason in its report.
    const rejected = await sendWebhook(
      server.port,
      "issue_comment",
      comment(issue, "/devflow reject not like this", "bob"),
    );
    expect((await processed(rejected.id)).outcome).toBe("reject: spec_approved");
    const failed = await h.waitForState(runId, "failed");
    expect(failed.run.failure).toMatchObject({ code: "rejected" });
    expect(failed.run.failure?.message).toContain("not like this");
    expect(failed.report?.json).toMatchObject({ status: "failed" });
    // A failed run is not revised: it says why.
    const revise = await sendWebhook(
      server.port,
      "issue_comment",
      comment(issue, "/devflow revise try again", "bob"),
    );
    expect((await processed(revise.id)).outcome).toBe("refused: run_not_completed");
    expect(comments.at(-1)?.body).toContain("only a completed run can be revised");
  });

  it("a review: Request changes reruns the phase with the body and inline comments; Approve approves", async () => {
    const { runId, pr } = await runAtSpecGate();
    const review = (state: string, id: number, body: string, user = "bob") =>
      reviewPayload({ repository: REPO, pullRequest: pr, id, state, body, user });
    nock(API)
      .get(`/repos/octo/widgets/pulls/${pr}/reviews/555/comments`)
      .query(true)
      .reply(200, [{ path: "src/widget.ts", line: 12, body: "Handle an empty list." }]);
    const changes = await sendWebhook(
      server.port,
      "pull_request_review",
      review("changes_requested", 555, "Not yet."),
    );
    expect((await processed(changes.id)).outcome).toBe("changes_requested: spec_approved");
    await h.waitFor("the second spec attempt", async () => {
      const attempts = await h.db
        .select()
        .from(phaseAttempts)
        .where(eq(phaseAttempts.runId, runId));
      return attempts.find((attempt) => attempt.attempt === 2);
    });
    const [second] = (
      await h.db.select().from(phaseAttempts).where(eq(phaseAttempts.runId, runId))
    ).filter((attempt) => attempt.attempt === 2);
    expect(second?.feedback).toEqual({
      source: "review",
      actor: "bob",
      body: "Not yet.",
      comments: [{ path: "src/widget.ts", line: 12, body: "Handle an empty list." }],
    });
    await h.waitForGate(runId, "spec_approved");
    const approved = await sendWebhook(
      server.port,
      "pull_request_review",
      review("approved", 556, "Good."),
    );
    expect((await processed(approved.id)).outcome).toBe("approved: spec_approved");
    await h.waitForGate(runId, "phase_plan_approved");
  });

  it("a decision applies only to the gate its author saw: a replayed /devflow approve and a late review of an older commit change nothing, and say which gate is open", async () => {
    const { runId, pr } = await runAtSpecGate();
    const approval = comment(pr, "/devflow approve", "alice", true);
    const first = await sendWebhook(server.port, "issue_comment", approval);
    expect((await processed(first.id)).outcome).toBe("approve: spec_approved");
    await h.waitForGate(runId, "phase_plan_approved");
    // The same comment again, under a new delivery id (GitHub signs the body, not that header).
    const replayed = await sendWebhook(server.port, "issue_comment", approval);
    expect((await processed(replayed.id)).outcome).toBe("refused: approval_stale");
    expect(comments.at(-1)?.body).toBe(
      "Nothing changed: it already decided gate `spec_approved`; the open gate is `phase_plan_approved`.",
    );
    // A review of the spec's commit, delivered once the plan's gate is open.
    const specCommit = (
      await h.db
        .select()
        .from(phaseAttempts)
        .where(eq(phaseAttempts.runId, runId))
        .orderBy(asc(phaseAttempts.endedAt))
    ).find((attempt) => attempt.commitSha !== null)?.commitSha;
    const late = reviewPayload({
      repository: REPO,
      pullRequest: pr,
      id: 777,
      state: "approved",
      body: "LGTM",
      user: "bob",
    });
    late.review.commit_id = specCommit;
    const lateReview = await sendWebhook(server.port, "pull_request_review", late);
    expect((await processed(lateReview.id)).outcome).toBe("refused: approval_stale");
    expect(comments.at(-1)?.body).toMatch(
      /^The review did not decide the gate: it reviewed commit [0-9a-f]{7}, older than [0-9a-f]{7} that gate `phase_plan_approved` waits on; review the current changes\.$/,
    );
    const status = await h.status(runId);
    expect(status.approvals.find((gate) => gate.gateKey === "phase_plan_approved")?.state).toBe(
      "pending",
    );
    // A comment written now does decide it.
    const now = await sendWebhook(
      server.port,
      "issue_comment",
      comment(pr, "/devflow approve", "alice", true),
    );
    expect((await processed(now.id)).outcome).toBe("approve: phase_plan_approved");
  });

  it("authorization fails closed: an invalid config lets no one steer, approvers match case-insensitively, and requireIndependentApproval keeps the starter from approving alone", async () => {
    const { runId, pr } = await runAtSpecGate();
    github.repoConfig = "approvers: [Bob\n";
    const broken = await sendWebhook(
      server.port,
      "issue_comment",
      comment(pr, "/devflow approve", "alice", true),
    );
    expect((await processed(broken.id)).outcome).toBe("refused: alice may not steer runs");
    expect(comments.at(-1)?.body).toMatch(
      /^Thanks, @alice, but nothing changed: \.github\/devflow\.yml on main is invalid \(.*\), and until it is fixed devflow lets no one steer runs here\.$/,
    );
    // The run was started by alice (runAtSpecGate labels as alice).
    github.repoConfig = "approvers: [ALICE, Bob]\nrequireIndependentApproval: true\n";
    const own = await sendWebhook(
      server.port,
      "issue_comment",
      comment(pr, "/devflow approve", "alice", true),
    );
    expect((await processed(own.id)).outcome).toBe("refused: alice may not steer runs");
    expect(comments.at(-1)?.body).toContain(
      "this repository requires someone other than the person who started a run to approve its gates",
    );
    const other = await sendWebhook(
      server.port,
      "issue_comment",
      comment(pr, "/devflow approve", "bob", true),
    );
    expect((await processed(other.id)).outcome).toBe("approve: spec_approved");
    // Approvers match whatever the case: ALICE in the config is @alice.
    await h.waitForGate(runId, "phase_plan_approved");
    github.repoConfig = "approvers: [ALICE]\n";
    const cased = await sendWebhook(
      server.port,
      "issue_comment",
      comment(pr, "/devflow approve", "alice", true),
    );
    expect((await processed(cased.id)).outcome).toBe("approve: phase_plan_approved");
    github.repoConfig = null;
  });

  it("a check-run button finds its gate by the external id; closing the pull request aborts the run; labelling again starts a run on a branch and pull request of its own", async () => {
    const { runId, gate, pr } = await runAtSpecGate();
    const click = gateClickPayload({ repository: REPO, externalId: `devflow-gate:${gate.id}` });
    const sent = await sendWebhook(server.port, "check_run", click);
    expect((await processed(sent.id)).outcome).toBe("approve: spec_approved");
    const closed = example("pull_request", "closed");
    closed.pull_request = { ...closed.pull_request, number: pr, merged: false };
    closed.repository = { ...closed.repository, full_name: REPO };
    const close = await sendWebhook(server.port, "pull_request", closed);
    expect((await processed(close.id)).outcome).toBe("aborted: pull request closed");
    const aborted = await h.status(runId);
    expect(aborted.run.state).toBe("aborted");
    // The issue again: a new run, which neither builds on the old branch nor takes
    // over the closed pull request.
    const again = await sendWebhook(server.port, "issues", labeled(issue));
    const secondId = (await processed(again.id)).runId ?? "";
    expect(secondId).not.toBe(runId);
    await h.waitForGate(secondId, "spec_approved");
    const second = await h.waitFor("the second run's pull request", async () => {
      const status = await h.status(secondId);
      return status.run.pullRequestNumber === null ? undefined : status.run;
    });
    expect(second.branch).toBe(`${aborted.run.branch}-run2`);
    expect(second.pullRequestNumber).not.toBe(pr);
  });
});

describe("the whole story", () => {
  // Its own devflow and server, with the GitHub access as production has it (reads
  // cached for a minute), so that what one run costs is counted alone.
  let story: Harness;
  let storyServer: GitHubServer;
  beforeAll(async () => {
    // Phases are shown once they ended: a loaded machine (a phase past 5 s) must not
    // add a "running" write to what the budget counts.
    ({ h: story, server: storyServer } = await startWebhookHarness({
      waitTimeoutMs: 90_000,
      jobs: { showRunningAfterMs: 600_000 },
    }));
  });
  afterAll(async () => {
    await storyServer?.stop();
    await story?.stop();
  });

  it("label → draft PR → Approve review → check-run button → planned phases → report comment, PR ready; within its GitHub request budget", async () => {
    issue += 1;
    // Two decisions, as the budget was set for: the implementation's own gate is off
    // here (the next test has it, and what it adds).
    github.repoConfig = "gates:\n  implementation: false\n";
    const body = 'Add a widget.\n<!-- devflow-scripted: {"phase_plan":"two-phases"} -->';
    const sent = await sendWebhook(
      storyServer.port,
      "issues",
      labeled(issue, "alice", "devflow", body, STORY),
    );
    const runId = (await processed(sent.id, story)).runId ?? "";
    const pr = await story.waitFor("the draft pull request", async () => {
      const [run] = await story.db
        .select({ pr: runs.pullRequestNumber })
        .from(runs)
        .where(eq(runs.id, runId));
      return run?.pr ?? undefined;
    });
    const branch = (await story.status(runId)).run.branch;
    const opened = published.find(
      (entry) => entry.kind === "pull" && entry.body.includes(`"head":"${branch}"`),
    );
    expect(JSON.parse(opened?.body ?? "{}")).toMatchObject({
      draft: true,
      base: "main",
      head: expect.stringMatching(/^devflow\/\d+-widget-\d+$/),
      title: `devflow: Widget ${issue}`,
      body: expect.stringContaining(`Closes #${issue}`),
    });
    expect(published.find((entry) => entry.kind === "reaction")?.body).toBe(
      JSON.stringify({ content: "eyes" }),
    );
    const checkBodies = () =>
      published
        .filter(
          (entry) =>
            (entry.kind === "check" || entry.kind === "check-update") && entry.repository === STORY,
        )
        .map(
          (entry) =>
            JSON.parse(entry.body) as {
              external_id: string;
              name: string;
              status: string;
              conclusion?: string;
              actions: { identifier: string }[];
            },
        );
    const spec = await story.waitForGate(runId, "spec_approved");
    expect(spec.state).toBe("pending");
    // The spec's gate is on the spec's own check: action required, with the buttons.
    const specCheck = await story.waitFor("the spec check asking for a decision", async () =>
      checkBodies().find((check) => check.external_id === `devflow-gate:${spec.id}`),
    );
    expect(specCheck).toMatchObject({
      name: "devflow / spec",
      status: "completed",
      conclusion: "action_required",
    });

    const review = reviewPayload({
      repository: STORY,
      pullRequest: pr,
      id: 900 + issue,
      state: "approved",
      body: "Spec is right.",
      user: "bob",
    });
    await processed((await sendWebhook(storyServer.port, "pull_request_review", review)).id, story);

    const plan = await story.waitForGate(runId, "phase_plan_approved");
    // The click carries the external id of the check devflow published for the gate.
    const gateCheck = await story.waitFor("the plan's check asking for a decision", async () =>
      checkBodies().find((check) => check.external_id === `devflow-gate:${plan.id}`),
    );
    expect(gateCheck).toMatchObject({
      name: "devflow / phase_plan",
      status: "completed",
      conclusion: "action_required",
    });
    expect(gateCheck.actions.map((action) => action.identifier)).toEqual([
      "approve",
      "request_changes",
      "reject",
    ]);
    const click = gateClickPayload({ repository: STORY, externalId: gateCheck.external_id });
    await processed((await sendWebhook(storyServer.port, "check_run", click)).id, story);

    const done = await story.waitForState(runId, "completed", 60_000);
    expect(done.phases.map((phase) => phase.phaseKey)).toEqual([
      "spec",
      "phase_plan",
      "backend",
      "review",
      "implement",
    ]);
    const report = await story.waitFor("the report comment on the pull request", async () =>
      published.find(
        (entry) =>
          entry.kind === "comment" &&
          entry.issue === pr &&
          entry.body.startsWith(`<!-- devflow-report:${runId} -->`),
      ),
    );
    expect(report.body).toContain("✅ completed");
    const nodeId = github.pulls.find((pull) => pull.head === branch)?.node_id ?? "?";
    await story.waitFor("the pull request marked ready", async () =>
      published.find((entry) => entry.kind === "graphql" && entry.body.includes(`"${nodeId}"`)),
    );
    const last = (name: string) =>
      checkBodies()
        .filter((check) => check.name === name)
        .at(-1);
    await story.waitFor(
      "the summary check to succeed",
      async () => last("devflow")?.conclusion === "success" || undefined,
    );
    for (const phase of ["spec", "phase_plan", "backend", "review", "implement"])
      expect(last(`devflow / ${phase}`), phase).toMatchObject({
        status: "completed",
        conclusion: "success",
      });
    const status = await story.waitFor("the status comment to say how the run ended", async () =>
      published
        .filter((entry) => entry.body.startsWith(`<!-- devflow-status:${runId} -->`))
        .find((entry) => entry.body.includes("is **completed**")),
    );
    expect(status.body).toContain("| implement | completed | 1 |");
    expect(
      published.filter(
        (entry) =>
          entry.kind === "comment" && entry.body.startsWith(`<!-- devflow-status:${runId}`),
      ),
    ).toHaveLength(1);

    // Let the last publish settle, then count what the whole run cost at the fake GitHub.
    await story.waitFor("publishing to settle", async () => {
      const jobs = await story.devflow.boss.findJobs("run-publish", { queued: true });
      // A publish asked for later (to show a phase that is long over by then) is not due.
      return jobs.every((job) => new Date(job.startAfter).getTime() > Date.now() + 60_000);
    });
    await sleep(500);
    // Runs of the tests above may still publish to the same fake GitHub: this run's
    // requests are those on its repository, the tokens, and GraphQL for its pull request.
    const graphql = published.filter(
      (entry) => entry.kind === "graphql" && entry.body.includes(`"${nodeId}"`),
    );
    const requests = [
      ...calls.filter(
        (call) => call.includes(`/repos/${STORY}/`) || call.includes("/access_tokens"),
      ),
      ...graphql.map(() => "POST /graphql"),
    ];
    const writes = requests.filter(
      (call) => !call.startsWith("GET ") && !call.includes("/access_tokens"),
    );
    console.log(
      `GitHub requests for one development@1 run with two planned phases: ${requests.length}, of which writes ${writes.length}\n  ${requests.join("\n  ")}`,
    );
    // The budget (docs/github.md): 14 writes — the reaction, the draft pull request,
    // one check per phase (5) and an update for each decided gate (2), the summary
    // check, the status comment and its final words, the report, ready for review —
    // and the reads: a config, a permission per person, installation tokens. (The
    // delivery reconciler's GET /app/hook/deliveries is the process's, not the run's.)
    expect(writes.length).toBeLessThanOrEqual(14);
    expect(requests.length).toBeLessThanOrEqual(20);
  }, 240_000);

  it("a completed run revised twice by Request-changes reviews with inline comments: each revision's prompt holds them, the PR goes draft and ready again, the report has both", async () => {
    issue += 1;
    const repository = "octo/revised";
    github.repoConfig = "gates:\n  implementation: false\n";
    const sent = await sendWebhook(
      storyServer.port,
      "issues",
      labeled(issue, "alice", "devflow", "Add a widget.", repository),
    );
    const runId = (await processed(sent.id, story)).runId ?? "";
    const pr = await story.waitFor(
      "the pull request",
      async () => (await story.status(runId)).run.pullRequestNumber ?? undefined,
    );
    let reviewId = 7000 + issue * 10;
    const review = async (state: string, body: string) => {
      reviewId += 1;
      const payload = reviewPayload({
        repository,
        pullRequest: pr,
        id: reviewId,
        state,
        body,
        user: "bob",
      });
      return processed(
        (await sendWebhook(storyServer.port, "pull_request_review", payload)).id,
        story,
      );
    };
    await story.waitForGate(runId, "spec_approved");
    await review("approved", "Spec is right.");
    await story.waitForGate(runId, "phase_plan_approved");
    await review("approved", "Plan is right.");
    await story.waitForState(runId, "completed", 60_000);
    const nodeId = () => github.pulls.find((pull) => pull.number === pr)?.node_id ?? "?";
    const mutations = () =>
      published
        .filter((entry) => entry.kind === "graphql" && entry.body.includes(`"${nodeId()}"`))
        .map((entry) =>
          entry.body.includes("convertPullRequestToDraft")
            ? "draft"
            : entry.body.includes("markPullRequestReadyForReview")
              ? "ready"
              : "other",
        );
    await story.waitFor("ready for review", async () => mutations().includes("ready") || undefined);

    const prompts: string[] = [];
    for (const [n, words] of [
      [1, "Call it a gadget."],
      [2, "And sort the list."],
    ] as const) {
      const line = 10 + n;
      nock(API)
        .get(`/repos/${repository}/pulls/${pr}/reviews/${reviewId + 1}/comments`)
        .query(true)
        .reply(200, [{ path: "src/widget.ts", line, body: `Inline note ${n}.` }]);
      const outcome = await review("changes_requested", words);
      expect(outcome.outcome).toBe(`changes_requested: revision ${n}`);
      await story.waitFor(
        `revision ${n} to complete`,
        async () => {
          const status = await story.status(runId);
          return (
            (status.run.state === "completed" &&
              status.revisions === n &&
              status.finishedBranch !== null &&
              mutations().filter((m) => m === "ready").length === n + 1) ||
            undefined
          );
        },
        60_000,
      );
      // The attempt the revision started was given the review's words and inline comments.
      const [attempt] = await story.db
        .select()
        .from(phaseAttempts)
        .where(and(eq(phaseAttempts.runId, runId), eq(phaseAttempts.attempt, n + 1)));
      expect(attempt?.feedback).toEqual({
        source: "revision",
        actor: "bob",
        body: words,
        comments: [{ path: "src/widget.ts", line, body: `Inline note ${n}.` }],
      });
      const [execution] = await story.db
        .select({ id: runnerExecutions.id })
        .from(runnerExecutions)
        .where(eq(runnerExecutions.attemptId, attempt?.id ?? ""));
      prompts.push(
        readFileSync(join(story.executionsDir, execution?.id ?? "", "prompt.md"), "utf8"),
      );
    }
    expect(prompts[1]).toContain("And sort the list.");
    expect(prompts[1]).toContain("src/widget.ts");
    expect(prompts[1]).toContain("Inline note 2.");
    // Ready, then draft and ready again for each revision.
    expect(mutations()).toEqual(["ready", "draft", "ready", "draft", "ready"]);
    const report = (await story.status(runId)).report?.markdown ?? "";
    expect(report).toContain("## Revision 1, asked by @bob");
    expect(report).toContain("> Call it a gadget.");
    expect(report).toContain("## Revision 2, asked by @bob");
    expect(report).toContain("> And sort the list.");
    const comment = await story.waitFor("the report comment with both revisions", async () =>
      published
        .filter((entry) => entry.body.startsWith(`<!-- devflow-report:${runId} -->`))
        .find((entry) => entry.body.includes("## Revision 2")),
    );
    expect(comment.body).toContain("## Revision 1");
    // A comment review changes nothing; /devflow revise on the pull request revises.
    expect((await review("commented", "Nice.")).outcome).toBe("ignored: a commented review");
    const say = async (text: string, id: number) => {
      const payload = example("issue_comment", "created");
      payload.comment = {
        ...payload.comment,
        id,
        body: text,
        created_at: new Date().toISOString(),
      };
      payload.issue = { ...payload.issue, number: pr, pull_request: { url: "x" } };
      payload.repository = { ...payload.repository, full_name: repository, default_branch: "main" };
      payload.sender = { ...payload.sender, login: "bob", type: "User" };
      payload.installation = { id: INSTALLATION_ID, node_id: "x" };
      return processed((await sendWebhook(storyServer.port, "issue_comment", payload)).id, story);
    };
    expect((await say("/devflow revise", 990_001 + issue)).outcome).toBe(
      "refused: revise without words",
    );
    expect((await say("/devflow revise use tabs", 990_002 + issue)).outcome).toBe(
      "revise: revision 3",
    );
    const [third] = await story.db
      .select()
      .from(phaseAttempts)
      .where(and(eq(phaseAttempts.runId, runId), eq(phaseAttempts.attempt, 4)));
    expect(third?.feedback).toMatchObject({ source: "revision", actor: "bob", body: "use tabs" });
    // The test ends with its run's writes: the next test's fake GitHub would record them.
    await story.waitFor(
      "revision 3 to complete",
      async () => {
        const status = await story.status(runId);
        return (
          (status.run.state === "completed" &&
            status.revisions === 3 &&
            mutations().filter((m) => m === "ready").length === 4) ||
          undefined
        );
      },
      60_000,
    );
  }, 240_000);

  it("the implementation gate: the pull request is marked ready only once a person approves the implementation", async () => {
    issue += 1;
    const repository = "octo/gated";
    const sent = await sendWebhook(
      storyServer.port,
      "issues",
      labeled(issue, "alice", "devflow", "Add a widget.", repository),
    );
    const runId = (await processed(sent.id, story)).runId ?? "";
    const approveByReview = async (gate: string, n: number) => {
      await story.waitForGate(runId, gate);
      const pr = await story.waitFor(
        "the pull request",
        async () => (await story.status(runId)).run.pullRequestNumber ?? undefined,
      );
      const review = reviewPayload({
        repository,
        pullRequest: pr,
        id: 5000 + issue * 10 + n,
        state: "approved",
        body: "Looks right.",
        user: "bob",
      });
      await processed(
        (await sendWebhook(storyServer.port, "pull_request_review", review)).id,
        story,
      );
    };
    await story.waitForGate(runId, "spec_approved");
    // The person at the spec gate reads the spec on its check.
    const specCheck = await story.waitFor("the spec's check", async () =>
      published.find(
        (entry) =>
          entry.kind === "check" &&
          entry.repository === repository &&
          entry.body.includes('"name":"devflow / spec"'),
      ),
    );
    const specOutput = (JSON.parse(specCheck.body) as { output: { text?: string } }).output;
    expect(specOutput.text).toContain("## Acceptance criteria");
    expect(specOutput.text).toContain("## Open questions");
    await approveByReview("spec_approved", 1);
    await approveByReview("phase_plan_approved", 2);
    const gate = await story.waitForGate(runId, "implementation_approved");
    const implementCheck = await story.waitFor("the implementation's check asking", async () =>
      published.find(
        (entry) =>
          entry.kind === "check" &&
          entry.repository === repository &&
          entry.body.includes(`"devflow-gate:${gate.id}"`),
      ),
    );
    expect(JSON.parse(implementCheck.body)).toMatchObject({
      name: "devflow / implement",
      conclusion: "action_required",
    });
    const branch = (await story.status(runId)).run.branch;
    const nodeId = github.pulls.find((pull) => pull.head === branch)?.node_id ?? "?";
    const ready = () =>
      published.find((entry) => entry.kind === "graphql" && entry.body.includes(`"${nodeId}"`));
    await sleep(1_000);
    expect(ready(), "ready for review before the implementation was approved").toBeUndefined();
    expect((await story.status(runId)).run.state).toBe("awaiting_approval");

    await approveByReview("implementation_approved", 3);
    await story.waitForState(runId, "completed", 60_000);
    const marked = await story.waitFor("the pull request marked ready", async () => ready());
    // The body, rewritten in the same request, leads with what was built.
    const { variables } = JSON.parse(marked.body) as { variables: { body: string } };
    expect(variables.body).toMatch(/^Closes #\d+\n\n## What was built\n/);
    expect(variables.body).toContain("### Tests");
    const finished = (await story.status(runId)).finishedBranch;
    expect(finished).toMatchObject({ tidied: true, reportCommit: expect.any(String) });
    // The report and the artifacts are in the report's commit; the head has none of them.
    const directory = `.devflow/runs/${runId}`;
    const atReport = git(
      remote,
      "ls-tree",
      "--name-only",
      finished?.reportCommit ?? "",
      `${directory}/`,
    );
    expect(atReport.split("\n")).toEqual(
      expect.arrayContaining([
        `${directory}/report.md`,
        `${directory}/report.json`,
        `${directory}/spec.json`,
      ]),
    );
    const reportJson = JSON.parse(
      git(remote, "show", `${finished?.reportCommit}:${directory}/report.json`),
    );
    expect(reportJson).toMatchObject({
      status: "completed",
      work: { summary: expect.any(String) },
    });
    expect(git(remote, "rev-parse", `refs/heads/${branch}`).trim()).toBe(finished?.headCommit);
    expect(git(remote, "ls-tree", "-r", "--name-only", branch)).not.toContain(".devflow/runs/");
    const reportComment = await story.waitFor("the report comment", async () =>
      published.find(
        (entry) =>
          entry.kind === "comment" && entry.body.startsWith(`<!-- devflow-report:${runId} -->`),
      ),
    );
    expect(reportComment.body).toContain("## What was built");
    expect(reportComment.body).toContain(`in commit ${finished?.reportCommit}`);
    expect(reportComment.body).toMatch(/\| implement \| completed \| 1 \| [\d.]+ s \| [\d.]+ s \|/);
    await story.waitFor("publishing to settle", async () => {
      const jobs = await story.devflow.boss.findJobs("run-publish", { queued: true });
      return jobs.every((job) => new Date(job.startAfter).getTime() > Date.now() + 60_000);
    });
    await sleep(500);
    const writes = calls.filter(
      (call) => call.includes(`/repos/${repository}/`) && !call.startsWith("GET "),
    );
    // Three phases, three gates, REST writes: the reaction, the pull request, a check
    // per phase and an update for each decided gate (6), the summary check, the status
    // comment and its final words, the report. (Ready for review is GraphQL.) A gate
    // costs one write more than a phase without one: its decision.
    expect(writes.length, writes.join("\n")).toBeLessThanOrEqual(12);
  }, 240_000);
});
