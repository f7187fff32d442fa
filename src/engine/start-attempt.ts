import { randomUUID } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import { type AttemptFeedback, phaseAttempts, runPhases } from "../db/schema/index.ts";
import { QUEUES } from "./outbox.ts";
import { raiseHumanGate } from "./raise-human-gate.ts";
import type { Transition } from "./run-transition.ts";
import type { PhaseRow } from "./types.ts";

/** Dollars, with a cent's tenth below one dollar, where budgets for trials live. */
function usd(value: number): string {
  return `$${value.toFixed(value < 1 ? 3 : 2)}`;
}

/**
 * Starts the next attempt of `phase`: the attempt counter goes up first, then the
 * phase job is enqueued with the attempt's id as its job id, so enqueueing the same
 * attempt twice is a no-op in pg-boss. A run that has spent its budget starts
 * nothing: it pauses at the budget_exhausted gate instead.
 */
export async function startAttempt(
  t: Transition,
  phase: PhaseRow,
  feedback: AttemptFeedback | null = null,
): Promise<void> {
  if (t.run.budgetUsd !== null) {
    const allowed = t.run.budgetUsd * t.run.budgetGrants;
    const [spent] = await t.tx
      .select({ usd: sql<number>`coalesce(sum(${phaseAttempts.costUsd}), 0)::float8` })
      .from(phaseAttempts)
      .where(eq(phaseAttempts.runId, t.run.id));
    if ((spent?.usd ?? 0) >= allowed) {
      await raiseHumanGate(t, phase, "budget_exhausted", {
        category: "budget",
        code: "budget_exhausted",
        message: `the run's agents have cost ${usd(spent?.usd ?? 0)} of the ${usd(allowed)} allowed; approve to grant another ${usd(t.run.budgetUsd)}`,
      });
      return;
    }
  }
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
