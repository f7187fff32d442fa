import { and, eq, inArray, ne, sql } from "drizzle-orm";
import {
  approvalRequests,
  type FailureRecord,
  isTerminal,
  phaseAttempts,
  runnerExecutions,
  runPhases,
  type TerminalRunState,
} from "../db/schema/index.ts";
import { ensureReport } from "./ensure-report.ts";
import { QUEUES } from "./outbox.ts";
import { endingKey, revisionCount } from "./run-endings.ts";
import type { Transition } from "./run-transition.ts";

/**
 * Ends the run: open gates are closed as `aborted` (no decision rows, no
 * `approval.resolved`: nobody decided them), unfinished phases fail, running
 * attempts stop, and — unless the run completed — every execution is marked
 * `failed_needs_human`. The report is written in the same transaction; cleanup of
 * the runner and admission of queued runs are enqueued with it.
 */
export async function terminateRun(
  t: Transition,
  state: TerminalRunState,
  failure: FailureRecord | null,
): Promise<void> {
  const runId = t.run.id;
  const pending = await t.tx
    .update(approvalRequests)
    .set({ state: "aborted", resolvedAt: sql`now()` })
    .where(and(eq(approvalRequests.runId, runId), eq(approvalRequests.state, "pending")))
    .returning({ id: approvalRequests.id, gateKey: approvalRequests.gateKey });
  for (const request of pending) {
    await t.emit(
      "approval.aborted",
      { approvalId: request.id, gateKey: request.gateKey },
      request.id,
    );
  }
  if (state !== "completed") {
    await t.tx
      .update(runPhases)
      .set({ state: "failed", endedAt: sql`now()` })
      .where(
        and(eq(runPhases.runId, runId), inArray(runPhases.state, ["running", "awaiting_approval"])),
      );
    await t.tx
      .update(runnerExecutions)
      .set({
        state: "failed_needs_human",
        endedAt: sql`coalesce(${runnerExecutions.endedAt}, now())`,
      })
      .where(
        and(eq(runnerExecutions.runId, runId), ne(runnerExecutions.state, "failed_needs_human")),
      );
  }
  await t.tx
    .update(phaseAttempts)
    .set({ state: "stopped", endedAt: sql`now()` })
    .where(and(eq(phaseAttempts.runId, runId), eq(phaseAttempts.state, "running")));
  await t.updateRun({
    state,
    pausedFromState: null,
    currentPhaseId: null,
    failure,
    endedAt: new Date(),
  });
  await t.emit(
    `run.${state}`,
    failure === null ? {} : { ...failure },
    endingKey("terminal", await revisionCount(t)),
  );
  await ensureReport(t);
  await t.enqueue(QUEUES.cleanupRun, { runId, reason: state });
  await t.enqueue(QUEUES.admitRuns, { reason: `run ${runId} ${state}` });
}

/** What a replayed decision re-does: the report if it went missing, and runner cleanup. */
export async function replaySideEffects(t: Transition): Promise<void> {
  if (isTerminal(t.run.state)) {
    await ensureReport(t);
    await t.enqueue(QUEUES.cleanupRun, { runId: t.run.id, reason: `replay of ${t.run.state}` });
  }
}
