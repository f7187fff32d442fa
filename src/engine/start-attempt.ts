import { randomUUID } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import { type AttemptFeedback, phaseAttempts, runPhases } from "../db/schema/index.ts";
import { QUEUES } from "./outbox.ts";
import type { Transition } from "./run-transition.ts";
import type { PhaseRow } from "./types.ts";

/**
 * Starts the next attempt of `phase`: the attempt counter goes up first, then the
 * phase job is enqueued with the attempt's id as its job id, so enqueueing the same
 * attempt twice is a no-op in pg-boss.
 */
export async function startAttempt(
  t: Transition,
  phase: PhaseRow,
  feedback: AttemptFeedback | null = null,
): Promise<void> {
  const attempt = phase.attempts + 1;
  const attemptId = randomUUID();
  await t.tx.insert(phaseAttempts).values({
    id: attemptId,
    runId: t.run.id,
    phaseId: phase.id,
    attempt,
    feedback,
  });
  await t.tx
    .update(runPhases)
    .set({
      state: "running",
      attempts: attempt,
      failure: null,
      startedAt: sql`coalesce(${runPhases.startedAt}, now())`,
      endedAt: null,
    })
    .where(eq(runPhases.id, phase.id));
  await t.updateRun({ state: phase.runState, currentPhaseId: phase.id });
  await t.emit(
    "phase.started",
    { phaseKey: phase.phaseKey, attempt, attemptId, feedback: feedback !== null },
    `${phase.id}:${attempt}`,
  );
  await t.enqueue(
    QUEUES.executePhase,
    { runId: t.run.id, phaseId: phase.id, attemptId, attempt },
    { id: attemptId },
  );
}
