import { advanceLocked } from "./advance-locked.ts";
import { withRun } from "./run-transition.ts";
import type { EngineDeps } from "./types.ts";

/**
 * Moves a run forward as far as it can go; on a terminal run, repairs a missing
 * report and changes nothing else. What the `run-advance` job and the sweep call.
 */
export async function advanceRun(deps: EngineDeps, runId: string): Promise<void> {
  await withRun(deps, runId, (t) => advanceLocked(t));
}
