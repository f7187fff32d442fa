import type { EmitterWebhookEvent } from "@octokit/webhooks";
import { sql } from "drizzle-orm";
import { fromDrizzle, type PgBoss } from "pg-boss";
import type { Db } from "../db/client.ts";
import { webhookDeliveries } from "../db/schema/index.ts";
import { QUEUES } from "../engine/outbox.ts";

export interface RecordDeliveryOptions {
  db: Db;
  boss: PgBoss;
  event: Pick<EmitterWebhookEvent, "id" | "name" | "payload">;
}

/**
 * All a webhook request does: in one transaction, record the delivery by its id and
 * enqueue its processing. A redelivery finds its id taken and enqueues nothing.
 * Permission checks, repository config and engine commands happen in the job.
 */
export async function recordDelivery({
  db,
  boss,
  event,
}: RecordDeliveryOptions): Promise<{ duplicate: boolean }> {
  const payload = event.payload as unknown as Record<string, unknown>;
  const action = typeof payload.action === "string" ? payload.action : null;
  const installation = payload.installation as { id?: unknown } | undefined;
  const repository = payload.repository as { full_name?: unknown } | undefined;
  return db.transaction(async (tx) => {
    const inserted = await tx
      .insert(webhookDeliveries)
      .values({
        id: event.id,
        event: event.name,
        action,
        installationId: typeof installation?.id === "number" ? installation.id : null,
        repository: typeof repository?.full_name === "string" ? repository.full_name : null,
        payload,
        outcome: "queued",
      })
      .onConflictDoNothing()
      .returning({ id: webhookDeliveries.id });
    if (inserted.length === 0) return { duplicate: true };
    await boss.send(QUEUES.processDelivery, { deliveryId: event.id }, { db: fromDrizzle(tx, sql) });
    return { duplicate: false };
  });
}
