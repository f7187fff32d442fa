CREATE TABLE "delivery_inbox" (
	"seq" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "delivery_inbox_seq_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"delivery_id" text NOT NULL
);
--> statement-breakpoint
-- Deliveries recorded but not queued by a version that marked them in place.
INSERT INTO "delivery_inbox" ("delivery_id") SELECT "id" FROM "webhook_deliveries" WHERE "outcome" = 'received' ORDER BY "received_at";
