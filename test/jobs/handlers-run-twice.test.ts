import { asc, eq } from "drizzle-orm";
import type { Job } from "pg-boss";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAdmitRunsHandler } from "../../jobs/admit-runs.ts";
import { createAdvanceRunHandler } from "../../jobs/advance-run.ts";
import { createCleanupRunHandler } from "../../jobs/cleanup-run.ts";
import { createExecutePhaseHandler } from "../../jobs/execute-phase.ts";
import { createSweepHandler } from "../../jobs/sweep.ts";
import {
  approvalDecisions,
  approvalRequests,
  phaseAttempts,
  runEvents,
  runnerExecutions,
  runPhases,
  runReports,
  runs,
} from "../../src/db/schema/index.ts";
import { QUEUES, type QueueName } from "../../src/engine/outbox.ts";
import { createInProcessRunner } from "../../src/runner/in-process-runner.ts";
import { createSecrets } from "../../src/security/secrets.ts";
import { type Harness, startHarness, testWorkspaces } from "../helpers/harness.ts";

let h: Harness;
const log = pino({ level: "silent" });
const runner = createInProcessRunner();
beforeAll(async () => {
  // No workers: the test takes each job off its queue and runs the handler itself, twice.
  h = await startHarness({ workers: false, runner });
});
afterAll(() => h.stop());

/** Everything a handler could change, without timestamps. */
async function snapshot(runId: string) {
  const db = h.db;
  return {
    run: (
      await db
        .select({ state: runs.state, paused: runs.pausedFromState, seq: runs.lastEventSeq })
        .from(runs)
        .where(eq(runs.id, runId))
    )[0],
    phases: await db
      .select({ key: runPhases.phaseKey, state: runPhases.state, attempts: runPhases.attempts })
      .from(runPhases)
      .where(eq(runPhases.runId, runId))
      .orderBy(asc(runPhases.seq)),
    attempts: await db
      .select({ id: phaseAttempts.id, state: phaseAttempts.state })
      .from(phaseAttempts)
      .where(eq(phaseAttempts.runId, runId))
      .orderBy(asc(phaseAttempts.attempt)),
    approvals: await db
      .select({ id: approvalRequests.id, state: approvalRequests.state })
      .from(approvalRequests)
      .where(eq(approvalRequests.runId, runId))
      .orderBy(asc(approvalRequests.createdAt)),
    decisions: (
      await db
        .select({ id: approvalDecisions.id })
        .from(approvalDecisions)
        .innerJoin(approvalRequests, eq(approvalRequests.id, approvalDecisions.approvalRequestId))
        .where(eq(approvalRequests.runId, runId))
    ).length,
    executions: await db
      .select({
        id: runnerExecutions.id,
        state: runnerExecutions.state,
        seq: runnerExecutions.lastCaptureSeq,
      })
      .from(runnerExecutions)
      .where(eq(runnerExecutions.runId, runId)),
    reports: (
      await db.select({ id: runReports.runId }).from(runReports).where(eq(runReports.runId, runId))
    ).length,
    events: await db
      .select({ seq: runEvents.seq, type: runEvents.type, key: runEvents.idempotencyKey })
      .from(runEvents)
      .where(eq(runEvents.runId, runId))
      .orderBy(asc(runEvents.seq)),
  };
}

async function take<T extends object>(queue: QueueName): Promise<Job<T>> {
  const [job] = await h.devflow.boss.fetch<T>(queue);
  if (job === undefined) throw new Error(`no job on ${queue}`);
  return job;
}

async function twice<T extends object>(
  runId: string,
  queue: QueueName,
  handler: (jobs: Job<T>[]) => Promise<unknown>,
) {
  const job = await take<T>(queue);
  await handler([job]);
  const first = await snapshot(runId);
  await handler([job]);
  expect(await snapshot(runId)).toEqual(first);
  await h.devflow.boss.complete(queue, job.id);
  return first;
}

describe("every job handler, run twice for the same job, leaves the same state and no duplicate events", () => {
  it("phase-execute, run-advance, runs-admit, runs-sweep and run-cleanup", async () => {
    const engine = h.engine;
    const execute = createExecutePhaseHandler({
      engine,
      runner,
      registry: h.devflow.registry,
      log,
      defaultAgent: "scripted",
      agentOptions: {},
      ...testWorkspaces(),
      heartbeatMs: 200,
      attemptTimeoutMs: 10_000,
      secrets: createSecrets(),
      egressAllow: [],
    });
    const { runId } = await h.start();

    const afterSpec = await twice(runId, QUEUES.executePhase, execute);
    expect(afterSpec.run?.state).toBe("awaiting_approval");
    expect(afterSpec.executions).toHaveLength(1);

    await h.devflow.boss.send(QUEUES.advanceRun, { runId, reason: "test" });
    await twice(runId, QUEUES.advanceRun, createAdvanceRunHandler({ engine, log }));

    await h.approve(runId, "spec_approved");
    const afterPlan = await twice(runId, QUEUES.executePhase, execute);
    expect(afterPlan.phases.find((p) => p.key === "phase_plan")?.state).toBe("awaiting_approval");

    await h.devflow.boss.send(QUEUES.admitRuns, { reason: "test" });
    await twice(runId, QUEUES.admitRuns, createAdmitRunsHandler({ engine }));

    await h.devflow.boss.send(QUEUES.sweep, { reason: "test" });
    await twice(runId, QUEUES.sweep, createSweepHandler({ engine, log, staleAfterMs: 60_000 }));

    await engine.abortRun({ runId, reason: "done" });
    const afterCleanup = await twice(
      runId,
      QUEUES.cleanupRun,
      createCleanupRunHandler({ engine, runner, log }),
    );
    expect(afterCleanup.run?.state).toBe("aborted");
    expect(afterCleanup.reports).toBe(1);
    expect(afterCleanup.events.map((e) => e.type)).not.toContain("cleanup.failed");
    const keys = afterCleanup.events.map((e) => e.key);
    expect(new Set(keys).size).toBe(keys.length);
  });
});
