import { and, eq, sql } from "drizzle-orm";
import { phaseAttempts, runnerExecutions, runPhases } from "../db/schema/index.ts";
import { QUEUES } from "./outbox.ts";
import { raiseHumanGate, startAttempt } from "./phase-transitions.ts";
import { withRun } from "./run-transition.ts";
import type { EngineDeps } from "./types.ts";

export interface SupersedeAttemptInput {
  runId: string;
  attemptId: string;
  /** `worker_lost` (its worker died), `job_lost` (its job vanished), `worker_stopped` (handed back). */
  code: string;
  message: string;
  /**
   * Handed back by a worker that is shutting down: not the phase's fault, so it
   * never ends at `attempts_exhausted` (the next attempt always starts).
   */
  handedBack?: boolean;
}

/**
 * Gives up on an attempt whose worker is gone and starts the phase again as a new
 * attempt. Its executions are stopped through their persisted handles. Does
 * nothing when the attempt is no longer running, so the sweep and a retried job
 * can both call it.
 */
export async function supersedeAttempt(
  deps: EngineDeps,
  input: SupersedeAttemptInput,
): Promise<{ superseded: boolean }> {
  return withRun(deps, input.runId, async (t) => {
    const [attempt] = await t.tx
      .update(phaseAttempts)
      .set({
        state: "superseded",
        endedAt: sql`now()`,
        failure: { category: "runner", code: input.code, message: input.message },
      })
      .where(and(eq(phaseAttempts.id, input.attemptId), eq(phaseAttempts.state, "running")))
      .returning();
    if (attempt === undefined) return { superseded: false };
    const executions = await t.tx
      .update(runnerExecutions)
      .set({ state: "failed", endedAt: sql`coalesce(${runnerExecutions.endedAt}, now())` })
      .where(and(eq(runnerExecutions.attemptId, attempt.id), eq(runnerExecutions.state, "running")))
      .returning({ id: runnerExecutions.id });
    const [phase] = await t.tx.select().from(runPhases).where(eq(runPhases.id, attempt.phaseId));
    if (phase === undefined) return { superseded: false };
    await t.emit(
      "attempt.superseded",
      {
        phaseKey: phase.phaseKey,
        attempt: attempt.attempt,
        code: input.code,
        message: input.message,
      },
      attempt.id,
    );
    if (executions.length > 0) {
      await t.enqueue(QUEUES.cleanupRun, {
        runId: t.run.id,
        reason: input.code,
        executionIds: executions.map((execution) => execution.id),
      });
    }
    if (t.run.state !== "planning" && t.run.state !== "executing") return { superseded: true };
    // A lost worker costs an attempt like any other failure, so a phase that keeps
    // killing its worker ends at a person rather than looping.
    if (phase.attempts >= phase.maxAttempts && input.handedBack !== true) {
      await raiseHumanGate(t, phase, "attempts_exhausted", {
        category: "runner",
        code: input.code,
        message: `all ${phase.maxAttempts} attempts failed; the last: ${input.message}`,
      });
    } else {
      await startAttempt(t, phase, attempt.feedback);
    }
    return { superseded: true };
  });
}
