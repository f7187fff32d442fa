import { mayActHere } from "../may-act.ts";
import { commandOrReply } from "./command-or-reply.ts";
import type { DeliveryHandler } from "./delivery-context.ts";

/**
 * `pull_request_review.submitted` on a run's pull request: Approve approves the
 * open gate; Request changes reruns the phase with the review's body and inline
 * comments as feedback. The review id is the decision's idempotency token.
 */
export const pullRequestReviewSubmitted: DeliveryHandler<"pull_request_review.submitted"> = async ({
  payload,
  engine,
  github,
  registry,
  reply,
}) => {
  const { review, pull_request: pullRequest, repository, installation, sender } = payload;
  const state = review.state.toLowerCase();
  if (state !== "approved" && state !== "changes_requested")
    return { outcome: `ignored: a ${state} review` };
  if (installation === undefined) return { outcome: "dropped: no installation in the payload" };
  const run = await engine.findRun({
    repository: repository.full_name,
    pullRequestNumber: pullRequest.number,
  });
  if (run === null) return { outcome: "ignored: not a devflow pull request" };
  const gate = await engine.pendingApproval(run.id);
  // Request changes on a completed run's pull request revises it.
  const revise = gate === null && run.state === "completed" && state === "changes_requested";
  if (revise && pullRequest.state === "closed")
    return { outcome: "ignored: the pull request is closed", runId: run.id };
  if (!revise && (gate === null || gate.kind !== "gate"))
    return { outcome: "ignored: the run waits at no review gate", runId: run.id };
  const [owner, repo] = repository.full_name.split("/") as [string, string];
  const octokit = await github.octokitFor(installation.id);
  const reviewer = review.user ?? sender;
  const permission = await mayActHere({
    octokit,
    cache: github.readCache,
    owner,
    repo,
    user: reviewer,
    ref: repository.default_branch,
    registry,
    decision: {
      action: state === "approved" ? "approve" : "request_changes",
      startedBy: run.startedBy,
    },
  });
  const target = { owner, repo, number: pullRequest.number };
  if (!permission.allowed) {
    await reply(
      octokit,
      target,
      `Thanks for the review, @${reviewer.login}, but it does not decide the gate: ${permission.reason}.`,
    );
    return { outcome: `refused: ${reviewer.login} may not decide gates`, runId: run.id };
  }
  const comments =
    state === "changes_requested"
      ? (
          await octokit.rest.pulls.listCommentsForReview({
            owner,
            repo,
            pull_number: pullRequest.number,
            review_id: review.id,
            per_page: 100,
          })
        ).data.map((comment) => ({
          path: comment.path,
          ...(typeof comment.line === "number" ? { line: comment.line } : {}),
          body: comment.body,
        }))
      : [];
  return commandOrReply(
    reply,
    octokit,
    target,
    "The review did not decide the gate",
    run.id,
    async () => {
      if (revise || gate === null) {
        const { revision } = await engine.reviseRun({
          runId: run.id,
          key: `review:${review.id}`,
          actor: reviewer.login,
          body: review.body ?? "",
          comments,
          source: "review",
        });
        return { outcome: `changes_requested: revision ${revision}`, runId: run.id };
      }
      await engine.signalApproval({
        runId: run.id,
        approvalId: gate.id,
        action: state === "approved" ? "approve" : "request_changes",
        clientToken: `review:${review.id}`,
        ...(review.commit_id ? { seen: { commitSha: review.commit_id } } : {}),
        actor: reviewer.login,
        body: review.body ?? "",
        comments,
      });
      return { outcome: `${state}: ${gate.gateKey}`, runId: run.id };
    },
  );
};
