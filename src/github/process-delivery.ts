import { eq, sql } from "drizzle-orm";
import type { Logger } from "pino";
import type { Db } from "../db/client.ts";
import { webhookDeliveries } from "../db/schema/index.ts";
import type { Engine } from "../engine/create-engine.ts";
import { isDevflowError } from "../errors.ts";
import type { Registry } from "../registry/types.ts";
import type { GitHubAccess } from "./github-access.ts";
import type { DeliveryContext, DeliveryOutcome } from "./handlers/delivery-context.ts";
import { DELIVERY_HANDLERS } from "./handlers/index.ts";

export interface ProcessDeliveryDeps {
  db: Db;
  engine: Engine;
  github: GitHubAccess;
  registry: Registry;
  log: Logger;
  defaultAgent: string | undefined;
}

type AnyHandler = (context: DeliveryContext) => Promise<DeliveryOutcome>;

/**
 * Processes one recorded delivery with its event's handler and records what
 * happened on it. A delivery processed before is left alone. A payload a handler
 * cannot read is logged and dropped, never retried; anything else throws, and the
 * job retries (every engine command it makes is idempotent by the delivery, review
 * or comment id).
 */
export async function processDelivery(
  deps: ProcessDeliveryDeps,
  deliveryId: string,
): Promise<void> {
  const [delivery] = await deps.db
    .select()
    .from(webhookDeliveries)
    .where(eq(webhookDeliveries.id, deliveryId));
  if (delivery === undefined || delivery.processedAt !== null) return;
  const log = deps.log.child({ event: delivery.event, action: delivery.action });
  const key = delivery.action === null ? delivery.event : `${delivery.event}.${delivery.action}`;
  const handlers = DELIVERY_HANDLERS as unknown as Record<string, AnyHandler | undefined>;
  const handler = handlers[key] ?? handlers[delivery.event];
  let result: DeliveryOutcome;
  if (handler === undefined || delivery.payload === null) {
    result = { outcome: `ignored: devflow does not act on ${key}` };
  } else {
    try {
      result = await handler({
        deliveryId,
        payload: delivery.payload as unknown as DeliveryContext["payload"],
        engine: deps.engine,
        github: deps.github,
        registry: deps.registry,
        log,
        defaultAgent: deps.defaultAgent,
      });
    } catch (error) {
      const malformed =
        error instanceof TypeError || (isDevflowError(error) && error.code === "invalid_input");
      if (!malformed) throw error;
      log.warn({ err: error }, "malformed payload dropped");
      result = { outcome: `dropped: malformed payload (${(error as Error).message})` };
    }
  }
  log.info({ outcome: result.outcome, runId: result.runId }, "delivery processed");
  await deps.db
    .update(webhookDeliveries)
    .set({
      outcome: result.outcome.slice(0, 500),
      runId: result.runId ?? null,
      processedAt: sql`now()`,
      payload: null,
    })
    .where(eq(webhookDeliveries.id, deliveryId));
}
