import type { Job, Queue } from "pg-boss";
import type { Logger } from "pino";
import type { Engine } from "../src/engine/create-engine.ts";
import { type CleanupRunPayload, QUEUES } from "../src/engine/outbox.ts";
import { DevflowError } from "../src/errors.ts";
import { RUNNER_EXECUTION_GONE, type Runner } from "../src/runner/runner.ts";

export type { CleanupRunPayload };

export const queue: Queue = {
  name: QUEUES.cleanupRun,
  notify: true,
  // A runner that cannot stop a container now may well in a minute: back off, up to ~10 min.
  retryLimit: 6,
  retryDelay: 10,
  retryBackoff: true,
  retryDelayMax: 300,
  expireInSeconds: 300,
  deadLetter: QUEUES.deadLetter,
};

function describe(error: unknown): { code: string; message: string } {
  if (error instanceof DevflowError) return { code: error.code, message: error.message };
  return {
    code: "runner_cleanup_failed",
    message: error instanceof Error ? error.message : String(error),
  };
}

/**
 * Captures what is left of each execution's transcript, then disposes of it
 * through its persisted handle. Disposal is attempted even when the capture
 * fails; an execution the runner reports gone has nothing left to capture. Any other failure is recorded as a `cleanup.failed` event on the run
 * and the job is retried.
 */
export function createCleanupRunHandler({
  engine,
  runner,
  log,
}: {
  engine: Engine;
  runner: Runner;
  log: Logger;
}) {
  return async (jobs: Job<CleanupRunPayload>[]) => {
    for (const job of jobs) {
      const { runId, executionIds } = job.data;
      const failures: DevflowError[] = [];
      for (const execution of await engine.executionsForCleanup(runId, executionIds)) {
        if (execution.handle === null) continue;
        const record = async (step: "capture" | "dispose", error: unknown) => {
          const { code, message } = describe(error);
          log.warn({ runId, executionId: execution.id, step, code }, message);
          await engine.recordCleanupFailure({
            runId,
            executionId: execution.id,
            step,
            code,
            message,
            attempt: `${job.id}:${failures.length}`,
          });
          failures.push(
            new DevflowError(`${step} of execution ${execution.id} failed: ${message}`, {
              class: "recoverable",
              code,
              category: "runner",
              cause: error,
            }),
          );
        };
        try {
          await engine.appendTranscript(
            execution.id,
            await runner.capture(execution.handle, execution.lastCaptureSeq),
          );
        } catch (error) {
          // A runner says an execution it already removed is gone: nothing is left to capture.
          if (!(error instanceof DevflowError && error.code === RUNNER_EXECUTION_GONE))
            await record("capture", error);
        }
        try {
          await runner.dispose(execution.handle);
          await engine.markDisposed(execution.id);
        } catch (error) {
          await record("dispose", error);
        }
      }
      const [first] = failures;
      if (first !== undefined) throw first;
    }
  };
}
