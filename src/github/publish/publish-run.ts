import { createHash } from "node:crypto";
import { and, desc, eq, isNotNull } from "drizzle-orm";
import type { Logger } from "pino";
import type { ProbotOctokit } from "probot";
import type { Db } from "../../db/client.ts";
import {
  githubPublications,
  isTerminal,
  type PublishedState,
  phaseAttempts,
  runs,
} from "../../db/schema/index.ts";
import type { Engine } from "../../engine/create-engine.ts";
import type { GitHubAccess } from "../github-access.ts";
import { reconcileCheckRuns } from "./reconcile-check-runs.ts";
import { COMMENT_LIMIT, cut, renderPullRequestBody, renderRunStatus } from "./render-run-status.ts";

export interface PublishRunDeps {
  db: Db;
  engine: Engine;
  github: GitHubAccess;
  log: Logger;
}

function hash(text: string): string {
  return createHash("sha256").update(text).digest("hex").slice(0, 16);
}

/** Creates or updates one comment by its stored id; writes nothing when its text did not change. */
async function reconcileComment(
  octokit: ProbotOctokit,
  target: { owner: string; repo: string; number: number },
  body: string,
  known: { id: number; hash: string } | undefined,
): Promise<{ id: number; hash: string }> {
  const digest = hash(body);
  if (known !== undefined) {
    if (known.hash !== digest) {
      await octokit.rest.issues.updateComment({
        owner: target.owner,
        repo: target.repo,
        comment_id: known.id,
        body,
      });
    }
    return { id: known.id, hash: digest };
  }
  const { data } = await octokit.rest.issues.createComment({
    owner: target.owner,
    repo: target.repo,
    issue_number: target.number,
    body,
  });
  return { id: data.id, hash: digest };
}

/**
 * Shows a run's state on GitHub by reconciling it with what was published
 * before, in the order people need it: the 👀 reaction, the issue's status
 * comment, the draft pull request (once the run branch has a commit), the check
 * runs (one per phase, one per gate with its buttons, and the summary `devflow`),
 * the final report as one comment, and the pull request marked ready when the run
 * completed.
 * Each step stores its external id before the next, so a retry picks up where a
 * failure stopped and never creates anything twice.
 */
export async function publishRun(deps: PublishRunDeps, runId: string): Promise<void> {
  const status = await deps.engine.getRunStatus(runId);
  const { run } = status;
  if (run.installationId === null) return;
  const [owner, repo] = run.repository.split("/") as [string, string];
  const octokit = await deps.github.octokitFor(run.installationId);
  const [row] = await deps.db
    .select()
    .from(githubPublications)
    .where(eq(githubPublications.runId, runId));
  const state: PublishedState = { ...(row?.state ?? {}) };
  const save = async () => {
    await deps.db
      .insert(githubPublications)
      .values({ runId, state })
      .onConflictDoUpdate({
        target: githubPublications.runId,
        set: { state, updatedAt: new Date() },
      });
  };
  const issue = { owner, repo, number: run.issueNumber };

  if (state.reacted !== true) {
    await octokit.rest.reactions.createForIssue({
      owner,
      repo,
      issue_number: run.issueNumber,
      content: "eyes",
    });
    state.reacted = true;
    await save();
  }

  let pullRequestNumber = run.pullRequestNumber;
  if (pullRequestNumber === null) {
    const [committed] = await deps.db
      .select({ sha: phaseAttempts.commitSha })
      .from(phaseAttempts)
      .where(and(eq(phaseAttempts.runId, runId), isNotNull(phaseAttempts.commitSha)))
      .limit(1);
    if (committed !== undefined) {
      const body = renderPullRequestBody(status);
      const pullRequest = await openPullRequest(octokit, { owner, repo, run, body });
      pullRequestNumber = pullRequest.number;
      state.pullRequestNodeId = pullRequest.nodeId;
      state.pullRequestBodyHash = hash(body);
      await deps.db.update(runs).set({ pullRequestNumber }).where(eq(runs.id, runId));
      await save();
    }
  }

  if (pullRequestNumber !== null) {
    const body = renderPullRequestBody(status);
    if (hash(body) !== state.pullRequestBodyHash) {
      await octokit.rest.pulls.update({ owner, repo, pull_number: pullRequestNumber, body });
      state.pullRequestBodyHash = hash(body);
      await save();
    }
  }

  const publishComment = async (
    key: "status" | "report",
    target: { owner: string; repo: string; number: number },
    body: string,
  ) => {
    const known = state.comments?.[key];
    const result = await reconcileComment(octokit, target, body, known);
    if (result.id !== known?.id || result.hash !== known.hash) {
      state.comments = { ...state.comments, [key]: result };
      await save();
    }
  };
  await publishComment("status", issue, renderRunStatus(status, pullRequestNumber));

  const [head] = await deps.db
    .select({ sha: phaseAttempts.commitSha })
    .from(phaseAttempts)
    .where(and(eq(phaseAttempts.runId, runId), isNotNull(phaseAttempts.commitSha)))
    .orderBy(desc(phaseAttempts.endedAt))
    .limit(1);
  if (head?.sha != null) {
    const checkRuns = await reconcileCheckRuns(
      octokit,
      { owner, repo },
      status,
      head.sha,
      state.checkRuns ?? {},
    );
    if (JSON.stringify(checkRuns) !== JSON.stringify(state.checkRuns ?? {})) {
      state.checkRuns = checkRuns;
      await save();
    }
  }

  if (isTerminal(run.state) && status.report !== null) {
    const body = cut(
      `<!-- devflow-report:${runId} -->\n${status.report.markdown}`,
      COMMENT_LIMIT,
      `\`${status.report.path}\` on branch \`${run.branch}\``,
    );
    await publishComment(
      "report",
      pullRequestNumber === null ? issue : { owner, repo, number: pullRequestNumber },
      body,
    );
  }

  if (
    run.state === "completed" &&
    pullRequestNumber !== null &&
    state.readyForReview !== true &&
    state.pullRequestNodeId !== undefined
  ) {
    await octokit.graphql(
      "mutation($id: ID!) { markPullRequestReadyForReview(input: { pullRequestId: $id }) { pullRequest { isDraft } } }",
      { id: state.pullRequestNodeId },
    );
    state.readyForReview = true;
    await save();
  }
}

/** Opens the run's draft pull request, or finds the one an earlier try opened. */
async function openPullRequest(
  octokit: ProbotOctokit,
  {
    owner,
    repo,
    run,
    body,
  }: {
    owner: string;
    repo: string;
    run: { branch: string; baseBranch: string; issueTitle: string };
    body: string;
  },
): Promise<{ number: number; nodeId: string }> {
  try {
    const { data } = await octokit.rest.pulls.create({
      owner,
      repo,
      head: run.branch,
      base: run.baseBranch,
      draft: true,
      title: `devflow: ${run.issueTitle}`,
      body,
    });
    return { number: data.number, nodeId: data.node_id };
  } catch (error) {
    if ((error as { status?: number }).status !== 422) throw error;
    const { data } = await octokit.rest.pulls.list({
      owner,
      repo,
      head: `${owner}:${run.branch}`,
      state: "all",
      per_page: 1,
    });
    const existing = data[0];
    if (existing === undefined) throw error;
    return { number: existing.number, nodeId: existing.node_id };
  }
}
