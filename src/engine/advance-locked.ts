import { and, asc, eq } from "drizzle-orm";
import { approvalRequests, isTerminal, runPhases } from "../db/schema/index.ts";
import { ensureReport } from "./ensure-report.ts";
import { skipPhase, startAttempt } from "./phase-transitions.ts";
import type { Transition } from "./run-transition.ts";
import { terminateRun } from "./terminate-run.ts";

/**
 * Moves the run forward as far as it can go without a person or an agent: skips
 * phases that have nothing to produce, starts the next phase, or completes the run.
 * One phase at a time: a running phase or an open gate stops it. On a terminal run
 * it only repairs the report, so replaying it is always harmless.
 */
export async function advanceLocked(t: Transition): Promise<void> {
  if (isTerminal(t.run.state)) {
    await ensureReport(t);
    return;
  }
  if (t.run.state === "queued" || t.run.state === "paused") return;
  const [openGate] = await t.tx
    .select({ id: approvalRequests.id })
    .from(approvalRequests)
    .where(and(eq(approvalRequests.runId, t.run.id), eq(approvalRequests.state, "pending")))
    .limit(1);
  if (openGate !== undefined) return;
  for (;;) {
    const phases = await t.tx
      .select()
      .from(runPhases)
      .where(eq(runPhases.runId, t.run.id))
      .orderBy(asc(runPhases.seq));
    if (phases.some((phase) => phase.state === "running" || phase.state === "awaiting_approval")) {
      return;
    }
    const failed = phases.find((phase) => phase.state === "failed");
    if (failed !== undefined) {
      await terminateRun(
        t,
        "failed",
        failed.failure ?? {
          category: "internal",
          code: "phase_failed",
          message: `phase ${failed.phaseKey} failed`,
        },
      );
      return;
    }
    const next = phases.find((phase) => phase.state === "pending");
    if (next === undefined) {
      await terminateRun(t, "completed", null);
      return;
    }
    if (next.artifactSchema === null) {
      await skipPhase(t, next, "the phase has no artifact to produce");
      continue;
    }
    await startAttempt(t, next);
    return;
  }
}
