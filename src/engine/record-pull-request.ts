import { withRun } from "./run-transition.ts";
import type { EngineDeps } from "./types.ts";

/**
 * Records the pull request the publisher opened for a run (once: a second number
 * for the same run is ignored, the first stays), with a `run.pull_request_opened`
 * event. Commands that find a run by its pull request find it from here on.
 */
export async function recordPullRequest(
  deps: EngineDeps,
  input: { runId: string; number: number },
): Promise<{ changed: boolean }> {
  return withRun(deps, input.runId, async (t) => {
    if (t.run.pullRequestNumber !== null) return { changed: false };
    await t.emit("run.pull_request_opened", { number: input.number }, String(input.number));
    await t.updateRun({ pullRequestNumber: input.number });
    return { changed: true };
  });
}
