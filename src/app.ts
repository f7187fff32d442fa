import type { PgBoss } from "pg-boss";
import type { ApplicationFunction } from "probot";
import type { Db } from "./db/client.ts";
import { WEBHOOK_EVENTS } from "./github/handlers/index.ts";
import { recordDelivery } from "./github/record-delivery.ts";
import type { Metrics } from "./observability/metrics.ts";

/**
 * devflow's Probot app: every event it subscribes to is recorded and queued, and
 * processed by the `webhook-process` job (src/github/handlers/, one file per event).
 */
export function createDevflowApp({
  db,
  boss,
  metrics,
}: {
  db: Db;
  boss: PgBoss;
  metrics?: Metrics | undefined;
}): ApplicationFunction {
  return (app) => {
    app.on(WEBHOOK_EVENTS, async (context) => {
      const started = performance.now();
      let outcome: "queued" | "duplicate" | "failed" = "failed";
      try {
        const { duplicate } = await recordDelivery({ db, boss, event: context });
        outcome = duplicate ? "duplicate" : "queued";
        context.log.info(
          { deliveryId: context.id, event: context.name, duplicate },
          duplicate ? "delivery seen before" : "delivery queued",
        );
      } finally {
        metrics?.observeWebhook((performance.now() - started) / 1000, outcome);
      }
    });
  };
}
