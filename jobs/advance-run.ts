import type { Job, Queue } from "pg-boss";
import type { Logger } from "pino";
import type { Engine } from "../src/engine/create-engine.ts";
import { type AdvanceRunPayload, QUEUES } from "../src/engine/outbox.ts";

export type { AdvanceRunPayload };

export const queue: Queue = {
  name: QUEUES.advanceRun,
  notify: true,
  // One short transaction: a failure is a database hiccup, worth a few quick retries.
  retryLimit: 5,
  retryDelay: 1,
  retryBackoff: true,
  // It never takes more than seconds; a minute means its worker is gone.
  expireInSeconds: 60,
  deadLetter: QUEUES.deadLetter,
};

export function createAdvanceRunHandler({ engine, log }: { engine: Engine; log: Logger }) {
  return async (jobs: Job<AdvanceRunPayload>[]) => {
    for (const job of jobs) {
      log.debug({ reason: job.data.reason }, "advance");
      await engine.advanceRun(job.data.runId);
    }
  };
}
