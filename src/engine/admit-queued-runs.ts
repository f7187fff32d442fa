import { admitQueued, takeAdmissionLock } from "./admission.ts";
import { inTransaction } from "./run-transition.ts";
import type { EngineDeps } from "./types.ts";

/** Starts queued runs, oldest first, as far as the caps allow. Returns the admitted run ids. */
export async function admitQueuedRuns(deps: EngineDeps): Promise<string[]> {
  return inTransaction(deps, async (tx) => {
    await takeAdmissionLock(tx);
    return admitQueued(tx, deps);
  });
}
