import { bigint, integer, jsonb, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";

/**
 * Webhook deliveries, by GitHub's delivery id: the request records one
 * (`received`) with its entry in the delivery inbox, so a redelivery is recognised
 * and changes nothing; the dispatcher queues its processing and takes it out of the
 * inbox in one transaction, so a recorded delivery is never lost between the two.
 */
export const webhookDeliveries = pgTable("webhook_deliveries", {
  id: text("id").primaryKey(),
  event: text("event").notNull(),
  action: text("action"),
  installationId: bigint("installation_id", { mode: "number" }),
  repository: text("repository"),
  /**
   * The body exactly as GitHub signed it. The request keeps it as text (parsing it
   * into jsonb was most of what recording a delivery cost the database); the
   * processing job parses it.
   */
  body: text("body"),
  /** The parsed payload of a delivery recorded before `body` was kept (migration 0016). */
  payload: jsonb("payload").$type<Record<string, unknown>>(),
  runId: uuid("run_id"),
  /** `received` until processed; then what happened, in a few words (`started run`, `ignored: …`). */
  outcome: text("outcome").notNull(),
  receivedAt: timestamp("received_at", { withTimezone: true }).notNull().defaultNow(),
  processedAt: timestamp("processed_at", { withTimezone: true }),
  /** How many times processing began: past 1, an earlier try may have replied already. */
  tries: integer("tries").notNull().default(0),
});

/**
 * Recorded deliveries whose processing is not queued yet, in the order they came:
 * the webhook request adds a row in the statement that records the delivery, and
 * the dispatcher deletes rows as it queues their jobs (in one transaction). A row
 * this small keeps the queueing cheap: marking the delivery itself would rewrite
 * its whole payload.
 */
export const deliveryInbox = pgTable("delivery_inbox", {
  seq: bigint("seq", { mode: "number" }).primaryKey().generatedAlwaysAsIdentity(),
  deliveryId: text("delivery_id").notNull(),
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
