import { abortRun } from "./abort-run.ts";
import { admitQueuedRuns } from "./admit-queued-runs.ts";
import { advanceRun } from "./advance-run.ts";
import {
  appendTranscript,
  executionsForCleanup,
  executionsOver,
  finishExecution,
  heartbeatAttempt,
  heartbeatExecution,
  markDisposed,
  recordAttemptSpending,
  recordCleanupFailure,
  recordExecutionHandle,
  registerExecution,
} from "./execution-records.ts";
import { listFailedJobs, retryFailedJobs } from "./failed-jobs.ts";
import { findApproval, findRun, getRun, pendingApproval } from "./find-run.ts";
import { getAttemptContext } from "./get-attempt-context.ts";
import { getRunStatus } from "./get-run-status.ts";
import { pauseRun } from "./pause-run.ts";
import { recordBranchFinished } from "./record-branch-finished.ts";
import { recordPhaseResult } from "./record-phase-result.ts";
import { recordPullRequest } from "./record-pull-request.ts";
import { resumeRun } from "./resume-run.ts";
import { reviseRun } from "./revise-run.ts";
import { signalApproval } from "./signal-approval.ts";
import { startRun } from "./start-run.ts";
import { supersedeAttempt } from "./supersede-attempt.ts";
import { sweepRuns } from "./sweep-runs.ts";
import type { EngineDeps } from "./types.ts";

type Bound<F> = F extends (deps: EngineDeps, ...args: infer A) => infer R
  ? (...args: A) => R
  : never;

function bind<F extends (deps: EngineDeps, ...args: never[]) => unknown>(
  deps: EngineDeps,
  fn: F,
): Bound<F> {
  return ((...args: never[]) => fn(deps, ...args)) as Bound<F>;
}

/**
 * The run engine: every command is one Postgres transaction that also appends the
 * run's events and enqueues its follow-up jobs. It never talks to GitHub, git or a
 * runner; jobs do, and report back through the execution and result commands.
 *
 * @example
 * const engine = createEngine({ db, boss, registry, limits, log });
 * const { runId } = await engine.startRun({ startKey: deliveryId, repository: "o/r", ... });
 */
export function createEngine(deps: EngineDeps) {
  return {
    deps,
    startRun: bind(deps, startRun),
    signalApproval: bind(deps, signalApproval),
    pauseRun: bind(deps, pauseRun),
    resumeRun: bind(deps, resumeRun),
    reviseRun: bind(deps, reviseRun),
    abortRun: bind(deps, abortRun),
    advanceRun: bind(deps, advanceRun),
    admitQueuedRuns: bind(deps, admitQueuedRuns),
    getRunStatus: bind(deps, getRunStatus),
    getAttemptContext: bind(deps, getAttemptContext),
    findRun: bind(deps, findRun),
    getRun: bind(deps, getRun),
    pendingApproval: bind(deps, pendingApproval),
    findApproval: bind(deps, findApproval),
    recordPhaseResult: bind(deps, recordPhaseResult),
    recordPullRequest: bind(deps, recordPullRequest),
    recordBranchFinished: bind(deps, recordBranchFinished),
    supersedeAttempt: bind(deps, supersedeAttempt),
    sweepRuns: bind(deps, sweepRuns),
    registerExecution: bind(deps, registerExecution),
    recordExecutionHandle: bind(deps, recordExecutionHandle),
    heartbeatExecution: bind(deps, heartbeatExecution),
    heartbeatAttempt: bind(deps, heartbeatAttempt),
    finishExecution: bind(deps, finishExecution),
    appendTranscript: bind(deps, appendTranscript),
    recordAttemptSpending: bind(deps, recordAttemptSpending),
    markDisposed: bind(deps, markDisposed),
    executionsForCleanup: bind(deps, executionsForCleanup),
    executionsOver: bind(deps, executionsOver),
    listFailedJobs: bind(deps, listFailedJobs),
    retryFailedJobs: bind(deps, retryFailedJobs),
    recordCleanupFailure: bind(deps, recordCleanupFailure),
  };
}

export type Engine = ReturnType<typeof createEngine>;
