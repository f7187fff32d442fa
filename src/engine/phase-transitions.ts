import { randomUUID } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import type { PhaseRow } from "../db/rows.ts";
import {
  type AttemptFeedback,
  approvalRequests,
  type FailureRecord,
  phaseAttempts,
  runPhases,
} from "../db/schema/index.ts";
import type { HumanGateKey } from "../registry/human-gates.ts";
import { QUEUES } from "./outbox.ts";
import { onParked, type Transition } from "./run-transition.ts";

/*
 * Every change of a phase's state, each with the event that records it: the one
 * place a rule about phases changes. Callers hold the run's lock (a Transition)
 * and decide what the run does next.
 *
 *   pending | failed | awaiting_approval | running → running   startAttempt (first, retry, changes)
 *   running → completed                                       completePhase (no gate)
 *   running → awaiting_approval → completed                   awaitApproval, completePhase (approved)
 *   running | awaiting_approval → failed                      failPhase, raiseHumanGate (a person must act)
 *   failed → pending                                          reopenPhase (more budget granted)
 *   pending → skipped                                         skipPhase (nothing to produce)
 */

/** Dollars, with a cent's tenth below one dollar, where budgets for trials live. */
function usd(value: number): string {
  return `$${value.toFixed(value < 1 ? 3 : 2)}`;
}

/** What the run's agents have cost so far, in dollars. */
export async function runSpentUsd(t: Transition): Promise<number> {
  const [spent] = await t.tx
    .select({ usd: sql<number>`coalesce(sum(${phaseAttempts.costUsd}), 0)::float8` })
    .from(phaseAttempts)
    .where(eq(phaseAttempts.runId, t.run.id));
  return spent?.usd ?? 0;
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
    const spent = await runSpentUsd(t);
    if (spent >= allowed) {
      await raiseHumanGate(t, phase, "budget_exhausted", {
        category: "budget",
        code: "budget_exhausted",
        message: `the run's agents have cost ${usd(spent)} of the ${usd(allowed)} allowed; approve to grant another ${usd(t.run.budgetUsd)}`,
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

/** The phase is done (its artifact accepted, or its gate approved). */
export async function completePhase(
  t: Transition,
  phase: PhaseRow,
  attempt: number,
): Promise<void> {
  await t.tx
    .update(runPhases)
    .set({ state: "completed", endedAt: sql`now()` })
    .where(eq(runPhases.id, phase.id));
  await t.emit("phase.completed", { phaseKey: phase.phaseKey, attempt }, `${phase.id}:${attempt}`);
}

/** The phase failed for good at `attempt`; what the run does about it is the caller's. */
export async function failPhase(
  t: Transition,
  phase: PhaseRow,
  attempt: number,
  failure: FailureRecord,
): Promise<void> {
  await t.tx
    .update(runPhases)
    .set({ state: "failed", failure, endedAt: sql`now()` })
    .where(eq(runPhases.id, phase.id));
  await t.emit(
    "phase.failed",
    { phaseKey: phase.phaseKey, attempt, ...failure },
    `${phase.id}:${attempt}`,
  );
}

/** A phase with nothing to produce is passed over. */
export async function skipPhase(t: Transition, phase: PhaseRow, reason: string): Promise<void> {
  const attempt = phase.attempts + 1;
  await t.tx
    .update(runPhases)
    .set({ state: "skipped", attempts: attempt, startedAt: sql`now()`, endedAt: sql`now()` })
    .where(eq(runPhases.id, phase.id));
  await t.emit(
    "phase.skipped",
    { phaseKey: phase.phaseKey, attempt, reason },
    `${phase.id}:${attempt}`,
  );
}

/** A failed phase waits to run again (a person granted more budget). */
export async function reopenPhase(t: Transition, phase: PhaseRow): Promise<void> {
  await t.tx
    .update(runPhases)
    .set({ state: "pending", failure: null, endedAt: null })
    .where(eq(runPhases.id, phase.id));
}

/**
 * The phase's artifact waits for a person at its gate, raised on `commitSha` (the
 * commit a review must have seen for its decision to count).
 */
export async function awaitApproval(
  t: Transition,
  phase: PhaseRow & { gateKey: string },
  attempt: number,
  commitSha: string | null,
): Promise<void> {
  await t.tx
    .update(runPhases)
    .set({ state: "awaiting_approval" })
    .where(eq(runPhases.id, phase.id));
  const [request] = await t.tx
    .insert(approvalRequests)
    .values({
      runId: t.run.id,
      phaseId: phase.id,
      gateKey: phase.gateKey,
      kind: "gate",
      attempt,
      commitSha,
    })
    .returning({ id: approvalRequests.id });
  await t.updateRun({ state: "awaiting_approval" });
  await onParked(t);
  await t.emit(
    "approval.requested",
    {
      approvalId: request?.id,
      gateKey: phase.gateKey,
      kind: "gate",
      phaseKey: phase.phaseKey,
      attempt,
    },
    `${request?.id}`,
  );
}

/**
 * Fails `phase`, opens the human-required gate `gateKey` for it and pauses the run,
 * remembering where it paused from. Nothing runs until a person resolves the gate.
 */
export async function raiseHumanGate(
  t: Transition,
  phase: PhaseRow,
  gateKey: HumanGateKey,
  failure: FailureRecord,
): Promise<void> {
  await failPhase(t, phase, phase.attempts, failure);
  const [request] = await t.tx
    .insert(approvalRequests)
    .values({
      runId: t.run.id,
      phaseId: phase.id,
      gateKey,
      kind: "human_required",
      attempt: phase.attempts,
      reason: failure.message,
    })
    .returning({ id: approvalRequests.id });
  await t.emit(
    "approval.requested",
    { approvalId: request?.id, gateKey, kind: "human_required", phaseKey: phase.phaseKey },
    `${request?.id}`,
  );
  await t.updateRun({ state: "paused", pausedFromState: phase.runState });
  await onParked(t);
  await t.emit(
    "run.paused",
    { reason: gateKey, pausedFromState: phase.runState },
    `gate:${request?.id}`,
  );
}
