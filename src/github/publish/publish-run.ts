import { createHash } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import type { ProbotOctokit } from "probot";
import type { Db } from "../../db/client.ts";
import { githubPublications, isTerminal, type PublishedState } from "../../db/schema/index.ts";
import type { RunStatus } from "../../engine/get-run-status.ts";
import type { GitHubAccess } from "../github-access.ts";
import { cut } from "./cut.ts";
import { reactOnce } from "./react-once.ts";
import {
  desiredChecks,
  reconcileCheckRuns,
  SHOW_RUNNING_AFTER_MS,
} from "./reconcile-check-runs.ts";
import {
  COMMENT_LIMIT,
  renderPullRequestBody,
  renderRunStatus,
  statusNeedsWords,
} from "./render-run-status.ts";
import { runPageUrl } from "./run-page-url.ts";

/** What the publisher needs: the run's status, a way to record its pull request, and GitHub. */
export interface PublishRunDeps {
  db: Db;
  engine: {
    getRunStatus(runId: string): Promise<RunStatus>;
    recordPullRequest(input: { runId: string; number: number }): Promise<unknown>;
  };
  github: GitHubAccess;
  /** How long a phase runs before its check shows it running (SHOW_RUNNING_AFTER_MS). */
  showRunningAfterMs?: number | undefined;
  /** How often a running phase's check is brought up to date (PROGRESS_EVERY_MS). */
  progressEveryMs?: number | undefined;
  /** devflow's public address: check runs' details and the status comment link to the run's console page. */
  publicUrl?: string | undefined;
  /** Asks for another publish of the run in `seconds` (a running phase to show then). */
  publishLater?: ((runId: string, seconds: number) => Promise<void>) | undefined;
}

function hash(text: string): string {
  return createHash("sha256").update(text).digest("hex").slice(0, 16);
}

/** One publish: the run as it is, what was published before, and how to save progress. */
interface Publication {
  status: RunStatus;
  owner: string;
  repo: string;
  octokit: ProbotOctokit;
  state: PublishedState;
  pullRequestNumber: number | null;
  /** Stores `state`: each step saves before the next, so a retry never repeats a write. */
  save(): Promise<void>;
  deps: PublishRunDeps;
}

type Step = (publication: Publication) => Promise<void>;

/** 👀 on the issue, first of all, if the label handler did not give it already. */
const react: Step = async (p) => {
  if (p.state.reacted === true) return;
  const given = await reactOnce({
    db: p.deps.db,
    octokit: p.octokit,
    owner: p.owner,
    repo: p.repo,
    issueNumber: p.status.run.issueNumber,
    startKey: p.status.run.startKey,
  });
  // Another holds the claim and has not reacted yet: a later publish looks again.
  if (!given) return;
  p.state.reacted = true;
  await p.save();
};

/** The draft pull request, once the run branch has a commit; its body is written once. */
const openPullRequest: Step = async (p) => {
  if (p.pullRequestNumber !== null || p.status.headSha === null) return;
  const { run } = p.status;
  const body = renderPullRequestBody(p.status);
  const pullRequest = await createOrFindPullRequest(p.octokit, {
    owner: p.owner,
    repo: p.repo,
    run,
    body,
  });
  p.state.pullRequestNodeId = pullRequest.nodeId;
  await p.save();
  await p.deps.engine.recordPullRequest({ runId: run.id, number: pullRequest.number });
  p.pullRequestNumber = pullRequest.number;
};

/** A revised run's pull request goes back to draft while the implementation runs again. */
const draftWhileRevising: Step = async (p) => {
  if (
    p.state.readyForReview !== true ||
    isTerminal(p.status.run.state) ||
    p.state.pullRequestNodeId === undefined
  )
    return;
  await p.octokit.graphql(
    "mutation($id: ID!) { convertPullRequestToDraft(input: { pullRequestId: $id }) { pullRequest { isDraft } } }",
    { id: p.state.pullRequestNodeId },
  );
  p.state.readyForReview = false;
  await p.save();
};

/** Creates or updates one comment by its stored id; writes nothing when its text did not change. */
async function reconcileComment(
  p: Publication,
  key: "status" | "report",
  issueNumber: number,
  body: string,
): Promise<void> {
  const known = p.state.comments?.[key];
  const digest = hash(body);
  if (known?.hash === digest) return;
  const target = { owner: p.owner, repo: p.repo };
  let id: number;
  if (known !== undefined) {
    await p.octokit.rest.issues.updateComment({ ...target, comment_id: known.id, body });
    id = known.id;
  } else {
    const { data } = await p.octokit.rest.issues.createComment({
      ...target,
      issue_number: issueNumber,
      body,
    });
    id = data.id;
  }
  p.state.comments = { ...p.state.comments, [key]: { id, hash: digest } };
  await p.save();
}

/**
 * The issue's status comment: created once there is a pull request to point at (or
 * something people must know before one), rewritten only when its words change.
 */
const statusComment: Step = async (p) => {
  // Before the pull request, only what people must know, or a first phase that has
  // run long enough to show (a check run needs a commit to sit on; this needs none).
  if (p.pullRequestNumber === null && !statusNeedsWords(p.status) && !firstPhaseShown(p)) return;
  // How the run ended is said once its branch is finished.
  if (p.status.branchFinishing) return;
  await reconcileComment(
    p,
    "status",
    p.status.run.issueNumber,
    renderRunStatus(
      p.status,
      p.pullRequestNumber,
      p.deps.publicUrl === undefined ? undefined : runPageUrl(p.deps.publicUrl, p.status.run.id),
      p.deps.showRunningAfterMs,
    ),
  );
};

/** A phase running, with no commit on the branch yet, for as long as a check would wait to show it. */
function firstPhaseShown(p: Publication): boolean {
  if (p.status.headSha !== null) return false;
  const after = p.deps.showRunningAfterMs ?? SHOW_RUNNING_AFTER_MS;
  return [...p.status.progress.values()].some(
    (progress) => Date.now() - progress.startedAt.getTime() >= after,
  );
}

/** One check per phase (its gate on it), human gates, the summary at the end. */
const checkRuns: Step = async (p) => {
  const { status } = p;
  const { checks, revisitInMs } = desiredChecks(status, {
    ...(p.deps.showRunningAfterMs === undefined
      ? {}
      : { showRunningAfterMs: p.deps.showRunningAfterMs }),
    ...(p.deps.progressEveryMs === undefined ? {} : { progressEveryMs: p.deps.progressEveryMs }),
  });
  if (status.headSha !== null) {
    await reconcileCheckRuns(
      p.octokit,
      { owner: p.owner, repo: p.repo },
      status.headSha,
      p.state.checkRuns ?? {},
      p.deps.publicUrl === undefined
        ? checks
        : checks.map((check) => ({
            ...check,
            detailsUrl: runPageUrl(p.deps.publicUrl ?? "", status.run.id),
          })),
      async (next) => {
        p.state.checkRuns = next;
        await p.save();
      },
    );
  }
  if (revisitInMs !== undefined)
    await p.deps.publishLater?.(status.run.id, Math.ceil(revisitInMs / 1000));
};

/** The final report, once, on the pull request (on the issue when there is none). */
const reportComment: Step = async (p) => {
  const { run, report, finishedBranch } = p.status;
  if (!isTerminal(run.state) || report === null || p.status.branchFinishing) return;
  const where = reportLocation(p.status);
  const body = cut(
    `<!-- devflow-report:${run.id} -->\n${report.markdown}${where === null ? "" : `\n${where}\n`}`,
    COMMENT_LIMIT,
    finishedBranch?.reportCommit == null
      ? "in devflow's database (`devflow runs show`)"
      : `\`${report.path}\` at ${finishedBranch.reportCommit}`,
  );
  await reconcileComment(p, "report", p.pullRequestNumber ?? run.issueNumber, body);
};

/**
 * Where the report and the run's artifacts are on the branch: a link to the commit
 * that holds them (they are out of the tree after it, when the run tidied).
 */
function reportLocation(status: RunStatus): string | null {
  const { run, report, finishedBranch } = status;
  const commit = finishedBranch?.reportCommit;
  if (report === null || commit == null) return null;
  const web = run.cloneUrl?.match(/^(https?:\/\/.+?)(?:\.git)?$/)?.[1];
  const file =
    web === undefined
      ? `\`${report.path}\``
      : `[\`${report.path}\`](${web}/blob/${commit}/${report.path})`;
  return finishedBranch?.tidied === true
    ? `The report (${file}) and every artifact of this run are in commit ${commit}; the branch's last commit takes them out of the tree, so merging adds none of them.`
    : `The report is ${file}, next to the run's artifacts, at commit ${commit}.`;
}

/**
 * A completed run's pull request: its body now leads with what was built, and it
 * is ready for review — one GraphQL request for both.
 */
const readyForReview: Step = async (p) => {
  if (
    p.status.run.state !== "completed" ||
    p.status.branchFinishing ||
    p.pullRequestNumber === null ||
    p.state.readyForReview === true ||
    p.state.pullRequestNodeId === undefined
  )
    return;
  await p.octokit.graphql(
    `mutation($id: ID!, $body: String!) {
      updatePullRequest(input: { pullRequestId: $id, body: $body }) { pullRequest { id } }
      markPullRequestReadyForReview(input: { pullRequestId: $id }) { pullRequest { isDraft } }
    }`,
    {
      id: p.state.pullRequestNodeId,
      body: renderPullRequestBody(p.status, reportLocation(p.status)),
    },
  );
  p.state.readyForReview = true;
  await p.save();
};

/** In the order people need them; docs/github.md says what each writes and when. */
const STEPS: Step[] = [
  react,
  openPullRequest,
  draftWhileRevising,
  checkRuns,
  statusComment,
  reportComment,
  readyForReview,
];

/**
 * Shows a run's state on GitHub by reconciling it with what was published before,
 * step by step (STEPS). Every step writes only what changed and stores its external
 * id before the next, so a retry picks up where a failure stopped and never creates
 * anything twice. Two publishes of one run never overlap (a transaction-scoped
 * advisory lock on the run holds the second until the first is done).
 */
export async function publishRun(deps: PublishRunDeps, runId: string): Promise<void> {
  await deps.db.transaction(async (lock) => {
    // The lock's connection idles while GitHub answers (or a rate limit is waited
    // out): a server's idle-in-transaction timeout must not end it, and the lock, early.
    await lock.execute(sql`set local idle_in_transaction_session_timeout = 0`);
    await lock.execute(sql`select pg_advisory_xact_lock(hashtext(${`publish:${runId}`}))`);
    const status = await deps.engine.getRunStatus(runId);
    const { run } = status;
    if (run.installationId === null) return;
    const [owner, repo] = run.repository.split("/") as [string, string];
    const [row] = await deps.db
      .select()
      .from(githubPublications)
      .where(eq(githubPublications.runId, runId));
    const state: PublishedState = { ...(row?.state ?? {}) };
    const publication: Publication = {
      status,
      owner,
      repo,
      octokit: await deps.github.octokitFor(run.installationId),
      state,
      pullRequestNumber: run.pullRequestNumber,
      deps,
      save: async () => {
        await deps.db
          .insert(githubPublications)
          .values({ runId, state })
          .onConflictDoUpdate({
            target: githubPublications.runId,
            set: { state, updatedAt: new Date() },
          });
      },
    };
    for (const step of STEPS) await step(publication);
  });
}

/** Opens the run's draft pull request, or finds the one an earlier try opened. */
async function createOrFindPullRequest(
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
