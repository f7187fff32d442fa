import type { Job, Queue } from "pg-boss";
import type { Logger } from "pino";
import { QUEUES } from "../src/engine/outbox.ts";

export const queue: Queue = {
  name: QUEUES.deadLetter,
  // Kept for a month so an operator can inspect or redrive it; never retried by itself.
  retryLimit: 0,
  deleteAfterSeconds: 30 * 24 * 3600,
};

/** Jobs that failed every retry: logged loudly. The sweep repairs the runs they belonged to. */
export function createDeadLetterHandler({ log }: { log: Logger }) {
  return async (jobs: Job<Record<string, unknown>>[]) => {
    for (const job of jobs)
      log.error({ jobId: job.id, data: job.data }, "job failed all its retries");
  };
}
