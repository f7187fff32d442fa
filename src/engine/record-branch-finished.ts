import { endingKey, type FinishedBranch, revisionCount } from "./run-endings.ts";
import { withRun } from "./run-transition.ts";
import type { EngineDeps } from "./types.ts";

export type { FinishedBranch };

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
    const changed = await t.emit(
      "branch.finished",
      { ...finished },
      endingKey("finished", await revisionCount(t)),
    );
    return { changed };
  });
}
