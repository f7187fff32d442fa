import type { Job, PgBoss, Queue } from "pg-boss";
import type { Logger } from "pino";
import { type ProcessDeliveryPayload, QUEUES } from "../src/engine/outbox.ts";
import { type ProcessDeliveryDeps, processDelivery } from "../src/github/process-delivery.ts";

export type { ProcessDeliveryPayload };

const RETRY_DELAY_SECONDS = 2;

export const queue: Queue = {
  name: QUEUES.processDelivery,
  notify: true,
  // GitHub's API or the database may hiccup; every effect is idempotent, so retry with backoff.
  retryLimit: 6,
  retryDelay: RETRY_DELAY_SECONDS,
  retryBackoff: true,
  retryDelayMax: 300,
  expireInSeconds: 120,
  deadLetter: QUEUES.deadLetter,
};

export function deliveriesOf(payload: ProcessDeliveryPayload): string[] {
  return "deliveryIds" in payload ? payload.deliveryIds : [payload.deliveryId];
}

/**
 * Processes each job's deliveries in the order they arrived. A job of one delivery
 * fails as that delivery fails (pg-boss retries it, then dead-letters it). In a
 * batch, one delivery's failure must neither hold up the others nor cost them a
 * retry: each delivery that failed is queued again as a job of its own (with the
 * queue's retry delay), and the batch completes. Should even that insert fail, the
 * batch fails and is retried whole; deliveries it processed are skipped then
 * (processDelivery leaves a processed delivery alone).
 */
export function createProcessDeliveryHandler(
  deps: ProcessDeliveryDeps & { boss: Pick<PgBoss, "insert">; log: Logger },
) {
  return async (jobs: Job<ProcessDeliveryPayload>[]) => {
    for (const job of jobs) {
      const ids = deliveriesOf(job.data);
      if (ids.length === 1) {
        await processDelivery(deps, ids[0] as string);
        continue;
      }
      const failed: string[] = [];
      for (const deliveryId of ids) {
        try {
          await processDelivery(deps, deliveryId);
        } catch (error) {
          deps.log.warn({ err: error, deliveryId }, "delivery failed; retrying it on its own");
          failed.push(deliveryId);
        }
      }
      if (failed.length > 0) {
        const startAfter = new Date(Date.now() + RETRY_DELAY_SECONDS * 1000);
        await deps.boss.insert(
          QUEUES.processDelivery,
          failed.map((deliveryId) => ({ data: { deliveryIds: [deliveryId] }, startAfter })),
        );
      }
    }
  };
}
