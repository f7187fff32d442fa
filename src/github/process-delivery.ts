import { and, eq, isNull, sql } from "drizzle-orm";
import type { Logger } from "pino";
import type { Db } from "../db/client.ts";
import { webhookDeliveries } from "../db/schema/index.ts";
import type { Engine } from "../engine/create-engine.ts";
import { isDevflowError } from "../errors.ts";
import type { Registry } from "../registry/types.ts";
import type { GitHubAccess } from "./github-access.ts";
import type { DeliveryContext, DeliveryOutcome } from "./handlers/delivery-context.ts";
import { DELIVERY_HANDLERS } from "./handlers/index.ts";
import { payloadProblems } from "./payload-shapes.ts";
import { createReply } from "./reply.ts";

export interface ProcessDeliveryDeps {
  db: Db;
  engine: Engine;
  github: GitHubAccess;
  registry: Registry;
  log: Logger;
  defaultAgent: string | undefined;
}

/**
 * A recorded body, parsed (the endpoint refused what is not JSON). PostgreSQL's
 * text cannot hold a NUL, so one written as \u0000 in a string value becomes
 * U+FFFD before any of it can reach a column (handlers store values, not keys).
 */
function parsePayload(body: string): Record<string, unknown> | null {
  const parsed: unknown = body.includes("\\u0000")
    ? JSON.parse(body, (_key, value: unknown) =>
        typeof value === "string" ? value.replaceAll("\u0000", "\uFFFD") : value,
      )
    : JSON.parse(body);
  return parsed as Record<string, unknown> | null;
}

type AnyHandler = (context: DeliveryContext) => Promise<DeliveryOutcome>;

/**
 * Processes one recorded delivery with its event's handler and records what
 * happened on it. A delivery processed before is left alone. A payload without
 * the fields its handler reads (src/github/payload-shapes.ts) is logged and
 * dropped, never retried; anything else that fails throws, and the job retries
 * (every engine command it makes is idempotent by the delivery, review or comment id).
 */
export async function processDelivery(
  deps: ProcessDeliveryDeps,
  deliveryId: string,
): Promise<void> {
  const [delivery] = await deps.db
    .update(webhookDeliveries)
    .set({ tries: sql`${webhookDeliveries.tries} + 1` })
    .where(and(eq(webhookDeliveries.id, deliveryId), isNull(webhookDeliveries.processedAt)))
    .returning();
  if (delivery === undefined) return;
  const payload = delivery.body === null ? delivery.payload : parsePayload(delivery.body);
  const log = deps.log.child({ event: delivery.event, action: delivery.action });
  const key = delivery.action === null ? delivery.event : `${delivery.event}.${delivery.action}`;
  const handlers = DELIVERY_HANDLERS as unknown as Record<string, AnyHandler | undefined>;
  const handlerKey = handlers[key] !== undefined ? key : delivery.event;
  const handler = handlers[handlerKey];
  const problems =
    handler === undefined || payload === null ? [] : payloadProblems(handlerKey, payload);
  let result: DeliveryOutcome;
  if (handler === undefined || payload === null) {
    result = { outcome: `ignored: devflow does not act on ${key}` };
  } else if (problems.length > 0) {
    log.warn({ problems }, "malformed payload dropped");
    result = { outcome: `dropped: malformed payload (${problems.slice(0, 3).join("; ")})` };
  } else {
    try {
      result = await handler({
        deliveryId,
        payload: payload as unknown as DeliveryContext["payload"],
        engine: deps.engine,
        db: deps.db,
        github: deps.github,
        registry: deps.registry,
        log,
        defaultAgent: deps.defaultAgent,
        reply: createReply({
          id: deliveryId,
          receivedAt: delivery.receivedAt,
          retried: delivery.tries > 1,
          db: deps.db,
        }),
      });
    } catch (error) {
      // Input the engine refuses (a title it cannot take, say) is the delivery's fault;
      // anything else is retried by the job, and a bug in a handler ends in the dead letters.
      if (!(isDevflowError(error) && error.code === "invalid_input")) throw error;
      log.warn({ err: error }, "delivery refused by the engine");
      result = { outcome: `dropped: invalid input (${error.message})` };
    }
  }
  log.info({ outcome: result.outcome, runId: result.runId }, "delivery processed");
  await deps.db
    .update(webhookDeliveries)
    .set({
      outcome: result.outcome.slice(0, 500),
      runId: result.runId ?? null,
      processedAt: sql`now()`,
      body: null,
      payload: null,
    })
    .where(eq(webhookDeliveries.id, deliveryId));
}
