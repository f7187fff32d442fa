import { bigint, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";

/** Webhook deliveries seen, by GitHub's delivery id: a redelivery is recognised and ignored. */
export const webhookDeliveries = pgTable("webhook_deliveries", {
  id: text("id").primaryKey(),
  event: text("event").notNull(),
  action: text("action"),
  installationId: bigint("installation_id", { mode: "number" }),
  repository: text("repository"),
  runId: uuid("run_id"),
  outcome: text("outcome").notNull(),
  receivedAt: timestamp("received_at", { withTimezone: true }).notNull().defaultNow(),
});
