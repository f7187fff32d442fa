import { withRun } from "./run-transition.ts";
import type { EngineDeps } from "./types.ts";

/** What a run's branch holds once it ended: the report's commit, and the branch head after it. */
export interface FinishedBranch {
  /** The commit that holds the report and every artifact of the run. */
  reportCommit: string | null;
  /** The branch head once its files were committed (and taken out of the tree). */
  headCommit: string | null;
  /** Whether the run's directory was taken out of the tree by the head commit. */
  tidied: boolean;
}

/**
 * Records that a terminal run's branch is finished (its report committed, its
 * directory taken out of the tree) with a `branch.finished` event, once. The
 * publisher waits for it before it shows the run as over.
 */
export async function recordBranchFinished(
  deps: EngineDeps,
  input: { runId: string } & FinishedBranch,
): Promise<{ changed: boolean }> {
  const { runId, ...finished } = input;
  return withRun(deps, runId, async (t) => {
    const changed = await t.emit("branch.finished", { ...finished }, "finished");
    return { changed };
  });
}
