import { fileURLToPath } from "node:url";
import { eq } from "drizzle-orm";
import nock from "nock";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { webhookDeliveries } from "../../src/db/schema/index.ts";
import type { GitHubServer } from "../../src/github/start-github-server.ts";
import { createProcessRunner } from "../../src/runner/backends/process-runner.ts";
import { type FakeGitHub, fakeGitHub } from "../helpers/fake-github.ts";
import { createBareRemote, git } from "../helpers/git-fixtures.ts";
import { gateClickPayload, labeledPayload, sendWebhook } from "../helpers/github-fixtures.ts";
import { CLOSING, MENTION, readAsGitHub } from "../helpers/github-reading.ts";
import type { Harness } from "../helpers/harness.ts";
import { startWebhookHarness } from "../helpers/webhook-harness.ts";

const spoofer = fileURLToPath(new URL("../fixtures/agents/publish-spoofer.mjs", import.meta.url));

let h: Harness;
let server: GitHubServer;
let stop: () => Promise<void>;
let github: FakeGitHub;

beforeAll(async () => {
  nock.disableNetConnect();
  nock.enableNetConnect("127.0.0.1");
  github = fakeGitHub();
  // Run 1 completes without the implementation's own gate.
  github.repoConfig = "gates:\n  implementation: false\n";
  ({ h, server, stop } = await startWebhookHarness({
    runner: createProcessRunner({ killGraceMs: 500 }),
    jobs: {
      attemptTimeoutSeconds: 60,
      defaultAgent: "command",
      agentOptions: { command: `node ${spoofer} {prompt} {output}` },
      // Every phase is shown once it ended: no "running" writes to wait for.
      showRunningAfterMs: 600_000,
    },
    waitTimeoutMs: 90_000,
  }));
}, 120_000);

afterAll(async () => {
  await stop?.();
  nock.cleanAll();
  nock.enableNetConnect();
});

const processed = (id: string) =>
  h.waitFor(`delivery ${id} processed`, async () => {
    const [row] = await h.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.id, id));
    return row?.processedAt ? row : undefined;
  });

async function label(repository: string, issue: number, remote: string, plot: string) {
  const payload = labeledPayload({
    issue,
    repository,
    cloneUrl: remote,
    body: `Build the widget.\n\nSPOOF-PLOT:${plot}\n`,
  });
  const sent = await sendWebhook(server.port, "issues", payload);
  return (await processed(sent.id)).runId ?? "";
}

async function click(repository: string, approvalId: string, action = "approve") {
  const payload = gateClickPayload({
    repository,
    externalId: `devflow-gate:${approvalId}`,
    action,
  });
  await processed((await sendWebhook(server.port, "check_run", payload)).id);
}

/** Every text devflow published for one run: its comments, pull request bodies and check outputs. */
function publishedFor(repository: string, runId: string) {
  const texts: { where: string; text: string }[] = [];
  const marked = (text: string | undefined, kinds: string[]) =>
    text !== undefined && kinds.some((kind) => text.includes(`<!-- devflow-${kind}:${runId} -->`));
  for (const entry of github.published) {
    if (
      (entry.kind === "comment" || entry.kind === "update") &&
      marked(entry.body, ["status", "report"])
    )
      texts.push({ where: "comment", text: entry.body });
    if (entry.kind === "pull" || entry.kind === "graphql") {
      const body = JSON.parse(entry.body) as { body?: string; variables?: { body?: string } };
      const text = body.body ?? body.variables?.body;
      if (text !== undefined && marked(text, ["run"])) texts.push({ where: "pull", text });
    }
    if (
      (entry.kind === "check" || entry.kind === "check-update") &&
      entry.repository === repository
    ) {
      const body = JSON.parse(entry.body) as {
        output?: { title?: string; summary?: string; text?: string };
      };
      for (const part of [body.output?.title, body.output?.summary, body.output?.text]) {
        if (part !== undefined) texts.push({ where: "check", text: part });
      }
    }
  }
  return texts;
}

/** What GitHub would act on in a published text, beyond devflow's own words and markers. */
function expectInert(where: string, text: string, runId: string, issue: number): void {
  const own = text
    .replace(new RegExp(`^Closes #${issue}\n`), "")
    .replaceAll(new RegExp(`<!-- devflow-(?:run|status|report):${runId} -->`, "g"), "");
  // As written (stricter than GitHub: inside code too) and as GitHub renders it.
  expect(own, `${where}: a mention`).not.toMatch(MENTION);
  expect(own, `${where}: a closing keyword`).not.toMatch(CLOSING);
  expect(own, `${where}: an image`).not.toContain("![");
  const reading = readAsGitHub(own);
  expect(reading.mentions, `${where}: a rendered mention`).toEqual([]);
  expect(reading.closings, `${where}: a rendered closing keyword`).toEqual([]);
  expect(reading.rawTags, `${where}: raw HTML`).toEqual([]);
  expect(reading.codeBlocks, `${where}: a code block outside the agent's quote`).toEqual([]);
  // devflow's sections, each once; none of the agent's.
  expect(new Set(reading.headings).size, `${where}: ${reading.headings.join(" | ")}`).toBe(
    reading.headings.length,
  );
  const report = reading.headings.filter((heading) => heading.startsWith("devflow run report"));
  expect(report.length, `${where}: a second report heading`).toBeLessThanOrEqual(1);
}

/** The run branch's commit messages on the remote, newest first. */
function commits(
  remote: string,
  branch: string,
): { subject: string; message: string; sha: string }[] {
  return git(remote, "log", "--format=%H%x1f%s%x1f%B%x1e", branch)
    .split("\x1e")
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "")
    .map((entry) => {
      const [sha = "", subject = "", message = ""] = entry.split("\x1f");
      return { sha, subject, message };
    });
}

function expectInertCommits(remote: string, branch: string): void {
  for (const commit of commits(remote, branch)) {
    expect(commit.message, `commit ${commit.subject}: a mention`).not.toMatch(MENTION);
    expect(commit.message, `commit ${commit.subject}: a closing keyword`).not.toMatch(CLOSING);
  }
}

describe("what an agent writes, published on GitHub and pushed", () => {
  it("a run whose agent spoofs every field: its PR body, comments, checks and commits mention no one, close nothing, load nothing, add no section; its NUL error leaves committed partial work", async () => {
    const repository = "octo/spoof-complete";
    const issue = 41;
    const remote = createBareRemote();
    const runId = await label(repository, issue, remote, "complete");
    await click(repository, (await h.waitForGate(runId, "spec_approved")).id);
    await click(repository, (await h.waitForGate(runId, "phase_plan_approved")).id);
    // The planned phase fails three times: a person must decide, told why.
    const exhausted = await h.waitForGate(runId, "attempts_exhausted", 120_000);
    await h.waitFor("the status comment asking a person", async () =>
      github.published.find(
        (entry) =>
          entry.body.startsWith(`<!-- devflow-status:${runId} -->`) &&
          entry.body.includes("A person must decide"),
      ),
    );
    await click(repository, exhausted.id, "request_changes");
    const done = await h.waitForState(runId, "completed", 120_000);
    await h.waitFor("the pull request's final body", async () =>
      publishedFor(repository, runId).find(
        (entry) => entry.where === "pull" && entry.text.includes("## What was built"),
      ),
    );
    await h.waitFor("the report comment", async () =>
      github.published.find((entry) => entry.body.startsWith(`<!-- devflow-report:${runId} -->`)),
    );
    await h.waitFor("the summary check", async () =>
      github.published.find(
        (entry) => entry.repository === repository && entry.body.includes('"name":"devflow"'),
      ),
    );

    const texts = publishedFor(repository, runId);
    // Not vacuous: the agent's words are there, in every kind of place.
    for (const where of ["pull", "comment", "check"]) {
      expect(
        texts.some((entry) => entry.where === where && entry.text.includes("tracker.example")),
        where,
      ).toBe(true);
    }
    expect(texts.some((entry) => entry.text.includes("A person must decide"))).toBe(true);
    for (const entry of texts) expectInert(entry.where, entry.text, runId, issue);

    // The commits on the remote: the planned phase's title and the agent's NUL error.
    const pushed = commits(remote, done.run.branch);
    const partials = pushed.filter((commit) =>
      commit.subject.startsWith("devflow(fixup): partial work of"),
    );
    expect(partials.map((commit) => commit.subject.slice(-11))).toEqual([
      "(attempt 3)",
      "(attempt 2)",
      "(attempt 1)",
    ]);
    const partial = partials.at(-1);
    expect(partial?.message).toContain("half done\uFFFD");
    expect(git(remote, "show", `${partial?.sha}:partial.txt`)).toBe("attempt 1");
    expect(pushed.some((commit) => /^devflow\(fixup\): Fi.*xes #2/.test(commit.subject))).toBe(
      true,
    );
    expectInertCommits(remote, done.run.branch);
  }, 300_000);

  it("a run that fails on a fatal error naming a code with a backtick: the report, status comment and checks keep it in its code span; its partial work is committed", async () => {
    const repository = "octo/spoof-fatal";
    const issue = 42;
    const remote = createBareRemote();
    const runId = await label(repository, issue, remote, "fatal");
    const failed = await h.waitForState(runId, "failed", 120_000);
    expect(failed.run.failure?.code).toBe("bad`code @octocat");
    const report = await h.waitFor("the report comment", async () =>
      github.published.find((entry) => entry.body.startsWith(`<!-- devflow-report:${runId} -->`)),
    );
    const status = await h.waitFor("the status comment saying it failed", async () =>
      github.published.find(
        (entry) =>
          entry.body.startsWith(`<!-- devflow-status:${runId} -->`) &&
          entry.body.includes("is **failed**"),
      ),
    );
    await h.waitFor("the summary check", async () =>
      github.published.find(
        (entry) => entry.repository === repository && entry.body.includes('"name":"devflow"'),
      ),
    );
    // The code stays whole inside a code span longer than its own backtick.
    for (const body of [report.body, status.body]) {
      expect(body).toMatch(/(`{2,}) ?bad`code @\u200boctocat ?\1(?!`)/);
      expect(body).toContain("tracker.example");
    }
    const texts = publishedFor(repository, runId);
    expect(texts.some((entry) => entry.where === "check" && entry.text.includes("gave up"))).toBe(
      true,
    );
    for (const entry of texts) expectInert(entry.where, entry.text, runId, issue);
    const partial = commits(remote, failed.run.branch).find((commit) =>
      commit.subject.startsWith("devflow(spec): partial work of Specification (attempt 1)"),
    );
    expect(partial?.message).toContain("gave up\uFFFD");
    expectInertCommits(remote, failed.run.branch);
  }, 180_000);
});
