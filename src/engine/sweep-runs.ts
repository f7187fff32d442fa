import { and, eq, gte, inArray, isNull, lt, notExists, sql } from "drizzle-orm";
import {
  approvalRequests,
  phaseAttempts,
  runnerExecutions,
  runPhases,
  runReports,
  runs,
  TERMINAL_RUN_STATES,
} from "../db/schema/index.ts";
import { QUEUES } from "./outbox.ts";
import { supersedeAttempt } from "./supersede-attempt.ts";
import type { EngineDeps } from "./types.ts";

export interface SweepOptions {
  /** An attempt whose job's heartbeat is older than this belongs to a dead worker. */
  staleAfterMs: number;
}

export interface SweepResult {
  superseded: string[];
  advanced: string[];
  admitted: boolean;
}

const LIVE_JOB_STATES = new Set(["created", "retry", "active"]);

/**
 * Finds work that should be happening and is not, and restarts it. After a crash
 * nothing is failed: an attempt whose worker died (stale heartbeat) or whose job
 * vanished runs again as a new attempt; a run with nothing running and no open gate
 * is advanced; a terminal run without a report gets one; queued runs are admitted.
 */
export async function sweepRuns(deps: EngineDeps, options: SweepOptions): Promise<SweepResult> {
  const staleBefore = new Date(Date.now() - options.staleAfterMs);
  const superseded: string[] = [];

  // An attempt whose job is beating stays; one whose beat stopped lost its worker
  // (at any step: preparing, running the agent, committing, pushing).
  const stale = await deps.db
    .select({ runId: phaseAttempts.runId, attemptId: phaseAttempts.id })
    .from(phaseAttempts)
    .where(and(eq(phaseAttempts.state, "running"), lt(phaseAttempts.heartbeatAt, staleBefore)));
  for (const row of stale) {
    const result = await supersedeAttempt(deps, {
      runId: row.runId,
      attemptId: row.attemptId,
      code: "worker_lost",
      message: `the worker running this attempt stopped sending heartbeats for ${options.staleAfterMs} ms`,
    });
    if (result.superseded) superseded.push(row.attemptId);
  }

  // An attempt no worker has started yet: fine while its job waits; lost when the job is.
  const unstarted = await deps.db
    .select({ runId: phaseAttempts.runId, attemptId: phaseAttempts.id })
    .from(phaseAttempts)
    .where(and(eq(phaseAttempts.state, "running"), isNull(phaseAttempts.heartbeatAt)));
  for (const row of unstarted) {
    // A worker of an older devflow beats only its executions: a fresh one is alive too.
    const [beating] = await deps.db
      .select({ id: runnerExecutions.id })
      .from(runnerExecutions)
      .where(
        and(
          eq(runnerExecutions.attemptId, row.attemptId),
          eq(runnerExecutions.state, "running"),
          gte(runnerExecutions.heartbeatAt, staleBefore),
        ),
      )
      .limit(1);
    if (beating !== undefined) continue;
    const job = await deps.boss.getJobById(QUEUES.executePhase, row.attemptId);
    const live = job !== null && LIVE_JOB_STATES.has(job.state);
    const stuck =
      job?.state === "active" && (job.startedOn?.getTime() ?? Date.now()) < staleBefore.getTime();
    if (live && !stuck) continue;
    const result = await supersedeAttempt(deps, {
      runId: row.runId,
      attemptId: row.attemptId,
      code: job === null || !live ? "job_lost" : "worker_lost",
      message:
        job === null || !live
          ? `the job for this attempt is ${job === null ? "gone" : job.state}`
          : "the worker that took this attempt's job never started it",
    });
    if (result.superseded) superseded.push(row.attemptId);
  }

  const stalled = await deps.db
    .select({ id: runs.id })
    .from(runs)
    .where(
      and(
        inArray(runs.state, ["planning", "executing", "awaiting_approval"]),
        lt(runs.updatedAt, staleBefore),
        notExists(
          deps.db
            .select({ one: sql`1` })
            .from(runPhases)
            .where(
              and(
                eq(runPhases.runId, runs.id),
                inArray(runPhases.state, ["running", "awaiting_approval"]),
              ),
            ),
        ),
        notExists(
          deps.db
            .select({ one: sql`1` })
            .from(approvalRequests)
            .where(and(eq(approvalRequests.runId, runs.id), eq(approvalRequests.state, "pending"))),
        ),
      ),
    );
  const unreported = await deps.db
    .select({ id: runs.id })
    .from(runs)
    .leftJoin(runReports, eq(runReports.runId, runs.id))
    .where(and(inArray(runs.state, [...TERMINAL_RUN_STATES]), isNull(runReports.runId)));
  const advanced = [...stalled, ...unreported].map((row) => row.id);
  for (const runId of advanced) {
    await deps.boss.send(QUEUES.advanceRun, { runId, reason: "sweep" });
  }

  const [queued] = await deps.db
    .select({ id: runs.id })
    .from(runs)
    .where(eq(runs.state, "queued"))
    .limit(1);
  if (queued !== undefined) await deps.boss.send(QUEUES.admitRuns, { reason: "sweep" });
  return { superseded, advanced, admitted: queued !== undefined };
}
