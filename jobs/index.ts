import type { Job, PgBoss, Queue } from "pg-boss";
import type { Logger } from "pino";
import type { AgentOptions } from "../src/agents/agent-adapter.ts";
import type { Engine } from "../src/engine/create-engine.ts";
import { QUEUES } from "../src/engine/outbox.ts";
import type { GitHubAccess } from "../src/github/github-access.ts";
import { type LogContext, withLogContext } from "../src/log.ts";
import type { Registry } from "../src/registry/types.ts";
import type { ExecuteAttemptDeps } from "../src/runner/attempt/execute-attempt.ts";
import type { Runner } from "../src/runner/runner.ts";
import type { EgressRule } from "../src/security/egress-policy.ts";
import type { Secrets } from "../src/security/secrets.ts";
import * as admitRuns from "./admit-runs.ts";
import * as advanceRun from "./advance-run.ts";
import * as cleanupRun from "./cleanup-run.ts";
import * as deadLetter from "./dead-letter.ts";
import * as executePhase from "./execute-phase.ts";
import * as finishBranch from "./finish-branch.ts";
import * as processDelivery from "./process-delivery.ts";
import * as publishRun from "./publish-run.ts";
import * as reconcileDeliveries from "./reconcile-deliveries.ts";
import * as sweep from "./sweep.ts";

export interface JobSettings {
  attemptTimeoutSeconds: number;
  agentOptions: AgentOptions;
  workerConcurrency: number;
  heartbeatMs: number;
  staleAfterMs: number;
  sweepIntervalSeconds: number;
  defaultAgent: string | undefined;
  /** The operator's egress rules for agents (DEVFLOW_EGRESS_ALLOW). */
  egressAllow: EgressRule[];
  /** How long a phase runs before GitHub shows it running (5 s: a quick phase is shown once, done). */
  showRunningAfterMs?: number | undefined;
  /** How often a running phase's check is brought up to date (PROGRESS_EVERY_MS when absent). */
  progressEveryMs?: number | undefined;
  /** devflow's public address (DEVFLOW_PUBLIC_URL): check runs and status comments link to the run's console page. */
  publicUrl?: string | undefined;
}

/**
 * Every devflow job beats while a worker holds it (pg-boss refreshes it every 5 s);
 * one whose worker died is failed and retried by any other process's supervisor
 * once 10 s pass without a beat (pg-boss's minimum); docs/engine.md gives the worst
 * case per queue.
 */
export const JOB_HEARTBEAT_SECONDS = 10;
/** How often each process's pg-boss supervisor looks for lapsed heartbeats and expired jobs. */
export const SUPERVISE_INTERVAL_SECONDS = 5;

function queues(settings: JobSettings): Queue[] {
  return [
    deadLetter.queue,
    advanceRun.queue,
    executePhase.phaseQueue(settings.attemptTimeoutSeconds),
    cleanupRun.queue,
    admitRuns.queue,
    sweep.queue,
    processDelivery.queue,
    publishRun.queue,
    reconcileDeliveries.queue,
    finishBranch.queue,
  ].map((queue) => ({ ...queue, heartbeatSeconds: JOB_HEARTBEAT_SECONDS }));
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
    // Policy and partitioning are fixed at creation; the rest follows code changes.
    const { policy: _policy, partition: _partition, ...mutable } = options;
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
  workspaces: ExecuteAttemptDeps["workspaces"];
  executionsDir: string;
  /** The values devflow never pushes or publishes. */
  secrets: Secrets;
  /** GitHub, as the app; webhook deliveries are processed only where it is configured. */
  github?: GitHubAccess | undefined;
  /** Aborted when this process is stopping: running attempts hand their phase back. */
  shutdown?: AbortSignal | undefined;
}

/**
 * Starts `slots` workers on `queue`. pg-boss lets a worker sleep its poll interval
 * after every job unless a NOTIFY arrived meanwhile, and the NOTIFYs of a burst
 * that lands while all workers are busy collapse into one flag per worker: a
 * backlog would then drain one job per poll interval. So each slot is its own
 * worker and, when a job finishes, asks itself to fetch once more at once; an
 * empty fetch ends that and the worker sleeps until notified.
 */
async function work<T extends object>(
  boss: PgBoss,
  log: Logger,
  queue: string,
  slots: number,
  handler: (jobs: Job<T>[]) => Promise<unknown>,
): Promise<string[]> {
  const ids: string[] = [];
  for (let slot = 0; slot < slots; slot += 1) {
    const self: { id?: string } = {};
    self.id = await boss.work<T>(queue, POLLING, async (jobs) => {
      try {
        return await withLogContext(jobContext(queue, jobs), () => handler(jobs));
      } catch (error) {
        // pg-boss records the failure and retries; say so where operators look.
        log.warn(
          { err: error, queue, jobIds: jobs.map((job) => job.id) },
          "job failed; pg-boss will retry it",
        );
        throw error;
      } finally {
        if (self.id !== undefined) boss.notifyWorker(self.id);
      }
    });
    ids.push(self.id);
  }
  return ids;
}

/** What every log line written while handling these jobs is about (their run, their delivery). */
function jobContext(queue: string, jobs: Job<object>[]): LogContext {
  const [first] = jobs;
  if (first === undefined || jobs.length > 1) return { queue };
  const data = first.data as { runId?: unknown; deliveryId?: unknown };
  return {
    queue,
    jobId: first.id,
    ...(typeof data.runId === "string" ? { runId: data.runId } : {}),
    ...(typeof data.deliveryId === "string" ? { deliveryId: data.deliveryId } : {}),
  };
}

/** Polling is only the fallback: NOTIFY wakes workers the moment a job is enqueued. */
const POLLING = { notifyPollingIntervalSeconds: 5, pollingIntervalSeconds: 2 };

/** Starts the workers of every queue. Returns the worker ids, for `offWork`. */
export async function registerWorkers(deps: WorkerDeps): Promise<string[]> {
  const { boss, engine, runner, registry, log, settings } = deps;
  const ids = await Promise.all([
    work(boss, log, QUEUES.advanceRun, 2, advanceRun.createAdvanceRunHandler({ engine, log })),
    work(
      boss,
      log,
      QUEUES.executePhase,
      settings.workerConcurrency,
      executePhase.createExecutePhaseHandler({
        engine,
        runner,
        registry,
        log,
        defaultAgent: settings.defaultAgent,
        agentOptions: settings.agentOptions,
        workspaces: deps.workspaces,
        executionsDir: deps.executionsDir,
        shutdown: deps.shutdown,
        heartbeatMs: settings.heartbeatMs,
        attemptTimeoutMs: settings.attemptTimeoutSeconds * 1000,
        egressAllow: settings.egressAllow,
        secrets: deps.secrets,
      }),
    ),
    work(
      boss,
      log,
      QUEUES.cleanupRun,
      2,
      cleanupRun.createCleanupRunHandler({ engine, runner, log }),
    ),
    work(boss, log, QUEUES.admitRuns, 1, admitRuns.createAdmitRunsHandler({ engine })),
    work(
      boss,
      log,
      QUEUES.sweep,
      1,
      sweep.createSweepHandler({ engine, log, staleAfterMs: settings.staleAfterMs }),
    ),
    work(boss, log, QUEUES.deadLetter, 1, deadLetter.createDeadLetterHandler({ log })),
    work(
      boss,
      log,
      QUEUES.finishBranch,
      1,
      finishBranch.createFinishBranchHandler({ engine, workspaces: deps.workspaces.git, log }),
    ),
  ]);
  if (deps.github !== undefined) {
    const db = engine.deps.db;
    ids.push(
      await work(
        boss,
        log,
        QUEUES.processDelivery,
        2,
        processDelivery.createProcessDeliveryHandler({
          boss,
          db,
          engine,
          github: deps.github,
          registry,
          log,
          defaultAgent: settings.defaultAgent,
        }),
      ),
      await work(
        boss,
        log,
        QUEUES.publishRun,
        2,
        publishRun.createPublishRunHandler({
          db,
          engine,
          github: deps.github,
          showRunningAfterMs: settings.showRunningAfterMs,
          progressEveryMs: settings.progressEveryMs,
          publicUrl: settings.publicUrl,
          // Its own singleton key: a publish asked for now is never held back by it.
          publishLater: async (runId, seconds) => {
            await boss.send(
              QUEUES.publishRun,
              { runId },
              { singletonKey: `${runId}:later`, startAfter: seconds },
            );
          },
        }),
      ),
      await work(
        boss,
        log,
        QUEUES.reconcileDeliveries,
        1,
        reconcileDeliveries.createReconcileDeliveriesHandler({ db, github: deps.github, log }),
      ),
    );
  }
  return ids.flat();
}
