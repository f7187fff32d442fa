import { bigint, integer, jsonb, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";

/**
 * Webhook deliveries, by GitHub's delivery id: the request records one and
 * enqueues its processing in the same transaction, so a redelivery is recognised
 * and changes nothing, and a delivery is never lost between the two.
 */
export const webhookDeliveries = pgTable("webhook_deliveries", {
  id: text("id").primaryKey(),
  event: text("event").notNull(),
  action: text("action"),
  installationId: bigint("installation_id", { mode: "number" }),
  repository: text("repository"),
  payload: jsonb("payload").$type<Record<string, unknown>>(),
  runId: uuid("run_id"),
  /** `queued` until processed; then what happened, in a few words (`started run`, `ignored: …`). */
  outcome: text("outcome").notNull(),
  receivedAt: timestamp("received_at", { withTimezone: true }).notNull().defaultNow(),
  processedAt: timestamp("processed_at", { withTimezone: true }),
  /** How many times processing began: past 1, an earlier try may have replied already. */
  tries: integer("tries").notNull().default(0),
});

/**
 * Replies that are said once: the first delivery that would post one records its
 * key (`octo/repo#12:active_run_exists:<run>`); later ones with the same key post
 * nothing. Five labels on a busy issue get one answer.
 */
export const onceReplies = pgTable("once_replies", {
  key: text("key").primaryKey(),
  deliveryId: text("delivery_id").notNull(),
  createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
});
