import type { Job, Queue } from "pg-boss";
import { type ProcessDeliveryPayload, QUEUES } from "../src/engine/outbox.ts";
import { type ProcessDeliveryDeps, processDelivery } from "../src/github/process-delivery.ts";

export type { ProcessDeliveryPayload };

export const queue: Queue = {
  name: QUEUES.processDelivery,
  notify: true,
  // GitHub's API or the database may hiccup; every effect is idempotent, so retry with backoff.
  retryLimit: 6,
  retryDelay: 2,
  retryBackoff: true,
  retryDelayMax: 300,
  expireInSeconds: 120,
  deadLetter: QUEUES.deadLetter,
};

export function createProcessDeliveryHandler(deps: ProcessDeliveryDeps) {
  return async (jobs: Job<ProcessDeliveryPayload>[]) => {
    for (const job of jobs) await processDelivery(deps, job.data.deliveryId);
  };
}
