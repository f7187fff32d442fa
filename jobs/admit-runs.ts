import type { Job, Queue } from "pg-boss";
import type { Engine } from "../src/engine/create-engine.ts";
import { type AdmitRunsPayload, QUEUES } from "../src/engine/outbox.ts";

export type { AdmitRunsPayload };

export const queue: Queue = {
  name: QUEUES.admitRuns,
  notify: true,
  // Admission is idempotent and serialised by an advisory lock; retry database hiccups.
  retryLimit: 5,
  retryDelay: 1,
  retryBackoff: true,
  expireInSeconds: 60,
  deadLetter: QUEUES.deadLetter,
};

export function createAdmitRunsHandler({ engine }: { engine: Engine }) {
  return async (_jobs: Job<AdmitRunsPayload>[]) => {
    await engine.admitQueuedRuns();
  };
}
