import { and, eq, inArray, sql } from "drizzle-orm";
import type { RunRow } from "../db/rows.ts";
import { phaseAttempts, runnerExecutions } from "../db/schema/index.ts";
import { DevflowError } from "../errors.ts";
import { QUEUES } from "./outbox.ts";
import { onParked, withRun } from "./run-transition.ts";
import type { EngineDeps } from "./types.ts";

const PAUSABLE = new Set<RunRow["state"]>(["planning", "executing", "awaiting_approval"]);

export interface PauseRunInput {
  runId: string;
  actor?: string;
  reason?: string;
}

/**
 * Pauses a run. A running attempt is stopped (its executions are stopped by the
 * cleanup job, and any result it still reports is ignored); resuming runs the
 * phase again as a new attempt. Open gates stay open but cannot be decided while
 * paused. Pausing a paused run changes nothing.
 */
export async function pauseRun(
  deps: EngineDeps,
  input: PauseRunInput,
): Promise<{ changed: boolean }> {
  return withRun(deps, input.runId, async (t) => {
    if (t.run.state === "paused") return { changed: false };
    if (!PAUSABLE.has(t.run.state)) {
      throw new DevflowError(`run ${t.run.id} is ${t.run.state} and cannot be paused`, {
        class: "human",
        code: "approval_conflict",
      });
    }
    const stopped = await t.tx
      .update(phaseAttempts)
      .set({ state: "stopped", endedAt: sql`now()` })
      .where(and(eq(phaseAttempts.runId, t.run.id), eq(phaseAttempts.state, "running")))
      .returning({ id: phaseAttempts.id });
    const executions =
      stopped.length === 0
        ? []
        : await t.tx
            .update(runnerExecutions)
            .set({ state: "stopped", endedAt: sql`now()` })
            .where(
              and(
                inArray(
                  runnerExecutions.attemptId,
                  stopped.map((attempt) => attempt.id),
                ),
                eq(runnerExecutions.state, "running"),
              ),
            )
            .returning({ id: runnerExecutions.id });
    const from = t.run.state;
    await t.updateRun({ state: "paused", pausedFromState: from });
    await onParked(t);
    await t.emit(
      "run.paused",
      {
        pausedFromState: from,
        actor: input.actor ?? null,
        reason: input.reason ?? null,
        stoppedAttempts: stopped.length,
      },
      `seq:${t.run.lastEventSeq + 1}`,
    );
    if (executions.length > 0) {
      await t.enqueue(QUEUES.cleanupRun, {
        runId: t.run.id,
        reason: "paused",
        executionIds: executions.map((execution) => execution.id),
      });
    }
    return { changed: true };
  });
}
