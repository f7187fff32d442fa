import type { DeliveryHandler } from "./delivery-context.ts";

const LIVE = new Set(["queued", "planning", "executing", "awaiting_approval", "paused"]);

/** `pull_request.closed` without merging: closing a run's pull request aborts the run. */
export const pullRequestClosed: DeliveryHandler<"pull_request.closed"> = async ({
  payload,
  engine,
}) => {
  const { pull_request: pullRequest, repository, sender } = payload;
  if (pullRequest.merged) return { outcome: "ignored: merged" };
  const run = await engine.findRun({
    repository: repository.full_name,
    pullRequestNumber: pullRequest.number,
  });
  if (run === null) return { outcome: "ignored: not a devflow pull request" };
  if (!LIVE.has(run.state)) return { outcome: `ignored: the run is ${run.state}`, runId: run.id };
  await engine.abortRun({
    runId: run.id,
    actor: sender.login,
    reason: `pull request #${pullRequest.number} was closed`,
  });
  return { outcome: "aborted: pull request closed", runId: run.id };
};
