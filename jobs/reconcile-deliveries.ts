import type { Job, Queue } from "pg-boss";
import type { Logger } from "pino";
import type { Db } from "../src/db/client.ts";
import { QUEUES, type ReconcileDeliveriesPayload } from "../src/engine/outbox.ts";
import type { GitHubAccess } from "../src/github/github-access.ts";
import { reconcileDeliveries, reconcileSince } from "../src/github/reconcile-deliveries.ts";

export type { ReconcileDeliveriesPayload };

export const queue: Queue = {
  name: QUEUES.reconcileDeliveries,
  // One pass at a time across all servers; a queued one is enough to catch up.
  policy: "singleton",
  // The next scheduled pass is the retry.
  retryLimit: 0,
  expireInSeconds: 300,
};

export function createReconcileDeliveriesHandler(deps: {
  db: Db;
  github: GitHubAccess;
  log: Logger;
}) {
  return async (_jobs: Job<ReconcileDeliveriesPayload>[]) => {
    const asked = await reconcileDeliveries({ ...deps, since: await reconcileSince(deps.db) });
    if (asked.length > 0) deps.log.info({ redelivered: asked.length }, "delivery reconciler pass");
  };
}
