import { and, asc, eq } from "drizzle-orm";
import { approvalRequests, isTerminal, runPhases } from "../db/schema/index.ts";
import { DevflowError } from "../errors.ts";
import { advanceLocked } from "./advance-locked.ts";
import { startAttempt } from "./phase-transitions.ts";
import { withRun } from "./run-transition.ts";
import type { EngineDeps } from "./types.ts";

export interface ResumeRunInput {
  runId: string;
  actor?: string;
}

/**
 * Resumes a paused run where it was: back to its open gate, or — when a phase was
 * interrupted mid-attempt — that phase again as a new attempt. A run held by a
 * human-required gate cannot be resumed: the gate must be resolved.
 */
export async function resumeRun(
  deps: EngineDeps,
  input: ResumeRunInput,
): Promise<{ changed: boolean }> {
  return withRun(deps, input.runId, async (t) => {
    if (t.run.state !== "paused") {
      if (isTerminal(t.run.state)) {
        throw new DevflowError(`run ${t.run.id} is ${t.run.state} and cannot be resumed`, {
          class: "human",
          code: "approval_conflict",
        });
      }
      return { changed: false };
    }
    const [humanGate] = await t.tx
      .select({ gateKey: approvalRequests.gateKey })
      .from(approvalRequests)
      .where(
        and(
          eq(approvalRequests.runId, t.run.id),
          eq(approvalRequests.state, "pending"),
          eq(approvalRequests.kind, "human_required"),
        ),
      );
    if (humanGate !== undefined) {
      throw new DevflowError(`run ${t.run.id} waits for a person at gate ${humanGate.gateKey}`, {
        class: "human",
        code: "approval_conflict",
        recoveryHint: "resolve the gate (reject, or request changes where allowed)",
      });
    }
    const phases = await t.tx
      .select()
      .from(runPhases)
      .where(eq(runPhases.runId, t.run.id))
      .orderBy(asc(runPhases.seq));
    const interrupted = phases.find((phase) => phase.state === "running");
    const gated = phases.find((phase) => phase.state === "awaiting_approval");
    const to =
      interrupted?.runState ??
      (gated !== undefined ? "awaiting_approval" : (t.run.pausedFromState ?? "executing"));
    await t.updateRun({ state: to, pausedFromState: null });
    await t.emit(
      "run.resumed",
      { actor: input.actor ?? null, state: to },
      `seq:${t.run.lastEventSeq + 1}`,
    );
    if (interrupted !== undefined) {
      await startAttempt(t, interrupted);
    } else {
      await advanceLocked(t);
    }
    return { changed: true };
  });
}
