import { eq, sql } from "drizzle-orm";
import { approvalRequests, type FailureRecord, runPhases } from "../db/schema/index.ts";
import type { HumanGateKey } from "./human-gates.ts";
import type { Transition } from "./run-transition.ts";
import type { PhaseRow } from "./types.ts";

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
  await t.tx
    .update(runPhases)
    .set({ state: "failed", failure, endedAt: sql`now()` })
    .where(eq(runPhases.id, phase.id));
  await t.emit(
    "phase.failed",
    { phaseKey: phase.phaseKey, attempt: phase.attempts, ...failure },
    `${phase.id}:${phase.attempts}`,
  );
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
  await t.emit(
    "run.paused",
    { reason: gateKey, pausedFromState: phase.runState },
    `gate:${request?.id}`,
  );
}
