import type { PgBoss, Queue } from "pg-boss";
import type { Logger } from "pino";
import type { Engine } from "../src/engine/create-engine.ts";
import { QUEUES } from "../src/engine/outbox.ts";
import type { Registry } from "../src/registry/types.ts";
import type { Runner } from "../src/runner/runner.ts";
import * as admitRuns from "./admit-runs.ts";
import * as advanceRun from "./advance-run.ts";
import * as cleanupRun from "./cleanup-run.ts";
import * as deadLetter from "./dead-letter.ts";
import * as executePhase from "./execute-phase.ts";
import * as sweep from "./sweep.ts";

export interface JobSettings {
  attemptTimeoutSeconds: number;
  workerConcurrency: number;
  heartbeatMs: number;
  staleAfterMs: number;
  sweepIntervalSeconds: number;
  defaultAgent: string | undefined;
}

function queues(settings: JobSettings): Queue[] {
  return [
    deadLetter.queue,
    advanceRun.queue,
    executePhase.phaseQueue(settings.attemptTimeoutSeconds),
    cleanupRun.queue,
    admitRuns.queue,
    sweep.queue,
  ];
}

/** Creates (or updates) every queue devflow uses; every process does this at start. */
export async function ensureQueues(boss: PgBoss, settings: JobSettings): Promise<void> {
  for (const { name, ...options } of queues(settings)) {
    if ((await boss.getQueue(name)) === null) {
      try {
        await boss.createQueue(name, options);
        continue;
      } catch (error) {
        if ((await boss.getQueue(name)) === null) throw error;
      }
    }
    // Policy, partitioning and a few others are fixed at creation; the rest can follow code changes.
    const {
      policy: _policy,
      partition: _partition,
      retryDelayMax: _max,
      heartbeatSeconds: _beat,
      ...mutable
    } = options;
    await boss.updateQueue(name, mutable);
  }
}

export interface WorkerDeps {
  boss: PgBoss;
  engine: Engine;
  runner: Runner;
  registry: Registry;
  log: Logger;
  settings: JobSettings;
}

/** Starts a worker on every queue. Returns the worker ids, for `offWork`. */
export async function registerWorkers({
  boss,
  engine,
  runner,
  registry,
  log,
  settings,
}: WorkerDeps): Promise<string[]> {
  const fast = { notifyPollingIntervalSeconds: 5, pollingIntervalSeconds: 2 };
  return Promise.all([
    boss.work(
      QUEUES.advanceRun,
      { ...fast, localConcurrency: 2 },
      advanceRun.createAdvanceRunHandler({ engine, log }),
    ),
    boss.work(
      QUEUES.executePhase,
      { ...fast, localConcurrency: settings.workerConcurrency },
      executePhase.createExecutePhaseHandler({
        engine,
        runner,
        registry,
        log,
        defaultAgent: settings.defaultAgent,
        heartbeatMs: settings.heartbeatMs,
        attemptTimeoutMs: settings.attemptTimeoutSeconds * 1000,
      }),
    ),
    boss.work(
      QUEUES.cleanupRun,
      { ...fast, localConcurrency: 2 },
      cleanupRun.createCleanupRunHandler({ engine, runner, log }),
    ),
    boss.work(QUEUES.admitRuns, fast, admitRuns.createAdmitRunsHandler({ engine })),
    boss.work(
      QUEUES.sweep,
      fast,
      sweep.createSweepHandler({ engine, log, staleAfterMs: settings.staleAfterMs }),
    ),
    boss.work(QUEUES.deadLetter, fast, deadLetter.createDeadLetterHandler({ log })),
  ]);
}
