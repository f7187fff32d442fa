import type { PgBoss } from "pg-boss";
import type { ApplicationFunction } from "probot";
import type { Db } from "./db/client.ts";
import { WEBHOOK_EVENTS } from "./github/handlers/index.ts";
import { recordDelivery } from "./github/record-delivery.ts";

/**
 * devflow's Probot app: every event it subscribes to is recorded and queued, and
 * processed by the `webhook-process` job (src/github/handlers/, one file per event).
 */
export function createDevflowApp({ db, boss }: { db: Db; boss: PgBoss }): ApplicationFunction {
  return (app) => {
    app.on(WEBHOOK_EVENTS, async (context) => {
      const { duplicate } = await recordDelivery({ db, boss, event: context });
      context.log.info(
        { deliveryId: context.id, event: context.name, duplicate },
        duplicate ? "delivery seen before" : "delivery queued",
      );
    });
  };
}
