import { isTerminal } from "../db/schema/index.ts";
import { DevflowError } from "../errors.ts";
import { withRun } from "./run-transition.ts";
import { replaySideEffects, terminateRun } from "./terminate-run.ts";
import type { EngineDeps } from "./types.ts";

export interface AbortRunInput {
  runId: string;
  reason: string;
  actor?: string;
}

/**
 * Aborts a run from any live state (queued and paused included). Aborting an
 * aborted run again re-runs its cleanup and repairs its report; aborting a run
 * that completed or failed is a conflict.
 */
export async function abortRun(
  deps: EngineDeps,
  input: AbortRunInput,
): Promise<{ changed: boolean }> {
  return withRun(deps, input.runId, async (t) => {
    if (t.run.state === "aborted") {
      await replaySideEffects(t);
      return { changed: false };
    }
    if (isTerminal(t.run.state)) {
      throw new DevflowError(`run ${t.run.id} already ended ${t.run.state}`, {
        class: "human",
        code: "approval_conflict",
      });
    }
    await terminateRun(t, "aborted", {
      category: "human",
      code: "aborted",
      message: `${input.actor ?? "devflow"} aborted the run: ${input.reason}`,
    });
    return { changed: true };
  });
}
