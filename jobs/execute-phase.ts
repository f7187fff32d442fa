import type { Job, Queue } from "pg-boss";
import { type ExecutePhasePayload, QUEUES } from "../src/engine/outbox.ts";
import { type ExecuteAttemptDeps, executeAttempt } from "../src/runner/attempt/execute-attempt.ts";

export type { ExecutePhasePayload };

/** The queue's options; its expiry follows the attempt time limit. */
export function phaseQueue(attemptTimeoutSeconds: number): Queue {
  return {
    name: QUEUES.executePhase,
    notify: true,
    // A retried job first checks its attempt: a try that died mid-execution becomes a new
    // attempt, so retries never run an agent twice under one attempt number.
    retryLimit: 3,
    retryDelay: 5,
    retryBackoff: true,
    // An attempt may run two executions (the repair); past that its worker is gone. The
    // sweep usually notices first, through the execution heartbeat.
    expireInSeconds: attemptTimeoutSeconds * 2 + 120,
    deadLetter: QUEUES.deadLetter,
  };
}

export function createExecutePhaseHandler(deps: ExecuteAttemptDeps) {
  return async (jobs: Job<ExecutePhasePayload>[]) => {
    for (const job of jobs) {
      await executeAttempt(deps, job.data);
    }
  };
}
